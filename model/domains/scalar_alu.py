"""ALU transfer functions on ``Scalar`` (the kernel's ``adjust_scalar_min_max_vals`` and the
scalar parts of ``check_alu_op``, Linux 6.18), written once over a back end ``B``.

``alu(B, op, is64, dst, src, off=0)`` returns the new ``dst``. Ops: add sub mul and or xor
lsh rsh arsh (the 32-bit bounds and the 64-bit bounds are both computed, ALU32 results are
then zero-extended), neg (0 - dst), mov, movsx (``off`` = 8/16/32 bits), and div sdiv mod smod
(6.18 tracks nothing: the result is unknown). Shifts are tracked only for a constant
amount below the width, as the kernel's ``is_safe_to_compute_dst_reg_range``; otherwise
the result is unknown.
"""

from __future__ import annotations

from model.domains import tnum as tn
from model.semantics import ops
from model.semantics.backend import INT
from model.domains.scalar import (Memo, Scalar, bounds_sync, exact_const, replace,
                                  coerce_reg_to_size_sx,
                                  coerce_subreg_to_size_sx, ite, mark32_known,
                                  mark32_unbounded, mark64_unbounded, smax_c, smin_c, umax_c,
                                  update_reg32_bounds, update_reg_bounds, zext_32_to_64)

BINARY = ("add", "sub", "mul", "and", "or", "xor", "lsh", "rsh", "arsh")
UNTRACKED = ("div", "sdiv", "mod", "smod")
SHIFTS = ("lsh", "rsh", "arsh")


# -- add / sub / mul --------------------------------------------------------------------
def _add32(B, d: Scalar, s: Scalar) -> Scalar:
    h = d.w // 2
    ov = B.or_b(B.sadd_overflows(d.s32_min, s.s32_min, h),
                B.sadd_overflows(d.s32_max, s.s32_max, h))
    bad = B.and_b(B.not_(B.add_overflows(d.u32_min, s.u32_min, h)),
                  B.add_overflows(d.u32_max, s.u32_max, h))
    return replace(d, s32_min=B.ite(ov, smin_c(B, h), B.add(d.s32_min, s.s32_min, h), h),
                   s32_max=B.ite(ov, smax_c(B, h), B.add(d.s32_max, s.s32_max, h), h),
                   u32_min=B.ite(bad, B.const(0, h), B.add(d.u32_min, s.u32_min, h), h),
                   u32_max=B.ite(bad, umax_c(B, h), B.add(d.u32_max, s.u32_max, h), h))


def _add64(B, d: Scalar, s: Scalar) -> Scalar:
    w = d.w
    ov = B.or_b(B.sadd_overflows(d.smin, s.smin, w), B.sadd_overflows(d.smax, s.smax, w))
    bad = B.and_b(B.not_(B.add_overflows(d.umin, s.umin, w)),
                  B.add_overflows(d.umax, s.umax, w))
    return replace(d, smin=B.ite(ov, smin_c(B, w), B.add(d.smin, s.smin, w), w),
                   smax=B.ite(ov, smax_c(B, w), B.add(d.smax, s.smax, w), w),
                   umin=B.ite(bad, B.const(0, w), B.add(d.umin, s.umin, w), w),
                   umax=B.ite(bad, umax_c(B, w), B.add(d.umax, s.umax, w), w))


def _sub32(B, d: Scalar, s: Scalar) -> Scalar:
    h = d.w // 2
    ov = B.or_b(B.ssub_overflows(d.s32_min, s.s32_max, h),
                B.ssub_overflows(d.s32_max, s.s32_min, h))
    bad = B.and_b(B.sub_overflows(d.u32_min, s.u32_max, h),
                  B.not_(B.sub_overflows(d.u32_max, s.u32_min, h)))
    return replace(d, s32_min=B.ite(ov, smin_c(B, h), B.sub(d.s32_min, s.s32_max, h), h),
                   s32_max=B.ite(ov, smax_c(B, h), B.sub(d.s32_max, s.s32_min, h), h),
                   u32_min=B.ite(bad, B.const(0, h), B.sub(d.u32_min, s.u32_max, h), h),
                   u32_max=B.ite(bad, umax_c(B, h), B.sub(d.u32_max, s.u32_min, h), h))


