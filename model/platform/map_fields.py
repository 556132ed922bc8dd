"""Loads through a map pointer (``CONST_PTR_TO_MAP``): the kernel lets a program read the
fields of the map's kernel structure, as described by vmlinux BTF (Linux 6.18).

``check_ptr_to_map_access`` (kernel/bpf/verifier.c): the map type's ``map_btf_id`` names
its structure (:data:`MAP_BTF_STRUCT`, e.g. ``struct bpf_array``, whose first member is
``struct bpf_map map``); only reads, at offsets >= 0, walked by ``btf_struct_walk``
(kernel/bpf/btf.c) as for a ``PTR_TO_BTF_ID``. A read that lands in an integer (or an array
of them, or a bitfield read whole) gives an unknown scalar; a pointer field would give a
BTF pointer, which the engines do not model.

The structure layouts come from the running kernel's BTF (``/sys/kernel/btf/vmlinux``,
parsed by ``model.elf.btf``); without it such reads are "not modelled". The table and
the walk are checked against the kernel by ``tests/test_maps_calls.py``.
"""

from __future__ import annotations


from model.elf.btf import (ARRAY, CONST, INT, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION,
                           VOLATILE, Btf, BtfError)
from model.elf.core import VMLINUX_BTF, target_btf
from model.platform.map_helpers import map_type_name

#: map type -> the structure its ``ops->map_btf_id`` names (the kernel says which in
#: "only read from <struct> is supported"); the local-storage types (their maps need BTF
#: to be created here) and struct_ops / arena maps are left out: not modelled
MAP_BTF_STRUCT: dict[str, str] = {
    **dict.fromkeys(("array", "prog_array", "perf_event_array", "percpu_array",
                     "cgroup_array", "array_of_maps"), "bpf_array"),
    **dict.fromkeys(("hash", "percpu_hash", "lru_hash", "lru_percpu_hash", "hash_of_maps"),
                    "bpf_htab"),
    "stack_trace": "bpf_stack_map", "lpm_trie": "lpm_trie", "devmap": "bpf_dtab",
    "devmap_hash": "bpf_dtab", "sockmap": "bpf_stab", "sockhash": "bpf_shtab",
    "cpumap": "bpf_cpu_map", "xskmap": "xsk_map", "cgroup_storage": "bpf_cgroup_storage_map",
    "percpu_cgroup_storage": "bpf_cgroup_storage_map", "reuseport_sockarray": "reuseport_array",
    "queue": "bpf_queue_stack", "stack": "bpf_queue_stack", "ringbuf": "bpf_ringbuf_map",
    "user_ringbuf": "bpf_ringbuf_map", "bloom_filter": "bpf_bloom_filter",
}

_MODIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)


class MapFieldError(Exception):
    """The kernel's refusal of the read (its message)."""


def vmlinux_btf() -> Btf | None:
    """The running kernel's BTF, or None when it cannot be read."""
    return target_btf(VMLINUX_BTF)  # the cache key every other reader uses


def map_field_read(map_type: int, regno: int, off: int, size: int, write: bool,
                   btf: Btf | None = None) -> str | None:
    """A load (``write`` False) or store of ``size`` bytes at ``off`` through a pointer to
    a map of ``map_type``: None when the kernel accepts it and it reads a scalar;
    :class:`MapFieldError` (the kernel's message) when the kernel refuses it; a
    "not modelled: ..." reason for what the engines cannot follow."""
    struct_name = MAP_BTF_STRUCT.get(map_type_name(map_type))
    if struct_name is None:
        return f"not modelled: reading the structure of a {map_type_name(map_type)} map"
    btf = btf if btf is not None else vmlinux_btf()
    t = btf.find(struct_name, STRUCT) if btf is not None else None
    if t is None:
        return f"not modelled: struct {struct_name} (no vmlinux BTF)"
    if off < 0:
        raise MapFieldError(f"R{regno} is {struct_name} invalid negative access: off={off}")
    if write:
        raise MapFieldError(f"only read from {struct_name} is supported")
    return _walk(btf, t, off, size)


#: the fields of struct bpf_map an image (map_struct_image) fills from the map's definition
_DEFINITION_FIELDS = ("map_type", "key_size", "value_size", "max_entries", "map_extra",
                      "map_flags")


