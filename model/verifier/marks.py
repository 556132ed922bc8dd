"""The precision marks of a stored state (``Marks``) and what pruning makes of them: the
values compared when a state is matched against it (``compared``), the marks a pruned
state takes over (``carry_marks``, the kernel's propagate_precision) and every value
counting (``mark_all``, ``every_value``; the kernel's mark_all_scalars_precise). The marks
themselves are found by backtracking (``model.verifier.backtrack``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.verifier.regs import T

if TYPE_CHECKING:  # (typed for the compiled build: native attribute reads)
    from model.verifier.backtrack import Tracker
    from model.verifier.explore import Node
    from model.verifier.state import State


class Marks:
    """The precise registers and stack slots of a stored state's innermost frame, and of
    its callers' frames (``outer``: frame number -> (registers, slots); callers' frames
    are compared whole, but a state pruned by this one hands them on to its own
    checkpoints before the call); ``all``: every value of every frame counts.
    ``loose``: the marks skv adds where the kernel would not (every value of a state
    pruned at a loop head by a state still being explored, where the kernel carries the
    old state's precision over later, by its loop back-edges): pruning counts them, the
    widening at a callback's call site does not (the kernel's precise flags)."""

    __slots__ = ("regs", "slots", "outer", "all", "cached", "loose")

    def __init__(self) -> None:
        self.regs: set[int] = set()
        self.slots: set[int] = set()
        self.outer: dict[int, tuple[set, set]] = {}
        self.all = False
        #: ``compared``'s last answer: ((len(regs), len(slots)), state, answer); the sets
        #: only grow, so their sizes say whether they changed since
        self.cached: tuple | None = None
        self.loose: Marks | None = None


def mark_all(node, loose: list | None = None) -> bool:
    """Every value of ``node`` and of the stored states before it counts (``loose``: as
    ``Marks.loose``, each marks given a loose part added to that list). True: a mark
    changed."""
    changed = False
    while node is not None and not node.marks.all:
        m = node.marks
        if loose is not None:
            if m.loose is None:
                m.loose = Marks()
                loose.append(m)
            m = m.loose
            if m.all:
                return changed
        m.all = True
        changed = True
        node = node.parent
    return changed


def every_value(st, live, alive) -> tuple[set, set, dict]:
    """A state pruned by one whose values were all compared (``Marks.all``): the values
    that matter in it are its scalars that may still be read (``live`` registers per frame,
    the innermost frame's ``alive`` slots; a caller's spilled scalars all), as the kernel's
    propagate_precision marks in the current state the scalars precise in the old one and
    walks them back; not every value of every state before it."""
    last = len(st.frames) - 1
    sets = []
    for k, f in enumerate(st.frames):
        regs = {i for i in live[k] if i < 10 and f.regs[i].type is T.SCALAR}
        slots = {i for i, s in f.stack.items() if s.spill is not None
                 and s.spill.type is T.SCALAR and (k < last or alive is None or i in alive)}
        sets.append((regs, slots))
    return sets[-1][0], sets[-1][1], {k: rs for k, rs in enumerate(sets[:-1])}


def compared(old: "State", marks: Marks | None):
    """The registers and slots of ``old`` whose values are compared: (registers, slots)
    of the innermost frame and, per caller frame, its slots: the marked ones (and the
    loose ones) and those sharing an id with a compared scalar (callers' registers are
    compared whole). None: all of them."""
    if marks is None or marks.all:
        return None
    lm = marks.loose
    if lm is not None and lm.all:
        return None
    key = (len(marks.regs), len(marks.slots), _outer_size(marks)) if lm is None else \
        (len(marks.regs), len(marks.slots), _outer_size(marks), len(lm.regs), len(lm.slots),
         _outer_size(lm))
    got = marks.cached
    if got is not None and got[0] == key and got[1] is old:
        return got[2]
    if lm is None:
        got = _compared(old, marks.regs, marks.slots, marks.outer)
    else:
        outer = {k: (set(r), set(s)) for k, (r, s) in marks.outer.items()}
        for k, (r, s) in lm.outer.items():
            o = outer.setdefault(k, (set(), set()))
            o[0].update(r)
            o[1].update(s)
        got = _compared(old, marks.regs | lm.regs, marks.slots | lm.slots, outer)
    marks.cached = (key, old, got)
    return got


def carry_marks(tracker: Tracker, old: "Node", st: "State", node: "Node | None", trail,
                live, alive, at: int, loose: bool = True) -> None:
    """``st`` pruned by the stored node ``old``: the values marked in ``old`` matter in
    ``st`` (propagate_precision; a dead register's mark is not carried: the kernel's
    stored states have their dead registers cleared), walked back from ``node`` /
    ``trail`` with ``tracker.mark``; ``old``'s loose marks stay loose (``loose`` False:
    they are not carried)."""
    depth = len(st.frames) - 1
    m = old.marks
    for marks, as_loose in ((m, False), (m.loose if loose else None, True)):
        if marks is None:
            continue
        if marks.all:  # every value compared: every one matters
            regs, slots, outer = every_value(st, live, alive)
            tracker.mark(node, trail, regs, slots, depth, outer, at, as_loose)
            continue
        prec = compared(old.state, m) if m.loose is None else \
            _compared(old.state, marks.regs, marks.slots, marks.outer)
        if prec is not None and (prec[0] or prec[1] or marks.outer):
            tracker.mark(node, trail, prec[0] & live[-1], prec[1], depth, marks.outer, at,
                         as_loose)


def _outer_size(marks: Marks) -> int:
    n = 0
    for r, s in marks.outer.values():
        n += len(r) + len(s)
    return n


def _compared(old: "State", marked_regs, marked_slots, marked_outer: dict):
    """``compared``'s answer for these marks (``marked_outer``: caller frame number ->
    (registers, slots))."""
    regs, slots = set(marked_regs), set(marked_slots)
    frames = old.frames
    cur = frames[-1]
    outer = [set(marked_outer[k][1]) if k in marked_outer else set()
             for k in range(len(frames) - 1)]
    # a caller's registers are compared whole: their ids all count
    ids = {r.id for f in frames[:-1] for r in f.regs if r.type is T.SCALAR and r.id}
    for k, ks in enumerate(outer + [slots]):
        stack = frames[k].stack
        for i in ks:
            s = stack.get(i)
            if s is not None and s.spill is not None and s.spill.type is T.SCALAR \
                    and s.spill.id:
                ids.add(s.spill.id)
    ids |= {cur.regs[i].id for i in regs if cur.regs[i].type is T.SCALAR and cur.regs[i].id}
    if ids:
        regs |= {i for i, r in enumerate(cur.regs) if r.type is T.SCALAR and r.id in ids}
        for k, ks in enumerate(outer + [slots]):
            ks |= {i for i, s in frames[k].stack.items() if s.spill is not None
                   and s.spill.type is T.SCALAR and s.spill.id in ids}
    return frozenset(regs), frozenset(slots), tuple(frozenset(s) for s in outer)


__all__ = ["Marks", "mark_all", "compared", "carry_marks", "every_value"]
