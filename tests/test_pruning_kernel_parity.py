"""Pruning as the kernel's: programs in the shape of real code where skv once processed
far more instructions than Linux 6.18 (bench/results/real_corpora_speed.md), one per
cause found. Each asserts that skv's processed-instruction count stays within
``MAX_RATIO`` of the kernel's, and that the pruned verdict equals full exploration
(``prune=False``) and the kernel's; each has an unsafe twin where the difference that
pruning now ignores does matter, so pruning it would be a false accept."""

from __future__ import annotations

from model.kernel import available
from model.verifier.checker import check_program
from vergen_base import Alu, Asm, Call, Exit, Load, MapDef, Store, VerProg

PRANDOM, LOOKUP, HASH = 7, 1, 1
MAX_RATIO = 1.5
FULL_BUDGET = 100_000
KERNEL_OK, KERNEL_WHY = available()


def _prog(a: Asm) -> VerProg:
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {})


def _lookup(a: Asm, off: int) -> None:
    """r0 = bpf_map_lookup_elem(&m, fp + off)."""
    a.ldmap(1, "m")
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=off), Call(0, LOOKUP))


def _with_map(a: Asm, map_type: int, entries: int) -> VerProg:
    """The program with its map m (4-byte keys, 8-byte values)."""
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {"m": MapDef("m", map_type, 4, 8, entries)})


def _check(vp: VerProg, accepted: bool, why: str = "") -> None:
    """The verdict with pruning, of full exploration (unless it runs out of budget: a
    loop) and the kernel's agree; an accepted program's processed-instruction count is
    within ``MAX_RATIO`` of the kernel's."""
    obj, prog = vp.model()
    ours = check_program(obj, prog, log=False)
    assert ours.accepted == accepted, (vp.text(), ours.error)
    if not accepted:
        assert why in ours.error.message, ours.error
    full = check_program(obj, prog, log=False, prune=False, budget=FULL_BUDGET)
    if full.accepted or "too large" not in full.error.message:
        assert full.accepted == accepted, (vp.text(), full.error)
    if KERNEL_OK:
        k = vp.kernel_verify()
        assert k.ok == accepted, k.log[-600:]
        if accepted:
            assert ours.stats.insns_processed <= MAX_RATIO * k.insns_processed, (
                ours.stats.insns_processed, k.insns_processed, vp.text())


def _pad(a: Asm) -> None:
    """Enough instructions and jumps that both verifiers store a state at the next prune
    point (their checkpoint heuristic: 2 jumps and 8 instructions since the last one)."""
    a.put(*[Alu("mov", True, 8, imm=k) for k in range(8)])


def _tail(a: Asm, n: int = 6) -> None:
    """``n`` diamonds on random values: work that a pruned state saves."""
    for _ in range(n):
        skip = a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=7)
        a.put(Alu("mov", True, 1, imm=1), Alu("add", True, 1, imm=2))
        a.at(skip)
        _pad(a)


# -- stack liveness from the reads of the explored paths ------------------------------------
def _join(a: Asm) -> None:
    """Two sides that leave fp-16 differently: a stack pointer (to fp-24, zeroed), a
    random scalar; then the join."""
    other, join = a.label(), a.label()
    a.put(Alu("mov", True, 6, src=1), Alu("mov", True, 9, imm=0), Store(8, 10, -24, imm=0))
    _pad(a)
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, other, imm=100)
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-24), Store(8, 10, -16, src=2))
    a.goto(join)
    a.at(other)
    a.put(Store(8, 10, -16, src=0))
    a.at(join)
    _pad(a)


def _deref_fp16(a: Asm, live: bool) -> None:
    """Dereference what fp-16 holds (unsafe from the scalar side): behind a branch on
    r9 = 0 that the values decide (never explored) unless ``live``."""
    out = a.label()
    if live:
        a.put(Call(0, PRANDOM), Alu("mov", True, 9, src=0))
    a.jmp("jeq", 9, out, imm=0)
    a.put(Load(8, 1, 10, -16), Load(8, 1, 1, 0))
    a.at(out)
    a.put(Alu("mov", True, 0, imm=0), Exit())


