"""Maps and calls against the kernel (Linux 6.18): lookups in arrays / hashes of maps,
``bpf_tail_call`` from the main program and from subprograms, reads of a map's kernel
structure through a map pointer, and NULL inference from comparing two pointers.

Every probe is judged by the kernel (skipped without bpf(2)), the abstract verifier and the
Z3 engine: a kernel rejection must be ours too (a false accept fails the test), a kernel
acceptance must be ours or a clean "not modelled"; the Z3 engine may not call a program the
kernel rejects safe (but where the kernel rejects a safe program for its per-register NULL
tracking, ``Z3_IMPRECISE``) and may not find a failure where the verifier and the kernel
accept (it may say "not modelled": map-in-map lookups, tail calls in subprograms).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from btf_func_probes import func_starts, load_with_funcs
from maps_calls_probes import (ARRAY_OF_MAPS, FUNC_PROBES, MAP_FIELD_PROBES,
                               MAP_IN_MAP_PROBES, PROG_ARRAY, PTR_COMPARE_PROBES,
                               TAIL_MAIN_PROBES, Z3_IMPRECISE)
from soundness_probes import Judged, Probe

from model.isa import LoadImm64, iter_pcs
from model.isa.asm import assemble
from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.program import BpfObject, MapDef, MapRef, Program

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
UNMODELLED = "not modelled"
PROBES = MAP_IN_MAP_PROBES + MAP_FIELD_PROBES + TAIL_MAIN_PROBES + PTR_COMPARE_PROBES


def assert_sound(name: str, text: str, j: Judged) -> None:
    kmsg = "" if j.kernel_ok else rejection_reason(j.kernel_log)
    where = (f"{name}:\n{text}\nkernel: {kmsg or 'accept'}\nours: {j.ours_msg or 'accept'}"
             f"\nz3: {j.z3_why or 'safe'}")
    if name.endswith("_ok"):
        assert j.kernel_ok, "the kernel rejects a probe meant to be valid " + where
    if not j.kernel_ok:
        assert not j.ours_ok, "FALSE ACCEPT " + where
        if name not in Z3_IMPRECISE:
            assert not j.z3_safe, "Z3 CALLS IT SAFE " + where
        return
    assert j.ours_ok or UNMODELLED in j.ours_msg, "false reject " + where
    if j.ours_ok:
        assert j.z3_safe or UNMODELLED in j.z3_why, "Z3 finds a failure the kernel does " \
                                                    "not " + where


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe_against_kernel(probe: Probe):
    assert_sound(probe.name, probe.text, probe.judge())


def _func_model(name: str, text: str) -> tuple[BpfObject, Program]:
    insns = assemble(text)
    prog = Program(name, "xdp", insns)
    for pc, i in iter_pcs(insns):
        if isinstance(i, LoadImm64) and i.src == 1:
            prog.map_refs[pc] = MapRef(pc, "m0")
    prog.func_names = {pc: f"f{k}" for k, pc in enumerate(func_starts(insns))}
    return BpfObject(name, "GPL", {"m0": MapDef("m0", *PROG_ARRAY)}, [prog]), prog


def _judge_funcs(name: str, text: str) -> Judged:
    from model.kernel import map_create
    from model.symbolic.engine import Engine
    from model.verifier.checker import check_program

    obj, prog = _func_model(name, text)
    with map_create(*PROG_ARRAY) as m:
        ok, log = load_with_funcs(prog.insns, "xdp", {pc: m for pc in prog.map_refs})
    v = check_program(obj, prog)
    r = Engine(obj, prog).run()
    why = "; ".join(f.reason for f in r.failures) or "; ".join(r.exhausted)
    return Judged(ok, log, v.accepted, "" if v.error is None else v.error.message,
                  not r.failures and not r.exhausted, why)


@needs_kernel
@pytest.mark.parametrize("name,text", FUNC_PROBES, ids=[n for n, _ in FUNC_PROBES])
def test_subprogram_probe_against_kernel(name, text):
    assert_sound(name, text, _judge_funcs(name, text))


# -- the rules on their own (no kernel) ------------------------------------------------------
def _verdict(p: Probe):
    from model.verifier.checker import check_program

    obj, prog = p.model()
    return check_program(obj, prog)


def test_tail_call_stack_rule_message():
    from model.verifier.checker import check_program

    name, text = next(f for f in FUNC_PROBES if f[0] == "tail_sub_stack_248")
    v = check_program(*_func_model(name, text))
    assert v.error.message == ("tail_calls are not allowed when call stack of previous "
                               "frames is 256 bytes. Too large")
    name, text = next(f for f in FUNC_PROBES if f[0] == "tail_sub_stack_240_ok")
    assert check_program(*_func_model(name, text)).accepted


def test_tail_call_in_subprogram_needs_func_info():
    p = next(p for p in TAIL_MAIN_PROBES if p.name == "tail_subprog_without_btf")
    assert _verdict(p).error.message == "tail_call is not allowed in subprogs without BTF"


def test_inner_map_pointer_after_null_check():
    p = next(p for p in MAP_IN_MAP_PROBES if p.name == "inner_value_out_of_bounds")
    assert "value_size=16 off=12 size=8" in _verdict(p).error.message
    p = next(p for p in MAP_IN_MAP_PROBES if p.name == "inner_missing_null_check")
    assert _verdict(p).error.message == "R1 type=map_value_or_null expected=map_ptr"


def test_outer_map_without_template_is_not_modelled():
    p = Probe("no_template", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\n"
              "r2 = r10\nr2 += -8\ncall 1\nr0 = 0\nexit\n", [ARRAY_OF_MAPS[:5]])
    assert _verdict(p).error.message.startswith("not modelled: map-in-map m0")


@needs_kernel
@pytest.mark.parametrize("probe", MAP_IN_MAP_PROBES, ids=lambda p: p.name)
def test_the_z3_engine_follows_map_in_map(probe):
    """model.symbolic.inner_maps: an unsafe execution exactly where the kernel rejects,
    "safe" where it accepts, except a path through the NULL of an inner array lookup the
    kernel may have dropped (the kernel's constant-key rule): unknown there, never unsafe."""
    from model.symbolic.engine import Engine

    j = probe.judge()
    obj, prog = probe.model()
    res = Engine(obj, prog).run()
    assert not (res.failures and j.kernel_ok), [f.reason for f in res.failures]
    assert res.failures or res.exhausted or j.kernel_ok
    assert all("inner array lookup" in e for e in res.exhausted), res.exhausted
    if not res.exhausted:
        assert bool(res.failures) != j.kernel_ok


def test_the_z3_engine_leaves_a_callback_over_an_inner_map():
    """bpf_for_each_map_elem over an inner map: the verifier's (unknown, not unsafe)."""
    from model.symbolic.engine import Engine

    text = ("r1 = 0\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\n"
            "call 1\nif r0 == 0 goto out\nr1 = r0\nr2 = func cb\nr3 = 0\nr4 = 0\n"
            "call 164\nout:\nr0 = 0\nexit\ncb:\nr0 = 0\nexit\n")
    from callback_probes import expand

    obj, prog = Probe("cb", "xdp", expand(text), [ARRAY_OF_MAPS]).model()
    prog.func_names = {pc: f"f{k}" for k, pc in enumerate(func_starts(prog.insns))}
    res = Engine(obj, prog).run()
    assert not res.failures and any("callbacks over an inner map" in e
                                    for e in res.exhausted), res.exhausted


def test_pointer_comparison_lifts_only_the_compared_register():
    got = {p.name: _verdict(p) for p in PTR_COMPARE_PROBES}
    assert got["ptrcmp_jne_stack_ok"].accepted and got["ptrcmp_src_side_ok"].accepted
    assert not got["ptrcmp_copy_not_lifted"].accepted
    assert not got["ptrcmp_scalar_zero_register"].accepted


# -- the interpreter ---------------------------------------------------------------------
def _interp(slot_filled: bool):
    from model.interp.machine import Machine

    p = Probe("interp", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\n"
              "r2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto out\nr1 = r0\nr2 = r10\n"
              "r2 += -8\ncall 1\nif r0 == 0 goto out\nr1 = 7\n*(u64 *)(r0 + 8) = r1\n"
              "r0 = *(u64 *)(r0 + 8)\nexit\nout:\nr0 = 99\nexit\n", [ARRAY_OF_MAPS])
    obj, prog = p.model()
    m = Machine(prog, obj.maps)
    if slot_filled:
        m.maps["m0"].set_inner(bytes(4), m.maps["m0.inner"])
    return m.run(), m


def test_interpreter_looks_up_an_inner_map():
    res, m = _interp(True)
    assert res.status == "exit" and res.r0 == 7
    assert m.maps["m0.inner"].lookup(bytes(4)) != 0


def test_interpreter_empty_slot_is_null():
    res, _ = _interp(False)
    assert res.status == "exit" and res.r0 == 99


def test_interpreter_refuses_an_inner_map_of_another_shape():
    from model.interp.machine import Machine

    obj, prog = MAP_IN_MAP_PROBES[0].model()
    obj.maps["other"] = MapDef("other", 2, 4, 8, 8)
    m = Machine(prog, obj.maps)
    with pytest.raises(ValueError, match="shape"):
        m.maps["m0"].set_inner(bytes(4), m.maps["other"])


# -- the ELF loader: libbpf's __array(values, struct inner) ---------------------------------
_MIM_C = r"""
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
struct inner { __uint(type, 1); __uint(max_entries, 8); __type(key, int);
               __type(value, long long[2]); };
struct { __uint(type, 13); __uint(max_entries, 4); __type(key, int);
         __array(values, struct inner); } outer SEC(".maps");
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
SEC("xdp") int prog(void *ctx)
{
    int k = 0;
    void *in = bpf_map_lookup_elem(&outer, &k);
    if (!in) return 0;
    long long *v = bpf_map_lookup_elem(in, &k);
    if (!v) return 0;
    return v[IDX] & 1 ? 2 : 1;
}
char _license[] SEC("license") = "GPL";
"""


def _clang_object(tmp_path, idx: int):
    clang = shutil.which("clang-19")
    if clang is None:
        pytest.skip("clang-19 not installed (apt-get install clang-19)")
    c, o = tmp_path / f"mim{idx}.c", tmp_path / f"mim{idx}.o"
    c.write_text(_MIM_C.replace("IDX", str(idx)))
    r = subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(c), "-o", str(o)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from model.elf.loader import load_object

    return load_object(str(o))


def test_loader_records_the_inner_template(tmp_path):
    obj = _clang_object(tmp_path, 1)
    outer, inner = obj.maps["outer"], obj.maps["outer.inner"]
    assert (outer.type, outer.value_size, outer.inner) == (13, 4, "outer.inner")
    assert (inner.type, inner.key_size, inner.value_size, inner.max_entries,
            inner.origin) == (1, 4, 16, 8, "inner")


@needs_kernel
@pytest.mark.parametrize("idx", [1, 2])
def test_elf_map_in_map_against_kernel(tmp_path, idx):
    """v[1] is inside the 16-byte inner value, v[2] is past it: the kernel (given the
    outer map with an inner_map_fd by model.kernel.objload) and the verifier agree."""
    from model.kernel.objload import load_program
    from model.verifier.checker import check_program

    obj = _clang_object(tmp_path, idx)
    prog = obj.programs[0]
    res = load_program(obj, prog)
    res.close()
    ours = check_program(obj, prog)
    assert res.ok == (idx == 1), res.log[-500:]
    assert ours.accepted == res.ok, ours.error


def test_legacy_iproute2_inner_id():
    from model.elf.maps import _legacy_inner

    maps = {"in": MapDef("in", 2, 4, 8, 4, origin="legacy", legacy_extra=(7, 0, 0, 0)),
            "out": MapDef("out", 12, 4, 4, 4, origin="legacy", legacy_extra=(8, 0, 7, 0))}
    _legacy_inner(maps)
    assert maps["out"].inner == "in" and maps["in"].inner is None


# -- the interpreter's tail calls ----------------------------------------------------------
_SELF_TAIL = """r6 = r1
ld_pseudo r1, 2, 1, 0
r2 = *(u64 *)(r1 + 0)
r2 += 1
*(u64 *)(r1 + 0) = r2
r1 = r6
ld_pseudo r2, 1, 0
r3 = 0
call 12
ld_pseudo r1, 2, 1, 0
r0 = *(u64 *)(r1 + 0)
exit
"""


def test_interpreter_tail_call_limit():
    """A program tail-calling itself runs 1 + 33 times (MAX_TAIL_CALL_CNT); with an empty
    slot the tail call fails and it goes on."""
    from model.interp.machine import Machine

    obj, prog = Probe("self", "xdp", _SELF_TAIL, [PROG_ARRAY, (2, 4, 8, 1, 0)]).model()
    m = Machine(prog, obj.maps)
    m.maps["m0"].set_prog(0, prog)
    assert m.run().r0 == 34
    assert Machine(prog, obj.maps).run().r0 == 1


@needs_kernel
def test_tail_call_limit_against_kernel():
    import struct

    from model.isa import encode
    from model.kernel import load, map_create

    p = Probe("self", "xdp", _SELF_TAIL, [PROG_ARRAY, (2, 4, 8, 1, 0)])
    with map_create(*PROG_ARRAY) as pa, map_create(2, 4, 8, 1, 0) as counter:
        made = [pa, counter]
        with load(encode(p.insns()), "xdp", maps={pc: made[k] for pc, k in
                                                   p.refs().items()}) as kp:
            pa.update(struct.pack("<I", 0), struct.pack("<I", kp.fd))
            assert kp.test_run(bytes(64)).retval == 34


def test_interpreter_tail_call_from_subprogram_returns_to_its_caller():
    """The tail-called program takes the subprogram's frame: its exit returns to the
    subprogram's caller, with the caller's r6..r9 kept."""
    from model.interp.machine import Machine

    main = Program("main", "xdp", assemble("r6 = 40\ncall sub\nr0 += r6\nexit\nsub:\n"
                                           "ld_pseudo r2, 1, 0\nr3 = 1\ncall 12\nr0 = 1\n"
                                           "exit\n"))
    main.map_refs[4] = MapRef(4, "pa")
    other = Program("other", "xdp", assemble("r6 = 7\nr0 = 2\nexit\n"))
    obj = BpfObject("o", "GPL", {"pa": MapDef("pa", *PROG_ARRAY)}, [main, other])
    m = Machine(main, obj.maps)
    assert m.run().r0 == 41  # the tail call fails: sub returns 1
    m.maps["pa"].set_prog(1, other)
    assert m.run().r0 == 42  # other returns 2 to main, whose r6 is still 40


def test_interpreter_reads_a_map_structure():
    """max_entries at its BTF offset reads the definition's value; a read the kernel
    refuses faults with its message."""
    from model.interp.machine import Machine
    from model.platform.map_fields import vmlinux_btf

    if vmlinux_btf() is None:
        pytest.skip("no vmlinux BTF")
    ok = next(p for p in MAP_FIELD_PROBES if p.name == "field_max_entries_ok")
    bad = next(p for p in MAP_FIELD_PROBES if p.name == "field_two_members")
    obj, prog = Probe(ok.name, "xdp", ok.text.replace("r0 = 0\nexit", "exit"),
                      [(2, 4, 8, 77, 0)]).model()
    assert Machine(prog, obj.maps).run().r0 == 77
    obj, prog = bad.model()
    res = Machine(prog, obj.maps).run()
    assert res.status == "fault" and "access beyond the end of member key_size" in \
        res.fault.reason


@needs_kernel
@pytest.mark.parametrize("off", [68, 72, 76])
def test_map_structure_values_against_kernel(off):
    """key_size, value_size and max_entries read through a map pointer: the interpreter's
    value is the kernel's."""
    from model.interp.machine import Machine
    from model.isa import encode
    from model.kernel import map_create, run

    text = f"ld_pseudo r1, 1, 0\nr0 = *(u32 *)(r1 + {off})\nexit\n"
    shape = (2, 4, 24, 77, 0)
    with map_create(*shape) as m:
        want = run(encode(assemble(text)), "xdp", bytes(64), maps={0: m}).retval
    obj, prog = Probe("f", "xdp", text, [shape]).model()
    assert Machine(prog, obj.maps).run().r0 == want == {68: 4, 72: 24, 76: 77}[off]
