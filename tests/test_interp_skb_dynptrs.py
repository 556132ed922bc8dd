"""The interpreter runs skb / xdp dynptrs (model/interp/skb_dynptrs.py, model/interp/
dynptrs.py): r0 compared with the kernel's BPF_PROG_TEST_RUN on the same packet (bytes 0..63)
for each program, after the verifier's and the kernel's acceptance."""

from __future__ import annotations

import pytest

from kfunc_probes import resolve
from model.kernel import available

KERNEL = available()[0]
PACKET = bytes(range(64))
_SKB = "r6 = r1\nr2 = {flags}\nr3 = r10\nr3 += -16\ncall kfunc bpf_dynptr_from_{kind}\n"
_SLICE = ("r1 = r10\nr1 += -16\nr2 = {off}\nr3 = 0\nr4 = 4\ncall kfunc bpf_dynptr_{sl}\n"
          "if r0 == 0 goto null\nr0 = *(u32 *)(r0 + 0)\nexit\nnull:\nr0 = 0x77\nexit\n")
_READ = ("r1 = r10\nr1 += -24\nr2 = {n}\nr3 = r10\nr3 += -16\nr4 = {off}\nr5 = 0\ncall 201\n"
         "if r0 != 0 goto out\nr0 = *(u32 *)(r10 - 24)\nout:\nexit\n")
_WRITE = ("r1 = 0x5a5a5a5a\n*(u64 *)(r10 - 24) = r1\nr1 = r10\nr1 += -16\nr2 = 20\n"
          "r3 = r10\nr3 += -24\nr4 = 4\nr5 = {flags}\ncall 202\nif r0 != 0 goto out\n")
_DATA = "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 8\ncall 203\nexit\n"
_RDWR_SEEN = "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 1\ncall kfunc bpf_dynptr_slice_rdwr\n"

#: (name, section, text)
RUNS = [
    ("skb_slice", "tc", _SKB + _SLICE.format(off=14, sl="slice")),
    ("skb_slice_past_end", "tc", _SKB + _SLICE.format(off=62, sl="slice")),
    ("skb_read", "tc", _SKB + _READ.format(n=8, off=20)),
    ("skb_read_past_end", "tc", _SKB + _READ.format(n=8, off=60)),
    ("skb_flags", "tc", _SKB.replace("{flags}", "1") + "r0 = r0\nexit\n"),
    ("skb_flags_slice_null", "tc", _SKB.replace("{flags}", "1")
     + _SLICE.format(off=0, sl="slice")),
    ("skb_write_no_rdwr_call", "tc", _SKB + _WRITE.format(flags=0) + "r0 = 1\nout:\nexit\n"),
    ("skb_write_rdonly", "cgroup_skb/ingress", _SKB + _WRITE.format(flags=0)
     + "r0 = 1\nexit\nout:\nr0 = 0\nexit\n"),  # (a cgroup_skb program returns 0 or 1)
    ("socket_write_rdonly", "socket", _SKB + _WRITE.format(flags=0)
     + "r0 = 1\nout:\nexit\n"),
    ("skb_write_rdwr", "tc", _SKB + _RDWR_SEEN + _WRITE.format(flags=0)
     + _SLICE.format(off=20, sl="slice_rdwr").replace("out:\n", "").replace(
         "exit\nnull:", "exit\nout:\nexit\nnull:", 1)),
    ("skb_write_csum_flag", "tc", _SKB + _RDWR_SEEN + _WRITE.format(flags=1)
     + "r0 = 1\nout:\nexit\n"),
    ("skb_write_bad_flag", "tc", _SKB + _RDWR_SEEN + _WRITE.format(flags=4)
     + "r0 = 1\nout:\nexit\n"),
    ("skb_data_null", "tc", _SKB + _DATA),
    ("socket_slice", "socket", _SKB + _SLICE.format(off=0, sl="slice")),
    ("xdp_slice", "xdp", _SKB.replace("{kind}", "xdp") + _SLICE.format(off=4, sl="slice")),
    ("xdp_read", "xdp", _SKB.replace("{kind}", "xdp") + _READ.format(n=4, off=33)),
    ("xdp_write", "xdp", _SKB.replace("{kind}", "xdp") + _WRITE.format(flags=0)
     + _READ.format(n=4, off=20)),
    ("xdp_write_flag", "xdp", _SKB.replace("{kind}", "xdp") + _WRITE.format(flags=1)
     + "r0 = 1\nout:\nexit\n"),
    ("xdp_slice_rdwr_write", "xdp", _SKB.replace("{kind}", "xdp")
     + "r1 = r10\nr1 += -16\nr2 = 8\nr3 = 0\nr4 = 4\ncall kfunc bpf_dynptr_slice_rdwr\n"
     "if r0 == 0 goto out\nr1 = 0x01020304\n*(u32 *)(r0 + 0) = r1\n"
     + _READ.format(n=4, off=8)),
]


def _fill(text: str) -> str:
    return resolve(text.replace("{flags}", "0").replace("{kind}", "skb"))


@pytest.mark.parametrize("name, section, text", RUNS, ids=[r[0] for r in RUNS])
def test_interpreter_matches_test_run(name, section, text):
    from model.interp.machine import Machine
    from model.verifier.checker import check_program
    from tracing_probes import build

    obj, prog = build(_fill(text), section)
    v = check_program(obj, prog)
    assert v.accepted, v.error
    res = Machine(prog, obj.maps).run(packet=PACKET)
    assert res.status == "exit", res.fault
    if KERNEL:
        from model.kernel.objload import loaded

        with loaded(obj, prog) as lp:
            assert lp.ok, lp.result.log[-600:]
            assert lp.test_run(PACKET).retval == res.r0 & 0xFFFFFFFF, name
