"""Key models over the engine's failures: site variables per model, the exact M0 / M1
unsafe sets as cubes, and the smallest witnesses of unsafety M1 / M2 add.

The engine names the state a site shows at its n-th execution ``e_<id>_<n>`` (M2). M1 is
the substitution ``e_<id>_<n> := s_<id>`` (``pcN`` in cubes), M0 ``e_<id>_<n> := k_<key>``.
The unsafe condition of a model is ``U = \\/_i F_i[subst]`` over site/key variables and
inputs (ctx and packet bytes, packet length, map contents, helper results).

**Projection onto keys (AllSAT with cube generalisation).** Repeat: find a model of
``U /\\ not(cubes so far)``; fix the inputs to the model's values (``U[d*]``, a formula over
key variables only); the unsat core of ``not U[d*]`` under the model's key literals, then
dropping literals one at a time while ``not U[d*]`` stays unsat, gives a cube every
assignment of which is unsafe (with the same inputs d*); block the cube. Every cube is
exactly unsafe, and the loop stops only when no unsafe assignment is left outside the
cubes, so their union is the exact unsafe set, found with (#cubes x #keys) small queries
and never by enumerating assignments.
"""

from __future__ import annotations

import z3


def key_var(key: str):
    return z3.Bool(f"k_{key}")


def site_var(site):
    return z3.Bool(f"s_{site.id}")


def substitution(eng, model: str) -> list:
    by_id = {s.id: s for s in eng.prog.sites}
    out = []
    for (sid, n), e in eng.site_vars.items():
        s = by_id[sid]
        out.append((e, key_var(s.key) if model == "M0" else site_var(s)))
    return out


def unsafe_formula(eng, model: str, failures=None):
    fs = [f.cond for f in (eng.res.failures if failures is None else failures)]
    if not fs:
        return z3.BoolVal(False)
    u = z3.Or(*fs) if len(fs) > 1 else fs[0]
    if model == "M2":
        return u
    sub = substitution(eng, model)
    return z3.substitute(u, *sub) if sub else u


def _consts(f) -> tuple[list, list]:
    """Uninterpreted constants and functions of ``f``."""
    seen, consts, funcs = set(), {}, {}
    todo = [f]
    while todo:
        e = todo.pop()
        i = e.get_id()
        if i in seen:
            continue
        seen.add(i)
        if z3.is_app(e):
            d = e.decl()
            if d.kind() == z3.Z3_OP_UNINTERPRETED:
                if d.arity() == 0:
                    consts[d.name()] = e
                else:
                    funcs[d.name()] = d
            todo.extend(e.children())
        elif z3.is_quantifier(e):
            todo.append(e.body())
    return list(consts.values()), list(funcs.values())


def _solver(eng):
    s = z3.Solver()
    s.set("timeout", eng.query_ms())
    s.add(eng.lay.assumptions())
    return s


def _check(eng, s, *assumptions):
    """``s.check`` within the analysis deadline (an expired deadline answers unknown)."""
    if eng.out_of_time():
        return z3.unknown
    s.set("timeout", eng.query_ms())
    return s.check(*assumptions)


def cubes(eng, u, names: dict[str, object], what: str = "unsafe combinations"):
    """The exact set of assignments of ``names`` (name -> Bool var) that make ``u``
    satisfiable, as cubes ``{name: 0|1}``, at most ``eng.budget.cubes`` of them. Returns
    (cubes, complete?); an incomplete list says why in the engine's exhausted budgets."""
    s = _solver(eng)
    s.add(u)
    out: list[dict] = []
    var_names = {str(v): n for n, v in names.items()}
    consts, funcs = _consts(u)
    data = [c for c in consts if str(c) not in var_names]
    while True:
        if len(out) >= eng.budget.cubes:
            eng._exhaust(f"{what}: listing stopped at {eng.budget.cubes}")
            return out, False
        r = _check(eng, s)
        if r == z3.unknown:
            return out, False
        if r == z3.unsat:
            return out, True
        m = s.model()
        lits = [v if z3.is_true(m.eval(v, model_completion=True)) else z3.Not(v)
                for v in names.values()]
        ud = z3.substitute(u, *[(c, m.eval(c, model_completion=True)) for c in data]) \
            if data else u
        if funcs:
            ud = z3.substitute_funs(ud, *[(f, _fun_value(m, f)) for f in funcs])
        g = z3.Solver()
        g.add(z3.Not(ud))
        core = lits
        if _check(eng, g, *lits) == z3.unsat:
            core_ids = {str(x) for x in g.unsat_core()}
            core = [l for l in lits if str(l) in core_ids]
            for l in list(core):
                trial = [x for x in core if x is not l]
                if _check(eng, g, *trial) == z3.unsat:
                    core = trial
        cube = {}
        for l in core:
            v = l.arg(0) if z3.is_not(l) else l
            cube[var_names[str(v)]] = 0 if z3.is_not(l) else 1
        out.append(cube)
        s.add(z3.Not(z3.And(*core)) if core else z3.BoolVal(False))


