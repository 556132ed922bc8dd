"""Maps whose value the kernel knows through BTF (``BPF_BTF_LOAD`` then ``BPF_MAP_CREATE``
with ``btf_fd`` / ``btf_key_type_id`` / ``btf_value_type_id``): what the kernel needs before
a program may use a ``struct bpf_spin_lock`` (or another special field) in a map value.

:func:`value_btf` builds the smallest BTF blob for such a value: ``int`` keys and a value
struct of ``int`` members with the special structs at given offsets.
"""

from __future__ import annotations

import struct

from model.elf.btf import btf_blob
from model.platform.value_fields import kptr_of
from model.errors import SkvError
from model.kernel.bpf import Map, btf_load, map_create

KIND_INT, KIND_ARRAY, KIND_STRUCT = 1, 3, 4


def value_btf(value_size: int, fields: dict[int, tuple[str, int]], key_size: int = 4
              ) -> tuple[bytes, int, int]:
    """A BTF blob: [1] ``int``, [2] ``char``, [3] ``char[key_size]``, one struct
    per special kind (``fields``: offset -> (struct name, size); each a struct of ``int``
    members), and the value struct of ``value_size`` bytes with the special fields at
    their offsets (the rest a hole). Returns (blob, key type id, value type id): the key is
    an ``int`` when 4 bytes (array maps want nothing else), else the char array; 0 for a
    map without keys."""
    strings = bytearray(b"\0")

    def s(name: str) -> int:
        off = len(strings)
        strings.extend(name.encode() + b"\0")
        return off

    types = bytearray()
    types += struct.pack("<III", s("int"), KIND_INT << 24, 4) + struct.pack("<I", 0x01000020)
    types += struct.pack("<III", s("char"), KIND_INT << 24, 1) + struct.pack("<I", 8)
    types += struct.pack("<III", 0, KIND_ARRAY << 24, 0) + struct.pack("<III", 2, 1, key_size)
    ids, next_id = {}, 4
    for name, size in sorted(set(fields.values())):
        words = size // 4
        types += struct.pack("<III", s(name), KIND_STRUCT << 24 | words, size)
        for k in range(words):
            types += struct.pack("<III", s(f"w{k}"), 1, 32 * k)
        ids[name], next_id = next_id, next_id + 1
    members = [(s(f"f{off}"), ids[name], off) for off, (name, _) in sorted(fields.items())]
    types += struct.pack("<III", s("value"), KIND_STRUCT << 24 | len(members), value_size)
    for name_off, tid, moff in members:
        types += struct.pack("<III", name_off, tid, 8 * moff)
    key_id = 1 if key_size == 4 else 3 if key_size else 0
    return btf_blob(types, strings), key_id, next_id


def btf_fields(fields) -> dict[int, tuple[str, int]] | None:
    """``MapDef.fields`` as :func:`value_btf` takes them; None when a kind cannot be
    described this way (a kptr needs its pointee's type)."""
    if any(kptr_of(kind) for kind, _, _ in fields):
        return None
    return {off: (kind, size) for kind, off, size in fields}


def map_create_btf(map_type: int, key_size: int, value_size: int, max_entries: int,
                   fields: dict[int, tuple[str, int]], map_flags: int = 0,
                   name: str = "") -> Map:
    """A map whose value is described by :func:`value_btf` (the BTF fd is closed once the
    map holds it)."""
    blob, key_id, value_id = value_btf(value_size, fields, key_size)
    btf, why = btf_load(blob)
    if btf is None:
        raise SkvError(f"BPF_BTF_LOAD of a map value's BTF refused: {why}")
    with btf:
        return map_create(map_type, key_size, value_size, max_entries, map_flags, name,
                          btf_fd=btf, btf_key_type_id=key_id, btf_value_type_id=value_id)


__all__ = ["value_btf", "btf_fields", "map_create_btf"]
