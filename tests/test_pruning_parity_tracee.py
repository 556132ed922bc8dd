"""Pruning as the kernel's, on shapes from Aqua tracee's programs (vfs_writev_magic_return,
kernel_write_magic_return: bench/results/real_corpora_speed_tracee.md): skv's
processed-instruction count within ``MAX_RATIO`` of Linux 6.18's in both directions, the
pruned verdict equal to full exploration's and the kernel's; each has an unsafe twin
where the difference does matter."""

from __future__ import annotations

from test_pruning_kernel_parity import ARRAY, HASH, _check, _lookup, _tail, _two_sides, _with_map
from test_pruning_parity_tetragon import _check_both_ways
from vergen_base import PROBE_READ_KERNEL, Alu, Asm, Call, Exit, Load, Store, VerProg


# -- a helper's ARG_ANYTHING argument reads no stack -----------------------------------------
def _anything_arg_program(key: bool) -> VerProg:
    """tracee's save_bytes_to_buf: bpf_probe_read_kernel(dst, size, src) with ``src`` a
    pointer into the stack (fp-16). The source is ARG_ANYTHING: check_func_arg reads
    nothing through it, so fp-16 is dead at the join and the kernel prunes the side that
    left it uninitialised (the other spilled a stack pointer there). ``key``: fp-16 is
    then also an array's key (a memory argument, read): the first side's constant key 0
    in range makes the lookup non-NULL, the uninitialised one does not, and the value
    is read without a NULL check."""
    a = Asm()
    a.put(Store(8, 10, -24, imm=0))
    spill = ([Alu("mov", True, 2, imm=0), Store(4, 10, -16, src=2)] if key else
             [Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-24), Store(8, 10, -16, src=2)])
    _two_sides(a, spill, [Alu("mov", True, 2, imm=0)])  # (the second leaves fp-16 unset)
    _tail(a)
    a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-40), Alu("mov", True, 2, imm=8),
          Alu("mov", True, 3, src=10), Alu("add", True, 3, imm=-16),
          Call(0, PROBE_READ_KERNEL))
    if key:
        _lookup(a, -16)
        a.put(Load(8, 0, 0, 0))  # no NULL check: the key in range vouches for it
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _with_map(a, ARRAY if key else HASH, 2)


def test_a_helpers_anything_argument_reads_no_stack():
    _check_both_ways(_anything_arg_program(False), True)


def test_a_helpers_key_argument_reads_the_stack():
    _check(_anything_arg_program(True), False, "invalid mem access")
