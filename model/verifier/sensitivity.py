"""Which registers' *values* can matter for safety from each instruction on.

A backward dataflow over the program: a register is sensitive at ``pc`` when its value may
flow into something an assertion looks at — a memory address, a branch condition, a helper
or subprogram argument, a stored value (conservatively: it may be loaded back and used), a
subprogram's return value, or ``r0`` at the exit of a program type whose return range is
checked. Pruning may ignore the value (never the type) of any other scalar register: its
value cannot change which paths run or whether any assertion holds. This plays the role of
the kernel's precision tracking (``mark_chain_precision``), computed statically.
"""

from __future__ import annotations

import time

from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadImm64, MayGoto, Store)
from model.cfg.graph import func_starts
from model.platform.prototypes import helper_proto
from model.platform.returns import return_range
from model.program import Program

ARGS = frozenset(range(1, 6))
CALL_CLOBBERED = frozenset(range(0, 6))
ALL = frozenset(range(11))


def _successors(prog: Program, pc: int, insn) -> list[int]:
    if isinstance(insn, Exit):
        return []
    if isinstance(insn, Jump):
        if insn.cond == "ja":
            site = prog.site_at(pc)
            return [pc + 1, site.target] if site else [insn.target(pc)]
        return [pc + 1, insn.target(pc)]
    if isinstance(insn, MayGoto):
        return [pc + 1, insn.target(pc)]
    return [pc + insn.slots]


def call_args(insn, prog_type: str | None) -> frozenset[int]:
    """The argument registers a call reads: a helper's prototype's (r1.. one per declared
    argument), every one for bpf-to-bpf calls, kfuncs and helpers without a row."""
    if isinstance(insn, Call) and insn.src == 0 and prog_type is not None:
        proto = helper_proto(prog_type, insn.imm)
        if proto is not None:
            return ARG_REGS[min(len(proto.args), 5)]
    return ARGS


ARG_REGS = [frozenset(range(1, 1 + n)) for n in range(6)]


def _transfer(insn, out: frozenset[int], in_subprog: bool, ret_checked: bool,
              stackish: frozenset[int] | None = None,
              prog_type: str | None = None) -> frozenset[int]:
    s = set(out)
    if isinstance(insn, Alu):
        if insn.op in ("add", "sub") and insn.src is not None and insn.is64:
            s.add(insn.src)  # pointer arithmetic checks look at the added value (ALU32
            # on a pointer is refused whatever the value)
        if insn.dst in s:
            if insn.op not in ("mov", "movsx"):
                s.add(insn.dst)
            else:
                s.discard(insn.dst)
            if insn.src is not None:
                s.add(insn.src)
        return frozenset(s)
    if isinstance(insn, Endian):
        return frozenset(s)
    if isinstance(insn, LoadImm64):
        s.discard(insn.dst)
        return frozenset(s)
    if isinstance(insn, Load):
        s.discard(insn.dst)
        s.add(insn.src)
        return frozenset(s)
    if isinstance(insn, Store):
        s.add(insn.dst)
        if insn.src is not None and (stackish is None or insn.dst in stackish):
            s.add(insn.src)  # only the stack gives a stored value back (a spill)
        return frozenset(s)
    if isinstance(insn, Atomic):
        if insn.fetch and insn.op != "cmpxchg":
            s.discard(insn.src)
        s |= {insn.dst, insn.src}
        if insn.op == "cmpxchg":
            s.add(0)
        return frozenset(s)
    if isinstance(insn, Jump):
        if insn.cond != "ja":
            s.add(insn.dst)
            if insn.src is not None:
                s.add(insn.src)
        return frozenset(s)
    if isinstance(insn, (Call, CallX)):
        s -= CALL_CLOBBERED
        s |= call_args(insn, prog_type)
        if isinstance(insn, CallX):
            s.add(insn.dst)
        return frozenset(s)
    if isinstance(insn, LegacyLoad):
        s -= CALL_CLOBBERED
        s.add(6)  # (LD_IND's offset: any value, the load checks its bounds when it runs)
        return frozenset(s)
    if isinstance(insn, Exit):
        return frozenset({0}) if (in_subprog or ret_checked) else frozenset()
    return frozenset(s)


EMPTY: frozenset[int] = frozenset()


class Late(Exception):
    """The caller's time limit ran out during an analysis."""


