"""Damage a BPF object precisely, for tests of the loader's checks."""

from __future__ import annotations

import struct
from pathlib import Path

from model.elf.reader import parse_elf


class Patch:
    def __init__(self, path: str):
        self.data = bytearray(Path(path).read_bytes())
        self.image = parse_elf(bytes(self.data), path)

    def section(self, name: str):
        s = self.image.section(name)
        assert s is not None, f"no section {name}"
        return s

    def write(self, section: str, off: int, value: bytes) -> "Patch":
        s = self.section(section)
        assert off + len(value) <= s.size
        self.data[s.offset + off:s.offset + off + len(value)] = value
        return self

    def u32(self, section: str, off: int, v: int) -> "Patch":
        return self.write(section, off, struct.pack("<I", v & 0xFFFFFFFF))

    def u64(self, section: str, off: int, v: int) -> "Patch":
        return self.write(section, off, struct.pack("<Q", v))

    def _shdr(self, index: int) -> int:
        shoff, = struct.unpack_from("<Q", self.data, 0x28)
        entsize, = struct.unpack_from("<H", self.data, 0x3A)
        return shoff + index * entsize

    def sh_size(self, section: str, size: int) -> "Patch":
        struct.pack_into("<Q", self.data, self._shdr(self.section(section).index) + 0x20, size)
        return self

    def reloc(self, rel_section: str, n: int, *, type: int | None = None,
              sym: int | None = None) -> "Patch":
        s = self.section(rel_section)
        off, info = struct.unpack_from("<QQ", self.data, s.offset + 16 * n)
        t = info & 0xFFFFFFFF if type is None else type
        y = info >> 32 if sym is None else sym
        struct.pack_into("<QQ", self.data, s.offset + 16 * n, off, (y << 32) | t)
        return self

    def machine(self, em: int) -> "Patch":
        struct.pack_into("<H", self.data, 0x12, em)
        return self

    def save(self, path) -> str:
        Path(path).write_bytes(bytes(self.data))
        return str(path)
