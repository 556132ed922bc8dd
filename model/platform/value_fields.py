"""Special fields of a map value, as the map's BTF describes them (Linux 6.18
kernel/bpf/btf.c btf_parse_fields; include/linux/bpf.h ``enum btf_field_type``): the
structs the kernel manages itself (``struct bpf_spin_lock``, ``bpf_timer``, ...), which a
program may not load or store directly (check_map_access), and kptrs. A map's fields are
``MapDef.fields``: (kind, offset, size), kind being the struct's name or a kptr's (:func:`kptr_kind`). (The
fields of the kernel's ``struct bpf_map`` read through a map pointer: model.platform.map_fields.)
"""

from __future__ import annotations

#: structs the kernel owns inside a map value (by BTF struct name)
SPECIAL_STRUCTS = frozenset({"bpf_spin_lock", "bpf_res_spin_lock", "bpf_timer", "bpf_wq",
                             "bpf_list_head", "bpf_list_node", "bpf_rb_root", "bpf_rb_node",
                             "bpf_refcount", "bpf_task_work"})
#: BTF type tags that make a pointer member a kptr
KPTR_TAGS = frozenset({"kptr", "kptr_untrusted", "percpu_kptr", "kptr_ref"})
SPIN_LOCK = "bpf_spin_lock"
TIMER = "bpf_timer"
#: is_tracing_prog_type (kernel/bpf/verifier.c)
TRACING_TYPES = ("kprobe", "tracepoint", "perf_event", "raw_tracepoint",
                 "raw_tracepoint_writable")
#: check_map_prog_compatibility: program types that may not use a map with a spin lock
LOCK_REFUSED = {"socket_filter": "socket filter progs cannot use bpf_spin_lock yet",
                **{t: "tracing progs cannot use bpf_spin_lock yet" for t in TRACING_TYPES}}
#: ... or with a bpf_timer (socket filters may: measured on Linux 6.18, tests/test_timers.py)
TIMER_REFUSED = {t: "tracing progs cannot use bpf_timer yet" for t in TRACING_TYPES}
#: map_check_btf: the map types whose value may hold a bpf_timer (BPF_MAP_CREATE refuses
#: the others, EOPNOTSUPP)
TIMER_MAP_TYPES = frozenset({"hash", "array", "lru_hash"})
#: BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG: map_check_btf refuses them with special fields
PROG_ACCESS_FLAGS = (1 << 7) | (1 << 8)


def kptr_kind(tag: str, struct: str) -> str:
    """A kptr field's kind in ``MapDef.fields``: its type tag and the struct it points to
    ("" when the pointee is no struct), e.g. ``kptr:task_struct``."""
    return f"{tag}:{struct}"


def kptr_of(kind: str) -> tuple[str, str] | None:
    """(type tag, pointee struct) of a kptr field's kind, or None for another field."""
    tag, sep, struct = kind.partition(":")
    return (tag, struct) if sep and tag in KPTR_TAGS else None


def kptr_name(kind: str) -> str:
    """btf_field_type_name: "kptr" (referenced or not) or "percpu_kptr"."""
    return "percpu_kptr" if kind.startswith("percpu_kptr:") else "kptr"


def field_error(kind: str) -> str:
    """Why a load or store may not touch a special field of kind ``kind``."""
    if kptr_of(kind):
        from model.platform.ctx_layouts import VERIFIER_ONLY

        return f"{VERIFIER_ONLY}: access to a kptr field of a map value"
    return f"{kind} cannot be accessed directly by load/store"


def record_fields(fields) -> tuple:
    """The fields the kernel records for a value (btf_parse_fields): none at all when a
    bpf_timer appears twice (-E2BIG: the map is created without a record, its bytes are
    plain: measured on Linux 6.18, a bpf_spin_lock beside two bpf_timers is then read
    like any byte, tests/test_timers.py)."""
    if sum(1 for k, _, _ in fields if k == TIMER) > 1:
        return ()
    return tuple(fields)


