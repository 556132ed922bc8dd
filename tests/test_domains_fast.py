"""The int back end's fast paths give exactly what the generic code gives: the
``bounds_sync`` shortcut for exact constants, the signed comparisons by bit flipping, and the
domains' field-copying ``replace``."""

from __future__ import annotations

import random

from model.domains.scalar import Scalar, bounds_sync, bounds_sync_steps, replace
from model.domains.tnum import Tnum
from model.semantics.backend import INT, to_signed

EDGES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32,
         (1 << 32) + 5, 0x7fff_ffff_ffff_ffff, 1 << 63, (1 << 64) - 1, (1 << 64) - 0x8000_0000,
         (1 << 64) - 0x8000_0001]


def _values(n=3000, w=64):
    rng = random.Random(14)
    out = [v & ((1 << w) - 1) for v in EDGES]
    out += [rng.getrandbits(w) for _ in range(n)]
    out += [rng.getrandbits(rng.randint(1, w)) for _ in range(n)]
    return out


def test_exact_constants_are_fixpoints_of_bounds_sync():
    for w in (64, 16, 8):
        for v in _values(1000, w):
            s = Scalar.const(v, w=w)
            assert bounds_sync_steps(INT, s) == s, (w, hex(v))
            assert bounds_sync(INT, s) is s


def test_non_constants_take_the_full_path():
    s = Scalar.from_urange(3, 9)
    assert bounds_sync(INT, s) == bounds_sync_steps(INT, s)
    # all bounds equal but the tnum unknown: not the shortcut
    t = replace(Scalar.const(5), var_off=Tnum(0, 0xff))
    assert bounds_sync(INT, t) == bounds_sync_steps(INT, t)
    assert bounds_sync(INT, t).var_off == Tnum(5, 0)


def test_signed_comparisons_match_to_signed():
    rng = random.Random(3)
    for w in (64, 32, 16, 8):
        vals = _values(300, w)
        for _ in range(4000):
            a, b = rng.choice(vals), rng.choice(vals)
            sa, sb = to_signed(a, w), to_signed(b, w)
            assert INT.slt(a, b, w) == (sa < sb)
            assert INT.sle(a, b, w) == (sa <= sb)
            assert INT.smin(a, b, w) == (a if sa < sb else b)
            assert INT.smax(a, b, w) == (a if sa > sb else b)


def test_replace_matches_a_fresh_construction():
    s = Scalar.from_urange(1, 100)
    for kw in ({}, {"umin": 7}, {"var_off": Tnum(0, 0xf), "smax": 12}):
        a, b = replace(s, **kw), Scalar(**{**s._asdict(), **kw})
        assert a == b and hash(a) == hash(b) and type(a) is Scalar
    assert s.umin == 1  # the original is unchanged
    t = Tnum(4, 3)
    assert replace(t, mask=1) == Tnum(4, 1)


def test_domain_values_are_immutable_and_pickle():
    import pickle

    s = Scalar.from_urange(1, 100)
    for attr in ("umin", "var_off"):
        try:
            setattr(s, attr, 0)
        except AttributeError:
            pass
        else:
            raise AssertionError(f"{attr} was assigned")
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is Scalar
    assert Scalar.const(5) == Scalar(Tnum(5, 0), 5, 5, 5, 5, 5, 5, 5, 5)
    assert Scalar.const(5) != Scalar.const(6) and Tnum(1, 0) != Tnum(1, 0, 32)


def test_constant_folding_matches_the_abstract_alu():
    from model.domains.scalar_alu import BINARY, alu, scalar_alu
    from model.isa import Alu

    rng = random.Random(5)
    vals = _values(200)
    shifts = list(range(0, 66))
    for op in BINARY:
        for is64 in (True, False):
            for _ in range(400):
                a = rng.choice(vals)
                b = rng.choice(shifts if op in ("lsh", "rsh", "arsh") else vals)
                da, sb = Scalar.const(a), Scalar.const(b if is64 else b & 0xFFFF_FFFF)
                insn = Alu(op, is64, 1, src=2)
                assert scalar_alu(INT, insn, da, sb) == alu(INT, op, is64, da, sb), \
                    (op, is64, hex(a), hex(b))


def test_constant_branches_match_the_abstract_logic():
    """Two exact constants: ``scalar_branch_taken`` is the concrete condition and
    ``scalar_refine`` keeps both on the edge they take; both are the generic answers."""
    from model.domains.scalar_branch import (CONDS, branch_taken, refine, scalar_branch_taken,
                                             scalar_refine)

    rng = random.Random(8)
    vals = _values(150)
    for cond in CONDS:
        for is32 in (False, True):
            for _ in range(300):
                a, b = Scalar.const(rng.choice(vals)), Scalar.const(rng.choice(vals))
                if rng.random() < 0.2:
                    b = a
                generic = branch_taken(INT, cond, is32, a, b)
                fast = scalar_branch_taken(INT, cond, is32, a, b)
                assert generic != -1 and fast == bool(generic), (cond, is32, a, b)
                for taken in (False, True):
                    if taken == fast:
                        assert scalar_refine(INT, cond, is32, a, b, taken) == \
                            refine(INT, cond, is32, a, b, taken) == (a, b, True), \
                            (cond, is32, a, b, taken)
