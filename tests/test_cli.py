"""The skv command line: every bundled object works with info/disasm/cfg, and every kind
of bad input is one line `skv: error: FILE: cause` with exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, bundled_objects
from elfpatch import Patch
from model.cli import main

OBJECTS = bundled_objects()


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_info_and_disasm_every_object(capsys, path):
    rc, out, err = run(capsys, "info", str(path))
    assert rc == 0 and err == ""
    assert f"== {path}" in out and "program" in out
    for style in ("kernel", "llvm"):
        rc, out, err = run(capsys, "disasm", "--style", style, str(path))
        assert rc == 0 and err == ""
        assert "exit" in out


def test_info_lists_sites_with_polarity(capsys):
    rc, out, _ = run(capsys, "info", str(ROOT / "bpfprogs" / "talk_likely.o"))
    assert rc == 0
    assert "debug_key" in out and "inverse (likely)" in out and "static key" in out


def test_disasm_matches_the_talk(capsys):
    rc, out, _ = run(capsys, "disasm", str(ROOT / "bpfprogs" / "talk_unlikely.o"))
    lines = [l.split("  ;")[0] for l in out.splitlines()]
    assert "0: (05) goto pc+0" in lines
    assert "2: (95) exit" in lines
    assert any(l.startswith("3: (18) r1 = map[id:") and l.endswith("][0]+0") for l in lines)
    assert "6: (85) call bpf_trace_printk#6" in lines
    assert "7: (05) goto pc-7" in lines


def test_cfg_dot_and_svg(capsys, tmp_path):
    obj = str(ROOT / "bpfprogs" / "talk_likely.o")
    rc, out, _ = run(capsys, "cfg", obj, "--format", "dot")
    assert rc == 0 and out.startswith("digraph") and "debug_key on" in out
    svg = tmp_path / "g.svg"
    rc, out, _ = run(capsys, "cfg", obj, "--format", "svg", "-o", str(svg))
    assert rc == 0 and svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_cfg_needs_program_when_several(capsys):
    rc, _, err = run(capsys, "cfg", str(ROOT / "bpfprogs" / "st_three_progs.o"), "-f", "svg")
    assert rc == 2 and "choose one with --program" in err


def _bad_inputs(tmp_path):
    good = str(ROOT / "bpfprogs" / "talk_unlikely.o")
    data = open(good, "rb").read()
    (tmp_path / "text.o").write_text("hello\n")
    (tmp_path / "cut.o").write_bytes(data[:200])
    p = Patch(good)
    n_syms = len(p.image.symbols)
    rel = next(s.name for s in p.image.sections if s.name.startswith(".rel") and
               s.name != ".rel.jump_table" and "debug" not in s.name and "BTF" not in s.name)
    return {
        "missing": (str(tmp_path / "none.o"), "no such file"),
        "directory": (str(tmp_path), "not a regular file"),
        "not elf": (str(tmp_path / "text.o"), "not an ELF file"),
        "truncated": (str(tmp_path / "cut.o"), ""),
        "wrong machine": (Patch(good).machine(62).save(tmp_path / "x86.o"), "EM_X86_64"),
        "unknown symbol": (Patch(good).reloc(rel, 0, sym=n_syms + 5).save(tmp_path / "sym.o"),
                           f"names symbol {n_syms + 5}"),
        "bad table": (Patch(good).u64(".jump_table", 8, 6).save(tmp_path / "flags.o"),
                      "flags 0x6"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not elf", "truncated",
                                  "wrong machine", "unknown symbol", "bad table"])
@pytest.mark.parametrize("command", ["info", "disasm", "cfg"])
def test_bad_input_is_one_line(capsys, tmp_path, case, command):
    path, cause = _bad_inputs(tmp_path)[case]
    rc, out, err = run(capsys, command, path)
    assert rc == 2 and out == ""
    assert err.startswith(f"skv: error: {path}: ") and cause in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_no_traceback_from_the_console_script(tmp_path):
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
    r = subprocess.run([sys.executable, "-m", "model.cli", "info", str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.startswith(f"skv: error: {bad}: ") and "Traceback" not in r.stderr


def test_unknown_program(capsys):
    rc, _, err = run(capsys, "disasm", "-p", "nope", str(ROOT / "bpfprogs" / "talk_likely.o"))
    assert rc == 2 and "no program named nope (programs: worker)" in err
