"""The interpreter's ``struct __sk_buff`` under a given context (``skv run --ctx``) is the one
BPF_PROG_TEST_RUN builds: the caller's settable fields from the bytes, ``len``,
``pkt_type``, ``protocol``, ``ifindex`` and ``wire_len`` derived from the frame, and the
kernel's refusals (a non-settable field set, a wire_len below len) as one-line errors. Each
readable field is compared with the running kernel's test run."""

from __future__ import annotations

import pytest

from conftest import kernel_or_skip
from model.errors import SkvError
from model.interp.ctx import SKB_CTX_IN_FIELDS, SKB_SIZE
from model.interp.machine import Machine
from model.isa import assemble, encode
from model.platform.ctx_layouts import ctx_access, ctx_layout
from model.program import Program

BODY = bytes.fromhex("02000000000108004500001400004000401100000a0000010a000002") + bytes(30)
DESTS = ("ffffffffffff", "000000000000", "010000000000", "020000000001")
SECTIONS = {"sched_cls": "classifier", "socket_filter": "socket"}


def readable(prog_type: str) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every scalar field the verifier lets ``prog_type`` read whole."""
    out = []
    for f in ctx_layout(prog_type).fields:
        size = min(f.end - f.off, 8)
        got = ctx_access(prog_type, f.off, size, False)
        if not isinstance(got, str) and got.kind == "scalar":
            out.append((f.name, f.off, size))
    return out


def ctx_with(**values: int) -> bytes:
    raw = bytearray(SKB_SIZE)
    for f in ctx_layout("sched_cls").fields:
        if f.name in values:
            size = min(f.end - f.off, 8)
            raw[f.off:f.off + size] = values[f.name].to_bytes(size, "little")
    return bytes(raw)


def program(off: int, size: int) -> list:
    return assemble(f"r0 = *(u{size * 8} *)(r1 + {off})\nexit")


def skv_run(prog_type: str, insns: list, frame: bytes, ctx: bytes | None) -> int:
    res = Machine(Program("t", SECTIONS[prog_type], insns)).run(ctx, frame,
                                                                 test_run_checks=True)
    assert res.ok, res.fault
    return res.r0 & 0xFFFFFFFF


@pytest.mark.parametrize("prog_type", sorted(SECTIONS))
def test_every_readable_field_matches_the_kernels_test_run(prog_type):
    kernel_or_skip()
    from model.kernel import oracle

    settable = {"mark": 7, "priority": 9, "ingress_ifindex": 11, "cb": 13, "tstamp": 15,
                "wire_len": 200, "gso_segs": 17, "gso_size": 19, "hwtstamp": 21}
    ctxs = [None, ctx_with(), *(ctx_with(**{k: v}) for k, v in settable.items())]
    compared = 0
    for name, off, size in readable(prog_type):
        insns = program(off, size)
        raw = encode(insns)
        for dest in DESTS:
            frame = bytes.fromhex(dest) + BODY
            for ctx in ctxs:
                want = oracle.run(raw, prog_type, frame, ctx_in=ctx).retval
                assert skv_run(prog_type, insns, frame, ctx) == want, (name, dest, ctx)
                compared += 1
    assert compared >= 300


def test_the_kernels_ctx_in_refusals_are_one_line_errors():
    kernel_or_skip()
    from model.kernel import oracle
    from model.kernel.bpf import BpfError

    insns = program(0, 4)
    frame = bytes.fromhex(DESTS[0]) + BODY
    refused = [ctx_with(**{f.name: 1}) for f in ctx_layout("sched_cls").fields
               if f.name not in SKB_CTX_IN_FIELDS and f.name != "ifindex"]
    refused += [ctx_with(wire_len=len(frame) - 1), ctx_with(wire_len=1 << 20)]
    for ctx in refused:
        with pytest.raises(BpfError):
            oracle.run(encode(insns), "sched_cls", frame, ctx_in=ctx)
        with pytest.raises(SkvError, match="^--ctx: "):
            skv_run("sched_cls", insns, frame, ctx)
    assert len(refused) >= 20


def test_without_checks_other_bytes_are_kept():
    """The interpreter's own callers (proofs, fuzzers) may give any context: the derived
    fields are still the frame's, the others as given."""
    ctx = ctx_with(hash=0x1234, len=5)
    src = assemble("r0 = *(u32 *)(r1 + 68)\nr1 = *(u32 *)(r1 + 0)\nr0 += r1\nexit")
    res = Machine(Program("t", "classifier", src)).run(ctx, bytes(60))
    assert res.ok and res.r0 == 0x1234 + 60


def test_a_context_of_zeros_takes_len_from_the_frame():
    """With a context given, skb->len is still the frame's (a socket filter's without the
    Ethernet header), as the kernel's test run gives it; an unknown ifindex is refused."""
    src = assemble("r0 = *(u32 *)(r1 + 0)\nexit")
    assert skv_run("sched_cls", src, bytes(60), bytes(SKB_SIZE)) == 60
    assert skv_run("socket_filter", src, bytes(60), bytes(SKB_SIZE)) == 46
    with pytest.raises(SkvError, match="no network device with ifindex 999999"):
        skv_run("sched_cls", src, bytes(60), ctx_with(ifindex=999999))
