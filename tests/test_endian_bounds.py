"""Bounds after byte swaps (model.verifier.step._endian) against the running kernel
(tests/endian_probes.py): the same verdicts, the kernel's message as skv's last line."""

from __future__ import annotations

import pytest
from callback_probes import assert_kernel_verdict
from endian_probes import PROBES, model

from model.kernel import available
from model.kernel.objload import load_program

KERNEL, WHY = available()


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
@pytest.mark.parametrize("name", list(PROBES))
def test_against_kernel(name):
    obj, prog = model(name)
    k = load_program(obj, prog)
    k.close()
    assert_kernel_verdict(name, obj, prog, k)
