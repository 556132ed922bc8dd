"""The kernel's scalar register state (``struct bpf_reg_state`` for SCALAR_VALUE, Linux 6.18):
a tnum ``var_off`` plus signed/unsigned bounds on the whole register and on its low half.

Written once over a back end ``B`` like the concrete semantics. Every bound is stored as a
bit pattern (the back end's convention: unsigned, ``[0, 2**w)`` for ints): ``smin``/``smax``
are compared signed, ``umin``/``umax`` unsigned, all of width ``w``; ``s32_min`` ...
``u32_max`` have width ``w // 2``. ``smin_s`` etc. give the signed Python ints (int back end).

gamma (``contains``): ``x`` is a value of the state iff ``x & ~var_off.mask == var_off.value``,
``umin <= x <= umax`` (unsigned), ``smin <= x <= smax`` (signed), and the low half ``x32``
satisfies ``u32_min <= x32 <= u32_max`` and ``s32_min <= x32 <= s32_max``.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from model.domains import tnum as tn
from model.domains.tnum import Tnum
from model.semantics.backend import INT, mask as _mask, to_signed


def replace(obj, **changes):
    """A copy of an immutable named tuple (Scalar, Tnum, the verifier's Reg) with ``changes``
    (``obj._replace``, twice as fast: the verifier calls it on every transfer)."""
    cls = obj.__class__
    where = _FIELD_INDEX.get(cls)
    if where is None:
        where = _FIELD_INDEX[cls] = {n: i for i, n in enumerate(cls._fields)}
    values = list(obj)
    for name, v in changes.items():
        values[where[name]] = v
    return tuple.__new__(cls, values)


_FIELD_INDEX: dict = {}  # named tuple class -> field name -> index


class Scalar(NamedTuple):
    """Immutable; a named tuple so that hashing, equality and construction run in C (the
    verifier hashes scalars at every prune point and for the ``bounds_sync`` memo)."""

    var_off: Tnum
    smin: Any
    smax: Any
    umin: Any
    umax: Any
    s32_min: Any
    s32_max: Any
    u32_min: Any
    u32_max: Any
    w: int = 64

    # -- constructors (int back end unless B is given) -----------------------------------
    @classmethod
    def const(cls, v, B=INT, w: int = 64) -> "Scalar":
        """``__mark_reg_known``: exactly ``v`` (int or back-end value of width ``w``)."""
        if B is INT and w == 64 and v.__class__ is int and cls is Scalar:
            got = _CONST64.get(v)  # int back end: one shared (frozen) scalar per constant
            if got is None:
                c = v & _M64
                c32 = c & _M32  # (not ``lo``: compiled, a local keeps its first type)
                got = _CONST64.put(v, cls(Tnum(c, 0, 64), c, c, c, c, c32, c32, c32, c32, 64))
            return got
        v = B.const(v, w) if isinstance(v, int) else v
        lo = B.trunc(v, w, w // 2)
        return cls(tn.const(B, v, w), v, v, v, v, lo, lo, lo, lo, w)

    @classmethod
    def unknown(cls, B=INT, w: int = 64) -> "Scalar":
        if B is INT and w == 64 and cls is Scalar:
            return _UNKNOWN64  # one shared (frozen) scalar
        h = w // 2
        return cls(tn.unknown(B, w), B.const(1 << (w - 1), w), B.const(_mask(w - 1), w),
                   B.const(0, w), B.const(_mask(w), w), B.const(1 << (h - 1), h),
                   B.const(_mask(h - 1), h), B.const(0, h), B.const(_mask(h), h), w)

    @classmethod
    def from_urange(cls, lo, hi, B=INT, w: int = 64) -> "Scalar":
        lo = B.const(lo, w) if isinstance(lo, int) else lo
        hi = B.const(hi, w) if isinstance(hi, int) else hi
        return bounds_sync(B, replace(cls.unknown(B, w), umin=lo, umax=hi))

    @classmethod
    def from_u64_range(cls, lo, hi, B=INT, w: int = 64) -> "Scalar":
        return cls.from_urange(lo, hi, B, w)

    @classmethod
    def from_srange(cls, lo, hi, B=INT, w: int = 64) -> "Scalar":
        lo = B.const(lo, w) if isinstance(lo, int) else lo
        hi = B.const(hi, w) if isinstance(hi, int) else hi
        return bounds_sync(B, replace(cls.unknown(B, w), smin=lo, smax=hi))

    @classmethod
    def from_s64_range(cls, lo, hi, B=INT, w: int = 64) -> "Scalar":
        return cls.from_srange(lo, hi, B, w)

    @classmethod
    def from_tnum(cls, t: Tnum, B=INT) -> "Scalar":
        return bounds_sync(B, replace(cls.unknown(B, t.w), var_off=t))

    @classmethod
    def from_values(cls, values, w: int = 64) -> "Scalar":
        """The kernel-style abstraction of a finite set of ints: tnum union plus the exact
        bounds of the set in every view, synced."""
        vals = [v & _mask(w) for v in values]
        assert vals, "empty set"
        h = w // 2
        t = tn.const(INT, vals[0], w)
        for v in vals[1:]:
            t = tn.union(INT, t, tn.const(INT, v, w))
        sv = [to_signed(v, w) for v in vals]
        lo = [v & _mask(h) for v in vals]
        slo = [to_signed(v, h) for v in lo]
        s = cls(t, min(sv) & _mask(w), max(sv) & _mask(w), min(vals), max(vals),
                min(slo) & _mask(h), max(slo) & _mask(h), min(lo), max(lo), w)
        return bounds_sync(INT, s)

    # -- int back end conveniences (the verifier) ----------------------------------------
    @property
    def smin_s(self) -> int:
        return to_signed(self.smin, self.w)

    @property
    def smax_s(self) -> int:
        return to_signed(self.smax, self.w)

    @property
    def s32_min_s(self) -> int:
        return to_signed(self.s32_min, self.w // 2)

    @property
    def s32_max_s(self) -> int:
        return to_signed(self.s32_max, self.w // 2)

    @property
    def s32min_s(self) -> int:
        return self.s32_min_s

    @property
    def s32max_s(self) -> int:
        return self.s32_max_s

    def is_const(self) -> bool:
        return self.var_off.mask == 0

    def const_value(self) -> int | None:
        return self.var_off.value if self.var_off.mask == 0 else None

    def contains(self, x: int) -> bool:
        return contains(INT, self, x & _mask(self.w))

    def __repr__(self) -> str:
        if not isinstance(self.umin, int):
            return f"Scalar(<symbolic, w={self.w}>)"
        return (f"Scalar(var_off={self.var_off!r}, s=[{self.smin_s}, {self.smax_s}], "
                f"u=[{self.umin:#x}, {self.umax:#x}], s32=[{self.s32_min_s}, {self.s32_max_s}], "
                f"u32=[{self.u32_min:#x}, {self.u32_max:#x}])")


# -- gamma and invariants ---------------------------------------------------------------
def contains(B, s: Scalar, x):
    """``x`` (width ``w``) is a value of ``s``: all ten constraints."""
    w, h = s.w, s.w // 2
    x32 = B.trunc(x, w, h)
    return B.and_b(tn.contains(B, s.var_off, x),
                   B.ule(s.umin, x, w), B.ule(x, s.umax, w),
                   B.sle(s.smin, x, w), B.sle(x, s.smax, w),
                   B.ule(s.u32_min, x32, h), B.ule(x32, s.u32_max, h),
                   B.sle(s.s32_min, x32, h), B.sle(x32, s.s32_max, h))


def well_formed(B, s: Scalar):
    """The invariants assumed of inputs: ``value & mask == 0`` and every ``min <= max``."""
    return B.and_b(tn.well_formed(B, s.var_off), B.not_(range_bounds_violation(B, s)))


def range_bounds_violation(B, s: Scalar):
    """Some pair of bounds crosses: no value left (the kernel's ``range_bounds_violation``)."""
    w, h = s.w, s.w // 2
    return B.or_b(B.ult(s.umax, s.umin, w), B.slt(s.smax, s.smin, w),
                  B.ult(s.u32_max, s.u32_min, h), B.slt(s.s32_max, s.s32_min, h))


def ite(B, c, a: Scalar, b: Scalar) -> Scalar:
    w, h = a.w, a.w // 2
    return Scalar(tn.ite(B, c, a.var_off, b.var_off),
                  B.ite(c, a.smin, b.smin, w), B.ite(c, a.smax, b.smax, w),
                  B.ite(c, a.umin, b.umin, w), B.ite(c, a.umax, b.umax, w),
                  B.ite(c, a.s32_min, b.s32_min, h), B.ite(c, a.s32_max, b.s32_max, h),
                  B.ite(c, a.u32_min, b.u32_min, h), B.ite(c, a.u32_max, b.u32_max, h), w)


# -- small constant helpers -------------------------------------------------------------
def smin_c(B, w):
    return B.const(1 << (w - 1), w)


def smax_c(B, w):
    return B.const(_mask(w - 1), w)


def umax_c(B, w):
    return B.const(_mask(w), w)


def mark64_unbounded(B, s: Scalar) -> Scalar:
    w = s.w
    return replace(s, smin=smin_c(B, w), smax=smax_c(B, w), umin=B.const(0, w),
                   umax=umax_c(B, w))


def mark32_unbounded(B, s: Scalar) -> Scalar:
    h = s.w // 2
    return replace(s, s32_min=smin_c(B, h), s32_max=smax_c(B, h), u32_min=B.const(0, h),
                   u32_max=umax_c(B, h))


def mark_unbounded(B, s: Scalar) -> Scalar:
    return mark32_unbounded(B, mark64_unbounded(B, s))


def mark32_known(B, s: Scalar, v) -> Scalar:
    """``__mark_reg32_known``: the low half is ``v`` (a ``w``-bit value)."""
    lo = B.trunc(v, s.w, s.w // 2)
    return replace(s, var_off=tn.const_subreg(B, s.var_off, v), s32_min=lo, s32_max=lo,
                   u32_min=lo, u32_max=lo)


# -- reg_bounds_sync and its parts ------------------------------------------------------
def update_reg32_bounds(B, s: Scalar) -> Scalar:
    w, h = s.w, s.w // 2
    v = B.trunc(s.var_off.value, w, h)
    m = B.trunc(s.var_off.mask, w, h)
    return replace(
        s,
        s32_min=B.smax(s.s32_min, B.or_(v, B.and_(m, smin_c(B, h), h), h), h),
        s32_max=B.smin(s.s32_max, B.or_(v, B.and_(m, smax_c(B, h), h), h), h),
        u32_min=B.umax(s.u32_min, v, h),
        u32_max=B.umin(s.u32_max, B.or_(v, m, h), h))


def update_reg64_bounds(B, s: Scalar) -> Scalar:
    w = s.w
    v, m = s.var_off.value, s.var_off.mask
    return replace(
        s,
        smin=B.smax(s.smin, B.or_(v, B.and_(m, smin_c(B, w), w), w), w),
        smax=B.smin(s.smax, B.or_(v, B.and_(m, smax_c(B, w), w), w), w),
        umin=B.umax(s.umin, v, w),
        umax=B.umin(s.umax, B.or_(v, m, w), w))


def update_reg_bounds(B, s: Scalar) -> Scalar:
    return update_reg64_bounds(B, update_reg32_bounds(B, s))


def _reg32_deduce_bounds(B, s: Scalar) -> Scalar:
    w, h = s.w, s.w // 2
    hc = B.const(h, w)
    u32_min, u32_max, s32_min, s32_max = s.u32_min, s.u32_max, s.s32_min, s.s32_max
    zero_h = B.const(0, h)

    def tighten_s32(c, lo, hi):
        nonlocal s32_min, s32_max
        s32_min = B.ite(c, B.smax(s32_min, lo, h), s32_min, h)
        s32_max = B.ite(c, B.smin(s32_max, hi, h), s32_max, h)

    def tighten_u32(c, lo, hi):
        nonlocal u32_min, u32_max
        u32_min = B.ite(c, B.umax(u32_min, lo, h), u32_min, h)
        u32_max = B.ite(c, B.umin(u32_max, hi, h), u32_max, h)

    # upper halves of the u64 range equal: the low halves form a u32 (maybe s32) range
    u_hi_lo, u_hi_hi = B.lshr(s.umin, hc, w), B.lshr(s.umax, hc, w)
    lo_umin, lo_umax = B.trunc(s.umin, w, h), B.trunc(s.umax, w, h)
    same_u = B.eq(u_hi_lo, u_hi_hi, w)
    tighten_u32(same_u, lo_umin, lo_umax)
    tighten_s32(B.and_b(same_u, B.sle(lo_umin, lo_umax, h)), lo_umin, lo_umax)
    # the same for the s64 range
    s_hi_lo, s_hi_hi = B.lshr(s.smin, hc, w), B.lshr(s.smax, hc, w)
    lo_smin, lo_smax = B.trunc(s.smin, w, h), B.trunc(s.smax, w, h)
    same_s = B.eq(s_hi_lo, s_hi_hi, w)
    tighten_u32(B.and_b(same_s, B.ule(lo_smin, lo_smax, h)), lo_smin, lo_smax)
    tighten_s32(B.and_b(same_s, B.sle(lo_smin, lo_smax, h)), lo_smin, lo_smax)
    # upper halves two consecutive numbers, low halves going from negative to positive
    one_h = B.const(1, h)
    for lo64, hi64, lo, hi in ((s.umin, s.umax, lo_umin, lo_umax),
                               (s.smin, s.smax, lo_smin, lo_smax)):
        hi_a = B.trunc(B.lshr(lo64, hc, w), w, h)
        hi_b = B.trunc(B.lshr(hi64, hc, w), w, h)
        c = B.and_b(B.eq(B.add(hi_a, one_h, h), hi_b, h), B.slt(lo, zero_h, h),
                    B.sle(zero_h, hi, h))
        tighten_s32(c, lo, hi)
    # u32 range that is a valid s32 range, and vice versa
    tighten_s32(B.sle(u32_min, u32_max, h), u32_min, u32_max)
    tighten_u32(B.ule(s32_min, s32_max, h), s32_min, s32_max)
    return replace(s, u32_min=u32_min, u32_max=u32_max, s32_min=s32_min, s32_max=s32_max)


def _reg64_deduce_bounds(B, s: Scalar) -> Scalar:
    w = s.w
    smin, smax, umin, umax = s.smin, s.smax, s.umin, s.umax
    c = B.sle(umin, umax, w)
    smin = B.ite(c, B.smax(smin, umin, w), smin, w)
    smax = B.ite(c, B.smin(smax, umax, w), smax, w)
    same_half = B.ule(smin, smax, w)
    # s64 range inside one half: signed and unsigned bounds are the same range
    umin_a, umax_a = B.umax(smin, umin, w), B.umin(smax, umax, w)
    # s64 range crossing the sign boundary, u64 range overlapping only one end of it
    only_pos = B.ult(umax, smin, w)
    only_neg = B.and_b(B.not_(only_pos), B.ult(smax, umin, w))
    smin_b = B.ite(only_pos, umin, smin, w)
    umax_b = B.ite(only_pos, B.umin(umax, smax, w), umax, w)
    smax_b = B.ite(only_neg, umax, smax, w)
    umin_b = B.ite(only_neg, B.umax(umin, smin, w), umin, w)
    return replace(s,
                   smin=B.ite(same_half, smin, smin_b, w),
                   smax=B.ite(same_half, smax, smax_b, w),
                   umin=B.ite(same_half, umin_a, umin_b, w),
                   umax=B.ite(same_half, umax_a, umax_b, w))


def _reg_deduce_mixed_bounds(B, s: Scalar) -> Scalar:
    w, h = s.w, s.w // 2
    hi_mask = B.const(_mask(w) ^ _mask(h), w)
    u32lo, u32hi = B.zext(s.u32_min, h, w), B.zext(s.u32_max, h, w)
    new_umin = B.or_(B.and_(s.umin, hi_mask, w), u32lo, w)
    new_umax = B.or_(B.and_(s.umax, hi_mask, w), u32hi, w)
    umin, umax = B.umax(s.umin, new_umin, w), B.umin(s.umax, new_umax, w)
    new_smin = B.or_(B.and_(s.smin, hi_mask, w), u32lo, w)
    new_smax = B.or_(B.and_(s.smax, hi_mask, w), u32hi, w)
    smin, smax = B.smax(s.smin, new_smin, w), B.smin(s.smax, new_smax, w)
    s = replace(s, umin=umin, umax=umax, smin=smin, smax=smax)
    # after a sign-extending load: upper bits all 0s or all 1s, low half non-negative
    c = B.and_b(B.sle(B.const(0, h), s.s32_min, h),
                B.sle(B.sext(smin_c(B, h), h, w), smin, w),
                B.sle(smax, B.zext(smax_c(B, h), h, w), w))
    lo, hi = B.sext(s.s32_min, h, w), B.sext(s.s32_max, h, w)
    special = replace(s, smin=lo, smax=hi, umin=lo, umax=hi,
                      var_off=tn.intersect(B, s.var_off, tn.range_(B, lo, hi, w)))
    return ite(B, c, special, s)


def reg_deduce_bounds(B, s: Scalar) -> Scalar:
    return _reg_deduce_mixed_bounds(B, _reg64_deduce_bounds(B, _reg32_deduce_bounds(B, s)))


def reg_bound_offset(B, s: Scalar) -> Scalar:
    w, h = s.w, s.w // 2
    var64 = tn.intersect(B, s.var_off, tn.range_(B, s.umin, s.umax, w))
    var32 = tn.intersect(B, tn.subreg(B, var64),
                         tn.range_(B, B.zext(s.u32_min, h, w), B.zext(s.u32_max, h, w), w))
    return replace(s, var_off=tn.or_(B, tn.clear_subreg(B, var64), var32))


def exact_const(s: Scalar) -> bool:
    """Int back end: ``s`` is one value ``v`` in every view (tnum and all eight bounds)."""
    t = s.var_off
    if t.mask:
        return False
    v = t.value
    lo = v & _mask(s.w // 2)
    return (s.umin == s.umax == s.smin == s.smax == v
            and s.u32_min == s.u32_max == s.s32_min == s.s32_max == lo)


def bounds_sync(B, s: Scalar) -> Scalar:
    """``reg_bounds_sync`` (6.18): bounds from var_off, three rounds of 32/64 deduction,
    var_off from bounds, bounds from the new var_off."""
    if B is not INT:
        return bounds_sync_steps(B, s)
    if exact_const(s):
        return s  # a fixpoint of the steps (tests/test_domains_fast.py checks it)
    r = _SYNC_MEMO.get(s)
    if r is None:
        r = _SYNC_MEMO.put(s, bounds_sync_steps(B, s))
    return r


MEMO_MAX = 1 << 16


class Memo(dict):
    """The int back end's answers of a pure function of frozen (hashable) scalars, by
    argument key: ``get`` reads, ``put`` stores (the whole memo is dropped when it holds
    ``MEMO_MAX`` answers)."""

    def put(self, key, value):
        if len(self) >= MEMO_MAX:
            self.clear()
        self[key] = value
        return value


_CONST64 = Memo()  # int -> Scalar.const(int), width 64
_M64: Final = _mask(64)
_M32: Final = _mask(32)
_SYNC_MEMO = Memo()  # bounds_sync
_UNKNOWN64 = Scalar(Tnum(0, _M64, 64), 1 << 63, _M64 >> 1, 0, _M64, 1 << 31, _M32 >> 1, 0,
                    _M32, 64)


def bounds_sync_steps(B, s: Scalar) -> Scalar:
    s = update_reg_bounds(B, s)
    for _ in range(3):
        s = reg_deduce_bounds(B, s)
    s = reg_bound_offset(B, s)
    return update_reg_bounds(B, s)


def zext_32_to_64(B, s: Scalar) -> Scalar:
    """``zext_32_to_64``: var_off = its subregister, then ``__reg_assign_32_into_64``."""
    w, h = s.w, s.w // 2
    zero_h = B.const(0, h)
    pos = B.and_b(B.sle(zero_h, s.s32_min, h), B.sle(zero_h, s.s32_max, h))
    return replace(s, var_off=tn.subreg(B, s.var_off),
                   umin=B.zext(s.u32_min, h, w), umax=B.zext(s.u32_max, h, w),
                   smin=B.ite(pos, B.zext(s.s32_min, h, w), B.const(0, w), w),
                   smax=B.ite(pos, B.zext(s.s32_max, h, w), B.const(_mask(h), w), w))


# -- loads and sign extension -----------------------------------------------------------
def _beq(B, p, q):
    return B.or_b(B.and_b(p, q), B.and_b(B.not_(p), B.not_(q)))


def _bits(w: int, size: int) -> int:
    """``size`` bytes at width ``w`` (64 = the real machine; smaller widths scale)."""
    return 8 * size * w // 64


def coerce_reg_to_size(B, s: Scalar, size: int, sync: bool = True) -> Scalar:
    """``coerce_reg_to_size`` for ``size`` in 1, 2, 4: zero-extend the low ``size`` bytes."""
    w = s.w
    n = _bits(w, size)
    m = B.const(_mask(n), w)
    hi = B.const(_mask(w) ^ _mask(n), w)
    t = tn.cast(B, s.var_off, size)
    same = B.eq(B.and_(s.umin, hi, w), B.and_(s.umax, hi, w), w)
    umin = B.ite(same, B.and_(s.umin, m, w), B.const(0, w), w)
    umax = B.ite(same, B.and_(s.umax, m, w), m, w)
    r = replace(s, var_off=t, umin=umin, umax=umax, smin=umin, smax=umax)
    if size < 4:
        r = mark32_unbounded(B, r)
    return bounds_sync(B, r) if sync else r


def _sext_default64(B, s: Scalar, n: int) -> Scalar:
    w, h = s.w, s.w // 2
    lo = B.sext(smin_c(B, n), n, w)
    hi = B.zext(smax_c(B, n), n, w)
    return Scalar(tn.unknown(B, w), lo, hi, B.const(0, w), umax_c(B, w),
                  B.trunc(lo, w, h), B.trunc(hi, w, h), B.const(0, h), umax_c(B, h), w)


def coerce_reg_to_size_sx(B, s: Scalar, size: int) -> Scalar:
    """``coerce_reg_to_size_sx`` (sign-extending load / movsx to 64 bits), ``size`` 1, 2, 4."""
    w, h = s.w, s.w // 2
    n = _bits(w, size)
    nc = B.const(n, w)
    # constant: sign-extend it
    cval = B.sext(B.trunc(s.var_off.value, w, n), n, w)
    as_const = Scalar.const(cval, B, w)
    # smin/smax sharing their upper bits: the low parts sign-extend monotonically
    top_max = B.shl(B.lshr(s.smax, nc, w), nc, w)
    top_min = B.shl(B.lshr(s.smin, nc, w), nc, w)
    init_max = B.sext(B.trunc(s.smax, w, n), n, w)
    init_min = B.sext(B.trunc(s.smin, w, n), n, w)
    s64_max, s64_min = B.smax(init_max, init_min, w), B.smin(init_max, init_min, w)
    zero = B.const(0, w)
    same_sign = _beq(B, B.sle(zero, s64_max, w), B.sle(zero, s64_min, w))
    lo, hi = B.trunc(s64_min, w, h), B.trunc(s64_max, w, h)
    ranged = Scalar(tn.range_(B, s64_min, s64_max, w), s64_min, s64_max, s64_min, s64_max,
                    lo, hi, lo, hi, w)
    ok = B.and_b(B.eq(top_max, top_min, w), same_sign)
    r = ite(B, ok, ranged, _sext_default64(B, s, n))
    return ite(B, tn.is_const(B, s.var_off), as_const, r)


def coerce_subreg_to_size_sx(B, s: Scalar, size: int) -> Scalar:
    """``coerce_subreg_to_size_sx`` (32-bit movsx), ``size`` 1 or 2. Leaves the 64-bit
    bounds for ``zext_32_to_64`` to overwrite, as the kernel does."""
    w, h = s.w, s.w // 2
    n = _bits(w, size)
    nc = B.const(n, h)
    cval = B.sext(B.trunc(s.var_off.value, w, n), n, w)
    c32 = B.trunc(cval, w, h)
    as_const = replace(s, var_off=tn.const(B, cval, w), s32_min=c32, s32_max=c32,
                       u32_min=c32, u32_max=c32)
    top_max = B.shl(B.lshr(s.s32_max, nc, h), nc, h)
    top_min = B.shl(B.lshr(s.s32_min, nc, h), nc, h)
    init_max = B.sext(B.trunc(s.s32_max, h, n), n, h)
    init_min = B.sext(B.trunc(s.s32_min, h, n), n, h)
    s_max, s_min = B.smax(init_max, init_min, h), B.smin(init_max, init_min, h)
    zero_h = B.const(0, h)
    same_sign = _beq(B, B.sle(zero_h, s_max, h), B.sle(zero_h, s_min, h))
    t = tn.subreg(B, tn.range_(B, B.sext(s_min, h, w), B.sext(s_max, h, w), w))
    ranged = replace(s, var_off=t, s32_min=s_min, s32_max=s_max, u32_min=s_min, u32_max=s_max)
    default = replace(s, var_off=tn.subreg(B, tn.unknown(B, w)),
                      s32_min=B.sext(smin_c(B, n), n, h), s32_max=B.zext(smax_c(B, n), n, h),
                      u32_min=zero_h, u32_max=umax_c(B, h))
    r = ite(B, B.and_b(B.eq(top_max, top_min, h), same_sign), ranged, default)
    return ite(B, tn.is_const(B, s.var_off), as_const, r)


def coerce_to_size(s: Scalar, size: int, signed: bool = False, B=INT,
                   sync: bool = True) -> Scalar:
    """A ``size``-byte load of a register-held scalar (LDX / LDX MEMSX): the kernel's
    ``coerce_reg_to_size`` or ``coerce_reg_to_size_sx``; 8 bytes leave it unchanged."""
    if size >= 8:
        return s
    if B is not INT or not sync:
        return coerce_reg_to_size_sx(B, s, size) if signed else \
            coerce_reg_to_size(B, s, size, sync)
    key = (s, size, signed)
    r = _COERCE_MEMO.get(key)
    if r is None:
        r = _COERCE_MEMO.put(key, coerce_reg_to_size_sx(B, s, size) if signed else
                             coerce_reg_to_size(B, s, size))
    return r


_COERCE_MEMO = Memo()  # (scalar, size, signed) -> coerce_to_size


def coerce_to_sign_size(s: Scalar, size: int, B=INT) -> Scalar:
    return coerce_reg_to_size_sx(B, s, size) if size < 8 else s


__all__ = ["Scalar", "contains", "well_formed", "range_bounds_violation", "ite",
           "bounds_sync", "update_reg_bounds", "reg_deduce_bounds", "reg_bound_offset",
           "zext_32_to_64", "mark_unbounded", "mark32_unbounded", "mark64_unbounded",
           "mark32_known", "coerce_reg_to_size", "coerce_reg_to_size_sx",
           "coerce_subreg_to_size_sx", "coerce_to_size", "coerce_to_sign_size"]
