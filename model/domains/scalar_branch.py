"""Conditional jumps on two scalars (Linux 6.18 ``is_scalar_branch_taken`` and
``regs_refine_cond_op`` + ``reg_bounds_sync``), written once over a back end ``B``.

Conditions: jeq jne jgt jge jlt jle jsgt jsge jslt jsle jset, 64-bit or 32-bit (``is32``:
the low halves are compared). The not-taken edge of ``c`` is refined as the kernel does,
with ``rev_opcode(c)``; the reverse of ``jset`` is the internal ``jset_not``.
"""

from __future__ import annotations


from model.domains import tnum as tn
from model.domains.scalar import (Scalar, bounds_sync, exact_const, ite, mark_unbounded,
                                  Memo, range_bounds_violation, replace)
from model.semantics import ops
from model.semantics.backend import INT, IntBackend, to_signed

CONDS = ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset")
REV = {"jeq": "jne", "jne": "jeq", "jset": "jset_not", "jset_not": "jset",
       "jgt": "jle", "jle": "jgt", "jge": "jlt", "jlt": "jge",
       "jsgt": "jsle", "jsle": "jsgt", "jsge": "jslt", "jslt": "jsge"}
FLIP = {"jge": "jle", "jgt": "jlt", "jsge": "jsle", "jsgt": "jslt"}  # with swapped operands


class _View:
    """One operand as the comparison sees it: the whole register or its low half."""

    def __init__(self, B, s: Scalar, is32: bool):
        self.t = tn.subreg(B, s.var_off) if is32 else s.var_off
        if is32:
            self.umin, self.umax, self.smin, self.smax = s.u32_min, s.u32_max, s.s32_min, s.s32_max
        else:
            self.umin, self.umax, self.smin, self.smax = s.umin, s.umax, s.smin, s.smax


def _is_reg_const(B, s: Scalar, is32: bool):
    return tn.is_const(B, tn.subreg(B, s.var_off) if is32 else s.var_off)


def _taken(B, cond: str, is32: bool, a: Scalar, b: Scalar):
    """(always true, always false) as back-end booleans."""
    w, h = a.w, a.w // 2
    ww = h if is32 else w
    x, y = _View(B, a, is32), _View(B, b, is32)
    if cond in ("jeq", "jne"):
        both = B.and_b(tn.is_const(B, x.t), tn.is_const(B, y.t))
        same = B.eq(x.t.value, y.t.value, w)
        apart = [B.not_(tn.overlap(B, x.t, y.t)),
                 B.ult(y.umax, x.umin, ww), B.ult(x.umax, y.umin, ww),
                 B.slt(y.smax, x.smin, ww), B.slt(x.smax, y.smin, ww)]
        if not is32:
            apart += [B.ult(b.u32_max, a.u32_min, h), B.ult(a.u32_max, b.u32_min, h),
                      B.slt(b.s32_max, a.s32_min, h), B.slt(a.s32_max, b.s32_min, h)]
        never = B.bool_ite(both, B.not_(same), B.or_b(*apart))
        always = B.and_b(both, same)
        return (always, never) if cond == "jeq" else (never, always)
    if cond == "jset":
        swap = B.not_(tn.is_const(B, y.t))
        t1, t2 = tn.ite(B, swap, y.t, x.t), tn.ite(B, swap, x.t, y.t)
        c2 = tn.is_const(B, t2)
        zero = B.const(0, w)
        known1 = B.and_(B.and_(tn._not(B, t1.mask, w), t1.value, w), t2.value, w)
        maybe1 = B.and_(B.or_(t1.mask, t1.value, w), t2.value, w)
        always = B.and_b(c2, B.not_(B.eq(known1, zero, w)))
        never = B.and_b(c2, B.eq(known1, zero, w), B.eq(maybe1, zero, w))
        return always, never
    lt, le = (B.slt, B.sle) if cond.startswith("js") else (B.ult, B.ule)
    lo1, hi1, lo2, hi2 = ((x.smin, x.smax, y.smin, y.smax) if cond.startswith("js")
                          else (x.umin, x.umax, y.umin, y.umax))
    base = cond[2:] if cond.startswith("js") else cond[1:]
    if base == "gt":
        t, f = lt(hi2, lo1, ww), le(hi1, lo2, ww)
    elif base == "ge":
        t, f = le(hi2, lo1, ww), lt(hi1, lo2, ww)
    elif base == "lt":
        t, f = lt(hi1, lo2, ww), le(hi2, lo1, ww)
    elif base == "le":
        t, f = le(hi1, lo2, ww), lt(hi2, lo1, ww)
    else:
        raise ValueError(f"no branch logic for {cond}")
    return t, B.and_b(B.not_(t), f)


