"""Pruning as the kernel's, on the shape of bpf-developer-tutorial's find_possible_addrs
(27-replace: a buffer scanned byte by byte in two nested loops, a map update and a
4-byte stack counter on each match; bench/results/real_corpora_speed.md): which states
is_state_visited keeps. Its walk over the states stored at an instruction (newest first)
counts a miss on every state passed over while a state is to be stored, explored in full
or not, and drops one that misses more than 3 times its hits plus 3; reaching a state
still being explored turns the storing off only from there on. skv once counted misses
on fully explored states only, after deciding up front, and kept states the kernel had
dropped: 28,977 processed instructions against the kernel's 16,681 here (460k against
248k on find_possible_addrs). Dropping a state only loses pruning; the unsafe twin is
rejected as by the kernel."""

from __future__ import annotations

from test_pruning_kernel_parity import HASH, PRANDOM, _with_map
from test_pruning_parity_tetragon import _check_both_ways
from vergen_base import Alu, Asm, Call, Exit, Load, Store, VerProg

UPDATE = 2
OUTER = INNER = 16


def _scan_program(unsafe: bool) -> VerProg:
    """fp-80..fp-9 random bytes; for i < OUTER, j < INNER: if byte j is 'a', the map is
    updated with key fp-84 (a 4-byte counter, incremented) and a value derived from j.
    ``unsafe``: a match at the last j of the last i also writes to fp+j."""
    a = Asm()
    for off in range(-80, -8, 8):
        a.put(Call(0, PRANDOM), Store(8, 10, off, src=0))
    a.put(Call(0, PRANDOM), Alu("mov", True, 8, src=0), Store(4, 10, -84, imm=0),
          Alu("mov", True, 6, imm=0))
    outer, inner, nxt = a.label(), a.label(), a.label()
    a.at(outer)
    a.put(Alu("mov", True, 9, imm=0))
    a.at(inner)
    a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-80), Alu("add", True, 1, src=9),
          Load(1, 1, 1, 0))
    a.jmp("jne", 1, nxt, imm=97)
    a.put(Alu("mov", True, 1, src=8), Alu("add", True, 1, src=9), Store(8, 10, -16, src=1))
    a.ldmap(1, "m")
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-84),
          Alu("mov", True, 3, src=10), Alu("add", True, 3, imm=-16), Alu("mov", True, 4, imm=0),
          Call(0, UPDATE), Load(4, 1, 10, -84), Alu("add", True, 1, imm=1),
          Store(4, 10, -84, src=1))
    if unsafe:
        a.jmp("jne", 6, nxt, imm=OUTER - 1)
        a.jmp("jne", 9, nxt, imm=INNER - 1)
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, src=9), Store(1, 1, 0, imm=0))
    a.at(nxt)
    a.put(Alu("add", True, 9, imm=1))
    a.jmp("jne", 9, inner, imm=INNER)
    a.put(Alu("add", True, 6, imm=1))
    a.jmp("jne", 6, outer, imm=OUTER)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _with_map(a, HASH, 64)


def test_states_the_kernel_drops_are_dropped():
    _check_both_ways(_scan_program(False), True)


def test_a_write_past_the_frame_on_the_last_match_is_found():
    _check_both_ways(_scan_program(True), False, "invalid")
