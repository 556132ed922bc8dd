"""Register liveness, per pc: the registers that may be read before being written from
that instruction on (the role of the kernel's REG_LIVE_READ marks, computed statically).
A dead register cannot influence anything, so pruning ignores it whatever its type.

Calls are summarised: a helper call reads its prototype's argument registers, a
subprogram or kfunc call r1-r5, and all leave r0-r5 written; ``exit`` reads r0; a legacy packet load
reads r6 (the skb) and its index register and clobbers r0-r5. A caller's frame is live
as at the instruction its call returns to.
"""

from __future__ import annotations

from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadImm64, Store)
from model.program import Program
from model.verifier.sensitivity import ARGS, CALL_CLOBBERED, Flow, call_args


def _uses_defs(insn, prog_type: str) -> tuple[set[int], set[int]]:
    if isinstance(insn, Alu):
        uses = set() if insn.op in ("mov", "movsx") else {insn.dst}
        if insn.src is not None:
            uses.add(insn.src)
        return uses, {insn.dst}
    if isinstance(insn, Endian):
        return {insn.dst}, {insn.dst}
    if isinstance(insn, LoadImm64):
        return set(), {insn.dst}
    if isinstance(insn, Load):
        return {insn.src}, {insn.dst}
    if isinstance(insn, Store):
        return {insn.dst} | ({insn.src} if insn.src is not None else set()), set()
    if isinstance(insn, Atomic):
        uses = {insn.dst, insn.src} | ({0} if insn.op == "cmpxchg" else set())
        defs = {0} if insn.op == "cmpxchg" else ({insn.src} if insn.fetch else set())
        return uses, defs
    if isinstance(insn, Jump):
        if insn.cond == "ja":
            return set(), set()
        return {insn.dst} | ({insn.src} if insn.src is not None else set()), set()
    if isinstance(insn, CallX):
        return set(ARGS) | {insn.dst}, set(CALL_CLOBBERED)
    if isinstance(insn, Call):
        return set(call_args(insn, prog_type)), set(CALL_CLOBBERED)
    if isinstance(insn, LegacyLoad):
        return {6} | ({insn.src} if insn.src is not None else set()), set(CALL_CLOBBERED)
    if isinstance(insn, Exit):
        return {0}, set()
    return set(), set()  # may_goto and anything else: reads and writes no register


def live_registers(prog: Program, flow: Flow | None = None) -> dict[int, frozenset[int]]:
    """pc -> registers that may be read (before a write) from that instruction on."""
    flow = flow or Flow(prog)
    ptype = prog.prog_type
    ud = {}
    for pc, insn in flow.by_pc.items():
        uses, defs = _uses_defs(insn, ptype)
        ud[pc] = (frozenset(uses | {10}), frozenset(defs))

    def transfer(pc, out):
        uses, defs = ud[pc]
        return (out - defs) | uses

    return flow.backward(transfer)


__all__ = ["live_registers"]
