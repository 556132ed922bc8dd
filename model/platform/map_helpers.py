"""Map types, which helpers each map type may be passed to, and how programs may access
map values (Linux 6.18, x86-64).

Written from the kernel's sources and checked against the running kernel by
``tests/test_soundness_maps.py``:

* :data:`MAP_TYPES`: ``enum bpf_map_type`` (include/uapi/linux/bpf.h).
* :data:`MAP_ALLOWS` / :data:`HELPER_NEEDS`: the two switches of the verifier's
  ``check_map_func_compatibility`` (kernel/bpf/verifier.c). The first says, for a map type
  that only some helpers may take, which ones; the second says, for a helper that only
  takes some map types, which ones. A call passes when neither switch refuses it.
* (direct value loads, ``ld_imm64`` with ``BPF_PSEUDO_MAP_VALUE``: model.platform.direct_value)
* :data:`VALUE_MAP_TYPES`: the map types whose values the engines model (lookups return a
  pointer to ``value_size`` bytes); a map helper on any other type is "not modelled".
* map flags ``BPF_F_RDONLY_PROG`` / ``BPF_F_WRONLY_PROG`` (``bpf_map_flags_to_cap``):
  :func:`prog_can_read` / :func:`prog_can_write`.
"""

from __future__ import annotations

from model.platform.helpers import HELPER_NAMES

MAP_TYPES: dict[int, str] = {
    0: "unspec", 1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array",
    5: "percpu_hash", 6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash",
    10: "lru_percpu_hash", 11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps",
    14: "devmap", 15: "sockmap", 16: "cpumap", 17: "xskmap", 18: "sockhash",
    19: "cgroup_storage", 20: "reuseport_sockarray", 21: "percpu_cgroup_storage", 22: "queue",
    23: "stack", 24: "sk_storage", 25: "devmap_hash", 26: "struct_ops", 27: "ringbuf",
    28: "inode_storage", 29: "task_storage", 30: "bloom_filter", 31: "user_ringbuf",
    32: "cgrp_storage", 33: "arena",
}
MAP_TYPE_IDS = {name: i for i, name in MAP_TYPES.items()}
MAX_MAP_TYPE = max(MAP_TYPES)

_KPTR_XCHG = "kptr_xchg"
_SOCK_ANY = ("sk_select_reuseport", "map_lookup_elem")

#: first switch: map type -> the only helpers it may be passed to
MAP_ALLOWS: dict[str, frozenset[str]] = {t: frozenset(h) for t, h in {
    "prog_array": ("tail_call",),
    "perf_event_array": ("perf_event_read", "perf_event_output", "skb_output",
                         "perf_event_read_value", "xdp_output"),
    "ringbuf": ("ringbuf_output", "ringbuf_reserve", "ringbuf_query",
                "ringbuf_reserve_dynptr"),
    "user_ringbuf": ("user_ringbuf_drain",),
    "stack_trace": ("get_stackid",),
    "cgroup_array": ("skb_under_cgroup", "current_task_under_cgroup"),
    "cgroup_storage": ("get_local_storage",),
    "percpu_cgroup_storage": ("get_local_storage",),
    "devmap": ("redirect_map", "map_lookup_elem"),
    "devmap_hash": ("redirect_map", "map_lookup_elem"),
    "cpumap": ("redirect_map",),
    "xskmap": ("redirect_map", "map_lookup_elem"),
    "array_of_maps": ("map_lookup_elem",),
    "hash_of_maps": ("map_lookup_elem",),
    # + map_update_elem / map_delete_elem where may_update_sockmap allows (SOCKMAP_UPDATE)
    "sockmap": ("sk_redirect_map", "sock_map_update", "msg_redirect_map") + _SOCK_ANY,
    "sockhash": ("sk_redirect_hash", "sock_hash_update", "msg_redirect_hash") + _SOCK_ANY,
    "reuseport_sockarray": ("sk_select_reuseport",),
    "queue": ("map_peek_elem", "map_pop_elem", "map_push_elem"),
    "stack": ("map_peek_elem", "map_pop_elem", "map_push_elem"),
    "sk_storage": ("sk_storage_get", "sk_storage_delete", _KPTR_XCHG),
    "inode_storage": ("inode_storage_get", "inode_storage_delete", _KPTR_XCHG),
    "task_storage": ("task_storage_get", "task_storage_delete", _KPTR_XCHG),
    "cgrp_storage": ("cgrp_storage_get", "cgrp_storage_delete", _KPTR_XCHG),
    "bloom_filter": ("map_peek_elem", "map_push_elem"),
}.items()}

