"""widen_imprecise_scalars at a may_goto (Linux 6.18 check_cond_jmp_op for may_goto): the
fall-through state, queued one may_goto deeper, is widened against the previous state at
that may_goto on the path (find_prev_entry): every scalar, in a register or spilled, not
marked precise there that differs becomes unknown. A program found by random loop programs
(paths into a may_goto loop whose body copies stack slots and indexes the stack with
them): the kernel widens fp-16 after the first pass and then refuses the stack index made
of it; without the widening skv accepted it (a false accept; full exploration found it
safe). Its twin masks the index (``r3 &= 7``): accepted by both."""

from __future__ import annotations

import pytest

from callback_probes import CbProbe, kernel_load
from model.kernel import available
from model.verifier.checker import check_program

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])

_TEXT = (
    'call 7\n'
    'r7 = r0\n'
    'r1 = 0\n'
    '*(u64 *)(r10 - 8) = r1\n'
    'r1 = 1\n'
    '*(u64 *)(r10 - 16) = r1\n'
    'r1 = 1\n'
    '*(u64 *)(r10 - 24) = r1\n'
    'call 7\n'
    'if r0 > 50 goto +2\n'
    'r1 = 3\n'
    '*(u64 *)(r10 - 8) = r1\n'
    'if r7 > 1000 goto +4\n'
    'r1 = 3\n'
    '*(u64 *)(r10 - 16) = r1\n'
    'r1 = 3\n'
    '*(u64 *)(r10 - 8) = r1\n'
    'r6 = r10\n'
    'r6 += -16\n'
    'loop:\n'
    'may_goto out\n'
    'call 7\n'
    'if r0 > 100 goto +6\n'
    'r3 = *(u64 *)(r10 - 24)\n'
    '*(u64 *)(r10 - 16) = r3\n'
    'r3 = *(u64 *)(r10 - 24)\n'
    'if r3 != 0 goto +2\n'
    'r3 = *(u64 *)(r10 - 24)\n'
    '*(u64 *)(r10 - 24) = r3\n'
    'r3 = *(u64 *)(r10 - 8)\n'
    'r4 = r10\n'
    'r4 += -32\n'
    'r4 += r3\n'
    'r5 = 0\n'
    '*(u8 *)(r4 + 0) = r5\n'
    'r3 = *(u64 *)(r10 - 16)\n'
    'r4 = r10\n'
    'r4 += -32\n'
    'r4 += r3\n'
    'r5 = 0\n'
    '*(u8 *)(r4 + 0) = r5\n'
    'goto loop\n'
    'out:\n'
    'r1 = *(u64 *)(r10 - 24)\n'
    'r2 = r10\n'
    'r2 += -64\n'
    'r2 += r1\n'
    'r0 = *(u8 *)(r2 + 0)\n'
    'r0 = 0\n'
    'exit\n'
)


def _probe(masked: bool) -> CbProbe:
    text = _TEXT.replace("r4 = r10\n", "r3 &= 7\nr4 = r10\n") if masked else _TEXT
    return CbProbe("may_goto_widen", "xdp", text)


def test_a_may_goto_fall_through_is_widened():
    """Refused as the kernel refuses it, at the kernel's count."""
    obj, prog = _probe(False).model()
    v = check_program(obj, prog, log=False)
    assert not v.accepted
    assert "math between fp pointer and register with unbounded min value" in v.error.message
    if available()[0]:
        k = kernel_load(obj, prog)
        assert not k.ok and v.stats.insns_processed == k.insns_processed


@needs_kernel
def test_a_masked_index_is_accepted_after_the_widening():
    obj, prog = _probe(True).model()
    v = check_program(obj, prog, log=False)
    k = kernel_load(obj, prog)
    assert v.accepted and k.ok
    assert v.stats.insns_processed * 1.5 >= k.insns_processed
    assert v.stats.insns_processed <= 1.5 * k.insns_processed
