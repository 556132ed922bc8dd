"""Z3 soundness proofs of the abstract domain (``model.domains``) against the concrete BPF
semantics (``model.semantics.ops``), both run over ``Z3Backend`` -- the very code the
verifier runs over ``INT``.

Run ``python -m proofs.domain_soundness [--quick] [--jobs N] [--timeout S]``.

Claims (for all abstract inputs A, B that are well-formed -- ``var_off.value & mask == 0``
and ``min <= max`` for each of the four bound pairs -- and all concrete ``x`` in gamma(A),
``y`` in gamma(B); gamma = the tnum and all eight bounds, see ``model.domains.scalar``):

- ``alu`` op: ``ops.alu(x, y)`` is in gamma(``alu#(A, B)``);
- ``refine`` cond/edge: if ``ops.condition(x, y) == taken`` then the edge is feasible,
  ``x`` is in gamma(A') and ``y`` in gamma(B');
- ``branch_taken`` cond: verdict 1 => the condition holds, verdict 0 => it does not;
- ``bounds_sync``, load coercions, and the tnum operations on their own.

Stage by stage: the transfer functions and refinements are checked without their final
``bounds_sync`` (``sync=False``), and each stage of ``bounds_sync`` (update32, update64,
deduce32, deduce64, deduce-mixed, bound_offset) is proved on its own to keep every member
(x in gamma(s) => x in gamma(stage(s)), for every s). Since ``bounds_sync`` is a composition
of those stages, the synced results contain the concrete results too. (Monolithic
versions are too slow for Z3 even at 8 bits; ``--extra`` has them as cross-checks.) Each
claim is checked one conjunct of its conclusion at a time (jeq/jne verdicts also case by
case, with a residual case that makes the split complete).

A claim is proved at 64 bits unless marked otherwise; the ``w``-bit claims run the same
domain code at width ``w`` (the "32-bit" half is then ``w/2``) against ``ops`` evaluated
through ``Narrow``, a back-end adapter that renames widths 64/32/16/8 to w, w/2, w/4, w/8.
Deliberately broken variants must give a COUNTEREXAMPLE. Exit status 1 when a claim that
should hold is not PROVED or a broken variant is not refuted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass

from model.domains import scalar as sc
from model.domains import tnum as tn
from model.domains.scalar import Scalar, replace
from model.domains.scalar_alu import alu
from model.domains.scalar_branch import CONDS, branch_taken, refine
from model.isa import Alu
from model.semantics import ops
from model.semantics.backend import Z3Backend

TIMEOUT_S = 60


class Narrow:
    """``Z3Backend`` with the machine's widths renamed: 64 -> w, 32 -> w/2, 16 -> w/4,
    8 -> w/8, so ``ops.alu``/``ops.condition`` (written for 64-bit registers) run at width
    ``w``. The only width-dependent constants in them are the shift masks ``63``/``31``,
    mapped to ``w-1``/``w/2-1``."""

    def __init__(self, inner: Z3Backend, w: int):
        self.inner, self.W = inner, w
        self.map = {64: w, 32: w // 2, 16: w // 4, 8: w // 8}
        self.name = f"z3@{w}"

    def __getattr__(self, name):
        f = getattr(self.inner, name)
        if name in ("extract", "concat", "not_", "is_const", "and_b", "or_b", "bool_const",
                    "bool_ite"):
            return f

        def g(*args):
            args = list(args)
            if name in ("zext", "sext", "trunc"):
                args[1], args[2] = self.map[args[1]], self.map[args[2]]
            else:
                args[-1] = self.map[args[-1]]
            return f(*args)
        return g

    def const(self, v, w):
        nw = self.map[w]
        if v == w - 1 and w in (64, 32):
            v = nw - 1
        return self.inner.const(v, nw)


# -- symbolic abstract values -----------------------------------------------------------
def sym_scalar(Z, name: str, w: int) -> Scalar:
    z3 = Z.z3
    h = w // 2
    bv = lambda f, n: z3.BitVec(f"{name}.{f}", n)  # noqa: E731
    return Scalar(tn.Tnum(bv("value", w), bv("mask", w), w), bv("smin", w), bv("smax", w),
                  bv("umin", w), bv("umax", w), bv("s32_min", h), bv("s32_max", h),
                  bv("u32_min", h), bv("u32_max", h), w)


def premises(Z, *pairs):
    out = []
    for s, x in pairs:
        out += [sc.well_formed(Z, s), sc.contains(Z, s, x)]
    return out


def insn_for(op: str, is64: bool, off: int = 0) -> Alu:
    if op == "neg":
        return Alu("neg", is64, 0)
    if op in ("sdiv", "smod"):
        return Alu(op, is64, 0, 1, off=1)
    return Alu(op, is64, 0, 1, off=off)


# -- claims -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    name: str
    kind: str  # alu | refine | taken | sync | coerce | tnum | broken
    args: tuple
    w: int = 64
    expect: str = "PROVED"


def build(claim: Claim, Z):
    """(variables to report, premises, conclusion) for one claim."""
    z3 = Z.z3
    w = claim.w
    C = Z if w == 64 else Narrow(Z, w)
    A, Bs = sym_scalar(Z, "A", w), sym_scalar(Z, "B", w)
    x, y = z3.BitVec("x", w), z3.BitVec("y", w)
    k = claim.kind
    if k in ("alu", "broken"):
        op, is64, off, *whole = claim.args
        r = (alu(Z, op, is64, A, Bs, off, sync=bool(whole)) if k == "alu"
             else broken_add(Z, is64, A, Bs))
        concrete = ops.alu(C, insn_for(op, is64, off), x, y)
        return (A, Bs, x, y), premises(Z, (A, x), (Bs, y)), sc.contains(Z, r, concrete)
    if k == "refine":
        cond, is32, taken, *whole = claim.args
        ra, rb, ok = refine(Z, cond, is32, A, Bs, taken, sync=bool(whole))
        holds = ops.condition(C, cond, is32, x, y)
        pre = premises(Z, (A, x), (Bs, y)) + [holds if taken else z3.Not(holds)]
        return (A, Bs, x, y), pre, z3.And(ok, sc.contains(Z, ra, x), sc.contains(Z, rb, y))
    if k == "taken":
        cond, is32 = claim.args
        v = branch_taken(Z, cond, is32, A, Bs)
        holds = ops.condition(C, cond, is32, x, y)
        concl = z3.And(z3.Implies(v == 1, holds), z3.Implies(v == 0, z3.Not(holds)))
        hints = eq_split_hints(Z, A, Bs, is32) if cond in ("jeq", "jne") else []
        return (A, Bs, x, y), premises(Z, (A, x), (Bs, y)), concl, hints
    if k == "sync":
        (stage,) = claim.args
        return (A, x), premises(Z, (A, x)), sc.contains(Z, {**SYNC_STAGES, **WHOLE_SYNC}[stage](Z, A), x)
    if k == "coerce":
        size, signed = claim.args
        r = sc.coerce_to_size(A, size, signed, B=Z, sync=False)
        concrete = ops.extend_load(C, C.trunc(x, 64, 8 * size), size, signed)
        return (A, x), premises(Z, (A, x)), sc.contains(Z, r, concrete)
    if k == "tnum":
        (op,) = claim.args
        ta, tb = A.var_off, Bs.var_off
        pre = [tn.well_formed(Z, ta), tn.well_formed(Z, tb), tn.contains(Z, ta, x),
               tn.contains(Z, tb, y)]
        if op == "range":
            lo, hi = A.umin, A.umax
            return (A, x), [z3.ULE(lo, x), z3.ULE(x, hi)], tn.contains(Z, tn.range_(Z, lo, hi, w), x)
        if op == "union":
            t = tn.union(Z, ta, tb)
            return (A, Bs, x, y), pre[:3] + [tn.well_formed(Z, tb)], z3.And(
                tn.contains(Z, t, x), z3.Implies(tn.contains(Z, tb, y), tn.contains(Z, t, y)))
        concrete = {"add": x + y, "sub": x - y, "mul": x * y, "and": x & y, "or": x | y,
                    "xor": x ^ y}[op]
        t = {"add": tn.add, "sub": tn.sub, "mul": tn.mul, "and": tn.and_, "or": tn.or_,
             "xor": tn.xor}[op](Z, ta, tb)
        return (A, Bs, x, y), pre, z3.And(tn.contains(Z, t, concrete), tn.well_formed(Z, t))
    raise ValueError(k)


def eq_split_hints(Z, A, Bs, is32):
    """Case-split hints for the solver (jeq/jne verdicts): one case per reason the kernel
    may find two operands apart. Not trusted: ``run_claim`` also checks the residual case
    where none holds, so the split is complete whatever the hints are."""
    z3 = Z.z3
    ta, tb = A.var_off, Bs.var_off
    if is32:
        ta, tb = tn.subreg(Z, ta), tn.subreg(Z, tb)
    out = [z3.Not(tn.overlap(Z, ta, tb)),
           z3.ULT(Bs.u32_max, A.u32_min), z3.ULT(A.u32_max, Bs.u32_min),
           Bs.s32_max < A.s32_min, A.s32_max < Bs.s32_min]
    if not is32:
        out += [z3.ULT(Bs.umax, A.umin), z3.ULT(A.umax, Bs.umin), Bs.smax < A.smin,
                A.smax < Bs.smin]
    return out


def broken_add(Z, is64, A, Bs):
    """DELIBERATELY WRONG: the real add, then umin/umax replaced by plain sums that ignore
    unsigned overflow. Must be refuted."""
    r = alu(Z, "add", is64, A, Bs, sync=False)
    w = A.w
    return replace(r, umin=Z.add(A.umin, Bs.umin, w), umax=Z.add(A.umax, Bs.umax, w))


SYNC_STAGES = {  # bounds_sync = update32; update64; 3 x (deduce32; deduce64; mixed);
    # bound_offset; update32; update64
    "update_reg32_bounds": sc.update_reg32_bounds,
    "update_reg64_bounds": sc.update_reg64_bounds,
    "reg32_deduce_bounds": sc._reg32_deduce_bounds,
    "reg64_deduce_bounds": sc._reg64_deduce_bounds,
    "reg_deduce_mixed_bounds": sc._reg_deduce_mixed_bounds,
    "reg_bound_offset": sc.reg_bound_offset,
}
WHOLE_SYNC = {"whole": sc.bounds_sync}
ALU_OPS = ("add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh", "neg", "mov",
           "div", "mod", "sdiv", "smod")
MUL_WIDTH = 8  # tnum_mul's 64-step loop, unrolled, is out of reach at 64 (and 16) bits


def all_claims() -> list[Claim]:
    out = []
    for is64 in (True, False):
        tag = "64" if is64 else "32"
        for op in ALU_OPS:
            w = MUL_WIDTH if op == "mul" else 64
            out.append(Claim(f"alu {op}{tag}", "alu", (op, is64, 0), w))
        for off in ((8, 16, 32) if is64 else (8, 16)):
            out.append(Claim(f"alu movsx{tag} s{off}", "alu", ("movsx", is64, off)))
    for cond in CONDS:
        for is32 in (False, True):
            tag = "32" if is32 else "64"
            out.append(Claim(f"branch_taken {cond}{tag}", "taken", (cond, is32)))
            for taken in (True, False):
                out.append(Claim(f"refine {cond}{tag} {'taken' if taken else 'fallthrough'}",
                                 "refine", (cond, is32, taken)))
    for stage in SYNC_STAGES:
        out.append(Claim(f"bounds_sync stage {stage}", "sync", (stage,)))
    for size in (1, 2, 4):
        for signed in (False, True):
            out.append(Claim(f"load {'sx' if signed else 'zx'} {size}B", "coerce", (size, signed)))
    for op in ("add", "sub", "and", "or", "xor", "union", "range"):
        out.append(Claim(f"tnum_{op}", "tnum", (op,)))
    out.append(Claim("tnum_mul", "tnum", ("mul",), MUL_WIDTH))
    out.append(Claim("BROKEN add64 (no overflow check)", "broken", ("add", True, 0),
                     expect="COUNTEREXAMPLE"))
    return out


def extra_claims() -> list[Claim]:
    """``--extra``: monolithic cross-checks of the stage-by-stage argument at 8 bits (the
    whole bounds_sync: ~30-45 s; transfer functions with their final bounds_sync: > 60 s)
    and tnum_mul at 16 bits (> 60 s)."""
    return [Claim("bounds_sync (whole)", "sync", ("whole",), 8),
            Claim("alu add64 (whole, synced)", "alu", ("add", True, 0, "whole"), 8),
            Claim("refine jslt32 taken (whole, synced)", "refine",
                  ("jslt", True, True, "whole"), 8),
            Claim("tnum_mul", "tnum", ("mul",), 16)]


QUICK = ("alu add64", "alu and32", "refine jgt64 taken", "refine jset32 fallthrough",
         "branch_taken jeq64", "tnum_add", "bounds_sync stage update_reg64_bounds",
         "BROKEN add64 (no overflow check)")


def _describe(model, v, Z) -> str:
    def val(e):
        r = model.eval(e, model_completion=True)
        return r.as_long()
    if isinstance(v, Scalar):
        s = Scalar(tn.Tnum(val(v.var_off.value), val(v.var_off.mask), v.w),
                   *[val(getattr(v, f)) for f in ("smin", "smax", "umin", "umax", "s32_min",
                                                  "s32_max", "u32_min", "u32_max")], w=v.w)
        return repr(s)
    return hex(val(v))


def solver(z3):
    """Plain bit-blasting to SAT: far faster here than Z3's default QF_BV strategy, whose
    preprocessing (the ``simplify`` rewriter) stalls on the nested min/max ``ite`` chains."""
    return z3.Then("solve-eqs", "bit-blast", "sat").solver()


def conjuncts(z3, e):
    if z3.is_and(e):
        return [p for c in e.children() for p in conjuncts(z3, c)]
    return [e]


def run_claim(claim: Claim, timeout_s: int = TIMEOUT_S):
    Z = Z3Backend()
    z3 = Z.z3
    t0 = time.monotonic()
    shown, pre, concl, *hints = build(claim, Z)
    cases = hints[0] if hints else []
    cases = cases + [z3.Not(z3.Or(*cases))] if cases else [z3.BoolVal(True)]
    # one solver call per conjunct of the conclusion (much faster than the whole at once),
    # and per case of the optional split (the cases cover everything)
    r = z3.unsat
    for part in (conjuncts(z3, concl) if "whole" not in claim.name else [concl]):
        for case in cases:
            s = solver(z3)
            s.set("timeout", max(1, int((timeout_s - (time.monotonic() - t0)) * 1000)))
            s.add(*pre)
            s.add(case)
            s.add(z3.Not(part))
            r = s.check()
            if r != z3.unsat:
                break
        if r != z3.unsat:
            break
    dt = time.monotonic() - t0
    if r == z3.unsat:
        return claim, "PROVED", dt, ""
    if r == z3.sat:
        m = s.model()
        names = ("A", "B", "x", "y") if len(shown) == 4 else ("A", "x")
        detail = "; ".join(f"{n}={_describe(m, v, Z)}" for n, v in zip(names, shown))
        return claim, "COUNTEREXAMPLE", dt, detail
    return claim, "TIMEOUT", dt, ""


def _worker(args):
    try:
        return run_claim(*args)
    except Exception as e:  # report, don't lose the other claims
        return args[0], "ERROR", 0.0, f"{type(e).__name__}: {e}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small subset (used by the tests)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds per claim")
    p.add_argument("--only", default=None, help="claims whose name contains this text")
    p.add_argument("--extra", action="store_true", help="add the slow monolithic cross-checks")
    a = p.parse_args(argv)
    claims = all_claims() + (extra_claims() if a.extra else [])
    if a.quick:
        claims = [c for c in claims if c.name in QUICK]
    if a.only:
        claims = [c for c in claims if a.only in c.name]
    print(f"{'claim':42} {'width':>5}  {'result':14} {'time':>7}")
    failed = 0
    t0 = time.monotonic()
    jobs = [(c, a.timeout) for c in claims]
    pool = mp.get_context("fork").Pool(a.jobs) if a.jobs > 1 and len(jobs) > 1 else None
    results = pool.imap(_worker, jobs) if pool else map(_worker, jobs)
    n = 0
    for claim, res, dt, detail in results:
        n += 1
        bad = res != claim.expect
        failed += bad
        note = " (expected)" if claim.expect != "PROVED" and not bad else ""
        note += "  <-- UNEXPECTED" if bad else ""
        print(f"{claim.name:42} {claim.w:>5}  {res:14} {dt:6.1f}s{note}")
        if detail:
            print(f"    {detail}")
        sys.stdout.flush()
    if pool:
        pool.close()
    print(f"{n} claims, {failed} unexpected, {time.monotonic() - t0:.0f}s wall")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
