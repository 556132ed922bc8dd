"""Safety conditions of each instruction, as explicit assertions.

``assertions(prog, pc, insn, prog_type)`` lists what must hold *before* the instruction
runs for it to be safe. The list depends only on the instruction and the platform, never on
an engine's state: the abstract verifier (``model.verifier.checker``) and the Z3 engine
check the same assertions, each in its own way (the separation PREVAIL makes between
assertion extraction and checking).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.isa import (Alu, Atomic, Call, Endian, Exit, Insn, Jump, LegacyLoad, Load,
                       LoadImm64, MayGoto, Store)
from model.program import Program


@dataclass(frozen=True)
class Assertion:
    """Base: ``describe()`` is the one-line text shown when the assertion fails."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Initialized(Assertion):
    """``reg`` holds a value. ``at_exit``: r0 at an ``exit``, required only where the exit
    leaves the program (frame 0: the main program, or a global function verified on its
    own); a called function's exit hands r0 back as it is, set or not (prepare_func_exit:
    the caller's read of it is what fails), and a callback's exit judges it with the
    callback's return rule."""

    reg: int
    at_exit: bool = False

    def describe(self) -> str:
        return f"R{self.reg} is initialised"

    def applies(self, frames: int) -> bool:
        """Whether the assertion holds a state with ``frames`` call frames to it."""
        return not self.at_exit or frames == 1


@dataclass(frozen=True)
class Writable(Assertion):
    reg: int

    def describe(self) -> str:
        return f"R{self.reg} may be written (r10 is read-only)"


@dataclass(frozen=True)
class ValidAccess(Assertion):
    """``[base + off, base + off + size)`` is inside memory the program may access this way.
    ``value_reg`` is the register a store writes (its type matters: pointer leaks)."""

    base: int
    off: int
    size: int
    write: bool
    value_reg: int | None = None
    atomic: bool = False

    def describe(self) -> str:
        kind = "atomic" if self.atomic else "write" if self.write else "read"
        return f"{kind} of {self.size} bytes at R{self.base}{self.off:+d} is in bounds"


@dataclass(frozen=True)
class ScalarOperand(Assertion):
    """An operand that must be a number, not a pointer (e.g. a divisor, a shift amount)."""

    reg: int
    why: str

    def describe(self) -> str:
        return f"R{self.reg} is a scalar ({self.why})"


@dataclass(frozen=True)
class PointerArithmetic(Assertion):
    """``dst op= src`` where dst or src may be a pointer: only add/sub of a scalar to a
    pointer (and pointer - pointer of the same region) are allowed."""

    op: str
    is64: bool
    dst: int
    src: int | None

    def describe(self) -> str:
        return f"{self.op} on R{self.dst} is allowed pointer arithmetic"


@dataclass(frozen=True)
class Comparable(Assertion):
    """Operands of a conditional jump: pointers may be compared only with their own kind
    (packet vs packet end) or against 0 (null checks)."""

    dst: int
    src: int | None
    imm: int

    def describe(self) -> str:
        rhs = f"R{self.src}" if self.src is not None else str(self.imm)
        return f"R{self.dst} may be compared with {rhs}"


@dataclass(frozen=True)
class HelperCall(Assertion):
    """The helper exists, this program type may call it, and r1..r5 match its prototype."""

    helper: int

    def describe(self) -> str:
        return f"call to helper #{self.helper} is allowed with these arguments"


@dataclass(frozen=True)
class ValidReturn(Assertion):
    """r0 at the program's exit is initialised and acceptable for the program type."""

    prog_type: str
    subprog: bool

    def describe(self) -> str:
        return "R0 is a valid return value" + (" of a subprogram" if self.subprog else "")


@dataclass(frozen=True)
class PacketAccessAllowed(Assertion):
    """A legacy LD_ABS/LD_IND packet load: only socket-buffer programs may use it."""

    prog_type: str

    def describe(self) -> str:
        return f"legacy packet loads are allowed in {self.prog_type} programs"


@dataclass(frozen=True)
class ContextInR6(Assertion):
    """LD_ABS/LD_IND read the packet through the skb in r6: the unmoved context pointer."""

    def describe(self) -> str:
        return "R6 holds the unmoved context pointer"


def assertions(prog: Program, pc: int, insn: Insn, prog_type: str | None = None,
               in_subprog: bool = False) -> list[Assertion]:
    """What must hold before ``insn`` at ``pc`` executes."""
    ptype = prog_type or prog.prog_type
    out: list[Assertion] = []
    if isinstance(insn, Alu):
        if insn.op not in ("mov", "movsx"):
            out.append(Initialized(insn.dst))
        if insn.src is not None:
            out.append(Initialized(insn.src))
        out.append(Writable(insn.dst))
        if insn.op in ("add", "sub"):
            out.append(PointerArithmetic(insn.op, insn.is64, insn.dst, insn.src))
        elif insn.op not in ("mov",):
            if insn.op != "movsx":
                out.append(ScalarOperand(insn.dst, f"{insn.op} needs numbers"))
            if insn.src is not None:
                out.append(ScalarOperand(insn.src, f"{insn.op} needs numbers"))
        elif not insn.is64 and insn.src is not None:
            out.append(ScalarOperand(insn.src, "a 32-bit move truncates pointers"))
    elif isinstance(insn, Endian):
        out += [Initialized(insn.dst), Writable(insn.dst),
                ScalarOperand(insn.dst, "byte swaps need numbers")]
    elif isinstance(insn, LoadImm64):
        out.append(Writable(insn.dst))
    elif isinstance(insn, Load):
        out += [Initialized(insn.src), Writable(insn.dst),
                ValidAccess(insn.src, insn.off, insn.size, write=False)]
    elif isinstance(insn, Store):
        out.append(Initialized(insn.dst))
        if insn.src is not None:
            out.append(Initialized(insn.src))
        out.append(ValidAccess(insn.dst, insn.off, insn.size, write=True, value_reg=insn.src))
    elif isinstance(insn, Atomic):
        # (a pointer operand is allowed: "leaks addr into mem" is for unprivileged loaders)
        out += [Initialized(insn.dst), Initialized(insn.src)]
        if insn.op == "cmpxchg":
            out.append(Initialized(0))
        out.append(ValidAccess(insn.dst, insn.off, insn.size, write=True, value_reg=insn.src,
                               atomic=True))
    elif isinstance(insn, Jump):
        if insn.cond != "ja":
            out.append(Initialized(insn.dst))
            if insn.src is not None:
                out.append(Initialized(insn.src))
            out.append(Comparable(insn.dst, insn.src, insn.imm))
    elif isinstance(insn, Call):
        if insn.src == 0:
            out.append(HelperCall(insn.imm))
    elif isinstance(insn, Exit):
        out.append(Initialized(0, at_exit=True))
        out.append(ValidReturn(ptype, in_subprog))
    elif isinstance(insn, LegacyLoad):  # check_ld_abs's order; the offset may be anything
        out += [PacketAccessAllowed(ptype), Initialized(6), ContextInR6()]
        if insn.src is not None:
            out.append(Initialized(insn.src))
    elif isinstance(insn, MayGoto):
        pass
    return out
