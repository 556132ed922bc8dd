"""Damaged objects (bit flips, truncations, section-table damage) make the loader raise its
own error type and nothing else: no pyelftools exception, no IndexError, no hang."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import bundled_objects
from model.cfg import build_cfg, check_structure
from model.elf.loader import load_image
from model.elf.reader import parse_elf
from model.errors import SkvError

OBJECTS = bundled_objects()
EXAMPLES = 2000
# (offset, width) of Elf64_Shdr fields: name, type, flags, addr, offset, size, link, info,
# addralign, entsize
SH_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8),
             (56, 8)]


def _blobs() -> list[bytes]:
    if not OBJECTS:
        pytest.skip("no bundled objects in bpfprogs/ (run make -C bpfprogs)")
    return [p.read_bytes() for p in OBJECTS]


def _shdr_range(blob: bytes) -> tuple[int, int]:
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    entsize, num = struct.unpack_from("<HH", blob, 0x3A)
    return shoff, entsize * num


@st.composite
def damaged(draw):
    blobs = _blobs()
    blob = bytearray(draw(st.sampled_from(blobs)))
    kind = draw(st.sampled_from(["flip", "truncate", "shdr", "shfield", "bytes", "header"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, len(blob) - 1))
            blob[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        blob = blob[: draw(st.integers(0, len(blob) - 1))]
    elif kind == "shdr":  # damage the section header table itself
        start, size = _shdr_range(bytes(blob))
        for _ in range(draw(st.integers(1, 6))):
            pos = start + draw(st.integers(0, max(size - 1, 0)))
            if pos < len(blob):
                blob[pos] = draw(st.integers(0, 255))
    elif kind == "shfield":  # one section-header field set to an interesting value
        start, size = _shdr_range(bytes(blob))
        entsize = struct.unpack_from("<H", blob, 0x3A)[0] or 64
        n = max(size // entsize, 1)
        field, width = draw(st.sampled_from(SH_FIELDS))
        pos = start + draw(st.integers(0, n - 1)) * entsize + field
        value = draw(st.sampled_from([0, 1, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0xFFFFFFFF,
                                      1 << 40, (1 << 63) - 1, (1 << 64) - 1, len(blob),
                                      len(blob) + 1]))
        if pos + width <= len(blob):
            blob[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    elif kind == "header":  # the ELF header fields past the identification
        pos = draw(st.integers(16, 63))
        blob[pos] = draw(st.integers(0, 255))
    else:  # overwrite a run of bytes anywhere
        pos = draw(st.integers(0, len(blob) - 1))
        run = draw(st.binary(min_size=1, max_size=32))
        blob[pos:pos + len(run)] = run
    return bytes(blob)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged())
def test_damaged_objects_raise_only_skv_errors(blob):
    try:
        obj = load_image(parse_elf(blob, "fuzz.o"))
    except SkvError as e:
        msg = str(e)
        assert msg.startswith("fuzz.o: ") and "\n" not in msg and len(msg) < 400
        return
    for prog in obj.programs:  # what loads must also be drawable or rejected cleanly
        try:
            check_structure(prog)
            build_cfg(prog)
        except SkvError:
            pass


# A systematic sweep, because random damage rarely lands on one exact field of one
# section: every section header of every bundled object, each of these fields set to each
# hostile value, must give a LoadError or a clean load.
SWEEP_FIELDS = {"type": (4, 4), "offset": (24, 8), "size": (32, 8), "link": (40, 4),
                "info": (44, 4)}


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_section_header_sweep(path):
    blob = path.read_bytes()
    start, size = _shdr_range(blob)
    entsize = struct.unpack_from("<H", blob, 0x3A)[0]
    hostile = [0xFFFFFFFF, 1 << 40, len(blob) + 8]
    types = [1, 2, 3, 8, 9, 4]  # PROGBITS, SYMTAB, STRTAB, NOBITS, REL, RELA
    for index in range(1, size // entsize):
        for name, (field, width) in SWEEP_FIELDS.items():
            for value in (types if name == "type" else hostile):
                damaged = bytearray(blob)
                pos = start + index * entsize + field
                damaged[pos:pos + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width,
                                                                                     "little")
                try:
                    load_image(parse_elf(bytes(damaged), "sweep.o"))
                except SkvError as e:
                    assert str(e).startswith("sweep.o: "), (index, name, value)
