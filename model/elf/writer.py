"""Write a BPF relocatable object that ``load_object`` reads back: programs, legacy map
definitions (section ``maps``), a 2023 ``.jump_table`` with its relocations, a license.

Used to generate objects (benchmarks, materialised programs) without a compiler. Each
program is one function in its own section; map references are ``ld_imm64`` relocated
against the map's symbol, as clang emits them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from model.elf.reader import (EM_BPF, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64,
                              R_BPF_64_NODYLD32, SHT_PROGBITS, SHT_REL, SHT_SYMTAB,
                              STT_FUNC, STT_OBJECT, STT_SECTION)
from model.isa import Insn, encode
from model.program import MapDef

SHT_STRTAB = 3
SHF_WRITE, SHF_ALLOC, SHF_EXEC = 1, 2, 4
STB_GLOBAL = 1


@dataclass
class ProgSpec:
    section: str
    name: str
    insns: list[Insn]
    sites: list[tuple[int, int, str, bool]] = field(default_factory=list)  # pc, target, key, inverse
    map_refs: dict[int, str] = field(default_factory=dict)  # ld_imm64 pc -> map name


class _Strtab:
    def __init__(self):
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


def build_object(progs: list[ProgSpec], maps: list[MapDef], license: str = "GPL") -> bytes:
    strtab = _Strtab()
    sections: list[dict] = [dict(name="", type=0, flags=0, data=b"", link=0, info=0, align=0,
                                 entsize=0)]

    def add_section(**kw) -> int:
        kw.setdefault("link", 0), kw.setdefault("info", 0), kw.setdefault("entsize", 0)
        sections.append(kw)
        return len(sections) - 1

    prog_idx = [add_section(name=p.section, type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_EXEC,
                            data=encode(p.insns), align=8) for p in progs]
    maps_data = b"".join(struct.pack("<5I", m.type, m.key_size, m.value_size, m.max_entries,
                                     m.map_flags) for m in maps)
    maps_idx = add_section(name="maps", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_WRITE,
                           data=maps_data, align=4) if maps else None
    add_section(name="license", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_WRITE,
                data=license.encode() + b"\0", align=1)

    # symbols: null, one section symbol per program section, then globals
    syms = [(0, 0, 0, 0, 0, 0)]  # name, info, other, shndx, value, size
    sec_sym = {}
    for i in prog_idx:
        sec_sym[i] = len(syms)
        syms.append((0, STT_SECTION, 0, i, 0, 0))
    first_global = len(syms)
    for p, i in zip(progs, prog_idx):
        syms.append((strtab.add(p.name), (STB_GLOBAL << 4) | STT_FUNC, 0, i, 0,
                     8 * sum(x.slots for x in p.insns)))
    map_sym = {}
    for n, m in enumerate(maps):
        map_sym[m.name] = len(syms)
        syms.append((strtab.add(m.name), (STB_GLOBAL << 4) | STT_OBJECT, 0, maps_idx, 20 * n, 20))

    table, table_rel = bytearray(), bytearray()
    for p, i in zip(progs, prog_idx):
        for pc, target, key, inverse in p.sites:
            base = len(table)
            table += struct.pack("<IIQ", 8 * pc, 8 * target, int(inverse))
            table_rel += struct.pack("<QQ", base, (sec_sym[i] << 32) | R_BPF_64_NODYLD32)
            table_rel += struct.pack("<QQ", base + 4, (sec_sym[i] << 32) | R_BPF_64_ABS32)
            table_rel += struct.pack("<QQ", base + 8, (map_sym[key] << 32) | R_BPF_64_ABS64)
    symtab_idx = len(sections) + (2 if table else 0) + sum(1 for p in progs if p.map_refs)
    for p, i in zip(progs, prog_idx):
        if p.map_refs:
            rel = b"".join(struct.pack("<QQ", 8 * pc, (map_sym[m] << 32) | R_BPF_64_64)
                           for pc, m in sorted(p.map_refs.items()))
            add_section(name=".rel" + p.section, type=SHT_REL, flags=0, data=rel, align=8,
                        link=symtab_idx, info=i, entsize=16)
    if table:
        jt = add_section(name=".jump_table", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_WRITE,
                         data=bytes(table), align=8)
        add_section(name=".rel.jump_table", type=SHT_REL, flags=0, data=bytes(table_rel),
                    align=8, link=symtab_idx, info=jt, entsize=16)
    symdata = b"".join(struct.pack("<IBBHQQ", *s) for s in syms)
    strtab_idx = symtab_idx + 1
    assert add_section(name=".symtab", type=SHT_SYMTAB, flags=0, data=symdata, align=8,
                       link=strtab_idx, info=first_global, entsize=24) == symtab_idx
    add_section(name=".strtab", type=SHT_STRTAB, flags=0, data=b"", align=1)
    for sec in sections:  # one string table holds symbol and section names
        sec["name_off"] = strtab.add(sec["name"])
    sections[-1]["data"] = bytes(strtab.data)

    out = bytearray(64)
    for s in sections:
        s["align"] = max(s["align"], 1)
        while len(out) % s["align"]:
            out += b"\0"
        s["offset"] = len(out)
        out += s["data"]
    while len(out) % 8:
        out += b"\0"
    shoff = len(out)
    for s in sections:
        out += struct.pack("<IIQQQQIIQQ", s["name_off"], s["type"], s["flags"], 0, s["offset"],
                           len(s["data"]), s["link"], s["info"], s["align"], s["entsize"])
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    out[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 1, EM_BPF, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                                   len(sections), len(sections) - 1)
    return bytes(out)
