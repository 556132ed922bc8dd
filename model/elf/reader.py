"""Read an ELF file into plain, checked data: sections, symbols, relocations.

This is the only module that touches pyelftools. Everything it returns is ordinary Python
data whose consistency has been checked (section data as long as the header says, symbol
and relocation indices in range), so the layers above never see a pyelftools exception:
any problem becomes a ``LoadError`` naming the file and the cause.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from model.errors import LoadError

EM_NONE = 0
EM_BPF = 247
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_NOBITS = 8
SHT_REL = 9
SHT_RELA = 4
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
STT_NOTYPE = 0
STT_SECTION = 3
STT_FUNC = 2
STT_OBJECT = 1
STB_LOCAL = 0
STB_WEAK = 2

# R_BPF_* relocation types (LLVM's BPF ELF relocations)
R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10
RELOC_NAMES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}

MAX_OBJECT_BYTES = 256 << 20  # refuse absurdly large inputs instead of exhausting memory
MAX_NOBITS_BYTES = 64 << 20  # a .bss larger than this is damage, not data
MACHINE_NAMES = {0: "EM_NONE", 3: "EM_386", 40: "EM_ARM", 62: "EM_X86_64", 183: "EM_AARCH64",
                 243: "EM_RISCV", 247: "EM_BPF"}


@dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    data: bytes
    size: int
    link: int
    info: int
    addralign: int
    offset: int = 0  # sh_offset: where the data sits in the file

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR) and self.type == SHT_PROGBITS


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int  # section index (or SHN_* special value)
    other: int = 0  # st_other: the visibility (STV_*) in its low 2 bits


@dataclass(frozen=True)
class Reloc:
    offset: int
    type: int
    symbol: Symbol

    @property
    def type_name(self) -> str:
        return RELOC_NAMES.get(self.type, f"type {self.type}")


@dataclass
class ElfImage:
    path: str
    machine: int
    sections: list[Section]
    symbols: list[Symbol]
    relocs: dict[int, list[Reloc]] = field(default_factory=dict)  # target section index -> relocs

    def section(self, name: str) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_at(self, index: int) -> Section | None:
        if 0 <= index < len(self.sections):
            return self.sections[index]
        return None

    def symbols_in(self, shndx: int) -> list[Symbol]:
        return [s for s in self.symbols if s.shndx == shndx]

    def fail(self, cause: str) -> LoadError:
        return LoadError(self.path, cause)


def read_elf(path: str) -> ElfImage:
    """Read and check ``path``; raise ``LoadError`` for anything that is not a sane BPF ELF."""
    if not os.path.exists(path):
        raise LoadError(path, "no such file")
    if not os.path.isfile(path):
        raise LoadError(path, "not a regular file")
    try:
        size = os.path.getsize(path)
        if size > MAX_OBJECT_BYTES:
            raise LoadError(path, f"file is {size} bytes, over the {MAX_OBJECT_BYTES} byte limit")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise LoadError(path, f"cannot read: {e.strerror or e}") from None
    return parse_elf(raw, path)


def parse_elf(raw: bytes, path: str = "<bytes>") -> ElfImage:
    if len(raw) < 16 or raw[:4] != b"\x7fELF":
        raise LoadError(path, "not an ELF file (bad magic)")
    if raw[4] != 2:
        raise LoadError(path, "not a 64-bit ELF (EI_CLASS is not ELFCLASS64)")
    if raw[5] != 1:
        raise LoadError(path, "not a little-endian ELF (BPF objects here are little-endian)")
    if len(raw) < 64:
        raise LoadError(path, f"truncated ELF header ({len(raw)} bytes, need 64)")
    try:
        return _parse(raw, path)
    except LoadError:
        raise
    except RecursionError:
        raise LoadError(path, "malformed ELF: structure too deeply nested") from None
    except Exception as e:  # pyelftools raises many types on damaged input; name it, no traceback
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LoadError(path, f"malformed ELF: {msg}") from None


def _parse(raw: bytes, path: str) -> ElfImage:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(raw))
    mname = elf.header["e_machine"]
    machine = mname if isinstance(mname, int) else _machine_number(mname)
    if machine not in (EM_BPF, EM_NONE):
        shown = MACHINE_NAMES.get(machine, mname)
        raise LoadError(path, f"not a BPF object (e_machine {shown})")
    if elf.header["e_type"] not in ("ET_REL", 1):
        raise LoadError(path, f"not a relocatable object (e_type {elf.header['e_type']})")

    n = elf.num_sections()
    if n == 0:
        raise LoadError(path, "no section headers")
    if n > 65536:
        raise LoadError(path, f"{n} section headers is implausible")
    sections: list[Section] = []
    for i in range(n):
        sh = elf._get_section_header(i)
        stype = _num(sh["sh_type"], _SHT)
        size = sh["sh_size"]
        if stype == SHT_NOBITS or i == 0:
            if size > MAX_NOBITS_BYTES:
                raise LoadError(path, f"section {_safe_name(elf, sh) or i}: size {size} is over "
                                      f"the {MAX_NOBITS_BYTES} byte limit")
            data = b""
        else:
            off = sh["sh_offset"]
            if off + size > len(raw):
                name = _safe_name(elf, sh)
                raise LoadError(path, f"section {name or i} extends past end of file "
                                      f"(offset {off} + size {size} > {len(raw)})")
            data = raw[off:off + size]
        sections.append(Section(i, _safe_name(elf, sh), stype, sh["sh_flags"], data, size,
                                sh["sh_link"], sh["sh_info"], sh["sh_addralign"],
                                sh["sh_offset"]))

    symbols = _read_symbols(raw, path, sections)
    image = ElfImage(path, machine, sections, symbols)
    for sec in sections:
        if sec.type == SHT_RELA:
            raise LoadError(path, f"section {sec.name}: RELA relocations are not used by BPF")
        if sec.type != SHT_REL:
            continue
        if not 0 < sec.info < len(sections):
            raise LoadError(path, f"section {sec.name}: relocates section index {sec.info}, "
                                  "which does not exist")
        image.relocs.setdefault(sec.info, []).extend(_read_rels(path, sec, symbols))
    return image


_SHT = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
        "SHT_NOBITS": 8, "SHT_REL": 9}


def _num(v, table: dict[str, int]) -> int:
    if isinstance(v, int):
        return v
    return table.get(v, -1)


def _machine_number(name: str) -> int:
    for k, v in MACHINE_NAMES.items():
        if v == name:
            return k
    return -1  # some other architecture


def _safe_name(elf, sh) -> str:
    try:
        return elf._get_section_name(sh)
    except Exception:
        return f"#{sh['sh_name']}"


def _cstr(blob: bytes, off: int) -> str:
    if not 0 <= off < len(blob) + (1 if off == 0 else 0):
        raise ValueError(f"string offset {off} outside string table")
    end = blob.find(b"\0", off)
    return blob[off:end if end >= 0 else len(blob)].decode("utf-8", "replace")


def _read_symbols(raw: bytes, path: str, sections: list[Section]) -> list[Symbol]:
    import struct

    symtabs = [s for s in sections if s.type == SHT_SYMTAB]
    if not symtabs:
        raise LoadError(path, "no symbol table (.symtab)")
    if len(symtabs) > 1:
        raise LoadError(path, "more than one symbol table")
    st = symtabs[0]
    if not 0 < st.link < len(sections):
        raise LoadError(path, f"symbol table names string table index {st.link}, which does not exist")
    strtab = sections[st.link].data
    if len(st.data) % 24:
        raise LoadError(path, f".symtab size {len(st.data)} is not a multiple of 24")
    out = []
    for i in range(len(st.data) // 24):
        name_off, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", st.data, i * 24)
        try:
            name = _cstr(strtab, name_off)
        except ValueError:
            raise LoadError(path, f"symbol {i}: name offset {name_off} outside the string table") from None
        stype, bind = info & 0xF, info >> 4
        if stype == STT_SECTION and not name and 0 < shndx < len(sections):
            name = sections[shndx].name
        out.append(Symbol(i, name, value, size, stype, bind, shndx, other))
    return out


def _read_rels(path: str, sec: Section, symbols: list[Symbol]) -> list[Reloc]:
    import struct

    if len(sec.data) % 16:
        raise LoadError(path, f"section {sec.name}: size {len(sec.data)} is not a multiple of 16")
    out = []
    for i in range(len(sec.data) // 16):
        off, info = struct.unpack_from("<QQ", sec.data, i * 16)
        sym, rtype = info >> 32, info & 0xFFFFFFFF
        if sym >= len(symbols):
            raise LoadError(path, f"section {sec.name}: relocation {i} names symbol {sym}, "
                                  f"but there are {len(symbols)}")
        out.append(Reloc(off, rtype, symbols[sym]))
    return out
