"""Two back ends for the one BPF semantics: Python ints and Z3 bit-vectors.

The semantics (``model.semantics.alu`` and friends) is written once against this interface.
Values are bit-vectors of an explicit width ``w``; booleans are whatever the back end
uses (``bool`` for ints, ``z3.BoolRef`` for Z3). The int back end keeps every value in
``[0, 2**w)``.
"""

from __future__ import annotations

from typing import Final

_MASKS: Final = tuple((1 << w) - 1 for w in range(129))


def mask(w: int) -> int:
    return _MASKS[w] if w <= 128 else (1 << w) - 1


def to_signed(v: int, w: int) -> int:
    v &= _MASKS[w]
    return v - (1 << w) if v >> (w - 1) else v


class IntBackend:
    """Concrete evaluation over Python ints."""

    name = "int"

    def const(self, v: int, w: int) -> int:
        return v & _MASKS[w]

    def add(self, a, b, w):
        return (a + b) & _MASKS[w]

    def sub(self, a, b, w):
        return (a - b) & _MASKS[w]

    def mul(self, a, b, w):
        return (a * b) & _MASKS[w]

    def neg(self, a, w):
        return (-a) & _MASKS[w]

    def udiv(self, a, b, w):  # b != 0 is guaranteed by the caller
        return a // b

    def urem(self, a, b, w):
        return a % b

    def sdiv(self, a, b, w):  # truncates toward zero; MIN / -1 wraps to MIN
        sa, sb = to_signed(a, w), to_signed(b, w)
        q = abs(sa) // abs(sb)
        return (q if (sa < 0) == (sb < 0) else -q) & _MASKS[w]

    def srem(self, a, b, w):  # the sign follows the dividend
        sa, sb = to_signed(a, w), to_signed(b, w)
        r = abs(sa) % abs(sb)
        return (-r if sa < 0 else r) & _MASKS[w]

    def and_(self, a, b, w):
        return a & b

    def or_(self, a, b, w):
        return a | b

    def xor(self, a, b, w):
        return a ^ b

    def shl(self, a, b, w):
        return (a << b) & _MASKS[w]

    def lshr(self, a, b, w):
        return a >> b

    def ashr(self, a, b, w):
        return (to_signed(a, w) >> b) & _MASKS[w]

    def zext(self, a, frm, to):
        return a & _MASKS[frm]

    def sext(self, a, frm, to):
        return to_signed(a, frm) & _MASKS[to]

    def trunc(self, a, frm, to):
        return a & _MASKS[to]

    def extract(self, a, hi, lo):
        return (a >> lo) & _MASKS[hi - lo + 1]

    def concat(self, parts):  # parts: [(value, width)], most significant first
        out = 0
        for v, w in parts:
            out = (out << w) | (v & _MASKS[w])
        return out

    def eq(self, a, b, w):
        return a == b

    def ult(self, a, b, w):
        return a < b

    def ule(self, a, b, w):
        return a <= b

    def slt(self, a, b, w):
        t = 1 << (w - 1)
        m = _MASKS[w]
        return (a & m) ^ t < (b & m) ^ t

    def sle(self, a, b, w):
        t = 1 << (w - 1)
        m = _MASKS[w]
        return (a & m) ^ t <= (b & m) ^ t

    def not_(self, c):
        return not c

    def ite(self, c, a, b, w):
        return a if c else b

    def is_const(self, v) -> bool:
        return True

    # -- added for the abstract domains (model.domains): min/max, booleans, overflow tests --
    def umin(self, a, b, w):
        return a if a < b else b

    def umax(self, a, b, w):
        return a if a > b else b

    def smin(self, a, b, w):  # signed order = unsigned order with the sign bit flipped
        t = 1 << (w - 1)
        m = _MASKS[w]
        return a if (a & m) ^ t < (b & m) ^ t else b

    def smax(self, a, b, w):
        t = 1 << (w - 1)
        m = _MASKS[w]
        return a if (a & m) ^ t > (b & m) ^ t else b

    def bool_const(self, v: bool):
        return bool(v)

    def and_b(self, *cs):
        return all(cs)

    def or_b(self, *cs):
        return any(cs)

    def bool_ite(self, c, a, b):
        return a if c else b

    def add_overflows(self, a, b, w):  # unsigned a + b >= 2**w
        return a + b > _MASKS[w]

    def sadd_overflows(self, a, b, w):
        r = to_signed(a, w) + to_signed(b, w)
        return not -(1 << (w - 1)) <= r < (1 << (w - 1))

    def sub_overflows(self, a, b, w):  # unsigned a - b < 0
        return a < b

    def ssub_overflows(self, a, b, w):
        r = to_signed(a, w) - to_signed(b, w)
        return not -(1 << (w - 1)) <= r < (1 << (w - 1))

    def mul_overflows(self, a, b, w):
        return a * b > _MASKS[w]

    def smul_overflows(self, a, b, w):
        r = to_signed(a, w) * to_signed(b, w)
        return not -(1 << (w - 1)) <= r < (1 << (w - 1))