def _dead_read_program(live: bool) -> VerProg:
    """The only read of fp-16 after the join is behind a branch the values decide
    (runqlat's rodata-configured branches): never explored, so the kernel finds the slot
    dead at the join and prunes the second side there."""
    a = Asm()
    _join(a)
    _tail(a)
    _deref_fp16(a, live)
    return _prog(a)


def test_a_slot_read_only_on_unexplored_paths_is_dead():
    _check(_dead_read_program(False), True)


def test_a_slot_read_on_an_explored_path_is_live():
    _check(_dead_read_program(True), False, "invalid mem access")


def _helper_key_program(live: bool) -> VerProg:
    """bpf_map_lookup_elem reads its key's 4 bytes at fp-20 only (the map's key_size, as
    runqlat's lookup of &pid), not the stack up to the top: fp-16 stays dead."""
    a = Asm()
    _join(a)
    a.put(Store(4, 10, -20, imm=0))
    _lookup(a, -20)
    _tail(a)
    _deref_fp16(a, live)
    return _with_map(a, HASH, 16)


def test_a_helper_reads_its_key_size_only():
    _check(_helper_key_program(False), True)


def test_a_helper_key_program_with_a_live_read_is_rejected():
    _check(_helper_key_program(True), False, "invalid mem access")


# -- checkpoints and eviction as the kernel's ----------------------------------------------
def _loop_program(bad_at: int | None) -> VerProg:
    """A counted loop (32 iterations) whose body has two diamonds (ksnoop's loops over
    its saved arguments): the kernel counts a pruned state's instruction, stores a state
    inside a loop after 20 jumps or 100 instructions, and counts a stored state's miss
    (towards evicting it) only when a new state is stored there. ``bad_at``: on that
    iteration the body reads the uninitialised r9."""
    a = Asm()
    head, ok = a.label(), a.label()
    a.put(Alu("mov", True, 6, imm=0), Alu("mov", True, 7, imm=0))
    a.at(head)
    for _ in range(2):
        skip = a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=5)
        a.put(Alu("mov", True, 7, imm=1), Alu("add", True, 7, imm=2))
        a.at(skip)
        a.put(*[Alu("mov", True, 8, imm=k) for k in range(4)])
    if bad_at is not None:
        a.jmp("jne", 6, ok, imm=bad_at)
        a.put(Alu("mov", True, 0, src=9))
        a.at(ok)
    a.put(Alu("add", True, 6, imm=1))
    a.jmp("jlt", 6, head, imm=32)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_loop_with_diamonds_checkpoints_as_the_kernel():
    _check(_loop_program(None), True)


def test_a_loop_unsafe_on_one_iteration_is_rejected():
    _check(_loop_program(29), False, "R9 !read_ok")


# -- a caller's registers that the return overwrites ----------------------------------------
def _caller_r0_program(unsafe: bool) -> VerProg:
    """main calls f; f leaves r0 differently on two sides (a constant, a random value)
    and calls g, whose result it uses: f's r0 is written by g's return before f reads it
    (nat64's nested helpers), so states inside g differing only there are equivalent.
    ``unsafe``: f's r6, which survives the call, differs too and decides a read of the
    uninitialised r9 after g returns."""
    a = Asm()
    f, g, other, join, ok = (a.label() for _ in range(5))
    a.call_sub(f)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at(f)
    a.put(Alu("mov", True, 6, imm=2))
    _pad(a)
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, other, imm=100)
    a.put(Alu("mov", True, 0, imm=2))
    a.goto(join)
    a.at(other)
    if unsafe:
        a.put(Alu("mov", True, 6, src=0))
    a.at(join)  # too soon after the state at the jump for one here or at the call
    a.call_sub(g)
    a.jmp("jgt", 0, ok, imm=100)  # g's result decides a jump: f's r0 is sensitive there
    a.jmp("jeq", 6, ok, imm=2)
    a.put(Alu("mov", True, 0, src=9))
    a.at(ok)
    a.put(Alu("add", True, 0, imm=1), Exit())
    a.at(g)
    _pad(a)
    _tail(a, 9)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_callers_r0_overwritten_by_the_return_is_not_compared():
    _check(_caller_r0_program(False), True)


