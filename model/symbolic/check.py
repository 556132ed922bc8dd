"""The per-program analysis: explore (``engine``), decide M0/M1/M2 (``models``), extract
and replay counterexamples (``cex``), and cross-check the abstract verifier.

Cross-check: the verifier follows both edges of every site on every execution, so its
verdict is M2's. If it accepts and Z3 finds an unsafe M2 execution, that is a verifier
soundness bug (``status: "SOUNDNESS BUG"``). If it rejects, Z3 either confirms the alarm
with a replayed counterexample or, when no M2 execution is unsafe, classifies it as
imprecision. Budgets that ran out are reported; then "safe" is not a proof.

Neither engine hides the other's gap: Z3 decides what *executes* safely, the verifier
decides what the kernel's rules accept (ranges learnt only from the comparisons the kernel
tracks, pointer rules, ...). A model is reported "safe" only when both say so. The
verifier's verdict on the both-edges program is M2's; when it rejects, M0 and M1 are
"safe" only if the verifier accepts every materialised key (M0) or site (M1) assignment,
checked one by one up to ``MAX_RULE_CHECKS`` assignments; otherwise the answer is ``None``
("unknown"), never "safe". Without a verdict passed in, the verifier is run here.

When Z3 cannot finish (a budget ran out, or the program uses a feature it does not model:
callbacks, references, typed pointers...) and found no unsafe execution, while the verifier
accepts the both-edges program, a model's ``safe`` stays ``None`` but ``rules_safe`` is
true: safe by the kernel's rules alone ("safe by the verifier alone" in the summary), the
answer real programs get where the cross-check is out of reach.
"""

from __future__ import annotations

import time

import z3

from model.errors import SkvError
from model.symbolic import cex as C
from model.symbolic.engine import Budget, Engine
from model.symbolic.models import _solver, analyse, key_var, site_var, unsafe_formula

MAX_CEX_TRIES = 6
#: materialised assignments the verifier checks one by one to confirm an M0/M1 "safe"
MAX_RULE_CHECKS = 64


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
    if verifier is None:
        from model.verifier.checker import check_program

        verifier = check_program(obj, prog, time_limit=(budget or Budget()).time_s,
                                 prog_flags=prog_flags)
    eng = Engine(obj, prog, budget, prog_flags)
    res = eng.run()
    a = analyse(eng)
    explored = not res.exhausted
    rules = {"M2": verifier.accepted}
    for m in ("M0", "M1"):
        rules[m] = verifier.accepted or (a[m]["safe"] and explored and a[m]["complete"]
                                         and _rules_accept_each(obj, prog, m, budget,
                                                                prog_flags))
    out: dict = {m: {"safe": _safe(a[m]["safe"], explored and rules[m]
                                   and a[m].get("complete", True))}
                 for m in ("M0", "M1", "M2")}
    for m in ("M0", "M1"):
        out[m]["unsafe_when"] = a[m]["unsafe_when"]
    for m in ("M0", "M1", "M2"):
        # Z3 could not finish (a budget, a feature it does not model) but found nothing,
        # and the verifier accepts the both-edges program, which covers every execution of
        # every model: safe by the kernel's rules alone, without Z3's cross-check
        out[m]["rules_safe"] = bool(out[m]["safe"] is None and a[m]["safe"]
                                    and verifier.accepted)
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
    doc["cross_check"] = cross_check(verifier.accepted, doc)
    return doc


def _rules_accept_each(obj, prog, model: str, budget: Budget | None,
                       prog_flags: int = 0) -> bool:
    """The verifier accepts every materialised assignment of ``model`` (M0: keys, M1:
    sites); False when there are more than MAX_RULE_CHECKS of them."""
    import itertools

    from model.materialize import materialize
    from model.verifier.checker import check_program

    names = prog.keys() if model == "M0" else [s.id for s in prog.sites]
    if 2 ** len(names) > MAX_RULE_CHECKS:
        return False
    limit = (budget or Budget()).time_s
    for bits in itertools.product((False, True), repeat=len(names)):
        a = dict(zip(names, bits))
        try:
            p = materialize(prog, keys=a) if model == "M0" else materialize(prog, sites=a)
        except SkvError:
            return False
        if not check_program(obj, p, time_limit=limit, prog_flags=prog_flags).accepted:
            return False
    return True


def _safe(found_safe: bool, complete: bool) -> bool | None:
    """A model's answer: False (an unsafe execution exists), True (none, and the analysis
    was complete), None (none found, but a budget ran out: unknown, never "safe")."""
    if not found_safe:
        return False
    return True if complete else None


def _word(model: dict) -> str:
    if model["safe"] is None and model.get("rules_safe"):
        return "safe by the verifier alone"
    return {True: "safe", False: "unsafe", None: "unknown"}[model["safe"]]


def cross_check(accepted: bool, doc: dict) -> str:
    m2_unsafe = doc["models"]["M2"]["safe"] is False
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


#: unsafe key combinations shown in the one-line summary (``--json`` has them all)
SUMMARY_CUBES = 8


def summary(doc: dict) -> str:
    """One line per program for ``skv check``."""
    m = doc["models"]
    cubes = m["M0"]["unsafe_when"]
    shown = " | ".join(",".join(f"{k}={v}" for k, v in sorted(c.items())) or "always"
                       for c in cubes[:SUMMARY_CUBES])
    if len(cubes) > SUMMARY_CUBES:
        shown += f" | ... {len(cubes) - SUMMARY_CUBES} more (--json lists them)"
    m0 = _word(m["M0"]) if not cubes else "unsafe when " + shown
    parts = [f"M0 {m0}"]
    b1 = m["M1"].get("beyond_M0")
    parts.append("M1 " + _word(m["M1"]) +
                 (f" (+{b1['deviating_sites']} deviating site(s): {b1['sites']})" if b1 else ""))
    b2 = m["M2"].get("beyond_M1")
    parts.append("M2 " + _word(m["M2"]) +
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
