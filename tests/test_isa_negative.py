"""model.isa.decode rejects invalid encodings, naming the cause.

Uses the bpf_conformance negative corpus (files with a ``-- raw`` section) plus our own
cases for every rule the decoder enforces.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from model.errors import IsaError
from model.isa import decode, decode_one

NEGATIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "bpf_conformance" / "negative"
FIELD_OF_SUFFIX = {"dst": "dst_reg", "src": "src_reg", "imm": "imm", "offset": "off"}
FIELD_WORDS = ("opcode", "dst_reg", "src_reg", "off", "imm")


def _raw_section(path: Path) -> bytes | None:
    lines, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith("-- "):
            inside = line.strip() == "-- raw"
            continue
        if inside and line.strip() and not line.startswith("#"):
            lines.append(line)
    if not lines:
        return None
    return bytes(int(tok, 16) for line in lines for tok in line.split())


def _corpus():
    if not NEGATIVE.is_dir():
        return []
    return [p for p in sorted(NEGATIVE.glob("*.data")) if _raw_section(p) is not None]


CORPUS = _corpus()


@pytest.mark.skipif(not NEGATIVE.is_dir(), reason=f"conformance corpus absent: {NEGATIVE}")
def test_corpus_has_raw_files():
    assert len(CORPUS) >= 40


@pytest.mark.skipif(not CORPUS, reason=f"no '-- raw' files in {NEGATIVE}")
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_conformance_negative(path: Path):
    data = _raw_section(path)
    with pytest.raises(IsaError) as exc:
        decode(data)
    msg = str(exc.value)
    assert exc.value.index is not None and msg.startswith(f"insn {exc.value.index}: ")
    m = re.fullmatch(r"unused-.*-(dst|src|imm|offset)", path.stem)
    if m:
        field = FIELD_OF_SUFFIX[m.group(1)]
        # "non-zero <field>" for a reserved field; "invalid <field>" for one whose value
        # is reserved (ja src_reg = static-branch flags, mov off = movsx width)
        assert re.search(rf"(non-zero|invalid) {field} ", msg), msg
    else:
        assert any(w in msg for w in FIELD_WORDS), msg


def raw(code, dst=0, src=0, off=0, imm=0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


EXIT = raw(0x95)

CASES = [
    # (bytes, substring expected in the message)
    (raw(0x05, dst=1), "insn 0: ja (0x05) has non-zero dst_reg 1"),
    (raw(0x05, src=2), "ja (0x05) has non-zero src_reg 2"),
    (raw(0x06, src=2), "gotol (0x06) has invalid src_reg 2"),
    (raw(0x06, src=4, imm=1), "gotol (0x06) has invalid src_reg 4"),
    (raw(0x06, off=1, imm=1), "gotol (0x06) has non-zero off 1"),
    (raw(0x05, imm=1), "ja (0x05) has non-zero imm 1"),
    (raw(0x0d), "unknown opcode 0x0d"),
    (raw(0x86), "unknown opcode 0x86"),
    (raw(0x96), "unknown opcode 0x96"),
    (raw(0xe6), "unknown opcode 0xe6"),
    (raw(0xed), "unknown opcode 0xed"),
    (raw(0xf5), "unknown opcode 0xf5"),
    (raw(0xe7), "unknown opcode 0xe7"),
    (raw(0xf4), "unknown opcode 0xf4"),
    (raw(0x8c), "unknown opcode 0x8c"),
    (raw(0xdf, imm=16), "unknown opcode 0xdf"),
    (raw(0x00), "unknown opcode 0x00"),
    (raw(0x38), "unknown opcode 0x38"),
    (raw(0x58), "unknown opcode 0x58"),
    (raw(0x99), "unknown opcode 0x99"),
    (raw(0xa1), "unknown opcode 0xa1"),
    (raw(0x82), "unknown opcode 0x82"),
    (raw(0xd3), "unknown opcode 0xd3"),
    (raw(0xe5, src=1), "may_goto (0xe5) has non-zero src_reg 1"),
    (raw(0xe5, dst=1), "may_goto (0xe5) has non-zero dst_reg 1"),
    (raw(0xe5, imm=1), "may_goto (0xe5) has non-zero imm 1"),
    (raw(0xbf, 11, 1), "mov64 (0xbf) has invalid dst_reg 11"),
    (raw(0xbf, 1, 15), "mov64 (0xbf) has invalid src_reg 15"),
    (raw(0x79, 1, 12), "ldxdw (0x79) has invalid src_reg 12"),
    (raw(0x7b, 13, 1), "stxdw (0x7b) has invalid dst_reg 13"),
    (raw(0x3f, 1, 2, off=2), "div64 (0x3f) has invalid off 2"),
    (raw(0xbf, 1, 2, off=7), "mov64 (0xbf) has invalid off 7"),
    (raw(0xbf, 1, 2, off=1), "mov64 (0xbf) has invalid off 1"),
    (raw(0xbf, 1, 2, off=1, imm=1 << 16), "not modelled: addr_space_cast"),
    (raw(0xbc, 1, 2, off=32), "mov (0xbc) has invalid off 32"),
    (raw(0xb7, 1, 0, off=8), "mov64 (0xb7) has non-zero off 8"),
    (raw(0x07, 1, 0, off=1), "add64 (0x07) has non-zero off 1"),
    (raw(0x87, 1, 0, imm=1), "neg64 (0x87) has non-zero imm 1"),
    (raw(0xd4, 1, imm=8), "le (0xd4) has invalid imm 8"),
    (raw(0xd7, 1, imm=17), "bswap (0xd7) has invalid imm 17"),
    (raw(0x18, 1, 7) + raw(0), "lddw (0x18) has invalid src_reg 7"),
    (raw(0x18, 1), "lddw (0x18) is truncated"),
    (raw(0x18, 1, off=1) + raw(0), "lddw (0x18) has non-zero off 1"),
    (raw(0x18, 1) + raw(0x61), "lddw (0x18) second slot has non-zero opcode 0x61"),
    (raw(0x18, 1) + raw(0, 1), "second slot has non-zero dst_reg 1"),
    (raw(0x18, 1) + raw(0, 0, 1), "second slot has non-zero src_reg 1"),
    (raw(0x18, 1) + raw(0, off=1), "second slot has non-zero off 1"),
    (raw(0x18, 1, 1, imm=3) + raw(0, imm=9), "second slot has non-zero imm 9"),
    (raw(0x85, src=3), "call (0x85) has invalid src_reg 3"),
    (raw(0x85, off=1, imm=1), "call (0x85) has non-zero off 1"),
    (raw(0x85, dst=1, imm=1), "call (0x85) has non-zero dst_reg 1"),
    (raw(0xdb, 1, 2, imm=0x02), "atomic64 (0xdb) has unknown atomic operation imm 0x2"),
    (raw(0xdb, 1, 2, imm=0xe0), "unknown atomic operation imm 0xe0"),
    (raw(0xc3, 1, 2, imm=0x120), "atomic32 (0xc3) has unknown atomic operation imm 0x120"),
    (raw(0xd3, 1, 2, imm=0x101), "unknown opcode 0xd3"),
    (raw(0xd3, 1, 2, imm=0x00), "unknown"),
    (raw(0x20, 1, imm=1), "ldabsw (0x20) has non-zero dst_reg 1"),
    (raw(0x20, 0, 1, imm=1), "ldabsw (0x20) has non-zero src_reg 1"),
    (raw(0x40, 0, 1, off=1), "ldindw (0x40) has non-zero off 1"),
    (raw(0x62, 1, 1), "stw (0x62) has non-zero src_reg 1"),
    (raw(0x1d, 1, 2, imm=1), "jeq (0x1d) has non-zero imm 1"),
    (raw(0x16, 1, 2), "jeq32 (0x16) has non-zero src_reg 2"),
    (raw(0x95, imm=1), "exit (0x95) has non-zero imm 1"),
    (b"\x95" * 9, "program length 9 is not a multiple of 8"),
]


@pytest.mark.parametrize("data,expected", CASES, ids=[c[1] for c in CASES])
def test_rejects(data, expected):
    with pytest.raises(IsaError) as exc:
        decode(data)
    assert expected in str(exc.value)


def test_static_branch_flags_only_on_gotol():
    """The 2024 forms are gotol (0x06) with src_reg 1 or 3, as LLVM encodes gotol_or_nop and
    nop_or_gotol; ja (0x05) with any src_reg stays invalid, as RFC 9669 says."""
    for src in (1, 3):
        assert decode(raw(0x06, src=src))[0].static == src
        with pytest.raises(IsaError, match="non-zero src_reg"):
            decode(raw(0x05, src=src))
    with pytest.raises(IsaError, match="static-branch flags must be 0, 1 or 3"):
        decode(raw(0x06, src=2))


def test_error_index_is_the_failing_slot():
    data = raw(0xb7) + raw(0x18, 1) + raw(0) + raw(0x05, dst=3) + EXIT
    with pytest.raises(IsaError) as exc:
        decode(data)
    assert exc.value.index == 3 and str(exc.value).startswith("insn 3: ja (0x05)")


def test_decode_one_bounds():
    with pytest.raises(IsaError, match="no instruction at slot 2"):
        decode_one(EXIT * 2, 2)
    with pytest.raises(IsaError, match="truncated"):
        decode_one(EXIT + raw(0x18), 1)


def test_r10_is_accepted_where_the_encoding_allows():
    prog = decode(raw(0xbf, 10, 1) + raw(0x07, 10, imm=-8) + raw(0x7b, 10, 1, -8)
                  + raw(0x79, 10, 10) + EXIT)
    assert len(prog) == 5
