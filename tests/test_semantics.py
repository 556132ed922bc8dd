"""model.semantics: the int back end and the Z3 back end agree on concrete inputs, and both
give the RFC 9669 answers.

The Z3 side is evaluated two ways: on constants (the path the symbolic engine takes for
known values) and as an expression over free bit-vectors, with the inputs substituted
afterwards (the path it takes for unknown values: ``ite`` guards for division by zero,
...); each is then reduced with ``z3.simplify`` to a constant.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given, settings, strategies as st

z3 = pytest.importorskip("z3")

from model.isa import Alu, Endian  # noqa: E402
from model.isa import opcodes as oc  # noqa: E402
from model.semantics import (INT, Z3Backend, alu, atomic_result, condition, endian,  # noqa: E402
                             extend_load, imm64)

Z = Z3Backend()
U64 = (1 << 64) - 1
MIN64, MIN32 = 1 << 63, 1 << 31
EDGES = [0, 1, 2, 7, 31, 32, 63, 64, 65, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
         0x7FFFFFFF, MIN32, 0xFFFFFFFF, 1 << 32, MIN64 - 1, MIN64, U64, U64 - 1,
         0xFFFFFFFF80000000, 0xFFFFFFFF00000000, 0x00000000FFFFFFFE]
VAL = st.one_of(st.sampled_from(EDGES), st.integers(0, U64), st.integers(0, 300),
                st.integers(0, 0xFFFFFFFF), st.integers(-300, -1).map(lambda v: v & U64))
IMM = st.one_of(st.sampled_from([0, 1, -1, 2, -2, 31, 32, 63, 64, -(1 << 31), (1 << 31) - 1]),
                st.integers(-(1 << 31), (1 << 31) - 1))
N = 600  # examples per group


def const(e) -> int:
    v = z3.simplify(e)
    assert z3.is_bv_value(v), v
    return v.as_long()


def truth(e) -> bool:
    v = z3.simplify(e)
    assert z3.is_true(v) or z3.is_false(v), v
    return z3.is_true(v)


X, Y = z3.BitVec("x", 64), z3.BitVec("y", 64)


def subst(e, a, b=None):
    pairs = [(X, z3.BitVecVal(a, 64))] + ([(Y, z3.BitVecVal(b, 64))] if b is not None else [])
    return z3.substitute(e, *pairs)


# --- ALU / ALU64 ---------------------------------------------------------------------------

def _alu_insn(op: str, is64: bool, reg: bool, imm: int, off: int) -> Alu:
    if op == "neg":
        return Alu("neg", is64, 1)
    if op == "movsx":
        return Alu("movsx", is64, 1, 2, 0, off)
    extra = 1 if op in ("sdiv", "smod") else 0
    return Alu(op, is64, 1, 2, 0, extra) if reg else Alu(op, is64, 1, None, imm, extra)


@lru_cache(maxsize=None)
def _alu_expr(insn: Alu):
    src = Y if insn.src is not None else imm64(Z, insn.imm)
    return alu(Z, insn, X, src)


@st.composite
def alu_cases(draw):
    op, is64 = draw(st.sampled_from(oc.ALU_OP_NAMES)), draw(st.booleans())
    offs = oc.MOVSX_OFFS_64 if is64 else oc.MOVSX_OFFS_32
    insn = _alu_insn(op, is64, draw(st.booleans()), draw(IMM), draw(st.sampled_from(offs)))
    return insn, draw(VAL), draw(VAL)


@given(alu_cases())
@settings(max_examples=N, deadline=None)
def test_alu_int_and_z3_agree(case):
    insn, a, b = case
    src_int = b if insn.src is not None else imm64(INT, insn.imm)
    want = alu(INT, insn, a, src_int)
    assert 0 <= want <= U64 and (insn.is64 or want >> 32 == 0)
    src_z = z3.BitVecVal(b, 64) if insn.src is not None else imm64(Z, insn.imm)
    assert const(alu(Z, insn, z3.BitVecVal(a, 64), src_z)) == want
    assert const(subst(_alu_expr(insn), a, b if insn.src is not None else None)) == want


@pytest.mark.parametrize("op", ["div", "sdiv", "mod", "smod"])
@pytest.mark.parametrize("is64", [True, False])
@given(a=VAL)
@settings(max_examples=150, deadline=None)
def test_division_by_zero(op, is64, a):
    insn = _alu_insn(op, is64, True, 0, 0)
    w = 64 if is64 else 32
    want = 0 if op in ("div", "sdiv") else a & ((1 << w) - 1)
    assert alu(INT, insn, a, 0) == want
    assert const(subst(_alu_expr(insn), a, 0)) == want
    assert const(alu(Z, insn, z3.BitVecVal(a, 64), z3.BitVecVal(0, 64))) == want
    imm_insn = _alu_insn(op, is64, False, 0, 0)
    assert alu(INT, imm_insn, a, 0) == want


# --- jumps -----------------------------------------------------------------------------------

CONDS = [c for c in oc.JMP_OPS if c != "ja"]


@lru_cache(maxsize=None)
def _cond_expr(cond: str, is32: bool):
    return condition(Z, cond, is32, X, Y)


@given(st.sampled_from(CONDS), st.booleans(), VAL, st.one_of(VAL, IMM.map(lambda i: i & U64)))
@settings(max_examples=N, deadline=None)
def test_conditions_int_and_z3_agree(cond, is32, a, b):
    want = condition(INT, cond, is32, a, b)
    assert isinstance(want, bool)
    assert truth(condition(Z, cond, is32, z3.BitVecVal(a, 64), z3.BitVecVal(b, 64))) == want
    assert truth(subst(_cond_expr(cond, is32), a, b)) == want


# --- byte swaps, loads, atomics ----------------------------------------------------------------

@given(st.sampled_from(oc.ENDIAN_KINDS), st.sampled_from(oc.ENDIAN_WIDTHS), VAL)
@settings(max_examples=N, deadline=None)
def test_endian_int_and_z3_agree(kind, width, v):
    insn = Endian(kind, width, 0)
    want = endian(INT, insn, v)
    low = v & ((1 << width) - 1)
    swapped = int.from_bytes(low.to_bytes(width // 8, "little"), "big")
    assert want == (low if kind == "le" else swapped)
    assert const(endian(Z, insn, z3.BitVecVal(v, 64))) == want
    assert const(subst(endian(Z, insn, X), v)) == want


@given(st.sampled_from([1, 2, 4, 8]), st.booleans(), VAL)
@settings(max_examples=N, deadline=None)
def test_load_extension_int_and_z3_agree(size, signed, v):
    signed = signed and size < 8
    bits = 8 * size
    raw = v & ((1 << bits) - 1)
    want = extend_load(INT, raw, size, signed)
    neg = signed and raw >> (bits - 1)
    assert want == ((raw - (1 << bits)) & U64 if neg else raw)
    assert const(extend_load(Z, z3.BitVecVal(raw, bits), size, signed)) == want


@given(st.sampled_from(["add", "or", "and", "xor", "xchg"]), st.sampled_from([4, 8]), VAL, VAL)
@settings(max_examples=N, deadline=None)
def test_atomics_int_and_z3_agree(op, size, old, src):
    w = 8 * size
    old &= (1 << w) - 1
    want = atomic_result(INT, op, size, old, src)
    s = src & ((1 << w) - 1)
    ref = {"add": (old + s) & ((1 << w) - 1), "or": old | s, "and": old & s, "xor": old ^ s,
           "xchg": s}[op]
    assert want == ref
    assert const(atomic_result(Z, op, size, z3.BitVecVal(old, w), z3.BitVecVal(src, 64))) == want


# --- RFC 9669 facts ----------------------------------------------------------------------------

def both(insn: Alu, dst: int, src: int) -> int:
    """The value both back ends give (asserting they agree)."""
    v = alu(INT, insn, dst, src)
    assert const(alu(Z, insn, z3.BitVecVal(dst, 64), z3.BitVecVal(src, 64))) == v
    return v


def R(op, is64=True, off=0):
    return Alu(op, is64, 0, 1, 0, 1 if op in ("sdiv", "smod") else off)


def test_rfc9669_division():
    assert both(R("sdiv"), MIN64, U64) == MIN64  # LLONG_MIN s/ -1 wraps
    assert both(R("smod"), MIN64, U64) == 0
    assert both(R("sdiv", False), MIN32, 0xFFFFFFFF) == MIN32
    assert both(R("smod", False), MIN32, 0xFFFFFFFF) == 0
    assert both(R("div"), 12345, 0) == 0  # x / 0 = 0
    assert both(R("mod"), 12345, 0) == 12345  # x % 0 = x
    assert both(R("mod", False), 0xFFFFFFFF00000005, 0) == 5  # ... with the upper half cleared
    assert both(R("div", False), 0xFFFFFFFF00000005, 0) == 0
    assert both(R("sdiv"), -7 & U64, 2) == -3 & U64  # truncates toward zero
    assert both(R("smod"), -7 & U64, 2) == -1 & U64  # the sign follows the dividend
    assert both(R("smod"), 7, -2 & U64) == 1
    assert both(R("smod", False), -7 & 0xFFFFFFFF, 2) == -1 & 0xFFFFFFFF
    assert both(R("div", False), 0x1_0000_0004, 2) == 2  # 32-bit operands
    assert both(R("div"), U64, 2) == U64 >> 1  # unsigned


def test_rfc9669_shifts_and_widths():
    assert both(R("lsh"), 1, 64) == 1  # the amount is masked: 64 & 63 = 0
    assert both(R("lsh"), 1, 65) == 2
    assert both(R("lsh", False), 0xFFFFFFFF_00000001, 32) == 1  # & 31, upper half cleared
    assert both(R("rsh", False), 0x80000000, 33) == 0x40000000
    assert both(R("arsh", False), 0x80000000, 4) == 0xF8000000  # sign of bit 31, zero-extended
    assert both(R("arsh"), MIN64, 63) == U64
    assert both(R("add", False), 0xFFFFFFFF, 1) == 0  # ALU32 wraps and zero-extends
    assert both(R("mul", False), MIN32, 0xFFFFFFFF) == MIN32
    assert both(R("mul"), MIN64, U64) == MIN64
    assert both(Alu("neg", True, 0), MIN64, 0) == MIN64
    assert both(Alu("neg", False, 0), 0x1234_80000000, 0) == MIN32
    assert both(Alu("neg", True, 0), 1, 0) == U64


def test_rfc9669_moves():
    assert alu(INT, Alu("mov", True, 0, None, -1), 0, imm64(INT, -1)) == U64  # imm sign-extends
    assert alu(INT, Alu("mov", False, 0, None, -1), 0, imm64(INT, -1)) == 0xFFFFFFFF
    assert both(Alu("mov", False, 0, 1), 0, 0x1234_5678_9ABC_DEF0) == 0x9ABC_DEF0
    assert both(Alu("movsx", True, 0, 1, 0, 8), 0, 0x80) == 0xFFFFFFFFFFFFFF80
    assert both(Alu("movsx", True, 0, 1, 0, 16), 0, 0x1_7FFF) == 0x7FFF
    assert both(Alu("movsx", True, 0, 1, 0, 32), 0, 0x80000000) == 0xFFFFFFFF80000000
    assert both(Alu("movsx", False, 0, 1, 0, 8), 0, 0xFF) == 0xFFFFFFFF  # 32-bit: upper clear
    assert both(Alu("movsx", False, 0, 1, 0, 16), 0, 0x8000) == 0xFFFF8000


def test_rfc9669_byte_swaps_and_loads():
    v = 0x1122334455667788
    assert endian(INT, Endian("be", 16, 0), v) == 0x8877
    assert endian(INT, Endian("be", 32, 0), v) == 0x88776655
    assert endian(INT, Endian("be", 64, 0), v) == 0x8877665544332211
    assert endian(INT, Endian("le", 16, 0), v) == 0x7788  # truncates on little-endian
    assert endian(INT, Endian("le", 64, 0), v) == v
    assert endian(INT, Endian("bswap", 32, 0), v) == 0x88776655
    assert extend_load(INT, 0x80, 1, True) == 0xFFFFFFFFFFFFFF80
    assert extend_load(INT, 0x80, 1, False) == 0x80
    assert extend_load(INT, 0x80000000, 4, True) == 0xFFFFFFFF80000000


def test_rfc9669_jumps():
    # the immediate is sign-extended to 64 bits, then compared (j-signed-imm.data)
    assert condition(INT, "jeq", False, 0xFFFFFFFF80000000, imm64(INT, -(1 << 31)))
    assert not condition(INT, "jeq", False, 0x80000000, imm64(INT, -(1 << 31)))
    assert condition(INT, "jeq", True, 0x80000000, imm64(INT, -(1 << 31)))  # JMP32: low 32
    assert condition(INT, "jgt", False, U64, 1) and not condition(INT, "jsgt", False, U64, 1)
    assert condition(INT, "jslt", True, 0xFFFFFFFF, 0) and not condition(INT, "jslt", False,
                                                                         0xFFFFFFFF, 0)
    assert condition(INT, "jset", False, 0xFFFFFFFF00000000, imm64(INT, -(1 << 31)))
    assert not condition(INT, "jset", True, 0xFFFFFFFF00000000, imm64(INT, -(1 << 31)))
    assert condition(INT, "jle", False, 5, 5) and condition(INT, "jsge", False, 0, U64)
