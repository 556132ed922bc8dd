"""Schedules for CPU 1 derived from M1/M2 counterexamples, their confirmation on x86, and
random toggle schedules for safe programs.

A schedule is a list of pokes (CPU 1 runs the kernel's int3 protocol, ``poke.int3``, on one
site at a time -- "site by site") and the CPU 0 instruction number before which each of the
protocol's events happens (``WEv``), in CPU 1's program order.

M1 (one state per site for the run): a half-finished toggle. For each key, the image is
JIT'd with every site of the key in one state ``u`` and CPU 1, toggling the key to ``1-u``,
has completed the int3 protocol on exactly the sites whose counterexample state is ``1-u``
before CPU 0 starts; the rest of the toggle is still pending. ``u`` is chosen so that the
poked sites come first in address order (the order ``jump_label_update`` patches a key's
entries in) when possible; otherwise the poked set is reported as out of order.

M2 (one state per execution): direct construction, in two runs. The image holds each site
in its state for execution 0. A probe run applies each needed toggle (the whole protocol,
at one instruction boundary) right after CPU 0's execution ``n`` of a site whose state for
execution ``n+1`` differs; it records CPU 0's instruction numbers ``a`` (execution ``n``)
and ``b`` (execution ``n+1``). CPU 0's path depends only on what it observes at the sites,
so the real run takes the same path; its schedule spreads the protocol's events over the
gap, one per CPU 0 instruction boundary in ``a+1..b`` (bunched when the gap is shorter),
keeping CPU 1's program order. With ``via_int3`` the events up to sync 1 happen in the gap
and the rest after ``b``, so CPU 0's fetch ``n+1`` hits the INT3 byte and the handler
emulates the new instruction. Either way the real run checks that every fetch observed the
counterexample's state.

Z3 chooses the schedule (``derive_z3``, ``model.e2e.schedule_z3``): over the fetch steps of a
probe run (M1: the direct schedule; M2: the probe above), the step of every protocol event
of every needed poke, such that each fetch observes the counterexample's state (and, with
``via_int3``, the changed execution traps on the INT3 byte). ``confirm`` uses it and falls
back to the direct construction above only when Z3 answers unsat/unknown; the result says
which (``"schedule_by": "z3" | "direct"``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from model.e2e.machine import Poke, WEv, X86Machine
from model.x86.poke import int3
from model.x86.sites import Toggle


@dataclass
class Schedule:
    model: str
    initial: dict[int, bool]            # site id -> on (the image's state)
    pokes: list[Poke]
    events: list[WEv]
    story: list[str] = field(default_factory=list)
    by: str = "direct"                  # "z3" (``schedule_z3``) | "direct" (construction)

    def to_json(self, m: X86Machine) -> dict:
        return {"model": self.model,
                "initial": {f"pc{_pc(m, s)}": int(v) for s, v in self.initial.items()},
                "pokes": [{"site": f"pc{m.sites[p.site][0].pc}",
                           "to": int(p.to_on),
                           "steps": [w.step for w in self.events if w.poke == k],
                           "events": [w.ev.kind for w in self.events if w.poke == k]}
                          for k, p in enumerate(self.pokes)],
                "story": self.story}


def _pc(m: X86Machine, sid: int) -> int:
    return next(s.pc for s, _ in m.sites if s.id == sid)


def protocol(m: X86Machine, poke: Poke) -> list:
    """The int3 protocol's events for one poke (``publish`` .. ``return``)."""
    bsite, xsite = m.sites[poke.site]
    return int3([Toggle(xsite, bsite.jumps(poke.to_on))])


def _index(m: X86Machine, sid: int) -> int:
    return next(k for k, (s, _) in enumerate(m.sites) if s.id == sid)


