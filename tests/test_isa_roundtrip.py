"""model.isa: typed instructions, decode/encode round trips, jump distances.

``insns()`` (a hypothesis strategy over every valid instruction kind) is imported by the
other ISA test files.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from model.errors import IsaError
from model.isa import (
    Alu, Atomic, Call, Endian, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64, MayGoto, Store,
    decode, decode_one, encode, iter_pcs,
)
from model.isa import opcodes as oc

BPFPROGS = Path(__file__).resolve().parent.parent / "bpfprogs"

REG = st.integers(0, 10)
IMM = st.integers(-(1 << 31), (1 << 31) - 1)
OFF = st.integers(-(1 << 15), (1 << 15) - 1)


@st.composite
def alus(draw):
    op, is64 = draw(st.sampled_from(oc.ALU_OP_NAMES)), draw(st.booleans())
    dst = draw(REG)
    if op == "neg":
        return Alu("neg", is64, dst)
    if op == "movsx":
        offs = oc.MOVSX_OFFS_64 if is64 else oc.MOVSX_OFFS_32
        return Alu("movsx", is64, dst, draw(REG), 0, draw(st.sampled_from(offs)))
    off = 1 if op in ("sdiv", "smod") else 0
    if draw(st.booleans()):
        return Alu(op, is64, dst, draw(REG), 0, off)
    return Alu(op, is64, dst, None, draw(IMM), off)


@st.composite
def jumps(draw):
    cond, is32 = draw(st.sampled_from(list(oc.JMP_OPS))), draw(st.booleans())
    if cond == "ja":
        static = draw(st.sampled_from(oc.STATIC_FLAGS))
        if is32:
            return Jump("ja", True, 0, None, draw(IMM), 0, static)
        return Jump("ja", False, 0, None, 0, draw(OFF), 0)
    if draw(st.booleans()):
        return Jump(cond, is32, draw(REG), draw(REG), 0, draw(OFF))
    return Jump(cond, is32, draw(REG), None, draw(IMM), draw(OFF))


@st.composite
def ld_imm64s(draw):
    src = draw(st.integers(0, 6))
    imm2 = 0 if src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_IDX) else draw(IMM)
    return LoadImm64(draw(REG), src, draw(IMM), imm2)


@st.composite
def stores(draw):
    size, dst, off = draw(st.sampled_from((1, 2, 4, 8))), draw(REG), draw(OFF)
    if draw(st.booleans()):
        return Store(size, dst, off, draw(REG))
    return Store(size, dst, off, None, draw(IMM))


@st.composite
def atomics(draw):
    op = draw(st.sampled_from(list(oc.ATOMIC_OPS)))
    fetch = True if op in oc.ATOMIC_ALWAYS_FETCH else draw(st.booleans())
    return Atomic(draw(st.sampled_from((4, 8))), op, fetch, draw(REG), draw(REG), draw(OFF))


@st.composite
def loads(draw):
    signed = draw(st.booleans())
    size = draw(st.sampled_from((1, 2, 4) if signed else (1, 2, 4, 8)))
    return Load(size, draw(REG), draw(REG), draw(OFF), signed)


@st.composite
def legacy_loads(draw):
    size = draw(st.sampled_from((1, 2, 4)))
    if draw(st.booleans()):
        return LegacyLoad(size, "abs", None, draw(IMM))
    return LegacyLoad(size, "ind", draw(REG), draw(IMM))


@st.composite
def calls(draw):
    src = draw(st.sampled_from((0, 1, 2)))
    return Call(src, draw(IMM), draw(OFF) if src == 2 else 0)


def insns() -> st.SearchStrategy[Insn]:
    """Every valid instruction kind."""
    return st.one_of(
        alus(), jumps(), ld_imm64s(), stores(), atomics(), loads(), legacy_loads(), calls(),
        st.builds(Endian, st.sampled_from(oc.ENDIAN_KINDS), st.sampled_from(oc.ENDIAN_WIDTHS), REG),
        st.builds(MayGoto, OFF), st.just(Exit()),
    )


def raw(code, dst=0, src=0, off=0, imm=0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


# --- round trips -----------------------------------------------------------------------

@given(insns())
@settings(max_examples=1500)
def test_decode_encode_roundtrip(insn):
    b = insn.encode()
    assert len(b) == 8 * insn.slots
    assert decode(b) == [insn]
    assert encode(decode(b)) == b
    assert insn.opcode == b[0]


@given(st.lists(insns(), max_size=20))
def test_program_roundtrip_and_pcs(prog):
    b = encode(prog)
    assert decode(b) == prog
    pcs = [pc for pc, _ in iter_pcs(prog)]
    expected, pc = [], 0
    for i in prog:
        expected.append(pc)
        pc += i.slots
    assert pcs == expected
    for pc, i in iter_pcs(prog):
        assert decode_one(b, pc) == i


@given(st.binary(min_size=8, max_size=8))
@settings(max_examples=3000)
def test_any_decodable_word_reencodes_identically(b):
    try:
        prog = decode(b + bytes(8))  # room for an ld_imm64 second slot
    except IsaError as e:
        assert e.index is not None and str(e).startswith(f"insn {e.index}: ")
        return
    assert encode(prog) == b + bytes(8)


def test_bpfprogs_sections_roundtrip():
    elffile = pytest.importorskip("elftools.elf.elffile")
    objs = sorted(BPFPROGS.glob("*.o"))
    if not objs:
        pytest.skip(f"no objects in {BPFPROGS}")
    for path in objs:
        with open(path, "rb") as f:
            for sec in elffile.ELFFile(f).iter_sections():
                if sec["sh_flags"] & 0x4 and sec["sh_size"]:
                    data = sec.data()
                    assert encode(decode(data)) == data, (path.name, sec.name)


# --- the typed layer -------------------------------------------------------------------

def test_talk_program_decodes():
    b = (raw(0x05) + raw(0xb7) + raw(0x95) + raw(0x18, 1, 2, 0, 31) + raw(0)
         + raw(0xb7, 2, 0, 0, 18) + raw(0x07) + raw(0x05, off=-7))
    prog = decode(b)
    assert prog[0] == Jump("ja", False, off=0)
    assert prog[1] == Alu("mov", True, 0, None, 0)
    assert prog[2] == Exit()
    assert prog[3] == LoadImm64(1, 2, 31, 0) and prog[3].slots == 2
    assert [pc for pc, _ in iter_pcs(prog)] == [0, 1, 2, 3, 5, 6, 7]
    assert prog[6].target(7) == 1


def test_jump_delta_and_target():
    j = Jump("jeq", False, 1, None, 0, 3)
    assert j.delta == 3 and j.target(10) == 14
    assert j.with_delta(-5) == dataclasses.replace(j, off=-5)
    gotol = Jump("ja", True, imm=100000)
    assert gotol.delta == 100000 and gotol.target(0) == 100001
    assert gotol.with_delta(-70000).imm == -70000
    with pytest.raises(IsaError, match="does not fit"):
        j.with_delta(40000)
    with pytest.raises(IsaError, match="does not fit"):
        gotol.with_delta(1 << 31)
    mg = MayGoto(2)
    assert mg.delta == 2 and mg.target(4) == 7 and mg.with_delta(-1) == MayGoto(-1)
    with pytest.raises(IsaError):
        mg.with_delta(1 << 15)


def test_static_branch_forms():
    for src in (1, 3):
        (j,) = decode(raw(0x06, src=src, imm=4))
        assert j.static == src and j.delta == 4 and j.is32
    with pytest.raises(IsaError):
        Jump("ja", False, off=4, static=1)


def test_ld_imm64_value():
    i = LoadImm64.from_value(3, 0xfedcba9876543210)
    assert i.value == 0xfedcba9876543210 and i.imm2 == 0xfedcba98 - (1 << 32)
    assert LoadImm64.from_value(1, -1) == LoadImm64(1, 0, -1, -1)


def test_mnemonic_and_opcode():
    assert Alu("sdiv", True, 1, 2, 0, 1).opcode == 0x3f
    assert Endian("bswap", 16, 1).opcode == 0xd7
    assert Atomic(4, "xchg", True, 1, 2).opcode == 0xc3
    assert MayGoto(0).opcode == 0xe5 and Jump("ja", True, imm=1).opcode == 0x06
    assert Load(2, 1, 2, 0, True).mnemonic == "ldxsh"
    assert LegacyLoad(1, "ind", 2).opcode == 0x50


@pytest.mark.parametrize("make", [
    lambda: Alu("nope", True, 0),
    lambda: Alu("add", True, 11),
    lambda: Alu("add", True, 1, 2, 5),
    lambda: Alu("sdiv", True, 1, 2, 0, 0),
    lambda: Alu("movsx", False, 1, 2, 0, 32),
    lambda: Alu("neg", True, 1, 2),
    lambda: Endian("le", 8, 1),
    lambda: LoadImm64(1, 7),
    lambda: LoadImm64(1, 1, 5, 1),
    lambda: Load(8, 1, 2, 0, True),
    lambda: Store(3, 1),
    lambda: Atomic(4, "xchg", False, 1, 2),
    lambda: Atomic(2, "add", False, 1, 2),
    lambda: LegacyLoad(8, "abs"),
    lambda: LegacyLoad(4, "abs", 1),
    lambda: Jump("ja", False, 0, None, 5, 0),
    lambda: Jump("jeq", False, 1, None, 0, 0, 1),
    lambda: Jump("ja", False, static=2),
    lambda: Call(3, 1),
    lambda: Call(0, 1, 5),
    lambda: MayGoto(1 << 15),
])
def test_constructor_rejects(make):
    with pytest.raises(IsaError):
        make()


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Exit().x = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Alu("add", True, 1).dst = 2  # type: ignore[misc]