def _sub64(B, d: Scalar, s: Scalar) -> Scalar:
    w = d.w
    ov = B.or_b(B.ssub_overflows(d.smin, s.smax, w), B.ssub_overflows(d.smax, s.smin, w))
    bad = B.and_b(B.sub_overflows(d.umin, s.umax, w),
                  B.not_(B.sub_overflows(d.umax, s.umin, w)))
    return replace(d, smin=B.ite(ov, smin_c(B, w), B.sub(d.smin, s.smax, w), w),
                   smax=B.ite(ov, smax_c(B, w), B.sub(d.smax, s.smin, w), w),
                   umin=B.ite(bad, B.const(0, w), B.sub(d.umin, s.umax, w), w),
                   umax=B.ite(bad, umax_c(B, w), B.sub(d.umax, s.umin, w), w))


def _mul_bounds(B, w, umin, umax, smin, smax, s_umin, s_umax, s_smin, s_smax):
    uov = B.or_b(B.mul_overflows(umax, s_umax, w), B.mul_overflows(umin, s_umin, w))
    pairs = ((smin, s_smin), (smin, s_smax), (smax, s_smin), (smax, s_smax))
    sov = B.or_b(*[B.smul_overflows(a, b, w) for a, b in pairs])
    prods = [B.mul(a, b, w) for a, b in pairs]
    lo, hi = prods[0], prods[0]
    for p in prods[1:]:
        lo, hi = B.smin(lo, p, w), B.smax(hi, p, w)
    return (B.ite(uov, B.const(0, w), B.mul(umin, s_umin, w), w),
            B.ite(uov, umax_c(B, w), B.mul(umax, s_umax, w), w),
            B.ite(sov, smin_c(B, w), lo, w), B.ite(sov, smax_c(B, w), hi, w))


def _mul32(B, d: Scalar, s: Scalar) -> Scalar:
    u0, u1, s0, s1 = _mul_bounds(B, d.w // 2, d.u32_min, d.u32_max, d.s32_min, d.s32_max,
                                 s.u32_min, s.u32_max, s.s32_min, s.s32_max)
    return replace(d, u32_min=u0, u32_max=u1, s32_min=s0, s32_max=s1)


def _mul64(B, d: Scalar, s: Scalar) -> Scalar:
    u0, u1, s0, s1 = _mul_bounds(B, d.w, d.umin, d.umax, d.smin, d.smax,
                                 s.umin, s.umax, s.smin, s.smax)
    return replace(d, umin=u0, umax=u1, smin=s0, smax=s1)


# -- and / or / xor (var_off already holds the result's tnum) ---------------------------
def _s32_from_u32(B, d: Scalar) -> Scalar:
    h = d.w // 2
    c = B.sle(d.u32_min, d.u32_max, h)
    return replace(d, s32_min=B.ite(c, d.u32_min, smin_c(B, h), h),
                   s32_max=B.ite(c, d.u32_max, smax_c(B, h), h))


def _s64_from_u64(B, d: Scalar) -> Scalar:
    w = d.w
    c = B.sle(d.umin, d.umax, w)
    return replace(d, smin=B.ite(c, d.umin, smin_c(B, w), w),
                   smax=B.ite(c, d.umax, smax_c(B, w), w))


def _bitwise32(B, op, d: Scalar, s: Scalar) -> Scalar:
    w, h = d.w, d.w // 2
    known = B.and_b(tn.subreg_is_const(B, s.var_off), tn.subreg_is_const(B, d.var_off))
    v = B.trunc(d.var_off.value, w, h)
    vm = B.or_(v, B.trunc(d.var_off.mask, w, h), h)
    if op == "and":
        lo, hi = v, B.umin(d.u32_max, s.u32_max, h)
    elif op == "or":
        lo, hi = B.umax(d.u32_min, s.u32_min, h), vm
    else:
        lo, hi = v, vm
    tracked = _s32_from_u32(B, replace(d, u32_min=lo, u32_max=hi))
    return ite(B, known, mark32_known(B, d, d.var_off.value), tracked)


def _bitwise64(B, op, d: Scalar, s: Scalar) -> Scalar:
    w = d.w
    known = B.and_b(tn.is_const(B, s.var_off), tn.is_const(B, d.var_off))
    v = d.var_off.value
    vm = B.or_(v, d.var_off.mask, w)
    if op == "and":
        lo, hi = v, B.umin(d.umax, s.umax, w)
    elif op == "or":
        lo, hi = B.umax(d.umin, s.umin, w), vm
    else:
        lo, hi = v, vm
    tracked = update_reg_bounds(B, _s64_from_u64(B, replace(d, umin=lo, umax=hi)))
    return ite(B, known, Scalar.const(v, B, w), tracked)


