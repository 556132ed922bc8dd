"""Packet metadata pointers get a usable range only from the comparison the kernel accepts
(try_match_pkt_pointers): ``data_meta' <op> data`` with ``data`` unmoved. A comparison of a
meta pointer with ``data_end``, or with a moved ``data``, proves nothing; a packet pointer
compared with ``data_meta`` gets no range either. The abstract verifier follows the rule,
the Z3 engine (metadata: a symbolic-length area just before the data) never calls a
kernel-rejected program with a feasible bad path M2-safe, and the kernel agrees."""

from __future__ import annotations

import pytest

from soundness import build, judge, m2_safe

XDP = ("r2 = *(u32 *)(r1 + 8)\nr3 = *(u32 *)(r1 + {other})\n{move}r4 = r2\nr4 += 4\n"
       "if {cmp} goto +1\nr0 = *(u32 *)(r2 + {off})\nr0 = 0\nexit")


def xdp(other=0, move="", cmp="r4 > r3", off=0):
    return XDP.format(other=other, move=move, cmp=cmp, off=off)


def tc(other):
    return xdp(other=other).replace("(r1 + 8)", "(r1 + 140)")


# (name, section, text, kernel accepts?, Z3 must say unsafe when rejected?)
CASES = [
    ("meta vs data", "xdp", xdp(), True, True),
    ("data vs meta, flipped", "xdp", xdp(cmp="r3 < r4"), True, True),
    ("meta vs data, store", "xdp",
     xdp().replace("goto +1\nr0 = *(u32 *)(r2 + 0)", "goto +2\nr0 = 1\n*(u32 *)(r2 + 0) = r0"),
     True, True),
    ("tc meta vs data", "tc", tc(76), True, True),
    ("meta vs data_end", "xdp", xdp(other=4), False, True),
    ("tc meta vs data_end", "tc", tc(80), False, True),
    ("meta vs moved data", "xdp", xdp(move="r3 += 4\n"), False, True),
    ("meta access past the checked range", "xdp", xdp(off=1), False, True),
    ("data access after a meta vs data_end check", "xdp",
     "r2 = *(u32 *)(r1 + 8)\nr3 = *(u32 *)(r1 + 0)\nr5 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 4\n"
     "if r4 > r5 goto +1\nr0 = *(u32 *)(r3 + 0)\nr0 = 0\nexit", False, True),
    # data + 4 <= meta never holds (meta <= data): the kernel cannot tell and rejects, the
    # Z3 engine finds the access unreachable
    ("data vs meta", "xdp",
     "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 8)\nr4 = r2\nr4 += 4\nif r4 > r3 goto +1\n"
     "r0 = *(u32 *)(r2 + 0)\nr0 = 0\nexit", False, False),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,section,text,ok,z3_unsafe", CASES, ids=IDS)
def test_verifier_and_z3_on_packet_meta(name, section, text, ok, z3_unsafe):
    from model.verifier.checker import check_program

    obj, prog = build(text, section)
    v = check_program(obj, prog)
    assert v.accepted == ok, (v.error, v.log[-4:])
    if not ok:
        assert "invalid access to packet" in v.error.message
    if ok:
        assert m2_safe(obj, prog) is True
    elif z3_unsafe:
        assert m2_safe(obj, prog) is False


@pytest.mark.parametrize("name,section,text,ok,z3_unsafe", CASES, ids=IDS)
def test_kernel_agrees_on_packet_meta(name, section, text, ok, z3_unsafe):
    from conftest import kernel_or_skip

    kernel_or_skip()
    j = judge(text, section)
    assert (j.kernel_ok, j.ours_ok) == (ok, ok), j
    if not ok:
        assert "offset is outside of the packet" in j.kernel_msg
