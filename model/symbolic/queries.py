"""The engine's satisfiability queries (``Engine.decide``), answered exactly but cheaply.

* **Models seen before.** A query is satisfiable when a model of an earlier satisfiable
  query, completed with arbitrary values for what it does not mention, makes the query
  true (evaluation, no search). Paths mostly extend a path Z3 has just found feasible, so
  one of the two edges of a branch is usually answered this way.
* **One incremental solver.** Each queried formula is named by a fresh literal defined
  once at the solver's base level (``q <=> f``) and the query is a check under that
  literal. A path condition is shared by every later query on the path (it is a subterm
  of theirs), so Z3 translates it once and keeps what it learnt, instead of translating
  the whole condition again inside a push/pop scope for every query. Definitions do not
  constrain anything (each literal is fresh), so every answer is the answer of the
  formula alone. A new solver is started after ``NAMES_KEPT`` formulas.
* **A second try.** Z3's time on a formula is heavy-tailed and depends on the solver's
  history: a query the incremental solver does not decide within a quarter of the
  per-query timeout is asked again, alone, of a new solver, for the rest of it.

A query Z3 cannot decide within the per-query timeout answers None (the caller records the
exhausted budget).
"""

from __future__ import annotations

import z3

#: satisfying models kept for evaluation (most recent first)
MODELS_KEPT = 6
#: the incremental solver gets 1/FIRST_TRY of the query's time; a new solver the rest
FIRST_TRY = 4
#: path conditions whose model is kept
GUARDS_KEPT = 1024
#: formulas named in one solver before a new one is started
NAMES_KEPT = 2000
#: subterms of a query looked at for a path condition with a model
ANCESTORS_WALKED = 64


class Queries:
    def __init__(self, eng):
        self.eng = eng
        self.solver = z3.Solver()
        self.models: list = []
        self.names: dict[int, tuple] = {}  # ast id -> (formula, literal)
        self.by_guard: dict[int, tuple] = {}  # ast id -> (formula, a model of it)

    def name(self, f):
        """The literal standing for ``f`` (defined at the base level on first use)."""
        got = self.names.get(f.get_id())
        if got is not None:
            return got[1]
        q = z3.FreshBool("q")
        self.solver.add(q == f)
        self.names[f.get_id()] = (f, q)  # the formula is kept alive: its id stays its own
        return q

    def known_sat(self, f, whole) -> bool:
        """Does a model found before satisfy ``whole``? Tried first: the models of the
        nearest queried path conditions ``f`` extends (``And(guard, ...)`` down its
        first arguments, both sides of a merge's ``Or``), then the latest models."""
        tried: set[int] = set()
        for m in self._ancestors(f) + self.models:
            if id(m) not in tried:
                tried.add(id(m))
                if z3.is_true(m.eval(whole, model_completion=True)):
                    return True
        return False

    def _ancestors(self, f) -> list:
        out, todo, seen = [], [f], 0
        while todo and seen < ANCESTORS_WALKED:
            e = todo.pop(0)
            seen += 1
            got = self.by_guard.get(e.get_id())
            if got is not None:
                out.append(got[1])
            elif z3.is_and(e) and e.num_args():
                todo.append(e.arg(0))
            elif z3.is_or(e):
                todo.extend(e.children())
        return out

    def decide(self, f) -> bool | None:
        eng = self.eng
        assumed = eng.lay.assumptions()
        if self.known_sat(f, z3.And(assumed, f)):
            return True
        eng.res.queries += 1
        if len(self.names) > NAMES_KEPT:  # a long run: start a new solver
            self.solver, self.names = z3.Solver(), {}
        ms = eng.query_ms()
        self.solver.set("timeout", max(1, ms // FIRST_TRY))
        r = self.solver.check(self.name(assumed), self.name(f))
        if r == z3.unknown and ms > 1:  # a heavy tail: the formula alone, in a new solver
            alone = z3.Solver()
            alone.set("timeout", max(1, eng.query_ms()))
            alone.add(assumed, f)
            r = alone.check()
            if r == z3.sat:
                self._keep(f, alone.model())
                return True
        if r == z3.unknown:
            eng._exhaust("Z3 query timeout")
            return None
        if r == z3.sat:
            self._keep(f, self.solver.model())
        return r == z3.sat

    def _keep(self, f, m) -> None:
        self.models.insert(0, m)
        del self.models[MODELS_KEPT:]
        self.by_guard[f.get_id()] = (f, m)
        if len(self.by_guard) > GUARDS_KEPT:  # the oldest path conditions go first
            del self.by_guard[next(iter(self.by_guard))]


__all__ = ["Queries", "MODELS_KEPT"]
