"""Z3 chooses CPU 1's schedule for an x86 confirmation (issue 7).

Given CPU 0's site fetches -- for each site, the instruction numbers of its executions, taken
from a probe run (CPU 0's path depends only on the site states it observes, so a schedule
under which every fetch observes the counterexample's state gives the same steps) -- and the
pokes CPU 1 has to make (site, new state; the pokes of one site in the order given), ``solve``
asks Z3 for the CPU 0 instruction boundary before which each event of each poke's int3
protocol (``model.x86.poke.int3``) happens.

Variables: ``T[p][i]`` = the step before which event ``i`` of poke ``p`` is applied (the
machine applies an event at step ``t`` before CPU 0's instruction ``t``, so a fetch at step
``f`` sees it iff ``t <= f``), and ``pos[p]``, the poke's place in CPU 1's sequence (one
toggler: pokes run one after the other; the pokes of one site keep their given order).

Constraints:

- program order: ``T[p][i] <= T[p][i+1]``; ``pos[p] < pos[q]`` -> ``T[p][last] <= T[q][0]``;
- what a fetch at step ``f`` of a site observes, per poke ``p`` of the site: OLD when the
  INT3 write is after ``f``; NEW once sync 1 is at or before ``f`` (the INT3 byte with the
  patch published: the handler emulates the new instruction; later the new bytes). Between
  the INT3 write and sync 1 CPU 0 may still run its stale translation of the old bytes, so
  no fetch may fall there. The fetch must observe the counterexample's state for that
  execution;
- M1: every event at or before CPU 0's first site fetch (the toggle is half done before CPU 0
  runs); M2: CPU 1 does not start before CPU 0 (``T >= 1``) and the poke that changes a
  site's state for execution ``k`` starts after CPU 0's execution ``k-1`` of the site;
- ``via_int3`` (M2): that execution ``k`` happens between sync 1 and the first tail write,
  so it traps on the INT3 byte and the handler emulates the new instruction.

Objective: the earliest schedule (minimal sum of the steps). Every model is re-checked by
``predict`` (the same semantics, concretely); a mismatch is reported as ``error``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import z3


@dataclass
class Solution:
    status: str                       # "sat" | "unsat" | "unknown" | "error"
    steps: list[list[int]] = field(default_factory=list)   # per poke (input order)
    order: list[int] = field(default_factory=list)          # poke indices, CPU 1's order
    seconds: float = 0.0
    detail: str = ""


def marks(kinds: list[str]) -> tuple[int, int, int]:
    """Indices in one poke's int3 protocol of: the INT3 write, sync 1, the first tail write
    (or the first-byte write when the site has no tail)."""
    i_int3 = kinds.index("write")
    i_s1 = kinds.index("sync", i_int3)
    return i_int3, i_s1, i_s1 + 1


def predict(fetch_steps: dict[int, list[int]], initial: dict[int, bool],
            pokes: list[tuple[int, bool]], kinds: list[list[str]],
            steps: list[list[int]]) -> dict[int, list[bool | None]]:
    """What each fetch observes under ``steps`` (None: in a stale-translation window)."""
    out: dict[int, list[bool | None]] = {}
    for s, fs in fetch_steps.items():
        mine = [p for p, (site, _) in enumerate(pokes) if site == s]
        obs: list[bool | None] = []
        for f in fs:
            v: bool | None = initial[s]
            for p in mine:
                i_int3, i_s1, _ = marks(kinds[p])
                if steps[p][i_s1] <= f:
                    v = pokes[p][1]
                elif steps[p][i_int3] <= f:
                    v = None
                    break
            obs.append(v)
        out[s] = obs
    return out


def solve(fetch_steps: dict[int, list[int]], want: dict[int, list[bool]],
          initial: dict[int, bool], pokes: list[tuple[int, bool]], kinds: list[list[str]], *,
          model: str, horizon: int, via_int3: bool = False, fixed_order: bool = False,
          timeout_ms: int = 20_000) -> Solution:
    """``fetch_steps``: site id -> CPU 0's steps of its executions 0, 1, ...; ``want``: site
    id -> the state each execution must observe (extra entries ignored); ``initial``: the
    image's state per site; ``pokes``: (site id, new state) -- per site in sequence;
    ``kinds``: each poke's protocol event kinds; ``horizon``: the last step an event may be
    placed at (an event at a step CPU 0 never reaches happens after the run)."""
    t0 = time.monotonic()
    P = len(pokes)
    opt = z3.Optimize()
    opt.set("timeout", timeout_ms)
    lo = 0 if model == "M1" else 1
    T = [[z3.Int(f"t{p}_{i}") for i in range(len(kinds[p]))] for p in range(P)]
    pos = [z3.Int(f"pos{p}") for p in range(P)]
    for p in range(P):
        opt.add(pos[p] >= 0, pos[p] < P)
        for i, t in enumerate(T[p]):
            opt.add(t >= lo, t <= horizon)
            if i:
                opt.add(T[p][i - 1] <= t)
    if P > 1:
        opt.add(z3.Distinct(*pos))
    for p in range(P):
        for q in range(P):
            if p != q:
                opt.add(z3.Implies(pos[p] < pos[q], T[p][-1] <= T[q][0]))
    by_site: dict[int, list[int]] = {}
    for p, (s, _) in enumerate(pokes):
        by_site.setdefault(s, []).append(p)
    for ps in by_site.values():
        for a, b in zip(ps, ps[1:]):
            opt.add(pos[a] < pos[b])
    if fixed_order:
        for p in range(P):
            opt.add(pos[p] == p)
    first_fetch = min((f for fs in fetch_steps.values() for f in fs), default=horizon)
    for s, fs in fetch_steps.items():
        mine = by_site.get(s, [])
        seq = want.get(s, [])
        for k, f in enumerate(fs[:len(seq)]):
            v = z3.BoolVal(initial[s])
            for p in mine:
                i_int3, i_s1, _ = marks(kinds[p])
                opt.add(z3.Not(z3.And(T[p][i_int3] <= f, f < T[p][i_s1])))
                v = z3.If(T[p][i_s1] <= f, z3.BoolVal(pokes[p][1]), v)
            opt.add(v == z3.BoolVal(seq[k]))
    if model == "M1":
        for p in range(P):
            opt.add(T[p][-1] <= first_fetch)
    else:
        # the poke giving a site its state for execution k: after execution k-1
        for s, ps in by_site.items():
            fs, seq = fetch_steps.get(s, []), want.get(s, [])
            changes = [k for k in range(1, min(len(fs), len(seq))) if seq[k] != seq[k - 1]]
            for p, k in zip(ps, changes):
                opt.add(T[p][0] > fs[k - 1])
                if via_int3:
                    _, i_s1, i_tail = marks(kinds[p])
                    opt.add(T[p][i_s1] <= fs[k])
                    if i_tail < len(T[p]):
                        opt.add(fs[k] < T[p][i_tail])
    if P:
        opt.minimize(z3.Sum(*[t for row in T for t in row]))
    r = opt.check()
    dt = time.monotonic() - t0
    if r == z3.unsat:
        return Solution("unsat", seconds=dt)
    if r != z3.sat:
        return Solution("unknown", seconds=dt, detail=opt.reason_unknown())
    m = opt.model()
    ev = lambda x: m.eval(x, model_completion=True).as_long()  # noqa: E731
    steps = [[ev(t) for t in row] for row in T]
    order = sorted(range(P), key=lambda p: ev(pos[p]))
    sol = Solution("sat", steps, order, dt)
    # re-check the model with the concrete semantics
    obs = predict(fetch_steps, initial, pokes, kinds, steps)
    bad = [s for s, xs in obs.items()
           if xs[:len(want.get(s, []))] != list(want.get(s, []))[:len(xs)]]
    for a, b in zip(order, order[1:]):
        if steps[a][-1] > steps[b][0]:
            bad.append(f"pokes {a},{b} overlap")
    if bad:
        sol.status, sol.detail = "error", f"model/semantics mismatch: {bad}"
    return sol


__all__ = ["Solution", "marks", "predict", "solve"]
