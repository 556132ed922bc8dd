"""sock_ops programs: the context is ``struct bpf_sock_ops`` (model.platform.ctx_layouts,
swept against the kernel by tests/test_platform.py), the helpers sock_ops_func_proto's;
the return value must be 0 or 1. These probes run whole programs past the kernel."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.verifier.checker import check_program
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
END = "r0 = 1\nexit\n"
# skb_data / skb_data_end, a 4-byte read checked against the end
PKT = ("r2 = *(u64 *)(r1 + 192)\nr3 = *(u64 *)(r1 + 200)\nr4 = r2\nr4 += 4\n"
       "if r4 > r3 goto out\n")


def _so(name: str, text: str, end: str = END) -> Probe:
    return Probe(name, "sock_ops", text + end)


PROBES = [
    _so("op_reply_ok", "r2 = *(u32 *)(r1 + 0)\nr2 = 7\n*(u32 *)(r1 + 4) = r2\n"),
    _so("write_args1", "r2 = 7\n*(u32 *)(r1 + 8) = r2\n"),
    _so("txhash_write_ok", "r2 = 7\n*(u32 *)(r1 + 164) = r2\n"),
    _so("narrow_port", "r2 = *(u16 *)(r1 + 64)\n"),
    _so("tcp_flags_narrow_ok", "r2 = *(u8 *)(r1 + 212)\n"),
    _so("bytes_acked_narrow", "r2 = *(u32 *)(r1 + 176)\n"),
    _so("packet_read_ok", PKT + "r0 = *(u32 *)(r2 + 0)\nout:\n"),
    _so("packet_read_unchecked", "r2 = *(u64 *)(r1 + 192)\nr0 = *(u32 *)(r2 + 0)\n"),
    _so("packet_write", PKT + "r5 = 0\n*(u32 *)(r2 + 0) = r5\nout:\n"),
    _so("cb_flags_set_ok", "r2 = 1\ncall 59\n"),
    _so("return_two", "", "r0 = 2\nexit\n"),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_sock_ops_probe_against_kernel(probe):
    assert_same_verdict(probe)


@pytest.mark.parametrize("body, safe", [
    ("r2 = *(u64 *)(r1 + 184)\n", True),
    ("r2 = *(u64 *)(r1 + 184)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + 4)\n", True),
    ("r2 = *(u64 *)(r1 + 184)\nr0 = *(u32 *)(r2 + 4)\n", False),
])
def test_the_socket_pointer_in_z3(body, safe):
    """``ctx->sk`` (a socket or NULL): the Z3 engine follows it (model.symbolic.sockets)
    as the abstract verifier does (tests/test_ctx_sockets.py): a read through it needs
    the NULL check first."""
    from model.symbolic.engine import Engine

    obj, prog = _so("sk", body).model()
    assert check_program(obj, prog).accepted == safe
    r = Engine(obj, prog).run()
    assert not r.exhausted and (not r.failures) == safe, (r.exhausted, r.failures)
