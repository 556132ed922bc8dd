"""The combined stack-size check with private stacks (model.platform.priv_stack) against
the running kernel: static call chains around 64 and 512 bytes per program type, tail
calls, bpf_timer and bpf_loop callbacks (tests/stack_depth_probes.py)."""

from __future__ import annotations

import pytest
from callback_probes import assert_kernel_verdict
from stack_depth_probes import kernel_load, probes

from model.kernel import available
from model.platform.priv_stack import on_private_stack, private_stacks

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
PROBES = probes()


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_verifier_against_kernel(probe):
    """The verifier's verdict and message are the kernel's; ``_ok`` probes load."""
    obj, prog = probe.model()
    assert_kernel_verdict(probe.name, obj, prog, kernel_load(obj, prog))


def test_private_stack_table():
    assert private_stacks("kprobe", 0, False) and private_stacks("tracing", 23, False)
    assert not private_stacks("kprobe", 0, True)  # a tail call anywhere
    assert not private_stacks("tracing", 28, False)  # iterators
    assert not private_stacks("xdp", 37, False) and not private_stacks("lsm", 27, False)
    assert on_private_stack(True, False, 64) and not on_private_stack(True, False, 48)
    assert not on_private_stack(True, True, 512)  # an async callback's call tree
