"""Static branch tables of the three proposed designs, checked as the kernel checks them.

- 2023: ``.jump_table`` (+ ``.rel.jump_table``): 16-byte entries ``u32 site, u32 target,
  u64 key`` whose fields are relocated against the program section (site, target) and the
  key map (key); bit 0 of the key field's in-place value is the inverse flag.
- 2025 RFC: the same entries in a section named ``.static_keys``.
- 2024: no table; a ``gotol`` (JMP32 JA) whose ``src_reg`` carries
  ``BPF_STATIC_BRANCH_JA`` (1, and ``BPF_STATIC_BRANCH_NOP`` = 2 when it starts as a
  no-op) is a site: ``nop_or_gotol`` (src 3) and ``gotol_or_nop`` (src 1). That design
  toggles each instruction on its own, so each site gets its own synthetic key
  ``<function>@pc<N>``. As with the 2023 macros, the form an instruction is loaded in is its
  "off" state: src 3 (starts as a nop) is a normal site, src 1 (starts as a jump) inverse.

Declarations are in section byte offsets; ``place_sites`` turns them into ``Site``s of each
linked program that contains them (a site in a subprogram appears in every program that
appends the subprogram, each time at that program's pc).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from model.elf.linker import Func, Linked
from model.elf.reader import (R_BPF_64_ABS32, R_BPF_64_ABS64, R_BPF_64_NODYLD32, SHT_NOBITS,
                              ElfImage, Reloc, Section)
from model.isa import Jump
from model.program import BPF_F_STATIC_KEY, MapDef, Site

ENTRY_SIZE = 16
TABLES = {".jump_table": "2023", ".static_keys": "2025"}
OFFSET_RELOCS = (R_BPF_64_NODYLD32, R_BPF_64_ABS32)
STATIC_JA = 1
STATIC_NOP = 2


@dataclass(frozen=True)
class SiteDecl:
    section: int  # index of the program section holding the site
    site_off: int  # byte offsets within that section
    target_off: int
    key: str
    inverse: bool
    design: str
    origin: str


def read_site_decls(image: ElfImage, funcs: list[Func], maps: dict[str, MapDef]) -> list[SiteDecl]:
    decls: list[SiteDecl] = []
    for name, design in TABLES.items():
        sec = image.section(name)
        if sec is not None:
            decls.extend(_read_table(image, sec, design, funcs, maps))
    decls.extend(_read_2024_sites(funcs))
    seen: dict[tuple[int, int], SiteDecl] = {}
    for d in decls:
        prev = seen.get((d.section, d.site_off))
        if prev is not None:
            sec = image.sections[d.section].name
            raise image.fail(f"{d.origin}: site {sec}+{d.site_off:#x} is already declared by "
                             f"{prev.origin}")
        seen[(d.section, d.site_off)] = d
    return decls


def _read_table(image: ElfImage, sec: Section, design: str, funcs: list[Func],
                maps: dict[str, MapDef]) -> list[SiteDecl]:
    if sec.type == SHT_NOBITS and sec.size:
        raise image.fail(f"section {sec.name}: SHT_NOBITS (no entries in the file) for a "
                         "static branch table")
    if sec.size % ENTRY_SIZE:
        raise image.fail(f"section {sec.name}: size {sec.size} is not a multiple of "
                         f"{ENTRY_SIZE} (one entry is u32 site, u32 target, u64 key)")
    relocs = {r.offset: r for r in image.relocs.get(sec.index, [])}
    if sec.size and not relocs:
        raise image.fail(f"section {sec.name}: has entries but no relocations "
                         f"(.rel{sec.name} is missing)")
    out = []
    for e in range(sec.size // ENTRY_SIZE):
        base = e * ENTRY_SIZE
        where = f"{sec.name} entry {e}"
        site_raw, target_raw, key_raw = struct.unpack_from("<IIQ", sec.data, base)
        r_site = _reloc(image, relocs, base, OFFSET_RELOCS, where, "site")
        r_target = _reloc(image, relocs, base + 4, OFFSET_RELOCS, where, "target")
        r_key = _reloc(image, relocs, base + 8, (R_BPF_64_ABS64,), where, "key")
        code = _code_section(image, r_site, where, "site")
        if _code_section(image, r_target, where, "target") is not code:
            raise image.fail(f"{where}: site and target are in different sections "
                             f"({code.name} and {image.sections[r_target.symbol.shndx].name})")
        site = r_site.symbol.value + site_raw
        target = r_target.symbol.value + target_raw
        flags = key_raw
        if flags not in (0, 1):
            raise image.fail(f"{where}: flags {flags:#x} in the key field (only 0 and "
                             "1 = inverse are allowed)")
        key = _key_map(image, r_key, maps, where, design)
        for what, off in (("site", site), ("target", target)):
            if off % 8:
                raise image.fail(f"{where}: {what} offset {off:#x} is not a multiple of 8")
            if not 0 <= off < code.size:
                raise image.fail(f"{where}: {what} offset {off:#x} is outside {code.name} "
                                 f"({code.size} bytes)")
        func = _func_containing(funcs, code.index, site)
        decl = SiteDecl(code.index, site, target, key, bool(flags), design, where)
        _check_site_insn(image, func, decl)
        out.append(decl)
    return out


def _reloc(image: ElfImage, relocs: dict[int, Reloc], off: int, types: tuple[int, ...],
           where: str, field: str) -> Reloc:
    r = relocs.get(off)
    if r is None:
        raise image.fail(f"{where}: the {field} field (offset {off}) has no relocation")
    if r.type not in types:
        raise image.fail(f"{where}: the {field} field is relocated with {r.type_name}")
    return r


def _code_section(image: ElfImage, r: Reloc, where: str, field: str) -> Section:
    sec = image.section_at(r.symbol.shndx)
    if sec is None or not sec.executable:
        name = sec.name if sec else f"index {r.symbol.shndx}"
        raise image.fail(f"{where}: the {field} points into {name}, which holds no code")
    return sec


def _key_map(image: ElfImage, r: Reloc, maps: dict[str, MapDef], where: str,
             design: str) -> str:
    name = r.symbol.name
    m = maps.get(name)
    if m is None or m.origin == "data":
        raise image.fail(f"{where}: key symbol {name or '?'} is not a map")
    if design == "2025":
        if not m.is_insn_set_key:
            raise image.fail(f"{where}: map {name} is not a 2025 static key (an INSN_SET map, "
                             f"type 34, with BPF_F_STATIC_KEY in map_extra; it has type "
                             f"{m.type}, map_extra {m.map_extra:#x})")
        return name
    if not m.map_flags & BPF_F_STATIC_KEY:
        raise image.fail(f"{where}: map {name} is not a static key (BPF_F_STATIC_KEY, "
                         f"1 << 15, is not in its map_flags {m.map_flags:#x})")
    if not m.has_key_shape:
        raise image.fail(f"{where}: static key {name} has type {m.type}, key_size {m.key_size}, "
                         f"value_size {m.value_size}, max_entries {m.max_entries}; a static "
                         "key must be an ARRAY with key 4, value 4, max_entries 1")
    return name


def _func_containing(funcs: list[Func], section: int, off: int) -> Func | None:
    for f in funcs:
        if f.contains(section, off):
            return f
    return None


def _check_site_insn(image: ElfImage, func: Func | None, d: SiteDecl) -> None:
    sec = image.sections[d.section].name
    if func is None:
        raise image.fail(f"{d.origin}: site {sec}+{d.site_off:#x} is in no function")
    if not func.contains(d.section, d.target_off):
        raise image.fail(f"{d.origin}: target {sec}+{d.target_off:#x} is outside function "
                         f"{func.name}, which holds the site")
    insn = func.insn_at(d.site_off)
    if insn is None:
        raise image.fail(f"{d.origin}: site {sec}+{d.site_off:#x} is inside an ld_imm64")
    if func.insn_at(d.target_off) is None:
        raise image.fail(f"{d.origin}: target {sec}+{d.target_off:#x} is inside an ld_imm64")
    if not (isinstance(insn, Jump) and insn.cond == "ja"):
        raise image.fail(f"{d.origin}: site {sec}+{d.site_off:#x} is not a JA instruction "
                         f"(opcode {insn.opcode:#04x})")
    if insn.static:
        raise image.fail(f"{d.origin}: site {sec}+{d.site_off:#x} also carries 2024 static "
                         f"flags (src_reg {insn.static})")
    expect = (d.target_off - d.site_off) // 8 - 1
    if not d.inverse and insn.delta != 0:
        raise image.fail(f"{d.origin}: normal site {sec}+{d.site_off:#x} must be 'goto +0', "
                         f"found 'goto {insn.delta:+d}'")
    if d.inverse and insn.delta != expect:
        raise image.fail(f"{d.origin}: inverse site {sec}+{d.site_off:#x} jumps {insn.delta:+d} "
                         f"but its target {d.target_off:#x} needs {expect:+d}")


def _read_2024_sites(funcs: list[Func]) -> list[SiteDecl]:
    out = []
    for f in funcs:
        for insn, off in zip(f.insns, f.offsets):
            if isinstance(insn, Jump) and insn.cond == "ja" and insn.static:
                target = off + 8 * (insn.delta + 1)
                key = f"{f.name}@pc{(off - f.start) // 8}"
                out.append(SiteDecl(f.section.index, off, target, key,
                                    inverse=not insn.static & STATIC_NOP, design="2024",
                                    origin=f"{f.section.name}+{off:#x} (2024 static JA)"))
    return out


def place_sites(image: ElfImage, linked: Linked, decls: list[SiteDecl], first_id: int) -> list[Site]:
    """The sites of one linked program, numbered from ``first_id``."""
    found = []
    for p in linked.placements:
        f = p.func
        for d in decls:
            if not f.contains(d.section, d.site_off):
                continue
            if not f.contains(d.section, d.target_off):
                raise image.fail(f"{d.origin}: target is outside function {f.name}")
            pc = p.start_pc + (d.site_off - f.start) // 8
            target = p.start_pc + (d.target_off - f.start) // 8
            found.append((pc, target, d))
    found.sort(key=lambda t: t[0])
    return [Site(first_id + n, linked.program.name, pc, target, d.key, d.inverse, d.design,
                 d.origin) for n, (pc, target, d) in enumerate(found)]
