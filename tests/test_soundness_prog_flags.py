"""Load flags: ``skv check --prog-flags``. Without flags (as libbpf loads) x86-64 checks the
alignment only of stack accesses and atomics; BPF_F_STRICT_ALIGNMENT makes packet accesses
(counting NET_IP_ALIGN = 2) and map value accesses checked too; BPF_F_ANY_ALIGNMENT turns it
off again. The abstract verifier and the Z3 engine follow the flags, and the kernel, loaded
with the same flags, agrees."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from model.cli import main
from model.elf.writer import ProgSpec, build_object
from model.errors import SkvError
from model.isa import assemble, encode
from model.platform.prog_flags import flag_names, parse_prog_flags, strict_alignment
from model.program import BpfObject, MapDef, MapRef, Program

STRICT, ANY = 1, 2
PKT = ("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 16\n"
       "if r4 > r3 goto +1\nr0 = *({t} *)(r2 + {off})\nr0 = 0\nexit")
MAPV = ("r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = 0 ll\ncall 1\n"
        "if r0 == 0 goto +1\nr0 = *({t} *)(r0 + {off})\nr0 = 0\nexit")
ACCESSES = [("u8", 1), ("u16", 0), ("u16", 1), ("u32", 0), ("u32", 1), ("u32", 2), ("u64", 0),
            ("u64", 6)]


def _prog(kind: str, t: str, off: int) -> tuple[BpfObject, Program]:
    insns = assemble((PKT if kind == "pkt" else MAPV).format(t=t, off=off))
    maps = {}
    prog = Program("t", "xdp", insns)
    if kind == "map":
        insns[4] = replace(insns[4], src=1)
        prog.map_refs[4] = MapRef(4, "arr")
        maps = {"arr": MapDef("arr", 2, 4, 16, 1)}
    return BpfObject("inline", "GPL", maps, [prog]), prog


def _expected(kind: str, t: str, off: int, flags: int) -> str | None:
    """Linux 6.18 on x86-64 (measured; see test_kernel_agrees_on_alignment)."""
    size = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}[t]
    if not strict_alignment(flags) or size == 1:
        return None
    if kind == "pkt":
        return None if (2 + off) % size == 0 else \
            f"misaligned packet access off 2+0+0+{off} size {size}"
    return None if off % size == 0 else f"misaligned value access off 0+0+{off} size {size}"


CASES = [(k, t, off, f) for k in ("pkt", "map") for t, off in ACCESSES for f in (0, STRICT, ANY,
                                                                                  STRICT | ANY)]


@pytest.mark.parametrize("kind,t,off,flags", CASES)
def test_alignment_follows_the_flags(kind, t, off, flags):
    from model.symbolic import analyse_program
    from model.verifier.checker import check_program

    obj, prog = _prog(kind, t, off)
    want = _expected(kind, t, off, flags)
    v = check_program(obj, prog, prog_flags=flags)
    assert v.accepted == (want is None), (v.error, v.log[-3:])
    if want:
        assert v.error.message == want
    assert analyse_program(obj, prog, prog_flags=flags)["models"]["M2"]["safe"] == (want is None)


def test_kernel_agrees_on_alignment():
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.kernel import map_create, verify
    from soundness import last_error

    m = map_create("array", 4, 16, 1)
    try:
        bad = []
        for kind, t, off, flags in CASES:
            _, prog = _prog(kind, t, off)
            r = verify(encode(prog.insns), "xdp", maps={4: m} if kind == "map" else {},
                       prog_flags=flags)
            want = _expected(kind, t, off, flags)
            if r.ok != (want is None) or (want and last_error(r.log) != want):
                bad.append((kind, t, off, flags, r.ok, last_error(r.log)))
        assert not bad, bad
    finally:
        m.close()


def test_parse_prog_flags():
    assert parse_prog_flags("") == 0 and parse_prog_flags(None) == 0
    assert parse_prog_flags("BPF_F_STRICT_ALIGNMENT") == 1
    assert parse_prog_flags("strict_alignment, BPF_F_ANY_ALIGNMENT") == 3
    assert parse_prog_flags("0x1") == 1 and parse_prog_flags("2") == 2
    assert flag_names(3) == ["BPF_F_STRICT_ALIGNMENT", "BPF_F_ANY_ALIGNMENT"]
    for bad in ("BPF_F_NOPE", "0x100"):
        with pytest.raises(SkvError):
            parse_prog_flags(bad)


def test_unmodelled_flag_is_a_clean_rejection():
    from model.verifier.checker import check_program

    obj, prog = _prog("pkt", "u8", 0)
    v = check_program(obj, prog, prog_flags=parse_prog_flags("BPF_F_XDP_HAS_FRAGS"))
    assert not v.accepted and v.error.message.startswith("not modelled: program flags")


def test_check_cli_prog_flags(capsys, tmp_path):
    path = tmp_path / "a.o"
    _, prog = _prog("pkt", "u32", 0)
    path.write_bytes(build_object([ProgSpec("xdp", "p", prog.insns)], []))
    assert main(["check", "--json", str(path)]) == 0
    (row,) = json.loads(capsys.readouterr().out)["programs"]
    assert row["verdict"] == "accepted" and row["prog_flags"] == {"value": 0, "names": []}
    assert main(["check", "--json", "--prog-flags", "BPF_F_STRICT_ALIGNMENT", str(path)]) == 1
    (row,) = json.loads(capsys.readouterr().out)["programs"]
    assert row["prog_flags"] == {"value": 1, "names": ["BPF_F_STRICT_ALIGNMENT"]}
    assert row["verdict"] == "rejected"
    assert row["error"] == {"insn": 5, "message": "misaligned packet access off 2+0+0+0 size 4"}
    assert row["models"]["M2"]["safe"] is False
    assert main(["check", "--prog-flags", "BPF_F_BOGUS", str(path)]) == 2
    assert "unknown program flag" in capsys.readouterr().err