#: second switch: helper -> the only map types it takes
HELPER_NEEDS: dict[str, frozenset[str]] = {h: frozenset(t) for h, t in {
    "tail_call": ("prog_array",),
    "perf_event_read": ("perf_event_array",),
    "perf_event_output": ("perf_event_array",),
    "perf_event_read_value": ("perf_event_array",),
    "skb_output": ("perf_event_array",),
    "xdp_output": ("perf_event_array",),
    "ringbuf_output": ("ringbuf",),
    "ringbuf_reserve": ("ringbuf",),
    "ringbuf_query": ("ringbuf",),
    "ringbuf_reserve_dynptr": ("ringbuf",),
    "user_ringbuf_drain": ("user_ringbuf",),
    "get_stackid": ("stack_trace",),
    "current_task_under_cgroup": ("cgroup_array",),
    "skb_under_cgroup": ("cgroup_array",),
    "redirect_map": ("devmap", "devmap_hash", "cpumap", "xskmap"),
    "sk_redirect_map": ("sockmap",),
    "msg_redirect_map": ("sockmap",),
    "sock_map_update": ("sockmap",),
    "sk_redirect_hash": ("sockhash",),
    "msg_redirect_hash": ("sockhash",),
    "sock_hash_update": ("sockhash",),
    "get_local_storage": ("cgroup_storage", "percpu_cgroup_storage"),
    "sk_select_reuseport": ("reuseport_sockarray", "sockmap", "sockhash"),
    "map_pop_elem": ("queue", "stack"),
    "map_peek_elem": ("queue", "stack", "bloom_filter"),
    "map_push_elem": ("queue", "stack", "bloom_filter"),
    "map_lookup_percpu_elem": ("percpu_array", "percpu_hash", "lru_percpu_hash"),
    "sk_storage_get": ("sk_storage",),
    "sk_storage_delete": ("sk_storage",),
    "inode_storage_get": ("inode_storage",),
    "inode_storage_delete": ("inode_storage",),
    "task_storage_get": ("task_storage",),
    "task_storage_delete": ("task_storage",),
    "cgrp_storage_get": ("cgrp_storage",),
    "cgrp_storage_delete": ("cgrp_storage",),
}.items()}

#: may_update_sockmap: the program types where map_update_elem / map_delete_elem may take a
#: sockmap / sockhash (sock_ops: delete only; tracing: BPF_TRACE_ITER only, not modelled)
SOCKMAP_UPDATE = {"socket_filter", "sched_cls", "sched_act", "xdp", "sk_reuseport",
                  "flow_dissector", "sk_lookup"}
SOCKMAP_DELETE_ONLY = {"sock_ops"}

#: helpers that write into the map (record_func_map: refused on a BPF_F_RDONLY_PROG map)
MAP_WRITING_HELPERS = frozenset({"map_update_elem", "map_delete_elem", "map_push_elem",
                                 "map_pop_elem"})


#: map types whose values the engines model: a lookup gives a pointer to value_size bytes
#: (array-like: a constant in-range key is never NULL), update/delete as for a hash map
#: (an lpm_trie's key: u32 prefixlen + data, key_size bytes, read as a hash map's is)
VALUE_MAP_TYPES = frozenset({"hash", "array", "percpu_hash", "percpu_array", "lru_hash",
                             "lru_percpu_hash", "lpm_trie", "devmap", "devmap_hash"})
#: map types the kernel creates with BPF_F_RDONLY_PROG whatever user space asks for
#: (dev_map_alloc_check: a lookup gives the device entry itself, which programs only read)
RDONLY_PROG_MAP_TYPES = frozenset({"devmap", "devmap_hash"})
ARRAY_MAP_TYPES = frozenset({"array", "percpu_array"})
#: map types whose lookups may find an element stored under another key (an lpm trie's
#: longest prefix match; keys with the same prefix name one element): an engine that
#: tracks contents key by key must not, for these
PREFIX_MATCH_MAP_TYPES = frozenset({"lpm_trie"})
#: arrays / hashes of maps: a lookup gives a map pointer (the inner map's template) or NULL
MAP_IN_MAP_TYPES = frozenset({"array_of_maps", "hash_of_maps"})
MAP_IN_MAP_IDS = frozenset(MAP_TYPE_IDS[t] for t in MAP_IN_MAP_TYPES)
#: helpers whose effect on the map's contents the engines model (on VALUE_MAP_TYPES)
VALUE_HELPERS = frozenset({"map_lookup_elem", "map_update_elem", "map_delete_elem"})

BPF_F_RDONLY = 1 << 3  # syscall side only: programs may still read and write
BPF_F_WRONLY = 1 << 4  # syscall side only
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_INNER_MAP = 1 << 12


def map_type_name(map_type: int) -> str:
    return MAP_TYPES.get(map_type, f"#{map_type}")


def _helper(helper_id: int) -> str:
    return (HELPER_NAMES.get(helper_id) or "").removeprefix("bpf_")


