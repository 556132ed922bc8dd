"""Kernel memory in the Z3 engine (model.symbolic.kmem): an access through an iterator's
buffer on merged paths is checked at each constant offset the paths give (the kernel
walks them apart, each with its own constant), against the running kernel."""

from __future__ import annotations

import pytest
import z3

from iterator_probes import IterProbe, kernel_load
from model.kernel import available
from model.symbolic.kmem import offset_cases
from model.symbolic.state import bv

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
E = "iter/bpf_map_elem"
#: r7: the element's value (a writable buffer, NULL-checked); r6: 0 or ``{off}`` by a
#: branch on an unknown number (the paths merge before the access)
_MERGED = ("r7 = *(u64 *)(r1 + 24)\nif r7 == 0 goto out\ncall 7\nr6 = 0\n"
           "if r0 > 5 goto +1\nr6 = {off}\nr7 += r6\nr0 = *(u8 *)(r7 + 0)\nout:\n"
           "r0 = 0\nexit")


def test_offset_cases():
    c = z3.Bool("c")
    got = offset_cases(z3.If(c, bv(72), bv(0)) + bv(4))
    assert sorted(v for _, v in got) == [4, 76]
    assert [v for _, v in offset_cases(bv(8))] == [8]
    assert offset_cases(z3.BitVec("x", 64)) is None  # an input: not a path constant


@needs_kernel
@pytest.mark.parametrize("off,ok", [(72, True), (-8, False)])
def test_merged_buffer_offsets_against_kernel(off, ok):
    from model.symbolic.engine import Engine

    probe = IterProbe(f"merged {off}", E, _MERGED.format(off=off), ok)
    obj, prog = probe.model()
    k = kernel_load(obj, prog)
    assert k.ok == ok
    r = Engine(obj, prog).run()
    assert not r.exhausted, r.exhausted
    assert bool(r.failures) == (not ok), [f.reason for f in r.failures]
