"""Verifier state: call frames, each with 11 registers and a 512-byte stack tracked byte by
byte (invalid, misc, zero, dynptr) with whole-register spills and the dynptrs' slots
(model.verifier.dynptr), and the subsumption order used to prune: ``covers(old, new)`` is
true when everything safe from ``old`` is safe from ``new``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

from model.domains import Scalar
from model.semantics.backend import to_signed
from model.verifier.regs import (NOT_INIT, NULLABLE, PACKET, SIZED_MEM, Reg, T, format_reg,
                                 unknown, unlinked, var_of)

STACK_SIZE: Final = 512
INVALID: Final = "?"
MISC: Final = "m"
ZERO: Final = "0"
SPILL: Final = "r"
DYNPTR: Final = "d"
_SPILL8: Final = SPILL * 8
SCALAR: Final = T.SCALAR


class DynSlot(NamedTuple):
    """One of the two slots of a struct bpf_dynptr (STACK_DYNPTR): its type ("local",
    "ringbuf"), whether it is the first (lower) slot, the dynptr's id (its slices carry
    it) and the reference it holds (0: none)."""

    type: str
    first: bool
    id: int
    ref: int = 0


class Slot(NamedTuple):
    """An 8-byte stack slot: the kind of each byte, and the register spilled whole, or the
    dynptr it is part of (kinds all DYNPTR); immutable."""

    kinds: str = INVALID * 8  # kinds[0] is the lowest address byte
    spill: Reg | None = None
    dynptr: DynSlot | None = None


EMPTY: Final = Slot()


def slot(kinds: str, spill: Reg | None = None) -> Slot:
    """``Slot(kinds, spill)`` (no dynptr), built without the named tuple's Python
    ``__new__`` (the other fields' defaults are ``EMPTY``'s)."""
    return tuple.__new__(Slot, (kinds, spill) + _SLOT_TAIL)


_SLOT_TAIL = tuple(EMPTY)[2:]
_UNBOUND = unknown()  # what a read of misc or invalid bytes gives


@dataclass
class Frame:
    regs: list[Reg]
    stack: dict[int, Slot] = field(default_factory=dict)  # slot index k: bytes [-8(k+1), -8k)
    callsite: int = -1  # pc of the call that created the frame
    frameno: int = 0
    #: a callback's frame: its r0 range at exit (model.platform.callbacks) and its entry pc
    cb_ret: tuple[int, int] | None = None
    cb_func: int = -1
    #: callback iterations entered from this frame on this path (the kernel's callback_depth)
    cb_depth: int = 0

    def __init__(self, regs: list[Reg], stack: dict[int, Slot] | None = None,
                 callsite: int = -1, frameno: int = 0, cb_ret: tuple[int, int] | None = None,
                 cb_func: int = -1, cb_depth: int = 0) -> None:
        # (written out: the dataclass's own __init__ stays interpreted code when compiled)
        self.regs, self.stack = regs, {} if stack is None else stack
        self.callsite, self.frameno = callsite, frameno
        self.cb_ret, self.cb_func, self.cb_depth = cb_ret, cb_func, cb_depth

    def copy(self) -> "Frame":
        return Frame(list(self.regs), dict(self.stack), self.callsite, self.frameno,
                     self.cb_ret, self.cb_func, self.cb_depth)

    @property
    def depth_key(self) -> int | tuple[str, int]:
        """The key of this frame's function in ``State.depths``: its call site, or
        ("cb", entry pc) for a callback (one call site may call several callbacks)."""
        return ("cb", self.cb_func) if self.cb_ret is not None else self.callsite


@dataclass
class State:
    frames: list[Frame]
    pc: int = 0
    # callsite (-1: the entry) -> deepest stack byte used by that frame's function, on any
    # path: one dict shared by every state of a run (the kernel's subprog stack_depth)
    depths: dict = field(default_factory=dict)
    #: acquired references not yet released, oldest first: (id, pc of the acquiring call)
    #: (the kernel's per-state ``refs``; a bpf-to-bpf call passes them on)
    refs: tuple[tuple[int, int], ...] = ()
    #: the bpf_spin_lock held: (map name, id of the map value pointer that took it)
    lock: tuple[str, int] | None = None
    #: just back at a callback's call site from the callback (widen before pruning)
    from_callback: bool = False
    #: how many may_goto fall-throughs (loop budget not yet exhausted) led here
    may_goto_depth: int = 0
    #: inside bpf_rcu_read_lock() .. bpf_rcu_read_unlock() (the kernel's active_rcu_lock)
    rcu: bool = False

    def __init__(self, frames: list[Frame], pc: int = 0, depths: dict | None = None,
                 refs: tuple[tuple[int, int], ...] = (), lock: tuple[str, int] | None = None,
                 from_callback: bool = False, may_goto_depth: int = 0,
                 rcu: bool = False) -> None:
        # (written out: the dataclass's own __init__ stays interpreted code when compiled)
        self.frames, self.pc, self.depths = frames, pc, {} if depths is None else depths
        self.refs, self.lock, self.from_callback = refs, lock, from_callback
        self.may_goto_depth, self.rcu = may_goto_depth, rcu

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        return State([f.copy() for f in self.frames], self.pc, self.depths, self.refs,
                     self.lock, may_goto_depth=self.may_goto_depth, rcu=self.rcu)

    def note_depth(self, frame: Frame, lo: int) -> None:
        if -lo > self.depths.get(frame.depth_key, 0):
            self.depths[frame.depth_key] = -lo

    def all_regs(self) -> list[tuple[Frame, tuple[str, int], Reg]]:
        """Every register and spilled register of every frame (for id-based updates), as
        a list (a generator's steps cost more than the list)."""
        out = []
        for f in self.frames:
            for i, r in enumerate(f.regs):
                out.append((f, ("reg", i), r))
            for k, s in f.stack.items():
                if s.spill is not None:
                    out.append((f, ("spill", k), s.spill))
        return out

    def update(self, frame: Frame, where, reg: Reg) -> None:
        kind, i = where
        if kind == "reg":
            frame.regs[i] = reg
        else:
            s = frame.stack[i]
            frame.stack[i] = slot(s.kinds, reg)

    def fingerprint(self):
        """A hashable summary for exact-equality checks (loop detection)."""
        return tuple((tuple(f.regs), tuple(sorted(f.stack.items())), f.callsite, f.cb_func,
                      f.cb_depth) for f in self.frames) + (self.refs, self.lock,
                                                           self.may_goto_depth, self.rcu)

    def regs_key(self) -> tuple:
        """A part of the ``fingerprint`` (equal fingerprints have equal ones) that is quicker
        to build and hash: the registers and the number of stack slots of each frame."""
        return tuple((tuple(f.regs), len(f.stack)) for f in self.frames)


def entry_state(ctx_reg: Reg) -> State:
    regs = [NOT_INIT] * 11
    regs[1] = ctx_reg
    regs[10] = Reg(T.STACK, None, off=0, frame=0)
    return State([Frame(regs)])


# -- subsumption ---------------------------------------------------------------------------
def covers(old: State, new: State, care: list[frozenset[int]] | None = None,
           live: list[frozenset[int]] | None = None,
           slots: frozenset[int] | None = None, prec=None, failed: list | None = None,
           same_kinds: bool = False, untouched: frozenset[int] | None = None) -> bool:
    """``care[k]``: the registers of frame k whose scalar *values* matter from here on
    (``model.verifier.sensitivity``); other scalars are compared by type only.
    ``live[k]``: the registers of frame k that may still be read
    (``model.verifier.liveness``); the others are not compared at all. ``slots``: the
    innermost frame's stack slots that may still be read (``liveness.live_slots``).
    ``prec``: (registers, slots) of the innermost frame whose scalar values were found to
    matter in ``old``'s explored subtree (``model.verifier.marks.compared``); the
    other scalars there are compared by type only. None: all of them. ``failed``: a
    list; when a register or stack slot of the innermost frame fails, the list is
    set to its place, [("r", i)] or [("s", k)] (``fails_alone`` tests it first next
    time). ``same_kinds``: stacksafe's RANGE_WITHIN comparison (against a state still
    being explored: at a callback's call site, a may_goto): every byte of a slot the old
    frame allocated of the same kind in the new one (``_kinds_differ``). ``untouched``:
    the innermost frame's slots that may be read before an ``r10`` store writes any byte
    of them (``SlotLiveness.untouched``, a subset of ``slots``): any other slot whose old
    bytes are all invalid or misc is covered by whatever the new slot holds
    (``_unread_plain``)."""
    if (len(old.frames) != len(new.frames) or len(old.refs) != len(new.refs)
            or old.rcu != new.rcu):
        return False
    ids: dict[int, int] = {}
    # refsafe: the same references held, their ids mapped as the registers' are
    if old.refs and not all(_same_id(a, b, ids)
                            for (a, _), (b, _) in zip(old.refs, new.refs)):
        return False
    lo, ln = old.lock, new.lock
    if (lo is None) != (ln is None) or (
            lo is not None and ln is not None and (lo[0] != ln[0]
                                                   or not _same_id(lo[1], ln[1], ids))):
        return False
    last = len(old.frames) - 1
    for k_frame, (fo, fn) in enumerate(zip(old.frames, new.frames)):
        if fo.callsite != fn.callsite or fo.cb_func != fn.cb_func:
            return False
        if fo.cb_depth > fn.cb_depth:  # fewer iterations done: at least as many to come
            return False
        matters = care[k_frame] if care is not None else None
        alive = live[k_frame] if live is not None else None
        if prec is None:
            exact_regs = exact_slots = None
        elif k_frame == last:
            exact_regs, exact_slots = prec[0], prec[1]
        else:  # a caller's registers compared whole, its slots by their marks
            exact_regs, exact_slots = None, prec[2][k_frame]
        regs_o, regs_n = fo.regs, fn.regs
        # the registers not live are never read again before written: cannot matter
        for i in alive if alive is not None else range(len(regs_o)):
            ro, rn = regs_o[i], regs_n[i]
            if _reg_left_out(ro, rn, i, matters, exact_regs):
                continue
            if not reg_covers(ro, rn, ids):
                if failed is not None and k_frame == last:
                    failed[:] = [("r", i)]
                return False
        alive_slots = slots if k_frame == last else None
        fresh = untouched if k_frame == last else None
        so_, sn_ = fo.stack, fn.stack
        if same_kinds:
            k = _kinds_differ(so_, sn_)
            if k is not None:
                return False
        # every slot of either stack (the old one's, then the new one's other slots: no
        # set of keys built; the ids' mapping does not depend on the order)
        k = _stack_fails(so_, sn_, alive_slots, exact_slots, ids, fresh)
        if k is not None:
            if failed is not None and k_frame == last:
                failed[:] = [("s", k)]
            return False
    return True


def _kinds_differ(so_: dict[int, Slot], sn_: dict[int, Slot]) -> int | None:
    """A slot the old frame allocated whose bytes are not all of the same kinds in the new
    frame, or None. The old frame allocated its slots and every slot above its deepest
    one (a lower bound of its allocated_stack: reads of uninitialised bytes grow it too,
    and a slot only such a read allocated is not compared: only a lost difference)."""
    for k, old_slot in so_.items():
        if old_slot.kinds != sn_.get(k, EMPTY).kinds:
            return k
    deepest = max(so_) if so_ else -1
    for k, new_slot in sn_.items():
        if k < deepest and k not in so_ and new_slot.kinds != EMPTY.kinds:
            return k
    return None


def _stack_fails(so_: dict[int, Slot], sn_: dict[int, Slot], alive_slots, exact_slots,
                 ids: dict[int, int], untouched: frozenset[int] | None = None) -> int | None:
    """The first stack slot ``covers`` finds not covered, or None."""
    for k, old_slot in so_.items():
        new_slot = sn_.get(k, EMPTY)
        if _slot_fails(k, old_slot, new_slot, alive_slots, exact_slots, ids,
                       new_slot.spill is not None or MISC in new_slot.kinds
                       or any(j > k for j in sn_), untouched):
            return k
    for k, new_slot in sn_.items():
        if k not in so_ and _slot_fails(k, EMPTY, new_slot, alive_slots, exact_slots, ids,
                                        True, untouched):
            return k
    return None


def _slot_fails(k: int, old_slot: Slot, new_slot: Slot, alive_slots, exact_slots,
                ids: dict[int, int], allocated: bool = True,
                untouched: frozenset[int] | None = None) -> bool:
    if _slot_left_out(old_slot, new_slot, k, alive_slots):
        return False
    if untouched is not None and k not in untouched and _unread_plain(old_slot, new_slot):
        return False
    return not slot_covers(old_slot, new_slot, ids, exact_slots is None or k in exact_slots,
                           allocated)


def _unread_plain(so: Slot, sn: Slot) -> bool:
    """An old slot of plain bytes (all invalid or misc: no spill, zero or dynptr) against
    a new slot not part of a dynptr, in a slot no instruction reads before an ``r10``
    store writes some byte of it: until then nothing reads it (no fill, helper, kfunc,
    callee or atomic), and after that write the new slot holds no spilled pointer (a
    partial write leaves plain bytes, scrub_spilled_slot) and each byte the write left
    is invalid or misc in the old slot: covered as ``slot_covers`` covers plain bytes.
    The case it adds: a spilled pointer where the old slot had plain bytes (which
    ``slot_covers`` refuses: a fill would give a pointer where the old path saw a
    scalar)."""
    return (so.dynptr is None and sn.dynptr is None and so.spill is None
            and MISC_OR_INVALID.issuperset(so.kinds))


def _reg_left_out(ro: Reg, rn: Reg, i: int, matters, exact_regs) -> bool:
    """``covers`` does not compare register ``i``: one (frozen) register linked to
    nothing (it covers itself), or two scalars whose values cannot affect any assertion
    or path from here."""
    if ro is rn and not ro.id and not ro.ref:
        return True
    return (ro.type is SCALAR and rn.type is SCALAR
            and ((matters is not None and i not in matters)
                 or (exact_regs is not None and i not in exact_regs)))


def _slot_left_out(so: Slot, sn: Slot, k: int, alive_slots) -> bool:
    """``covers`` does not compare stack slot ``k``: dead (a dynptr's slots are compared
    even when dead: a write destroys both), or one (frozen) slot linked to nothing."""
    if (alive_slots is not None and k not in alive_slots
            and so.dynptr is None and sn.dynptr is None):
        return True
    return so is sn and (so.spill is None or (not so.spill.id and not so.spill.ref))


def fails_alone(old: State, new: State, at: tuple, care=None, live=None, slots=None,
                prec=None, untouched: frozenset[int] | None = None) -> bool:
    """True when ``covers(old, new, care, live, slots, prec)`` is surely False because
    the innermost frame's register (``at`` = ("r", i)) or stack slot (("s", k)) alone
    fails, as ``covers`` compares it but with no ids mapped yet (more ids mapped can only
    fail more): a quick test, first, of where ``covers`` last failed against ``old``."""
    frames_o, frames_n = old.frames, new.frames
    last = len(frames_o) - 1
    if last != len(frames_n) - 1:
        return True
    fo, fn = frames_o[last], frames_n[last]
    kind, i = at
    if kind == "r":
        if live is not None and i not in live[last]:
            return False
        ro, rn = fo.regs[i], fn.regs[i]
        return (not _reg_left_out(ro, rn, i, care[last] if care is not None else None,
                                  prec[0] if prec is not None else None)
                and not reg_covers(ro, rn, {}))
    so, sn = fo.stack.get(i, EMPTY), fn.stack.get(i, EMPTY)
    return (not _slot_left_out(so, sn, i, slots)
            and not (untouched is not None and i not in untouched and _unread_plain(so, sn))
            and not slot_covers(so, sn, {}, prec is None or i in prec[1]))


def fails_alone_memo(memo: list, old: State, new: State, at: tuple, care=None, live=None,
                     slots=None, prec=None, untouched: frozenset[int] | None = None) -> bool:
    """``fails_alone``, remembered in ``memo`` (one list per stored state ``old``: its last
    call's inputs and answer): the same register or slot object at ``at`` in ``new`` with
    the same other inputs (the same objects; registers, slots and these sets are never
    changed in place) gives the same answer without comparing again (the states reaching
    a prune point often share the value that failed)."""
    frames = new.frames
    fn = frames[-1]
    i = at[1]
    v = fn.regs[i] if at[0] == "r" else fn.stack.get(i)
    if (memo and memo[1] is v and memo[0] == at and memo[2] == len(frames)
            and memo[3] is care and memo[4] is live and memo[5] is slots
            and memo[6] is prec and memo[8] is untouched):
        return memo[7]
    got = fails_alone(old, new, at, care, live, slots, prec, untouched)
    memo[:] = [at, v, len(frames), care, live, slots, prec, got, untouched]
    return got


def _same_id(a: int, b: int, ids: dict[int, int]) -> bool:
    if a == 0 or b == 0:
        return a == b
    if a in ids:
        return ids[a] == b
    if b in ids.values():
        return False
    ids[a] = b
    return True


def _scalar_id(a: int, b: int, ids: dict[int, int]) -> bool:
    """check_scalar_ids: an old scalar without id links nothing; a new one without id is
    linked to nothing (a fresh id, so two old registers of one id cannot both map to
    new unlinked ones)."""
    if a == 0:
        return True
    if b == 0:
        if a in ids:
            return False
        ids[a] = -1  # an id no register has (ids count up from 1)
        return True
    return _same_id(a, b, ids)


def without_singular_ids(st: State) -> State:
    """clear_singular_ids: a scalar's id that no other register or spill (of any type)
    holds links nothing; dropped (with its ``rX += imm`` delta) from a state before it is
    stored."""
    count: dict[int, int] = {}  # id -> registers and spills holding it (one pass)
    for f in st.frames:
        for reg in f.regs:
            if reg.id:
                count[reg.id] = count.get(reg.id, 0) + 1
        for s in f.stack.values():
            sp = s.spill
            if sp is not None and sp.id:
                count[sp.id] = count.get(sp.id, 0) + 1
    if not count:
        return st
    single = {i for i, n in count.items() if n == 1}
    if single:
        for f in st.frames:
            regs = f.regs
            for i, r in enumerate(regs):
                if r.id in single and r.type is SCALAR:
                    regs[i] = unlinked(r)
            for k, s in list(f.stack.items()):
                sp = s.spill
                if sp is not None and sp.id in single and sp.type is SCALAR:
                    f.stack[k] = slot(s.kinds, unlinked(sp))
    return st


def reg_covers(old: Reg, new: Reg, ids: dict[int, int]) -> bool:
    if old.type is T.NOT_INIT:
        return True  # the old continuation never read it before writing it
    if old.type is not new.type:
        return False
    if (old.ref or new.ref) and not _same_id(old.ref, new.ref, ids):
        return False
    if old.type is T.SCALAR:
        # regsafe: an old scalar linked to others (an id) needs the same link kind in the
        # new one (BPF_ADD_CONST flags and deltas agree); one linked to nothing only its
        # range (the new state's links only add constraints; Linux 6.18 stable)
        if old.id and old.delta != new.delta:
            return False
        return scalar_covers(old.scalar, new.scalar) and _scalar_id(old.id, new.id, ids)
    if (old.off, old.map, old.frame, old.read_only) != (new.off, new.map, new.frame,
                                                         new.read_only):
        return False
    if not scalar_covers(var_of(old), var_of(new)):
        return False
    if old.type in PACKET:
        return new.range >= old.range and _same_id(old.id, new.id, ids)
    if old.type is T.MAP_VALUE:  # the id of a pointer into a value with a spin lock
        return _same_id(old.id, new.id, ids)
    if old.type in SIZED_MEM or old.type in (T.MEM_OR_NULL, T.RINGBUF_MEM_OR_NULL):
        return (old.range == new.range and _same_id(old.id, new.id, ids)
                and _same_id(old.dynptr, new.dynptr, ids))
    if old.type is T.CONST_DYNPTR:
        return old.tag == new.tag
    if old.type in NULLABLE:
        return _same_id(old.id, new.id, ids)
    if old.type in (T.BTF_ID, T.BTF_ID_OR_NULL):
        return ((old.btf_id, old.trust, old.tag) == (new.btf_id, new.trust, new.tag)
                and (old.type is T.BTF_ID or _same_id(old.id, new.id, ids)))
    return True


def scalar_covers(a: Scalar | None, b: Scalar | None) -> bool:
    """Every value of ``b`` is a value of ``a`` (bounds and tnum). The same conjunction,
    cheapest tests first: equal values (compared in C), the unsigned bounds (plain
    fields), then the signed ones (``Scalar.smin_s`` ... read as ``to_signed`` of the
    fields: typed, no property calls when compiled) and the tnum."""
    if a == b:
        return True
    if a is None or b is None:  # (a scalar register always has its value)
        return False
    wa, wb = a.w, b.w
    return (a.umin <= b.umin and b.umax <= a.umax and a.u32_min <= b.u32_min
            and b.u32_max <= a.u32_max
            and to_signed(a.smin, wa) <= to_signed(b.smin, wb)
            and to_signed(b.smax, wb) <= to_signed(a.smax, wa)
            and to_signed(a.s32_min, wa // 2) <= to_signed(b.s32_min, wb // 2)
            and to_signed(b.s32_max, wb // 2) <= to_signed(a.s32_max, wa // 2)
            and a.var_off.includes(b.var_off))


def slot_covers(old: Slot, new: Slot, ids, exact: bool = True, allocated: bool = True) -> bool:
    """stacksafe for one slot, as Linux 6.18 compares it for a privileged program (an old
    byte invalid or misc matches anything: reading either gives an unknown scalar).
    ``exact``: a spilled scalar's value matters (regsafe of a precise register; else
    only that a scalar comes back).

    - an old 8-byte scalar spill against a new 8-byte scalar spill, or against bytes all
      invalid or misc (an unbound scalar) within the new state's allocated stack, is one
      register comparison (``allocated``: the new frame wrote this slot or a deeper one,
      a lower bound of the kernel's allocated_stack, which reads of uninitialised bytes
      also grow; past it stacksafe fails);
    - otherwise byte by byte: every old spilled or zero byte must be the same kind in the
      new slot, and a spill (its lowest byte spilled) compares the spilled registers.

    Stricter than stacksafe in one case: a pointer spilled where the old slot had plain
    bytes (read back, the old path saw a scalar) never matches here; ``covers`` lets it
    match where no instruction reads the slot before writing some byte of it
    (``_unread_plain``)."""
    if old.dynptr is not None or new.dynptr is not None:
        return dynptr_covers(old.dynptr, new.dynptr, ids)
    so, sn = old.spill, new.spill
    ko, kn = old.kinds, new.kinds
    if so is None or ko[0] != SPILL:
        if ZERO in ko or SPILL in ko:  # (the old kinds a new byte can fail)
            for o, n in zip(ko, kn):
                if (o == ZERO or o == SPILL) and n != o:
                    return False
        return sn is None or kn[0] != SPILL or sn.type is T.SCALAR
    if ko == _SPILL8 and so.type is T.SCALAR:
        if kn == _SPILL8 and sn is not None and sn.type is T.SCALAR:
            return not exact or reg_covers(so, sn, ids)
        if allocated and MISC_OR_INVALID.issuperset(kn):
            return not exact or reg_covers(so, _UNBOUND, ids)
    for o, n in zip(ko, kn):
        if (o == SPILL or o == ZERO) and n != o:
            return False
    if sn is None:  # (the new slot's lowest byte is spilled too: sn is its register)
        return False
    if not exact and so.type is T.SCALAR and sn.type is T.SCALAR:
        return True  # regsafe of an imprecise scalar
    return reg_covers(so, sn, ids)


MISC_OR_INVALID: Final = frozenset((MISC, INVALID))


def dynptr_covers(old: DynSlot | None, new: DynSlot | None, ids) -> bool:
    """stacksafe for STACK_DYNPTR, stricter than the kernel's: a dynptr slot only covers
    and is only covered by a dynptr slot of the same type and position, holding the same
    (mapped) reference and id."""
    if old is None or new is None:
        return False
    return ((old.type, old.first) == (new.type, new.first) and _same_id(old.ref, new.ref, ids)
            and _same_id(old.id, new.id, ids))


def widen_slots(old: State, new: State, keep) -> None:
    """widen_imprecise_scalars, back at a callback's call site: every spilled scalar of
    ``new`` that differs from the one in ``old`` (an earlier iteration's state there; the
    ids aside, as scalars_exact_for_widen) becomes unknown, unless ``keep(frame index,
    slot)`` (a slot marked precise). Registers are left alone: a callback cannot change
    its callers' registers."""

    for k, (fo, fn) in enumerate(zip(old.frames, new.frames)):
        for i, sn in fn.stack.items():
            so = fo.stack.get(i)
            if (so is not None and so.spill is not None and sn.spill is not None
                    and so.spill.type is T.SCALAR and sn.spill.type is T.SCALAR
                    and so.spill._replace(id=0) != sn.spill._replace(id=0)
                    and not keep(k, i)):
                fn.stack[i] = Slot(sn.kinds, unknown())


def widen_regs(old: State, new: State, keep) -> None:
    """widen_imprecise_scalars' registers, at a may_goto's fall-through: every scalar
    register of ``new`` that differs from the one in ``old`` (the previous state at that
    may_goto on the path; the ids aside) becomes unknown, unless ``keep(frame index,
    register)`` (marked precise in ``old``)."""
    for k, (fo, fn) in enumerate(zip(old.frames, new.frames)):
        regs_o, regs_n = fo.regs, fn.regs
        for i in range(10):
            ro, rn = regs_o[i], regs_n[i]
            if (ro.type is T.SCALAR and rn.type is T.SCALAR
                    and ro._replace(id=0) != rn._replace(id=0) and not keep(k, i)):
                regs_n[i] = unknown()


def format_state(st: State) -> str:
    """The kernel log's register line: ``R0=... R1=ctx() R10=fp0 fp-8=mmmmmmmm``."""
    f = st.cur
    parts = [f"R{i}={format_reg(r)}" for i, r in enumerate(f.regs) if r.type is not T.NOT_INIT]
    for k in sorted(f.stack):
        s = f.stack[k]
        text = format_reg(s.spill) if s.spill is not None else s.kinds[::-1]
        if s.dynptr is not None:
            text = f"dynptr_{s.dynptr.type}(id={s.dynptr.id},ref_id={s.dynptr.ref})"
        if s.spill is not None or s.kinds != INVALID * 8:
            parts.append(f"fp-{8 * (k + 1)}={text}")
    return " ".join(parts)
