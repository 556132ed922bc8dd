"""A test of a pointer against 0 the kernel decides (is_branch_taken with reg_not_null): a
map value, a trusted typed pointer (bpf_get_current_task_btf's task), 64- or 32-bit, is
never NULL, so the other edge is dead code the verifier does not check; any other test
(an ordering, a non-zero constant, a pointer that may be NULL) gets both edges. Each probe
puts an unavailable helper call on the edge in question and is judged by the abstract
verifier and the running kernel."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.map_helpers import MAP_TYPE_IDS
from soundness_probes import Probe

KERNEL, WHY = available()
ARRAY = [(MAP_TYPE_IDS["array"], 4, 8, 1, 0)]
VALUE = ("r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nld_pseudo r1, 1, 0\ncall 1\n"
         "if r0 == 0 goto o\n")
DEAD = "call 66\n"  # bpf_skb_get_xfrm_state: refused in xdp and sched_cls alike
CASES = [  # name, type, text, maps, the kernel's verdict
    ("task_jne_ok", "sched_cls", f"call 158\nif r0 != 0 goto l\n{DEAD}l: r0 = 0\nexit\n", [],
     True),
    ("task_jeq_w_ok", "sched_cls", f"call 158\nif w0 == 0 goto l\nr0 = 0\nexit\nl: {DEAD}"
     "r0 = 0\nexit\n", [], True),
    ("value_jeq_w_ok", "xdp", VALUE + f"if w0 == 0 goto l\no: r0 = 0\nexit\nl: {DEAD}"
     "r0 = 0\nexit\n", ARRAY, True),
    ("value_jne_w_ok", "xdp", VALUE + f"if w0 != 0 goto o\n{DEAD}o: r0 = 0\nexit\n", ARRAY,
     True),
    ("value_jeq_w_high_bits_ok", "xdp", VALUE + "r3 = 0x100000000 ll\nif w0 == w3 goto l\n"
     f"o: r0 = 0\nexit\nl: {DEAD}r0 = 0\nexit\n", ARRAY, True),
    ("value_jgt_w", "xdp", VALUE + f"if w0 > 0 goto o\n{DEAD}o: r0 = 0\nexit\n", ARRAY, False),
    ("value_jne_1", "xdp", VALUE + f"if r0 != 1 goto o\n{DEAD}o: r0 = 0\nexit\n", ARRAY, False),
    ("stack_jne", "xdp", f"r2 = r10\nif r2 != 0 goto l\n{DEAD}l: r0 = 0\nexit\n", [], False),
]


@pytest.mark.parametrize("name,ptype,text,maps,ok", CASES, ids=[c[0] for c in CASES])
def test_null_test_of_a_pointer(name, ptype, text, maps, ok):
    j = Probe(name, ptype, text, maps).judge()
    assert j.ours_ok == ok, f"{name}: {j.ours_msg}"
    if not KERNEL:
        pytest.skip(f"skv's verdict asserted; no kernel comparison: {WHY}")
    assert j.kernel_ok == ok, f"{name}: kernel: {rejection_reason(j.kernel_log)}"
    if not ok:
        assert j.ours_msg.splitlines()[-1] == rejection_reason(j.kernel_log)
