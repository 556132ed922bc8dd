"""A packet access out of the checked range is refused with the kernel's exact line: Linux
6.18's __check_mem_access prints the access's whole offset (the pointer's fixed offset plus
the instruction's) twice, ``off=O size=S, Rn(id=I,off=O,r=R)``, not the pointer's own offset
(Open vSwitch's AF_XDP flow table, built with clang 19, is refused with it). The verdict and
the line are compared with the running kernel."""

from __future__ import annotations

import pytest

from soundness import build

HEAD = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n"
# (name, body after data/data_end in r2/r3, the kernel's line)
CASES = [
    ("fixed offset", "r2 += 4\nr0 = *(u16 *)(r2 + 2)\n",
     "invalid access to packet, off=6 size=2, R2(id=0,off=6,r=0)"),
    ("variable and fixed offset",
     "r4 = *(u32 *)(r1 + 16)\nr4 &= 12\nr2 += r4\nr2 += 6\nr0 = *(u16 *)(r2 + 2)\n",
     "invalid access to packet, off=8 size=2, R2(id=1,off=8,r=0)"),
    ("negative offset in range", "r4 = r2\nr4 += 8\nif r4 > r3 goto +1\n"
     "r0 = *(u16 *)(r2 - 2)\n", "invalid access to packet, off=-2 size=2, R2(id=0,off=-2,r=8)"),
]


@pytest.mark.parametrize("name,body,line", CASES, ids=[c[0] for c in CASES])
def test_packet_access_line_is_the_kernels(name, body, line):
    from model.verifier.checker import check_program

    obj, prog = build(HEAD + body + "r0 = 0\nexit", "xdp")
    v = check_program(obj, prog)
    assert not v.accepted and v.error.message.splitlines()[0] == line, v.error

    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.isa import encode
    from model.kernel import verify

    r = verify(encode(prog.insns), prog.prog_type)
    assert not r.ok and line in r.log.splitlines(), r.log[-400:]
