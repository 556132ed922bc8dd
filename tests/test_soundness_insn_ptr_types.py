"""One load/store instruction reached with two pointer types (save_aux_ptr_type): the
kernel refuses it when either is a type whose accesses it rewrites (ctx, sockets, BTF
pointers), and allows it between plain memory types (stack, map value). Found by the
rule-surface generator's ``ptr_alu`` class (tests/rulegen_alu.py). Judged against the
running kernel: skv must reject every program the kernel rejects, and accept the mixed
stack/map-value cases the kernel accepts; the Z3 engine never calls a rejected one M2-safe.
"""

from __future__ import annotations

import pytest

from model.kernel import available
from soundness import build, judge, m2_safe

# r7 = fp-16, or (on one path) {other}; then the access at one instruction
TEXT = ("r6 = r1\n*(u64 *)(r10 - 8) = 0\n*(u64 *)(r10 - 16) = 0\n{setup}r7 = r10\n"
        "r7 += -16\ncall 7\nif r0 == 0 goto +1\nr7 = {other}\n{access}\nr0 = 0\nexit")
MAP_VALUE = ("r1 = 0 ll\nr2 = r10\nr2 += -8\ncall 1\nif r0 != 0 goto +2\nr0 = 0\nexit\n"
             "r8 = r0\n")
CASES = [
    ("ldx ctx/stack", "perf_event", "", "r6", "r0 = *(u64 *)(r7 + 8)"),
    ("stx ctx/stack", "tc", "", "r6", "*(u32 *)(r7 + 8) = r0"),
    ("st ctx/stack", "tc", "", "r6", "*(u32 *)(r7 + 8) = 1"),
    ("ldx map value/stack", "tc", MAP_VALUE, "r8", "r0 = *(u64 *)(r7 + 0)"),
    ("stx map value/stack", "tc", MAP_VALUE, "r8", "*(u64 *)(r7 + 0) = r0"),
]


@pytest.mark.parametrize("name,section,setup,other,access", CASES, ids=[c[0] for c in CASES])
def test_one_insn_two_pointer_types(name, section, setup, other, access):
    ok, why = available()
    if not ok:
        pytest.skip(why)
    text = TEXT.format(setup=setup, other=other, access=access)
    if setup:
        return _with_map(text, section)
    j = judge(text, section)
    assert j.ours_ok == j.kernel_ok, (j.kernel_msg, j.ours_msg)
    if not j.kernel_ok:
        assert j.ours_msg == j.kernel_msg
        obj, prog = build(text, section)
        assert m2_safe(obj, prog) is not True


def _with_map(text: str, section: str) -> None:
    """Programs with a map: loaded with a real array map (fd patched in), skv given the
    same map."""
    from model.isa import LoadImm64, assemble, encode
    from model.kernel import map_create, verify
    from model.program import BpfObject, MapDef, MapRef, Program
    from model.verifier.checker import check_program

    insns = [LoadImm64(i.dst, 1) if isinstance(i, LoadImm64) else i for i in assemble(text)]
    prog = Program("t", section, insns)
    pc = next(p for p, i in prog.iter_pcs() if isinstance(i, LoadImm64))
    m = map_create("array", 4, 16, 1)
    try:
        k = verify(encode(prog.insns), prog.prog_type, maps={pc: m})
    finally:
        m.close()
    prog.map_refs[pc] = MapRef(pc, "m", None)
    obj = BpfObject("t", "GPL", {"m": MapDef("m", 2, 4, 16, 1, 0, origin="legacy")}, [prog])
    v = check_program(obj, prog)
    assert v.accepted == k.ok, (k.log[-300:], v.error)
