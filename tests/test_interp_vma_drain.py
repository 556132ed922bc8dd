"""The interpreter runs bpf_find_vma (model/interp/vmas.py) and bpf_user_ringbuf_drain's
wakeup flags (model/interp/dynptrs.py) as Linux 6.18 does: r0 compared with the kernel's
BPF_PROG_TEST_RUN (XDP programs: the kernel's user ring buffer is empty, the current task
has no mapping at the low addresses probed), the verdicts with the verifier's and the Z3
engine's, and the runs' outcomes with the Z3 engine's model (model/symbolic/vmas.py)."""

from __future__ import annotations

import pytest

from callback_probes import CbProbe
from dynptr_probes import USER_RINGBUF
from model.interp.machine import Machine
from model.kernel import available
from model.verifier.checker import check_program

KERNEL = available()[0]
U64 = (1 << 64) - 1
#: r0 := drain(user_ringbuf, cb, 0, flags); a count (>= 0) becomes 0
_DRAIN = ("ld_pseudo r1, 1, 0\nr2 = func cb\nr3 = 0\nr4 = {flags}\ncall 209\n"
          "if r0 s< 0 goto out\nr0 = 0\nout:\nexit\ncb:\nr0 = 0\nexit\n")
#: r0 := find_vma(current, addr, cb, &called, flags); r0 += called * 100 (the callback
#: sets ``called`` to 1; COUNTING: adds 1, which the kernel accepts and skv's verifier does
#: not: its callback iterations do not converge, a false reject left to the verifier)
_VMA = ("r1 = 0\n*(u64 *)(r10 - 8) = r1\ncall 158\nr1 = r0\nr2 = {addr}\nr3 = func cb\n"
        "r4 = r10\nr4 += -8\nr5 = {flags}\ncall 180\nr1 = *(u64 *)(r10 - 8)\nr1 *= 100\n"
        "r0 += r1\nexit\ncb:\nr1 = 1\n*(u64 *)(r3 + 0) = r1\nr0 = {ret}\nexit\n")
COUNTING = ("r1 = 1\n*(u64 *)(r3 + 0) = r1\n",
            "r1 = *(u64 *)(r3 + 0)\nr1 += 1\n*(u64 *)(r3 + 0) = r1\n")

DRAIN_FLAGS = ["0", "1", "2", "3", "4", "8", "0x10000"]
#: (addr, flags, callback return): addresses the kernel's current task cannot map
VMA_CASES = [("0", "0", "0"), ("0", "1", "0"), ("100", "0", "1"), ("4095", "0", "0"),
             ("0", "2", "1"), ("0x100000000 ll", "4", "0")]


def _test_run(obj, prog) -> int:
    from model.kernel.objload import loaded

    with loaded(obj, prog) as lp:
        assert lp.ok, lp.result.log[-800:]
        return lp.test_run(bytes(64)).retval


def _runs(obj, prog, seeds=range(8)) -> set[int]:
    out = set()
    for seed in seeds:
        res = Machine(prog, obj.maps, seed=seed).run(packet=bytes(64))
        assert res.status == "exit", res.fault
        out.add(res.r0 & 0xFFFFFFFF)
    return out


@pytest.mark.parametrize("flags", DRAIN_FLAGS)
def test_user_ringbuf_drain_flags(flags):
    """BPF_RB_NO_WAKEUP (1) and BPF_RB_FORCE_WAKEUP (2) are allowed, any other bit gives
    -EINVAL: the interpreter's r0 is the kernel's, seed after seed."""
    obj, prog = CbProbe(f"drain_{flags}", "xdp", _DRAIN.format(flags=flags),
                        [USER_RINGBUF]).model()
    assert check_program(obj, prog).accepted
    want = 0 if int(flags, 0) & ~3 == 0 else -22 & 0xFFFFFFFF
    assert _runs(obj, prog) == {want}
    if KERNEL:
        assert _test_run(obj, prog) == want


@pytest.mark.parametrize("addr, flags, ret", VMA_CASES)
def test_find_vma_against_kernel(addr, flags, ret):
    """flags -> -EINVAL, an address no mapping can cover -> -ENOENT, the callback never
    called: the interpreter's r0 is the kernel's."""
    obj, prog = CbProbe(f"vma_{addr.split()[0]}_{flags}", "xdp",
                        _VMA.format(addr=addr, flags=flags, ret=ret)).model()
    assert check_program(obj, prog).accepted
    want = (-22 if int(flags, 0) else -2) & 0xFFFFFFFF  # flags first, as the kernel
    assert _runs(obj, prog) == {want}
    if KERNEL:
        assert _test_run(obj, prog) == want


def test_find_vma_calls_back_at_most_once():
    """Where a VMA may cover the address: the callback runs at most once, with (task, vma,
    ctx); r0 is 0 when it ran (its own return ignored), else -ENOENT or -EBUSY without
    calling it: the outcomes the Z3 engine allows (model.symbolic.vmas.not_called_ret)."""
    from model.symbolic import analyse_program

    text = _VMA.format(addr="0x7f0000000000 ll", flags="0", ret="1").replace(
        "cb:\n", "cb:\nr0 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r2 + 8)\n")
    obj, prog = CbProbe("vma_called", "xdp", text).model()
    assert check_program(obj, prog).accepted
    seen = _runs(obj, prog, range(30))
    assert seen == {100, -2 & 0xFFFFFFFF, -16 & 0xFFFFFFFF}, seen
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is True and not doc["exhausted"]
    obj, prog = CbProbe("vma_counted", "xdp", text.replace(*COUNTING)).model()
    counted = _runs(obj, prog, range(30))
    assert counted == seen, counted  # never called twice
    if KERNEL:  # the kernel runs it too (the address is not the test runner's)
        assert _test_run(obj, prog) in seen


def test_find_vma_null_task_and_writes():
    """A NULL task gives -ENOENT; the VMA the callback gets is read-only (a store through
    it faults: the verifier's "only read is supported")."""
    text = _VMA.format(addr="0x7f0000000000 ll", flags="0", ret="0").replace(
        "call 158\nr1 = r0\n", "call 158\nr1 = r0\nr1 = 0\n")
    obj, prog = CbProbe("vma_null", "xdp", text).model()
    assert _runs(obj, prog) == {-2 & 0xFFFFFFFF}
    text = _VMA.format(addr="0x7f0000000000 ll", flags="0", ret="0").replace(
        "r0 = 0\nexit\n", "r0 = 0\n*(u64 *)(r2 + 0) = r0\nexit\n")
    obj, prog = CbProbe("vma_write", "xdp", text).model()
    assert not check_program(obj, prog).accepted
    faults = [Machine(prog, obj.maps, seed=s).run(packet=bytes(64)) for s in range(10)]
    assert any(r.status == "fault" and "read-only" in r.fault.reason for r in faults)