def map_helper_check(map_type: int, helper_id: int, prog_type: str = "") -> str | None:
    """check_map_func_compatibility: the kernel's message when a map of ``map_type`` may not
    be passed to helper ``helper_id`` (in a ``prog_type`` program), else None."""
    t, h = map_type_name(map_type), _helper(helper_id)
    allowed = MAP_ALLOWS.get(t)
    ok = allowed is None or h in allowed
    if not ok and t in ("sockmap", "sockhash"):
        ok = (h in ("map_update_elem", "map_delete_elem") and prog_type in SOCKMAP_UPDATE
              or h == "map_delete_elem" and prog_type in SOCKMAP_DELETE_ONLY)
    needs = HELPER_NEEDS.get(h)
    if ok and (needs is None or t in needs):
        return None
    if h == "tail_call":  # check_func_arg refuses it before check_map_func_compatibility
        return "expected prog array map for tail call"
    return f"cannot pass map_type {map_type} into func bpf_{h}#{helper_id}"


def map_write_check(map_flags: int, helper_id: int) -> str | None:
    """record_func_map: a helper that writes into a BPF_F_RDONLY_PROG map is refused."""
    if map_flags & BPF_F_RDONLY_PROG and _helper(helper_id) in MAP_WRITING_HELPERS:
        return "write into map forbidden"
    return None


#: map types whose lookup, once NULL-checked, is a socket holding no reference: an xskmap
#: entry is a PTR_TO_XDP_SOCK (struct bpf_xdp_sock: ``queue_id`` read-only); a sockmap /
#: sockhash entry is a PTR_TO_SOCKET holding a reference (is_acquire_function), which only
#: the abstract verifier models
SOCKET_LOOKUP_MAP_TYPES = {"xskmap": "xdp_sock"}
SOCK_MAP_TYPES = frozenset({"sockmap", "sockhash"})


def map_helper_unmodelled(map_type: int, helper_id: int, map_in_map: bool = False,
                          refs: bool = False) -> str | None:
    """Why the engines cannot model this (kernel-compatible) call, or None when they can:
    value helpers are modelled on value maps only; other map helpers do not look at the
    map's contents (tail_call, perf_event_output, ringbuf_*, redirect_map, get_stackid).
    ``map_in_map``: the engine models a lookup in an array / hash of maps (a map pointer
    or NULL; the abstract verifier and the interpreter do, the Z3 engine does not).
    ``refs``: it tracks references (a lookup in a sockmap / sockhash; every engine models
    the socket a lookup in :data:`SOCKET_LOOKUP_MAP_TYPES` gives). A lookup
    only the abstract verifier models gives a reason starting with ``VERIFIER_ONLY`` to
    the others (the Z3 engine leaves such a path to the verifier: unknown, not unsafe)."""
    t, h = map_type_name(map_type), _helper(helper_id)
    if map_type not in MAP_TYPES:
        return f"not modelled: map type {map_type}"
    if h == "map_lookup_elem" and t in SOCKET_LOOKUP_MAP_TYPES:
        return None
    if h == "map_lookup_elem" and (t in MAP_IN_MAP_TYPES or t in SOCK_MAP_TYPES):
        from model.platform.ctx_layouts import VERIFIER_ONLY

        if t in MAP_IN_MAP_TYPES:
            return None if map_in_map else f"{VERIFIER_ONLY}: a lookup in an {t}"
        return None if refs else f"{VERIFIER_ONLY}: a socket reference from a {t} lookup"
    if h in ("map_update_elem", "map_delete_elem") and t in SOCK_MAP_TYPES:
        from model.platform.ctx_layouts import VERIFIER_ONLY

        # the key, and a socket as the value (resolve_map_arg): the abstract verifier's
        return None if refs else f"{VERIFIER_ONLY}: bpf_{h} on a {t}"
    if h in VALUE_HELPERS and t not in VALUE_MAP_TYPES:
        return f"not modelled: map type {t} ({map_type}) with bpf_{h}"
    return None


#: map types a program may name at all in this model (ld_imm64); struct_ops and arena maps
#: have their own verifier rules, which are not modelled
_LDIMM_UNMODELLED = frozenset({"unspec", "struct_ops", "arena"})


def map_type_unmodelled(map_type: int) -> str | None:
    """ld_imm64 of a map of this type: "not modelled" reason, or None."""
    if map_type not in MAP_TYPES or MAP_TYPES[map_type] in _LDIMM_UNMODELLED:
        return f"not modelled: map type {map_type_name(map_type)} ({map_type})"
    return None


def forced_prog_flags(map_type: int) -> int:
    """The BPF_F_*_PROG flags the kernel adds to a map of this type at creation."""
    return BPF_F_RDONLY_PROG if map_type_name(map_type) in RDONLY_PROG_MAP_TYPES else 0


