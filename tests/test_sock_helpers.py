"""Socket helpers returning another view of their socket argument, judged by the running
kernel: bpf_skc_to_* (a plain PTR_TO_BTF_ID | PTR_MAYBE_NULL of the named struct, holding
the argument's reference, except bpf_skc_to_unix_sock) and bpf_get_listener_sock (a
PTR_TO_SOCKET_OR_NULL holding no reference). The abstract verifier models them; the Z3
engine says "not modelled" (typed pointers, references)."""

from __future__ import annotations

import pytest

from model.kernel import available
from test_ctx_sockets import assert_like_kernel
from references_probes import SK_RELEASE, _lookup
from soundness_probes import Probe

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
GET_LISTENER, SKC_TO_TCP, SKC_TO_UNIX, SKC_TO_TCP6 = 98, 137, 178, 136
SKB = "r6 = r1\nr7 = *(u64 *)(r6 + 168)\nif r7 == 0 goto out\n"  # skb->sk, checked
CHECK = "if r0 == 0 goto out\n"
END = "out:\nr0 = 0\nexit\n"
LOOKED = "if r0 == 0 goto out\nr7 = r0\n"  # a looked-up (referenced) socket in r7
REL7 = f"r1 = r7\ncall {SK_RELEASE}\n"


def _tc(name: str, body: str) -> Probe:
    return Probe(name, "sched_cls", body)


PROBES = [
    # bpf_skc_to_tcp_sock on skb->sk (no reference)
    _tc("skc_tcp_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_unchecked", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_write", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r1 = 0\n*(u32 *)(r0 + 0) = r1\n" + END),
    _tc("skc_tcp_scalar", f"r1 = 0\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp_unchecked_sk", "r6 = r1\nr7 = *(u64 *)(r6 + 168)\n"
        f"r1 = r7\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp_ctx", f"call {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp6_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP6}\n" + CHECK
        + "r0 = *(u8 *)(r0 + 100)\n" + END),
    _tc("skc_unix_ok", SKB + f"r1 = r7\ncall {SKC_TO_UNIX}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_chain_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + f"r1 = r0\ncall {SKC_TO_TCP6}\n" + END),
    _tc("skc_tcp_past_end", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 30000)\n" + END),
    # on a looked-up socket: the cast holds its reference
    _tc("skc_tcp_lookup_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\nr0 = *(u32 *)(r0 + 0)\nrel:\n" + REL7 + END),
    _tc("skc_tcp_use_after_release", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\nr8 = r0\n" + REL7 + "r0 = *(u32 *)(r8 + 0)\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_cast_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_unchecked_cast", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("skc_tcp_release_cast_off", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\nr1 += 8\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_unix_release", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_UNIX}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_no_ref", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("skc_tcp_leak", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_unix_after_release_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_UNIX}\n"
        "r8 = r0\n" + REL7 + "if r8 == 0 goto out\nr0 = *(u32 *)(r8 + 0)\n" + END),
    # bpf_get_listener_sock: a socket holding no reference
    _tc("listener_ok", SKB + f"r1 = r7\ncall {GET_LISTENER}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 4)\n" + END),
    _tc("listener_unchecked", SKB + f"r1 = r7\ncall {GET_LISTENER}\n"
        "r0 = *(u32 *)(r0 + 4)\n" + END),
    _tc("listener_release", SKB + f"r1 = r7\ncall {GET_LISTENER}\n" + CHECK
        + f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("listener_scalar", f"r1 = 0\ncall {GET_LISTENER}\n" + END),
    _tc("listener_lookup_ok", _lookup() + LOOKED + f"r1 = r7\ncall {GET_LISTENER}\n"
        "r8 = r0\n" + REL7 + "if r8 == 0 goto out\nr0 = *(u32 *)(r8 + 4)\n" + END),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_sock_helper_probe_against_kernel(probe):
    assert_like_kernel(probe)
