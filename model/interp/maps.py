"""Map contents for the interpreter. Every map value lives in a region of its own, so an
access past a value's end faults instead of reaching the next element."""

from __future__ import annotations

from model.interp import lpm
from model.interp.memory import MAP_BASE, MAP_PTR_BASE, MAP_STRIDE, Memory, Region
from model.platform.map_helpers import (MAP_IN_MAP_IDS, MAP_TYPE_IDS, SOCKET_LOOKUP_MAP_TYPES,
                                        map_type_name, prog_can_read, prog_can_write)
from model.program import MapDef

ARRAY_TYPES = {2, 6}  # array, percpu_array
HASH_TYPES = {1, 5, 9, 10}  # hash, percpu_hash, lru_hash, lru_percpu_hash
LPM_TRIE = MAP_TYPE_IDS["lpm_trie"]
MAP_IN_MAP_IDS_ARRAY = MAP_TYPE_IDS["array_of_maps"]
ELEM_STRIDE = 1 << 20  # spacing of elements inside a map's address range
BPF_NOEXIST, BPF_EXIST = 1, 2
ENOENT, E2BIG, EEXIST, EINVAL, ENOSPC = 2, 7, 17, 22, 28


class MapState:
    def __init__(self, mem: Memory, index: int, m: MapDef):
        self.mem = mem
        self.index = index
        self.defn = m
        self.template: MapDef | None = None  # an array / hash of maps: its inner template
        self.ptr = MAP_PTR_BASE + index * 0x1000
        self.base = MAP_BASE + index * MAP_STRIDE
        self.elems: dict[bytes, Region] = {}
        #: an array / hash of maps: key -> the inner map in that slot (see set_inner)
        self.inner: dict[bytes, MapState] = {}
        #: a program array: index -> the program in that slot (see set_prog)
        self.progs: dict = {}
        self._next_slot = 0  # hash maps: a fresh address range for every new element
        #: a per-CPU map: (key, cpu) -> that element's copy on another CPU than the
        #: program's (lookup_on_cpu)
        self.cpu_copies: dict[tuple[bytes, int], Region] = {}
        self.read_only = not prog_can_write(m.prog_flags)
        #: a map of sockets (an xskmap): a lookup gives the socket, read-only (its
        #: element's bytes: what the program may read of it, struct bpf_xdp_sock)
        self.socket = SOCKET_LOOKUP_MAP_TYPES.get(map_type_name(m.type))
        self.write_only = not prog_can_read(m.prog_flags)
        if m.origin == "data":
            self._element(0).data[:] = m.initial or bytes(m.value_size)

    @property
    def name(self) -> str:
        return self.defn.name

    def _slot(self, key: bytes) -> int:
        if self.defn.type in ARRAY_TYPES or self.defn.origin == "data":
            return int.from_bytes(key, "little")
        self._next_slot += 1
        return self._next_slot - 1

    def _element(self, idx: int, key: bytes | None = None) -> Region:
        key = idx.to_bytes(4, "little") if key is None else key
        r = self.elems.get(key)
        if r is None:
            slot = self._slot(key)
            kind = self.socket or ("rodata" if self.read_only else "map_value")
            r = Region(f"{self.name}[{slot}]", kind, self.base + slot * ELEM_STRIDE,
                       bytearray(self.defn.value_size), not (self.read_only or self.socket),
                       readable=not self.write_only)
            self.mem.add(r)
            self.elems[key] = r
        return r

    def is_array(self) -> bool:
        return self.defn.type in ARRAY_TYPES or self.defn.origin == "data"

    def set_inner(self, key: bytes, inner: MapState | None) -> None:
        """Fill (or, with None, empty) a slot of an array / hash of maps, as user space
        does with the inner map's fd; the map must have the template's shape."""
        if self.defn.type not in MAP_IN_MAP_IDS:
            raise ValueError(f"map {self.name} is not an array or hash of maps")
        if inner is None:
            self.inner.pop(key, None)
            return
        t, d = self.defn, inner.defn
        if self.template is not None and (d.type, d.key_size, d.value_size) != (
                self.template.type, self.template.key_size, self.template.value_size):
            raise ValueError(f"map {inner.name} does not have the shape of {self.name}'s "
                             "inner map template")
        if t.type == MAP_IN_MAP_IDS_ARRAY and int.from_bytes(key[:4], "little") >= t.max_entries:
            raise ValueError(f"key {key.hex()} is out of {self.name}'s range")
        self.inner[key] = inner

    def set_prog(self, index: int, prog) -> None:
        """Put a program of the same object in a slot of a program array (None: empty it),
        as user space does with its fd; ``bpf_tail_call`` jumps to it."""
        if self.defn.type != MAP_TYPE_IDS["prog_array"]:
            raise ValueError(f"map {self.name} is not a program array")
        if not 0 <= index < self.defn.max_entries:
            raise ValueError(f"index {index} is out of {self.name}'s range")
        if prog is None:
            self.progs.pop(index, None)
        else:
            self.progs[index] = prog

    def lookup(self, key: bytes) -> int:
        """Address of the value, or 0 (an array / hash of maps: the inner map's pointer, or
        0 for an empty slot)."""
        if self.defn.type in MAP_IN_MAP_IDS:
            got = self.inner.get(key)
            return got.ptr if got is not None else 0
        if self.is_array():
            idx = int.from_bytes(key[:4], "little")
            if idx >= self.defn.max_entries:
                return 0
            return self._element(idx, key[:4]).base
        if self.defn.type == LPM_TRIE:
            key = lpm.longest_match(key, self.elems)
        r = self.elems.get(key)
        return r.base if r else 0

    def lookup_on_cpu(self, key: bytes, cpu: int, this_cpu: int) -> int:
        """bpf_map_lookup_percpu_elem: the element's copy on ``cpu`` (the program runs on
        ``this_cpu``), or 0. Another CPU's copy starts zeroed (the kernel zeroes the other
        CPUs' copies of an element a program adds) and only the program's own CPU's copy
        is written by bpf_map_update_elem."""
        base = self.lookup(key)
        if cpu == this_cpu or not base:
            return base
        k = key[:4] if self.is_array() else key
        r = self.cpu_copies.get((k, cpu))
        if r is None:
            at = self.base + (MAP_STRIDE >> 1) + len(self.cpu_copies) * ELEM_STRIDE
            r = Region(f"{self.name}[{k.hex()}]@cpu{cpu}", "rodata" if self.read_only
                       else "map_value", at, bytearray(self.defn.value_size),
                       not self.read_only, readable=not self.write_only)
            self.cpu_copies[(k, cpu)] = self.mem.add(r)
        return r.base

    def update(self, key: bytes, value: bytes, flags: int) -> int:
        if flags > BPF_EXIST:
            return -EINVAL
        full = -E2BIG
        if self.defn.type == LPM_TRIE:
            key, full = lpm.canonical(key), -ENOSPC
            if key is None:
                return -EINVAL
        if self.is_array():
            idx = int.from_bytes(key[:4], "little")
            if idx >= self.defn.max_entries:
                return -E2BIG
            if flags == BPF_NOEXIST:
                return -EEXIST
            self._element(idx, key[:4]).data[:] = value
            return 0
        exists = key in self.elems
        if flags == BPF_NOEXIST and exists:
            return -EEXIST
        if flags == BPF_EXIST and not exists:
            return -ENOENT
        if not exists and len(self.elems) >= self.defn.max_entries:
            return full
        self._element(0, key).data[:] = value
        return 0

    def delete(self, key: bytes) -> int:
        if self.is_array():
            return -EINVAL
        if self.defn.type == LPM_TRIE:
            key = lpm.canonical(key)
            if key is None:
                return -EINVAL
        r = self.elems.pop(key, None)
        if r is None:
            return -ENOENT
        self.mem.remove(r)
        for ck in [ck for ck in self.cpu_copies if ck[0] == key]:
            self.mem.remove(self.cpu_copies.pop(ck))
        return 0

    def value_address(self, offset: int) -> int:
        """``ld_imm64`` src 2: the address of byte ``offset`` of element 0."""
        return self._element(0).base + offset

    def snapshot(self) -> dict[str, str]:
        return {k.hex(): bytes(r.data).hex() for k, r in self.elems.items()}


class Maps:
    def __init__(self, mem: Memory, defs: dict[str, MapDef]):
        self.by_name = {name: MapState(mem, i, m) for i, (name, m) in enumerate(defs.items())}
        self.by_ptr = {s.ptr: s for s in self.by_name.values()}
        for s in self.by_name.values():
            s.template = defs.get(s.defn.inner) if s.defn.inner else None

    def __getitem__(self, name: str) -> MapState:
        return self.by_name[name]

    def at(self, ptr: int) -> MapState | None:
        return self.by_ptr.get(ptr)
