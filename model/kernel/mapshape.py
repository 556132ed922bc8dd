"""The shape libbpf creates a map of an object with (``bpf_object__create_map``), as the
keyword arguments of :func:`model.kernel.bpf.map_create`.

* A global data section (``.data``, ``.bss``, ``.rodata*``, ``.kconfig``): an ARRAY, key 4,
  the section as its one value; ``.rodata*`` and ``.kconfig`` with ``BPF_F_RDONLY_PROG``.
* ``BPF_F_STATIC_KEY`` (1 << 15) is stripped: it means ``BPF_F_VTYPE_BTF_OBJ_FD`` in 6.18.
* An fd array (PROG_ARRAY, PERF_EVENT_ARRAY, CGROUP_ARRAY, ARRAY/HASH_OF_MAPS values)
  holds 4-byte fds: key (but a hash of maps') and value size are 4, whatever the
  definition says (``__array(values, ...)`` leaves 0, cilium's perf arrays the event's).
* PERF_EVENT_ARRAY with ``max_entries`` 0: the number of possible CPUs. Any other map
  left at 0 entries (its user space loader sets the number before loading, e.g.
  xdp-tools' per-CPU counters) gets 1: the kernel refuses 0 (local storage maps, which
  must have 0, keep it).
* STACK_TRACE with ``value_size`` 0 (bcc's tools set it before loading, with
  ``bpf_map__set_value_size``): room for the deepest stack the kernel records
  (``kernel.perf_event_max_stack`` frames of 8 bytes, 127 by default).
* RINGBUF / USER_RINGBUF: key and value size 0, ``max_entries`` rounded up to a power of two
  multiple of the page size (libbpf's ``adjust_ringbuf_sz``).

:func:`btf_type_ids` gives the BTF key/value type ids libbpf passes: the definition's
``__type(key/value, T)`` (a data section: its DATASEC as the value), none for the map
types whose BTF libbpf drops.
"""

from __future__ import annotations

import os

from model.platform.map_helpers import map_type_name
from model.program import BPF_F_STATIC_KEY, MapDef

BPF_F_RDONLY_PROG = 1 << 7
BPF_MAP_TYPE_ARRAY = 2
_FD_ARRAYS = {"prog_array", "perf_event_array", "cgroup_array", "array_of_maps",
              "hash_of_maps"}
_RINGBUFS = {"ringbuf", "user_ringbuf"}
_MAP_EXTRA = {"bloom_filter", "arena"}  # the map types that take map_extra
#: map types libbpf creates without BTF key/value types (bpf_object__create_map)
_NO_BTF = {"perf_event_array", "cgroup_array", "stack_trace", "array_of_maps", "hash_of_maps",
           "devmap", "devmap_hash", "cpumap", "xskmap", "sockmap", "sockhash", "queue",
           "stack", "arena", "prog_array"}


def kernel_shape(m: MapDef) -> dict:
    """``map_create`` keyword arguments for ``m`` (see the module doc)."""
    name = _map_name(m.name)
    if m.origin == "data":
        return dict(map_type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=m.value_size,
                    max_entries=1, map_flags=BPF_F_RDONLY_PROG if m.frozen_constant else 0,
                    name=name)
    kind = map_type_name(m.type)
    key, value, entries = m.key_size, m.value_size, m.max_entries
    if kind in _FD_ARRAYS:  # fds are 4 bytes whatever the definition's __type says
        key, value = (key or 4) if kind == "hash_of_maps" else 4, 4
    if kind == "perf_event_array" and entries == 0:
        entries = possible_cpus()
    elif entries == 0 and kind not in _RINGBUFS and not kind.endswith("_storage"):
        entries = 1  # left for the user space loader to set (bpf_map__set_max_entries)
    if kind in _RINGBUFS:
        key, value, entries = 0, 0, ringbuf_size(entries)
    if kind == "stack_trace" and value == 0:
        value = 8 * perf_max_stack()
    extra = m.map_extra if kind in _MAP_EXTRA else 0  # the kernel refuses it elsewhere
    return dict(map_type=m.type, key_size=key, value_size=value, max_entries=entries,
                map_flags=m.map_flags & ~BPF_F_STATIC_KEY, name=name, map_extra=extra)


def btf_type_ids(m: MapDef) -> dict:
    """``btf_key_type_id``/``btf_value_type_id`` for ``m`` ({} when it takes none)."""
    if map_type_name(m.type) in _NO_BTF and m.origin != "data":
        return {}
    if not m.btf_value_type_id:
        return {}
    return {"btf_key_type_id": m.btf_key_type_id, "btf_value_type_id": m.btf_value_type_id}


def perf_max_stack() -> int:
    """``kernel.perf_event_max_stack`` (127 where it cannot be read)."""
    try:
        with open("/proc/sys/kernel/perf_event_max_stack") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 127


def ringbuf_size(n: int) -> int:
    """The smallest power-of-two multiple of the page size that is at least ``n``."""
    page = os.sysconf("SC_PAGE_SIZE")
    size = page
    while size < n:
        size *= 2
    return size


def possible_cpus() -> int:
    """The number of possible CPUs (``/sys/devices/system/cpu/possible``, e.g. ``0-3``)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def _map_name(name: str) -> str:
    """A name the kernel accepts (alphanumerics, ``_`` and ``.``, at most 15 bytes)."""
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)[:15]


__all__ = ["BPF_F_RDONLY_PROG", "btf_type_ids", "kernel_shape", "possible_cpus",
           "ringbuf_size"]