# -- M1 -----------------------------------------------------------------------------------
def derive_m1(obj, prog, cx: dict) -> tuple[X86Machine, Schedule]:
    states = {int(k): bool(v) for k, v in cx["sites"].items()}
    keyv = {k: bool(v) for k, v in cx["keys"].items()}
    initial: dict[int, bool] = {}
    story = []
    todo: list[tuple[int, bool]] = []          # (site id, new state)
    by_key: dict[str, list] = {}
    for s in prog.sites:
        by_key.setdefault(s.key, []).append(s)
    m0 = X86Machine(obj, prog)                 # for address order only
    order = {s.id: k for k, (s, _) in enumerate(m0.sites)}
    for key, ss in by_key.items():
        ss = sorted(ss, key=lambda s: order[s.id])
        best = None
        for u in (keyv.get(key, False), not keyv.get(key, False)):
            poked = [s for s in ss if states[s.id] != u]
            prefix = all(states[s.id] != u for s in ss[:len(poked)])
            if best is None or (prefix and not best[2]):
                best = (u, poked, prefix)
        u, poked, prefix = best
        for s in ss:
            initial[s.id] = u
        if poked:
            story.append(f"key {key} was {int(u)} (every site {'on' if u else 'off'}); CPU 1 "
                         f"toggles it to {int(not u)} site by site and has completed the int3 "
                         f"protocol on {', '.join(f'pc{s.pc}' for s in poked)}"
                         + ("" if len(poked) == len(ss) else
                            f"; {', '.join(f'pc{s.pc}' for s in ss if s not in poked)} "
                            "still pending")
                         + ("" if prefix else " (not in address order: e.g. a failed/"
                            "retried 2025 loop or two togglers)") + " when CPU 0 runs")
        else:
            story.append(f"key {key} = {int(u)}, no site poked")
        todo += [(s.id, not u) for s in poked]
    m = X86Machine(obj, prog, initial)
    pokes = [Poke(_index(m, sid), on) for sid, on in todo]
    events = [WEv(0, k, e) for k, p in enumerate(pokes) for e in protocol(m, p)]
    return m, Schedule("M1", initial, pokes, events, story)


# -- M2 -----------------------------------------------------------------------------------
def _m2_image(obj, prog, cx: dict):
    want = {int(k): [c == "1" for c in v] for k, v in cx["schedule"].items()}
    keyv = {k: bool(v) for k, v in cx["keys"].items()}
    initial = {s.id: (want[s.id][0] if want.get(s.id) else keyv.get(s.key, False))
               for s in prog.sites}
    return X86Machine(obj, prog, initial), initial, want


def _m2_probe(m: X86Machine, cx: dict, want: dict):
    """The probe run: each needed toggle applied whole right after CPU 0's execution ``n``
    of a site whose state for execution ``n+1`` differs. Returns (pokes, gaps, result)."""
    pokes: list[Poke] = []
    gaps: list[list[int]] = []                 # per poke: [a, b] (b filled later)
    pending: dict[int, int] = {}               # site id -> poke waiting for its fetch

    def on_fetch(res, f):
        if f.site in pending:
            gaps[pending.pop(f.site)][1] = f.step
        seq = want.get(f.site, [])
        if f.n + 1 < len(seq) and seq[f.n + 1] != seq[f.n]:
            k = len(pokes)
            pokes.append(Poke(_index(m, f.site), seq[f.n + 1]))
            gaps.append([f.step, None])
            pending[f.site] = k
            return [WEv(0, k, e) for e in protocol(m, pokes[k])]
        return []

    probe = m.run(**_inputs(cx), pokes=pokes, on_fetch=on_fetch)
    return pokes, gaps, probe


