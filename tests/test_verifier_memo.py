"""The verifier's per-process memos give what a fresh computation gives: the per-pc
assertions and exploration records (``explore.Assertions``, ``Steps``), shared across
programs by (program type, instruction), and the kernel's BTF parsed with an object
whose program attaches to a BTF target, not inside its check."""

from __future__ import annotations

from pathlib import Path

from model.elf.loader import load_object
from model.isa import Exit
from model.program import Program
from model.verifier import explore as E
from model.verifier.assertions import ValidReturn, assertions
from model.verifier.history import jump_points
from model.verifier.step import Stepper

DATAPATH = Path(__file__).resolve().parent.parent / "bpfprogs" / "datapath" / "datapath.o"


def test_memoised_records_equal_fresh_ones_in_every_program():
    obj = load_object(str(DATAPATH))
    checked = 0
    for prog in obj.programs:
        asserts = E.Assertions(prog)
        steps = E.Steps(prog.by_pc(), asserts, jump_points(prog, set()))
        for pc, insn in prog.by_pc().items():
            fresh = tuple(a for a in assertions(prog, pc, insn, prog.prog_type)
                          if Stepper.decides(a))
            assert asserts[pc] == fresh, (prog.name, pc, insn)
            rec = steps[pc]
            assert rec[0] == insn and rec[5] in (None, Stepper.plan(insn, fresh)), \
                (prog.name, pc, insn)
            assert rec[6] == (pc in steps.jmp_points)  # the pc's own, not the memo's
            checked += 1
    assert checked > 500 and len(obj.programs) > 1


def test_an_instruction_is_remembered_per_program_type():
    """The same ``exit`` in programs of two types: each gets its own type's return rule."""
    got = {}
    for section in ("xdp", "tc"):
        prog = Program("t", section, [Exit()])
        got[section] = E.Steps(prog.by_pc(), E.Assertions(prog), frozenset())[0][5]
    rules = {s: [a for _, _, a in plan if isinstance(a, ValidReturn)]
             for s, plan in got.items()}
    assert [a.prog_type for a in rules["xdp"]] == ["xdp"]
    assert [a.prog_type for a in rules["tc"]] == [Program("t", "tc", [Exit()]).prog_type]
    assert rules["xdp"] != rules["tc"]
