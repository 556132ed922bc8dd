"""Pruning as the kernel's: programs in the shape of real code where skv once processed
far more instructions than Linux 6.18 (bench/results/real_corpora_speed.md), one per
cause found. Each asserts that skv's processed-instruction count stays within
``MAX_RATIO`` of the kernel's, and that the pruned verdict equals full exploration
(``prune=False``) and the kernel's; each has an unsafe twin where the difference that
pruning now ignores does matter, so pruning it would be a false accept."""

from __future__ import annotations

from model.kernel import available
from model.verifier.checker import check_program
from test_pruning_precision import _check as verdicts
from vergen_base import Alu, Asm, Call, Exit, Load, MapDef, Store, VerProg

PRANDOM, LOOKUP, HASH = 7, 1, 1
MAX_RATIO = 1.5
KERNEL_OK, KERNEL_WHY = available()


def _prog(a: Asm) -> VerProg:
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {})


def _check(vp: VerProg, accepted: bool, why: str = "") -> None:
    """The verdicts (pruned, full exploration, kernel: test_pruning_precision's check),
    then the processed-instruction ratio of an accepted program."""
    verdicts(vp, accepted, why)
    if accepted and KERNEL_OK:
        obj, prog = vp.model()
        ours = check_program(obj, prog, log=False).stats.insns_processed
        theirs = vp.kernel_verify().insns_processed
        assert ours <= MAX_RATIO * theirs, (ours, theirs, vp.text())


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
    a.ldmap(1, "m")
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-20), Call(0, LOOKUP))
    _tail(a)
    _deref_fp16(a, live)
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {"m": MapDef("m", HASH, 4, 8, 16)})


def test_a_helper_reads_its_key_size_only():
    _check(_helper_key_program(False), True)


def test_a_helper_key_program_with_a_live_read_is_rejected():
    _check(_helper_key_program(True), False, "invalid mem access")
