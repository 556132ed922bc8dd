"""Large synthetic programs for the verifier-speed benchmark (``bench/verifier_speed.py``):
a long straight line, bounded loops (constant and unknown bound), many sequential
branches joining again, and an infinite loop the kernel rejects by its 1M-insn budget.
All are socket filters without maps, built with ``tests/vergen_base.Asm``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from vergen_base import Alu, Asm, Call, Exit, Load, VerProg  # noqa: E402

PRANDOM = 7


def _prog(a: Asm, name: str) -> tuple[str, VerProg]:
    insns, refs = a.build()
    return name, VerProg("socket_filter", insns, refs, {}, [name])


def straight_line(n: int):
    """``r0 = 0; r1 = 0`` then ``n`` ALU instructions on r0..r3, ``exit``."""
    a = Asm()
    a.put(Alu("mov", True, 0, imm=0), Alu("mov", True, 1, imm=0),
          Alu("mov", True, 2, imm=3), Alu("mov", True, 3, imm=0))
    ops = ("add", "xor", "or", "and")
    for k in range(n):
        a.put(Alu(ops[k % 4], True, k % 4, src=(k + 1) % 4) if k % 3 else
              Alu("add", True, k % 4, imm=k & 0xff))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a, f"straight_{n}")


def const_loop(bound: int):
    """``for (r1 = 0; r1 < bound; r1++) r2 += r1``: the kernel walks every iteration."""
    a = Asm()
    loop = a.label()
    a.put(Alu("mov", True, 1, imm=0), Alu("mov", True, 2, imm=0))
    a.at(loop)
    a.put(Alu("add", True, 2, src=1), Alu("add", True, 1, imm=1))
    a.jmp("jlt", 1, loop, imm=bound)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a, f"const_loop_{bound}")


def unknown_loop(mask: int):
    """``r2 = len & mask; for (r1 = 0; r1 < r2; r1++)``: both edges at every iteration."""
    a = Asm()
    loop, out = a.label(), a.label()
    a.put(Load(4, 2, 1, 0), Alu("and", True, 2, imm=mask), Alu("mov", True, 1, imm=0))
    a.at(loop)
    a.jmp("jge", 1, out, src=2)
    a.put(Alu("add", True, 1, imm=1))
    a.goto(loop)
    a.at(out)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a, f"unknown_loop_{mask}")


def branches(n: int):
    """``n`` diamonds on ctx fields, each writing scratch registers on one side only."""
    a = Asm()
    a.put(Alu("mov", True, 6, src=1))
    for k in range(n):
        join = a.label()
        a.put(Load(4, 2, 6, (0, 8, 48)[k % 3]))
        a.jmp("jgt", 2, join, imm=k % 100)
        a.put(Alu("mov", True, 3, src=2), Alu("mov", True, 4, imm=k))
        a.at(join)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a, f"branches_{n}")


def helper_branches(n: int):
    """``n`` helper calls whose results pick one of two stores to the stack."""
    a = Asm()
    for k in range(n):
        other, join = a.label(), a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, other, imm=1000)
        a.put(Alu("mov", True, 3, imm=1))
        a.goto(join)
        a.at(other)
        a.put(Alu("mov", True, 3, imm=2))
        a.at(join)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a, f"helper_branches_{n}")


def infinite_loop():
    """``r1 = 0; L: r1 += 1; goto L``: the kernel rejects it when 1M insns are processed."""
    a = Asm()
    loop = a.label()
    a.put(Alu("mov", True, 1, imm=0))
    a.at(loop)
    a.put(Alu("add", True, 1, imm=1))
    a.goto(loop)
    return _prog(a, "infinite_loop")


def synthetic(quick: bool = False):
    yield straight_line(2_000)
    yield straight_line(20_000)
    if not quick:
        yield straight_line(200_000)
    yield const_loop(100)
    yield const_loop(1_000)
    if not quick:
        yield const_loop(20_000)
    yield unknown_loop(0xff)
    yield branches(200)
    if not quick:
        yield branches(2_000)
    yield helper_branches(100)
    if not quick:
        yield helper_branches(1_000)
        yield infinite_loop()