def field_access_error(fields, lo: int, hi: int, size: int, const_off: int | None = None,
                       direct: bool = True) -> str | None:
    """check_map_access: why an access of ``size`` bytes starting anywhere in
    ``[lo, hi]`` (value offsets) may not touch the value's special fields, or None.
    ``const_off``: the access's offset when it is a constant; ``direct``: a load or
    store (not a helper's memory argument). A kptr field may be touched only by a direct
    8-byte access at its offset (model.verifier.kptrs then checks the instruction)."""
    for kind, off, fsize in record_fields(fields):
        if lo < off + fsize and off < hi + size:
            if not kptr_of(kind):
                return field_error(kind)
            name = kptr_name(kind)
            if not direct:
                return f"{name} cannot be accessed indirectly by helper"
            if const_off is None:
                return f"{name} access cannot have variable offset"
            if const_off != off:
                return f"{name} access misaligned expected={off} off={const_off}"
            if size != 8:
                return f"{name} access size must be BPF_DW"
            return None
    return None


def field_off(fields, kind: str) -> int | None:
    """The offset of the value's special field of kind ``kind``, or None: none, or more
    than one (two bpf_timers: the map is created, but "map 'm' has no valid bpf_timer",
    measured on Linux 6.18)."""
    offs = [off for k, off, _ in record_fields(fields) if k == kind]
    return offs[0] if len(offs) == 1 else None


def spin_lock_off(fields) -> int | None:
    """The offset of the value's ``struct bpf_spin_lock``, or None."""
    return field_off(fields, SPIN_LOCK)


#: map_check_btf: the map types whose value may hold a kptr (BPF_MAP_CREATE refuses the
#: others with EOPNOTSUPP; libbpf then creates the map without BTF)
KPTR_MAP_TYPES = frozenset({"hash", "lru_hash", "array", "percpu_hash", "percpu_array",
                            "lru_percpu_hash", "sk_storage", "inode_storage", "task_storage",
                            "cgrp_storage"})


def kptr_fields_error(maps, in_vmlinux) -> str | None:
    """Why skv does not judge the programs of an object whose maps hold these kptrs, or
    None: only ``__kptr`` / ``__kptr_untrusted`` fields to a vmlinux struct (``in_vmlinux``:
    name -> bool), a referenced one to a struct with a destructor kfunc, in a map type
    that may hold kptrs, are modelled. (The kernel refuses the object's whole BTF for a
    referenced kptr to a struct without a destructor, and libbpf then creates every map
    without BTF: their special fields are gone.)"""
    from model.platform.kfuncs import KPTR_DTOR_STRUCTS
    from model.platform.map_helpers import map_type_name

    for m in maps.values():
        for kind, _, _ in m.fields:
            got = kptr_of(kind)
            if got is None:
                continue
            tag, struct = got
            if (tag not in ("kptr", "kptr_untrusted") or not struct or not in_vmlinux(struct)
                    or tag == "kptr" and struct not in KPTR_DTOR_STRUCTS):
                return (f"not modelled: a {tag} field to {struct or 'a non-struct type'} "
                        f"in map {m.name}")
            if map_type_name(m.type) not in KPTR_MAP_TYPES:
                return f"not modelled: a kptr in a {map_type_name(m.type)} map ({m.name})"
    return None


def lock_load_error(prog_type: str, fields, map_type: str = "", map_flags: int = 0
                    ) -> str | None:
    """A program naming a map whose value holds a spin lock or a bpf_timer, refused at load
    (check_map_prog_compatibility); a map that cannot even be created (map_check_btf): a
    bpf_timer in a map of another type than :data:`TIMER_MAP_TYPES`, special fields in a
    map the program may only read or only write."""
    if fields and map_flags & PROG_ACCESS_FLAGS:
        return ("special fields in a map with BPF_F_RDONLY_PROG or BPF_F_WRONLY_PROG: "
                "BPF_MAP_CREATE refuses it (EACCES)")
    if spin_lock_off(fields) is not None and prog_type in LOCK_REFUSED:
        return LOCK_REFUSED[prog_type]
    if field_off(fields, TIMER) is None:
        return None
    if map_type and map_type not in TIMER_MAP_TYPES:
        return (f"a bpf_timer in a {map_type} map: BPF_MAP_CREATE refuses it (only hash, "
                "lru_hash and array maps may hold one)")
    return TIMER_REFUSED.get(prog_type)


__all__ = ["SPECIAL_STRUCTS", "KPTR_TAGS", "field_access_error", "field_error", "kptr_fields_error", "KPTR_MAP_TYPES", "kptr_kind", "kptr_of", "kptr_name", "spin_lock_off",
           "field_off", "lock_load_error", "TIMER", "TIMER_MAP_TYPES", "record_fields"]
