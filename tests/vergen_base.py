"""Generated programs that exercise the verifier (not the ALU): stack spills and fills,
map lookups, packet bounds, ctx fields, helpers, loops, bpf-to-bpf calls, pointer
arithmetic and returns -- with unsafe variants mixed in, for differential testing of our
abstract verifier against the kernel's.

A program is a prologue (``r6 = r1``: the ctx survives helper calls), 1-5 *snippets*, an
``out:`` epilogue (``r0 = ret; exit``) and any subprograms. Each snippet is self-contained
(it reloads what it needs from r6 and may jump to ``out`` early). With probability
``UNSAFE_RATE`` one snippet is drawn in an *unsafe* variant (missing null check, bound
off by one, misaligned or partial access, forbidden pointer arithmetic, ...); "unsafe"
means "meant to break a rule", the verdicts come from the verifiers.

Choices come from a ``progen.Draw`` (hypothesis: :func:`programs`; seeded:
:func:`random_programs`). Programs are built with labels (:class:`Asm`) and are well-formed
(``model.cfg.check_structure`` passes).
"""

from __future__ import annotations

# the imports below are also re-exported to vergen.py and vergen_more.py (star imports)

import random
from dataclasses import dataclass, field

from hypothesis import strategies as st

from model.isa import (Alu, Atomic, Call, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64,
                       Store, format_llvm, iter_pcs)
from model.program import BpfObject, MapDef, MapRef, Program
from labelled_asm import LabelledAsm
from progen import Draw, HypothesisDraw, RandomDraw

UNSAFE_RATE = 0.4
PROG_TYPES = ("xdp", "sched_cls", "socket_filter")
SECTION = {"xdp": "xdp", "sched_cls": "tc", "socket_filter": "socket"}
HASH, ARRAY = 1, 2
VALUE_SIZES = (8, 16, 48)
LOOKUP, UPDATE, DELETE, KTIME, PRINTK, PRANDOM, PROBE_READ_KERNEL = 1, 2, 3, 5, 6, 7, 113
# (data, data_end) ctx offsets; socket filters have no direct packet access
PKT_OFFS = {"xdp": (0, 4), "sched_cls": (76, 80), "socket_filter": (76, 80)}
# ctx fields readable with 4 bytes (a scalar), per type
CTX_SCALARS = {"xdp": (12, 16), "sched_cls": (0, 8, 32, 48, 44), "socket_filter": (0, 8, 48)}
CTX_SIZE = {"xdp": 24, "sched_cls": 192, "socket_filter": 192}
SNIPPETS = ("stack", "spill", "map", "map_var", "packet", "ctx", "helper", "branch", "loop",
            "subprog", "ptr_arith", "var_stack", "atomic", "pkt_spill", "null_copy", "linked",
            "map_helper", "alu_imm")


@dataclass
class VerProg:
    prog_type: str
    insns: list[Insn]
    map_refs: dict[int, str]                       # pc of an ld_imm64 -> map name
    maps: dict[str, MapDef]
    features: list[str] = field(default_factory=list)   # snippet kinds, unsafe ones "!kind"

    @property
    def unsafe(self) -> bool:
        return any(f.startswith("!") for f in self.features)

    def text(self) -> str:
        return "\n".join(f"{pc:4}: {format_llvm(i, pc)}"
                         + (f"  ; map {self.map_refs[pc]}" if pc in self.map_refs else "")
                         for pc, i in iter_pcs(self.insns))

    def model(self) -> tuple[BpfObject, Program]:
        prog = Program("vergen", SECTION[self.prog_type], list(self.insns))
        for pc, name in self.map_refs.items():
            prog.map_refs[pc] = MapRef(pc, name)
        return BpfObject("vergen", "GPL", dict(self.maps), [prog]), prog

    def kernel_verify(self, prog_flags: int = 0):
        """The kernel's LoadResult (maps created for this program, closed afterwards),
        loaded with ``prog_flags`` (BPF_PROG_LOAD flags; 0 as libbpf loads)."""
        from model.isa import encode
        from model.kernel import map_create, verify

        made = {}
        try:
            for name, m in self.maps.items():
                made[name] = map_create("hash" if m.type == HASH else "array", m.key_size,
                                        m.value_size, m.max_entries)
            return verify(encode(self.insns), self.prog_type,
                          maps={pc: made[n] for pc, n in self.map_refs.items()},
                          prog_flags=prog_flags)
        finally:
            for m in made.values():
                m.close()


class Asm(LabelledAsm):
    """The labelled assembler (tests/labelled_asm.py) whose ``build()`` gives
    ``(insns, {pc: map name})``: vergen draws no static sites."""

    def build(self) -> tuple[list[Insn], dict[int, str]]:
        insns, refs, _ = super().build()
        return insns, refs
