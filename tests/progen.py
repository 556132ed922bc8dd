"""Generated BPF programs: well-formed, terminating, accepted by the kernel verifier, and
with an r0 that depends on everything they compute.

A program is a tree of steps flattened to instructions:

* a prologue ``r0 = C`` (+ up to 3 more registers) with C drawn from interesting values;
  a third of them are made *opaque*: ``rX = *(u32 *)(r1 + F)`` of a ctx field that is 0
  at run time, then ``rX ^= C`` -- the same value, but unknown to the verifier, which must
  then track ranges and explore both edges of branches on it;
* steps: ALU/ALU64 (every op, imm and reg sources), ``mov`` of a constant (``ld_imm64``
  when it needs 64 bits), ``le``/``be``/``bswap``, stack stores (ST imm / STX, 1/2/4/8
  bytes, aligned, in the 32 bytes under r10), loads (LDX and sign-extending LDXS) of
  aligned chunks whose every byte was written, ``if`` (JMP/JMP32, imm or reg, forward to
  the end of its body) and ``if``/``else`` (the then-part ends with ``goto`` over the
  else-part), and divisions at their edges (``MIN s/ -1``, ``x / 0``, ``x % 0``, by a
  register);
* an epilogue folding every register and every written stack chunk into r0
  (``r0 *= K; r0 ^= rX``), then ``r1 = r0; r1 >>= 32; r0 ^= r1; exit``: test_run's 32-bit
  retval sees all 64 bits.

Registers and stack bytes count as initialised after a branch only when they were
initialised on every path into it; r10 is never written, and r1 is read as the ctx
only by the prologue's loads. What the verifier refuses is never generated: a zero ``imm`` divisor (``div by
zero``), an ``imm`` shift of at least the width (``invalid shift``), a misaligned stack
access. Register divisors may be zero at run time (``x / 0 = 0``, ``x % 0 = x``).

Choices come from a :class:`Draw`: :func:`programs` is the hypothesis strategy (shrinking
toward fewer, simpler steps: every list is ordered simplest first), :class:`RandomDraw` a
seeded ``random.Random`` for benchmarks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from hypothesis import strategies as st

from model.isa import Alu, Endian, Exit, Insn, Jump, Load, LoadImm64, Store, format_llvm, iter_pcs

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: Interesting register values (64-bit, signed); a draw past the end is a random value.
VALUES = [0, 1, -1, 2, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX, 0xFFFFFFFF, 0x80000000,
          0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, -2, 0x100000000, -0x80000001, 31, 32, 63]
#: Interesting immediates (signed 32-bit).
IMMS = [0, 1, -1, 2, INT32_MIN, INT32_MAX, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, -2,
        31, 32, 63, 64, -0x80, -0x8000]
ALU_OPS = ["add", "mov", "sub", "and", "or", "xor", "mul", "neg", "lsh", "rsh", "arsh",
           "div", "mod", "sdiv", "smod", "movsx"]
CONDS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"]
STEPS = ["alu", "const", "endian", "store", "load", "if", "ifelse", "edge"]
#: __sk_buff fields BPF_PROG_TEST_RUN leaves 0 for a socket filter on a zero packet (mark,
#: queue_mapping, priority; measured), which the interpreter's context also has as 0.
ZERO_CTX_FIELDS = (8, 12, 32)
STACK = 32          # bytes of stack used, at r10-32 .. r10-1
FOLD_MUL = 0x01000193  # odd: r0 *= K is a bijection, so no earlier value is lost
REGS = 10           # r0..r9 (r10 is read-only)


class Draw:
    """Where choices come from; ``int(lo, hi)`` is inclusive and shrinks toward ``lo``."""

    def int(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def more(self) -> bool:
        """Another list element? (Hypothesis shrinks the answer to "no", cutting lists.)"""
        return self.int(0, 9) != 0

    def bool(self) -> bool:
        return bool(self.int(0, 1))

    def value(self, table=VALUES, bits: int = 64) -> int:
        """An interesting value (or, one time in len(table)+1, any ``bits``-bit value)."""
        i = self.int(0, len(table))
        if i < len(table):
            return _signed(table[i], bits)
        return self.int(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


class RandomDraw(Draw):
    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def more(self) -> bool:
        return self.rng.random() < 0.92


class HypothesisDraw(Draw):
    def __init__(self, draw):
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        return self.draw(_integers(lo, hi))


@lru_cache(maxsize=None)
def _integers(lo: int, hi: int):
    return st.integers(lo, hi)  # built once: building a strategy costs more than drawing


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@dataclass
class GenProgram:
    insns: list[Insn]
    prologue: int = 0                      # how many leading insns set the initial constants
    inputs: dict[int, int] = field(default_factory=dict)  # reg -> value set by the prologue

    def llvm(self) -> list[str]:
        return [format_llvm(i, pc) for pc, i in iter_pcs(self.insns)]

    def text(self) -> str:
        return "\n".join(self.llvm())


@dataclass
class _State:
    regs: set[int]
    stack: set[int]  # initialised byte offsets (negative, relative to r10)

    def copy(self) -> _State:
        return _State(set(self.regs), set(self.stack))


def _slots(insns: list[Insn]) -> int:
    return sum(i.slots for i in insns)


class Generator:
    def __init__(self, d: Draw, *, max_steps: int = 24, branches: bool = True,
                 stack: bool = True, max_depth: int = 2):
        self.d, self.max_steps, self.max_depth = d, max_steps, max_depth
        self.kinds = [k for k in STEPS if (branches or k not in ("if", "ifelse"))
                      and (stack or k not in ("store", "load"))]

    # -- whole program -----------------------------------------------------------------
    def program(self) -> GenProgram:
        d = self.d
        s = _State(set(), set())
        insns: list[Insn] = []
        regs = [0] + sorted({d.int(1, REGS - 1) for _ in range(d.int(0, 3))})
        values = {r: d.value() for r in regs}
        # Opaque registers: a ctx field that is 0 at run time (kernel and interpreter
        # agree) xor the constant: the same value, but unknown to the verifier, which must
        # then explore both edges of branches on it and bound it by ranges.
        opaque = [r for r in regs if r != 1 and d.int(0, 2) == 2]
        for r in opaque:
            insns.append(Load(4, r, 1, d.pick(ZERO_CTX_FIELDS)))
        for r in opaque:  # r1 (the ctx) is free once the ctx loads are done
            insns += [self._mov_const(1, values[r], is64=True), Alu("xor", True, r, src=1)]
        for r in regs:
            if r not in opaque:
                insns.append(self._mov_const(r, values[r], is64=True))
        inputs = {r: v & (2**64 - 1) for r, v in values.items()}
        s.regs.update(regs)
        prologue = len(insns)
        insns += self.block(s, 0, self.max_steps, 0)
        insns += self.epilogue(s)
        return GenProgram(insns, prologue, inputs)

    def epilogue(self, s: _State) -> list[Insn]:
        out: list[Insn] = []
        for r in sorted(s.regs - {0}):
            out += [Alu("mul", True, 0, imm=FOLD_MUL), Alu("xor", True, 0, src=r)]
        for off, size in _chunks(s.stack):
            out += [Load(size, 1, 10, off), Alu("mul", True, 0, imm=FOLD_MUL),
                    Alu("xor", True, 0, src=1)]
        return out + [Alu("mov", True, 1, src=0), Alu("rsh", True, 1, imm=32),
                      Alu("xor", True, 0, src=1), Exit()]

    def block(self, s: _State, lo: int, hi: int, depth: int) -> list[Insn]:
        """``lo`` to ``hi`` steps (as long as ``Draw.more`` says so)."""
        out: list[Insn] = []
        for i in range(hi):
            if i >= lo and not self.d.more():
                break
            out += self.step(s, depth)
        return out

    # -- steps -----------------------------------------------------------------------------
    def step(self, s: _State, depth: int) -> list[Insn]:
        kind = self.d.pick(self.kinds)
        if kind in ("if", "ifelse") and depth >= self.max_depth:
            kind = "alu"
        if kind == "load" and not _loadable(s.stack):
            kind = "store"
        return getattr(self, "_" + kind)(s, depth)

    def _reg(self, s: _State) -> int:
        return self.d.pick(sorted(s.regs))

    @staticmethod
    def _mov_const(r: int, v: int, is64: bool) -> Insn:
        if INT32_MIN <= _signed(v, 64) <= INT32_MAX:
            return Alu("mov", is64, r, imm=_signed(v, 64))
        return LoadImm64.from_value(r, v)

    def _const(self, s: _State, depth: int) -> list[Insn]:
        r = self.d.int(0, REGS - 1)
        insn = self._mov_const(r, self.d.value(), self.d.bool())
        s.regs.add(r)
        return [insn]

    def _alu(self, s: _State, depth: int) -> list[Insn]:
        d = self.d
        op, is64 = d.pick(ALU_OPS), d.bool()
        w = 64 if is64 else 32
        dst = d.int(0, REGS - 1) if op in ("mov", "movsx") else self._reg(s)
        if op == "neg":
            insn = Alu("neg", is64, dst)
        elif op == "movsx":
            insn = Alu("movsx", is64, dst, src=self._reg(s), off=d.pick((8, 16, 32) if is64
                                                                        else (8, 16)))
        elif d.bool():  # register source
            insn = Alu(op, is64, dst, src=self._reg(s), off=1 if op in ("sdiv", "smod") else 0)
        else:
            if op in ("lsh", "rsh", "arsh"):
                imm = d.int(0, w - 1)
            else:
                imm = d.value(IMMS, 32)
                if op in ("div", "mod", "sdiv", "smod") and imm == 0:
                    imm = d.pick((1, -1, 3))  # the verifier refuses a constant zero divisor
            insn = Alu(op, is64, dst, imm=imm, off=1 if op in ("sdiv", "smod") else 0)
        s.regs.add(dst)
        return [insn]

    def _edge(self, s: _State, depth: int) -> list[Insn]:
        """A division at its edges: MIN / -1 (x86 idiv would trap), x / 0, x % 0."""
        d = self.d
        op, is64 = d.pick(("sdiv", "smod", "div", "mod")), d.bool()
        w = 64 if is64 else 32
        dst = d.int(0, REGS - 1)
        src = d.pick([r for r in range(REGS) if r != dst])
        a = d.pick((-(1 << (w - 1)), -1, (1 << (w - 1)) - 1, 0))
        b = d.pick((-1, 0, 1, -2))
        s.regs.update((dst, src))
        return [self._mov_const(dst, a, True), self._mov_const(src, b, True),
                Alu(op, is64, dst, src=src, off=1 if op in ("sdiv", "smod") else 0)]

    def _endian(self, s: _State, depth: int) -> list[Insn]:
        return [Endian(self.d.pick(("le", "be", "bswap")), self.d.pick((16, 32, 64)),
                       self._reg(s))]

    def _store(self, s: _State, depth: int) -> list[Insn]:
        d = self.d
        size = d.pick((8, 4, 2, 1))
        off = -STACK + size * d.int(0, STACK // size - 1)
        if d.bool():
            insn = Store(size, 10, off, imm=d.value(IMMS, 32))
        else:
            insn = Store(size, 10, off, src=self._reg(s))
        s.stack.update(range(off, off + size))
        return [insn]

    def _load(self, s: _State, depth: int) -> list[Insn]:
        d = self.d
        off, size = d.pick(_loadable(s.stack))
        signed = size < 8 and d.bool()
        dst = d.int(0, REGS - 1)
        s.regs.add(dst)
        return [Load(size, dst, 10, off, signed)]

    def _cond(self, s: _State, delta: int) -> Jump:
        d = self.d
        cond, is32, dst = d.pick(CONDS), d.bool(), self._reg(s)
        if d.bool():
            return Jump(cond, is32, dst=dst, src=self._reg(s), off=delta)
        return Jump(cond, is32, dst=dst, imm=d.value(IMMS, 32), off=delta)

    def _if(self, s: _State, depth: int) -> list[Insn]:
        head = self._cond(s, 0)
        body = self.block(s.copy(), 1, 6, depth + 1)
        return [head.with_delta(_slots(body))] + body

    def _ifelse(self, s: _State, depth: int) -> list[Insn]:
        head = self._cond(s, 0)
        s1, s2 = s.copy(), s.copy()
        then = self.block(s1, 1, 5, depth + 1)
        other = self.block(s2, 1, 5, depth + 1)
        then.append(Jump("ja", False).with_delta(_slots(other)))
        s.regs |= s1.regs & s2.regs
        s.stack |= s1.stack & s2.stack
        return [head.with_delta(_slots(then))] + then + other


def _loadable(stack: set[int]) -> list[tuple[int, int]]:
    """Aligned (offset, size) chunks whose every byte is initialised."""
    return [(off, size) for size in (8, 4, 2, 1) for off in range(-STACK, 0, size)
            if all(b in stack for b in range(off, off + size))]


def _chunks(stack: set[int]) -> list[tuple[int, int]]:
    """A cover of the initialised bytes by disjoint aligned chunks, largest first."""
    out, done = [], set()
    for off, size in _loadable(stack):
        if not done & set(range(off, off + size)):
            out.append((off, size))
            done.update(range(off, off + size))
    return out


def generate(d: Draw, **kw) -> GenProgram:
    return Generator(d, **kw).program()


@st.composite
def programs(draw, **kw) -> GenProgram:
    """Hypothesis strategy of :class:`GenProgram` (``max_steps``, ``branches``, ``stack``,
    ``max_depth`` as for :class:`Generator`)."""
    return generate(HypothesisDraw(draw), **kw)


def random_programs(seed: int, n: int, **kw):
    """``n`` programs from a seeded ``random.Random`` (fast, no shrinking)."""
    d = RandomDraw(random.Random(seed))
    for _ in range(n):
        yield generate(d, **kw)


__all__ = ["Draw", "GenProgram", "Generator", "HypothesisDraw", "RandomDraw", "generate",
           "programs", "random_programs", "VALUES", "IMMS"]


# --- running one program in the kernel and in the interpreter ----------------------------
PACKET = bytes(14)  # BPF_PROG_TEST_RUN refuses a frame shorter than an Ethernet header


@dataclass
class Outcome:
    kind: str  # "ok" | "rejected" | "mismatch"
    kernel: int | None = None  # test_run's retval
    ours: int | None = None    # our interpreter's r0, low 32 bits (the program folded it)
    detail: str = ""

    def report(self, prog: GenProgram) -> str:
        return (f"{self.kind}: kernel retval {_hex(self.kernel)}, interpreter r0 "
                f"{_hex(self.ours)}{' (' + self.detail + ')' if self.detail else ''}\n"
                + prog.text())


def _hex(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def interpret(prog: GenProgram):
    """Our interpreter on the program as a socket filter: its RunResult."""
    from model.interp.machine import Machine
    from model.program import Program

    return Machine(Program("gen", "socket", prog.insns)).run(packet=PACKET)


def run_both(prog: GenProgram) -> Outcome:
    """Load ``prog`` as a socket filter, test-run it, and compare with the interpreter."""
    from model.isa import encode
    from model.kernel import VerifierRejected, run

    try:
        retval = run(encode(prog.insns), "socket_filter", PACKET).retval
    except VerifierRejected as e:
        return Outcome("rejected", detail=str(e))
    res = interpret(prog)
    if res.status != "exit":
        return Outcome("mismatch", retval, None, f"interpreter {res.status}: {res.fault}")
    ours = res.r0 & 0xFFFFFFFF
    return Outcome("ok" if ours == retval else "mismatch", retval, ours)
