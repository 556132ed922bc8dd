"""A generator drawn from the kernel's whole rule surface, not from what skv models
(tests/vergen.py does the latter): every helper id with plausible and implausible
arguments, maps of every type the kernel creates without BTF (with RDONLY/WRONLY_PROG),
ctx accesses at every offset/size of many program types through moved ctx pointers,
packet and data_meta pointers, packet-changing helpers and stale pointers, NULL/size
combinations, program structure (dead code, bad jumps, subprograms, LD_ABS/LD_IND), with
static-key sites mixed in.

A program is ``r6 = r1``, a first snippet of its feature class (``cls``), up to two more of
any class (each possibly behind a static site), ``out: r0 = ...; exit`` and subprograms.
Pieces: rulegen_base (types, maps, assembler, RuleProg), rulegen_args (helper calls),
rulegen_ctx (ctx, packets, LD_ABS), rulegen_struct (structure), rulegen_alu (pointer
arithmetic on every pointer type, range tracking into accesses at the edge), rulegen_mem2
(stack spills/fills, every atomic op and size), rulegen_calls (loops, bpf-to-bpf calls).
"""

from __future__ import annotations

import random

from model.isa import Alu, Call, Exit
from progen import Draw, RandomDraw
from rulegen_alu import AluSnippets
from rulegen_args import PRANDOM, ArgSnippets
from rulegen_base import PROG_TYPES, SKB_TYPES, RuleAsm, RuleProg
from rulegen_calls import CallSnippets
from rulegen_ctx import CtxSnippets
from rulegen_mem2 import Mem2Snippets
from rulegen_struct import StructSnippets

#: feature class -> snippet method
CLASSES = {"helper": "_helper", "map": "_map", "mem_null": "_mem", "ctx": "_ctx",
           "packet": "_packet", "ld_abs": "_ldabs", "structure": "_structure",
           # the kernel's rules beyond what skv's snippets above model (rulegen_alu,
           # rulegen_mem2, rulegen_calls)
           "ptr_alu": "_ptr_alu", "bounds": "_bounds", "spill": "_spill", "atomic": "_atomic",
           "loops_calls": "_loops_calls"}
SITE_RATE = 0.3   # per snippet: behind a static site
SECONDARY = tuple(CLASSES)
#: classes mostly drawn for the types that have the feature (the rest: any type)
RETARGET = {"packet": ("xdp", "xdp", "sched_cls", "sched_cls", "sched_act", "cgroup_skb",
                       "lwt_in", "sk_skb"),
            "ld_abs": ("socket_filter", "sched_cls", "sched_act")}


class RuleGen(ArgSnippets, CtxSnippets, StructSnippets, AluSnippets, Mem2Snippets,
              CallSnippets):
    def __init__(self, d: Draw, prog_type: str | None = None, cls: str | None = None):
        self.d = d
        self.ptype = prog_type or d.pick(PROG_TYPES)
        self.cls = cls or d.pick(tuple(CLASSES))
        if self.cls in RETARGET and self.ptype not in RETARGET[self.cls] and d.int(0, 3):
            self.ptype = d.pick(RETARGET[self.cls])
        self.a = RuleAsm()
        self.maps: dict = {}
        self.subs: list = []
        self.features: list[str] = []
        self.late: list = []          # (what, skew): bad jumps/calls, fall-through at the end
        self.ret: object = None
        self.out = "out"
        self.n_keys = 0

    def site(self, target: str) -> None:
        d = self.d
        if self.n_keys == 0 or d.bool():
            self.n_keys += 1
        key = f"key{d.int(0, self.n_keys - 1)}"
        self.a.site(target, key, d.bool())
        self.features.append("site")

    def program(self) -> RuleProg:
        d, a = self.d, self.a
        a.at("start")
        a.put(Alu("mov", True, 6, src=1))
        kinds = [self.cls] + [d.pick(SECONDARY) for _ in range(d.pick((0, 0, 0, 1, 2)))]
        if self.ptype not in SKB_TYPES:              # LD_ABS elsewhere only when drawn first
            kinds = kinds[:1] + [k for k in kinds[1:] if k != "ld_abs"]
        for k in kinds:
            if d.int(0, 99) < SITE_RATE * 100:
                form = d.int(0, 2)
                skip = a.label()
                if form == 0:                      # skip the snippet on one edge
                    self.site(skip)
                    getattr(self, CLASSES[k])()
                    a.at(skip)
                elif form == 1:                    # leave early on one edge
                    self.site(self.out)
                    getattr(self, CLASSES[k])()
                else:                              # the snippet only on the jump edge
                    body, join = a.label(), a.label()
                    self.site(body)
                    a.goto(join)
                    a.at(body)
                    getattr(self, CLASSES[k])()
                    a.at(join)
            else:
                getattr(self, CLASSES[k])()
        for what, skew in self.late:
            if what in ("jump", "call"):
                a.put(Call(0, PRANDOM))
                target = "end" if skew > 0 else "start"
                if what == "jump":
                    a.jmp("jeq", 0, target, imm=0, skew=skew - 1 if skew > 0 else skew)
                else:
                    a.call_sub(target, skew=skew - 1 if skew > 0 else skew)
            else:
                a.put(Call(0, PRANDOM))
                a.jmp("jeq", 0, "tail", imm=0)
        a.at(self.out)
        self._ret()
        i = 0
        while i < len(self.subs):            # emitting a body may add subprograms
            label, body = self.subs[i]
            a.at(label)
            body()
            i += 1
        if any(w == "fallthrough" for w, _ in self.late):
            a.at("tail")
            a.put(Alu("mov", True, 0, imm=0))
        a.at("end")
        insns, refs, sites = a.build()
        return RuleProg(self.ptype, insns, refs, self.maps, sites, self.cls, self.features)

    def _ret(self) -> None:
        a, r = self.a, self.ret
        if r == "uninit":                       # r0 as the last snippet left it
            return a.put(Exit())
        if r in ("ptr_ctx", "ptr_fp", "r7"):
            a.put(Alu("mov", True, 0, src={"ptr_ctx": 6, "ptr_fp": 10, "r7": 7}[r]))
        elif r == "unknown":
            a.put(Call(0, PRANDOM))
        elif isinstance(r, int):
            a.put(Alu("mov", True, 0, imm=r))
        else:
            a.put(Alu("mov", True, 0, imm=self.d.pick((0, 1))))
        a.put(Exit())


def generate(d: Draw, prog_type: str | None = None, cls: str | None = None) -> RuleProg:
    return RuleGen(d, prog_type, cls).program()


def random_programs(seed: int, n: int, classes: tuple[str, ...] | None = None, **kw):
    """``n`` programs; with ``classes``, each drawn first from one of them."""
    d = RandomDraw(random.Random(seed))
    for _ in range(n):
        yield generate(d, cls=d.pick(classes), **kw) if classes else generate(d, **kw)


__all__ = ["CLASSES", "RuleGen", "RuleProg", "generate", "random_programs"]
