"""Lookups in device maps (BPF_MAP_TYPE_DEVMAP / DEVMAP_HASH): the kernel gives a pointer
to the entry's value_size bytes or NULL, and creates these maps with BPF_F_RDONLY_PROG
(dev_map_alloc_check), so programs may read the entry but never write it. Probes are
judged by the running kernel; skv (verifier and Z3) must give the kernel's verdict."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.platform.map_helpers import BPF_F_RDONLY_PROG, MAP_TYPE_IDS
from model.program import MapDef
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
LOOKUP = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n"
OUT = "out:\nr0 = 0\nexit\n"
BODIES = {
    "read_ok": "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + 0)\nexit\n",
    "write": "if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 + 0) = r1\n",
    "read_past_value": "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + {vs})\nexit\n",
    "unchecked": "r0 = *(u32 *)(r0 + 0)\nexit\n",
}
PROBES = [Probe(f"{t}_{vs}_{name}", "xdp", LOOKUP + body.format(vs=vs) + OUT,
                [(MAP_TYPE_IDS[t], 4, vs, 4, 0)])
          for t in ("devmap", "devmap_hash") for vs in (4, 8) for name, body in BODIES.items()]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_devmap_probe_against_kernel(probe):
    assert_same_verdict(probe)


@pytest.mark.parametrize("t", ["devmap", "devmap_hash"])
def test_device_maps_are_read_only_to_programs(t):
    m = MapDef("tx", MAP_TYPE_IDS[t], 4, 4, 4)
    assert m.prog_flags & BPF_F_RDONLY_PROG and not m.map_flags & BPF_F_RDONLY_PROG
    assert not MapDef("h", MAP_TYPE_IDS["hash"], 4, 4, 4).prog_flags & BPF_F_RDONLY_PROG


def test_interpreter_faults_on_a_write_into_a_device_entry():
    from model.interp.machine import Machine

    p = next(p for p in PROBES if p.name == "devmap_hash_4_write")
    obj, prog = p.model()
    m = Machine(prog, obj.maps)
    st = m.maps["m0"]
    st._element(0, bytes(4)).data[:] = (7).to_bytes(4, "little")  # user space filled key 0
    res = m.run()
    assert res.status == "fault" and "read-only" in res.fault.reason, res