def test_a_callers_saved_register_is_compared():
    _check(_caller_r0_program(True), False, "R9 !read_ok")


def _two_sides(a: Asm, one: list, two: list) -> None:
    """r6 = ctx; a random jump to ``one`` or ``two``; both join (after enough
    instructions that both verifiers store a state at the join)."""
    other, join = a.label(), a.label()
    a.put(Alu("mov", True, 6, src=1))
    _pad(a)
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, other, imm=100)
    a.put(*one)
    a.goto(join)
    a.at(other)
    a.put(*two)
    a.at(join)
    _pad(a)


# -- spills of different sizes --------------------------------------------------------------
def _spill_sizes_program(precise: bool) -> VerProg:
    """One side spills a byte (63) at fp-72, the other a whole random register
    (biosnoop's info->name[0] = '?' or a copied struct): the kernel compares the spilled
    registers, which do not matter unless ``precise``: the byte read back decides a read of
    the uninitialised r9."""
    a = Asm()
    ok = a.label()
    _two_sides(a, [Alu("mov", True, 1, imm=63), Store(1, 10, -72, src=1)],
               [Store(8, 10, -72, src=0)])
    _tail(a)
    if precise:
        a.put(Load(1, 1, 10, -72))
        a.jmp("jeq", 1, ok, imm=63)
        a.put(Alu("mov", True, 0, src=9))
        a.at(ok)
    a.put(Load(8, 0, 10, -72), Exit())
    return _prog(a)


def test_spills_of_other_sizes_that_do_not_matter_are_equivalent():
    _check(_spill_sizes_program(False), True)


def test_a_byte_spill_whose_value_matters_is_compared():
    _check(_spill_sizes_program(True), False, "R9 !read_ok")


# -- a map key's value matters only where the kernel reads it (get_constant_map_key) ---------
ARRAY = 2


def _map_key_program(map_type: int, unsafe: bool) -> VerProg:
    """Two sides spill a different constant 4-byte key at fp-8 (Cilium's metrics keys, a
    reason code per error path), then one lookup. For a hash map the key's value decides
    nothing: the kernel prunes the second side at the join. For an array map (2 entries)
    a constant key in range makes the lookup non-NULL: the kernel marks the key precise,
    and with ``unsafe`` the second side's key (2) is out of range and its value is read
    without a NULL check."""
    a = Asm()
    _two_sides(a, [Alu("mov", True, 1, imm=1), Store(4, 10, -8, src=1)],
               [Alu("mov", True, 1, imm=2 if unsafe else 0), Store(4, 10, -8, src=1)])
    _tail(a)
    _lookup(a, -8)
    if map_type != ARRAY:
        done = a.label()
        a.jmp("jeq", 0, done, imm=0)
        a.put(Load(8, 0, 0, 0))
        a.at(done)
    else:
        a.put(Load(8, 0, 0, 0))  # no NULL check: the key in range vouches for it
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _with_map(a, map_type, 2)


def test_a_hash_maps_key_value_does_not_stop_pruning():
    _check(_map_key_program(HASH, False), True)


def test_an_array_key_in_range_is_compared():
    _check(_map_key_program(ARRAY, True), False, "invalid mem access")


def test_array_keys_all_in_range_are_accepted():
    _check(_map_key_program(ARRAY, False), True)