def _fun_value(m, f):
    """A term for the model's interpretation of unary function ``f``, over Var(0)."""
    x = z3.Var(0, f.domain(0))
    c = z3.FreshConst(f.domain(0), "arg")
    body = m.eval(f(c), model_completion=False)  # the model's interpretation, applied to c
    if any(d.name() == f.name() for d in _consts(body)[1]):  # no interpretation: any will do
        return z3.BitVecVal(0, f.range().size())
    return z3.substitute(body, (c, x))


def matches_none(cubes_: list[dict], names: dict[str, object]):
    """Constraint: the assignment of ``names`` matches none of ``cubes_``."""
    out = []
    for c in cubes_:
        lits = [names[k] if v else z3.Not(names[k]) for k, v in c.items()]
        out.append(z3.Not(z3.And(*lits)) if lits else z3.BoolVal(False))
    return z3.And(*out) if out else z3.BoolVal(True)


def smallest(eng, u, deviations: list, extra=None):
    """A model of ``u /\\ extra`` with the fewest true ``deviations`` literals:
    (model, count) or (None, None)."""
    s = _solver(eng)
    s.add(u)
    if extra is not None:
        s.add(extra)
    if _check(eng, s) != z3.sat:
        return None, None
    for d in range(0, len(deviations) + 1):
        s.push()
        if deviations:
            s.add(z3.AtMost(*deviations, d))
        if _check(eng, s) == z3.sat:
            m = s.model()
            s.pop()
            return m, d
        s.pop()
    return None, None


def analyse(eng) -> dict:
    """M0/M1 cubes, M2 safety, and the smallest M1-over-M0 / M2-over-M1 witnesses."""
    prog = eng.prog
    keys = {k: key_var(k) for k in prog.keys()}
    sites = {f"pc{s.pc}": site_var(s) for s in prog.sites}
    u0, u1, u2 = (unsafe_formula(eng, m) for m in ("M0", "M1", "M2"))
    c0, ok0 = cubes(eng, u0, keys, "M0 unsafe key assignments")
    c1, ok1 = cubes(eng, u1, sites, "M1 unsafe site states")
    m2_unsafe = bool(eng.res.failures)
    out = {"M0": {"safe": not c0, "unsafe_when": c0, "complete": ok0},
           "M1": {"safe": not c1, "unsafe_when": c1, "complete": ok1},
           "M2": {"safe": not m2_unsafe}}
    # M1 beyond M0: a safe uniform assignment, fewest sites deviating from it
    dev1 = [site_var(s) != key_var(s.key) for s in prog.sites]
    mixed = [site_var(a) != site_var(b) for a in prog.sites for b in prog.sites
             if a.key == b.key and a.id < b.id]  # a state no M0 assignment gives
    m, d = (smallest(eng, u1, dev1, z3.And(matches_none(c0, keys), z3.Or(*mixed)))
            if c1 and mixed else (None, None))
    out["M1_beyond_M0"] = None if m is None else {"deviating_sites": d, "model": m}
    # M2 beyond M1: a safe per-site assignment, fewest executions deviating from it
    by_id = {s.id: s for s in prog.sites}
    dev2 = [e != site_var(by_id[sid]) for (sid, n), e in sorted(eng.site_vars.items())]
    varying = [e != eng.site_vars[(sid, 0)] for (sid, n), e in eng.site_vars.items() if n]
    m, d = (smallest(eng, u2, dev2, z3.And(matches_none(c1, sites), z3.Or(*varying)))
            if m2_unsafe and varying else (None, None))
    out["M2_beyond_M1"] = None if m is None else {"deviating_executions": d, "model": m}
    return out


__all__ = ["analyse", "cubes", "unsafe_formula", "substitution", "key_var", "site_var",
           "smallest", "matches_none"]
