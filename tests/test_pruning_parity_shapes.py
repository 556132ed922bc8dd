"""Pruning as the kernel's, continued (tests/test_pruning_kernel_parity.py): programs in
the shape of real code (linux samples, tetragon) where skv once processed far more
instructions than Linux 6.18, one per cause found, each with an unsafe twin where the
difference that pruning now ignores does matter."""

from __future__ import annotations

from model.isa import LegacyLoad
from test_pruning_kernel_parity import PRANDOM, _check, _pad, _prog
from vergen_base import Alu, Asm, Call, Exit, Load, VerProg


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
