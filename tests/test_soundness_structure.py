"""The kernel's structural checks (check_subprogs, check_abnormal_return, check_cfg) are
verifier rejections with the kernel's message: unreachable code, jumps out of range or into
the middle of an ld_imm64, calls out of range, recursion, LD_ABS/LD_IND or bpf_tail_call in
a subprogram (skv, like a raw load, passes no BTF func info). The abstract verifier rejects
them with the kernel's message and pc, the Z3 engine never calls them M2-safe, the kernel
agrees, and ``skv check --json`` gives an ordinary "rejected" row for such an object."""

from __future__ import annotations

import json

import pytest

from model.cli import main
from model.elf.writer import ProgSpec, build_object
from model.isa import assemble
from soundness import build, judge, m2_safe

# (name, section, program text, kernel accepts?, kernel message, our error pc)
CASES = [
    ("unreachable", "xdp", "r0 = 0\nexit\nr0 = 1\nexit", False, "unreachable insn 2", 2),
    ("unreachable after goto", "tc", "r0 = 0\ngoto +1\nr0 = 1\nexit", False,
     "unreachable insn 2", 2),
    ("unreachable in a subprogram", "tc",
     "r0 = 0\ncall f\nexit\nf:\nr0 = 0\ngoto +1\nexit\nexit", False, "unreachable insn 5", 5),
    ("jump past the end", "xdp", "r0 = 0\ngoto +5\nexit", False,
     "jump out of range from insn 1 to 7", 1),
    ("jump before the start", "xdp", "r0 = 0\ngoto -3\nexit", False,
     "jump out of range from insn 1 to -1", 1),
    ("jump into a subprogram", "xdp",
     "r0 = 0\nif r0 == 0 goto +2\ncall f\nexit\nf:\nr0 = 0\nexit", False,
     "jump out of range from insn 1 to 4", 1),
    ("jump into ld_imm64", "xdp", "r0 = 0\nif r0 == 0 goto +1\nr1 = 0 ll\nexit", False,
     "jump into the middle of ldimm64 insn 2", 2),
    ("call past the end", "xdp", "r0 = 0\ncall pc+5\nexit", False,
     "call to invalid destination", 1),
    ("call before the start", "xdp", "r0 = 0\ncall pc-3\nexit", False,
     "call to invalid destination", 1),
    ("falls off the end", "xdp", "r0 = 0", False, "last insn is not an exit or jmp", 0),
    ("subprogram falls off", "tc", "r0 = 0\ncall f\nexit\nf:\nr0 = 0", False,
     "last insn is not an exit or jmp", 3),
    ("recursion", "xdp", "r0 = 0\ncall f\nexit\nf:\ncall f\nr0 = 0\nexit", False,
     "the call stack of 9 frames is too deep", 3),
    ("mutual recursion", "xdp",
     "r0 = 0\ncall f\nexit\nf:\ncall g\nr0 = 0\nexit\ng:\ncall f\nr0 = 0\nexit", False,
     "the call stack of 9 frames is too deep", None),
    ("LD_ABS in a subprogram", "tc",
     "r6 = r1\ncall f\nexit\nf:\nr6 = r1\nr0 = *(u8 *)skb[0]\nexit", False,
     "LD_ABS is not allowed in subprogs without BTF", 4),
    ("LD_IND in a subprogram", "tc",
     "r6 = r1\ncall f\nexit\nf:\nr6 = r1\nr2 = 0\nr0 = *(u8 *)skb[r2 + 0]\nexit", False,
     "LD_ABS is not allowed in subprogs without BTF", 5),
    ("unreachable LD_ABS in a subprogram", "tc",
     "r6 = r1\ncall f\nexit\nf:\nr0 = 0\ngoto +1\nr0 = *(u8 *)skb[0]\nexit", False,
     "LD_ABS is not allowed in subprogs without BTF", 5),
    ("tail call in a subprogram", "tc",
     "r6 = r1\ncall f\nexit\nf:\nr0 = 0\ncall 12\nexit", False,
     "tail_call is not allowed in subprogs without BTF", 4),
    # accepted twins
    ("LD_ABS in the main function", "tc",
     "r6 = r1\nr0 = *(u8 *)skb[0]\nr0 = *(u16 *)skb[r0 + 2]\nexit", True, "", None),
    ("a subprogram", "tc", "r6 = r1\ncall f\nr0 = 0\nexit\nf:\nr0 = 0\nexit", True, "", None),
    ("loop", "xdp", "r0 = 0\nr0 += 1\nif r0 < 4 goto -2\nexit", True, "", None),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,section,text,ok,msg,pc", CASES, ids=IDS)
def test_verifier_and_z3_on_structure(name, section, text, ok, msg, pc):
    from model.verifier.checker import check_program

    obj, prog = build(text, section)
    v = check_program(obj, prog)
    assert v.accepted == ok, (v.error, v.log[-4:])
    if not ok:
        assert v.error.message == msg
        if pc is not None:
            assert v.error.insn == pc
    assert m2_safe(obj, prog) is ok


@pytest.mark.parametrize("name,section,text,ok,msg,pc", CASES, ids=IDS)
def test_kernel_agrees_on_structure(name, section, text, ok, msg, pc):
    from conftest import kernel_or_skip

    kernel_or_skip()
    j = judge(text, section)
    assert (j.kernel_ok, j.ours_ok) == (ok, ok), j
    if not ok:
        assert j.kernel_msg == msg


def _object(tmp_path, name: str, text: str, funcs=None) -> str:
    data = build_object([ProgSpec("xdp", name, assemble(text), funcs=funcs or {})], [])
    path = tmp_path / f"{name}.o"
    path.write_bytes(data)
    return str(path)


def _check_json(capsys, path: str) -> dict:
    assert main(["check", "--json", path]) == 1
    (row,) = json.loads(capsys.readouterr().out)["programs"]
    return row


@pytest.mark.parametrize("text,insn,msg", [
    ("r0 = 0\nexit\nr0 = 1\nexit", 2, "unreachable insn 2"),
    ("r0 = 0\ngoto +5\nexit", 1, "jump out of range from insn 1 to 7"),
    ("r0 = 0\nif r0 == 0 goto +1\nr1 = 0 ll\nexit", 2, "jump into the middle of ldimm64 insn 2"),
])
def test_check_cli_row_for_structure_errors(capsys, tmp_path, text, insn, msg):
    row = _check_json(capsys, _object(tmp_path, "p", text))
    assert row["verdict"] == "rejected"
    assert row["error"] == {"insn": insn, "message": msg}
    assert row["models"]["M2"]["safe"] is False


def test_call_into_the_middle_of_a_function_is_linked_and_rejected(capsys, tmp_path):
    """libbpf keeps a call whose target is inside a .text function (not its start); the
    kernel then starts a subprogram there. skv links it the same way and rejects it."""
    text = "r0 = 0\ncall f\nexit\nf:\nr0 = 1\nr0 = 2\nexit"
    path = _object(tmp_path, "p", text, funcs={3: "f"})
    from elfpatch import Patch

    p = Patch(path)
    # the call's imm (bytes 4..7 of insn 1 of the entry section) is relocated against f's
    # symbol: -1 lands on f, 0 on f's second instruction
    p.u32("xdp", 8 + 4, 0).save(path)
    row = _check_json(capsys, path)
    assert row["verdict"] == "rejected"
    assert row["error"]["message"] == "last insn is not an exit or jmp"
    from model.elf.loader import load_object
    prog = load_object(path).program("p")
    assert prog.insns[1].target(1) == 4
    from conftest import kernel_or_skip

    kernel_or_skip()
    from soundness import kernel

    assert kernel(prog) == (False, "last insn is not an exit or jmp")