def keys_exact(map_type: int) -> bool:
    """A lookup finds exactly the element stored under the same key bytes."""
    return map_type_name(map_type) not in PREFIX_MATCH_MAP_TYPES


def is_array_type(map_type: int) -> bool:
    return map_type_name(map_type) in ARRAY_MAP_TYPES


#: map types whose object may leave max_entries at 0 for its loader to set (the kernel
#: creates none with 0: EINVAL, measured on Linux 6.18), with the fewest entries the kernel
#: creates one with: an array (of maps) or a hash map 1; a ring buffer a power of 2 of
#: whole pages, so one page of bytes (ringbuf_map_alloc; 2048 refused, 4096 created)
LOADER_SIZED_MAP_TYPES = {"array": 1, "percpu_array": 1, "array_of_maps": 1, "hash": 1,
                          "percpu_hash": 1, "lru_hash": 1, "lru_percpu_hash": 1,
                          "ringbuf": 4096, "user_ringbuf": 4096}
#: the most entries a map may have once loaded (max_entries is a u32)
MAX_LOADED_ENTRIES = (1 << 32) - 1


def entries_set_at_load(map_type: int, max_entries: int) -> bool:
    """The object leaves this map at 0 entries for its loader to set
    (``bpf_map__set_max_entries``, a ``volatile const`` size): once loaded it has any
    number from ``entries_at_least`` to MAX_LOADED_ENTRIES, unknown to the object."""
    return max_entries == 0 and map_type_name(map_type) in LOADER_SIZED_MAP_TYPES


def entries_at_least(map_type: int, max_entries: int) -> int:
    """The fewest entries a map of the object has once loaded: its max_entries, or the
    kernel's least when the object leaves 0 for its loader to set
    (``entries_set_at_load``): for an array 1, so a constant key 0 is in range whatever
    the loader sets."""
    if entries_set_at_load(map_type, max_entries):
        return LOADER_SIZED_MAP_TYPES[map_type_name(map_type)]
    return max_entries


def can_elide_null(map_type: int, map_flags: int) -> bool:
    """A lookup with a constant key below max_entries is never NULL (the kernel's
    can_elide_value_nullness): arrays, but not one created with BPF_F_INNER_MAP (an inner
    map's size may differ from its template's; the kernel keeps the NULL then)."""
    return is_array_type(map_type) and not map_flags & BPF_F_INNER_MAP


def prog_can_read(map_flags: int) -> bool:
    """bpf_map_flags_to_cap: a program may read the map's values."""
    return not map_flags & BPF_F_WRONLY_PROG


def prog_can_write(map_flags: int) -> bool:
    return not map_flags & BPF_F_RDONLY_PROG


def access_type_check(map_flags: int, write: bool, value_size: int, off: int,
                      size: int) -> str | None:
    """check_map_access_type: a direct or helper access to a map value against the map's
    BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG flag."""
    if write and not prog_can_write(map_flags):
        return f"write into map forbidden, value_size={value_size} off={off} size={size}"
    if not write and not prog_can_read(map_flags):
        return f"read from map forbidden, value_size={value_size} off={off} size={size}"
    return None


def resolve_map_arg(map_type: int, arg):
    """resolve_map_arg_type: the value argument of a map helper on a sockmap / sockhash
    (bpf_map_update_elem) is a socket, ARG_PTR_TO_BTF_ID_SOCK_COMMON; other arguments as
    the prototype says."""
    from model.platform.proto_kinds import ARG_PTR_TO_BTF_ID_SOCK_COMMON, Arg

    if arg.base is Arg.PTR_TO_MAP_VALUE and map_type_name(map_type) in SOCK_MAP_TYPES:
        return ARG_PTR_TO_BTF_ID_SOCK_COMMON
    return arg


__all__ = ["MAP_TYPES", "MAP_TYPE_IDS", "MAP_ALLOWS", "HELPER_NEEDS", "VALUE_MAP_TYPES",
           "map_helper_check", "map_helper_unmodelled", "SOCKET_LOOKUP_MAP_TYPES",
           "SOCK_MAP_TYPES", "map_type_unmodelled", "map_write_check",
           "access_type_check", "prog_can_read", "prog_can_write",
           "is_array_type", "keys_exact", "forced_prog_flags", "can_elide_null",
           "map_type_name", "resolve_map_arg", "MAP_IN_MAP_TYPES",
           "MAP_IN_MAP_IDS", "BPF_F_RDONLY_PROG", "BPF_F_WRONLY_PROG", "BPF_F_INNER_MAP",
           "entries_at_least", "entries_set_at_load", "MAX_LOADED_ENTRIES"]