# -- shifts (amount: a constant below the width) ----------------------------------------
def _lsh32_bounds(B, d: Scalar, kmin, kmax) -> Scalar:
    """``__scalar32_min_max_lsh`` with ``w``-bit amounts."""
    w, h = d.w, d.w // 2
    big = B.ult(B.const(h - 1, w), kmax, w)
    safe_k = B.ite(big, B.const(0, w), kmax, w)
    limit = B.shl(B.const(1, w), B.sub(B.const(h - 1, w), safe_k, w), w)
    top_out = B.or_b(big, B.ult(limit, B.zext(d.u32_max, h, w), w))
    kmin_h, kmax_h = B.trunc(kmin, w, h), B.trunc(kmax, w, h)
    return replace(d, s32_min=smin_c(B, h), s32_max=smax_c(B, h),
                   u32_min=B.ite(top_out, B.const(0, h), B.shl(d.u32_min, kmin_h, h), h),
                   u32_max=B.ite(top_out, umax_c(B, h), B.shl(d.u32_max, kmax_h, h), h))


def _lsh64_bounds(B, d: Scalar, kmin, kmax) -> Scalar:
    w, h = d.w, d.w // 2
    by_half = B.and_b(B.eq(kmin, B.const(h, w), w), B.eq(kmax, B.const(h, w), w))
    zero_h = B.const(0, h)

    def shifted(v32):
        return B.concat([(v32, h), (zero_h, h)])

    smax = B.ite(B.and_b(by_half, B.sle(zero_h, d.s32_max, h)), shifted(d.s32_max),
                 smax_c(B, w), w)
    smin = B.ite(B.and_b(by_half, B.sle(zero_h, d.s32_min, h)), shifted(d.s32_min),
                 smin_c(B, w), w)
    limit = B.shl(B.const(1, w), B.sub(B.const(w - 1, w), kmax, w), w)
    top_out = B.ult(limit, d.umax, w)
    return replace(d, smin=smin, smax=smax,
                   umin=B.ite(top_out, B.const(0, w), B.shl(d.umin, kmin, w), w),
                   umax=B.ite(top_out, umax_c(B, w), B.shl(d.umax, kmax, w), w))


def _shift(B, op, is64, d: Scalar, s: Scalar) -> Scalar:
    w, h = d.w, d.w // 2
    if is64:
        kmin, kmax = s.umin, s.umax
        if op == "lsh":
            r = _lsh32_bounds(B, _lsh64_bounds(B, d, kmin, kmax), kmin, kmax)
            r = replace(r, var_off=tn.lshift(B, d.var_off, kmin))
            return update_reg_bounds(B, r)
        if op == "rsh":
            r = replace(d, smin=smin_c(B, w), smax=smax_c(B, w),
                        var_off=tn.rshift(B, d.var_off, kmin),
                        umin=B.lshr(d.umin, kmax, w), umax=B.lshr(d.umax, kmin, w))
            return update_reg_bounds(B, mark32_unbounded(B, r))
        r = replace(d, smin=B.ashr(d.smin, kmin, w), smax=B.ashr(d.smax, kmin, w),
                    var_off=tn.arshift(B, d.var_off, kmin, w),
                    umin=B.const(0, w), umax=umax_c(B, w))
        return update_reg_bounds(B, mark32_unbounded(B, r))
    kmin, kmax = B.zext(s.u32_min, h, w), B.zext(s.u32_max, h, w)
    sub = tn.subreg(B, d.var_off)
    if op == "lsh":
        r = _lsh32_bounds(B, d, kmin, kmax)
        r = replace(r, var_off=tn.subreg(B, tn.lshift(B, sub, kmin)))
    elif op == "rsh":
        r = replace(d, s32_min=smin_c(B, h), s32_max=smax_c(B, h),
                    var_off=tn.rshift(B, sub, kmin),
                    u32_min=B.lshr(d.u32_min, s.u32_max, h),
                    u32_max=B.lshr(d.u32_max, s.u32_min, h))
    else:
        k = s.u32_min
        r = replace(d, s32_min=B.ashr(d.s32_min, k, h), s32_max=B.ashr(d.s32_max, k, h),
                    var_off=tn.arshift(B, sub, kmin, h),
                    u32_min=B.const(0, h), u32_max=umax_c(B, h))
    return update_reg32_bounds(B, mark64_unbounded(B, r))


