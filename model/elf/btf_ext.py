"""The ``.BTF.ext`` section: which function starts where (func info), which C source line
each instruction came from (line info), as clang emits them with ``-g``, and the CO-RE
relocation records clang leaves for libbpf.

Layout (Linux ``tools/lib/bpf/libbpf_internal.h``, ``struct btf_ext_header``): magic
``0xeb9f``, version 1, flags, ``hdr_len``, then the func-info and line-info parts' offsets
and lengths relative to the header's end; a header of 32 bytes or more also has the CO-RE
part's. Each
part is a record size followed by per-section blocks: the section's name (an offset into
``.BTF``'s strings), a record count, and the records. In an object file a record's
``insn_off`` is a byte offset in its section (libbpf turns it into an instruction index
when it links). A line record points at the file name and the source line's text in
``.BTF``'s strings; its ``line_col`` is the line number shifted left by 10 over the column.

A CO-RE record says: the instruction at byte ``insn_off`` of its section depends on a fact
about type ``type_id`` of the object's ``.BTF`` (a field's offset, size, existence, a type's
size, an enum value...) reached by the access string (``"0:1:2"``). libbpf resolves each
one against the running kernel's BTF and patches the instruction before loading
(``model.elf.core``); skv never judges a program with the compile-time values as if no
relocation were there (``model.platform.prog_types``).

Every problem is one ``BtfError`` naming the cause.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from model.elf.btf import BTF_MAGIC, FUNC, Btf, BtfError

EXT_HEADER_MIN = 24
EXT_HEADER_CORE = 32  # a header this long also has core_relo_off/len
FUNC_REC_MIN = 8   # insn_off, type_id
LINE_REC_MIN = 16  # insn_off, file_name_off, line_off, line_col
CORE_REC_MIN = 16  # insn_off, type_id, access_str_off, kind

#: enum bpf_core_relo_kind
CORE_KINDS = {0: "field_byte_offset", 1: "field_byte_size", 2: "field_exists",
              3: "field_signed", 4: "field_lshift_u64", 5: "field_rshift_u64",
              6: "type_id_local", 7: "type_id_target", 8: "type_exists", 9: "type_size",
              10: "enumval_exists", 11: "enumval_value", 12: "type_matches"}


@dataclass(frozen=True)
class SourceLine:
    file: str
    line: int
    col: int
    text: str

    def kernel_text(self) -> str:
        """How the kernel's verifier log shows it: the line's text without leading blanks,
        then `` @ `` the file's base name and the line number."""
        return f"{self.text.lstrip()} @ {self.file.rsplit('/', 1)[-1]}:{self.line}"


@dataclass(frozen=True)
class CoreRelo:
    section: str
    insn_off: int  # byte offset in the section
    type_id: int
    access: str
    kind: int

    @property
    def kind_name(self) -> str:
        return CORE_KINDS.get(self.kind, f"kind {self.kind}")


@dataclass(frozen=True)
class BtfExt:
    funcs: dict[str, dict[int, str]]          # section -> byte offset -> function name
    lines: dict[str, dict[int, SourceLine]]  # section -> byte offset -> source line
    core: dict[tuple[str, int], CoreRelo]    # (section, byte offset) -> CO-RE relocation
    #: the raw records a loader hands the kernel (``func_info``/``line_info``):
    #: section -> byte offset -> FUNC type id, and -> (file_name_off, line_off, line_col)
    func_types: dict[str, dict[int, int]] = field(default_factory=dict)
    line_recs: dict[str, dict[int, tuple[int, int, int]]] = field(default_factory=dict)


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    data = bytes(data)
    if len(data) < EXT_HEADER_MIN:
        raise BtfError(f".BTF.ext header truncated: {len(data)} bytes")
    magic, version, flags, hdr_len, f_off, f_len, l_off, l_len = struct.unpack_from(
        "<HBBIIIII", data, 0)
    if magic != BTF_MAGIC:
        raise BtfError(f".BTF.ext: bad magic 0x{magic:04x} (expected 0x{BTF_MAGIC:04x})")
    if version != 1:
        raise BtfError(f".BTF.ext: unsupported version {version}")
    if hdr_len < EXT_HEADER_MIN or hdr_len > len(data):
        raise BtfError(f".BTF.ext: bad hdr_len {hdr_len} (section is {len(data)} bytes)")
    func_recs = _blocks(data, hdr_len, f_off, f_len, FUNC_REC_MIN, 1, btf, "func info")
    funcs = {sec: {off: _func_name(btf, rec[0]) for off, rec in recs.items()}
             for sec, recs in func_recs.items()}
    line_recs = _blocks(data, hdr_len, l_off, l_len, LINE_REC_MIN, 3, btf, "line info")
    lines = {sec: {off: SourceLine(btf.string(rec[0]), rec[2] >> 10, rec[2] & 0x3FF,
                                   btf.string(rec[1]))
                   for off, rec in recs.items()}
             for sec, recs in line_recs.items()}
    core = {}
    if hdr_len >= EXT_HEADER_CORE:
        c_off, c_len = struct.unpack_from("<II", data, 24)
        for sec, recs in _blocks(data, hdr_len, c_off, c_len, CORE_REC_MIN, 3, btf,
                                 "CO-RE relocations").items():
            for off, (type_id, access, kind) in recs.items():
                core[(sec, off)] = CoreRelo(sec, off, type_id, btf.string(access), kind)
    func_types = {sec: {off: rec[0] for off, rec in recs.items()}
                  for sec, recs in func_recs.items()}
    return BtfExt(funcs, lines, core, func_types, line_recs)


def _blocks(data: bytes, hdr_len: int, off: int, length: int, rec_min: int, words: int,
            btf: Btf, what: str) -> dict[str, dict[int, tuple[int, ...]]]:
    """section name -> insn byte offset -> the record's words after ``insn_off``."""
    out: dict[str, dict[int, tuple[int, ...]]] = {}
    if length == 0:
        return out
    start, end = hdr_len + off, hdr_len + off + length
    if end > len(data) or length < 4:
        raise BtfError(f".BTF.ext: {what} [{off}, +{length}) past the end ({len(data)} bytes)")
    rec_size = struct.unpack_from("<I", data, start)[0]
    if rec_size < rec_min or rec_size % 4:
        raise BtfError(f".BTF.ext: {what} record size {rec_size} (need at least {rec_min})")
    pos = start + 4
    while pos < end:
        if pos + 8 > end:
            raise BtfError(f".BTF.ext: {what} block header truncated at byte {pos}")
        name_off, n = struct.unpack_from("<II", data, pos)
        pos += 8
        if n == 0 or pos + n * rec_size > end:
            raise BtfError(f".BTF.ext: {what} block of {n} records runs past its part")
        block = out.setdefault(btf.string(name_off), {})
        for _ in range(n):
            insn_off, *rest = struct.unpack_from(f"<{1 + words}I", data, pos)
            if insn_off % 8:
                raise BtfError(f".BTF.ext: {what} at byte offset {insn_off}, not an "
                               "instruction boundary")
            block[insn_off] = tuple(rest)
            pos += rec_size
    return out


def _func_name(btf: Btf, type_id: int) -> str:
    t = btf.type(type_id)
    if t.kind != FUNC:
        raise BtfError(f".BTF.ext: func info names type [{type_id}] {t.kind_name}, not a FUNC")
    return t.name
