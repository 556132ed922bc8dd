"""The BPF instruction semantics, written once over a back end (``IntBackend`` or
``Z3Backend``): ALU and ALU64, byte swaps, jump conditions, load extension, atomics.

Register values are 64-bit. Facts from RFC 9669: ALU (32-bit) results are zero-extended;
shift amounts are masked to the width; ``x / 0 = 0`` and ``x % 0 = x`` (for 32-bit the upper
half is cleared); signed division truncates and ``MIN / -1`` wraps; ``movsx`` sign-extends
the low 8/16/32 bits; ``le``/``be`` on a little-endian machine truncate / swap then
zero-extend; ``bswap`` always swaps.
"""

from __future__ import annotations

from model.isa import Alu, Endian


def imm64(B, imm: int):
    """An instruction's 32-bit immediate as a 64-bit operand (sign-extended)."""
    return B.const(imm, 64)


def alu(B, insn: Alu, dst, src):
    """The new 64-bit value of ``dst``; ``src`` is the 64-bit operand (register or imm64)."""
    w = 64 if insn.is64 else 32
    a = B.trunc(dst, 64, w)
    b = B.trunc(src, 64, w)
    op = insn.op
    zero = B.const(0, w)
    if op == "add":
        r = B.add(a, b, w)
    elif op == "sub":
        r = B.sub(a, b, w)
    elif op == "mul":
        r = B.mul(a, b, w)
    elif op == "div":
        r = _by_nonzero(B, b, w, lambda d: B.udiv(a, d, w), zero)
    elif op == "sdiv":
        r = _by_nonzero(B, b, w, lambda d: B.sdiv(a, d, w), zero)
    elif op == "mod":
        r = _by_nonzero(B, b, w, lambda d: B.urem(a, d, w), a)
    elif op == "smod":
        r = _by_nonzero(B, b, w, lambda d: B.srem(a, d, w), a)
    elif op == "or":
        r = B.or_(a, b, w)
    elif op == "and":
        r = B.and_(a, b, w)
    elif op == "xor":
        r = B.xor(a, b, w)
    elif op in ("lsh", "rsh", "arsh"):
        amount = B.and_(b, B.const(w - 1, w), w)
        r = {"lsh": B.shl, "rsh": B.lshr, "arsh": B.ashr}[op](a, amount, w)
    elif op == "neg":
        r = B.neg(a, w)
    elif op == "mov":
        r = b
    elif op == "movsx":
        r = B.sext(B.trunc(b, w, insn.off), insn.off, w)
    else:
        raise ValueError(f"no semantics for ALU op {op}")
    return B.zext(r, w, 64)


def _by_nonzero(B, divisor, w, f, if_zero):
    """``f(divisor)`` when the divisor is not zero, else ``if_zero`` (RFC 9669 rules)."""
    is_zero = B.eq(divisor, B.const(0, w), w)
    if B.is_const(divisor):
        return if_zero if is_zero else f(divisor)
    safe = B.ite(is_zero, B.const(1, w), divisor, w)  # keep the solver's division total
    return B.ite(is_zero, if_zero, f(safe), w)


def byteswap(B, v, w: int):
    parts = [(B.extract(v, 8 * k + 7, 8 * k), 8) for k in range(w // 8)]
    return B.concat(parts)  # least significant byte first = most significant in the result


def endian(B, insn: Endian, dst):
    low = B.trunc(dst, 64, insn.width)
    if insn.kind == "le":  # this machine is little-endian: no swap
        r = low
    else:  # be, bswap
        r = byteswap(B, low, insn.width)
    return B.zext(r, insn.width, 64)


def condition(B, cond: str, is32: bool, a, b):
    """Does the jump ``if a <cond> b`` take its edge? (``a``, ``b`` 64-bit values)."""
    w = 32 if is32 else 64
    a, b = B.trunc(a, 64, w), B.trunc(b, 64, w)
    if cond == "jeq":
        return B.eq(a, b, w)
    if cond == "jne":
        return B.not_(B.eq(a, b, w))
    if cond == "jgt":
        return B.ult(b, a, w)
    if cond == "jge":
        return B.ule(b, a, w)
    if cond == "jlt":
        return B.ult(a, b, w)
    if cond == "jle":
        return B.ule(a, b, w)
    if cond == "jsgt":
        return B.slt(b, a, w)
    if cond == "jsge":
        return B.sle(b, a, w)
    if cond == "jslt":
        return B.slt(a, b, w)
    if cond == "jsle":
        return B.sle(a, b, w)
    if cond == "jset":
        return B.not_(B.eq(B.and_(a, b, w), B.const(0, w), w))
    raise ValueError(f"no semantics for jump condition {cond}")


def extend_load(B, raw, size: int, signed: bool):
    """A loaded ``size``-byte value as a 64-bit register value."""
    bits = 8 * size
    return B.sext(raw, bits, 64) if signed else B.zext(raw, bits, 64)


def atomic_result(B, op: str, size: int, old, src):
    """The value an atomic read-modify-write stores (not for cmpxchg)."""
    w = 8 * size
    s = B.trunc(src, 64, w)
    if op == "add":
        return B.add(old, s, w)
    if op == "or":
        return B.or_(old, s, w)
    if op == "and":
        return B.and_(old, s, w)
    if op == "xor":
        return B.xor(old, s, w)
    if op == "xchg":
        return s
    raise ValueError(f"no semantics for atomic op {op}")
