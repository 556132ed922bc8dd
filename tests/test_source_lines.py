"""C source lines and function names from ``.BTF.ext`` (func info, line info): parsed,
moved to the linked program's pcs, and shown in ``skv disasm`` and ``skv check --log`` as
the kernel's verifier log shows them (``; <line> @ <file>:<n>``)."""

from __future__ import annotations

import struct

import pytest

from conftest import BPFPROGS
from model.cli import main
from model.elf.btf import BtfError, parse_btf
from model.elf.btf_ext import parse_btf_ext
from model.elf.loader import load_image, load_object
from model.elf.reader import read_elf
from model.errors import SkvError

OBJECTS = sorted(BPFPROGS.glob("*.o"))


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_every_line_record_is_the_source_files_line(path):
    """Each line at a linked pc is the text of that line of the C file it names (the
    bundled objects are built with -g next to their sources)."""
    obj = load_object(str(path), keys_as_maps="keep")
    seen = 0
    for prog in obj.programs:
        assert prog.lines, prog.name
        pcs = set(prog.by_pc())
        for pc, line in prog.lines.items():
            assert pc in pcs, (prog.name, pc)            # an instruction boundary
            src = BPFPROGS / line.file.rsplit("/", 1)[-1]
            text = src.read_text().splitlines()[line.line - 1]
            assert text.strip() == line.text.strip(), (prog.name, pc, line)
            seen += 1
        # the function names of BTF func info start the entry and every subprogram
        assert prog.func_names[0] == prog.name
        assert set(prog.subprogs.items()) <= set(prog.func_names.items())
    assert seen


def test_subprogram_lines_move_with_the_subprogram():
    prog = load_object(str(BPFPROGS / "st_subprog.o")).program("st_subprog")
    start = prog.func_starts["sub"]
    assert start > 0 and prog.func_names[start] == "sub"
    assert "int sub(void)" in prog.lines[start].text
    call = next(pc for pc, i in prog.iter_pcs() if pc in prog.lines
                and "sub();" in prog.lines[pc].text)
    assert prog.by_pc()[call].opcode == 0x85 or prog.by_pc().get(call + 1).opcode == 0x85


def test_kernel_text_is_the_kernels_form():
    prog = load_object(str(BPFPROGS / "unsafe_off.o")).programs[0]
    texts = [ln.kernel_text() for ln in prog.lines.values()]
    assert "__u32 k = 0; @ unsafe_off.c:22" in texts
    assert all(" @ " in t and not t.startswith(" ") and "/" not in t.rsplit(" @ ", 1)[1]
               for t in texts)


def _image_with(path, name, data):
    image = read_elf(str(path))
    for k, s in enumerate(image.sections):
        if s.name == name:
            from dataclasses import replace
            image.sections[k] = replace(s, data=data, size=len(data))
    return image


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d[:10], "header truncated"),
    (lambda d: b"\0\0" + d[2:], "bad magic"),
    (lambda d: d[:4] + struct.pack("<I", 4096) + d[8:], "bad hdr_len"),
    (lambda d: d[:-9], "past"),
])
def test_damaged_btf_ext_is_one_load_error(mutate, msg):
    path = BPFPROGS / "talk_unlikely.o"
    data = read_elf(str(path)).section(".BTF.ext").data
    image = _image_with(path, ".BTF.ext", mutate(bytes(data)))
    with pytest.raises(SkvError, match=msg) as e:
        load_image(image)
    assert ".BTF.ext" in str(e.value) and "\n" not in str(e.value)


def test_line_record_off_an_instruction_boundary_is_rejected():
    image = read_elf(str(BPFPROGS / "talk_unlikely.o"))
    btf = parse_btf(image.section(".BTF").data)
    data = bytearray(image.section(".BTF.ext").data)
    hdr_len, l_off = struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 16)[0]
    first = hdr_len + l_off + 4 + 8                    # rec_size, then sec name + count
    struct.pack_into("<I", data, first, struct.unpack_from("<I", data, first)[0] + 3)
    with pytest.raises(BtfError, match="instruction boundary"):
        parse_btf_ext(bytes(data), btf)


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_disasm_prints_each_source_line_before_its_instructions(capsys):
    path = str(BPFPROGS / "st_subprog.o")
    rc, out, _ = _run(capsys, "disasm", path)
    assert rc == 0
    lines = out.splitlines()
    prog = load_object(path).programs[0]
    for pc, line in prog.lines.items():
        at = next(k for k, l in enumerate(lines) if l.startswith(f"{pc}: "))
        assert lines[at - 1] == f"; {line.kernel_text()}", pc
    assert "sub:" in lines and "st_subprog:" in lines
    rc, out, _ = _run(capsys, "disasm", "--no-source", path)
    assert rc == 0 and " @ st_subprog.c:" not in out
    rc, out, _ = _run(capsys, "disasm", "--style", "llvm", path)   # what llvm-objdump -d prints
    assert rc == 0 and " @ st_subprog.c:" not in out


def test_check_log_shows_source_lines_as_the_kernel_does(capsys):
    rc, out, _ = _run(capsys, "check", "--no-symbolic", "--log", str(BPFPROGS / "unsafe_off.o"))
    assert rc == 1
    log = out.split("== ", 1)[1].splitlines()
    i = log.index("; __u32 k = 0; @ unsafe_off.c:22")
    assert log[i + 1].startswith("1: (63) *(u32 *)(r10 -4) = r6")
    # the failing instruction's own line comes right before it
    fail = next(k for k, l in enumerate(log) if l.startswith("9: "))
    assert log[fail - 1].startswith("; ") and "@ unsafe_off.c:" in log[fail - 1]
    # a record is printed once, before the first instruction it covers: never two in a row
    assert not any(a.startswith("; ") and b.startswith("; ") for a, b in zip(log, log[1:]))