def map_struct_image(m, btf: Btf | None = None) -> bytes | None:
    """The bytes a program reads through a pointer to map ``m`` (a MapDef), for the
    interpreter: its kernel structure with the fields of struct bpf_map that come from the
    definition filled in, the rest zero. None without vmlinux BTF."""
    btf = btf if btf is not None else vmlinux_btf()
    name = MAP_BTF_STRUCT.get(map_type_name(m.type))
    t = btf.find(name, STRUCT) if btf is not None and name else None
    base = btf.find("bpf_map", STRUCT) if t is not None else None
    if base is None:
        return None
    image = bytearray(t.size)
    values = {"map_type": m.type, "key_size": m.key_size, "value_size": m.value_size,
              "max_entries": m.max_entries, "map_extra": m.map_extra,
              "map_flags": m.map_flags}
    for mem in base.members:  # struct bpf_map is the first member of every map structure
        if mem.name in _DEFINITION_FIELDS:
            off, size = mem.bit_offset(base.kind_flag) // 8, btf.size_of(mem.type)
            image[off:off + size] = values[mem.name].to_bytes(size, "little")
    return bytes(image)


def _skip(btf: Btf, tid: int):
    t = btf.type(tid)
    while t.kind in _MODIFIERS:
        t = btf.type(t.type)
    return t


def _resolve_size(btf: Btf, tid: int) -> tuple[object, int, object, int]:
    """__btf_resolve_size: (the type without modifiers, its size, the element type of a
    (multi-dimensional) array, the number of elements)."""
    t = _skip(btf, tid)
    nelems, elem = 1, t
    while elem.kind == ARRAY:
        nelems *= elem.array.nelems
        elem = _skip(btf, elem.array.type)
    return t, btf.size_of(elem.id) * nelems, elem, nelems


def _walk(btf: Btf, t, off: int, size: int) -> str | None:
    """btf_struct_walk to the end: None for a scalar, else raises or says "not modelled"."""
    untrusted = False
    while True:
        t = _skip(btf, t.id)
        if t.kind not in (STRUCT, UNION):
            raise MapFieldError(f"Type '{t.name}' is not a struct")
        if t.kind == UNION and len(t.members) != 1:
            untrusted = True
        if off + size > t.size:
            return _past_end(btf, t, off, size)
        nxt = None
        for m in t.members:
            moff = m.bit_offset(t.kind_flag) // 8
            if off + size <= moff:
                break
            bits = m.offset >> 24 if t.kind_flag else 0
            if bits:
                end_bit = m.bit_offset(t.kind_flag) + bits
                if off <= moff and (end_bit + 7) // 8 <= off + size:
                    return None
                continue
            if off < moff:
                break
            try:
                mtype, msize, elem, nelems = _resolve_size(btf, m.type)
            except BtfError:
                return f"not modelled: field {m.name} of struct {t.name} has no size"
            mtrue_end = moff + msize
            if off >= mtrue_end:
                continue
            if mtype.kind == ARRAY:
                if not nelems:
                    break  # a zero-length array in the middle: nothing to find here
                esize = msize // nelems
                moff += (off - moff) // esize * esize
                mtype = elem
            if mtype.kind in (STRUCT, UNION):
                nxt, off = mtype, off - moff
                break
            if mtype.kind == PTR:
                if msize != size or off != moff:
                    raise MapFieldError(
                        f"cannot access ptr member {m.name} with moff {moff} in struct "
                        f"{t.name} with off {off} size {size}")
                return f"not modelled: reading pointer field {m.name} of struct {t.name}"
            if off + size > mtrue_end and not untrusted:
                raise MapFieldError(
                    f"access beyond the end of member {m.name} (mend:{mtrue_end}) in struct "
                    f"{t.name} with off {off} size {size}")
            if mtype.kind != INT and mtype.kind not in (6, 19):  # ENUM, ENUM64
                return f"not modelled: reading field {m.name} of struct {t.name}"
            return None
        if nxt is None:
            raise MapFieldError(f"struct {t.name} doesn't have field at offset {off}")
        t = nxt


def _past_end(btf: Btf, t, off: int, size: int) -> str | None:
    """An access past the structure's size: allowed only into a trailing flexible array."""
    last = t.members[-1] if t.members else None
    mtype = _skip(btf, last.type) if last is not None else None
    if mtype is not None and mtype.kind == ARRAY and mtype.array.nelems == 0:
        moff = last.bit_offset(t.kind_flag) // 8
        if off >= moff:
            elem = _skip(btf, mtype.array.type)
            if elem.kind == INT:
                return None
            if elem.kind == STRUCT:
                return _walk(btf, elem, (off - moff) % elem.size, size)
    raise MapFieldError(f"access beyond struct {t.name} at off {off} size {size}")


__all__ = ["MAP_BTF_STRUCT", "MapFieldError", "map_field_read", "map_struct_image",
           "vmlinux_btf"]