def _safe(B, op, is64, s: Scalar):
    """``is_safe_to_compute_dst_reg_range``: shifts need a constant amount < bitness."""
    if op not in ("lsh", "rsh", "arsh"):
        return B.bool_const(True)
    w, h = s.w, s.w // 2
    if is64:
        const = B.and_b(tn.is_const(B, s.var_off), B.eq(s.smin, s.smax, w),
                        B.eq(s.umin, s.umax, w))
    else:
        const = B.and_b(tn.subreg_is_const(B, s.var_off), B.eq(s.s32_min, s.s32_max, h),
                        B.eq(s.u32_min, s.u32_max, h))
    return B.and_b(const, B.ult(s.umax, B.const(w if is64 else h, w), w))


# -- the entry point --------------------------------------------------------------------
def alu(B, op: str, is64: bool, dst: Scalar, src: Scalar, off: int = 0,
        sync: bool = True) -> Scalar:
    """The new ``dst`` after ``dst = dst <op> src`` (64-bit or ALU32). ``sync=False`` skips
    the final ``bounds_sync`` (the proofs check it separately, stage by stage)."""
    w = dst.w
    fin = (lambda r: bounds_sync(B, r)) if sync else (lambda r: r)
    if op == "mov":
        return src if is64 else fin(zext_32_to_64(B, src))
    if op == "movsx":
        size = off // 8
        if is64:
            return coerce_reg_to_size_sx(B, src, size)
        return fin(zext_32_to_64(B, coerce_subreg_to_size_sx(B, src, size)))
    if op in UNTRACKED:
        return Scalar.unknown(B, w)
    if op == "neg":  # the kernel: dst = known 0, then the sub bounds, var_off = tnum_neg
        dst, src, op = Scalar.const(0, B, w), dst, "sub"
    if op not in BINARY:
        raise ValueError(f"no abstract transfer for ALU op {op}")
    shift = op in ("lsh", "rsh", "arsh")
    safe = _safe(B, op, is64, src) if shift else None
    if shift and isinstance(safe, bool) and not safe:
        return Scalar.unknown(B, w)  # int back end: skip work (and huge shift amounts)
    d = dst
    if op == "add":
        d = _add64(B, _add32(B, d, src), src)
        d = replace(d, var_off=tn.add(B, dst.var_off, src.var_off))
    elif op == "sub":
        d = _sub64(B, _sub32(B, d, src), src)
        d = replace(d, var_off=tn.sub(B, dst.var_off, src.var_off))
    elif op == "mul":
        d = replace(d, var_off=tn.mul(B, dst.var_off, src.var_off))
        d = _mul64(B, _mul32(B, d, src), src)
    elif op in ("and", "or", "xor"):
        t_op = {"and": tn.and_, "or": tn.or_, "xor": tn.xor}[op]
        d = replace(d, var_off=t_op(B, dst.var_off, src.var_off))
        d = _bitwise64(B, op, _bitwise32(B, op, d, src), src)
    else:
        d = _shift(B, op, is64, d, src)
    if not is64:
        d = zext_32_to_64(B, d)
    d = fin(d)
    if shift:
        d = ite(B, safe, d, Scalar.unknown(B, w))
    return d


def scalar_alu(B, insn, dst: Scalar, src: Scalar) -> Scalar:
    """``alu`` for a ``model.isa.Alu`` instruction (``src``: the operand, register or imm).
    Int back end, two exact constants and a tracked op (a shift by less than the width):
    the kernel's result is the exact constant the concrete semantics computes
    (tests/test_domains_fast.py compares it with ``alu``)."""
    if B is not INT:
        return alu(B, insn.op, insn.is64, dst, src, insn.off)
    key = (insn.op, insn.is64, insn.off, dst, src)
    r = _ALU_MEMO.get(key)
    if r is None:
        if (insn.op in BINARY and dst.w == 64 and exact_const(dst)
                and exact_const(src) and (insn.op not in SHIFTS
                                          or src.umax < (64 if insn.is64 else 32))):
            r = Scalar.const(ops.alu(INT, insn, dst.umin, src.umin))
        else:
            r = alu(B, insn.op, insn.is64, dst, src, insn.off)
        _ALU_MEMO.put(key, r)
    return r


_ALU_MEMO = Memo()  # (op, is64, off, dst, src) -> scalar_alu


def endian(B, dst: Scalar) -> Scalar:
    """6.18 tracks nothing through byte swaps: the result is unknown."""
    return Scalar.unknown(B, dst.w)


__all__ = ["alu", "scalar_alu", "endian", "BINARY", "UNTRACKED"]
