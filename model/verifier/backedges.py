"""Loop back-edges and the expiry of loose marks (the kernel's SCC visits, Linux 6.17+).

A state pruned at a loop head by a state still being explored (a callback's call site, a
may_goto), or pruned anywhere by a state whose marks are not final yet, takes over that
state's precision *now*, but the old state may gain marks later (its own subtree is not
done). The kernel records such a prune as a back-edge of the SCC visit of the old state's
call chain (``add_scc_backedge``) and, once that visit's entry state (its first checkpoint
with that call chain) has no branch left to explore, carries the old states' final marks
over every back-edge again until nothing changes (``propagate_backedges``); until then it
compares states of that call chain by their whole ranges (``incomplete_read_marks``).

skv marks every value of such a pruned state as a *loose* mark (``marks.Marks.loose``)
meanwhile: pruning counts them, the widening at a callback's call site does not. Here the
back-edges are kept and, when no visit that received one is still open (every entry state
explored in full), they are carried over with the ordinary marks to a fixed point and every
loose mark is dropped: from then on the states compare by their ordinary (final) marks, as
the kernel's do after propagate_backedges. A fixed point not reached in
``MAX_BACKEDGE_ITERS`` rounds keeps the loose marks (every value counts: only a lost
pruning).

Why that holds: a state explored in full gains marks only from back-edges already recorded
(any later walk starts below a state still being explored and goes through its ancestors
only), and the loose walk of a back-edge marked every value of the pruned state, a superset
of what carrying the old state's marks can mark on the same nodes: a stored state without
loose marks gains nothing from the pending back-edges, and one with them is compared by them
until they are carried over. At a callback's call site, an old state explored in full whose
marks are final (``Visits.final``) is compared by its marks, as at any other instruction
(the kernel's states_equal NOT_EXACT for a state without branches); any other exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from model.cfg.graph import build_cfg
from model.verifier.backtrack import Tracker
from model.verifier.marks import Marks, carry_marks

if TYPE_CHECKING:
    from model.program import Program
    from model.verifier.explore import Node
    from model.verifier.state import State

MAX_BACKEDGE_ITERS = 64  # the kernel's bound on propagate_backedges' rounds


def scc_of(prog: "Program", cb_sites: set[int]) -> dict[int, int]:
    """pc -> the number (from 1) of its strongly connected component of the program's
    intraprocedural control flow (compute_scc): the loops' instructions, and each callback
    call site as a loop of its own (the callback returns to it), unless in a loop."""
    cfg = build_cfg(prog)
    out: dict[int, int] = {}
    n = 0
    for comp in cfg.loops():
        n += 1
        for start in comp:
            b = cfg.block(start)
            for pc in range(b.start, b.last + 1):
                out[pc] = n
    for pc in sorted(cb_sites):
        if pc not in out:
            n += 1
            out[pc] = n
    return out


class Visits:
    """The SCC visits of one run: call chain -> its entry node while the visit is open;
    the back-edges recorded since the last expiry; the visits that received one."""

    def __init__(self, prog: "Program", cb_sites: set[int], tracker: Tracker) -> None:
        self.scc = scc_of(prog, cb_sites)
        self.tracker = tracker
        self.entry: dict[tuple, "Node"] = {}
        #: (old node, pruned state, its path's node and trail, live, alive, pc)
        self.backedges: list[tuple] = []
        self.hot: dict[tuple, "Node"] = {}  # call chain -> its entry, with back-edges
        self.expired = 0  # expiries done (for tests)

    def chain(self, st: "State") -> tuple | None:
        """compute_scc_callchain: the call sites of the frames outside any SCC, then the
        SCC of the outermost frame inside one (a caller frame is at its call); None: no
        frame is in an SCC."""
        frames = st.frames
        last = len(frames) - 1
        sites: list[int] = []
        for i in range(last + 1):
            pc = st.pc if i == last else frames[i + 1].callsite
            c = self.scc.get(pc)
            if c is not None:
                return tuple(sites), c
            sites.append(pc)
        return None

    def stored(self, node: "Node") -> None:
        """A checkpoint stored (maybe_enter_scc): the first of its call chain while no
        visit of that chain is open becomes the visit's entry."""
        c = self.chain(node.state)
        if c is not None and c not in self.entry:
            self.entry[c] = node

    def backedge(self, old: "Node", st: "State", node, trail, live, alive, at: int) -> None:
        """``st`` (its path: ``node``, ``trail``) pruned by ``old`` with loose marks made
        or carried: a back-edge of the visit of ``old``'s call chain."""
        self.backedges.append((old, st, node, trail, live, alive, at))
        c = self.chain(old.state)
        if c is None:
            if old.complete:  # (its marks final but for back-edges already recorded)
                return
            c = ((), -old.seq)  # (not in a loop: its own visit, until it is explored)
            self.entry.setdefault(c, old)
        entry = self.entry.get(c)
        self.hot[c] = entry if entry is not None else old

    def final(self, node: "Node") -> bool:
        """``node`` explored in full and its marks final: no loose marks, no open visit
        of its call chain with back-edges (not incomplete_read_marks)."""
        return node.complete and node.marks.loose is None \
            and (not self.hot or self.chain(node.state) not in self.hot)

    def settle(self) -> None:
        """Close the visits whose entry was explored in full (maybe_exit_scc); when none
        that received a back-edge is left open, carry the back-edges over
        (propagate_backedges) and drop every loose mark."""
        for c in [c for c, n in self.entry.items() if n.complete]:
            del self.entry[c]
        if not self.backedges or any(not n.complete for n in self.hot.values()) \
                or any(not b[0].complete for b in self.backedges):
            return
        self.hot.clear()
        tracker = self.tracker
        for _ in range(MAX_BACKEDGE_ITERS):
            before = tracker.added
            for old, st, node, trail, live, alive, at in self.backedges:
                carry_marks(tracker, old, st, node, trail, live, alive, at, loose=False)
            if tracker.added == before:
                break
        else:  # no fixed point: these loose marks stay for good (out of the list
            # ``drop_loose`` empties, so that a later expiry keeps them too)
            self.backedges.clear()
            tracker.loose_made.clear()
            return
        self.backedges.clear()
        drop_loose(tracker.loose_made)
        self.expired += 1


def drop_loose(made: list[Marks]) -> None:
    for m in made:
        m.loose = None
        m.cached = None
    made.clear()


__all__ = ["Visits", "scc_of", "MAX_BACKEDGE_ITERS"]