# -- maybe_fork_scalars: x s>> 31 & K explored as 0 and K ------------------------------------
def _sign_mask_program(op: str, k: int, bad: int, is64: bool,
                       op64: bool | None = None) -> VerProg:
    """``r0 = prandom() s>> 63 (or w0 s>>= 31); r0 op= k`` (a 64-bit operation when
    ``op64``, else as wide as the shift): the kernel forks the [-1, 0] scalar (its low
    half only after a 32-bit shift), so r0 is exactly one of two values; a jump on r0 ==
    ``bad`` reads the uninitialised r9 (a value between the two: never, when each side is
    exact)."""
    a = Asm()
    ok = a.label()
    a.put(Call(0, PRANDOM), Alu("arsh", is64, 0, imm=63 if is64 else 31),
          Alu(op, is64 if op64 is None else op64, 0, imm=k))
    a.jmp("jne", 0, ok, imm=bad)
    a.put(Alu("mov", True, 0, src=9))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_sign_mask_and_is_two_exact_values():
    _check(_sign_mask_program("and", 12, 4, True), True)
    _check(_sign_mask_program("and", 12, 4, False), True)


def test_a_sign_mask_and_reaching_the_value_is_rejected():
    _check(_sign_mask_program("and", 12, 12, True), False, "R9 !read_ok")
    _check(_sign_mask_program("and", 12, 0, False), False, "R9 !read_ok")


def test_a_sign_mask_or_keeps_the_constant_on_the_zero_side():
    # 0 | 4 == 4: the re-run instruction computes it (the kernel's fixed fork)
    _check(_sign_mask_program("or", 4, 4, False), False, "R9 !read_ok")
    _check(_sign_mask_program("or", 4, 6, False), True)


def test_a_64_bit_operation_on_a_32_bit_sign_mask_forks_its_low_half():
    # w0 s>>= 31 leaves 0 or 0xffffffff: r0 &= -1 keeps one of the two
    _check(_sign_mask_program("and", -1, 1, False, op64=True), True)
    _check(_sign_mask_program("and", -1, 0xFFFF, False, op64=True), True)
    _check(_sign_mask_program("and", -1, 0, False, op64=True), False, "R9 !read_ok")


# -- a narrow spill at a slot's base replaces the slot's older value ------------------------
def _narrow_overwrite_program(read_first: bool) -> VerProg:
    """Two sides spill 1 or 2 (8 bytes) at fp-16; after the join a 4-byte spill of 5 at
    fp-16 (Cilium's u32 locals reusing a slot) is read back and decides a jump: the older
    value is gone, so the kernel prunes the second side at the join. With
    ``read_first`` the older value is read before the overwrite and a 2 reads the
    uninitialised r9."""
    a = Asm()
    ok, ok2 = a.label(), a.label()
    _two_sides(a, [Alu("mov", True, 1, imm=1), Store(8, 10, -16, src=1)],
               [Alu("mov", True, 1, imm=2), Store(8, 10, -16, src=1)])
    _tail(a)
    if read_first:
        a.put(Load(8, 1, 10, -16))
        a.jmp("jne", 1, ok2, imm=2)
        a.put(Alu("mov", True, 0, src=9))
        a.at(ok2)
    a.put(Alu("mov", True, 7, imm=5), Store(4, 10, -16, src=7), Load(4, 1, 10, -16))
    a.jmp("jeq", 1, ok, imm=5)
    a.put(Alu("mov", True, 0, src=9))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_narrow_spill_ends_the_older_values_precision():
    _check(_narrow_overwrite_program(False), True)


def test_a_value_read_before_the_narrow_spill_is_compared():
    _check(_narrow_overwrite_program(True), False, "R9 !read_ok")


