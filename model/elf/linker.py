"""Functions of an object and how libbpf links them into programs.

Every executable section is decoded once and cut into functions by its ``STT_FUNC``
symbols. A program is an entry function (one in a section other than ``.text``) with every
subprogram it reaches appended, in the order libbpf appends them: scanning the growing
instruction array front to back, a callee is appended the first time a call or callback
reference to it is met. Calls and callback references are then made relative to the
linked program; map and global-data references become ``MapRef``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from model.elf.reader import (R_BPF_64_32, R_BPF_64_64, SHN_UNDEF, STB_LOCAL, STT_FUNC,
                              STT_SECTION, ElfImage, Reloc, Section)
from model.errors import IsaError
from model.isa import Call, Insn, LoadImm64, decode
from model.program import (PSEUDO_BTF_ID, PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, MapDef, MapRef,
                           Program)

#: compiler builtins clang emits as calls when it cannot inline them (BPF has no libc)
_BUILTIN_HINT = {n: f" (clang could not inline __builtin_{n}: BPF has no {n}; no loader can "
                    "link it)" for n in ("memset", "memcpy", "memmove", "memcmp", "bcmp")}

MAX_PROGRAM_SLOTS = 1_000_000  # BPF_COMPLEXITY_LIMIT_INSNS: the kernel refuses larger programs


@dataclass
class Func:
    name: str
    section: Section
    start: int  # byte offset in its section
    insns: list[Insn]
    offsets: list[int]  # byte offset (in the section) of each insn
    entry: bool
    is_global: bool = True
    end: int = field(init=False)  # byte offset just past the function
    index_at: dict[int, int] = field(init=False, repr=False)  # byte offset -> insn index

    def __post_init__(self) -> None:
        self.end = self.start + 8 * sum(i.slots for i in self.insns)
        self.index_at = {off: k for k, off in enumerate(self.offsets)}

    def insn_at(self, off: int) -> Insn | None:
        k = self.index_at.get(off)
        return None if k is None else self.insns[k]

    def contains(self, section_index: int, off: int) -> bool:
        return self.section.index == section_index and self.start <= off < self.end


@dataclass
class Placement:
    func: Func
    start_pc: int


@dataclass
class Linked:
    program: Program
    placements: list[Placement] = field(default_factory=list)


def read_functions(image: ElfImage) -> list[Func]:
    """Decode every executable section and cut it into functions."""
    funcs: list[Func] = []
    for sec in image.sections:
        if not sec.executable or sec.size == 0:
            continue
        if sec.size % 8:
            raise image.fail(f"section {sec.name}: size {sec.size} is not a multiple of 8")
        try:
            insns = decode(sec.data)
        except IsaError as e:
            raise image.fail(f"section {sec.name}: {e}") from None
        offsets, off = [], 0
        for i in insns:
            offsets.append(off)
            off += 8 * i.slots
        funcs.extend(_cut(image, sec, insns, offsets))
    return funcs


def _cut(image: ElfImage, sec: Section, insns: list[Insn], offsets: list[int]) -> list[Func]:
    syms = sorted((s for s in image.symbols_in(sec.index) if s.type == STT_FUNC),
                  key=lambda s: s.value)
    entry = sec.name != ".text"
    if not syms:  # hand-written code without function symbols: the section is one function
        return [Func(sec.name, sec, 0, insns, offsets, entry)]
    index_of = {o: k for k, o in enumerate(offsets)}
    out = []
    for n, s in enumerate(syms):
        end = syms[n + 1].value if n + 1 < len(syms) else sec.size
        if s.size and s.value + s.size < end:
            # libbpf takes st_size: code after it (e.g. a weak function a linked object
            # overrode) belongs to no function
            end = s.value + s.size
        if s.size and s.value + s.size > sec.size:
            raise image.fail(f"function {s.name} (offset {s.value}, size {s.size}) runs past the "
                             f"end of section {sec.name} ({sec.size} bytes)")
        if s.value not in index_of:
            raise image.fail(f"function {s.name} starts at offset {s.value} in {sec.name}, "
                             "which is not an instruction boundary")
        if end not in index_of and end != sec.size:
            raise image.fail(f"function {s.name} in {sec.name} ends inside an instruction")
        if end == s.value:
            raise image.fail(f"functions {s.name} and {syms[n + 1].name} share offset {s.value}")
        a, b = index_of[s.value], index_of.get(end, len(insns))
        out.append(Func(s.name, sec, s.value, insns[a:b], offsets[a:b], entry,
                        is_global=s.bind != STB_LOCAL))
    return out


class Linker:
    def __init__(self, image: ElfImage, funcs: list[Func], maps: dict[str, MapDef],
                 core_relos: dict | None = None, ksyms: frozenset = frozenset()):
        self.image = image
        self.ksyms = ksyms  # __ksym externs: kernel functions (kfuncs) and variables
        self.core_relos = core_relos or {}  # (section, byte offset) -> CoreRelo
        self.funcs = funcs
        self.maps = maps
        self.map_by_symbol = self._index_map_symbols()

    def _index_map_symbols(self) -> dict[tuple[int, int], str]:
        """(section index, offset) -> map name, for BTF and legacy map definitions."""
        out = {}
        for m in self.maps.values():
            if m.origin == "data":
                continue
            sec = self.image.section(m.section)
            if sec is not None:
                out[(sec.index, m.offset)] = m.name
        return out

    def func_at(self, section_index: int, off: int) -> Func | None:
        for f in self.funcs:
            if f.section.index == section_index and f.start == off:
                return f
        return None

    def link(self, entry: Func) -> Linked:
        insns: list[Insn] = []
        refs: dict[int, MapRef] = {}
        core: dict = {}  # pc -> CoreRelo
        ksyms: dict[int, str] = {}  # pc -> __ksym extern name
        placed: dict[int, int] = {}  # id(func) -> start pc
        placements: list[Placement] = []
        fixups: list[tuple[int, int, Func, int]] = []  # (list index, pc, callee, slot in it)
        slots = 0

        def place(func: Func) -> int:
            nonlocal slots
            start = slots
            placed[id(func)] = start
            placements.append(Placement(func, start))
            relocs = {r.offset: r for r in self.image.relocs.get(func.section.index, [])}
            for insn, off in zip(func.insns, func.offsets):
                pc = slots
                rel = relocs.get(off)
                insn, ref, callee = self._relocate(func, insn, off, rel)
                if rel is not None and rel.symbol.shndx == SHN_UNDEF and \
                        rel.symbol.name in self.ksyms:
                    ksyms[pc] = rel.symbol.name
                if ref is not None:
                    refs[pc] = replace(ref, pc=pc)
                relo = self.core_relos.get((func.section.name, off))
                if relo is not None:
                    core[pc] = relo
                if callee is not None:
                    fixups.append((len(insns), pc, *callee))
                insns.append(insn)
                slots += insn.slots
                if slots > MAX_PROGRAM_SLOTS:
                    raise self.image.fail(f"program {entry.name} has more than {MAX_PROGRAM_SLOTS} "
                                          "instructions, the kernel's limit")
            return start

        place(entry)
        k = 0
        while k < len(fixups):
            idx, pc, callee, slot = fixups[k]
            k += 1
            start = placed.get(id(callee))
            if start is None:
                start = place(callee)
            insns[idx] = replace(insns[idx], imm=start + slot - (pc + 1))

        prog = Program(name=entry.name, section=entry.section.name, insns=insns, map_refs=refs)
        prog.core_relos = core
        prog.ksyms = ksyms
        prog.func_starts = {p.func.name: p.start_pc for p in placements}
        prog.subprogs = {p.start_pc: p.func.name for p in placements[1:]}
        return Linked(prog, placements)

    def _relocate(self, func: Func, insn: Insn, off: int, rel: Reloc | None):
        """Apply the relocation at ``off`` (if any); return (insn, map ref, callee)."""
        sec = func.section
        where = f"{sec.name}+{off:#x} (function {func.name})"
        if isinstance(insn, Call) and insn.src == 1:
            if rel is None:  # a call inside one section, resolved by the assembler
                return insn, None, self._callee(sec.index, off + 8 * (insn.imm + 1), where)
            if rel.type != R_BPF_64_32:
                raise self.image.fail(f"{where}: call relocated with {rel.type_name}")
            sym = rel.symbol
            if sym.shndx == SHN_UNDEF and sym.name in self.ksyms:
                # a kfunc: libbpf makes it a BPF_PSEUDO_KFUNC_CALL to its vmlinux BTF id
                return replace(insn, src=2, imm=0), None, None
            if sym.shndx == SHN_UNDEF:
                raise self.image.fail(f"{where}: call to undefined function {sym.name}"
                                      + _BUILTIN_HINT.get(sym.name, ""))
            return insn, None, self._callee(sym.shndx, sym.value + 8 * (insn.imm + 1), where)
        if rel is None:
            if isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
                return insn, None, self._callee(sec.index, off + 8 * (insn.imm + 1), where)
            return insn, None, None
        if not isinstance(insn, LoadImm64):
            raise self.image.fail(f"{where}: relocation {rel.type_name} on an instruction "
                                  f"that is not ld_imm64 or call (opcode {insn.opcode:#04x})")
        if rel.type != R_BPF_64_64:
            raise self.image.fail(f"{where}: ld_imm64 relocated with {rel.type_name}")
        return self._relocate_ldimm(insn, rel, where)

    def _relocate_ldimm(self, insn: LoadImm64, rel: Reloc, where: str):
        sym = rel.symbol
        kconfig = self.maps.get(".kconfig")
        if sym.shndx == SHN_UNDEF and kconfig is not None and sym.name in kconfig.externs:
            value_off = kconfig.externs[sym.name] + insn.imm
            new = replace(insn, src=PSEUDO_MAP_VALUE, imm=0, imm2=value_off)
            return new, MapRef(0, kconfig.name, value_off), None
        if sym.shndx == SHN_UNDEF and sym.name in self.ksyms:
            # a __ksym variable: libbpf makes it a BPF_PSEUDO_BTF_ID load
            return replace(insn, src=PSEUDO_BTF_ID, imm=0, imm2=0), None, None
        if sym.shndx == SHN_UNDEF:
            raise self.image.fail(f"{where}: relocation against undefined symbol {sym.name} "
                                  "(__ksym externs are not supported)")
        target = self.image.section_at(sym.shndx)
        if target is None:
            raise self.image.fail(f"{where}: relocation against symbol {sym.name} in section "
                                  f"index {sym.shndx}, which does not exist")
        if target.executable:  # a callback: ld_imm64 of a function's address
            callee = self._callee(sym.shndx, sym.value + insn.imm, where)
            return replace(insn, src=PSEUDO_FUNC, imm2=0), None, callee
        # older clang relocates against the section symbol, the map's offset in the imm
        key = (sym.shndx, sym.value + (insn.imm if sym.type == STT_SECTION else 0))
        if key in self.map_by_symbol:
            name = self.map_by_symbol[key]
            return replace(insn, src=PSEUDO_MAP_FD, imm=0, imm2=0), MapRef(0, name), None
        if target.name in self.maps and self.maps[target.name].origin == "data":
            value_off = sym.value + insn.imm if sym.type != STT_SECTION else insn.imm
            if not 0 <= value_off <= target.size:
                raise self.image.fail(f"{where}: reference to {target.name}+{value_off} is "
                                      f"outside the section ({target.size} bytes)")
            new = replace(insn, src=PSEUDO_MAP_VALUE, imm=0, imm2=value_off)
            return new, MapRef(0, target.name, value_off), None
        raise self.image.fail(f"{where}: relocation against {sym.name or '?'} in section "
                              f"{target.name}, which is neither a map nor global data")

    def _callee(self, section_index: int, off: int, where: str) -> tuple[Func, int]:
        """The function a call or callback reference lands in, and the slot inside it. Like
        libbpf, a target inside a function (not at its start) is kept: the kernel's
        verifier then judges the program (it starts a subprogram there)."""
        f = self.func_at(section_index, off)
        if f is None:
            f = next((g for g in self.funcs if g.contains(section_index, off)), None)
            if f is not None and (off - f.start) % 8 == 0:
                return f, (off - f.start) // 8
        if f is None:
            sec = self.image.section_at(section_index)
            name = sec.name if sec else f"#{section_index}"
            raise self.image.fail(f"{where}: call or callback target {name}+{off:#x} is not "
                                  "inside a function")
        return f, 0
