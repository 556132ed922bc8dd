"""Variable-offset stack writes (check_stack_write_var_off) against the running kernel
(tests/var_write_probes.py): the verifier's verdict is the kernel's, and the Z3 engine
calls no program the kernel refuses safe."""

from __future__ import annotations

import pytest
from soundness import judge, build, m2_safe
from var_write_probes import PROBES, SECTION

from model.kernel import available

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")


@needs_kernel
@pytest.mark.parametrize("name,text", PROBES, ids=[n for n, _ in PROBES])
def test_against_kernel(name, text):
    j = judge(text, SECTION)
    where = f"{name}\nkernel: {j.kernel_msg or 'accept'}\nours: {j.ours_msg or 'accept'}"
    assert j.kernel_ok == name.endswith("_ok"), where
    assert j.ours_ok == j.kernel_ok, where
    if not j.kernel_ok:
        assert j.ours_msg == j.kernel_msg, where
        assert m2_safe(*build(text, SECTION)) is not True, where
