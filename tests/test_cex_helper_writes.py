"""A counterexample carries the bytes a helper the engines leave unknown wrote (here
bpf_skb_load_bytes into the stack), and the interpreter's replay writes them where its
model of the call makes bytes up: a failure only reachable through those bytes is then
confirmed (Open vSwitch's parser reads its headers this way). The kernel rejects it too."""

from __future__ import annotations

from soundness import build

# tc: 4 packet bytes into fp-8 by the helper; only for the value 0x12345678 is the context
# pointer moved before a load ("dereference of modified ctx ptr")
TEXT = """r6 = r1
r1 = r6
r2 = 0
r3 = r10
r3 += -8
r4 = 4
call 26
r2 = *(u32 *)(r10 - 8)
if r2 != 0x12345678 goto +2
r6 += 4
r0 = *(u32 *)(r6 + 0)
r0 = 0
exit"""


def test_replay_takes_the_helpers_bytes_from_the_counterexample():
    from model.symbolic import analyse_program

    obj, prog = build(TEXT, "tc")
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is False
    cx = doc["counterexample"]
    assert cx["helper_writes"]["6:0"] == ["78563412"], cx["helper_writes"]
    assert cx["confirmed"] and cx["pc"] == 10, cx
    assert cx["fault"].startswith("insn 10: dereference of modified ctx ptr R6 off=4")


def test_kernel_rejects_it():
    from conftest import kernel_or_skip

    kernel_or_skip()
    from soundness import judge

    j = judge(TEXT, "tc")
    assert not j.kernel_ok and not j.ours_ok
    assert j.kernel_msg == j.ours_msg == "dereference of modified ctx ptr R6 off=4 disallowed"
