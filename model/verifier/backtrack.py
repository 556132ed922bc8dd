"""Precision tracking by backtracking (the kernel's ``mark_chain_precision``).

A scalar's exact value matters for safety only where it is used in a way the verifier
decides on: an operand of pointer arithmetic, a helper argument, a conditional jump whose
outcome was decided by the operands' values (only one edge feasible), ``r0`` at the exit
of a program whose return range is checked. At such a use the registers are marked
*precise*, and the marks are carried backward along the path's own instructions (``r1 =
r2 + r3`` makes r2 and r3 precise, a fill from the stack makes the slot precise, a spill
makes the spilled register precise, a constant ends the chain) into every stored state
(checkpoint) the path passed. When a stored state's subtree is fully explored, a scalar of
its innermost frame without a mark is compared by type only when pruning
(``model.verifier.state.covers``).

A walk crosses bpf-to-bpf calls: back over a subprogram's ``exit`` it follows the
callee's ``r0`` and keeps the caller's marks (r6-r9, its stack slots) aside; back over
the call, the callee's marked arguments become the caller's registers. A load or store
through a stack pointer other than ``r10`` has the frame and slots it touched kept on the
path's trail (``stack_access``). What is not followed exactly is made conservative: a
chain through a callback, a kfunc or an indirect call makes *every* value of every
checkpoint on the path precise (``Marks.all``; the kernel's
``mark_all_scalars_precise``). Scalars sharing an id with a compared scalar are
compared too (the links the kernel records with its jump history), and a state pruned by
a stored one takes over that state's marks (``propagate_precision``; the marks and what
pruning makes of them: ``model.verifier.marks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadAcquire, LoadImm64, MayGoto, Store, StoreRelease)
from model.platform.callbacks import callback_spec, helper_short_name, is_sync_callback_call
from model.platform.map_helpers import can_elide_null
from model.platform.proto_kinds import Arg
from model.platform.prototypes import helper_proto
from model.verifier.liveness import _slots as touched_slots
from model.verifier.marks import Marks, mark_all
from model.verifier.memcheck import constant_map_key
from model.verifier.regs import T
from model.verifier.state import SPILL
from model.verifier.sensitivity import call_args

if TYPE_CHECKING:  # (typed for the compiled build: native attribute reads)
    from model.verifier.explore import Node
    from model.verifier.state import State


_UNSEEN: Final = -2  # (``Tracker.quiet``)
ARG_REGS = frozenset(range(1, 6))
RET_CLOBBERED = frozenset(range(0, 6)) | {10}  # after a return: r0 the callee's, r1-r5 gone


def _slots(off: int, size: int) -> frozenset[int]:
    """The stack slots ``size`` bytes at ``off`` touch (``liveness``'s), memoised."""
    got = _SLOTS.get((off, size))
    if got is None:
        if len(_SLOTS) >= 1 << 16:
            _SLOTS.clear()
        got = _SLOTS[off, size] = touched_slots(off, size)
    return got


_SLOTS: dict = {}


def plain_helper(insn, prog_type: str) -> bool:
    """A helper call with a prototype and no callback argument: it runs no program code."""
    if not isinstance(insn, Call) or insn.src != 0:
        return False
    proto = helper_proto(prog_type, insn.imm)
    return proto is not None and not any(a.base is Arg.PTR_TO_FUNC for a in proto.args)


def _spilled_key_slot(st, key, m) -> set[int]:
    """The slot of a map key on the stack whose value the helper's check reads:
    check_func_arg calls get_constant_map_key only for a map whose lookups may be known
    non-NULL (``can_elide_null``), and it marks the slot precise only where the key is a
    constant scalar spilled in exactly the key's size (``memcheck.constant_map_key``;
    zero bytes are compared as such whatever the marks); empty for any other key or map.
    ``m``: the map's definition; None when not known (an inner map): any constant
    spilled there."""
    if not key.var.is_const():
        return set()
    addr = key.off + key.var.smin_s
    if not -512 <= addr < 0:
        return set()
    k = (-addr - 1) // 8
    s = st.frames[key.frame].stack.get(k) if key.frame < len(st.frames) else None
    if s is None or s.spill is None or s.spill.type is not T.SCALAR \
            or not s.spill.scalar.is_const():
        return set()  # get_constant_map_key reads only a constant spill, of any map
    if m is not None and (not (can_elide_null(m.type, m.map_flags) or m.origin == "data")
                          or s.kinds[addr + 8 * (k + 1)] != SPILL
                          or constant_map_key(st, key, m.key_size) is None):
        return set()
    return {k}


class Tracker:
    """The uses that make values precise (``uses``) and the backward walk (``mark``)."""

    def __init__(self, prog, ret_checked: bool, maps: dict | None = None):
        self.by_pc, self.ptype = prog.by_pc(), prog.prog_type
        self.maps = maps or {}  # name -> MapDef (a map key's precision depends on its type)
        self.ret_checked = ret_checked
        self.plain: dict[int, bool] = {}
        #: pc -> the registers whose marks ``_back`` may change there, for an instruction
        #: that touches no stack slot, as a bit mask (``_regs_only``); -1: ``_back`` must
        #: look; ``_UNSEEN``: not computed yet (computed on first use)
        self.quiet: list[int] = [_UNSEEN] * (max(self.by_pc, default=0) + 1)
        self.globals = prog.global_funcs  # calls of these return like helpers
        self.added = 0  # walks that added an ordinary mark (a fixed point's test)
        #: the marks given a ``loose`` part (``backedges.drop_loose`` drops them)
        self.loose_made: list[Marks] = []

    def _plain(self, pc: int, insn) -> bool:
        got = self.plain.get(pc)
        if got is None:
            got = self.plain[pc] = plain_helper(insn, self.ptype)
        return got

    # -- where a value starts to matter --------------------------------------------------
    @staticmethod
    def may_use(insn) -> bool:
        """``uses`` can answer something other than None at ``insn`` (whatever the
        state)."""
        cls = _kind(insn)
        if cls is Alu:
            return insn.src is not None and insn.op not in ("mov", "movsx")
        if cls is Call:
            return insn.src != 1
        return cls is CallX or cls is Exit

    def uses(self, st: "State", pc: int, insn) -> tuple[set[int], set[int]] | None:
        """Before ``insn`` runs on ``st``: the registers and (innermost frame's) stack
        slots whose values it depends on, besides a conditional jump's (``decided``);
        None for none."""
        cls = _kind(insn)
        if cls is Alu:
            if insn.src is None or insn.op in ("mov", "movsx"):
                return None
            regs = st.cur.regs
            d, s = regs[insn.dst], regs[insn.src]
            if d.type is T.SCALAR and s.is_pointer:
                return {insn.dst}, set()
            if s.type is T.SCALAR and d.is_pointer:
                return {insn.src}, set()
            return None
        if cls is Call or cls is CallX:
            if cls is Call and insn.src == 1 and insn.target(pc) in self.globals:
                # checked against the prototype: a scalar's value (NULL or not) matters
                args = {r for r in range(1, 6) if st.cur.regs[r].type is T.SCALAR}
                return (args, set()) if args else None
            if cls is Call and insn.src == 1:
                return None  # a subprogram: its uses mark inside it (and cross the call)
            if cls is Call and insn.src == 0:
                return self._helper_uses(st, insn)
            args = {r for r in range(1, 6) if st.cur.regs[r].type is T.SCALAR}
            return (args, set()) if args else None  # kfuncs, indirect calls: every one
        if cls is Exit:
            # the program's return range, or a callback's (a frame with a checked return,
            # ``cb_ret``, where callbacks are modelled); a plain subprogram's r0 matters
            # only where its caller uses it, and that use's walk back crosses the exit
            # (an asynchronous callback's frame is the only one: its range is checked)
            checked = (getattr(st.cur, "cb_ret", None) is not None
                       or len(st.frames) == 1 and self.ret_checked)
            return ({0}, set()) if checked and st.cur.regs[0].type is T.SCALAR else None
        # (LD_IND's offset register is not one: check_ld_abs only checks that it is
        # initialised, the load's bounds are checked when it runs)
        return None

    def _helper_uses(self, st: "State", insn):
        """A helper's checks look at the value of a scalar argument of any kind but
        ``ARG_ANYTHING`` (sizes, a NULL allowed for a maybe-NULL pointer...) and, for a
        map key on the stack, at the spilled constant in the key's slot
        (``constant_map_key``: an array lookup with a constant in-range key is never
        NULL). Without a prototype: every argument register and slot. bpf_loop's
        nr_loops too (ARG_ANYTHING, but the kernel marks it precise: it bounds the
        iterations)."""
        proto = helper_proto(self.ptype, insn.imm)
        f = st.cur
        regs: set[int] = set()
        slots: set[int] = set()
        spec = callback_spec(helper_short_name(insn.imm))
        if spec is not None and spec.bound_reg and f.regs[spec.bound_reg].type is T.SCALAR:
            regs.add(spec.bound_reg)
        for r in (call_args(insn, self.ptype) if proto is None
                  else range(1, 1 + min(len(proto.args), 5))):
            v = f.regs[r]
            base = proto.args[r - 1].base if proto is not None else None
            if v.type is T.SCALAR and base not in (Arg.ANYTHING, Arg.DONTCARE):
                regs.add(r)
            elif v.type is T.STACK and v.frame == f.frameno and base is None:
                lo = max(v.off + max(v.var.smin_s, -512), -512)
                slots |= _slots(lo, -lo)
            elif v.type is T.STACK and v.frame == f.frameno and base is Arg.PTR_TO_MAP_KEY:
                slots |= _spilled_key_slot(st, v, self._map_of(f, proto, r))
        return (regs, slots) if regs or slots else None

    def _map_of(self, f, proto, regno: int):
        """The map definition of the map pointer argument before argument ``regno``."""
        for r in range(regno - 1, 0, -1):
            if proto.args[r - 1].base is Arg.CONST_MAP_PTR:
                v = f.regs[r]
                return self.maps.get(v.map) if v.type is T.MAP_PTR else None
        return None

    @staticmethod
    def stack_access(st: "State", insn) -> tuple | None:
        """A load, store or atomic through a register other than r10 that points into a
        stack: (frame number, slots it may touch, whether it is one whole slot), kept on
        the path's trail for the walk back (the kernel's jump history stack access)."""
        base = insn.src if _kind(insn) is Load else insn.dst
        if base == 10:
            return None
        r = st.cur.regs[base]
        if r.type is not T.STACK:
            return None
        var = r.var
        lo = r.off + insn.off + max(var.smin_s, -512)
        hi = r.off + insn.off + min(var.smax_s, 512) + insn.size
        whole = var.is_const() and lo % 8 == 0  # (a store there: a spill)
        return r.frame, _slots(lo, hi - lo), whole

    @staticmethod
    def decided(st: "State", insn) -> set[int] | None:
        """A conditional jump with one feasible edge: its scalar operands."""
        regs = st.cur.regs
        out = {insn.dst} if regs[insn.dst].type is T.SCALAR else set()
        if insn.src is not None and regs[insn.src].type is T.SCALAR:
            out.add(insn.src)
        return out or None

    # -- carrying the marks back ---------------------------------------------------------
    def mark(self, node: "Node | None", trail, regs, slots, depth: int, outer=None,
             at: int | None = None, loose: bool = False) -> None:
        """``regs``/``slots`` (of frame number ``depth``, the innermost; ``outer``: of
        the callers' frames) matter in the state before the instruction after ``trail``
        (the path's pcs, newest first), at pc ``at`` (None: not known); ``node``: the
        path's newest checkpoint. ``loose``: recorded as ``Marks.loose``."""
        w = _Walk(set(regs), set(slots), depth)
        w.subseq = at
        for f, (r, s) in (outer or {}).items():
            w.outer[f] = (set(r), set(s))
        t: tuple | None = trail
        quiet = self.quiet
        while node is not None:
            while node is not None and node.trail is t:
                m = node.marks
                if m.all:
                    return
                if loose:
                    w.regs -= m.regs
                    w.slots -= m.slots
                    for f, (r, s) in w.outer.items():
                        mo = m.outer.get(f)
                        if mo is not None:
                            r -= mo[0]
                            s -= mo[1]
                    if m.loose is None:
                        m.loose = Marks()
                        self.loose_made.append(m)
                    m = m.loose
                    if m.all:
                        return
                w.regs -= m.regs  # already carried back from this checkpoint on
                w.slots -= m.slots
                for f, (r, s) in w.outer.items():
                    mo = m.outer.get(f)
                    if mo is None:
                        mo = m.outer[f] = (set(), set())
                    r -= mo[0]
                    s -= mo[1]
                    mo[0].update(r)
                    mo[1].update(s)
                if w.empty():
                    return
                if not loose:
                    self.added += 1
                m.regs |= w.regs
                m.slots |= w.slots
                node = node.parent
            if node is None or t is None:
                return
            # the entries up to the next checkpoint's whose instruction changes no mark
            # (none of its registers marked): walked past in one tight loop
            # (``_regs_only`` as bit masks: -1 or a marked register's bit stops it)
            stop, last = node.trail, -1
            marked = 0
            for r in w.regs:
                marked |= 1 << r
            while t is not stop and t is not None:
                pc: int = t[0]
                q = quiet[pc]
                if q == _UNSEEN:
                    q = self._quiet(pc)
                if q < 0 or q & marked:
                    break
                last = pc
                t = t[1]
            if last >= 0:
                w.subseq = last
            if t is stop or t is None:
                continue
            pc = t[0]
            q = quiet[pc]
            if q == _UNSEEN:
                q = self._quiet(pc)
            if q < 0 or q & marked:  # (else nothing changes)
                if not self._back(t, w):
                    if mark_all(node, self.loose_made if loose else None) and not loose:
                        self.added += 1
                    return
                if w.empty():
                    return
            w.subseq = t[0]
            t = t[1]

    def _quiet(self, pc: int) -> int:
        """``quiet[pc]``, computed: ``_regs_only`` of the instruction as a bit mask."""
        regs = _regs_only(self.by_pc[pc])
        got = -1
        if regs is not None:
            got = 0
            for r in regs:
                got |= 1 << r
        self.quiet[pc] = got
        return got

    def _back(self, t, w: "_Walk") -> bool:
        """Through the instruction of trail entry ``t`` backward: the values before it that
        the marked ones after it came from; False when that is not followed (mark
        everything)."""
        pc = t[0]
        insn = self.by_pc[pc]
        cls = _kind(insn)
        regs, slots = w.regs, w.slots
        if cls is Alu:
            if insn.dst in regs:
                if insn.op in ("mov", "movsx"):
                    regs.discard(insn.dst)
                if insn.src is not None:
                    regs.add(insn.src)
            return True
        if cls is Endian or cls is MayGoto:
            return True
        if cls is LoadImm64:
            regs.discard(insn.dst)
            return True
        if cls is Jump:
            if insn.cond != "ja" and insn.src is not None:
                if insn.dst in regs or insn.src in regs:
                    regs.add(insn.dst)
                    regs.add(insn.src)
            return True
        via = t[2] if len(t) > 2 else None  # (frame, slots, whole) through a stack pointer
        if len(t) > 3 and cls is not Atomic:
            # plain stack bytes (not a spill or a fill, ``history.stack_kind``): the value
            # read is unknown or zero, the register stored is not kept; backtrack_insn
            # stops there (no INSN_F_STACK_ACCESS in the history entry)
            if cls is Load:
                regs.discard(insn.dst)
            return True
        if cls is Load:
            if insn.dst in regs:
                regs.discard(insn.dst)
                if insn.src == 10:
                    slots |= _slots(insn.off, insn.size)
                elif via is not None:
                    w.frame_slots(via[0]).update(via[1])
            return True
        if cls is Store:
            if insn.dst == 10:
                # a store at a slot's base replaces the slot's spilled register whatever
                # its size (memcheck's _stack_write: a narrow spill scrubs the other
                # bytes to misc): the slot's older value matters no more (the kernel
                # clears the slot at any spill)
                target, touched, whole = slots, _slots(insn.off, insn.size), insn.off % 8 == 0
            elif via is not None:
                target, touched, whole = w.frame_slots(via[0]), via[1], via[2]
            else:
                return True  # memory that is not a stack
            hit = touched & target
            if hit:
                if insn.src is not None:
                    regs.add(insn.src)
                if whole:
                    target -= hit
            return True
        if cls is Atomic:
            outs = {0} if insn.op == "cmpxchg" else ({insn.src} if insn.fetch else set())
            if insn.dst == 10:
                return not (slots & _slots(insn.off, insn.size) or outs & regs)
            if via is not None:
                return not (w.frame_slots(via[0]) & via[1] or outs & regs)
            regs -= outs  # from memory that is not a stack
            return True
        if cls is Call and insn.src == 1 and insn.target(pc) in self.globals:
            regs.discard(0)  # a global function's call: r0 set, r1-r5 unreadable after it
            return not regs & ARG_REGS
        if cls is Call and insn.src == 1:  # back from a subprogram to its call
            regs &= ARG_REGS  # the callee's arguments are the caller's registers
            w.depth -= 1
            r, s = w.outer.pop(w.depth, (set(), set()))
            regs |= r
            w.slots = s
            return True
        if cls is Exit:  # back into the subprogram that returned here
            w.outer_at(w.depth)[0].update(regs - RET_CLOBBERED)
            w.outer_at(w.depth)[1].update(slots)
            w.depth += 1
            w.regs, w.slots = regs & {0}, set()
            return True
        if cls is Call and self._plain(pc, insn) or cls is LegacyLoad:
            regs.discard(0)
            return not regs & ARG_REGS
        if cls is Call and w.subseq is not None and is_sync_callback_call(insn):
            return self._back_callback_call(pc, w)
        return w.empty()  # kfuncs, async callbacks, indirect calls

    @staticmethod
    def _back_callback_call(pc: int, w: "_Walk") -> bool:
        """Back over a call of a helper that calls a callback (backtrack_insn): from the
        instruction after it, as a plain helper call (its r0 set there, its arguments
        already found); from the callback's first instruction, out of the callback's
        frame into the caller's, the callback's r1-r5 being the helper's doing (its
        other registers and its stack hold nothing yet: a mark there is not followed)."""
        regs = w.regs
        if w.subseq == pc + 1:
            regs.discard(0)
            return not regs & ARG_REGS
        regs -= ARG_REGS
        if regs or w.slots or w.depth == 0:
            return False
        w.depth -= 1
        r, s = w.outer.pop(w.depth, (set(), set()))
        regs |= r
        w.slots = s
        return True


#: an ordered load / store is backtracked as the plain one (backtrack_insn's
#: is_atomic_load_insn, and a store-release is a BPF_STX store)
_PLAIN: dict[type, type] = {LoadAcquire: Load, StoreRelease: Store}


def _kind(insn) -> type:
    cls = insn.__class__
    return _PLAIN.get(cls, cls)


def _regs_only(insn) -> frozenset[int] | None:
    """The registers whose marks ``Tracker._back`` may change at ``insn`` when it reads
    and writes no stack slot and only changes marks if one of them is marked (so an
    instruction with none of them marked leaves the walk as it is); None: any other."""
    cls = _kind(insn)
    if cls is Alu or cls is Load or cls is LoadImm64:
        return frozenset({insn.dst})
    if cls is Endian or cls is MayGoto:
        return frozenset()
    if cls is Jump:
        return frozenset({insn.dst, insn.src}) if insn.cond != "ja" and insn.src is not None \
            else frozenset()
    return None


class _Walk:
    """The marked values during one walk back: the current frame's registers and slots,
    and the outer frames' (``outer``: frame number -> (registers, slots))."""

    __slots__ = ("regs", "slots", "depth", "outer", "subseq")

    def __init__(self, regs: set, slots: set, depth: int):
        self.regs, self.slots, self.depth = regs, slots, depth
        self.outer: dict[int, tuple[set, set]] = {}
        self.subseq: int | None = None  # the pc walked back from (after this entry)

    def outer_at(self, frame: int) -> tuple[set, set]:
        got = self.outer.get(frame)
        if got is None:
            got = self.outer[frame] = (set(), set())
        return got

    def frame_slots(self, frame: int) -> set:
        return self.slots if frame == self.depth else self.outer_at(frame)[1]

    def empty(self) -> bool:
        if self.regs or self.slots:
            return False
        for r, s in self.outer.values():
            if r or s:
                return False
        return True


__all__ = ["Tracker", "plain_helper"]
