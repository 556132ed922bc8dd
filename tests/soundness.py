"""Judging small assembled programs three ways: the running kernel's verifier, skv's abstract
verifier and the Z3 engine's M2 verdict (used by the tests/test_soundness_*.py files).

A program is llvm-objdump-style text (``model.isa.assemble``) plus a section name (which
gives the program type) and optional static sites ``(pc, target)`` on ``goto +0`` / ``goto``
instructions (key ``k``). The kernel cannot load a static site, so a program with sites is
judged by the kernel as its worst key assignment: every assignment materialised
(``model.materialize``) and loaded; the first rejection is the verdict (M2 is at least as
strict as every M0 state).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.isa import assemble, encode
from model.program import BpfObject, Program, Site


@dataclass
class Judged:
    kernel_ok: bool
    kernel_msg: str       # the kernel's last log line before the statistics
    ours_ok: bool
    ours_msg: str | None
    ours_insn: int | None


def build(text: str, section: str = "xdp", sites=()) -> tuple[BpfObject, Program]:
    insns = assemble(text)
    prog = Program("t", section, insns,
                   sites=[Site(i, "t", pc, t, "k", False, "2023")
                          for i, (pc, t) in enumerate(sites)])
    return BpfObject("inline", "GPL", {}, [prog]), prog


def last_error(log: str) -> str:
    """The kernel log's last line that is not statistics."""
    skip = ("processed ", "verification time", "stack depth", "mark_precise", "(0) live stack")
    lines = [x for x in log.strip().splitlines() if x and not x.startswith(skip)]
    return lines[-1] if lines else ""


def kernel(prog: Program, prog_flags: int = 0) -> tuple[bool, str]:
    from model.kernel import verify
    from model.keystate import all_assignments
    from model.materialize import materialize

    variants = [materialize(prog, keys=k) for k in all_assignments(prog.keys())] \
        if prog.sites else [prog]
    for p in variants:
        r = verify(encode(p.insns), prog.prog_type, prog_flags=prog_flags)
        if not r.ok:
            return False, last_error(r.log)
    return True, ""


def ours(obj: BpfObject, prog: Program, prog_flags: int = 0):
    from model.verifier.checker import check_program

    return check_program(obj, prog, prog_flags=prog_flags)


def m2_safe(obj: BpfObject, prog: Program) -> bool:
    from model.symbolic import analyse_program

    return analyse_program(obj, prog)["models"]["M2"]["safe"]


def judge(text: str, section: str = "xdp", sites=(), prog_flags: int = 0) -> Judged:
    obj, prog = build(text, section, sites)
    k_ok, k_msg = kernel(prog, prog_flags)
    v = ours(obj, prog, prog_flags)
    err = v.error
    return Judged(k_ok, k_msg, v.accepted, err.message if err else None,
                  err.insn if err else None)