class Z3Backend:
    """Symbolic evaluation over Z3 bit-vectors."""

    name = "z3"

    def __init__(self):
        import z3

        self.z3 = z3

    def const(self, v, w: int):
        return self.z3.BitVecVal(v & mask(w), w)

    def add(self, a, b, w):
        return a + b

    def sub(self, a, b, w):
        return a - b

    def mul(self, a, b, w):
        return a * b

    def neg(self, a, w):
        return -a

    def udiv(self, a, b, w):
        return self.z3.UDiv(a, b)

    def urem(self, a, b, w):
        return self.z3.URem(a, b)

    def sdiv(self, a, b, w):
        return a / b  # bvsdiv: truncating, MIN / -1 = MIN

    def srem(self, a, b, w):
        return self.z3.SRem(a, b)

    def and_(self, a, b, w):
        return a & b

    def or_(self, a, b, w):
        return a | b

    def xor(self, a, b, w):
        return a ^ b

    def shl(self, a, b, w):
        return a << b

    def lshr(self, a, b, w):
        return self.z3.LShR(a, b)

    def ashr(self, a, b, w):
        return a >> b

    def zext(self, a, frm, to):
        return self.z3.ZeroExt(to - frm, a) if to > frm else a

    def sext(self, a, frm, to):
        return self.z3.SignExt(to - frm, a) if to > frm else a

    def trunc(self, a, frm, to):
        return self.z3.Extract(to - 1, 0, a) if to < frm else a

    def extract(self, a, hi, lo):
        return self.z3.Extract(hi, lo, a)

    def concat(self, parts):
        vals = [v for v, _ in parts]
        return vals[0] if len(vals) == 1 else self.z3.Concat(*vals)

    def eq(self, a, b, w):
        return a == b

    def ult(self, a, b, w):
        return self.z3.ULT(a, b)

    def ule(self, a, b, w):
        return self.z3.ULE(a, b)

    def slt(self, a, b, w):
        return a < b

    def sle(self, a, b, w):
        return a <= b

    def not_(self, c):
        return self.z3.Not(c)

    def ite(self, c, a, b, w):
        return self.z3.If(c, a, b)

    def is_const(self, v) -> bool:
        return self.z3.is_bv_value(v)

    # -- added for the abstract domains (model.domains): min/max, booleans, overflow tests --
    def umin(self, a, b, w):
        return self.z3.If(self.z3.ULT(a, b), a, b)

    def umax(self, a, b, w):
        return self.z3.If(self.z3.UGT(a, b), a, b)

    def smin(self, a, b, w):
        return self.z3.If(a < b, a, b)

    def smax(self, a, b, w):
        return self.z3.If(a > b, a, b)

    def bool_const(self, v: bool):
        return self.z3.BoolVal(bool(v))

    def and_b(self, *cs):
        return self.z3.And(*cs) if cs else self.z3.BoolVal(True)

    def or_b(self, *cs):
        return self.z3.Or(*cs) if cs else self.z3.BoolVal(False)

    def bool_ite(self, c, a, b):
        return self.z3.If(c, a, b)

    def add_overflows(self, a, b, w):
        return self.z3.Not(self.z3.BVAddNoOverflow(a, b, False))

    def sadd_overflows(self, a, b, w):
        z3 = self.z3
        return z3.Not(z3.And(z3.BVAddNoOverflow(a, b, True), z3.BVAddNoUnderflow(a, b)))

    def sub_overflows(self, a, b, w):
        return self.z3.ULT(a, b)

    def ssub_overflows(self, a, b, w):
        z3 = self.z3
        return z3.Not(z3.And(z3.BVSubNoOverflow(a, b), z3.BVSubNoUnderflow(a, b, True)))

    def mul_overflows(self, a, b, w):
        return self.z3.Not(self.z3.BVMulNoOverflow(a, b, False))

    def smul_overflows(self, a, b, w):
        z3 = self.z3
        return z3.Not(z3.And(z3.BVMulNoOverflow(a, b, True), z3.BVMulNoUnderflow(a, b)))


INT: Final = IntBackend()
