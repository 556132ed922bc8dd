"""Tristate numbers (``struct tnum``, kernel/bpf/tnum.c in Linux 6.18), written once over a
back end ``B`` (``model.semantics.backend``): Python ints for the verifier, Z3 bit-vectors for
the soundness proofs.

A ``Tnum(value, mask, w)`` stands for every ``w``-bit ``x`` with ``x & ~mask == value``: bits
set in ``mask`` are unknown, the others are ``value``'s. Well-formed tnums have
``value & mask == 0``. ``w`` is 64 for the verifier; the proofs may use a smaller width and
then the "32-bit subregister" is the low ``w // 2`` bits.

Every operation takes the back end first; conditionals on values are ``B.ite`` /
``B.bool_ite`` (never a Python ``if`` on a value), so the same code runs concretely and
symbolically. Shift amounts may be back-end values of width ``w``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from model.semantics.backend import INT, mask as _mask


class Tnum(NamedTuple):
    """Immutable; a named tuple so that hashing, equality and construction run in C (the
    verifier hashes states at every prune point)."""

    value: Any
    mask: Any
    w: int = 64

    # -- conveniences for the int back end (the verifier) --------------------------------
    @classmethod
    def of(cls, v: int, w: int = 64) -> "Tnum":
        return const(INT, v, w)

    @classmethod
    def top(cls, w: int = 64) -> "Tnum":
        return unknown(INT, w)

    def is_const(self) -> bool:
        return is_const(INT, self)

    def includes(self, other: "Tnum") -> bool:
        """``tnum_in(self, other)``: every value of ``other`` is a value of ``self``."""
        return tnum_in(INT, self, other)

    def contains(self, x: int) -> bool:
        return contains(INT, self, x)

    def __repr__(self) -> str:
        if isinstance(self.value, int) and isinstance(self.mask, int):
            return f"({self.value:#x}; {self.mask:#x})"
        return f"Tnum({self.value}, {self.mask}, w={self.w})"


def _c(B, v, w):
    return B.const(v, w)


def _not(B, a, w):
    return B.xor(a, _c(B, _mask(w), w), w)


def ite(B, c, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    return Tnum(B.ite(c, a.value, b.value, w), B.ite(c, a.mask, b.mask, w), w)


# -- constructors -----------------------------------------------------------------------
def const(B, v, w: int = 64) -> Tnum:
    """``tnum_const``; ``v`` is a Python int or a back-end value of width ``w``."""
    return Tnum(_c(B, v, w) if isinstance(v, int) else v, _c(B, 0, w), w)


def unknown(B, w: int = 64) -> Tnum:
    return Tnum(_c(B, 0, w), _c(B, _mask(w), w), w)


def _smear_right(B, x, w):
    """All bits at and below the highest set bit of ``x`` (0 for 0)."""
    k = 1
    while k < w:
        x = B.or_(x, B.lshr(x, _c(B, k, w), w), w)
        k *= 2
    return x


def range_(B, lo, hi, w: int = 64) -> Tnum:
    """``tnum_range(min, max)``: ``delta = (1 << fls64(min ^ max)) - 1``, i.e. the bits at and
    below the highest differing bit; all-unknown when the top bit differs (the kernel's
    ``bits > 63`` special case gives the same answer)."""
    delta = _smear_right(B, B.xor(lo, hi, w), w)
    return Tnum(B.and_(lo, _not(B, delta, w), w), delta, w)


# -- shifts -----------------------------------------------------------------------------
def lshift(B, a: Tnum, k) -> Tnum:
    w = a.w
    k = _c(B, k, w) if isinstance(k, int) else k
    return Tnum(B.shl(a.value, k, w), B.shl(a.mask, k, w), w)


def rshift(B, a: Tnum, k) -> Tnum:
    w = a.w
    k = _c(B, k, w) if isinstance(k, int) else k
    return Tnum(B.lshr(a.value, k, w), B.lshr(a.mask, k, w), w)


def arshift(B, a: Tnum, k, insn_bitness: int | None = None) -> Tnum:
    """``tnum_arshift(a, min_shift, insn_bitness)``: for 32-bit instructions the shift is an
    s32 shift of the low half, zero-extended (the 6.18 signature)."""
    w = a.w
    h = w // 2
    k = _c(B, k, w) if isinstance(k, int) else k
    if insn_bitness is not None and insn_bitness != w:
        kh = B.trunc(k, w, h)
        v = B.zext(B.ashr(B.trunc(a.value, w, h), kh, h), h, w)
        m = B.zext(B.ashr(B.trunc(a.mask, w, h), kh, h), h, w)
        return Tnum(v, m, w)
    return Tnum(B.ashr(a.value, k, w), B.ashr(a.mask, k, w), w)


# -- arithmetic and bitwise -------------------------------------------------------------
def add(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    sm = B.add(a.mask, b.mask, w)
    sv = B.add(a.value, b.value, w)
    sigma = B.add(sm, sv, w)
    chi = B.xor(sigma, sv, w)
    mu = B.or_(B.or_(chi, a.mask, w), b.mask, w)
    return Tnum(B.and_(sv, _not(B, mu, w), w), mu, w)


def sub(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    dv = B.sub(a.value, b.value, w)
    alpha = B.add(dv, a.mask, w)
    beta = B.sub(dv, b.mask, w)
    chi = B.xor(alpha, beta, w)
    mu = B.or_(B.or_(chi, a.mask, w), b.mask, w)
    return Tnum(B.and_(dv, _not(B, mu, w), w), mu, w)


def neg(B, a: Tnum) -> Tnum:
    return sub(B, const(B, 0, a.w), a)


def and_(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    alpha = B.or_(a.value, a.mask, w)
    beta = B.or_(b.value, b.mask, w)
    v = B.and_(a.value, b.value, w)
    return Tnum(v, B.and_(B.and_(alpha, beta, w), _not(B, v, w), w), w)


def or_(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    v = B.or_(a.value, b.value, w)
    mu = B.or_(a.mask, b.mask, w)
    return Tnum(v, B.and_(mu, _not(B, v, w), w), w)


def xor(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    v = B.xor(a.value, b.value, w)
    mu = B.or_(a.mask, b.mask, w)
    return Tnum(B.and_(v, _not(B, mu, w), w), mu, w)


def mul(B, a: Tnum, b: Tnum) -> Tnum:
    """6.18 ``tnum_mul`` (long multiplication over the trits of ``a``): a certain 1 adds ``b``;
    an unknown bit takes ``tnum_union(acc, acc + b)``; ``b`` shifts left each step. The
    kernel loops while ``a`` has bits left; running all ``w`` steps is the same (a step with
    a known-0 bit changes nothing)."""
    w = a.w
    one = _c(B, 1, w)
    zero = _c(B, 0, w)
    acc = const(B, 0, w)
    av, am = a.value, a.mask
    for _ in range(w):
        plus = add(B, acc, b)
        bit1 = B.not_(B.eq(B.and_(av, one, w), zero, w))
        bitx = B.not_(B.eq(B.and_(am, one, w), zero, w))
        acc = ite(B, bit1, plus, ite(B, bitx, union(B, acc, plus), acc))
        av, am = B.lshr(av, one, w), B.lshr(am, one, w)
        b = lshift(B, b, one)
        if isinstance(av, int) and isinstance(am, int) and av == 0 and am == 0:
            break  # int back end: the kernel's own loop exit
    return acc


def intersect(B, a: Tnum, b: Tnum) -> Tnum:
    w = a.w
    v = B.or_(a.value, b.value, w)
    mu = B.and_(a.mask, b.mask, w)
    return Tnum(B.and_(v, _not(B, mu, w), w), mu, w)


def union(B, a: Tnum, b: Tnum) -> Tnum:
    """``tnum_union``: the smallest tnum containing both."""
    w = a.w
    v = B.and_(a.value, b.value, w)
    mu = B.or_(B.or_(B.xor(a.value, b.value, w), a.mask, w), b.mask, w)
    return Tnum(B.and_(v, _not(B, mu, w), w), mu, w)


def cast(B, a: Tnum, size: int) -> Tnum:
    """``tnum_cast``: keep the low ``size`` bytes (``size`` a Python int). At a reduced
    proof width, sizes are scaled: 4 bytes = the half-width subregister."""
    w = a.w
    bits = min(8 * size * w // 64, w)
    m = _c(B, _mask(bits), w)
    return Tnum(B.and_(a.value, m, w), B.and_(a.mask, m, w), w)


def overlap(B, a: Tnum, b: Tnum):
    """``tnum_overlap``: the known bits of both agree (they may share a value)."""
    w = a.w
    mu = B.and_(_not(B, a.mask, w), _not(B, b.mask, w), w)
    return B.eq(B.and_(a.value, mu, w), B.and_(b.value, mu, w), w)


# -- subregisters -----------------------------------------------------------------------
def subreg(B, a: Tnum) -> Tnum:
    return cast(B, a, 4)


def clear_subreg(B, a: Tnum) -> Tnum:
    h = a.w // 2
    return lshift(B, rshift(B, a, h), h)


def with_subreg(B, reg: Tnum, sub: Tnum) -> Tnum:
    return or_(B, clear_subreg(B, reg), subreg(B, sub))


def const_subreg(B, a: Tnum, v) -> Tnum:
    return with_subreg(B, a, const(B, v, a.w))


# -- predicates (back-end booleans) -----------------------------------------------------
def is_const(B, a: Tnum):
    return B.eq(a.mask, _c(B, 0, a.w), a.w)


def subreg_is_const(B, a: Tnum):
    return is_const(B, subreg(B, a))


def is_unknown(B, a: Tnum):
    return B.eq(a.mask, _c(B, _mask(a.w), a.w), a.w)


def equals_const(B, a: Tnum, v):
    w = a.w
    v = _c(B, v, w) if isinstance(v, int) else v
    return B.and_b(is_const(B, a), B.eq(a.value, v, w))


def is_aligned(B, a: Tnum, size: int):
    w = a.w
    if size == 0:
        return B.bool_const(True)
    return B.eq(B.and_(B.or_(a.value, a.mask, w), _c(B, size - 1, w), w), _c(B, 0, w), w)


def tnum_in(B, a: Tnum, b: Tnum):
    """``tnum_in(a, b)``: ``b``'s values are all ``a``'s (b's unknown bits are unknown in a,
    and the known bits agree)."""
    w = a.w
    extra = B.and_(b.mask, _not(B, a.mask, w), w)
    bv = B.and_(b.value, _not(B, a.mask, w), w)
    return B.and_b(B.eq(extra, _c(B, 0, w), w), B.eq(a.value, bv, w))


def contains(B, a: Tnum, x):
    """``x`` (width ``w``) is one of ``a``'s values."""
    w = a.w
    x = _c(B, x, w) if isinstance(x, int) else x
    return B.eq(B.and_(x, _not(B, a.mask, w), w), a.value, w)


def well_formed(B, a: Tnum):
    return B.eq(B.and_(a.value, a.mask, a.w), _c(B, 0, a.w), a.w)


__all__ = ["Tnum", "const", "unknown", "range_", "lshift", "rshift", "arshift", "add", "sub",
           "neg", "and_", "or_", "xor", "mul", "intersect", "union", "cast", "overlap",
           "subreg", "clear_subreg", "with_subreg", "const_subreg", "is_const",
           "subreg_is_const", "is_unknown", "equals_const", "is_aligned", "tnum_in",
           "contains", "well_formed", "ite"]
