"""Section-name conventions: which sections hold programs, maps and data, and the program
type libbpf infers from a program section's name."""

from __future__ import annotations

import functools

# (prefix, program type, kernel enum bpf_prog_type value). Longest prefix wins.
_PROG_TYPES: list[tuple[str, str]] = [
    ("socket", "socket_filter"),
    ("kprobe", "kprobe"),
    ("uprobe", "kprobe"),
    ("kretprobe", "kprobe"),
    ("uretprobe", "kprobe"),
    ("ksyscall", "kprobe"),
    ("kretsyscall", "kprobe"),
    ("usdt", "kprobe"),
    ("tc", "sched_cls"),
    ("tcx", "sched_cls"),
    ("classifier", "sched_cls"),
    ("action", "sched_act"),
    ("tracepoint", "tracepoint"),
    ("tp", "tracepoint"),
    ("raw_tracepoint", "raw_tracepoint"),
    ("raw_tp", "raw_tracepoint"),
    ("tp_btf", "tracing"),
    ("fentry", "tracing"),
    ("fexit", "tracing"),
    ("fmod_ret", "tracing"),
    ("iter", "tracing"),
    ("xdp", "xdp"),
    ("perf_event", "perf_event"),
    ("lwt_in", "lwt_in"),
    ("lwt_out", "lwt_out"),
    ("lwt_xmit", "lwt_xmit"),
    ("cgroup_skb", "cgroup_skb"),
    ("cgroup/skb", "cgroup_skb"),
    ("cgroup/sock", "cgroup_sock"),
    ("sockops", "sock_ops"),
    ("sk_skb", "sk_skb"),
    ("sk_msg", "sk_msg"),
    ("flow_dissector", "flow_dissector"),
    ("syscall", "syscall"),
    ("struct_ops", "struct_ops"),
    ("lsm", "lsm"),
]

PROG_TYPE_IDS = {
    "unspec": 0, "socket_filter": 1, "kprobe": 2, "sched_cls": 3, "sched_act": 4,
    "tracepoint": 5, "xdp": 6, "perf_event": 7, "cgroup_skb": 8, "cgroup_sock": 9,
    "lwt_in": 10, "lwt_out": 11, "lwt_xmit": 12, "sock_ops": 13, "sk_skb": 14,
    "cgroup_device": 15, "sk_msg": 16, "raw_tracepoint": 17, "flow_dissector": 22,
    "tracing": 26, "struct_ops": 27, "lsm": 29, "syscall": 31,
}

DATA_SECTION_PREFIXES = (".rodata", ".data", ".bss")


@functools.lru_cache(maxsize=1024)
def prog_type_of(section: str) -> str:
    """The program type for a section name, ``unspec`` when libbpf would not know it."""
    best = ""
    found = "unspec"
    for prefix, ptype in _PROG_TYPES:
        if (section == prefix or section.startswith(prefix + "/") or section.startswith(prefix + ".")
                or (prefix in ("xdp", "tc", "classifier", "socket", "syscall") and section.startswith(prefix))):
            if len(prefix) > len(best):
                best, found = prefix, ptype
    return found


def is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in DATA_SECTION_PREFIXES)
