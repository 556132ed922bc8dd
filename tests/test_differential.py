"""Differential testing: generated programs (tests/progen.py) in the real kernel (verifier,
JIT, BPF_PROG_TEST_RUN) against our interpreter, and the Z3 back end of the semantics
against the int back end.

A mismatch fails with the program in llvm-objdump syntax (``model.isa.assemble`` reads it
back), shrunk by hypothesis. The kernel test is skipped, with the reason, where bpf(2)
cannot be used (``model.kernel.available()``).
"""

from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, given, settings

from model.isa import Alu, Endian, Exit, LoadImm64, assemble
from model.kernel import available
from model.semantics import INT, Z3Backend, alu, condition, endian, imm64
from progen import CONDS, generate, programs, random_programs, run_both

_OK, _WHY = available()
KERNEL_EXAMPLES = 2000
# Rejections that are limits of the verifier, not generator bugs (counted, must stay < 1%).
LEGIT_LIMITS = ("too complex", "program is too large", "combined stack size",
                "jumps is too complex")
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


@pytest.mark.kernel
@pytest.mark.skipif(not _OK, reason=_WHY)
def test_kernel_agrees_with_interpreter():
    stats: collections.Counter = collections.Counter()

    @settings(max_examples=KERNEL_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=_QUIET)
    @given(programs(max_steps=16))
    def check(prog):
        out = run_both(prog)
        stats[out.kind] += 1
        if out.kind == "rejected":
            assert any(s in out.detail for s in LEGIT_LIMITS), \
                "generator bug: the kernel refuses a generated program\n" + out.report(prog)
        assert out.kind != "mismatch", out.report(prog)

    check()
    total = sum(stats.values())
    assert total >= KERNEL_EXAMPLES * 0.95, stats
    assert stats["rejected"] < 0.01 * total, stats


@pytest.mark.kernel
@pytest.mark.skipif(not _OK, reason=_WHY)
def test_kernel_agrees_on_seeded_programs():
    """Bigger programs than hypothesis draws (no shrinking): 500 from a fixed seed."""
    bad = []
    for prog in random_programs(1, 500):
        out = run_both(prog)
        if out.kind != "ok" and not any(s in out.detail for s in LEGIT_LIMITS):
            bad.append(out.report(prog))
    assert not bad, f"{len(bad)} of 500 disagree; the first:\n{bad[0]}"


def test_generated_programs_round_trip_through_the_assembler():
    """What a failure prints can be pasted into a test: assemble() reads it back."""
    for prog in random_programs(2, 50):
        assert assemble(prog.text()) == prog.insns


# --- Z3 back end vs int back end --------------------------------------------------------
def evaluate(B, insns, regs: dict):
    """Straight-line ALU / endian / ld_imm64 code over back end ``B``; the registers."""
    regs = dict(regs)
    for insn in insns:
        if isinstance(insn, Alu):
            src = imm64(B, insn.imm) if insn.src is None else regs[insn.src]
            dst = B.const(0, 64) if insn.op in ("mov", "movsx") else regs[insn.dst]
            regs[insn.dst] = alu(B, insn, dst, src)
        elif isinstance(insn, Endian):
            regs[insn.dst] = endian(B, insn, regs[insn.dst])
        elif isinstance(insn, LoadImm64):
            regs[insn.dst] = B.const(insn.value, 64)
        elif isinstance(insn, Exit):
            break
        else:
            raise AssertionError(f"not straight-line: {insn}")
    return regs


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=_QUIET)
@given(programs(max_steps=12, branches=False, stack=False))
def test_z3_backend_agrees_with_int_backend(prog):
    z3 = pytest.importorskip("z3")
    Z = Z3Backend()
    body = prog.insns[prog.prologue:]
    want = evaluate(INT, body, prog.inputs)
    syms = {r: z3.BitVec(f"in{r}", 64) for r in prog.inputs}  # the inputs stay symbolic
    got = evaluate(Z, body, syms)
    subst = [(syms[r], z3.BitVecVal(v, 64)) for r, v in prog.inputs.items()]

    def concrete(e):
        return z3.simplify(z3.substitute(e, *subst))

    for r, v in want.items():
        c = concrete(got[r])
        assert z3.is_bv_value(c) and c.as_long() == v, \
            f"r{r}: int {v:#x}, z3 {c}; inputs {prog.inputs}\n{prog.text()}"
    other = max(want)  # conditions between r0 and another register, both back ends
    for cond in CONDS:
        for is32 in (False, True):
            a = condition(INT, cond, is32, want[0], want[other])
            b = concrete(condition(Z, cond, is32, got[0], got[other]))
            assert z3.is_true(b) == a and z3.is_false(b) != a, \
                f"{cond}{'32' if is32 else ''} r0, r{other}\n{prog.text()}"


def test_straight_line_generator_is_straight():
    from random import Random

    from progen import RandomDraw

    d = RandomDraw(Random(3))
    for _ in range(100):
        prog = generate(d, branches=False, stack=False)
        evaluate(INT, prog.insns[prog.prologue:], prog.inputs)


@pytest.mark.parametrize("section,prog_type", [("socket", "socket_filter"), ("tc", "sched_cls")])
def test_skb_context_fields_and_legacy_loads_match_kernel(section, prog_type):
    """Context fields a test run fills (len, protocol, ifindex) and LD_ABS offsets: a socket
    filter sees the packet after its Ethernet header, tc the whole frame."""
    from model.interp import Machine
    from model.isa import assemble, encode
    from model.isa.insn import Alu, Exit, LegacyLoad
    from model.kernel import available, run
    from model.program import Program

    ok, why = available()
    if not ok:
        pytest.skip(why)
    frames = [bytes(14), b"\xaa" + bytes(13) + b"\xbb" + bytes(49),
              bytes(12) + b"\x08\x00" + bytes(50), bytes(12) + b"\x00\x10\xff\xff" + bytes(20)]
    programs = [assemble(f"w0 = *(u32 *)(r1 + {off:#x})\nexit") for off in (0, 16, 36, 40)]
    programs.append([Alu("mov", True, 6, 1), LegacyLoad(1, "abs", None, 0), Exit()])
    programs.append([Alu("mov", True, 6, 1), LegacyLoad(2, "abs", None, 12), Exit()])
    for insns in programs:
        for frame in frames:
            kernel = run(encode(insns), prog_type, frame).retval
            ours = Machine(Program("t", section, insns)).run(None, frame)
            assert ours.ok and ours.r0 & 0xFFFFFFFF == kernel, (insns, frame.hex(), kernel, ours)
