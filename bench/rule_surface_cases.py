"""The minimal false-accept cases of /work/wt/notes/rulegen_findings.md (found by the
rule-surface generator, tests/rulegen.py, and reduced by hand): each is run through skv's
verifier, skv's Z3 engine and the kernel, and its verdicts printed (``FA=VER+Z3``: both
engines accept a program the kernel rejects; ``-``: no false accept any more).

``python -m bench.rule_surface_cases [NAME...]``; needs bpf(2).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from model.isa import Alu, Call, Exit, LegacyLoad, Load, Store  # noqa: E402
from rulecmp import compare  # noqa: E402
from rulegen_base import (BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MAP_CATALOG,  # noqa: E402
                          MapSpec, RuleAsm, RuleProg)


def mov(r, src=None, imm=0):
    return Alu("mov", True, r, src=src) if src is not None else Alu("mov", True, r, imm=imm)


def add(r, imm):
    return Alu("add", True, r, imm=imm)


def spec(name, kind, flags=0, value=None):
    k, v, m, f, x = MAP_CATALOG[kind]
    return MapSpec(name, kind, k, value or v, m, f | flags, x)


CASES = {}


def case(name, ptype, maps=()):
    def deco(fn):
        CASES[name] = (ptype, maps, fn)
        return fn
    return deco


def lookup(a, m, key_off=-16):
    a.put(Store(4, 10, key_off, imm=0))
    a.ldmap(1, m)
    a.put(mov(2, 10), add(2, key_off), Call(0, 1))

@case("recursion_dead","sched_cls")
def _(a):
    a.put(mov(1,imm=0)); a.call_sub("f"); a.put(mov(0,imm=0), Exit())
    a.at("f"); a.put(mov(0,imm=0)); a.jmp("jeq",1,"r",imm=0); a.call_sub("f"); a.at("r"); a.put(Exit())
@case("ldabs_subprog","sched_cls")
def _(a):
    a.put(mov(6,1)); a.call_sub("f"); a.put(mov(0,imm=0), Exit())
    a.at("f"); a.put(mov(6,1), LegacyLoad(1,"abs",imm=0), mov(0,imm=0), Exit())
@case("ldabs_cgroup_skb","cgroup_skb")
def _(a): a.put(mov(6,1), LegacyLoad(1,"abs",imm=0), mov(0,imm=1), Exit())
@case("lookup_prog_array","socket_filter",(spec("m","prog_array"),))
def _(a): lookup(a,"m"); a.put(mov(0,imm=0), Exit())
@case("lookup_sockhash_write","socket_filter",(spec("m","sockhash"),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(Store(4,0,0,imm=1)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("lookup_sockmap_leak","kprobe",(spec("m","sockmap"),))
def _(a): lookup(a,"m"); a.put(mov(0,imm=0),Exit())
@case("ringbuf_output_hash","kprobe",(spec("m","hash"),))
def _(a):
    a.put(Store(8,10,-8,imm=0)); a.ldmap(1,"m"); a.put(mov(2,10),add(2,-8),mov(3,imm=8),mov(4,imm=0),Call(0,130),mov(0,imm=0),Exit())
@case("perf_output_array","kprobe",(spec("m","array"),))
def _(a):
    a.put(Store(8,10,-8,imm=0), mov(1,6) if False else mov(1,1)); a.ldmap(2,"m"); a.put(mov(3,imm=0),mov(4,10),add(4,-8),mov(5,imm=8),Call(0,25),mov(0,imm=0),Exit())
@case("tail_call_hash","kprobe",(spec("m","hash"),))
def _(a): a.ldmap(2,"m"); a.put(mov(3,imm=0),Call(0,12),mov(0,imm=0),Exit())
@case("moved_ctx","sched_cls")
def _(a): a.put(mov(1,1),add(1,4),Load(4,2,1,48),mov(0,imm=0),Exit())
@case("neg_ctx","syscall")
def _(a): a.put(add(1,-4),Load(1,2,1,12),mov(0,imm=0),Exit())
@case("rdonly_write","socket_filter",(spec("m","array",BPF_F_RDONLY_PROG,8),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(Store(4,0,0,imm=1)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("wronly_read","socket_filter",(spec("m","array",BPF_F_WRONLY_PROG,8),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(Load(4,1,0,0)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("stale_pkt","sched_cls")
def _(a):
    a.put(mov(6,1),Load(4,7,6,76),Load(4,8,6,80),mov(1,7),add(1,4)); a.jmp("jgt",1,"o",src=8)
    a.put(mov(1,6),mov(2,imm=0),mov(3,imm=0),Call(0,31),Load(1,0,7,0)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("zero_key_lookup","xdp",(spec("m","queue"),))
def _(a): a.ldmap(1,"m"); a.put(mov(2,10),add(2,-8),Call(0,1),mov(0,imm=0),Exit())
@case("ringbuf_output_pkt","cgroup_skb",(spec("m","ringbuf"),))
def _(a):
    a.put(mov(6,1),Load(4,7,6,76),Load(4,8,6,80),mov(1,7),add(1,8)); a.jmp("jgt",1,"o",src=8)
    a.ldmap(1,"m"); a.put(mov(2,7),mov(3,imm=8),mov(4,imm=0),Call(0,130)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("sleepable_devmap","syscall",(spec("m","devmap_hash"),))
def _(a): lookup(a,"m"); a.put(mov(0,imm=0),Exit())
@case("fp_size0_read","kprobe",(spec("m","perf_event_array"),))
def _(a):
    a.ldmap(2,"m"); a.put(mov(3,imm=0),mov(4,10),mov(5,imm=0),Call(0,25),mov(0,imm=0),Exit())
@case("null_size_pos","xdp")
def _(a): a.put(mov(1,imm=0),mov(2,imm=4),mov(3,10),add(3,-8),Store(8,10,-8,imm=0),mov(4,imm=8),mov(5,imm=0),Call(0,28),mov(0,imm=0),Exit())
@case("ldsx_ctx","xdp")
def _(a): a.put(Load(4,2,1,4,signed=True),mov(0,imm=0),Exit())
@case("mapval_minus_size0","raw_tracepoint",(spec("m","array"),))
def _(a):
    a.put(mov(6,1)); lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(mov(1,0),add(1,-4),mov(2,imm=0),mov(3,6),Call(0,113)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("arena","syscall",(spec("m","arena"),))
def _(a): a.ldmap(1,"m"); a.put(mov(0,imm=0),Exit())
@case("pkt_vs_data","xdp")
def _(a):
    a.put(Load(4,7,1,0),mov(1,7),add(1,8)); a.jmp("jgt",1,"o",src=7); a.put(Load(8,0,7,0)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("ldabs_fail_then_bad","sched_cls")
def _(a): a.put(mov(6,1),LegacyLoad(1,"abs",imm=-1),Load(8,0,0,0),mov(0,imm=0),Exit())
@case("ldabs_clobber","sched_cls")
def _(a): a.put(mov(6,1),LegacyLoad(1,"abs",imm=0),mov(0,1),Exit())
@case("combined_stack","sched_cls")
def _(a):
    a.put(Store(8,10,-256,imm=0)); a.call_sub("f"); a.put(mov(0,imm=0),Exit())
    a.at("f"); a.put(Store(8,10,-512,imm=0),mov(0,imm=0),Exit())
@case("null_arith","kprobe",(spec("m","array"),))
def _(a):
    a.put(Store(4,10,-16,imm=9)); a.ldmap(1,"m"); a.put(mov(2,10), add(2,-16), Call(0,1), add(0,-4),mov(0,imm=0),Exit())
@case("callback_no_btf","kprobe")
def _(a):
    a.put(mov(1,imm=1)); a.ldfunc(2,"cb"); a.put(mov(3,imm=0),mov(4,imm=0),Call(0,181),mov(0,imm=0),Exit())
    a.at("cb"); a.put(mov(0,imm=0),Exit())
@case("ctx_as_mem_size0","sched_cls")
def _(a): a.put(mov(2,imm=0),Store(8,10,-8,imm=0),mov(3,10),add(3,-8),mov(4,imm=8),mov(5,imm=0),Call(0,28),mov(0,imm=0),Exit())
@case("infinite_loop","socket_filter")
def _(a):
    a.put(mov(1,imm=0)); a.at("h"); a.put(add(1,0)); a.goto("h")

@case("sk_ptr_arith","sched_cls")
def _(a): a.put(Load(8,2,1,168),add(2,1),mov(0,imm=0),Exit())
@case("pseudo_func_unused","kprobe")
def _(a):
    a.ldfunc(3,"f"); a.put(mov(0,imm=0),Exit())
    a.at("f"); a.put(mov(0,imm=0),Exit())
@case("inner_map_arith","xdp",(spec("m","array_of_maps"),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(add(0,8)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("inner_map_write","xdp",(spec("m","array_of_maps"),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(Store(1,0,0,imm=1)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("xsk_lookup_write","xdp",(spec("m","xskmap"),))
def _(a):
    lookup(a,"m"); a.jmp("jeq",0,"o",imm=0); a.put(Store(4,0,0,imm=1)); a.at("o"); a.put(mov(0,imm=0),Exit())
@case("array_oob_key_dead","sched_cls",(spec("m","array"),))
def _(a):
    a.put(mov(6,1),Store(4,10,-16,imm=9)); a.ldmap(1,"m"); a.put(mov(2,10),add(2,-16),Call(0,1))
    a.jmp("jeq",0,"o",imm=0); a.put(mov(1,imm=1),Call(0,79)); a.at("o"); a.put(mov(0,imm=0),Exit())


@case("direct_value_4_entries", "socket_filter", (spec("m", "array", value=48),))
def _(a):
    a.ldmap(1, "m", 4)                 # ld_imm64 src 2 into an array of 4 entries (fixed)
    a.put(Load(4, 2, 1, 0), mov(0, imm=0), Exit())


@case("ldsx_ctx_cgroup_skb", "cgroup_skb")
def _(a):
    a.put(Load(4, 2, 1, 80, signed=True), mov(0, imm=0), Exit())


def main(names=None) -> None:
    for n in names or list(CASES):
        ptype, maps, fn = CASES[n]
        a = RuleAsm()
        fn(a)
        insns, refs, sites = a.build()
        rp = RuleProg(ptype, insns, refs, {m.name: m for m in maps}, sites, "case", [n])
        c = compare(rp, z3=True)
        if c is None:
            print(f"### {n}: a map could not be created")
            continue
        if c.kernel.ok:
            tag = "kernel accepts"
        else:
            tag = {(True, True): "VER+Z3", (True, False): "VER", (False, True): "Z3",
                   (False, False): "-"}[(c.ver.ok, c.z3.ok)]
        print(f"### {n}: FA={tag} | kernel: {c.kernel.msg or 'accept'} | "
              f"verifier: {c.ver.msg or 'accept'} | z3: {c.z3.msg or 'accept'}")
        print("\n".join(rp.text().splitlines()[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
