"""Pruning soundness.

1. Verdicts: for generated programs (tests/vergen.py) the verdict with pruning equals the
   verdict of exploring every path in full (``Checker(prune=False)``).
2. The subsumption order itself: whenever ``covers(old, new)`` (model/verifier/state.py),
   every concrete state of ``new`` — register values, stack bytes, spilled values — is a
   concrete state of ``old``. Checked with hypothesis over small scalar / stack shapes by
   drawing concrete members of ``new`` and testing them against ``old``.

Concretisation used: a scalar is the set of its ``contains`` values; NOT_INIT (in ``old``)
and an invalid or misc stack byte are any byte (a privileged program may read
uninitialised stack and gets an unknown value); a zero byte is 0; a spill of ``n`` bytes
holds the low ``n`` bytes of a value of the spilled scalar.
"""

from __future__ import annotations

import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from model.domains import Scalar, coerce_to_size
from model.verifier.checker import check_program
from model.verifier.regs import NOT_INIT, Reg, T
from model.verifier.state import (INVALID, MISC, SPILL, ZERO, Frame, Slot, State, covers,
                                  reg_covers, scalar_covers, slot_covers)

N_PROGRAMS = 400
SEEDS = (11, 12)
NO_PRUNE_BUDGET = 200_000


def test_pruned_verdicts_equal_full_exploration():
    from vergen import random_programs

    compared = pruned = 0
    for seed in SEEDS:
        for vp in random_programs(seed, N_PROGRAMS // len(SEEDS)):
            obj, prog = vp.model()
            a = check_program(obj, prog, log=False)
            b = check_program(obj, prog, log=False, prune=False, budget=NO_PRUNE_BUDGET)
            if not b.accepted and "too large" in b.error.message:
                continue  # the full exploration ran out of budget: no verdict to compare
            compared += 1
            pruned += b.stats.insns_processed > a.stats.insns_processed
            assert a.accepted == b.accepted, (vp.text(), a.error, b.error)
    assert compared > 0.9 * N_PROGRAMS
    assert pruned > N_PROGRAMS // 20  # pruning did happen on a fair share of them


# -- shapes --------------------------------------------------------------------------------
M64 = (1 << 64) - 1
POOL = [0, 1, 2, 5, 7, 0xFF, 0x100, 0xFFFF, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 63) - 1,
        1 << 63, (1 << 63) + 10, M64 - 4, M64]


@st.composite
def scalars(draw) -> Scalar:
    kind = draw(st.integers(0, 4))
    v = st.sampled_from(POOL) | st.integers(0, M64)
    if kind == 0:
        return Scalar.const(draw(v))
    if kind == 1:
        return Scalar.unknown()
    if kind == 2:
        a, b = sorted((draw(v), draw(v)))
        return Scalar.from_urange(a, b)
    if kind == 3:
        a, b = sorted((draw(v) - (1 << 63), draw(v) - (1 << 63)))
        return Scalar.from_srange(a & M64, b & M64)
    return Scalar.from_values(draw(st.lists(v, min_size=1, max_size=4)))


def members(s: Scalar, rng: random.Random, n: int = 12) -> list[int]:
    """Concrete values of ``s``: its bounds (when members) and random tnum instances."""
    t = s.var_off
    cands = [s.umin, s.umax, s.smin, s.smax, t.value, t.value | t.mask]
    cands += [t.value | (rng.getrandbits(64) & t.mask) for _ in range(4 * n)]
    return [x for x in dict.fromkeys(cands) if s.contains(x)][:n]


def _scalar_reg(s: Scalar) -> Reg:
    return Reg(T.SCALAR, s)


@settings(max_examples=400, deadline=None)
@given(scalars(), scalars(), st.randoms(use_true_random=False))
@example(Scalar.from_urange(0, (1 << 63) + 10), Scalar.unknown(), random.Random(0))
@example(Scalar.const(0), Scalar.from_urange(6, M64), random.Random(0))
def test_scalar_covers_is_containment(old, new, rng):
    if scalar_covers(old, new):
        for v in members(new, rng):
            assert old.contains(v), (old, new, hex(v))
    if all(old.contains(v) for v in members(new, rng, 64)) and old.contains(new.umin) \
            and old.contains(new.umax) and new.is_const():
        assert scalar_covers(old, new)  # a constant inside is covered (no gratuitous misses)


