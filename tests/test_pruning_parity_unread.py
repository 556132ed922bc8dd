"""Pruning as the kernel's where an old slot of plain bytes meets a new spilled pointer
(Cilium Tetragon's generic_tracepoint_process_event, bench/results/
real_corpora_tetragon_insns.md: fp-104 uninitialised in the old state, a map value pointer
in the new one, then a 4-byte key written there and read by bpf_map_lookup_elem).

Linux 6.18's stacksafe skips an old invalid or misc byte whatever the new one holds,
which is unsound when the slot is filled later (the pointer comes back where the old path
saw a scalar). skv matches such a slot only when no instruction reads it before an
``r10`` store writes some byte of it (``state._unread_plain``, ``SlotLiveness.untouched``):
the safe programs here are pruned at the join as the kernel prunes them (its count
exactly); each unsafe twin fills the slot in a way a looser rule would miss, and skv
and its full exploration refuse it (the kernel accepts them: its rule skips the slot)."""

from __future__ import annotations

from model.verifier.checker import check_program
from test_pruning_kernel_parity import (FULL_BUDGET, HASH, KERNEL_OK, PRANDOM, _lookup, _tail,
                                        _two_sides, _with_map)
from test_pruning_parity_tetragon import _check_both_ways
from vergen_base import Alu, Asm, Call, Exit, Load, Store, VerProg

POINTER_ALU = "bitwise operator &= on pointer prohibited"


def _program(after: str) -> VerProg:
    """fp-24 zeroed; one side leaves fp-16 uninitialised, the other spills a pointer to
    fp-24 there (the kernel explores the uninitialised side first: it is stored at the
    join); six diamonds; then ``after`` (below); exit 0."""
    a = Asm()
    a.put(Store(8, 10, -24, imm=0), Alu("mov", True, 1, imm=0))  # (r1: kept in r6)
    _two_sides(a, [Alu("mov", True, 3, imm=0)],
               [Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-24),
                Store(8, 10, -16, src=2)])
    _tail(a)
    sub = _AFTER[after](a)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    if sub is not None:  # a subprogram, after the main program's exit
        sub(a)
    return _with_map(a, HASH, 4)


def _key(a: Asm) -> None:
    """Tetragon's shape: a 4-byte key written at fp-16, read by the helper."""
    a.put(Store(4, 10, -16, imm=0))
    _lookup(a, -16)


def _fill_after_write(a: Asm) -> None:
    """4 bytes written at fp-12, read back and used as a scalar."""
    a.put(Alu("mov", True, 1, imm=7), Store(4, 10, -12, src=1), Load(4, 1, 10, -12),
          Alu("and", True, 1, imm=255))


def _fill_via_pointer(a: Asm) -> None:
    """Unsafe: fp-16 filled through r2 = r10 (not an ``r10`` load), used as a scalar."""
    a.put(Alu("mov", True, 2, src=10), Load(8, 1, 2, -16), Alu("and", True, 1, imm=255))


def _write_on_one_path(a: Asm) -> None:
    """Unsafe: fp-16 written on one path only, then filled and used as a scalar."""
    skip = a.label()
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, skip, imm=7)
    a.put(Store(4, 10, -16, imm=0))
    a.at(skip)
    a.put(Load(8, 1, 10, -16), Alu("and", True, 1, imm=255))


def _write_elsewhere(a: Asm) -> None:
    """Unsafe: the write is to fp-8 (another slot), then fp-16 filled."""
    a.put(Store(4, 10, -8, imm=0), Load(8, 1, 10, -16), Alu("and", True, 1, imm=255))


def _fill_in_callee(a: Asm):
    """Unsafe: a subprogram given r1 = fp-16 fills it and uses it as a scalar."""
    f = a.label()
    a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16))
    a.call_sub(f)

    def sub(a: Asm) -> None:
        a.at(f)
        a.put(Load(8, 0, 1, 0), Alu("and", True, 0, imm=255), Exit())
    return sub


_AFTER = {"key": _key, "fill4": _fill_after_write, "via": _fill_via_pointer,
          "one path": _write_on_one_path, "elsewhere": _write_elsewhere,
          "callee": _fill_in_callee}


def _same_count_as_the_kernel(vp: VerProg) -> None:
    if KERNEL_OK:  # the pointer side pruned at the join, as the kernel prunes it
        obj, prog = vp.model()
        assert (check_program(obj, prog, log=False).stats.insns_processed
                == vp.kernel_verify().insns_processed)


def test_a_pointer_over_plain_bytes_written_before_a_helper_reads_them():
    vp = _program("key")
    _check_both_ways(vp, True)
    _same_count_as_the_kernel(vp)


def test_a_pointer_over_plain_bytes_written_before_they_are_filled():
    vp = _program("fill4")
    _check_both_ways(vp, True)
    _same_count_as_the_kernel(vp)


def _refused(vp: VerProg) -> None:
    """skv and its full exploration refuse it (the pointer side is explored on)."""
    obj, prog = vp.model()
    ours = check_program(obj, prog, log=False)
    assert not ours.accepted and POINTER_ALU in ours.error.message, (vp.text(), ours.error)
    full = check_program(obj, prog, log=False, prune=False, budget=FULL_BUDGET)
    assert not full.accepted and POINTER_ALU in full.error.message, full.error


def test_a_pointer_filled_through_another_register_is_explored():
    _refused(_program("via"))


def test_a_pointer_written_over_on_one_path_only_is_explored():
    _refused(_program("one path"))


def test_a_write_to_another_slot_does_not_end_the_pointer():
    _refused(_program("elsewhere"))


def test_a_pointer_filled_by_a_callee_is_explored():
    _refused(_program("callee"))
