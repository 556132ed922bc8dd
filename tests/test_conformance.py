"""``skv conformance``: the bpf_conformance corpus on our interpreter, the uBPF assembler,
and ``callx`` through the ISA layer."""

from __future__ import annotations

import io
import struct
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CORPORA
from model.cli import main
from model.conformance import check, parse_data, program_of, run_all, run_insns
from model.conformance_asm import assemble_ubpf
from model.errors import AsmError, SkvError
from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, Load, LoadImm64, Store,
                       assemble, decode, encode, format_kernel, format_llvm)

TESTS = CORPORA / "bpf_conformance" / "tests"
needs_corpus = pytest.mark.skipif(not TESTS.is_dir(),
                                  reason=f"bpf_conformance corpus absent: {TESTS}")


@needs_corpus
def test_whole_corpus_passes(capsys):
    files = sorted(TESTS.glob("*.data"))
    assert len(files) == 225
    assert main(["conformance", str(TESTS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "225 passed, 0 failed"
    assert out[:-1] == [f"PASS {f.name}" for f in files]


@needs_corpus
def test_wrong_expectation_is_a_failure(tmp_path, capsys):
    text = (TESTS / "add.data").read_text()
    assert "-- result\n0x3" in text
    bad = tmp_path / "add_wrong.data"
    bad.write_text(text.replace("-- result\n0x3", "-- result\n0x4"))
    shutil.copy(TESTS / "add.data", tmp_path / "add.data")
    assert main(["conformance", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["PASS add.data", "FAIL add_wrong.data: expected 0x4, got 0x3",
                   "1 passed, 1 failed"]


@needs_corpus
def test_quiet_prints_only_failures(tmp_path, capsys):
    (tmp_path / "x.data").write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x1\n")
    (tmp_path / "y.data").write_text("-- asm\nbogus %r0\nexit\n-- result\n0x1\n")
    assert main(["conformance", "-q", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "ERROR y.data: line 2: unknown mnemonic 'bogus'", "1 passed, 1 failed"]


def _run(src: str, mem: bytes = b""):
    return run_insns(assemble_ubpf(src), mem)


def test_error_outcomes():
    out = io.StringIO()
    # a fault and an exhausted budget are errors, not failures of the value
    df = parse_data("-- asm\nldxw %r0, [%r1+100]\nexit\n-- mem\n00 01\n-- result\n0x0\n", "f")
    o = check(df)
    assert o.status == "ERROR" and "insn 0" in o.detail and "read of 4 bytes" in o.detail
    df = parse_data("-- asm\nL: ja L\nexit\n-- result\n0x0\n", "loop")
    o = check(df, budget=1000)
    assert (o.status, o.detail) == ("ERROR", "instruction budget of 1000 exhausted")
    with pytest.raises(SkvError, match="unknown section"):
        parse_data("-- bogus\n", "b")
    with pytest.raises(SkvError, match="no program"):
        parse_data("-- result\n0x1\n", "b")
    with pytest.raises(SkvError, match="no such file"):
        run_all(["/nonexistent/x.data"], out)


def test_error_section_expects_rejection():
    assert check(parse_data("-- asm\nmov32 %r0, 0x100000000\nexit\n-- error\nx\n")).status == "PASS"
    assert check(parse_data("-- asm\nmov %r0, 1\nexit\n-- error\nx\n")).status == "FAIL"


def test_raw_and_asm_must_agree():
    ok = "-- asm\nlddw %r0, 0x1122334455667788\nexit\n-- raw\n0x5566778800000018\n" \
         "0x1122334400000000\n0x0000000000000095\n-- result\n0x1122334455667788\n"
    assert check(parse_data(ok)).status == "PASS"
    bad = ok.replace("0x0000000000000095", "0x00000000000000b7\n0x95")
    assert check(parse_data(bad)).detail == "asm and raw differ at slot 2"
    byte_form = "-- raw\nb7 00 00 00 07 00 00 00\n95 00 00 00 00 00 00 00\n-- result\n7\n"
    assert check(parse_data(byte_form)).status == "PASS"


def test_mem_sets_r1_and_r2():
    r = _run("ldxh %r0, [%r1+1]\nadd %r0, %r2\nexit", bytes([1, 2, 3, 4]))
    assert r.ok and r.r0 == 0x0302 + 4
    r = _run("stdw [%r1], 0x1\nexit", b"")  # no memory: r1 = 0
    assert r.status == "fault"


# --- the uBPF assembler ---------------------------------------------------------------------

@pytest.mark.parametrize("src, want", [
    ("mov32 %r0, 0", Alu("mov", False, 0, None, 0)),
    ("add64 %r1, %r2", Alu("add", True, 1, 2)),
    ("mov %r0, 0xffffffff", Alu("mov", True, 0, None, -1)),
    ("sdiv32 %r1, -3", Alu("sdiv", False, 1, None, -3, 1)),
    ("smod %r1, %r2", Alu("smod", True, 1, 2, 0, 1)),
    ("neg32 %r4", Alu("neg", False, 4)),
    ("movsx1632 %r0, %r1", Alu("movsx", False, 0, 1, 0, 16)),
    ("movsx3264 %r0, %r1", Alu("movsx", True, 0, 1, 0, 32)),
    ("be16 %r3", Endian("be", 16, 3)),
    ("le64 %r3", Endian("le", 64, 3)),
    ("swap32 %r0", Endian("bswap", 32, 0)),
    ("bswap64 %r0", Endian("bswap", 64, 0)),
    ("lddw %r0, 0x8000000000000000", LoadImm64.from_value(0, 1 << 63)),
    ("ldxw %r0, [%r1+4]", Load(4, 0, 1, 4)),
    ("ldxhsx %r0, [%r10-2]", Load(2, 0, 10, -2, True)),
    ("ldxdw %r0, [%r1]", Load(8, 0, 1, 0)),
    ("stxdw [%r10-8], %r0", Store(8, 10, -8, 0)),
    ("sth [%r0], 0x1234", Store(2, 0, 0, None, 0x1234)),
    ("lock add32 [%r10-8], %r1", Atomic(4, "add", False, 10, 1, -8)),
    ("lock fetch xor [%r10-8], %r1", Atomic(8, "xor", True, 10, 1, -8)),
    ("lock xchg [%r10-8], %r1", Atomic(8, "xchg", True, 10, 1, -8)),
    ("lock cmpxchg32 [%r10-8], %r1", Atomic(4, "cmpxchg", True, 10, 1, -8)),
    ("jeq %r1, 0x2, +3", Jump("jeq", False, 1, None, 2, 3)),
    ("jsle32 %r1, %r2, -1", Jump("jsle", True, 1, 2, 0, -1)),
    ("ja +2", Jump("ja", False, off=2)),
    ("ja32 -1", Jump("ja", True, imm=-1)),
    ("call 5", Call(0, 5)),
    ("call helper 6", Call(0, 6)),
    ("call %r2", CallX(2)),
    ("callx %r9", CallX(9)),
    ("exit", Exit()),
])
def test_ubpf_syntax(src, want):
    assert assemble_ubpf(src) == [want]


def test_labels_and_implicit_exit():
    insns = assemble_ubpf("jne %r0, 0, exit\nlddw %r1, 1\nL1: ja L1\nexit\ncall local f\n"
                          "f:\nexit")
    assert insns[0] == Jump("jne", False, 0, None, 0, 3)  # first exit: pc 4 (lddw is 2)
    assert insns[2] == Jump("ja", False, off=-1)
    assert insns[4] == Call(1, 0)


@pytest.mark.parametrize("src, msg", [
    ("mov32 %r0, 2147483648", "line 1: immediate 2147483648 out of range"),
    ("mov32 %r0, 0x100000000", "immediate 0x100000000 out of range"),
    ("ldxb %r0, [%r1+0x10000]", "offset 0x10000 out of range"),
    ("ldxb %r0, %r1", "bad memory operand"),
    ("mov %r11, 1", "invalid register"),
    ("lddw %r0", "lddw takes 2 operands, not 1"),
    ("lock or [%r10-8]", "bad atomic operation"),
    ("ldxq %r0, [%r1]", "unknown mnemonic 'ldxq'"),
    ("ja nowhere", "undefined label 'nowhere'"),
    ("a:\na:\nexit", "line 2: label 'a' defined twice"),
    ("movsx3232 %r0, %r1", "movsx off must be one of"),
    ("", "no instructions"),
])
def test_ubpf_errors(src, msg):
    with pytest.raises(AsmError, match=msg.replace("[", r"\[").replace("+", r"\+")):
        assemble_ubpf(src)


# --- callx through the ISA layer and the interpreter ------------------------------------------

def test_callx_isa():
    raw = bytes.fromhex("8d02000000000000")
    insn = decode(raw)[0]
    assert insn == CallX(2) and insn.opcode == 0x8d and encode([insn]) == raw
    assert format_llvm(insn) == "callx r2"  # llvm-objdump-19 prints exactly this
    assert format_kernel(insn, 0) == "(8d) callx r2"
    assert assemble("callx r2\nexit") == [CallX(2), Exit()]
    for bad in ("8d12000000000000", "8d02010000000000", "8d02000001000000", "8f02000000000000"):
        with pytest.raises(SkvError):
            decode(bytes.fromhex(bad))
    with pytest.raises(SkvError):
        CallX(11)


@pytest.mark.skipif(shutil.which("llvm-mc-19") is None, reason="llvm-mc-19 not installed")
def test_callx_encoding_is_llvms(tmp_path):
    from elftools.elf.elffile import ELFFile

    (tmp_path / "x.s").write_text("callx r2\ncallx r9\nexit\n")
    subprocess.run(["llvm-mc-19", "-triple=bpfel", "-filetype=obj", str(tmp_path / "x.s"),
                    "-o", str(tmp_path / "x.o")], check=True)
    with open(tmp_path / "x.o", "rb") as f:
        text = ELFFile(f).get_section_by_name(".text").data()
    assert decode(text) == [CallX(2), CallX(9), Exit()]
    assert encode(assemble("callx r2\ncallx r9\nexit")) == text


def test_callx_runs_the_helper_in_the_register():
    assert _run("mov %r1, 7\nmov %r2, 5\ncall %r2\nexit").r0 == 7  # helper 5 returns r1
    r = _run("mov %r1, 0\nmov %r2, 5\ncall %r2\nmov %r0, 9\nexit")  # r1 = 0: unwinds
    assert r.ok and r.r0 == 0
    r = _run("mov %r2, 99\ncall %r2\nexit")
    assert r.status == "fault" and "#99 is not modelled" in r.fault.reason


def test_program_of_prefers_raw():
    df = parse_data("-- raw\n0x00000007000000b7\n0x95\n-- result\n0x7\n")
    assert program_of(df) == [Alu("mov", True, 0, None, 7), Exit()]


def _decodable_shapes():
    """One instruction of every shape the decoder accepts: each opcode byte with a few
    register, offset and immediate fields (and every src_reg for the codes that use it)."""
    from model.errors import IsaError
    from model.isa import decode

    seen, out = set(), []
    for code in range(256):
        for src in range(11):
            for off, imm in ((0, 0), (1, 1), (-8, -2), (16, 8), (32, 64)):
                word = struct.pack("<BBhi", code, (src << 4) | 1, off, imm)
                blob = word + (struct.pack("<BBhi", 0, 0, 0, 7) if code == 0x18 else b"")
                try:
                    (insn,) = decode(blob)
                except (IsaError, ValueError):
                    continue
                key = (code, src, off, imm)
                if key not in seen:
                    seen.add(key)
                    out.append(insn)
    return out


def test_every_decodable_opcode_round_trips_through_the_conformance_syntax():
    """`skv conformance`'s syntax covers every instruction the decoder knows (sign-extending
    loads, movsx, sdiv/smod, atomics, legacy loads, callx, gotol...): printing it in that
    syntax and assembling the text gives the same bytes. Only may_goto, pseudo ld_imm64 and
    the static-flag gotol have no mnemonic in the format."""
    from model.conformance_asm import assemble_ubpf, format_ubpf
    from model.isa import LoadImm64, MayGoto, encode

    shapes = _decodable_shapes()
    opcodes = {bytes(encode([i]))[0] for i in shapes}
    assert len(opcodes) > 100
    unprintable = set()
    for insn in shapes:
        text = format_ubpf(insn)
        if text is None:
            unprintable.add(type(insn).__name__ if not isinstance(insn, LoadImm64)
                            else "pseudo ld_imm64")
            assert isinstance(insn, (MayGoto, LoadImm64)) or getattr(insn, "static", 0)
            continue
        assert encode(assemble_ubpf(text)) == encode([insn]), (insn, text)
    assert unprintable <= {"MayGoto", "pseudo ld_imm64", "Jump"}