# -- stack slots ------------------------------------------------------------------------------
@st.composite
def slots(draw) -> Slot:
    form = draw(st.integers(0, 2))
    kinds = "".join(draw(st.lists(st.sampled_from((INVALID, MISC, ZERO)), min_size=8,
                                  max_size=8)))
    if form == 0:
        return Slot(kinds)
    n = 8 if form == 1 else draw(st.sampled_from((1, 2, 4)))
    return Slot(SPILL * n + kinds[n:], _scalar_reg(draw(scalars())))


def _spill_n(s: Slot) -> int:
    n = 0
    while s.spill is not None and n < 8 and s.kinds[n] == SPILL:
        n += 1
    return n


def slot_members(s: Slot, rng: random.Random, n: int = 8) -> list[list]:
    """Concrete contents (8 bytes, None = uninitialised) of a slot."""
    k = _spill_n(s)
    vals = members(s.spill.scalar, rng, n) if k else [None] * n
    out = []
    for v in vals:
        c = list((v & M64).to_bytes(8, "little")[:k]) if k else []
        for x in s.kinds[k:]:
            c.append(0 if x == ZERO else rng.choice((None, 0, 1, 0x80, 0xFF,
                                                     rng.randrange(256))))
        out.append(c)
    return out


def slot_contains(s: Slot, c: list) -> bool:
    k = _spill_n(s)
    if k:
        spill = s.spill.scalar if k == 8 else coerce_to_size(s.spill.scalar, k)
        if any(b is None for b in c[:k]):
            # uninitialised bytes read back (a privileged program may) give any value:
            # only a spill holding every value contains them
            anything = Scalar.unknown()
            if not scalar_covers(spill, anything if k == 8 else coerce_to_size(anything, k)):
                return False
        elif not spill.contains(int.from_bytes(bytes(c[:k]), "little")):
            return False
    return all(b == 0 for x, b in zip(s.kinds[k:], c[k:]) if x == ZERO)


@settings(max_examples=600, deadline=None)
@given(slots(), slots(), st.randoms(use_true_random=False))
@example(Slot(ZERO * 8), Slot(MISC * 8), random.Random(0))
@example(Slot(ZERO * 4 + INVALID * 4), Slot(INVALID * 8), random.Random(0))
@example(Slot(SPILL * 8, _scalar_reg(Scalar.const(0))),
         Slot(SPILL * 8, _scalar_reg(Scalar.unknown())), random.Random(0))
def test_slot_covers_is_containment(old, new, rng):
    if slot_covers(old, new, {}):
        for c in slot_members(new, rng):
            assert slot_contains(old, c), (old, new, c)


# -- whole states -----------------------------------------------------------------------------
@st.composite
def states(draw) -> State:
    regs = [NOT_INIT] * 11
    for r in (1, 2, 3):
        if draw(st.booleans()):
            regs[r] = _scalar_reg(draw(scalars()))
    regs[10] = Reg(T.STACK, None, off=0, frame=0)
    stack = {k: draw(slots()) for k in draw(st.sets(st.integers(0, 2), max_size=2))}
    return State([Frame(regs, stack)], pc=0)


@settings(max_examples=300, deadline=None)
@given(states(), states(), st.randoms(use_true_random=False))
def test_state_covers_is_containment(old, new, rng):
    if not covers(old, new):
        return
    fo, fn = old.frames[0], new.frames[0]
    for ro, rn in zip(fo.regs, fn.regs):
        assert reg_covers(ro, rn, {})
        if ro.type is T.SCALAR:
            for v in members(rn.scalar, rng):
                assert ro.scalar.contains(v), (ro, rn, hex(v))
    for k in set(fo.stack) | set(fn.stack):
        so, sn = fo.stack.get(k, Slot()), fn.stack.get(k, Slot())
        for c in slot_members(sn, rng, 4):
            assert slot_contains(so, c), (k, so, sn, c)
