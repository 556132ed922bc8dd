"""Lookups in an AF_XDP socket map (BPF_MAP_TYPE_XSKMAP): NULL or, once checked, a
PTR_TO_XDP_SOCK (struct bpf_xdp_sock) whose only field, ``__u32 queue_id``, programs may
read whole; no write, no arithmetic. Found on xdp-project's AF_XDP example (a false reject:
"not modelled"). The abstract verifier must give the kernel's verdict and words; the Z3
engine, which splits the lookup into NULL and the socket (model.symbolic.sockets.in_map),
the kernel's verdict, its counterexample for a read or write the kernel refuses replayed
by the interpreter (an xskmap element is a read-only socket there)."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.map_helpers import MAP_TYPE_IDS
from soundness_probes import Probe

KERNEL, WHY = available()
LOOKUP = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n"
OUT = "out:\nr0 = 2\nexit\n"
BODIES = {  # name -> (body, the kernel's verdict)
    "checked_ok": ("if r0 == 0 goto out\n", True),
    "queue_id_ok": ("if r0 == 0 goto out\nr1 = *(u32 *)(r0 + 0)\n", True),
    "returned_ok": ("if r0 == 0 goto out\nexit\n", True),
    "passed_on_ok": ("if r0 == 0 goto out\nr1 = r0\ncall 5\n", True),
    "inverse_check_ok": ("if r0 != 0 goto out\n", True),
    "read8": ("if r0 == 0 goto out\nr1 = *(u64 *)(r0 + 0)\n", False),
    "read2": ("if r0 == 0 goto out\nr1 = *(u16 *)(r0 + 0)\n", False),
    "read_past": ("if r0 == 0 goto out\nr1 = *(u32 *)(r0 + 4)\n", False),
    "write": ("if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 + 0) = r1\n", False),
    "unchecked": ("r1 = *(u32 *)(r0 + 0)\n", False),
    "arithmetic": ("if r0 == 0 goto out\nr0 += 4\nr1 = *(u32 *)(r0 - 4)\n", False),
    "arithmetic_unchecked": ("r0 += 4\n", False),
}
PROBES = [(Probe(f"xskmap_{name}", "xdp", LOOKUP + body + OUT,
                 [(MAP_TYPE_IDS["xskmap"], 4, 4, 4, 0)]), ok)
          for name, (body, ok) in BODIES.items()]


@pytest.mark.parametrize("probe,ok", PROBES, ids=[p.name for p, _ in PROBES])
def test_xskmap_lookup(probe, ok):
    j = probe.judge()
    assert j.ours_ok == ok, f"{probe.name}: {j.ours_msg}"
    assert j.z3_safe == ok, f"{probe.name}: the Z3 engine: {j.z3_why or 'safe'}"
    if not KERNEL:
        pytest.skip(f"skv's verdict asserted; no kernel comparison: {WHY}")
    assert j.kernel_ok == ok, f"{probe.name}: kernel {rejection_reason(j.kernel_log)}"
    if not ok:
        assert j.ours_msg.splitlines()[-1] == rejection_reason(j.kernel_log)


@pytest.mark.parametrize("name,pc,fault", [
    ("read8", 8, "read of 8 bytes at m0[0]+0 crosses the end of m0[0] (4 bytes)"),
    ("write", 9, "write to read-only xdp_sock m0[0]")])
def test_the_counterexample_replays(name, pc, fault):
    from model.symbolic import analyse_program

    probe = next(p for p, _ in PROBES if p.name == f"xskmap_{name}")
    obj, prog = probe.model()
    doc = analyse_program(obj, prog)
    cx = doc["counterexample"]
    assert doc["models"]["M0"]["safe"] is False and cx["confirmed"], cx
    assert cx["pc"] == pc and fault in cx["fault"], cx["fault"]
