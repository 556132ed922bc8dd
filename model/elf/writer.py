"""Write a BPF relocatable object that ``load_object`` reads back: programs (with their
subprograms), legacy map definitions (section ``maps``), global-data sections (``.rodata``,
``.data``, ``.bss``), a 2023 ``.jump_table`` with its relocations (2024 sites, JAs with
``static`` flags, need none), a license.

Used to generate objects (benchmarks, materialised programs) without a compiler. Each
program's entry function is one function in its own section; its subprograms (``funcs``:
start pc -> name, pc > 0) go to ``.text`` as clang puts them, called through
``R_BPF_64_32`` relocations against their function symbols, and callback ``ld_imm64``s (src
4) are relocated against ``.text``'s section symbol. Map references are ``ld_imm64``
relocated against the map's symbol; references into global data against the data section's
symbol with the value offset in ``imm``, as clang emits them. Instructions may be given in
either form (as clang emits them or as the loader links them): the writer normalises the
relocated ``ld_imm64``s and calls.

Round trip: ``load_object`` of ``build_object([ProgSpec.from_program(p)], maps)`` gives
``p``'s instructions, map references, functions and sites back, provided the subprograms are
in the order the linker appends them (the order it discovers calls; always true for
programs the loader linked and for ``model.materialize`` output of them in practice).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from model.elf.reader import (EM_BPF, R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64,
                              R_BPF_64_NODYLD32, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_SYMTAB,
                              STT_FUNC, STT_OBJECT, STT_SECTION)
from model.errors import SkvError
from model.isa import Call, Insn, LoadImm64
from model.program import PSEUDO_FUNC, PSEUDO_MAP_VALUE, MapDef, Program

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
    funcs: dict[int, str] = field(default_factory=dict)  # subprogram start pc (> 0) -> name

    @classmethod
    def from_program(cls, prog: Program) -> ProgSpec:
        funcs = {pc: n for pc, n in prog.subprogs.items() if pc > 0}
        for n, pc in prog.func_starts.items():
            if pc > 0:
                funcs.setdefault(pc, n)
        return cls(prog.section, prog.name, list(prog.insns),
                   [(s.pc, s.target, s.key, s.inverse) for s in prog.sites],
                   {pc: r.map for pc, r in prog.map_refs.items()}, funcs)


class _Strtab:
    def __init__(self):
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


@dataclass
class _Chunk:
    """One function of one program as written: where it lives and what it holds."""
    name: str
    sec: int  # section index
    off: int  # byte offset in that section
    lo: int  # first pc (in the program)
    hi: int  # end pc
    sym: int = 0  # symbol index


def _chunks(p: ProgSpec) -> list[tuple[str, int, int]]:
    n = sum(i.slots for i in p.insns)
    starts = sorted(pc for pc in p.funcs if 0 < pc < n)
    bounds = [0] + starts + [n]
    names = [p.name] + [p.funcs[pc] for pc in starts]
    return [(names[k], bounds[k], bounds[k + 1]) for k in range(len(names))]


def build_object(progs: list[ProgSpec], maps: list[MapDef], license: str = "GPL") -> bytes:
    strtab = _Strtab()
    sections: list[dict] = [dict(name="", type=0, flags=0, data=b"", link=0, info=0, align=0,
                                 entsize=0)]

    def add_section(**kw) -> int:
        kw.setdefault("link", 0), kw.setdefault("info", 0), kw.setdefault("entsize", 0)
        sections.append(kw)
        return len(sections) - 1

    # --- code: entries in their sections, subprograms in .text ---------------------------
    pc_insn = [dict((pc, i) for pc, i in _iter_pcs(p.insns)) for p in progs]
    layout: list[list[_Chunk]] = []
    text = bytearray()
    text_idx = None
    prog_idx = []
    for p in progs:
        chunks = []
        for k, (name, lo, hi) in enumerate(_chunks(p)):
            if k == 0:
                idx = add_section(name=p.section, type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_EXEC,
                                  data=b"", align=8)
                prog_idx.append(idx)
                chunks.append(_Chunk(name, idx, 0, lo, hi))
            else:
                if text_idx is None:
                    text_idx = add_section(name=".text", type=SHT_PROGBITS,
                                           flags=SHF_ALLOC | SHF_EXEC, data=b"", align=8)
                chunks.append(_Chunk(name, text_idx, len(text), lo, hi))
                text += bytes(8 * (hi - lo))
        layout.append(chunks)

    data_maps = [m for m in maps if m.origin == "data"]
    plain_maps = [m for m in maps if m.origin != "data"]
    maps_data = b"".join(struct.pack("<5I", m.type, m.key_size, m.value_size, m.max_entries,
                                     m.map_flags) for m in plain_maps)
    maps_idx = add_section(name="maps", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_WRITE,
                           data=maps_data, align=4) if plain_maps else None
    data_idx = {}
    for m in data_maps:
        init = m.initial if m.initial is not None else bytes(m.value_size)
        nobits = m.name.startswith(".bss")
        flags = SHF_ALLOC | (0 if m.name.startswith(".rodata") else SHF_WRITE)
        data_idx[m.name] = add_section(name=m.name, type=SHT_NOBITS if nobits else SHT_PROGBITS,
                                       flags=flags, data=b"" if nobits else bytes(init),
                                       size=len(init), align=8)
    add_section(name="license", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_WRITE,
                data=license.encode() + b"\0", align=1)

    # --- symbols: null, section symbols, then globals ------------------------------------
    syms = [(0, 0, 0, 0, 0, 0)]  # name, info, other, shndx, value, size
    sec_sym = {}
    for i in prog_idx + ([text_idx] if text_idx else []) + list(data_idx.values()):
        sec_sym[i] = len(syms)
        syms.append((0, STT_SECTION, 0, i, 0, 0))
    first_global = len(syms)
    used_names: set[str] = set()
    for p, chunks in zip(progs, layout):
        for c in chunks:
            name = c.name if c.name not in used_names else f"{c.name}__{p.name}"
            used_names.add(name)
            c.sym = len(syms)
            syms.append((strtab.add(name), (STB_GLOBAL << 4) | STT_FUNC, 0, c.sec, c.off,
                         8 * (c.hi - c.lo)))
    map_sym = {}
    for n, m in enumerate(plain_maps):
        map_sym[m.name] = len(syms)
        syms.append((strtab.add(m.name), (STB_GLOBAL << 4) | STT_OBJECT, 0, maps_idx, 20 * n, 20))

    # --- instructions and their relocations ----------------------------------------------
    by_name = {m.name: m for m in maps}
    code = {i: bytearray() for i in prog_idx}
    rels: dict[int, list[tuple[int, int, int]]] = {}  # section -> (offset, sym, type)
    for p, chunks, insns in zip(progs, layout, pc_insn):
        start_of = {c.lo: c for c in chunks}

        for c in chunks:
            out = bytearray()
            for pc in range(c.lo, c.hi):
                insn = insns.get(pc)
                if insn is None:
                    continue
                off = c.off + 8 * (pc - c.lo)
                insn, rel = _relocate(p, pc, insn, start_of, by_name, map_sym, data_idx,
                                      sec_sym, text_idx)
                if rel is not None:
                    rels.setdefault(c.sec, []).append((off, rel[0], rel[1]))
                out += insn.encode()
            if c.sec == text_idx:
                text[c.off:c.off + len(out)] = out
            else:
                code[c.sec] += out
    for i in prog_idx:
        sections[i]["data"] = bytes(code[i])
    if text_idx is not None:
        sections[text_idx]["data"] = bytes(text)

    table, table_rel = bytearray(), bytearray()
    for p, chunks, insns in zip(progs, layout, pc_insn):
        for pc, target, key, inverse in p.sites:
            if getattr(insns.get(pc), "static", 0):
                continue  # a 2024 site: the JA's src_reg declares it, no table entry
            c, site_off = next(((c, c.off + 8 * (pc - c.lo)) for c in chunks if c.lo <= pc < c.hi),
                               (None, 0))
            if c is None or not c.lo <= target < c.hi:
                raise SkvError(f"build_object: program {p.name}: site at pc {pc} (target "
                               f"{target}) is not inside one function")
            if key not in map_sym:
                raise SkvError(f"build_object: program {p.name}: site at pc {pc} names key "
                               f"{key}, which is not among the maps")
            base = len(table)
            table += struct.pack("<IIQ", site_off, c.off + 8 * (target - c.lo), int(inverse))
            table_rel += struct.pack("<QQ", base, (sec_sym[c.sec] << 32) | R_BPF_64_NODYLD32)
            table_rel += struct.pack("<QQ", base + 4, (sec_sym[c.sec] << 32) | R_BPF_64_ABS32)
            table_rel += struct.pack("<QQ", base + 8, (map_sym[key] << 32) | R_BPF_64_ABS64)
    rel_secs = [i for i in sorted(rels) if rels[i]]
    symtab_idx = len(sections) + (2 if table else 0) + len(rel_secs)
    for i in rel_secs:
        data = b"".join(struct.pack("<QQ", off, (sym << 32) | typ)
                        for off, sym, typ in sorted(rels[i]))
        add_section(name=".rel" + sections[i]["name"], type=SHT_REL, flags=0, data=data,
                    align=8, link=symtab_idx, info=i, entsize=16)
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
    return _layout(sections)


def _iter_pcs(insns: list[Insn]):
    pc = 0
    for i in insns:
        yield pc, i
        pc += i.slots


def _relocate(p, pc, insn, start_of, by_name, map_sym, data_idx, sec_sym, text_idx):
    """The instruction as clang emits it and its relocation ``(symbol, type)`` or None."""
    if pc in p.map_refs:
        name = p.map_refs[pc]
        m = by_name.get(name)
        if m is None or not isinstance(insn, LoadImm64):
            raise SkvError(f"build_object: program {p.name}: insn {pc} refers to map {name}, "
                           + ("which is not among the maps" if m is None else
                              "but is not an ld_imm64"))
        if m.origin == "data":
            value_off = insn.imm2 if insn.src == PSEUDO_MAP_VALUE else insn.imm
            return (replace(insn, src=0, imm=value_off, imm2=0),
                    (sec_sym[data_idx[name]], R_BPF_64_64))
        return replace(insn, src=0, imm=0, imm2=0), (map_sym[name], R_BPF_64_64)
    if isinstance(insn, Call) and insn.src == 1:
        callee = start_of.get(pc + 1 + insn.imm)
        if callee is None:
            raise SkvError(f"build_object: program {p.name}: call at insn {pc} does not "
                           "target the start of a function (declare it in funcs)")
        return replace(insn, imm=-1), (callee.sym, R_BPF_64_32)
    if isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
        callee = start_of.get(pc + 1 + insn.imm)
        if callee is None or callee.sec != text_idx:
            raise SkvError(f"build_object: program {p.name}: callback ld_imm64 at insn {pc} "
                           "does not target the start of a subprogram")
        return (replace(insn, src=0, imm=callee.off, imm2=0),
                (sec_sym[text_idx], R_BPF_64_64))
    return insn, None


def _layout(sections: list[dict]) -> bytes:
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
        size = s.get("size", len(s["data"]))
        out += struct.pack("<IIQQQQIIQQ", s["name_off"], s["type"], s["flags"], 0, s["offset"],
                           size, s["link"], s["info"], s["align"], s["entsize"])
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    out[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 1, EM_BPF, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                                   len(sections), len(sections) - 1)
    return bytes(out)
