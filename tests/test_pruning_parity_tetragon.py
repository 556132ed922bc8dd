"""Pruning as the kernel's, on shapes from Cilium Tetragon's programs (bench/results/
real_corpora_tetragon_insns.md): skv's processed-instruction count within ``MAX_RATIO`` of
Linux 6.18's in both directions (a state skv prunes and the kernel does not changes
which states are stored after it, and cost skv twice the kernel's count on
generic_tracepoint_event), the pruned verdict equal to full exploration's and the
kernel's; each has an unsafe twin where the difference does matter."""

from __future__ import annotations

from model.verifier.checker import check_program
from test_pruning_kernel_parity import (KERNEL_OK, MAX_RATIO, PRANDOM, _check, _pad, _prog, _tail,
                                        _two_sides)
from vergen_base import Alu, Asm, Call, Exit, Load, Store, VerProg


def _check_both_ways(vp: VerProg, accepted: bool, why: str = "") -> None:
    """``_check``, and an accepted program's count at least the kernel's over
    ``MAX_RATIO``: skv prunes no state the kernel explores on."""
    _check(vp, accepted, why)
    if KERNEL_OK and accepted:
        obj, prog = vp.model()
        ours = check_program(obj, prog, log=False).stats.insns_processed
        theirs = vp.kernel_verify().insns_processed
        assert ours * MAX_RATIO >= theirs, (ours, theirs, vp.text())


def _read_back(a: Asm, index, base: int) -> None:
    """fp-16 read back (live) and copied to fp-24; with ``index`` (the instruction that
    leaves the value to check in r1), r1 then indexes the stack from fp``base``; exit 0."""
    a.put(Load(8, 1, 10, -16), Store(8, 10, -24, src=1))
    if index is not None:
        a.put(index, Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=base),
              Alu("add", True, 2, src=1), Store(1, 2, 0, imm=0))
    a.put(Alu("mov", True, 0, imm=0), Exit())


# -- an 8-byte scalar spill against a partial spill (stacksafe byte by byte) -----------------
def _partial_spill_program(unsafe: bool) -> VerProg:
    """generic_tracepoint_event's error metrics: fp-16's upper half is written with plain
    bytes, then one side spills a whole random register to fp-16, the other only its low
    4 bytes (``rrrrmmmm``). The kernel compares the 8-byte spill with a slot that is not
    one (nor all plain bytes) byte by byte: a spilled byte against a plain one differs,
    so it explores the second side on. ``unsafe``: the partial spill is of 200, and the
    4 bytes read back index the stack, out of bounds (the 8-byte spill's random value is
    masked to 0..63 first)."""
    a = Asm()
    a.put(Call(0, PRANDOM), Alu("mov", True, 7, src=0))
    for off in (-12, -11, -10, -9):
        a.put(Store(1, 10, off, src=7))
    # (r1 set: _two_sides keeps it in r6)
    a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=63), Alu("mov", True, 1, imm=0))
    _two_sides(a, [Store(8, 10, -16, src=0)],
             [Alu("mov", True, 1, imm=200 if unsafe else 8), Store(4, 10, -16, src=1)])
    _tail(a)
    _read_back(a, Load(4, 1, 10, -16) if unsafe else None, -128)
    return _prog(a)


def test_an_8_byte_spill_does_not_cover_a_partial_spill():
    _check_both_ways(_partial_spill_program(False), True)


def test_a_partial_spill_read_as_a_stack_index_is_checked():
    _check(_partial_spill_program(True), False, "invalid")


# -- an 8-byte scalar spill against an uninitialised slot (an unbound scalar) ----------------
def _uninit_slot_program(unsafe: bool, allocated: bool = True) -> VerProg:
    """One side spills a random register to fp-16, the other leaves fp-16 uninitialised:
    reading it gives a privileged program an unknown scalar, which is what an imprecise
    spill gives too, so the kernel prunes the second side at the join (regsafe against
    an unbound scalar) when that state's stack reaches fp-16 (``allocated``: fp-32 was
    written first; else stacksafe fails: the old state's slot lies beyond the new one's
    allocated_stack). ``unsafe``: the spill is of 8 and the value read back indexes the
    stack: precise, so an uninitialised slot (any value) is explored and refused."""
    a = Asm()
    if allocated:
        a.put(Store(8, 10, -32, imm=0))
    a.put(Call(0, PRANDOM), Alu("mov", True, 1, imm=0))  # (r1: _two_sides keeps it in r6)
    _two_sides(a, [Alu("mov", True, 1, imm=8) if unsafe else Alu("mov", True, 1, src=0),
                 Store(8, 10, -16, src=1)], [Alu("mov", True, 1, imm=0)])
    _tail(a, 12)
    _read_back(a, Alu("mov", True, 1, src=1) if unsafe else None, -64)
    return _prog(a)


