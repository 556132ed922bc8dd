"""The kernel's jump history, counted (``model.verifier.checker``): since a path's last
stored state, the instructions the kernel records in ``cur->jmp_history`` (one entry per
instruction however many reasons it has). When a path has gathered more than
``HISTORY_LIMIT`` entries, the next prune point stores a state whatever the checkpoint
heuristic says (is_state_visited's ``force_new_state``: "avoid accumulating infinitely
long jmp history"). Storing a state never makes the verifier accept more: this only
decides where states are remembered, as the kernel remembers them.

An entry is made (do_check, check_stack_{read,write}_fixed_off, check_cond_jmp_op) at:

- a jump point (``jump_points``): the target of a jump edge (a conditional jump's or a
  static site's taken edge, a ``ja``'s target, a bpf-to-bpf callee's or callback's entry),
  the instruction after any call (and after an ``ld_imm64`` of a callback), a callback
  helper call itself;
- a register spill to the stack at a fixed, 8-byte aligned offset (a scalar of any size,
  a pointer, an immediate), or a fill from a slot holding a spilled register;
- a conditional jump whose scalar operand is linked (same id) to another register.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.isa import Call, CallX, Jump, Load, LoadImm64, MayGoto, Store
from model.program import PSEUDO_FUNC, Program
from model.verifier.regs import T, var_of

if TYPE_CHECKING:  # (typed for the compiled build: native attribute reads)
    from model.verifier.state import State

HISTORY_LIMIT = 40


def jump_points(prog: Program, cb_sites: set[int]) -> frozenset[int]:
    """The kernel's ``mark_jmp_point`` instructions (its CFG walk)."""
    points = set(cb_sites)
    for pc, insn in prog.by_pc().items():
        if isinstance(insn, (Jump, MayGoto)):
            site = prog.site_at(pc)
            if site is not None:
                points.add(site.target)
            else:
                points.add(insn.target(pc))
        elif isinstance(insn, (Call, CallX)):
            points.add(pc + 1)
            if isinstance(insn, Call) and insn.src == 1:
                points.add(pc + 1 + insn.imm)  # (its target: the callee)
        elif isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
            points |= {pc + 2, pc + 1 + insn.imm}
    return frozenset(points)


def stack_kind(st: "State", insn) -> bool | None:
    """A load or store of ``insn`` (on the state before it) at a fixed stack offset: True
    for a register spill or a fill of a spilled register (recorded in the kernel's jump
    history as a stack access), False for
    plain bytes (misc or zero bytes written, or read from a slot holding no spilled
    register: the value read back is unknown or zero, never the register written;
    backtrack_insn carries no precision through such an access, its history entry lacking
    INSN_F_STACK_ACCESS); None for anything else."""
    store = isinstance(insn, Store)  # (a store-release / load-acquire too)
    if not store and not isinstance(insn, Load):
        return None  # an atomic: not counted (rare on the stack)
    base = st.cur.regs[insn.dst if store else insn.src]
    if base.type is not T.STACK or not var_of(base).is_const():
        return None
    off = base.off + insn.off + var_of(base).smin_s
    if not -512 <= off < 0:
        return None
    if store:
        if off % 8:
            return False
        return insn.src is None or st.cur.regs[insn.src].type is not T.NOT_INIT
    frame = st.frames[base.frame] if base.frame < len(st.frames) else None
    slot = frame.stack.get((-off - 1) // 8) if frame is not None else None
    return slot is not None and slot.spill is not None


def linked_jump(st: "State", insn) -> bool:
    """A conditional jump whose destination is a scalar linked to another register or
    spilled register (collect_linked_regs finds more than one)."""
    r = st.cur.regs[insn.dst]
    if r.type is not T.SCALAR or not r.id:
        return False
    n = 0
    for _, _, other in st.all_regs():
        if other.id == r.id and other.type is T.SCALAR:
            n += 1
            if n > 1:
                return True
    return False


__all__ = ["HISTORY_LIMIT", "jump_points", "stack_kind", "linked_jump"]
