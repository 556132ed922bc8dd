"""Pruning as the kernel's, continued (tests/test_pruning_kernel_parity.py): programs in
the shape of real code (linux samples, tetragon) where skv once processed far more
instructions than Linux 6.18, one per cause found, each with an unsafe twin where the
difference that pruning now ignores does matter."""

from __future__ import annotations

from model.isa import LegacyLoad
from test_pruning_kernel_parity import PRANDOM, _check, _pad, _prog
from vergen_base import Alu, Asm, Call, Exit, Load, Store, VerProg


# -- LD_IND's offset register is not precise (check_ld_abs only checks it is set) ----------
def _ld_ind_program(unsafe: bool) -> VerProg:
    """sockex2's header walk: four stages, each adding a header's length to the offset
    in r7 (one of two lengths, on the two sides of a random test), then reading the packet
    at it with LD_IND. The offset's value matters to no check (the load's bounds are
    checked when it runs), so the states at each join are equivalent. ``unsafe``: the
    offset also indexes the stack at the end, out of bounds on one side."""
    a = Asm()
    a.put(Alu("mov", True, 6, src=1), Alu("mov", True, 7, imm=0))
    for stage in range(4):
        other, join = a.label(), a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, other, imm=7)
        a.put(Alu("add", True, 7, imm=-16))
        a.jmp("ja", 0, join)
        a.at(other)
        a.put(Alu("add", True, 7, imm=80 if unsafe and stage == 3 else -8))
        a.at(join)
        _pad(a)
        a.put(LegacyLoad(2, "ind", 7, 0))
    if unsafe:
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, src=7), Load(1, 0, 2, 0))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_an_ld_ind_offset_does_not_stop_pruning():
    _check(_ld_ind_program(False), True)


def test_an_ld_ind_offset_used_later_as_a_stack_index_is_compared():
    _check(_ld_ind_program(True), False, "invalid")


# -- a copy of a "rX += const" scalar drops the link (assign_scalar_id_before_mov) --------
def _spilled_add_const_program(unsafe: bool) -> VerProg:
    """tetragon's filter loops: ``r2 = r3; r2 += 8`` (r2 linked to r3 plus 8), r2 spilled,
    then six diamonds on random values, then the spilled value indexes the stack (so it
    is precise). The kernel gives the spilled copy a fresh id without the ``+8`` link, so
    the stored states at the joins (whose lone ids are dropped) cover the later ones.
    ``unsafe``: one side of the third diamond spills 200 there instead, out of bounds."""
    a = Asm()
    a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=63), Alu("mov", True, 3, src=0),
          Alu("mov", True, 2, src=3), Alu("add", True, 2, imm=8), Store(8, 10, -16, src=2))
    for k in range(6):
        skip = a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=7)
        a.put(Alu("mov", True, 1, imm=200 if unsafe and k == 2 else 1))
        if unsafe and k == 2:
            a.put(Store(8, 10, -16, src=1))
        a.at(skip)
        _pad(a)
    a.put(Load(8, 1, 10, -16), Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-128),
          Alu("add", True, 2, src=1), Store(1, 2, 0, imm=0))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_spilled_copy_of_an_add_const_scalar_does_not_stop_pruning():
    _check(_spilled_add_const_program(False), True)


def test_an_out_of_bounds_spilled_value_is_compared():
    _check(_spilled_add_const_program(True), False, "invalid")
