"""model.isa.asm: assembling llvm-objdump syntax, round trips with the llvm printer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from model.errors import AsmError
from model.isa import (
    Alu, Atomic, Call, Endian, Exit, Jump, LegacyLoad, Load, LoadImm64, MayGoto, Store,
    assemble, decode, encode, format_llvm, iter_pcs, llvm_line,
)
from test_isa_roundtrip import insns

BPFPROGS = Path(__file__).resolve().parent.parent / "bpfprogs"
OBJDUMP = shutil.which("llvm-objdump-19")


def objdump_loses(i) -> bool:
    """Fields plain objdump text does not show (printed only with ``lossless=True``)."""
    return ((isinstance(i, Call) and i.src != 0)
            or (isinstance(i, Jump) and i.static != 0)
            or (isinstance(i, LoadImm64) and i.src != 0 and i.imm2 != 0)
            or (isinstance(i, LegacyLoad) and i.mode == "ind" and i.imm != 0))


@given(insns())
@settings(max_examples=2000)
def test_lossless_text_roundtrips(insn):
    assert assemble(format_llvm(insn, 0, lossless=True)) == [insn]


@given(insns())
@settings(max_examples=2000)
def test_objdump_text_roundtrips(insn):
    text = format_llvm(insn, 0)
    if objdump_loses(insn):
        return
    assert assemble(text) == [insn]
    if not (isinstance(insn, Atomic) and insn.size == 4):  # plain -d mangles these
        assert assemble(format_llvm(insn, 0, alu32=False)) == [insn]


@given(st.lists(insns(), max_size=30))
def test_objdump_lines_roundtrip(prog):
    listing = "\n".join(llvm_line(pc, i, lossless=True) for pc, i in iter_pcs(prog))
    assert assemble(listing) == prog
    assert encode(assemble(listing)) == encode(prog)


def test_labels_and_comments():
    prog = assemble("""
        # a comment line
        entry:  r1 = 0x5          ; trailing comment
        loop:   r1 += -0x1        # another
                if r1 s> 0x0 goto loop
                gotol done
                call sub
                goto +0x0 <entry+0x8>
        done:   exit
        sub:
                r0 = 0x2a ll
                exit
    """)
    assert prog == [
        Alu("mov", True, 1, None, 5), Alu("add", True, 1, None, -1),
        Jump("jsgt", False, 1, None, 0, -2), Jump("ja", True, imm=2),
        Call(1, 2), Jump("ja", False, off=0), Exit(),
        LoadImm64(0, 0, 42, 0), Exit(),
    ]


def test_objdump_headers_and_bytes_are_ignored():
    text = """
a.o:	file format elf64-bpf

Disassembly of section .text:

0000000000000000 <.text>:
       0:	b7 00 00 00 00 00 00 00	r0 = 0x0
       1:	18 01 00 00 89 67 45 23 00 00 00 00 01 00 00 00	r1 = 0x123456789 ll
       3:	05 00 fc ff 00 00 00 00	goto -0x4 <.text>
       4:	95 00 00 00 00 00 00 00	exit
"""
    assert assemble(text) == [Alu("mov", True, 0, None, 0), LoadImm64.from_value(1, 0x123456789),
                              Jump("ja", False, off=-4), Exit()]


def test_forms():
    cases = {
        "call 0x6": Call(0, 6),
        "call 6": Call(0, 6),
        "call -0x1": Call(0, -1),
        "call pc+0x3": Call(1, 3),
        "call kfunc 0x10": Call(2, 16),
        "gotol_or_nop +0x2": Jump("ja", True, imm=2, static=1),
        "nop_or_gotol -0x2": Jump("ja", True, imm=-2, static=3),
        "r1 = 0xffffffffffffffff ll": LoadImm64(1, 0, -1, -1),
        "r1 = 0xffffffff": Alu("mov", True, 1, None, -1),
        "w2 s%= w3": Alu("smod", False, 2, 3, 0, 1),
        "r1 = (s8)r2": Alu("movsx", True, 1, 2, 0, 8),
        "r1 = bswap16 r1": Endian("bswap", 16, 1),
        "r1 = *(u32 *)(r2 + 0x4)": Load(4, 1, 2, 4),
        "r1 = *(s32 *)(r2 - 4)": Load(4, 1, 2, -4, True),
        "*(u8 *)(r10 - 0x1) = -0x1": Store(1, 10, -1, None, -1),
        "lock *(u64 *)(r1 + 0x0) ^= r2": Atomic(8, "xor", False, 1, 2),
        "r0 = *(u8 *)skb[r3 + 0x7]": LegacyLoad(1, "ind", 3, 7),
        "may_goto -0x1": MayGoto(-1),
    }
    for text, insn in cases.items():
        assert assemble(text) == [insn], text


@pytest.mark.parametrize("text,message", [
    ("r11 = 0x0", "line 1: invalid register r11"),
    ("\n\nfoo r1", "line 3: cannot parse instruction"),
    ("goto nowhere", "undefined label 'nowhere'"),
    ("a: exit\na: exit", "line 2: label 'a' defined twice"),
    ("r1 += w2", "mixed 32-bit"),
    ("w1 = *(u64 *)(r2 + 0x0)", "64-bit destination"),
    ("r1 = *(s64 *)(r2 + 0x0)", "no sign-extending 64-bit load"),
    ("goto +0x8000", "off must be a signed 16-bit integer"),
    ("r1 = 0x100000000", "out of range"),
    ("r1 = 0x10000000000000000 ll", "out of range"),
    ("r1 = be8 r1", "cannot parse"),
    ("r1 = -r2", "same register"),
    ("r1 = *(u64 *)(r2 + 0x8000)", "out of range"),
    ("ld_pseudo r1, 0x7, 0x0", "pseudo source"),
    ("r1 = xchg_64(r2 + 0x0, r3)", "same register"),
])
def test_errors(text, message):
    with pytest.raises(AsmError) as exc:
        assemble(text)
    assert message in str(exc.value)


BPF_OBJECTS = sorted(BPFPROGS.glob("*.o"))


@pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump-19 not installed")
@pytest.mark.skipif(not BPF_OBJECTS, reason=f"no objects in {BPFPROGS}")
@pytest.mark.parametrize("path", BPF_OBJECTS, ids=lambda p: p.name)
def test_assembles_objdump_output_of_bpfprogs(path):
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        sections = {s.name: s.data() for s in ELFFile(f).iter_sections()
                    if s["sh_flags"] & 0x4 and s["sh_size"]}
    for name, data in sections.items():
        out = subprocess.run([OBJDUMP, "-d", "--mcpu=v4", f"--section={name}", str(path)],
                             check=True, capture_output=True, text=True).stdout
        ours, theirs = decode(data), assemble(out)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a == b or objdump_loses(a), (path.name, name, a, b)