def branch_taken(B, cond: str, is32: bool, a: Scalar, b: Scalar):
    """The kernel's verdict: 1 (always taken), 0 (never), -1 (unknown). Over the int back end
    a Python int; otherwise an 8-bit back-end value (0xff for -1)."""
    t, f = _taken(B, cond, is32, a, b)
    r = B.ite(t, B.const(1, 8), B.ite(f, B.const(0, 8), B.const(0xFF, 8), 8), 8)
    return to_signed(r, 8) if isinstance(B, IntBackend) else r


def _both_const(B, a: Scalar, b: Scalar) -> bool:
    return B is INT and a.w == 64 and exact_const(a) and exact_const(b)


def scalar_branch_taken(B, cond: str, is32: bool, a: Scalar, b: Scalar):
    """Int back end: True / False when decided, None when both edges are possible. Two
    exact constants: the concrete condition, which is what the kernel's logic gives then
    (tests/test_domains_fast.py compares them)."""
    if B is INT:
        key = (cond, is32, a, b)
        got = _TAKEN_MEMO.get(key, _MISSING)
        if got is not _MISSING:
            return got
    if cond in CONDS and _both_const(B, a, b):
        got = bool(ops.condition(INT, cond, is32, a.umin, b.umin))
    else:
        r = branch_taken(B, cond, is32, a, b)
        got = None if r == -1 else bool(r)
    if B is INT:
        _TAKEN_MEMO.put(key, got)
    return got


_MISSING = object()
_TAKEN_MEMO = Memo()  # (cond, is32, a, b) -> scalar_branch_taken
_REFINE_MEMO = Memo()  # (cond, is32, a, b, taken) -> scalar_refine


# -- refinement -------------------------------------------------------------------------
def _const_value(B, s: Scalar, is32: bool):
    return tn.subreg(B, s.var_off).value if is32 else s.var_off.value


def _swap_if(B, c, r1: Scalar, r2: Scalar):
    return ite(B, c, r2, r1), ite(B, c, r1, r2)


def _with_const_operand(B, is32, r1, r2, refine_one):
    """The JNE/JSET pattern: make ``r2`` the constant (swap if needed), refine ``r1`` with
    its value, swap back; nothing learned when neither is constant."""
    swap = B.not_(_is_reg_const(B, r2, is32))
    a1, a2 = _swap_if(B, swap, r1, r2)
    a1 = ite(B, _is_reg_const(B, a2, is32), refine_one(a1, _const_value(B, a2, is32)), a1)
    return _swap_if(B, swap, a1, a2)