def test_an_imprecise_spill_covers_an_uninitialised_slot():
    _check_both_ways(_uninit_slot_program(False), True)


def test_an_imprecise_spill_does_not_cover_a_slot_past_the_allocated_stack():
    _check_both_ways(_uninit_slot_program(False, allocated=False), True)


def test_a_precise_spill_does_not_cover_an_uninitialised_slot():
    _check(_uninit_slot_program(True), False, "unbounded min value")


# -- a copy minus a constant stays linked (generic_rawtp_process_event's switch) -------------
def _negative_delta_program(op: str, unsafe: bool) -> VerProg:
    """``r1 = r8; r1 += -2`` (or ``r1 -= 2``): the kernel links r1 to r8 with delta -2, so
    ``if r1 < 2`` not taken leaves r8 in {0, 1} (r1 wrapped to -2 or -1) and the test
    ``r8 > 1`` is decided: its branch, which reads the uninitialised r9, is never taken.
    ``unsafe``: the test is ``r8 > 0``, which r8 = 1 takes."""
    a = Asm()
    out, bad = a.label(), a.label()
    a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=3), Alu("mov", True, 8, src=0),
          Alu("mov", True, 1, src=8),
          Alu("add", True, 1, imm=-2) if op == "add" else Alu("sub", True, 1, imm=2))
    a.jmp("jlt", 1, out, imm=2)
    a.jmp("jgt", 8, bad, imm=0 if unsafe else 1)
    a.goto(out)
    a.at(bad)
    a.put(Alu("mov", True, 0, src=9), Exit())
    a.at(out)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_copy_plus_a_negative_constant_is_linked():
    _check(_negative_delta_program("add", False), True)


def test_a_copy_minus_a_constant_is_linked():
    _check(_negative_delta_program("sub", False), True)


def test_a_linked_copy_still_allows_the_values_it_has():
    _check(_negative_delta_program("add", True), False, "!read_ok")
    _check(_negative_delta_program("sub", True), False, "!read_ok")


# -- an old scalar linked to nothing against a linked one (generic_tracepoint_actions) -------
def _link_program(first_delta: int | None, second_delta: int, index: int, via: int) -> VerProg:
    """Two sides leave r7 in a range: ``first_delta`` None: a random value & 63, linked to
    nothing; else r9 = random & 31, r7 = r9 + ``first_delta`` (r7 linked to r9 with that
    delta); the other side always the linked copy with ``second_delta``. After the join
    ``if r7 > 30`` bounds r9 through the link, and register ``via`` (r7 or r9: precise)
    indexes a byte of the stack from fp``index``. The kernel (6.18 stable's regsafe) compares an old r7 without id by its
    range only: the linked side is pruned; an old linked r7 only against the same delta."""
    a = Asm()
    a.put(*[Store(8, 10, off, imm=0) for off in range(-64, 0, 8)])

    def linked(delta: int) -> list:
        return [Call(0, PRANDOM), Alu("and", True, 0, imm=31), Alu("mov", True, 9, src=0),
                Alu("mov", True, 7, src=9), Alu("add", True, 7, imm=delta)]
    one = ([Call(0, PRANDOM), Alu("and", True, 0, imm=63), Alu("mov", True, 7, imm=0),
            Alu("add", True, 7, src=0), Alu("mov", True, 9, imm=0)]  # (a sum: no id)
           if first_delta is None else linked(first_delta))
    a.put(Alu("mov", True, 1, imm=0))  # (r1: _two_sides keeps it in r6)
    # (2 jumps and 8 instructions on each side: a state stored at the join)
    fill = [Call(0, PRANDOM)] + [Alu("mov", True, 3, imm=0)] * 3
    _two_sides(a, one + fill, linked(second_delta) + fill)
    out = a.label()
    a.jmp("jgt", 7, out, imm=30)
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=index),
          Alu("add", True, 2, src=via), Store(1, 2, 0, imm=0))
    a.at(out)
    _tail(a, 12)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_an_unlinked_old_scalar_covers_a_linked_one():
    vp = _link_program(None, 8, -64, 7)
    _check_both_ways(vp, True)
    if KERNEL_OK:  # the linked side pruned at the join as the kernel does (14 more if not)
        obj, prog = vp.model()
        assert (check_program(obj, prog, log=False).stats.insns_processed
                == vp.kernel_verify().insns_processed)


