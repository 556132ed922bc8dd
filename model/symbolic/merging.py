"""Which states the engine merges, and how (the engine's worklist calls ``signature`` and
``merge``; ``model.symbolic.state`` keeps the values and ``State.merge``'s rules).

Two states at the same pc merge when their *shapes* agree. Before comparing, what cannot
influence the rest of a path is forgotten, so paths that differ only there meet:

* registers of the current frame that are dead at the pc (``model.verifier.liveness``: no
  instruction reads them before writing them from there on) are dropped (r0 is kept at a
  callback helper's call, which reads the callback's last return when it loops);
* the execution counts of static sites and helper calls of the main function that the
  path can never reach again (the count only names the fresh variable of the *next*
  execution: with no next execution, any count will do);
* map contents, context and packet bytes a path never wrote are its inputs: a merge with
  a path that wrote them takes the input on the other side (no shape difference).

Merged values keep terms that are equal on both sides as they are (no ``If``), so
constants stay constants and formulas stay small. Every rule is exact: the merged state
has, under each side's guard, that side's values wherever they can still be read.
"""

from __future__ import annotations

from model.isa import Call, Exit, Jump, MayGoto
from model.platform.callbacks import is_callback_call
from model.symbolic.memory import map_array
from model.symbolic.state import State


class Merging:
    """Per program: liveness and main-function reachability, computed once."""

    def __init__(self, eng):
        self.eng, self.lay = eng, eng.lay
        self.live: dict = {}
        try:
            from model.verifier.liveness import live_registers

            self.live = live_registers(eng.prog)
        except Exception:  # noqa: BLE001 - no liveness: nothing is forgotten
            self.live = {}
        self.main = self._main_pcs()
        self._reach: dict[int, frozenset] = {}
        self.counted = {s.id: s.pc for s in eng.prog.sites}

    def _main_pcs(self) -> set[int]:
        by_pc, out, todo = self.eng.by_pc, set(), [0]
        while todo:
            pc = todo.pop()
            if pc in out or pc not in by_pc:
                continue
            out.add(pc)
            todo.extend(self._succ(pc))
        return out

    def _succ(self, pc: int) -> list[int]:
        insn = self.eng.by_pc[pc]
        if isinstance(insn, (Jump, MayGoto, Exit)):
            return self.eng._succ(pc, insn)
        return [pc + (insn.slots if not isinstance(insn, Call) else 1)]

    def reach(self, pc: int) -> frozenset:
        """Main-function pcs reachable from ``pc`` (itself included)."""
        got = self._reach.get(pc)
        if got is None:
            seen, todo = set(), [pc]
            while todo:
                p = todo.pop()
                if p in seen or p not in self.main:
                    continue
                seen.add(p)
                todo.extend(self._succ(p))
            got = self._reach[pc] = frozenset(seen)
        return got

    def forget(self, st: State) -> None:
        """Drop what ``st`` can no longer read (see the module's docstring)."""
        live = self.live.get(st.pc)  # of the current frame, at its pc
        if live is not None and is_callback_call(self.eng.by_pc.get(st.pc)):
            live = live | {0}  # entered again, a callback helper reads its last return
        if live is not None:
            regs = st.cur.regs
            for r in range(10):
                if r not in live and regs[r] is not None:
                    regs[r] = None
        anchor = st.pc if len(st.frames) == 1 else st.frames[1].callsite
        if anchor not in self.main:  # an asynchronous callback: counts are kept
            return
        ahead = self.reach(anchor)
        for sid in [s for s in st.site_runs if self.counted.get(s) in self.main
                    and self.counted[s] not in ahead]:
            del st.site_runs[sid]
        for pc in [p for p in st.helper_runs if p >= 0 and p in self.main and p not in ahead]:
            del st.helper_runs[pc]

    def signature(self, st: State) -> tuple:
        self._inputs(st)
        return st.signature(self.lay.maps)

    def merge(self, a: State, b: State) -> None:
        """Absorb ``b`` into ``a`` (same signature; ``State.merge``)."""
        lay = self.lay
        for n in sorted(set(a.maps) ^ set(b.maps)):  # (in a fixed order: term ids)
            if n in lay.maps:  # written on one side only: the other holds the input
                a.maps.setdefault(n, map_array(lay, a, n))
                b.maps.setdefault(n, map_array(lay, b, n))
        for n in sorted(set(a.present) ^ set(b.present)):
            a.present.setdefault(n, lay.present_in[n])
            b.present.setdefault(n, lay.present_in[n])
        a.merge(b)

    def _inputs(self, st: State) -> None:
        """The context, the packet and its length as inputs when no write replaced them
        (so that a path that wrote them meets one that did not)."""
        if st.ctx is None:
            st.ctx = self.lay.ctx_in
        if st.pkt is None:
            st.pkt = self.lay.pkt_in
        if st.plen is None:
            st.plen = self.lay.plen


__all__ = ["Merging"]
