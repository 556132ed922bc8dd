"""may_goto loops (the kernel's is_state_visited rule): at a may_goto the kernel goes on
with the jump (loop budget exhausted) and queues the fall-through one ``may_goto_depth``
deeper; a state there covered by one remembered at the same may_goto with a different
depth is pruned, so a loop whose body converges is accepted. Each probe is judged by the
running kernel; skv must agree, and never accept what the kernel rejects."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.verifier.checker import check_program
from references_probes import _rb
from soundness_probes import Probe

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
OUT = "out:\nr0 = 0\nexit\n"

PROBES = [
    Probe("helper_loop_ok", "xdp", "loop:\nmay_goto out\ncall 7\ngoto loop\n" + OUT),
    Probe("counter_ok", "xdp", "r6 = 0\nloop:\nmay_goto out\nr6 += 1\ngoto loop\n" + OUT),
    Probe("nested_ok", "xdp",
          "loop:\nmay_goto out\nloop2:\nmay_goto loop\ncall 7\ngoto loop2\n" + OUT),
    Probe("counter_tested_ok", "sched_cls",
          "r6 = 0\nloop:\nmay_goto out\ncall 7\nif r0 > 5 goto out\nr6 += 1\ngoto loop\n"
          + OUT),
    # the exhausted edge first: r0 is not set on it
    Probe("exit_without_r0", "xdp", "loop:\nmay_goto out\ncall 7\ngoto loop\nout:\nexit\n"),
    # the second pass through the body dereferences a scalar: the state at the may_goto
    # changed (r6 0 -> 1), nothing covers it
    Probe("second_pass_bad", "xdp",
          "r6 = 0\nloop:\nmay_goto out\nif r6 == 0 goto first\nr0 = *(u64 *)(r6 + 0)\n"
          "first:\nr6 = 1\ngoto loop\n" + OUT),
    # the exhausted edge after one pass dereferences a scalar
    Probe("exhausted_after_pass_bad", "xdp",
          "r6 = 0\nloop:\nmay_goto out\nr6 = 1\ngoto loop\nout:\nif r6 == 0 goto ok\n"
          "r0 = *(u64 *)(r6 + 0)\nok:\nr0 = 0\nexit\n"),
    # a reference per pass: submitted (the state at the may_goto repeats), or leaked
    _rb("ringbuf_per_pass_ok", "loop:\nmay_goto out\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n"
        "call 131\nif r0 == 0 goto loop\nr1 = r0\nr2 = 0\ncall 132\ngoto loop\n" + OUT),
    _rb("ringbuf_per_pass_leaked", "loop:\nmay_goto out\nld_pseudo r1, 1, 0\nr2 = 8\n"
        "r3 = 0\ncall 131\ngoto loop\n" + OUT),
    # 512 bytes of stack: the JIT'd program keeps may_goto's counter beyond them
    Probe("full_stack_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 512) = r1\nloop:\nmay_goto out\n"
          "call 7\ngoto loop\n" + OUT),
    # an infinite loop inside the body (no may_goto on it)
    Probe("inner_infinite", "xdp", "loop:\nmay_goto out\ninner:\ngoto inner\n" + OUT),
    # a later pass turns the pointer into a scalar that the exhausted edge dereferences
    Probe("pointer_replaced_in_a_pass", "xdp",
          "r6 = r10\nr6 += -8\nloop:\nmay_goto out\ncall 7\nif r0 > 100 goto skip\n"
          "r6 = r0\nskip:\ngoto loop\nout:\nr0 = *(u64 *)(r6 + 0)\nr0 = 0\nexit\n"),
    # a pointer moved each pass: no state covers the next, the walk runs out
    Probe("moving_pointer_unbounded", "xdp",
          "r6 = r10\nloop:\nmay_goto out\nr6 += -8\nr0 = *(u8 *)(r6 + 0)\ngoto loop\n" + OUT),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_may_goto_probe_against_kernel(probe):
    res = probe.kernel()
    obj, prog = probe.model()
    v = check_program(obj, prog, time_limit=30)
    ours = "accept" if v.accepted else v.error.message
    kmsg = "accept" if res.ok else rejection_reason(res.log)
    where = f"{probe.name}:\n{probe.text}\nkernel: {kmsg}\nours: {ours}"
    if not res.ok:
        assert not v.accepted, "FALSE ACCEPT " + where
    else:
        assert v.accepted, "false reject " + where
    assert probe.name.endswith("_ok") == res.ok, where


def test_may_goto_queues_the_fall_through_one_deeper():
    obj, prog = PROBES[0].model()
    v = check_program(obj, prog)
    assert v.accepted, v.error
    # the loop ends by pruning at the may_goto, not by an infinite-loop verdict or the
    # budget: a handful of instructions
    assert v.stats.insns_processed < 20, v.stats


def test_same_depth_identical_state_is_still_an_infinite_loop():
    """Without a may_goto on the cycle the exact-equality check still fires."""
    obj, prog = Probe("inf", "xdp", "r0 = 0\nmay_goto out\nloop:\nr1 = 0\ngoto loop\n"
                      + OUT).model()
    v = check_program(obj, prog, time_limit=30)
    assert not v.accepted and "infinite loop" in v.error.message, v.error