def _refine_op(B, op: str, is32: bool, r1: Scalar, r2: Scalar):
    """``regs_refine_cond_op``: both operands on the edge where ``r1 <op> r2`` holds."""
    if op in FLIP:
        r2n, r1n = _refine_op(B, FLIP[op], is32, r2, r1)
        return r1n, r2n
    w, h = r1.w, r1.w // 2
    ww = h if is32 else w
    pre = "s32_" if is32 else "s"
    upre = "u32_" if is32 else "u"
    umin_f, umax_f, smin_f, smax_f = f"{upre}min", f"{upre}max", f"{pre}min", f"{pre}max"
    g = getattr
    if op == "jeq":
        lo_u = B.umax(g(r1, umin_f), g(r2, umin_f), ww)
        hi_u = B.umin(g(r1, umax_f), g(r2, umax_f), ww)
        lo_s = B.smax(g(r1, smin_f), g(r2, smin_f), ww)
        hi_s = B.smin(g(r1, smax_f), g(r2, smax_f), ww)
        kw = {umin_f: lo_u, umax_f: hi_u, smin_f: lo_s, smax_f: hi_s}
        if is32:
            t = tn.intersect(B, tn.subreg(B, r1.var_off), tn.subreg(B, r2.var_off))
            return (replace(r1, var_off=tn.with_subreg(B, r1.var_off, t), **kw),
                    replace(r2, var_off=tn.with_subreg(B, r2.var_off, t), **kw))
        t = tn.intersect(B, r1.var_off, r2.var_off)
        return replace(r1, var_off=t, **kw), replace(r2, var_off=t, **kw)
    if op == "jne":
        def not_val(a: Scalar, val):
            v = B.trunc(val, w, ww)
            one = B.const(1, ww)

            def step(field, delta):
                cur = g(a, field)
                return B.ite(B.eq(cur, v, ww), delta(cur, one, ww), cur, ww)
            return replace(a, **{umin_f: step(umin_f, B.add), umax_f: step(umax_f, B.sub),
                                 smin_f: step(smin_f, B.add), smax_f: step(smax_f, B.sub)})
        return _with_const_operand(B, is32, r1, r2, not_val)
    if op == "jset":
        def set_bit(a: Scalar, val):
            zero = B.const(0, w)
            pow2 = B.and_b(B.not_(B.eq(val, zero, w)),
                           B.eq(B.and_(val, B.sub(val, B.const(1, w), w), w), zero, w))
            if is32:
                t = tn.or_(B, tn.subreg(B, a.var_off), tn.const(B, val, w))
                new = tn.with_subreg(B, a.var_off, t)
            else:
                new = tn.or_(B, a.var_off, tn.const(B, val, w))
            return replace(a, var_off=tn.ite(B, pow2, new, a.var_off))
        return _with_const_operand(B, is32, r1, r2, set_bit)
    if op == "jset_not":
        def clear_bits(a: Scalar, val):
            a = mark_unbounded(B, a)
            inv = tn.const(B, tn._not(B, val, w), w)
            if is32:
                t = tn.and_(B, tn.subreg(B, a.var_off), inv)
                return replace(a, var_off=tn.with_subreg(B, a.var_off, t))
            return replace(a, var_off=tn.and_(B, a.var_off, inv))
        return _with_const_operand(B, is32, r1, r2, clear_bits)
    if op in ("jle", "jlt", "jsle", "jslt"):
        signed = op.startswith("js")
        lo_f, hi_f = (smin_f, smax_f) if signed else (umin_f, umax_f)
        mn, mx = (B.smin, B.smax) if signed else (B.umin, B.umax)
        one = B.const(1, ww)
        hi2, lo1 = g(r2, hi_f), g(r1, lo_f)
        if op.endswith("lt"):
            hi2, lo1 = B.sub(hi2, one, ww), B.add(lo1, one, ww)
        return (replace(r1, **{hi_f: mn(g(r1, hi_f), hi2, ww)}),
                replace(r2, **{lo_f: mx(lo1, g(r2, lo_f), ww)}))
    raise ValueError(f"no refinement for {op}")


def refine(B, cond: str, is32: bool, a: Scalar, b: Scalar, taken: bool, sync: bool = True):
    """Both operands on the taken (``taken=True``) or fall-through edge, synced, and whether
    the edge is feasible (no bounds crossed: the kernel's ``range_bounds_violation``).
    ``sync=False`` skips ``bounds_sync`` (the proofs check it separately)."""
    op = cond if taken else REV[cond]
    r1, r2 = _refine_op(B, op, is32, a, b)
    if sync:
        r1, r2 = bounds_sync(B, r1), bounds_sync(B, r2)
    bad = B.or_b(range_bounds_violation(B, r1), range_bounds_violation(B, r2))
    return r1, r2, B.not_(bad)


def scalar_refine(B, cond: str, is32: bool, a: Scalar, b: Scalar, taken: bool):
    """``refine``; two exact constants on the edge they take are left as they are, which
    is what the refinement gives then (tests/test_domains_fast.py compares them)."""
    if B is not INT:
        return refine(B, cond, is32, a, b, taken)
    key = (cond, is32, a, b, taken)
    got = _REFINE_MEMO.get(key)
    if got is None:
        if (cond in CONDS and _both_const(B, a, b)
                and bool(ops.condition(INT, cond, is32, a.umin, b.umin)) == taken):
            got = a, b, True
        else:
            got = refine(B, cond, is32, a, b, taken)
        _REFINE_MEMO.put(key, got)
    return got

__all__ = ["CONDS", "REV", "branch_taken", "scalar_branch_taken", "refine", "scalar_refine"]
