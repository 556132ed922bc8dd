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

from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadImm64, MayGoto, Store)
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


def _transfer(insn, out: frozenset[int], in_subprog: bool, ret_checked: bool) -> frozenset[int]:
    s = set(out)
    if isinstance(insn, Alu):
        if insn.op in ("add", "sub") and insn.src is not None:
            s.add(insn.src)  # pointer arithmetic checks look at the added value
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
        if insn.src is not None:
            s.add(insn.src)
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
        s |= ARGS
        if isinstance(insn, CallX):
            s.add(insn.dst)
        return frozenset(s)
    if isinstance(insn, LegacyLoad):
        s -= CALL_CLOBBERED
        s.add(6)
        if insn.src is not None:
            s.add(insn.src)
        return frozenset(s)
    if isinstance(insn, Exit):
        return frozenset({0}) if (in_subprog or ret_checked) else frozenset()
    return frozenset(s)


def sensitive_registers(prog: Program) -> dict[int, frozenset[int]]:
    """pc -> registers whose values may matter from that instruction on (before it runs)."""
    by_pc = prog.by_pc()
    starts = sorted(set(prog.subprogs) | {0})
    func_of = {}
    k = 0
    for pc in sorted(by_pc):
        while k + 1 < len(starts) and starts[k + 1] <= pc:
            k += 1
        func_of[pc] = starts[k]
    ret_checked = return_range(prog.prog_type, prog.attach_type) is not None
    preds: dict[int, list[int]] = {pc: [] for pc in by_pc}
    succs = {}
    for pc, insn in by_pc.items():
        succs[pc] = [s for s in _successors(prog, pc, insn) if s in by_pc]
        for s in succs[pc]:
            preds[s].append(pc)
    sens: dict[int, frozenset[int]] = {pc: frozenset() for pc in by_pc}
    work = list(by_pc)
    queued = set(work)
    while work:
        pc = work.pop()
        queued.discard(pc)
        out = frozenset().union(*(sens[s] for s in succs[pc])) if succs[pc] else frozenset()
        new = _transfer(by_pc[pc], out, func_of[pc] != 0, ret_checked)
        if new != sens[pc]:
            sens[pc] = new
            for p in preds[pc]:
                if p not in queued:
                    queued.add(p)
                    work.append(p)
    return sens
