"""``.BTF.ext``: the CO-RE relocation records clang leaves for libbpf.

A record says: the instruction at byte ``insn_off`` of section ``section`` depends on a
fact about type ``type_id`` of the object's ``.BTF`` (a field's offset, size, existence, a
type's size, an enum value...) reached by the access string (``"0:1:2"``). libbpf resolves
each one against the running kernel's BTF and patches the instruction before loading.
skv reads them so that a program is never judged with the compile-time values as if no
relocation were there (see ``model.platform.prog_types``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from model.elf.btf import BTF_MAGIC as BTF_EXT_MAGIC
from model.errors import SkvError

_HDR = "<HBBIIIII"  # magic, version, flags, hdr_len, func_info off/len, line_info off/len
_HDR_CORE = 32  # a header this long also has core_relo_off/len

#: enum bpf_core_relo_kind
CORE_KINDS = {0: "field_byte_offset", 1: "field_byte_size", 2: "field_exists",
              3: "field_signed", 4: "field_lshift_u64", 5: "field_rshift_u64",
              6: "type_id_local", 7: "type_id_target", 8: "type_exists", 9: "type_size",
              10: "enumval_exists", 11: "enumval_value", 12: "type_matches"}


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


def read_core_relos(data: bytes, strings: bytes) -> list[CoreRelo]:
    """The CO-RE relocation records of a ``.BTF.ext`` blob (``strings``: the ``.BTF``
    string table its names index). ``SkvError`` for a malformed blob."""
    if len(data) < 24:
        raise SkvError(f".BTF.ext: header truncated ({len(data)} bytes)")
    magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
    if magic != BTF_EXT_MAGIC:
        raise SkvError(f".BTF.ext: bad magic {magic:#06x}")
    if version != 1:
        raise SkvError(f".BTF.ext: unsupported version {version}")
    if hdr_len < _HDR_CORE or hdr_len > len(data):
        return []  # no CO-RE part
    core_off, core_len = struct.unpack_from("<II", data, 24)
    start, end = hdr_len + core_off, hdr_len + core_off + core_len
    if core_len == 0:
        return []
    if end > len(data) or core_len < 4:
        raise SkvError(".BTF.ext: CO-RE relocation section runs past the end")

    def name(off: int) -> str:
        if off >= len(strings):
            raise SkvError(f".BTF.ext: string offset {off} is outside .BTF's strings")
        return strings[off:strings.find(b"\0", off)].decode("utf-8", "replace")

    rec_size = struct.unpack_from("<I", data, start)[0]
    if rec_size < 16:
        raise SkvError(f".BTF.ext: CO-RE record size {rec_size} is below 16")
    pos, out = start + 4, []
    while pos < end:
        if pos + 8 > end:
            raise SkvError(".BTF.ext: truncated CO-RE section header")
        sec_off, num = struct.unpack_from("<II", data, pos)
        pos += 8
        if pos + num * rec_size > end:
            raise SkvError(".BTF.ext: CO-RE records run past the end")
        sec = name(sec_off)
        for _ in range(num):
            insn_off, type_id, access_off, kind = struct.unpack_from("<4I", data, pos)
            out.append(CoreRelo(sec, insn_off, type_id, name(access_off), kind))
            pos += rec_size
    return out


def btf_strings(btf: bytes) -> bytes:
    """The string table of a raw ``.BTF`` blob (its header only is read)."""
    if len(btf) < 24:
        raise SkvError(f".BTF: header truncated ({len(btf)} bytes)")
    hdr_len, _t_off, _t_len, str_off, str_len = struct.unpack_from("<5I", btf, 4)
    start = hdr_len + str_off
    if start + str_len > len(btf):
        raise SkvError(".BTF: string section runs past the end")
    return btf[start:start + str_len]


def object_core_relos(btf: bytes | None, ext: bytes | None) -> dict[tuple[str, int], CoreRelo]:
    """(section, byte offset) -> the CO-RE relocation of that instruction."""
    if not ext:
        return {}
    if btf is None:
        raise SkvError(".BTF.ext without .BTF")
    return {(r.section, r.insn_off): r for r in read_core_relos(ext, btf_strings(btf))}
