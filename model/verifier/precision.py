"""Which stack slots may hold a value the kernel tracks as *precise*: a value loaded from
the slot may reach a use that makes the kernel mark it precise (pointer arithmetic, a
memory access's offset, a compared register, a helper argument, a checked return value:
``model.verifier.sensitivity``'s uses), directly or through other stack slots.

Used at a callback's call site: the kernel widens the scalars a callback changed unless
they are precise (widen_imprecise_scalars); skv widens only slots no precise value can be
in, so that it never converges where the kernel keeps iterating.

A slot is ``(function start pc, slot index)`` for an ``r10``-based access; an access
through another register that may point into a stack may touch any slot (``ANY``).
"""

from __future__ import annotations

from model.isa import Atomic, Load, Store
from model.platform.returns import return_range
from model.program import Program
from model.verifier.sensitivity import Flow, _transfer

ANY = "any"


def _slot(flow: Flow, pc: int, reg: int, off: int):
    if reg == 10 and -512 <= off < 0:
        return (flow.func_of[pc], (-off - 1) // 8)
    return ANY


def precise_slots(prog: Program, flow: Flow) -> frozenset:
    """The slots that may hold a precise value (may include ``ANY``: every slot)."""
    ptype = prog.prog_type
    ret_checked = return_range(ptype, prog.attach_type) is not None
    stack_ptrs = flow.stack_ptrs
    slots: set = set()

    def maybe_precise(key) -> bool:
        return bool(slots) and (key == ANY or ANY in slots or key in slots)

    def transfer(pc, out):
        insn = flow.by_pc[pc]
        stackish = stack_ptrs.get(pc)
        if isinstance(insn, Store) and insn.src is not None and (
                stackish is None or insn.dst in stackish):
            # a value stored to the stack matters only if the slot may be precise
            if not maybe_precise(_slot(flow, pc, insn.dst, insn.off)):
                stackish = (stackish or frozenset(range(11))) - {insn.dst}
        return _transfer(insn, out, flow.func_of[pc] != 0, ret_checked, stackish, ptype)

    while True:
        sens = flow.backward(transfer)
        new = set(slots)
        for pc, insn in flow.by_pc.items():
            stackish = stack_ptrs.get(pc)
            if isinstance(insn, Load):
                base, dst = insn.src, insn.dst
            elif isinstance(insn, Atomic) and insn.fetch:
                base, dst = insn.dst, insn.src if insn.op != "cmpxchg" else 0
            else:
                continue
            if stackish is not None and base not in stackish:
                continue
            after = frozenset().union(*(sens[s] for s in flow.succs[pc]))
            if dst in after:
                new.add(_slot(flow, pc, base, insn.off))
        if new == slots:
            return frozenset(slots)
        slots = new


__all__ = ["ANY", "precise_slots"]