def derive_m2(obj, prog, cx: dict, *, via_int3: bool = False) -> tuple[X86Machine, Schedule]:
    m, initial, want = _m2_image(obj, prog, cx)
    pokes, gaps, probe = _m2_probe(m, cx, want)
    events: list[WEv] = []
    story = []
    last = 0
    for k, (p, (a, b)) in enumerate(zip(pokes, gaps)):
        evs = protocol(m, p)
        bsite = m.sites[p.site][0]
        if b is None:                          # CPU 0 never fetched the site again
            b = probe.steps + 1
        lo = max(a + 1, last)
        if via_int3:
            cut = next(i for i, e in enumerate(evs) if e.kind == "sync") + 1
            first, rest = evs[:cut], evs[cut:]
            steps = [lo + (i * max(0, b - lo)) // len(first) for i in range(len(first))]
            steps += [b + 1 + i for i in range(len(rest))]
        else:
            steps = [lo + (i * max(0, b - lo + 1)) // len(evs) for i in range(len(evs))]
        steps = [max(s, last) for s in steps]
        events += [WEv(s, k, e) for s, e in zip(steps, evs)]
        last = steps[-1]
        story.append(f"CPU 1 toggles site pc{bsite.pc} to {'on' if p.to_on else 'off'} "
                     f"between CPU 0's steps {a} and {b} (its executions of the site): "
                     f"events at steps {steps}"
                     + (" -- CPU 0's next fetch hits the INT3" if via_int3 else ""))
    return m, Schedule("M2", initial, pokes, events, story)


# -- Z3 chooses the schedule ------------------------------------------------------------------
def derive_z3(obj, prog, cx: dict, *, via_int3: bool = False,
              timeout_ms: int = 20_000) -> tuple[X86Machine, Schedule | None, str]:
    """The schedule chosen by Z3 (``model.e2e.schedule_z3``) over CPU 0's fetch steps of a
    probe run: M1's probe is the direct M1 schedule (every poke before CPU 0 starts), M2's
    the probe of ``derive_m2``. Returns (machine, schedule or None, solver status/detail)."""
    from model.e2e.schedule_z3 import solve
    if cx["model"] == "M1":
        m, sc0 = derive_m1(obj, prog, cx)
        probe = m.run(**_inputs(cx), pokes=sc0.pokes, events=sc0.events)
        states = {int(k): bool(v) for k, v in cx["sites"].items()}
        initial, story = sc0.initial, list(sc0.story)
        pokes = list(sc0.pokes)
    elif cx["model"] == "M2":
        m, initial, seqs = _m2_image(obj, prog, cx)
        _, _, probe = _m2_probe(m, cx, seqs)
        story, pokes = [], []
    else:
        raise ValueError(f"x86 confirmation needs an M1 or M2 counterexample, not {cx['model']}")
    fetch_steps: dict[int, list[int]] = {}
    for f in probe.fetches:
        fetch_steps.setdefault(f.site, []).append(f.step)
    if cx["model"] == "M1":
        want = {s: [states[s]] * len(fs) for s, fs in fetch_steps.items()}
    else:
        want = {s: seqs.get(s, [initial[s]])[:len(fs)] for s, fs in fetch_steps.items()}
        for s, fs in fetch_steps.items():             # one poke per change CPU 0 sees
            seq = want[s]
            pokes += [Poke(_index(m, s), seq[k]) for k in range(1, len(seq))
                      if seq[k] != seq[k - 1]]
    sid = [m.sites[p.site][0].id for p in pokes]
    kinds = [[e.kind for e in protocol(m, p)] for p in pokes]
    sol = solve(fetch_steps, want, initial, [(s, p.to_on) for s, p in zip(sid, pokes)], kinds,
                model=cx["model"], horizon=probe.steps + 1,
                via_int3=via_int3 and cx["model"] == "M2", fixed_order=cx["model"] == "M1",
                timeout_ms=timeout_ms)
    if sol.status != "sat":
        return m, None, f"{sol.status} {sol.detail}".strip()
    new_pokes = [pokes[p] for p in sol.order]             # CPU 1's program order
    events = [WEv(t, k, e) for k, p in enumerate(sol.order)
              for t, e in zip(sol.steps[p], protocol(m, pokes[p]))]
    events.sort(key=lambda w: w.step)                     # stable: keeps CPU 1's order
    during = sum(1 for w in events if 0 < w.step < probe.steps)
    for p in sol.order:
        bsite = m.sites[pokes[p].site][0]
        if cx["model"] == "M2":
            story.append(f"CPU 1 toggles site pc{bsite.pc} to "
                         f"{'on' if pokes[p].to_on else 'off'}: events at steps "
                         f"{sol.steps[p]}" + (" -- CPU 0's next fetch hits the INT3"
                                              if via_int3 else ""))
    story.append(f"schedule chosen by Z3 ({sol.seconds:.2f}s): {len(events)} CPU 1 events, "
                 f"{during} of them while CPU 0 runs; CPU 0's site fetches at steps "
                 + ", ".join(f"pc{_pc(m, s)}: {fs}" for s, fs in fetch_steps.items()))
    return m, Schedule(cx["model"], initial, new_pokes, events, story, by="z3"), "sat"


def derive(obj, prog, cx: dict, *, via_int3: bool = False,
           by: str = "z3") -> tuple[X86Machine, Schedule]:
    """CPU 1's schedule for ``cx``: chosen by Z3 (``by="z3"``), falling back to the direct
    construction when Z3 finds none (unsat/unknown); ``by="direct"``: the construction."""
    if cx["model"] not in ("M1", "M2"):
        raise ValueError(f"x86 confirmation needs an M1 or M2 counterexample, not {cx['model']}")
    why = ""
    if by == "z3":
        m, sc, why = derive_z3(obj, prog, cx, via_int3=via_int3)
        if sc is not None:
            return m, sc
    if cx["model"] == "M1":
        m, sc = derive_m1(obj, prog, cx)
    else:
        m, sc = derive_m2(obj, prog, cx, via_int3=via_int3)
    if why:
        sc.story.append(f"Z3 found no schedule ({why}); direct construction used")
    return m, sc


def _inputs(cx: dict) -> dict:
    results = {tuple(int(x) for x in k.split(":")): v
               for k, v in (cx.get("helper_results") or {}).items()}
    return {"ctx": bytes.fromhex(cx["ctx"]) if cx.get("ctx") is not None else None,
            "packet": bytes.fromhex(cx["packet"]) if cx.get("packet") is not None else None,
            "maps": cx.get("maps") or {}, "helper_results": results}


def x86_result(m: X86Machine, cx: dict, res, sched_json: dict, t0: float,
               states_ok: bool) -> dict:
    """The report of one x86 run of counterexample ``cx``: confirmed when it faulted at the
    x86 code of ``cx["pc"]`` and CPU 0 saw the counterexample's site states."""
    f = res.fault
    obs = res.observed()
    return {"confirmed": bool(f and f.bpf_pc == cx.get("pc") and states_ok),
            "model": cx["model"], "bpf_insn": cx.get("pc"),
            "x86_address": f.x86_address if f else None, "x86_insn": f.x86_insn if f else None,
            "kind": f.kind if f else None, "reason": f.reason if f else None,
            "fault_bpf_insn": f.bpf_pc if f else None, "status": res.status,
            "states_match": states_ok,
            "observed": {f"pc{_pc(m, s)}": "".join(str(int(x)) for x in xs)
                         for s, xs in obs.items()},
            "fetches": [{"site": f"pc{_pc(m, x.site)}", "n": x.n, "step": x.step,
                         "bytes": x.bytes, "via": x.via, "on": int(x.on)} for x in res.fetches],
            "schedule": sched_json, "steps": res.steps, "log": res.log,
            "time_s": round(time.perf_counter() - t0, 4)}


def confirm(obj, prog, cx: dict, *, via_int3: bool = False) -> dict:
    """Run ``cx`` (an M1/M2 counterexample of ``model.symbolic``) on x86. The result is
    ``confirmed`` when CPU 0 observed exactly the counterexample's site states and ended in
    a fault or poison use at the x86 code of the BPF instruction ``cx["pc"]``."""
    t0 = time.perf_counter()
    m, sc = derive(obj, prog, cx, via_int3=via_int3)
    res = m.run(**_inputs(cx), pokes=sc.pokes, events=sc.events, verbose=True)
    obs = res.observed()
    if cx["model"] == "M1":
        want = {int(k): bool(v) for k, v in cx["sites"].items()}
        states_ok = all(all(x == want[s] for x in xs) for s, xs in obs.items())
    else:
        want2 = {int(k): [c == "1" for c in v] for k, v in cx["schedule"].items()}
        states_ok = all(xs == want2[s][:len(xs)] for s, xs in obs.items())
    out = x86_result(m, cx, res, sc.to_json(m), t0, states_ok)
    out["schedule_by"] = sc.by
    return out


# -- random schedules for safe programs ------------------------------------------------------
def _interp_r0(obj, prog, inputs: dict, observed: dict[int, list[bool]], keys: dict):
    from model.interp.replay import make_keystate
    from model.interp.machine import Machine

    sched = {s.id: observed.get(s.id) or [keys[s.key]] for s in prog.sites}
    mach = Machine(prog, obj.maps, keys=make_keystate(prog, keys, None, sched))
    for name, entries in (inputs.get("maps") or {}).items():
        for k, v in entries.items():
            mach.maps[name].update(bytes.fromhex(k), bytes.fromhex(v), 0)
    r = mach.run(inputs.get("ctx"), inputs.get("packet"))
    return r


def random_schedules(obj, prog, n: int, *, seed: int = 0, max_toggles: int = 4,
                     differential: bool = True) -> dict:
    """``n`` runs, each with random initial key values, a random packet (packet programs),
    and CPU 1 toggling random keys up to ``max_toggles`` times, site by site in random order,
    its int3 protocol events at random CPU 0 instruction boundaries. Every run must end in
    ``exit``; with ``differential``, the interpreter run with the per-execution site states
    CPU 0 observed must return the same r0."""
    rng = random.Random(seed)
    keys = sorted(set(prog.keys()))
    machines: dict[tuple, X86Machine] = {}
    bad = []
    stats = {"runs": 0, "pokes": 0, "events_during_run": 0, "fetches": 0, "int3_fetches": 0,
             "mixed_runs": 0}
    t0 = time.perf_counter()
    ptype = prog.prog_type
    for i in range(n):
        kv = {k: bool(rng.getrandbits(1)) for k in keys}
        init = tuple(kv[k] for k in keys)
        m = machines.get(init)
        if m is None:
            m = machines[init] = X86Machine(obj, prog, {s.id: kv[s.key] for s in prog.sites})
        inputs: dict = {"ctx": None, "packet": None, "maps": {}}
        if ptype in ("socket_filter", "xdp", "sched_cls", "sched_act", "cgroup_skb"):
            inputs["packet"] = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 96)))
        if not hasattr(m, "_horizon"):       # CPU 0's run length, roughly (one probe)
            m._horizon = m.run(**inputs).steps * 5 // 4 + 2
        horizon = m._horizon
        pokes: list[Poke] = []
        cur = dict(kv)
        for _ in range(rng.randint(1, max_toggles) if keys else 0):  # no key: no toggles
            k = rng.choice(keys)
            cur[k] = not cur[k]
            idx = [j for j, (s, _) in enumerate(m.sites) if s.key == k]
            rng.shuffle(idx)
            pokes += [Poke(j, cur[k]) for j in idx]
        flat = [(k, e) for k, p in enumerate(pokes) for e in protocol(m, p)]
        steps = sorted(rng.randint(0, horizon) for _ in flat)
        events = [WEv(s, k, e) for s, (k, e) in zip(steps, flat)]
        res = m.run(**inputs, pokes=pokes, events=events)
        stats["runs"] += 1
        stats["pokes"] += len(pokes)
        stats["events_during_run"] += sum(0 < s < res.steps for s in steps)
        stats["fetches"] += len(res.fetches)
        stats["int3_fetches"] += sum(f.via == "int3" for f in res.fetches)
        obs = res.observed()
        per_key: dict[str, set] = {}
        for s, _ in m.sites:
            per_key.setdefault(s.key, set()).update(obs.get(s.id, []))
        stats["mixed_runs"] += any(len(v) > 1 for v in per_key.values())
        problem = None
        if res.status != "exit" or res.fault:
            problem = f"{res.status}: {res.fault.to_json() if res.fault else ''}"
        elif differential:
            r = _interp_r0(obj, prog, inputs, obs, kv)
            if r.status != "exit" or (r.r0 or 0) & (2**64 - 1) != res.rax:
                problem = (f"interpreter with the observed states: {r.status} r0={r.r0} "
                           f"{r.fault}, x86 rax={res.rax:#x}")
        if problem:
            bad.append({"run": i, "keys": kv, "pokes": [(p.site, p.to_on) for p in pokes],
                        "steps": steps, "problem": problem})
    stats["time_s"] = round(time.perf_counter() - t0, 3)
    return {"program": prog.name, "runs": n, "failures": bad, "stats": stats}


__all__ = ["Schedule", "confirm", "derive", "derive_m1", "derive_m2", "derive_z3",
           "random_schedules"]
