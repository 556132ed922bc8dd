"""Stack accesses are always strictly aligned (check_ptr_alignment: PTR_TO_STACK strict),
atomics everywhere: the Z3 engine asserts the abstract verifier's rule
(memcheck.alignment_bias) and the interpreter faults on a misaligned stack access, so the
Z3 engine's counterexample is confirmed. Each probe is judged by the running kernel too."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.verifier.checker import check_program
from soundness_probes import Probe

KERNEL = available()[0]
ARRAY = (2, 4, 16, 1, 0)
_VALUE = ("r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n"
          "if r0 == 0 goto out\n")
_INIT = "r1 = 0\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 8) = r1\n"
_RAND = "call 7\nr1 = r10\nr1 += -16\n"

#: (name, text, maps); "_ok" names the ones the kernel accepts
PROBES = [
    ("st_w_6", "*(u32 *)(r10 - 6) = 0\nr0 = 0\nexit\n", []),
    ("stx_w_6", "r1 = 0\n*(u32 *)(r10 - 6) = r1\nr0 = 0\nexit\n", []),
    ("stx_h_3", "r1 = 0\n*(u16 *)(r10 - 3) = r1\nr0 = 0\nexit\n", []),
    ("stx_dw_12", "r1 = 0\n*(u64 *)(r10 - 12) = r1\nr0 = 0\nexit\n", []),
    ("stx_b_3_ok", "r1 = 0\n*(u8 *)(r10 - 3) = r1\nr0 = 0\nexit\n", []),
    ("stx_w_12_ok", "r1 = 0\n*(u32 *)(r10 - 12) = r1\nr0 = 0\nexit\n", []),
    ("ldx_h_7", _INIT + "r0 = *(u16 *)(r10 - 7)\nexit\n", []),
    ("ldx_w_10", _INIT + "r0 = *(u32 *)(r10 - 10)\nexit\n", []),
    ("ldx_h_6_ok", _INIT + "r0 = *(u16 *)(r10 - 6)\nexit\n", []),
    ("atomic_w_10", _INIT + "r1 = 1\nlock *(u32 *)(r10 - 10) += r1\nr0 = 0\nexit\n", []),
    ("atomic_dw_12", _INIT + "r1 = 1\nlock *(u64 *)(r10 - 12) += r1\nr0 = 0\nexit\n", []),
    ("atomic_w_12_ok", _INIT + "r1 = 1\nlock *(u32 *)(r10 - 12) += r1\nr0 = 0\nexit\n", []),
    ("via_reg_w_6", "r1 = r10\nr1 += -8\nr2 = 0\n*(u32 *)(r1 + 2) = r2\nr0 = 0\nexit\n", []),
    ("var_dw_and4", _INIT + _RAND + "r0 &= 4\nr1 += r0\nr0 = *(u64 *)(r1 + 0)\nexit\n", []),
    ("var_dw_and8_ok", _INIT + _RAND + "r0 &= 8\nr1 += r0\nr0 = *(u64 *)(r1 + 0)\nexit\n",
     []),
    ("var_w_and4_ok", _INIT + _RAND + "r0 &= 4\nr1 += r0\nr0 = *(u32 *)(r1 + 0)\nexit\n",
     []),
    ("map_atomic_w_2", _VALUE + "r1 = 1\nlock *(u32 *)(r0 + 2) += r1\nout:\nr0 = 0\nexit\n",
     [ARRAY]),
    ("map_atomic_dw_4", _VALUE + "r1 = 1\nlock *(u64 *)(r0 + 4) += r1\nout:\nr0 = 0\nexit\n",
     [ARRAY]),
    ("map_atomic_w_4_ok", _VALUE + "r1 = 1\nlock *(u32 *)(r0 + 4) += r1\nout:\nr0 = 0\n"
     "exit\n", [ARRAY]),
    ("map_w_2_ok", _VALUE + "r1 = 1\n*(u32 *)(r0 + 2) = r1\nout:\nr0 = 0\nexit\n", [ARRAY]),
]


def _probe(name):
    n, text, maps = next(p for p in PROBES if p[0] == name)
    return Probe(n, "xdp", text, list(maps))


@pytest.mark.parametrize("name", [p[0] for p in PROBES])
def test_alignment_three_engines(name):
    """The kernel's verdict (the ``_ok`` probes load, the others are refused as misaligned),
    the verifier's, the Z3 engine's M2 and the interpreter's confirmation agree."""
    from model.symbolic import analyse_program

    probe = _probe(name)
    ok = name.endswith("_ok")
    if KERNEL:
        r = probe.kernel()
        assert r.ok is ok, r.log[-300:]
        if not ok:
            assert "misaligned" in r.log
    obj, prog = probe.model()
    v = check_program(obj, prog)
    assert v.accepted is ok
    if not ok:
        assert v.error.message.startswith("misaligned")
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is ok
    assert doc["cross_check"] == ("agree: safe" if ok else "agree: confirmed") or (
        not ok and name.startswith("map_")), doc["cross_check"]
