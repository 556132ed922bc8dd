"""The ``.BTF`` section of a BPF object, as clang-19 emits it.

Layout (Linux ``include/uapi/linux/btf.h``): a header (magic ``0xeb9f``, version 1, flags,
``hdr_len``, then the type and string sections' offsets/lengths relative to the header's
end), the type section (a sequence of ``struct btf_type`` records, each followed by
kind-specific data), and the string section (NUL-terminated names; offset 0 is ``""``).

Only little-endian BTF is accepted (BPF objects built with ``-target bpf`` on x86 are
``bpfel``). Every problem is one ``BtfError`` line naming the cause; no ``IndexError`` or
``struct.error`` escapes.

``btf_map_defs`` reads map definitions from the ``.maps`` DATASEC following libbpf's
conventions: ``__uint(name, N)`` is a member ``int (*name)[N]`` (N = the array's
``nelems``) and ``__type(name, T)`` is a member ``T *name`` (the size of ``T``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from model.errors import SkvError
from model.platform.value_fields import KPTR_TAGS, SPECIAL_STRUCTS, kptr_kind

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER_MIN = 24

KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
              "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
              "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64")
(UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC,
 FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = range(20)

# kinds whose third word is a size, and kinds whose third word is a type id
SIZED = {INT, STRUCT, UNION, ENUM, DATASEC, FLOAT, ENUM64}
REFERS = {PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DECL_TAG, TYPE_TAG}
MODIFIERS = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}

VAR_STATIC, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN = 0, 1, 2
POINTER_SIZE = 8  # BPF is a 64-bit target


class BtfError(SkvError):
    """Malformed or unsupported BTF (one line naming the cause)."""


@dataclass(frozen=True)
class BtfMember:
    """A struct/union member. ``offset`` is the raw word: with the parent's ``kind_flag``
    set, bits 0-23 are the bit offset and bits 24-31 the bitfield size."""

    name: str
    type: int
    offset: int

    def bit_offset(self, kind_flag: bool) -> int:
        return self.offset & 0xFFFFFF if kind_flag else self.offset


@dataclass(frozen=True)
class BtfEnumValue:
    name: str
    value: int  # signed when the type's kind_flag is set, else unsigned


@dataclass(frozen=True)
class BtfParam:
    name: str
    type: int  # 0 with an empty name: the variadic "..." marker


@dataclass(frozen=True)
class BtfVarSecinfo:
    type: int  # a VAR (or FUNC for extern ksyms)
    offset: int
    size: int


@dataclass(frozen=True)
class BtfArray:
    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True)
class BtfType:
    """One type record. ``size`` is set for sized kinds, ``type`` for referring kinds."""

    id: int
    kind: int
    name: str
    vlen: int = 0
    kind_flag: bool = False
    size: int | None = None
    type: int | None = None
    members: tuple = ()  # BtfMember | BtfEnumValue | BtfParam | BtfVarSecinfo
    array: BtfArray | None = None
    int_encoding: int = 0  # INT: 1 signed, 2 char, 4 bool
    int_offset: int = 0
    int_bits: int = 0
    linkage: int = 0  # VAR and FUNC
    component_idx: int = -1  # DECL_TAG

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    def __str__(self) -> str:
        return f"[{self.id}] {self.kind_name} '{self.name}'"


@dataclass
class Btf:
    """A parsed BTF blob. ``types[0]`` is ``void``; ids index ``types`` directly."""

    types: list[BtfType]
    strings: bytes
    names: dict[str, list[int]] = field(default_factory=dict)  # name -> type ids

    def __post_init__(self) -> None:
        if not self.names:
            for t in self.types[1:]:
                if t.name:
                    self.names.setdefault(t.name, []).append(t.id)

    def string(self, off: int) -> str:
        """The string at ``off`` in the string section (``BtfError`` when out of range)."""
        if not 0 <= off < len(self.strings):
            raise BtfError(f"BTF string offset {off} out of range "
                           f"(string section is {len(self.strings)} bytes)")
        end = self.strings.find(b"\0", off)
        return self.strings[off:end].decode("utf-8", "replace")

    def type(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise BtfError(f"BTF type id {type_id} out of range (have {len(self.types) - 1})")
        return self.types[type_id]

    def find(self, name: str, kind: int | None = None) -> BtfType | None:
        for tid in self.names.get(name, ()):
            if kind is None or self.types[tid].kind == kind:
                return self.types[tid]
        return None

    def resolve(self, type_id: int) -> BtfType:
        """The type behind ``type_id`` with typedef/const/volatile/restrict/type_tag skipped."""
        t = self.type(type_id)
        for _ in range(len(self.types) + 1):
            if t.kind not in MODIFIERS:
                return t
            t = self.type(t.type)
        raise BtfError(f"BTF type [{type_id}]: modifier loop")

    def size_of(self, type_id: int) -> int:
        """Byte size of a type (libbpf's ``btf__resolve_size``)."""
        t = self.type(type_id)
        mult = 1
        for _ in range(len(self.types) + 1):
            if t.kind in SIZED:
                return mult * t.size
            if t.kind == PTR:
                return mult * POINTER_SIZE
            if t.kind in MODIFIERS or t.kind == VAR:
                t = self.type(t.type)
            elif t.kind == ARRAY:
                mult *= t.array.nelems
                t = self.type(t.array.type)
            else:
                raise BtfError(f"BTF type {t} has no size")
        raise BtfError(f"BTF type [{type_id}]: type loop while computing its size")


class _Reader:
    def __init__(self, data: bytes, start: int, end: int):
        self.data, self.pos, self.end = data, start, end

    def u32s(self, n: int, what: str) -> tuple[int, ...]:
        if self.pos + 4 * n > self.end:
            raise BtfError(f"BTF type section truncated in {what} at byte {self.pos}")
        out = struct.unpack_from(f"<{n}I", self.data, self.pos)
        self.pos += 4 * n
        return out


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def btf_blob(types: bytes, strings: bytes) -> bytes:
    """A raw BTF blob (little-endian, version 1, no flags) from its type and string
    sections: the header, then the types, then the strings."""
    head = struct.pack("<HBBIIIII", BTF_MAGIC, BTF_VERSION, 0, HEADER_MIN, 0, len(types),
                       len(types), len(strings))
    return head + bytes(types) + bytes(strings)


def parse_btf(data: bytes) -> Btf:
    """Parse a raw ``.BTF`` section. Raises ``BtfError`` on anything malformed."""
    data = bytes(data)
    if len(data) < 4:
        raise BtfError(f"BTF header truncated: {len(data)} bytes")
    magic = struct.unpack_from("<H", data, 0)[0]
    if magic != BTF_MAGIC:
        if struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
            raise BtfError("big-endian BTF is not supported (expected a little-endian bpfel object)")
        raise BtfError(f"bad BTF magic 0x{magic:04x} (expected 0x{BTF_MAGIC:04x})")
    if len(data) < HEADER_MIN:
        raise BtfError(f"BTF header truncated: {len(data)} bytes, need {HEADER_MIN}")
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", data, 0)
    if version != BTF_VERSION:
        raise BtfError(f"unsupported BTF version {version}")
    if flags:
        raise BtfError(f"unsupported BTF flags 0x{flags:x}")
    if hdr_len < HEADER_MIN or hdr_len > len(data):
        raise BtfError(f"bad BTF hdr_len {hdr_len} (blob is {len(data)} bytes)")
    if any(data[HEADER_MIN:hdr_len]):
        raise BtfError("unsupported BTF header: non-zero bytes past the known fields")
    if type_off % 4:
        raise BtfError(f"BTF type section offset {type_off} is not 4-byte aligned")
    body = len(data) - hdr_len
    if type_off + type_len > body:
        raise BtfError(f"BTF type section [{type_off}, +{type_len}) past the end ({body} bytes)")
    if str_off + str_len > body:
        raise BtfError(f"BTF string section [{str_off}, +{str_len}) past the end ({body} bytes)")
    if type_off < str_off + str_len and str_off < type_off + type_len:
        raise BtfError("BTF type and string sections overlap")
    strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
    if str_len and (strings[0] != 0 or strings[-1] != 0):
        raise BtfError("BTF string section must start and end with a NUL byte")

    def name(off: int) -> str:
        if off >= len(strings) and not (off == 0 and not strings):
            raise BtfError(f"BTF string offset {off} out of range (string section is {len(strings)} bytes)")
        end = strings.find(b"\0", off)
        try:
            return strings[off:end].decode()
        except UnicodeDecodeError:
            raise BtfError(f"BTF string at offset {off} is not valid UTF-8") from None

    types = [BtfType(0, UNKN, "")]  # void
    r = _Reader(data, hdr_len + type_off, hdr_len + type_off + type_len)
    while r.pos < r.end:
        types.append(_parse_one(r, len(types), name))
    btf = Btf(types, strings)
    _check_refs(btf)
    return btf


def _parse_one(r: _Reader, tid: int, name) -> BtfType:
    name_off, info, size_type = r.u32s(3, f"type [{tid}]")
    kind = (info >> 24) & 0x1F
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    if kind == UNKN or kind >= len(KIND_NAMES):
        raise BtfError(f"BTF type [{tid}]: unknown kind {kind}")
    kw: dict = dict(id=tid, kind=kind, name=name(name_off), vlen=vlen, kind_flag=kflag)
    if kind in SIZED:
        kw["size"] = size_type
    elif kind in REFERS:
        kw["type"] = size_type
    where = f"type [{tid}] {KIND_NAMES[kind]}"
    if kind == INT:
        (v,) = r.u32s(1, where)
        kw.update(int_encoding=(v >> 24) & 0xF, int_offset=(v >> 16) & 0xFF, int_bits=v & 0xFF)
    elif kind == ARRAY:
        kw["array"] = BtfArray(*r.u32s(3, where))
    elif kind in (STRUCT, UNION):
        kw["members"] = tuple(BtfMember(name(a), b, c)
                              for a, b, c in (r.u32s(3, where) for _ in range(vlen)))
    elif kind == ENUM:
        # kind_flag set: signed values; clear: unsigned
        kw["members"] = tuple(BtfEnumValue(name(a), _s32(b) if kflag else b)
                              for a, b in (r.u32s(2, where) for _ in range(vlen)))
    elif kind == ENUM64:
        vals = []
        for _ in range(vlen):
            a, lo, hi = r.u32s(3, where)
            v = (hi << 32) | lo
            vals.append(BtfEnumValue(name(a), v - (1 << 64) if kflag and v >> 63 else v))
        kw["members"] = tuple(vals)
    elif kind == FUNC_PROTO:
        kw["members"] = tuple(BtfParam(name(a), b)
                              for a, b in (r.u32s(2, where) for _ in range(vlen)))
    elif kind == VAR:
        (kw["linkage"],) = r.u32s(1, where)
    elif kind == DATASEC:
        kw["members"] = tuple(BtfVarSecinfo(*r.u32s(3, where)) for _ in range(vlen))
    elif kind == DECL_TAG:
        (v,) = r.u32s(1, where)
        kw["component_idx"] = _s32(v)
    elif kind == FUNC:
        kw["linkage"] = vlen  # FUNC keeps its linkage in vlen
    return BtfType(**kw)


def _check_refs(btf: Btf) -> None:
    """Every type id a record mentions must exist."""
    n = len(btf.types)

    def check(t: BtfType, ref: int, what: str) -> None:
        if not 0 <= ref < n:
            raise BtfError(f"BTF {t}: {what} type id {ref} out of range (have {n - 1})")

    for t in btf.types[1:]:
        if t.type is not None:
            check(t, t.type, "referenced")
        if t.array is not None:
            check(t, t.array.type, "element")
            check(t, t.array.index_type, "index")
        for m in t.members:
            if isinstance(m, (BtfMember, BtfParam, BtfVarSecinfo)):
                check(t, m.type, "member")


# libbpf map-definition fields given by __uint(name, N)
_INT_FIELDS = ("type", "max_entries", "map_flags", "key_size", "value_size", "map_extra")


def btf_map_defs(btf: Btf, *, sym_offsets: dict[str, int] | None = None) -> list[dict]:
    """Map definitions of the ``.maps`` DATASEC, in section order.

    Each is ``{"name", "offset", "type", "key_size", "value_size", "max_entries",
    "map_flags", "map_extra", "key_type_id", "value_type_id", "fields"}`` (the type ids:
    those of ``__type(key/value, T)``'s T; ``fields``: the value's special fields,
    :func:`special_fields`); missing fields are 0. Unknown members (pinning,
    numa_node, values, ...) are ignored. Returns ``[]`` when there is no ``.maps`` DATASEC.

    ``offset`` is the DATASEC's ``btf_var_secinfo.offset`` — which clang-19 leaves at 0 in
    an object file (libbpf fills it in from the symbol table). Pass ``sym_offsets``
    (symbol name -> ``st_value`` in ``.maps``) to take offsets from the symbol table instead.
    """
    sec = btf.find(".maps", DATASEC)
    if sec is None:
        return []
    out = []
    for vi in sec.members:
        var = btf.type(vi.type)
        if var.kind != VAR:
            raise BtfError(f"BTF .maps entry {var} is not a VAR")
        mname = var.name
        if var.linkage not in (VAR_STATIC, VAR_GLOBAL_ALLOCATED):
            raise BtfError(f"map '{mname}': unsupported map linkage {var.linkage}")
        d = btf.resolve(var.type)
        if d.kind != STRUCT:
            raise BtfError(f"map '{mname}': unexpected def kind {d.kind_name}, expected STRUCT")
        off = vi.offset if sym_offsets is None else sym_offsets.get(mname, vi.offset)
        m = {"name": mname, "offset": off}
        m.update(_map_def(btf, mname, d, inner_ok=True))
        out.append(m)
    return out


_MAP_IN_MAP = (12, 13)  # BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS


def _map_def(btf: Btf, mname: str, d: BtfType, inner_ok: bool) -> dict:
    """The fields of one map definition struct; an array/hash of maps's
    ``__array(values, struct {...})`` gives its inner map template as ``"inner"`` (libbpf
    parses it as a map definition of its own; the outer value is then a 4-byte map id)."""
    m = {"type": 0, "key_size": 0, "value_size": 0, "max_entries": 0, "map_flags": 0,
         "map_extra": 0, "key_type_id": 0, "value_type_id": 0, "fields": ()}
    values = None
    for mem in d.members:
        if mem.name in _INT_FIELDS:
            val = _map_int(btf, mname, mem)
            _set(m, mname, mem.name, val)
        elif mem.name in ("key", "value"):
            val = _map_type_size(btf, mname, mem)
            _set(m, mname, mem.name + "_size", val)
            m[mem.name + "_type_id"] = btf.resolve(mem.type).type  # libbpf's btf_*_type_id
            if mem.name == "value":
                m["fields"] = _value_fields(btf, mname, mem)
        elif mem.name == "values":
            values = mem
    if values is not None and m["type"] in _MAP_IN_MAP:
        if not inner_ok:
            raise BtfError(f"map '{mname}': multi-level nesting of map-in-map is not "
                           "supported")
        arr = btf.resolve(values.type)
        ptr = btf.resolve(arr.array.type) if arr.kind == ARRAY else None
        inner = btf.resolve(ptr.type) if ptr is not None and ptr.kind == PTR else None
        if inner is None or inner.kind != STRUCT:
            raise BtfError(f"map '{mname}': 'values' is not an array of pointers to a map "
                           "definition")
        _set(m, mname, "value_size", 4)
        m["value_size"] = 4
        m["inner"] = _map_def(btf, mname + ".inner", inner, inner_ok=False)
    return m


def special_fields(btf: Btf, type_id: int, base: int = 0, depth: int = 0
                   ) -> list[tuple[str, int, int]]:
    """The special fields (model.platform.value_fields) in a value of type ``type_id``:
    (kind, byte offset, size), found through nested structs, unions and arrays."""
    t = btf.resolve(type_id)
    if depth > 32:
        raise BtfError(f"BTF type {t}: nested too deeply")
    if t.kind in (STRUCT, UNION) and t.name in SPECIAL_STRUCTS:
        return [(t.name, base, t.size)]
    if t.kind == PTR:
        tag = btf.type(t.type)
        while tag.kind in MODIFIERS:
            if tag.kind == TYPE_TAG and tag.name in KPTR_TAGS:
                pointee = btf.resolve(tag.type)
                local = "" if pointee.kind != STRUCT else pointee.name
                return [(kptr_kind(tag.name, local), base, POINTER_SIZE)]
            tag = btf.type(tag.type)
        return []
    if t.kind == ARRAY:
        elem = btf.size_of(t.array.type)
        one = special_fields(btf, t.array.type, 0, depth + 1)
        if not one:
            return []
        return [(k, base + i * elem + o, n) for i in range(min(t.array.nelems, 4096))
                for k, o, n in one]
    if t.kind not in (STRUCT, UNION):
        return []
    out = []
    for mem in t.members:
        out += special_fields(btf, mem.type, base + mem.bit_offset(t.kind_flag) // 8,
                              depth + 1)
    return out


def _value_fields(btf: Btf, mname: str, mem: BtfMember) -> tuple:
    t = btf.resolve(mem.type)
    if t.kind != PTR:
        return ()
    return tuple(special_fields(btf, t.type))


def _set(m: dict, mname: str, fld: str, val: int) -> None:
    if fld.endswith("_size") and m[fld] and m[fld] != val:
        raise BtfError(f"map '{mname}': conflicting {fld} {m[fld]} != {val}")
    m[fld] = val


def _map_int(btf: Btf, mname: str, mem: BtfMember) -> int:
    t = btf.resolve(mem.type)
    if mem.name == "map_extra" and t.kind in (ENUM, ENUM64):
        # libbpf's __ulong(name, val): a one-enumerator enum whose value is val
        if len(t.members) != 1:
            raise BtfError(f"map '{mname}': attr 'map_extra': invalid __ulong")
        return t.members[0].value & ((1 << 64) - 1)
    if t.kind != PTR:
        raise BtfError(f"map '{mname}': attr '{mem.name}': expected PTR, got {t.kind_name}")
    arr = btf.resolve(t.type)
    if arr.kind != ARRAY:
        raise BtfError(f"map '{mname}': attr '{mem.name}': expected ARRAY, got {arr.kind_name}")
    return arr.array.nelems


def _map_type_size(btf: Btf, mname: str, mem: BtfMember) -> int:
    t = btf.resolve(mem.type)
    if t.kind != PTR:
        raise BtfError(f"map '{mname}': {mem.name} spec is not PTR: {t.kind_name}")
    try:
        return btf.size_of(t.type)
    except BtfError as e:
        raise BtfError(f"map '{mname}': can't determine {mem.name} size: {e}") from None