class Flow:
    """The intraprocedural edges of a program (calls summarised; a static site has both
    edges), with each pc's function start."""

    def __init__(self, prog: Program, deadline: float | None = None):
        self.deadline = deadline  # time.perf_counter() value: past it, raise Late
        self.by_pc = by_pc = prog.by_pc()
        self.starts = set(func_starts(prog))
        starts = sorted(self.starts | {0})
        self.func_of, k = {}, 0
        for pc in sorted(by_pc):
            while k + 1 < len(starts) and starts[k + 1] <= pc:
                k += 1
            self.func_of[pc] = starts[k]
        self.preds: dict[int, list[int]] = {pc: [] for pc in by_pc}
        self.succs = {}
        self._stack_ptrs: dict[int, frozenset[int]] | None = None  # (``stack_ptrs``)
        for pc, insn in by_pc.items():
            self.succs[pc] = [s for s in _successors(prog, pc, insn) if s in by_pc]
            for s in self.succs[pc]:
                self.preds[s].append(pc)

    @property
    def stack_ptrs(self) -> dict[int, frozenset[int]]:
        """pc -> registers that may point into a stack (``may_point_to_stack``)."""
        got = self._stack_ptrs  # (an attribute: compiled, the class has no __dict__)
        if got is None:
            got = self._stack_ptrs = may_point_to_stack(self.by_pc, self.succs, self.preds,
                                                        self.starts)
        return got

    def backward(self, transfer) -> dict[int, frozenset[int]]:
        """The least fixpoint of ``into[pc] = transfer(pc, union of into[successors])``."""
        into: dict[int, frozenset[int]] = dict.fromkeys(self.by_pc, EMPTY)
        work = list(self.by_pc)
        queued = set(work)
        steps = 0
        while work:
            steps += 1
            if self.deadline is not None and steps % 2048 == 0 \
                    and time.perf_counter() > self.deadline:
                raise Late()
            pc = work.pop()
            queued.discard(pc)
            succ = self.succs[pc]
            if len(succ) == 1:
                out = into[succ[0]]
            else:
                out = frozenset().union(*(into[s] for s in succ)) if succ else EMPTY
            new = transfer(pc, out)
            if new != into[pc]:
                into[pc] = new
                for p in self.preds[pc]:
                    if p not in queued:
                        queued.add(p)
                        work.append(p)
        return into


def sensitive_registers(prog: Program, flow: Flow | None = None) -> dict[int, frozenset[int]]:
    """pc -> registers whose values may matter from that instruction on (before it runs)."""
    flow = flow or Flow(prog)
    ptype = prog.prog_type
    ret_checked = return_range(ptype, prog.attach_type) is not None
    stack_ptrs = flow.stack_ptrs
    return flow.backward(lambda pc, out: _transfer(
        flow.by_pc[pc], out, flow.func_of[pc] != 0, ret_checked, stack_ptrs.get(pc),
        ptype))


FRAME = frozenset({10})
SUBPROG_ENTRY = frozenset({1, 2, 3, 4, 5, 10})  # a caller may pass stack pointers


def _stack_transfer(insn, s: frozenset[int]) -> frozenset[int]:
    """After ``insn``: the registers that may hold a pointer into some frame's stack."""
    if isinstance(insn, Alu):
        if insn.op == "mov":
            return s | {insn.dst} if insn.src in s else s - {insn.dst}
        if insn.src in s:  # scalar + pointer is a pointer
            return s | {insn.dst}
        return s
    if isinstance(insn, (LoadImm64, LegacyLoad)):
        return s - {insn.dst} if isinstance(insn, LoadImm64) else s - CALL_CLOBBERED
    if isinstance(insn, Load):  # a spilled stack pointer may come back from the stack
        return s | {insn.dst} if insn.src in s else s - {insn.dst}
    if isinstance(insn, Atomic) and insn.fetch:
        return s | {insn.src} if insn.dst in s else s - {insn.src}
    if isinstance(insn, (Call, CallX)):  # helpers and subprograms never return one
        return s - CALL_CLOBBERED
    return s


def may_point_to_stack(by_pc: dict, succs: dict, preds: dict,
                       starts: set[int]) -> dict[int, frozenset[int]]:
    """pc -> registers that may point into a stack (before the instruction): a forward
    may-analysis from r10 (and a subprogram's arguments). A store through any other
    register writes memory that never gives the stored value's bounds back."""
    into: dict[int, frozenset[int]] = {}
    work = []
    for pc in by_pc:
        if pc == 0 or not preds[pc] or pc in starts:  # subprograms, callbacks: generously
            into[pc] = FRAME if pc == 0 else SUBPROG_ENTRY
            work.append(pc)
    while work:
        pc = work.pop()
        out = _stack_transfer(by_pc[pc], into[pc])
        for t in succs[pc]:
            old = into.get(t)
            new = out if old is None else old | out
            if new != old:
                into[t] = new
                work.append(t)
    return into
