"""The per-program analysis: explore (``engine``), decide M0/M1/M2 (``models``), extract
and replay counterexamples (``cex``), and cross-check the abstract verifier.

Cross-check: the verifier follows both edges of every site on every execution, so its
verdict is M2's. If it accepts and Z3 finds an unsafe M2 execution, that is a verifier
soundness bug (``status: "SOUNDNESS BUG"``). If it rejects, Z3 either confirms the alarm
with a replayed counterexample or, when no M2 execution is unsafe, classifies it as
imprecision. Budgets that ran out are reported; then "safe" is not a proof.
"""

from __future__ import annotations

import time

import z3

from model.symbolic import cex as C
from model.symbolic.engine import Budget, Engine
from model.symbolic.models import _solver, analyse, key_var, site_var, unsafe_formula

MAX_CEX_TRIES = 6


def _site_name(prog, sid: int) -> str:
    return f"pc{next(s.pc for s in prog.sites if s.id == sid)}"


def _first_confirmed(eng, obj, model: str, extra=None):
    """Try failures one by one (most specific first) until a replay confirms one."""
    first = None
    for f in eng.res.failures[:MAX_CEX_TRIES]:
        s = _solver(eng)
        s.add(unsafe_formula(eng, model, [f]))
        if extra is not None:
            s.add(extra)
        if s.check() != z3.sat:
            continue
        cx = C.replay(obj, eng.prog, C.build(eng, s.model(), model, f))
        if cx["confirmed"]:
            return cx
        first = first or cx
    return first


def analyse_program(obj, prog, *, budget: Budget | None = None, verifier=None,
                    obj_path: str | None = None, prog_flags: int = 0) -> dict:
    t0 = time.perf_counter()
    eng = Engine(obj, prog, budget, prog_flags)
    res = eng.run()
    a = analyse(eng)
    out: dict = {"M0": {"safe": a["M0"]["safe"], "unsafe_when": a["M0"]["unsafe_when"]},
                 "M1": {"safe": a["M1"]["safe"], "unsafe_when": a["M1"]["unsafe_when"]},
                 "M2": {"safe": a["M2"]["safe"]}}
    counterexample = None
    if not a["M0"]["safe"]:
        counterexample = _first_confirmed(eng, obj, "M0")
    w1 = a["M1_beyond_M0"]
    if w1 is not None:
        cx = C.replay(obj, prog, C.build(eng, w1["model"], "M1"))
        base = {k: int(z3.is_true(w1["model"].eval(key_var(k), model_completion=True)))
                for k in prog.keys()}
        out["M1"]["beyond_M0"] = {"deviating_sites": w1["deviating_sites"], "base_keys": base,
                                  "sites": {_site_name(prog, int(k)): v
                                            for k, v in cx["sites"].items()},
                                  "confirmed": cx["confirmed"]}
        counterexample = counterexample or cx
    w2 = a["M2_beyond_M1"]
    if w2 is not None:
        cx = C.replay(obj, prog, C.build(eng, w2["model"], "M2"))
        base = {_site_name(prog, s.id): int(z3.is_true(
            w2["model"].eval(site_var(s), model_completion=True))) for s in prog.sites}
        out["M2"]["beyond_M1"] = {"deviating_executions": w2["deviating_executions"],
                                  "base_sites": base,
                                  "schedule": {_site_name(prog, int(k)): [int(c) for c in v]
                                               for k, v in cx["schedule"].items()},
                                  "confirmed": cx["confirmed"]}
        counterexample = counterexample or cx
    if counterexample is None and not a["M2"]["safe"]:
        counterexample = _first_confirmed(eng, obj, "M2")
    complete = not res.exhausted and a["M0"]["complete"] and a["M1"]["complete"]
    doc = {"models": out, "counterexample": counterexample, "complete": complete,
           "exhausted": list(res.exhausted),
           "stats": {"steps": res.steps, "merges": res.merges, "queries": res.queries,
                     "failures": len(res.failures), "explore_s": round(res.time_s, 4),
                     "time_s": round(time.perf_counter() - t0, 4)}}
    if verifier is not None:
        doc["cross_check"] = cross_check(verifier.accepted, doc)
    return doc


def cross_check(accepted: bool, doc: dict) -> str:
    m2_unsafe = not doc["models"]["M2"]["safe"]
    cx = doc["counterexample"]
    if accepted:
        if m2_unsafe:
            return "SOUNDNESS BUG"
        return "agree: safe" if doc["complete"] else "verifier accepts; BOUND REACHED"
    if m2_unsafe:
        return "agree: confirmed" if cx and cx.get("confirmed") else \
            "agree: unsafe (replay not confirmed)"
    return "imprecision (no unsafe execution)" if doc["complete"] else \
        "verifier rejects; BOUND REACHED"


def summary(doc: dict) -> str:
    """One line per program for ``skv check``."""
    m = doc["models"]
    cubes = m["M0"]["unsafe_when"]
    m0 = "safe" if not cubes else "unsafe when " + " | ".join(
        ",".join(f"{k}={v}" for k, v in sorted(c.items())) or "always" for c in cubes)
    parts = [f"M0 {m0}"]
    b1 = m["M1"].get("beyond_M0")
    parts.append("M1 " + ("safe" if m["M1"]["safe"] else "unsafe") +
                 (f" (+{b1['deviating_sites']} deviating site(s): {b1['sites']})" if b1 else ""))
    b2 = m["M2"].get("beyond_M1")
    parts.append("M2 " + ("safe" if m["M2"]["safe"] else "unsafe") +
                 (f" (+{b2['deviating_executions']} deviating execution(s): "
                  f"{b2['schedule']})" if b2 else ""))
    cx = doc["counterexample"]
    if cx:
        parts.append(f"cex {cx['model']} at insn {cx.get('pc')} "
                     + ("confirmed" if cx.get("confirmed") else "NOT confirmed"))
    if doc["exhausted"]:
        parts.append("budgets: " + ", ".join(doc["exhausted"]))
    return "; ".join(parts)


__all__ = ["analyse_program", "cross_check", "summary", "Budget"]
