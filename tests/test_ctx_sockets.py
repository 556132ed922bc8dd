"""Socket pointers read from the context (the abstract verifier and the Z3 engine,
model.symbolic.sockets): ``bpf_sock_ops->sk`` is PTR_TO_SOCKET_OR_NULL, ``__sk_buff->sk``
PTR_TO_SOCK_COMMON_OR_NULL; neither holds a reference (releasing one is refused). Each
probe is judged by the running kernel: skv gives its verdict and its last line."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from soundness_probes import SECTION, Probe

SECTION.setdefault("cgroup_skb", "cgroup_skb/ingress")
KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
SO = "r6 = r1\nr7 = *(u64 *)(r6 + 184)\n"   # skops->sk
SKB = "r6 = r1\nr7 = *(u64 *)(r6 + 168)\n"  # skb->sk
CHECK = "if r7 == 0 goto out\n"
END = "out:\nr0 = 1\nexit\n"

PROBES = [
    Probe("sock_ops_family_ok", "sock_ops", SO + CHECK + "r0 = *(u32 *)(r7 + 4)\n" + END),
    Probe("sock_ops_unchecked", "sock_ops", SO + "r0 = *(u32 *)(r7 + 4)\n" + END),
    Probe("sock_ops_release", "sock_ops", SO + CHECK + "r1 = r7\ncall 86\n" + END),
    Probe("sock_ops_tcp_sock_ok", "sock_ops", SO + CHECK + "r1 = r7\ncall 96\n"
          "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + 0)\n" + END),
    Probe("sock_ops_write", "sock_ops", SO + CHECK + "r1 = 0\n*(u32 *)(r7 + 4) = r1\n" + END),
    Probe("sock_ops_arith", "sock_ops", SO + CHECK + "r7 += 4\nr0 = *(u32 *)(r7 + 0)\n" + END),
    Probe("sock_ops_past_struct", "sock_ops", SO + CHECK + "r0 = *(u32 *)(r7 + 200)\n" + END),
    Probe("sock_ops_spilled_ok", "sock_ops", SO + "*(u64 *)(r10 - 8) = r7\n"
          "r7 = *(u64 *)(r10 - 8)\n" + CHECK + "r0 = *(u32 *)(r7 + 4)\n" + END),
    Probe("tc_family_ok", "sched_cls", SKB + CHECK + "r0 = *(u32 *)(r7 + 4)\n" + END),
    Probe("tc_unchecked", "sched_cls", SKB + "r0 = *(u32 *)(r7 + 4)\n" + END),
    Probe("tc_mark_not_common", "sched_cls", SKB + CHECK + "r0 = *(u32 *)(r7 + 16)\n" + END),
    Probe("tc_release", "sched_cls", SKB + CHECK + "r1 = r7\ncall 86\n" + END),
    Probe("tc_fullsock_ok", "sched_cls", SKB + CHECK + "r1 = r7\ncall 95\n"
          "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + 16)\n" + END),
    Probe("cgroup_skb_family_ok", "cgroup_skb", SKB + CHECK + "r0 = *(u32 *)(r7 + 4)\n"
          + END),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_ctx_socket_probe_against_kernel(probe):
    assert_like_kernel(probe)


#: what the Z3 engine leaves to the verifier (its answer "unknown", never "safe"): a
#: socket or a typed socket given to a helper it does not follow with one (bpf_tcp_sock
#: of a bpf_skc_to_* cast)
LEFT_TO_VERIFIER = ("not modelled by the Z3 engine: a socket given to ",
                    "not modelled by the Z3 engine: a typed socket given to ")


def assert_like_kernel(probe):
    """skv's verdict and last line are the kernel's; the Z3 engine (model.symbolic.sockets)
    calls it safe exactly when the kernel accepts, except what it leaves to the verifier
    (``LEFT_TO_VERIFIER``: never "safe" there); names ending in ``_ok`` are the kernel's
    accepted ones."""
    j = probe.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    ours = j.ours_msg.splitlines()[-1] if j.ours_msg else "accept"
    where = f"{probe.name}:\n{probe.text}\nkernel: {kmsg}\nours: {ours}\nz3: {j.z3_why}"
    assert ours == kmsg, where
    if j.z3_why and j.z3_why.startswith(LEFT_TO_VERIFIER):
        assert not j.z3_safe, where
    else:
        assert j.z3_safe == j.kernel_ok, "Z3 DISAGREES " + where
    assert probe.name.endswith("_ok") == j.kernel_ok, where