# -- a checkpoint forced by a long jump history ---------------------------------------------
def _long_history_program(read_later: bool) -> VerProg:
    """After two sides where r3 is a scalar or the context, r3 is spilled at fp-16, 44
    spills follow without a jump (each one an entry in the kernel's jump history), then
    a ``ja`` and 400 instructions without jumps: the kernel's checkpoint heuristic (2
    jumps since the last checkpoint) would store no state at the ``ja``'s target, but
    more than 40 history entries force one, and the second side (fp-16 dead there) is
    pruned at it. With ``read_later`` fp-16 is read after it and multiplied: pointer
    arithmetic on the context's side."""
    a = Asm()
    ok = a.label()
    _two_sides(a, [Alu("mov", True, 3, imm=2)], [Alu("mov", True, 3, src=6)])
    a.put(Store(8, 10, -16, src=3), *[Store(8, 10, -8, src=6) for _ in range(44)],
          Alu("mov", True, 3, imm=0))
    a.jmp("ja", 0, ok)
    a.at(ok)
    if read_later:
        a.put(Load(8, 1, 10, -16), Alu("mul", True, 1, imm=2))
    a.put(Alu("mov", True, 4, imm=0), *[Alu("add", True, 4, imm=1) for _ in range(400)],
          Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_long_jump_history_forces_a_checkpoint():
    _check(_long_history_program(False), True)


def test_a_value_read_after_the_forced_checkpoint_is_compared():
    _check(_long_history_program(True), False, "pointer arithmetic")


# -- precision stops at plain stack bytes (backtrack_insn: no INSN_F_STACK_ACCESS) ----------
def _plain_bytes_program(off: int, unsafe: bool) -> VerProg:
    """Two sides leave r7 = 1 or 2; after work that keeps r7 live it is stored as 4 bytes
    at ``off`` and read back, and the value read decides a jump (the OpenTelemetry
    profiler's binary search: its pivot stored at fp-20 as the inner map's key, read back
    as the new bound). At fp-20 (not a slot's base) the store writes plain bytes: the value
    read is any u32, the jump on it (r1 > 0xffffffff, never) stops the precision there, and
    the kernel prunes the second side at the join. At fp-24 the store is a narrow spill
    and the fill restores r7's value: precision reaches r7 and, with ``unsafe`` (a jump on
    r1 > 1 that reads the uninitialised r9), the second side must not be pruned."""
    a = Asm()
    bad = a.label()
    _two_sides(a, [Alu("mov", True, 7, imm=1)], [Alu("mov", True, 7, imm=2)])
    _tail(a)
    a.put(Store(4, 10, off, src=7), Load(4, 1, 10, off))
    if unsafe:
        a.jmp("jgt", 1, bad, imm=1)
    else:
        a.put(Alu("mov", False, 2, imm=-1))  # 0xffffffff
        a.jmp("jgt", 1, bad, src=2)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at(bad)
    a.put(Alu("mov", True, 0, src=9), Exit())
    return _prog(a)


def test_a_value_through_plain_stack_bytes_is_not_precise():
    _check(_plain_bytes_program(-20, False), True)
    _check(_plain_bytes_program(-24, False), True)


def test_a_value_through_a_narrow_spill_stays_precise():
    _check(_plain_bytes_program(-24, True), False, "R9 !read_ok")


def _narrow_spill_key_program(overwrite: bool) -> VerProg:
    """Two sides spill r7 = 1 or 2 as 4 bytes at fp-8; after work, ``overwrite`` spills
    the constant 0 there (4 bytes: a narrow spill), the key of an array lookup (2
    entries) used without a NULL check. The lookup makes the key's slot precise; the
    narrow spill ends that mark (its value is the register's from there on: the
    profiler's constant keys stored over its bsearch pivot at fp-40), so the kernel prunes
    the second side at the join. Without ``overwrite`` the key is the side's value, 2 out
    of range on the second side: the mark must reach the join."""
    a = Asm()
    _two_sides(a, [Alu("mov", True, 7, imm=1), Store(4, 10, -8, src=7)],
               [Alu("mov", True, 7, imm=2), Store(4, 10, -8, src=7)])
    _tail(a)
    if overwrite:
        a.put(Alu("mov", True, 1, imm=0), Store(4, 10, -8, src=1))
    _lookup(a, -8)
    a.put(Load(8, 0, 0, 0), Alu("mov", True, 0, imm=0), Exit())
    return _with_map(a, ARRAY, 2)


def test_a_narrow_spill_ends_the_slots_precision():
    _check(_narrow_spill_key_program(True), True)


def test_a_slot_not_spilled_again_keeps_its_precision():
    _check(_narrow_spill_key_program(False), False, "invalid mem access")
