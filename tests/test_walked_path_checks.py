"""Checks the kernel makes only on the paths it walks (check_ld_imm), not at load:
``ld_imm64`` of a function without BTF func info ("missing btf func_info") refuses a
program only where the instruction is reachable (model.verifier.loadtime
.pseudo_func_error, called by both engines as the instruction runs). Against the running
kernel; the Z3 engine calls no refused program safe."""

from __future__ import annotations

import pytest
from callback_probes import CbProbe, assert_kernel_verdict, kernel_load

from model.kernel import available
from model.symbolic import analyse_program

KERNEL, WHY = available()
# r0 <= 10 on the fall-through, so the second branch always jumps: {body} is dead
_DEAD = ("call 7\nif r0 > 10 goto live\nif r0 < 20 goto live\n{body}live:\nr0 = 0\nexit\n"
         "cb:\nr0 = 0\nexit\n")
_LOOP = "r1 = 4\nr2 = func cb\nr3 = 0\nr4 = 0\ncall 181\n"
PROBES = [
    CbProbe("dead_func_ld_ok", "xdp", _DEAD.format(body="r1 = func cb\n"), btf=False),
    CbProbe("dead_bpf_loop_ok", "xdp", _DEAD.format(body=_LOOP), btf=False),
    CbProbe("live_func_ld", "xdp", "r1 = func cb\nr0 = 0\nexit\ncb:\nr0 = 0\nexit\n",
            btf=False),
    CbProbe("one_branch_func_ld", "xdp", "call 7\nif r0 > 10 goto live\nr1 = func cb\n"
            "live:\nr0 = 0\nexit\ncb:\nr0 = 0\nexit\n", btf=False),
]


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_against_kernel(probe):
    obj, prog = probe.model()
    v = assert_kernel_verdict(probe.name, obj, prog, kernel_load(obj, prog))
    if not v.accepted:
        assert analyse_program(obj, prog)["models"]["M2"]["safe"] is not True, probe.name
