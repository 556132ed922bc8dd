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
from model.verifier.state import STACK_SIZE
from model.platform.proto_kinds import Arg, ArgFlag
from model.platform.prototypes import helper_proto
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
    ud, by_insn = {}, {}  # (the same instruction reads and writes the same registers)
    for pc, insn in flow.by_pc.items():
        got = by_insn.get(insn)
        if got is None:
            uses, defs = _uses_defs(insn, ptype)
            got = by_insn[insn] = (frozenset(uses | {10}), frozenset(defs))
        ud[pc] = got

    def transfer(pc, out):
        uses, defs = ud[pc]
        return (out - defs) | uses

    return flow.backward(transfer)


ALL_SLOTS = frozenset(range(STACK_SIZE // 8))
NO_SLOTS: frozenset[int] = frozenset()


def _slots(off: int, size: int) -> frozenset[int]:
    """The 8-byte slots (k: bytes [-8(k+1), -8k)) an ``r10 + off`` access of ``size`` bytes
    touches."""
    return frozenset((-b - 1) // 8 for b in range(off, off + size) if -STACK_SIZE <= b < 0)


def _stack_uses_kills(insn, stackish: frozenset[int], prog_type: str):
    """(slots read, slots wholly overwritten); ``ALL_SLOTS`` read when memory may be read
    through a register that may point into this stack (or a call may read it)."""
    if isinstance(insn, Load):
        if insn.src == 10:
            return _slots(insn.off, insn.size), NO_SLOTS
        return (ALL_SLOTS if insn.src in stackish else NO_SLOTS), NO_SLOTS
    if isinstance(insn, Store):
        if insn.dst == 10 and insn.size == 8 and insn.off % 8 == 0:
            return NO_SLOTS, _slots(insn.off, 8)
        return NO_SLOTS, NO_SLOTS  # a partial or indirect write reads nothing
    if isinstance(insn, Atomic):
        if insn.dst == 10:
            return _slots(insn.off, insn.size), NO_SLOTS
        return (ALL_SLOTS if insn.dst in stackish else NO_SLOTS), NO_SLOTS
    if isinstance(insn, (Call, CallX)):
        reads = _memory_read_args(insn, prog_type)
        return (ALL_SLOTS if reads & stackish else NO_SLOTS), NO_SLOTS
    return NO_SLOTS, NO_SLOTS


def _memory_read_args(insn, prog_type: str) -> frozenset[int]:
    """The argument registers through which a call may read memory: every argument but a
    helper's write-only memory (``ARG_PTR_TO_MEM | MEM_UNINIT``, e.g. probe_read's
    destination); all of them for subprograms, kfuncs and indirect calls."""
    if isinstance(insn, Call) and insn.src == 0:
        proto = helper_proto(prog_type, insn.imm)
        if proto is not None:
            return frozenset(1 + i for i, a in enumerate(proto.args[:5])
                             if not (a.base is Arg.PTR_TO_MEM and a.flags & ArgFlag.MEM_UNINIT))
    return call_args(insn, prog_type) | ({insn.dst} if isinstance(insn, CallX) else set())


def live_slots(prog: Program, flow: Flow | None = None) -> dict[int, frozenset[int]]:
    """pc -> the current frame's stack slots that may be read (before being wholly
    overwritten) from that instruction on, by this function or a callee it passes a stack
    pointer to. Only the innermost frame's: a callee may read a caller's stack."""
    flow = flow or Flow(prog)
    ptype, ptrs = prog.prog_type, flow.stack_ptrs
    uk = {pc: _stack_uses_kills(insn, ptrs.get(pc, ALL_REGS), ptype)
          for pc, insn in flow.by_pc.items()}

    def transfer(pc, out):
        uses, kills = uk[pc]
        return (out - kills) | uses if uses is not ALL_SLOTS else ALL_SLOTS

    return flow.backward(transfer)


ALL_REGS = frozenset(range(11))

__all__ = ["live_registers", "live_slots"]
