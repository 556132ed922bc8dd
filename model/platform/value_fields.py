"""Special fields of a map value, as the map's BTF describes them (Linux 6.18
kernel/bpf/btf.c btf_parse_fields; include/linux/bpf.h ``enum btf_field_type``): the
structs the kernel manages itself (``struct bpf_spin_lock``, ``bpf_timer``, ...), which a
program may not load or store directly (check_map_access), and kptrs. A map's fields are
``MapDef.fields``: (kind, offset, size), kind being the struct's name or "kptr". (The
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
#: check_map_prog_compatibility: program types that may not use a map with a spin lock
LOCK_REFUSED = {"socket_filter": "socket filter progs cannot use bpf_spin_lock yet",
                **{t: "tracing progs cannot use bpf_spin_lock yet" for t in (
                    "kprobe", "tracepoint", "perf_event", "raw_tracepoint",
                    "raw_tracepoint_writable")}}


def field_error(kind: str) -> str:
    """Why a load or store may not touch a special field of kind ``kind``."""
    if kind == "kptr":
        return "not modelled: access to a kptr field of a map value"
    return f"{kind} cannot be accessed directly by load/store"


def field_access_error(fields, lo: int, hi: int, size: int) -> str | None:
    """check_map_access: why an access of ``size`` bytes starting anywhere in
    ``[lo, hi]`` (value offsets) may not touch the value's special fields, or None."""
    for kind, off, fsize in fields:
        if lo < off + fsize and off < hi + size:
            return field_error(kind)
    return None


def spin_lock_off(fields) -> int | None:
    """The offset of the value's ``struct bpf_spin_lock``, or None."""
    return next((off for kind, off, _ in fields if kind == SPIN_LOCK), None)


def lock_load_error(prog_type: str, fields) -> str | None:
    """A program naming a map whose value holds a spin lock, refused at load."""
    if spin_lock_off(fields) is None:
        return None
    return LOCK_REFUSED.get(prog_type)


__all__ = ["SPECIAL_STRUCTS", "KPTR_TAGS", "field_access_error", "field_error", "spin_lock_off",
           "lock_load_error"]