def test_a_linked_old_scalar_needs_the_same_delta():
    # delta 8: r7 <= 30 leaves r9 <= 22, within fp-23..fp-1; delta 4 lets r9 reach 26
    _check(_link_program(8, 4, -23, 9), False, "invalid")


# -- the checkpoint heuristic per call site (generic_tracepoint_actions' four calls) ---------
def _two_calls_program(unsafe: bool) -> VerProg:
    """main calls f twice; f walks 8 diamonds on random values. The states the first call
    stored in f stay open while the second call runs (it is part of their subtree), but
    the kernel's explored-state lists are per instruction *and* call site: the second
    call stores its own states there after 2 jumps and 8 instructions and prunes each
    diamond's second side at its join, as the first call does (skv waited for a loop's
    20 jumps or 100 instructions there: 415 instructions, the kernel 350). ``unsafe``:
    the second call's argument makes a diamond's side read the uninitialised r9."""
    a = Asm()
    f = a.label()
    a.put(Alu("mov", True, 1, imm=0))
    a.call_sub(f)
    a.put(Alu("mov", True, 1, imm=1 if unsafe else 0))
    a.call_sub(f)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at(f)
    a.put(Alu("mov", True, 6, src=1))
    for k in range(8):
        # (2 jumps and 8 instructions before each prune point: both calls store a state
        # at every one, at the same instructions)
        skip, draw = a.label(), a.label()
        _pad(a)
        a.goto(draw)
        a.at(draw)
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=7)
        if k == 7:
            fine = a.label()
            a.jmp("jeq", 6, fine, imm=0)
            a.put(Alu("mov", True, 0, src=9))
            a.at(fine)
        _pad(a)
        a.goto(skip)
        a.at(skip)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_each_call_site_has_its_own_checkpoints():
    vp = _two_calls_program(False)
    _check_both_ways(vp, True)
    if KERNEL_OK:
        obj, prog = vp.model()
        ours = check_program(obj, prog, log=False).stats.insns_processed
        assert ours == vp.kernel_verify().insns_processed, ours


def test_the_second_call_is_still_checked():
    _check(_two_calls_program(True), False, "!read_ok")


# -- a prune skv refuses: an old uninitialised byte against a new spilled pointer ------------
def _uninit_or_pointer_program(op: Alu) -> VerProg:
    """One side leaves fp-16 uninitialised, the other spills a stack pointer there; after
    the join fp-16 is filled into r1 and ``op`` applied. Linux 6.18's stacksafe skips an
    old STACK_INVALID byte whatever the new byte holds (a privileged program reads it as
    an unknown scalar), so it prunes the pointer side at the join: the program is accepted
    although the pointer side breaks the kernel's own rule (no bitwise or multiplying
    arithmetic on a pointer). skv refuses that match (state.slot_covers): the pruned
    verdict is full exploration's. This is the first divergence on Tetragon's v6.1
    generic_tracepoint_process_event and generic_rawtp_process_event (4.3x and 3.7x the
    kernel's processed instructions, bench/results/real_corpora_tetragon_insns.md)."""
    a = Asm()
    a.put(Store(8, 10, -24, imm=0))
    _two_sides(a, [Alu("mov", True, 3, imm=0)],
               [Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-24),
                Store(8, 10, -16, src=2)])
    _tail(a)
    a.put(Load(8, 1, 10, -16), op, Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_an_uninitialised_old_byte_does_not_cover_a_new_pointer():
    for op, why in ((Alu("and", True, 1, imm=255), "bitwise operator &= on pointer"),
                    (Alu("mul", True, 1, imm=3), "pointer arithmetic with *= operator")):
        vp = _uninit_or_pointer_program(op)
        obj, prog = vp.model()
        for prune in (True, False):
            result = check_program(obj, prog, log=False, prune=prune)
            assert not result.accepted and why in result.error.message, result.error
        if KERNEL_OK:  # the kernel prunes the pointer side away (its log: "safe" at the join)
            k = vp.kernel_verify()
            assert k.ok and " safe" in k.log, k.log[-600:]


def test_the_uninitialised_side_alone_is_accepted():
    # the same program with a scalar where the pointer was: both verifiers accept it
    a = Asm()
    a.put(Store(8, 10, -24, imm=0))
    _two_sides(a, [Alu("mov", True, 3, imm=0)], [Store(8, 10, -16, imm=7)])
    _tail(a)
    a.put(Load(8, 1, 10, -16), Alu("and", True, 1, imm=255), Alu("mov", True, 0, imm=0), Exit())
    _check(_prog(a), True)
