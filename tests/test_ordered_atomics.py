"""BPF_LOAD_ACQ / BPF_STORE_REL (Linux 6.15+): decoded, printed and assembled; the abstract
verifier's verdict and message and the Z3 engine's M2 verdict equal the running kernel's on
tests/ordered_probes.py; the interpreter's loaded values equal BPF_PROG_TEST_RUN's."""

from __future__ import annotations

import pytest

from model.isa import (LoadAcquire, StoreRelease, assemble, decode, encode, format_kernel,
                       format_llvm)
from model.errors import IsaError
from ordered_probes import PROBES

SIZES = (1, 2, 4, 8)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(size):
    for insn in (LoadAcquire(size, 1, 2, -8), StoreRelease(size, 3, 16, 4)):
        data = insn.encode()
        assert data[0] == 0xc3 | {1: 0x10, 2: 0x08, 4: 0, 8: 0x18}[size]
        assert int.from_bytes(data[4:], "little") == (0x100 if size and
                                                      isinstance(insn, LoadAcquire) else 0x110)
        back = decode(data)
        assert back == [insn] and type(back[0]) is type(insn)
        again = assemble(format_llvm(insn))
        assert again == [insn] and type(again[0]) is type(insn)


def test_kernel_text():
    assert format_kernel(LoadAcquire(4, 1, 2, -8), 0) == \
        "(c3) r1 = load_acquire((u32 *)(r2 -8))"
    assert format_kernel(StoreRelease(8, 3, 16, 4), 0) == \
        "(db) store_release((u64 *)(r3 +16), r4)"


def test_reserved_and_unknown():
    bad_imm = bytes([0xc3, 0x21, 0, 0]) + (0x101).to_bytes(4, "little")
    with pytest.raises(IsaError):
        decode(bad_imm)
    with pytest.raises(IsaError):
        LoadAcquire(4, 1, 2, 0, signed=True)
    with pytest.raises(IsaError):
        StoreRelease(4, 1, 0, None, 3)
    # a read-modify-write atomic of size 1 is still refused
    with pytest.raises(IsaError):
        decode(bytes([0xd3, 0x21, 0, 0, 0, 0, 0, 0]))


@pytest.mark.parametrize("p", PROBES, ids=[p.name for p in PROBES])
def test_same_verdict_as_the_kernel(p):
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.kernel.oracle import rejection_reason

    j = p.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    ours = j.ours_msg.splitlines()[-1] if j.ours_msg else "accept"
    where = f"{p.name}:\n{p.text}\nkernel: {kmsg}\nours: {ours}\nz3: {j.z3_why or 'safe'}"
    assert not j.ours_ok or j.kernel_ok, "FALSE ACCEPT " + where
    assert ours == kmsg, where
    assert j.z3_safe == j.kernel_ok, "Z3 disagrees " + where


# -- the interpreter's values against BPF_PROG_TEST_RUN (xdp) -------------------------------
PACKET = bytes(range(0x81, 0x81 + 64))  # high bits set: a sign extension would show
_HEAD = ("r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 16\n"
         "r0 = 0\nif r4 > r3 goto +{n}\n")
_TYPES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def _run_program(body: str, shift: int) -> str:
    body += f"\nr0 >>= {shift}" if shift else ""
    return _HEAD.format(n=body.count("\n") + 1) + body + "\nexit"


def _acquire(size: int) -> str:
    p = "r" if size == 8 else "w"
    return ("r5 = *(u64 *)(r2 + 0x3)\nstore_release((u64 *)(r10 - 0x10), r5)\n"
            f"{p}0 = load_acquire(({_TYPES[size]} *)(r10 - 0x10))")


def _release(size: int) -> str:
    p = "r" if size == 8 else "w"
    return ("r5 = -1\n*(u64 *)(r10 - 0x8) = r5\nr5 = *(u64 *)(r2 + 0x5)\n"
            f"store_release(({_TYPES[size]} *)(r10 - 0x8), {p}5)\n"
            "r0 = load_acquire((u64 *)(r10 - 0x8))")


@pytest.mark.parametrize("kind", ["acquire", "release"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shift", [0, 32])
def test_interpreter_values_match_test_run(kind, size, shift):
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.interp.machine import Machine
    from model.kernel import run
    from model.program import Program

    text = _run_program((_acquire if kind == "acquire" else _release)(size), shift)
    insns = assemble(text)
    want = run(encode(insns), "xdp", PACKET).retval
    got = Machine(Program("t", "xdp", insns)).run(packet=PACKET)
    assert got.status == "exit", got.fault
    from soundness import build, ours

    assert ours(*build(text, "xdp")).accepted  # the kernel loaded it
    assert got.r0 & 0xffffffff == want, text
    if kind == "acquire" and shift == 32 and size < 8:
        assert want == 0  # zero-extended


def test_x86_jit_image_matches_the_kernel():
    """The x86 JIT model compiles the kernel's xlated program to the kernel's own image
    (x86 is TSO: a load-acquire is a plain mov, a store-release too) and frame-pointer
    tracking reads a load-acquire's source (stack depth)."""
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.kernel import load
    from model.x86 import jit_xlated, same_image

    for size in SIZES:
        text = _run_program(_acquire(size) + "\n" + _release(size), 0)
        with load(encode(assemble(text)), "xdp", log_level=0) as p:
            kimg, kxl = p.jited(), p.xlated()
        assert same_image(jit_xlated(kxl), kimg), size


def test_kernel_text_is_the_running_kernels():
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.kernel import verify

    insns = assemble("r2 = 7\n*(u64 *)(r10 - 0x8) = r2\nw0 = load_acquire((u16 *)(r10 - 0x8))\n"
                     "store_release((u32 *)(r10 - 0x8), w0)\nexit")
    log = verify(encode(insns), "xdp", log_level=2).log
    for insn in insns[2:4]:
        assert format_kernel(insn, 0) in log
