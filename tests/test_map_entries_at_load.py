"""An array the object leaves at 0 entries (its loader sets the number, as the linux
samples' xdp_router_ipv4 does for its counters): the kernel creates no array with 0
entries, so a lookup with the constant key 0 is in range whatever the loader sets, and
is never NULL (can_elide_value_nullness); key 1 may be past the end."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.verifier.checker import check_program
from test_pruning_kernel_parity import _lookup
from vergen_base import ARRAY, Alu, Asm, Exit, Load, MapDef, Store, VerProg

KERNEL_OK, _ = available()


def _program(key: int, entries: int) -> VerProg:
    """r0 = lookup(m, &key); r0 = *(u64 *)r0 without a NULL check."""
    a = Asm()
    a.put(Alu("mov", True, 1, imm=key), Store(4, 10, -4, src=1))
    _lookup(a, -4)
    a.put(Load(8, 0, 0, 0), Alu("mov", True, 0, imm=0), Exit())
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {"m": MapDef("m", ARRAY, 4, 8, entries)})


@pytest.mark.parametrize("key", [0, 1])
def test_a_constant_key_of_an_array_left_at_0_entries(key):
    obj, prog = _program(key, 0).model()
    ours = check_program(obj, prog, log=False)
    assert ours.accepted == (key == 0), ours.error
    if KERNEL_OK:  # the kernel with the one entry a loader gives it at least
        assert _program(key, 1).kernel_verify().ok == (key == 0)
