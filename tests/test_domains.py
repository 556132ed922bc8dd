"""The abstract domain (model.domains) over the int back end: random abstract values built from
random sets of concrete values, random members, the concrete semantics (model.semantics.ops)
must land inside the abstract results; kernel examples; the Z3 proof script's quick mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.domains import (CONDS, Scalar, Tnum, alu, branch_taken, coerce_to_size, refine,
                           scalar_branch_taken, tnum as tn)
from model.domains.scalar import bounds_sync
from model.isa import Alu
from model.semantics import INT, ops

ROOT = Path(__file__).resolve().parents[1]
M64 = (1 << 64) - 1
SETTINGS = settings(max_examples=1000, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# values around the interesting edges: small, near 2**31/2**32/2**63, negative
_edges = st.sampled_from([0, 1, 2, 3, 7, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000,
                          0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63,
                          M64, M64 - 1, M64 - 0x7F])
_value = st.one_of(_edges, st.integers(0, M64), st.integers(0, 64),
                   st.integers(-300, 300).map(lambda v: v & M64))


@st.composite
def abstract(draw):
    """(Scalar, members): a random finite set, its abstraction (tnum union + exact bounds in
    every view, synced, or a widened range/tnum), and values of the set."""
    base = draw(_value)
    spread = draw(st.sampled_from([0, 1, 3, 15, 255, 1 << 20, M64]))
    vals = draw(st.lists(st.one_of(_value, st.integers(0, spread).map(lambda d: (base + d) & M64)),
                         min_size=1, max_size=6))
    s = Scalar.from_values(vals)
    how = draw(st.sampled_from(["exact", "exact", "urange", "tnum"]))
    if how == "urange":
        s = Scalar.from_urange(min(vals), max(vals))
    elif how == "tnum":
        t = tn.const(INT, vals[0])
        for v in vals[1:]:
            t = tn.union(INT, t, tn.const(INT, v))
        s = Scalar.from_tnum(t)
    for v in vals:
        assert s.contains(v), (s, v)
    return s, vals


def insn_for(op, is64, off=0):
    if op == "neg":
        return Alu("neg", is64, 0)
    if op in ("sdiv", "smod"):
        return Alu(op, is64, 0, 1, off=1)
    return Alu(op, is64, 0, 1, off=off)


def check_alu(op, is64, a, b, off=0):
    (sa, xs), (sb, ys) = a, b
    r = alu(INT, op, is64, sa, sb, off)
    insn = insn_for(op, is64, off)
    for x in xs:
        for y in ys:
            got = ops.alu(INT, insn, x, y)
            assert r.contains(got), (op, is64, sa, sb, hex(x), hex(y), hex(got), r)


@SETTINGS
@given(abstract(), abstract(), st.sampled_from(["add", "sub", "mul", "neg"]), st.booleans())
def test_arith_sound(a, b, op, is64):
    check_alu(op, is64, a, b)


@SETTINGS
@given(abstract(), abstract(), st.sampled_from(["and", "or", "xor", "mov"]), st.booleans())
def test_bitwise_sound(a, b, op, is64):
    check_alu(op, is64, a, b)


@st.composite
def shift_amount(draw):
    k = draw(st.one_of(st.integers(0, 64), st.sampled_from([31, 32, 33, 63])))
    if draw(st.booleans()):
        return Scalar.const(k), [k]
    return draw(abstract())


@SETTINGS
@given(abstract(), shift_amount(), st.sampled_from(["lsh", "rsh", "arsh"]), st.booleans())
def test_shift_sound(a, b, op, is64):
    check_alu(op, is64, a, b)


@SETTINGS
@given(abstract(), abstract(), st.sampled_from(["div", "mod", "sdiv", "smod", "movsx"]),
       st.booleans(), st.sampled_from([8, 16, 32]))
def test_other_alu_sound(a, b, op, is64, off):
    if op == "movsx" and not is64 and off == 32:
        off = 16
    check_alu(op, is64, a, b, off if op == "movsx" else 0)


@SETTINGS
@given(abstract(), abstract(), st.sampled_from(CONDS), st.booleans())
def test_branch_sound(a, b, cond, is32):
    (sa, xs), (sb, ys) = a, b
    verdict = branch_taken(INT, cond, is32, sa, sb)
    assert verdict in (1, 0, -1)
    edges = {True: refine(INT, cond, is32, sa, sb, True),
             False: refine(INT, cond, is32, sa, sb, False)}
    for x in xs:
        for y in ys:
            holds = ops.condition(INT, cond, is32, x, y)
            if verdict != -1:
                assert holds == bool(verdict), (cond, is32, sa, sb, x, y)
            ra, rb, feasible = edges[holds]
            assert feasible and ra.contains(x) and rb.contains(y), (cond, is32, holds, x, y)


@SETTINGS
@given(abstract(), st.sampled_from([1, 2, 4, 8]), st.booleans())
def test_load_coercion_sound(a, size, signed):
    s, xs = a
    r = coerce_to_size(s, size, signed)
    for x in xs:
        raw = x & ((1 << (8 * size)) - 1)
        assert r.contains(ops.extend_load(INT, raw, size, signed))


@SETTINGS
@given(abstract())
def test_bounds_sync_keeps_members_and_is_idempotent_on_members(a):
    s, xs = a
    r = bounds_sync(INT, s)
    assert all(r.contains(x) for x in xs)


# -- kernel examples --------------------------------------------------------------------
def test_tnum_kernel_examples():
    t03 = tn.range_(INT, 0, 3)
    assert (t03.value, t03.mask) == (0, 3)
    s = tn.add(INT, t03, t03)  # {0..3} + {0..3} = (0; 0x7)
    assert (s.value, s.mask) == (0, 7)
    r = tn.range_(INT, 4, 4)  # chi = 0: a constant
    assert (r.value, r.mask) == (4, 0)
    assert tn.range_(INT, 0, M64) == Tnum.top()
    assert (tn.range_(INT, 5, 9).value, tn.range_(INT, 5, 9).mask) == (0, 15)
    # union of two constants: uncertainty where they differ (tnum_union review example)
    u = tn.union(INT, Tnum.of(0b1010), Tnum.of(0b0101))
    assert (u.value, u.mask) == (0, 0b1111)
    # and with a constant clears bits; a kernel log example: unknown & 0xffff0000, + 0x12345
    t = tn.and_(INT, Tnum.top(), Tnum.of(0xFFFF0000))
    assert (t.value, t.mask) == (0, 0xFFFF0000)
    t = tn.add(INT, t, Tnum.of(0x12345))
    assert (t.value, t.mask) == (0x2345, 0x1FFFF0000)
    assert tn.mul(INT, Tnum.of(6), Tnum.of(7)) == Tnum.of(42)
    assert Tnum.top().includes(Tnum.of(5)) and not Tnum.of(5).includes(Tnum.top())
    assert tn.is_aligned(INT, Tnum(8, 0xF0), 8) and not tn.is_aligned(INT, Tnum(8, 0xF1), 2)
    assert tn.subreg(INT, Tnum(0x1_0000_0005, 0)) == Tnum.of(5)
    assert tn.clear_subreg(INT, Tnum(0x1_0000_0005, 0x2_0000_0003)) == Tnum(0x1_0000_0000,
                                                                             0x2_0000_0000)


def test_tnum_mul_exhaustive_small():
    """Every pair of 4-bit tnums, every member pair: the product is contained."""
    w = 8
    trits = []
    for v in range(16):
        for m in range(16):
            if v & m == 0:
                trits.append(Tnum(v, m, w))
    for a in trits[::3]:
        for b in trits[::5]:
            r = tn.mul(INT, a, b)
            for x in range(256):
                if not a.contains(x) or x > 15:
                    continue
                for y in range(16):
                    if b.contains(y):
                        assert r.contains((x * y) & 0xFF), (a, b, x, y, r)


def test_scalar_kernel_examples():
    r = alu(INT, "add", True, Scalar.from_urange(0, 3), Scalar.from_urange(0, 3))
    assert (r.umin, r.umax, r.var_off.value, r.var_off.mask) == (0, 6, 0, 7)
    # u64 add where every sum overflows keeps the wrapped bounds (6.18 add precision)
    r = alu(INT, "add", True, Scalar.from_urange(M64 - 1, M64), Scalar.from_urange(2, 3))
    assert (r.umin, r.umax) == (0, 2)
    # some sums overflow, some don't: unbounded
    r = alu(INT, "add", True, Scalar.from_urange(M64 - 1, M64), Scalar.from_urange(0, 1))
    assert (r.umin, r.umax) == (M64 - 1, M64) or r.umax == M64
    # ALU32 zero-extends
    r = alu(INT, "sub", False, Scalar.from_urange(0, 3), Scalar.const(5))
    assert r.umax <= 0xFFFFFFFF and r.s32_min_s == -5 and r.s32_max_s == -2
    # non-constant shift amount: unknown
    r = alu(INT, "lsh", True, Scalar.from_urange(0, 3), Scalar.from_urange(0, 1))
    assert r.umax == M64 and r.var_off == Tnum.top()
    r = alu(INT, "lsh", True, Scalar.from_urange(0, 3), Scalar.const(4))
    assert (r.umin, r.umax) == (0, 48)
    # div is not tracked in 6.18
    assert alu(INT, "div", True, Scalar.const(8), Scalar.const(2)) == Scalar.unknown()
    # neg of a constant is a constant
    assert alu(INT, "neg", True, Scalar.const(5), Scalar.const(0)).const_value() == M64 - 4
    # sign-extending a byte in [0x80, 0x90]
    r = alu(INT, "movsx", True, Scalar.const(0), Scalar.from_urange(0x80, 0x90), 8)
    assert (r.smin_s, r.smax_s) == (-128, -112)
    # bounds deduction: s64 in [-3, -1] gives u64 [2**64 - 3, 2**64 - 1]
    r = Scalar.from_srange(-3 & M64, -1 & M64)
    assert (r.umin, r.umax) == (M64 - 2, M64)


def test_branch_examples():
    a = Scalar.from_urange(0, 10)
    assert scalar_branch_taken(INT, "jgt", False, a, Scalar.const(10)) is False
    assert scalar_branch_taken(INT, "jle", False, a, Scalar.const(10)) is True
    assert scalar_branch_taken(INT, "jgt", False, a, Scalar.const(5)) is None
    ra, rb, ok = refine(INT, "jgt", False, a, Scalar.const(5), True)
    assert ok and (ra.umin, ra.umax) == (6, 10)
    ra, rb, ok = refine(INT, "jgt", False, a, Scalar.const(5), False)
    assert ok and (ra.umin, ra.umax) == (0, 5)
    # jne against the edge value
    ra, _, ok = refine(INT, "jne", False, a, Scalar.const(0), True)
    assert ok and ra.umin == 1
    # jset with a single bit learns it; the fall-through clears it
    ra, _, ok = refine(INT, "jset", False, Scalar.from_urange(0, 15), Scalar.const(4), True)
    assert ok and ra.var_off.value & 4
    ra, _, ok = refine(INT, "jset", False, Scalar.from_urange(0, 15), Scalar.const(4), False)
    assert ok and not ra.var_off.mask & 4 and ra.umax == 11
    # tnums that cannot agree: jeq never taken (tnum_overlap)
    assert scalar_branch_taken(INT, "jeq", False, Scalar.from_tnum(Tnum(1, 0xF0)),
                               Scalar.from_tnum(Tnum(2, 0xF0))) is False
    # an impossible edge is reported infeasible
    _, _, ok = refine(INT, "jeq", False, Scalar.const(1), Scalar.const(2), True)
    assert not ok
    # 32-bit compare sees only the low half
    big = Scalar.const((7 << 32) | 3)
    assert scalar_branch_taken(INT, "jeq", True, big, Scalar.const(3)) is True


def test_proof_script_quick():
    out = subprocess.run([sys.executable, "-m", "proofs.domain_soundness", "--quick"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln and not ln.startswith(" ")]
    claims = [ln for ln in lines[1:-1]]
    assert claims and all(("PROVED" in ln) != ("BROKEN" in ln) for ln in claims), out.stdout
    assert any("BROKEN" in ln and "COUNTEREXAMPLE" in ln for ln in claims)


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
