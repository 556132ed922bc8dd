"""Z3 search for bad schedules of a writer (``poke``) against CPUs fetching (``fetch``).

``search_fetch(protocol, kind, model, prop)`` encodes every schedule of one writer run and
``cpus`` CPUs, each fetching every site ``per_site`` times (cycling through the sites), with
the fetch model's atomicity, ordering and staleness (``model.x86.fetch`` states them), the
site's placement in its 64-byte line left to the solver, and the writes of an any-order
group placed in any order. It asks for a schedule violating ``prop`` (``fetch.PROPERTIES``).

Bound: every property is witnessed by at most two fetches of one CPU (torn, old-after-return
and stray-int3 by one, new-then-old by two), and removing a fetch only removes constraints
(a fetch can only *raise* its CPU's last-serialize time, by trapping). So two CPUs with two
fetches per site cover every number of CPUs and fetches: UNSAT is a proof for the model.

``search_key(scenario)`` encodes the interleavings of key togglers (``poke.KEY_SCENARIOS``)
-- program order, the per-key mutex, 2025-loop failures -- and asks for two sites of the key
left in different states after every toggler returned.

Every SAT model is turned into a concrete schedule and re-checked by the concrete semantics
(``fetch.check_legal`` + ``fetch.predict``/``violations``; ``poke.apply_key_schedule``):
an encoding bug shows up as ERROR, never as a wrong COUNTEREXAMPLE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from model.x86 import fetch as fx
from model.x86.poke import (KeyScenario, PROTOCOLS, apply_key_schedule, check_lock_order,
                            positions)
from model.x86.sites import INT3, KINDS, LINE, Toggle, block_site


@dataclass
class Result:
    status: str          # PROVED | COUNTEREXAMPLE | BOUND REACHED | ERROR
    seconds: float
    schedule: object = None   # fx.Schedule or KeySchedule
    detail: str = ""


def _imax(a, b):
    return z3.If(a >= b, a, b)


def search_fetch(protocol: str, kind: str, model: fx.FetchModel, prop: str, cpus: int = 2,
                 per_site: int = 2, timeout_ms: int = 60_000) -> Result:
    t0 = time.monotonic()
    build, n_sites, even = PROTOCOLS[protocol]
    size, to_on = KINDS[kind]
    tmpl = [Toggle(block_site(i, size, 0), to_on) for i in range(n_sites)]
    events = build(tmpl)
    n = len(events)
    S = z3.Solver()
    S.set("timeout", timeout_ms)
    offs = [z3.Int(f"off{s}") for s in range(n_sites)]
    for o in offs:
        S.add(o >= 0, o < LINE)
        if even:
            S.add(o % 2 == 0)
        if model.contained:
            S.add(o / model.chunk == (o + size - 1) / model.chunk)
    # event times: constants, or a distinct slot of the group for any-order writes
    etime = list(range(1, n + 1))
    groups = {}
    for k, e in enumerate(events):
        if e.group >= 0:
            groups.setdefault(e.group, []).append(k)
    for g, ks in groups.items():
        vs = [z3.Int(f"w{g}_{k}") for k in ks]
        slots = [k + 1 for k in ks]
        S.add(z3.Distinct(*vs))
        for v in vs:
            S.add(z3.Or(*[v == sl for sl in slots]))
        for k, v in zip(ks, vs):
            etime[k] = v
    # per (site, byte): writes as (time, value)
    hist = {(s, i): [] for s in range(n_sites) for i in range(size)}
    for k, e in enumerate(events):
        if e.kind != "write":
            continue
        for d, b in enumerate(e.data):
            a = e.addr + d
            s = next(s for s, t in enumerate(tmpl) if t.site.addr <= a < t.site.addr + size)
            hist[(s, a - tmpl[s].site.addr)].append((etime[k], b))
    for (s, i), ws in hist.items():
        if any(not isinstance(tm, int) for tm, _ in ws) and len(ws) > 1:
            raise ValueError("an any-order write may not share a byte with another write")

    def byte_at(s, i, u):
        v = z3.IntVal(tmpl[s].old[i])
        ws = hist[(s, i)]
        if all(isinstance(tm, int) for tm, _ in ws):
            ws = sorted(ws)  # later writes wrap earlier ones
        for tm, b in ws:
            v = z3.If(u >= tm, b, v)
        return v

    syncs = positions(events, "sync")
    pub, unpub = positions(events, "publish"), positions(events, "unpublish")
    ret = positions(events, "return")[0]

    def last_sync(t):
        v = z3.IntVal(0)
        for p in syncs:
            v = z3.If(t >= p, p, v)
        return v

    order = fx.fetch_order(n_sites, per_site)
    F = []  # per fetch: dict(cpu, site, t, u, old, new, cc, tmin, tmax)
    for c in range(cpus):
        prev = []
        for j, s in enumerate(order):
            t = [z3.Int(f"t{c}_{j}_{i}") for i in range(size)]
            u = [z3.Int(f"u{c}_{j}_{i}") for i in range(size)]
            for i in range(size):
                S.add(t[i] >= 0, t[i] <= n, u[i] >= 0, u[i] <= n)
            for i in range(size - 1):
                same = (offs[s] + i + 1) % model.chunk != 0
                S.add(z3.Implies(same, z3.And(t[i] == t[i + 1], u[i] == u[i + 1])))
                if model.in_order:
                    S.add(t[i] <= t[i + 1])
            if model.in_order:
                tmin, tmax = t[0], t[-1]
            else:
                tmin, tmax = z3.Int(f"tmin{c}_{j}"), z3.Int(f"tmax{c}_{j}")
                S.add(*[tmin <= x for x in t], z3.Or(*[tmin == x for x in t]))
                S.add(*[tmax >= x for x in t], z3.Or(*[tmax == x for x in t]))
            for p in syncs:
                S.add(z3.Not(z3.And(tmin < p, p <= tmax)))
            if prev:
                S.add(prev[-1]["tmax"] <= tmin)
            b = [byte_at(s, i, u[i]) for i in range(size)]
            old = z3.And(*[b[i] == tmpl[s].old[i] for i in range(size)])
            new = z3.And(*[b[i] == tmpl[s].new[i] for i in range(size)])
            cc = b[0] == INT3
            if model.stale:
                ls = last_sync(tmin)
                for q in prev:
                    ls = _imax(ls, z3.If(q["cc"], q["tmax"], 0))
                for i in range(size):
                    S.add(u[i] >= ls, u[i] <= t[i])
            else:
                for i in range(size):
                    S.add(u[i] == t[i])
            f = dict(cpu=c, site=s, t=t, u=u, old=old, new=new, cc=cc, tmin=tmin, tmax=tmax)
            prev.append(f)
            F.append(f)
    if prop == "torn":
        goal = z3.Or(*[z3.And(z3.Not(f["old"]), z3.Not(f["new"]), z3.Not(f["cc"])) for f in F])
    elif prop == "new-then-old":
        goal = z3.Or(*[z3.And(z3.Or(a["new"], a["cc"]), b["old"])
                       for x, a in enumerate(F) for b in F[x + 1:]
                       if a["cpu"] == b["cpu"] and a["site"] == b["site"]] or [z3.BoolVal(False)])
    elif prop == "old-after-return":
        goal = z3.Or(*[z3.And(f["tmin"] >= ret, z3.Or(f["old"], f["cc"])) for f in F])
    elif prop == "stray-int3":
        def published(t):
            if not pub:
                return z3.BoolVal(False)
            return z3.And(t >= pub[0], t < unpub[0]) if unpub else t >= pub[0]
        goal = z3.Or(*[z3.And(f["cc"], z3.Not(published(f["tmax"]))) for f in F])
    else:
        raise ValueError(f"unknown property {prop!r}")
    S.add(goal)
    r = S.check()
    dt = time.monotonic() - t0
    if r == z3.unsat:
        return Result("PROVED", dt)
    if r == z3.unknown:
        return Result("BOUND REACHED", dt, detail=S.reason_unknown())
    m = S.model()
    ev = lambda x: m.eval(x, model_completion=True).as_long()  # noqa: E731
    offsets = [ev(o) for o in offs]
    toggles = [Toggle(block_site(i, size, o), to_on) for i, o in enumerate(offsets)]
    shift = {tm.site.addr: t.site.addr for tm, t in zip(tmpl, toggles)}
    conc = []
    for k, e in enumerate(events):
        tm = etime[k] if isinstance(etime[k], int) else ev(etime[k])
        if e.kind == "write":
            base = next(a for a in shift if a <= e.addr < a + size)
            e = type(e)("write", shift[base] + e.addr - base, e.data)
        conc.append((tm, e))
    conc.sort(key=lambda p: p[0])
    sched = fx.Schedule(protocol, kind, model, offsets, [e for _, e in conc],
                        [fx.Fetch(f["cpu"], f["site"], [ev(x) for x in f["t"]],
                                  [ev(x) for x in f["u"]]) for f in F], prop)
    bad = fx.check_legal(sched)
    outs = fx.predict(sched)
    viol = fx.violations(sched, outs)
    if bad or not viol[prop]:
        return Result("ERROR", dt, sched,
                      f"model/semantics mismatch: {bad or 'no violation on replay of the model'}")
    sched.expect = {"violation": True, "witnesses": viol[prop], "outcomes": outs}
    return Result("COUNTEREXAMPLE", dt, sched)


# -- key consistency ---------------------------------------------------------------------------
@dataclass
class KeySchedule:
    scenario: KeyScenario
    order: list          # [(thread, event index)] in time order
    fail: set            # {(thread, event index)} failing pokes
    expect: dict

    def to_json(self) -> dict:
        return {"format": "skv-key-schedule/1", "scenario": self.scenario.name,
                "order": [list(p) for p in self.order], "fail": sorted(list(p) for p in self.fail),
                "property": "sites-disagree", "expect": self.expect}

    @staticmethod
    def from_json(d: dict) -> "KeySchedule":
        from model.x86.poke import KEY_SCENARIOS
        if d.get("format") != "skv-key-schedule/1":
            raise ValueError("not an skv-key-schedule/1 file")
        sc = {s.name: s for s in KEY_SCENARIOS}.get(d["scenario"])
        if sc is None:
            raise ValueError(f"unknown key scenario {d['scenario']!r}")
        n_events = [len(t.events()) for t in sc.togglers]
        for what in ("order", "fail"):
            for p in d.get(what, []):
                if not (0 <= p[0] < len(n_events) and 0 <= p[1] < n_events[p[0]]):
                    raise ValueError(f"{what}: toggler {p[0]} has no event {p[1]} "
                                     f"({len(n_events)} togglers, events {n_events})")
        return KeySchedule(sc, [tuple(int(x) for x in p) for p in d["order"]],
                           {tuple(int(x) for x in p) for p in d.get("fail", [])},
                           d.get("expect", {}))


_PAIR = {"type": "array", "minItems": 2, "maxItems": 2,
         "items": {"type": "integer", "minimum": 0, "maximum": 4096}}
#: the ``skv-key-schedule/1`` file, as ``KeySchedule.to_json`` writes it
SCHEMA = {
    "type": "object",
    "required": ["format", "scenario", "order"],
    "properties": {
        "format": {"const": "skv-key-schedule/1"},
        "scenario": {"type": "string", "maxLength": 128},
        "order": {"type": "array", "maxItems": 4096, "items": _PAIR},
        "fail": {"type": "array", "maxItems": 4096, "items": _PAIR},
        "property": {"type": "string", "maxLength": 64},
        "expect": {"type": "object", "maxProperties": 64},
    },
}


def search_key(sc: KeyScenario, timeout_ms: int = 60_000) -> Result:
    t0 = time.monotonic()
    S = z3.Solver()
    S.set("timeout", timeout_ms)
    evs = [t.events() for t in sc.togglers]
    T = {(th, i): z3.Int(f"T{th}_{i}") for th, es in enumerate(evs) for i in range(len(es))}
    S.add(z3.Distinct(*T.values()))
    for th, es in enumerate(evs):
        for i in range(len(es) - 1):
            S.add(T[(th, i)] < T[(th, i + 1)])
    for a in range(len(evs)):
        for b in range(a + 1, len(evs)):
            if sc.togglers[a].locked and sc.togglers[b].locked:
                la, ua = evs[a].index(next(e for e in evs[a] if e.kind == "lock")), \
                    evs[a].index(next(e for e in evs[a] if e.kind == "unlock"))
                lb, ub = evs[b].index(next(e for e in evs[b] if e.kind == "lock")), \
                    evs[b].index(next(e for e in evs[b] if e.kind == "unlock"))
                S.add(z3.Or(T[(a, ua)] < T[(b, lb)], T[(b, ub)] < T[(a, la)]))
    fail = {}
    eff = {}
    for th, es in enumerate(evs):
        stopped = z3.BoolVal(False)
        for i, e in enumerate(es):
            if e.kind != "poke":
                continue
            f = z3.Bool(f"fail{th}_{i}") if e.may_fail else z3.BoolVal(False)
            fail[(th, i)] = f
            eff[(th, i)] = z3.And(z3.Not(stopped), z3.Not(f))
            stopped = z3.Or(stopped, f)
    final = []
    for s in range(sc.n_sites):
        pokes = [(p, evs[p[0]][p[1]].value) for p in eff if evs[p[0]][p[1]].site == s]
        v = z3.IntVal(sc.initial)
        for p, val in pokes:
            latest = z3.And(eff[p], *[z3.Or(z3.Not(eff[q]), T[q] < T[p]) for q, _ in pokes if q != p])
            v = z3.If(latest, val, v)
        final.append(v)
    S.add(z3.Or(*[final[a] != final[b] for a in range(sc.n_sites) for b in range(a + 1, sc.n_sites)]))
    r = S.check()
    dt = time.monotonic() - t0
    if r == z3.unsat:
        return Result("PROVED", dt)
    if r == z3.unknown:
        return Result("BOUND REACHED", dt, detail=S.reason_unknown())
    m = S.model()
    order = sorted(T, key=lambda p: m.eval(T[p]).as_long())
    fails = {p for p, f in fail.items() if z3.is_true(m.eval(f, model_completion=True))}
    states, key, _ = apply_key_schedule(sc, order, fails)
    if not check_lock_order(sc, order) or len(set(states)) < 2:
        return Result("ERROR", dt, None, "model/semantics mismatch on a key schedule")
    ks = KeySchedule(sc, order, fails, {"violation": True, "final": states, "key": key})
    return Result("COUNTEREXAMPLE", dt, ks)
