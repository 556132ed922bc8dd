"""Section-name conventions: which sections hold programs, maps and data, and the program
type and expected attach type a program's section name says.

``SECTION_DEFS`` is libbpf's ``section_defs`` table as of Linux 6.18 (libbpf 1.6/1.7):
a pattern ending in ``+`` matches the bare name or the name followed by ``/...``; any
other pattern matches only exactly. Older loaders (libbpf before 1.0, PREVAIL) matched
some names by prefix (``xdp_prog``, ``socket1``, ``classifier_foo``); those legacy
prefixes are matched after the table. iproute2 loads every program of an object as the
type its command says (``tc`` -> sched_cls, ``ip link ... xdp`` -> xdp), whatever the
section (``from-netdev``, numeric tail-call sections such as ``2/7``): such programs have
type ``unspec`` here and take their type from ``--prog-type``.
"""

from __future__ import annotations

import functools
import re

PROG_TYPE_IDS = {
    "unspec": 0, "socket_filter": 1, "kprobe": 2, "sched_cls": 3, "sched_act": 4,
    "tracepoint": 5, "xdp": 6, "perf_event": 7, "cgroup_skb": 8, "cgroup_sock": 9,
    "lwt_in": 10, "lwt_out": 11, "lwt_xmit": 12, "sock_ops": 13, "sk_skb": 14,
    "cgroup_device": 15, "sk_msg": 16, "raw_tracepoint": 17, "cgroup_sock_addr": 18,
    "lwt_seg6local": 19, "lirc_mode2": 20, "sk_reuseport": 21, "flow_dissector": 22,
    "cgroup_sysctl": 23, "raw_tracepoint_writable": 24, "cgroup_sockopt": 25,
    "tracing": 26, "struct_ops": 27, "ext": 28, "lsm": 29, "sk_lookup": 30, "syscall": 31,
    "netfilter": 32,
}

#: ``enum bpf_attach_type`` (Linux 6.18), the values the section table uses
ATTACH_TYPE_IDS = {
    "none": 0,  # BPF_CGROUP_INET_INGRESS is 0 too: 0 is also "no expected attach type"
    "cgroup_inet_ingress": 0, "cgroup_inet_egress": 1, "cgroup_inet_sock_create": 2,
    "cgroup_sock_ops": 3, "sk_skb_stream_parser": 4, "sk_skb_stream_verdict": 5,
    "cgroup_device": 6, "sk_msg_verdict": 7, "cgroup_inet4_bind": 8, "cgroup_inet6_bind": 9,
    "cgroup_inet4_connect": 10, "cgroup_inet6_connect": 11, "cgroup_inet4_post_bind": 12,
    "cgroup_inet6_post_bind": 13, "cgroup_udp4_sendmsg": 14, "cgroup_udp6_sendmsg": 15,
    "lirc_mode2": 16, "flow_dissector": 17, "cgroup_sysctl": 18, "cgroup_udp4_recvmsg": 19,
    "cgroup_udp6_recvmsg": 20, "cgroup_getsockopt": 21, "cgroup_setsockopt": 22,
    "trace_raw_tp": 23, "trace_fentry": 24, "trace_fexit": 25, "modify_return": 26,
    "lsm_mac": 27, "trace_iter": 28, "cgroup_inet4_getpeername": 29,
    "cgroup_inet6_getpeername": 30, "cgroup_inet4_getsockname": 31,
    "cgroup_inet6_getsockname": 32, "xdp_devmap": 33, "cgroup_inet_sock_release": 34,
    "xdp_cpumap": 35, "sk_lookup": 36, "xdp": 37, "sk_skb_verdict": 38,
    "sk_reuseport_select": 39, "sk_reuseport_select_or_migrate": 40, "perf_event": 41,
    "trace_kprobe_multi": 42, "lsm_cgroup": 43, "struct_ops": 44, "netfilter": 45,
    "tcx_ingress": 46, "tcx_egress": 47, "trace_uprobe_multi": 48, "cgroup_unix_connect": 49,
    "cgroup_unix_sendmsg": 50, "cgroup_unix_recvmsg": 51, "cgroup_unix_getpeername": 52,
    "cgroup_unix_getsockname": 53, "netkit_primary": 54, "netkit_peer": 55,
    "trace_kprobe_session": 56, "trace_uprobe_session": 57,
}

#: (pattern, program type, expected attach type, sleepable) in libbpf's order: first match wins
SECTION_DEFS: tuple[tuple[str, str, str, bool], ...] = tuple(
    (p, t, a, s) for p, t, a, s in (
        ("socket", "socket_filter", "none", False),
        ("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate", False),
        ("sk_reuseport", "sk_reuseport", "sk_reuseport_select", False),
        ("kprobe+", "kprobe", "none", False),
        ("uprobe+", "kprobe", "none", False),
        ("uprobe.s+", "kprobe", "none", True),
        ("kretprobe+", "kprobe", "none", False),
        ("uretprobe+", "kprobe", "none", False),
        ("uretprobe.s+", "kprobe", "none", True),
        ("kprobe.multi+", "kprobe", "trace_kprobe_multi", False),
        ("kretprobe.multi+", "kprobe", "trace_kprobe_multi", False),
        ("kprobe.session+", "kprobe", "trace_kprobe_session", False),
        ("uprobe.multi+", "kprobe", "trace_uprobe_multi", False),
        ("uretprobe.multi+", "kprobe", "trace_uprobe_multi", False),
        ("uprobe.session+", "kprobe", "trace_uprobe_session", False),
        ("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", True),
        ("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", True),
        ("uprobe.session.s+", "kprobe", "trace_uprobe_session", True),
        ("ksyscall+", "kprobe", "none", False),
        ("kretsyscall+", "kprobe", "none", False),
        ("usdt+", "kprobe", "none", False),
        ("usdt.s+", "kprobe", "none", True),
        ("tc/ingress", "sched_cls", "tcx_ingress", False),
        ("tc/egress", "sched_cls", "tcx_egress", False),
        ("tcx/ingress", "sched_cls", "tcx_ingress", False),
        ("tcx/egress", "sched_cls", "tcx_egress", False),
        ("tc", "sched_cls", "none", False),
        ("classifier", "sched_cls", "none", False),
        ("action", "sched_act", "none", False),
        ("netkit/primary", "sched_cls", "netkit_primary", False),
        ("netkit/peer", "sched_cls", "netkit_peer", False),
        ("tracepoint+", "tracepoint", "none", False),
        ("tp+", "tracepoint", "none", False),
        ("tracepoint.s+", "tracepoint", "none", True),
        ("tp.s+", "tracepoint", "none", True),
        ("raw_tracepoint+", "raw_tracepoint", "none", False),
        ("raw_tp+", "raw_tracepoint", "none", False),
        ("raw_tracepoint.s+", "raw_tracepoint", "none", True),
        ("raw_tp.s+", "raw_tracepoint", "none", True),
        ("raw_tracepoint.w+", "raw_tracepoint_writable", "none", False),
        ("raw_tp.w+", "raw_tracepoint_writable", "none", False),
        ("tp_btf+", "tracing", "trace_raw_tp", False),
        ("tp_btf.s+", "tracing", "trace_raw_tp", True),
        ("fentry+", "tracing", "trace_fentry", False),
        ("fmod_ret+", "tracing", "modify_return", False),
        ("fexit+", "tracing", "trace_fexit", False),
        ("fentry.s+", "tracing", "trace_fentry", True),
        ("fmod_ret.s+", "tracing", "modify_return", True),
        ("fexit.s+", "tracing", "trace_fexit", True),
        ("freplace+", "ext", "none", False),
        ("lsm+", "lsm", "lsm_mac", False),
        ("lsm.s+", "lsm", "lsm_mac", True),
        ("lsm_cgroup+", "lsm", "lsm_cgroup", False),
        ("iter+", "tracing", "trace_iter", False),
        ("iter.s+", "tracing", "trace_iter", True),
        ("syscall", "syscall", "none", True),
        ("xdp.frags/devmap", "xdp", "xdp_devmap", False),
        ("xdp/devmap", "xdp", "xdp_devmap", False),
        ("xdp.frags/cpumap", "xdp", "xdp_cpumap", False),
        ("xdp/cpumap", "xdp", "xdp_cpumap", False),
        ("xdp.frags", "xdp", "xdp", False),
        ("xdp", "xdp", "xdp", False),
        ("perf_event", "perf_event", "none", False),
        ("lwt_in", "lwt_in", "none", False),
        ("lwt_out", "lwt_out", "none", False),
        ("lwt_xmit", "lwt_xmit", "none", False),
        ("lwt_seg6local", "lwt_seg6local", "none", False),
        ("sockops", "sock_ops", "cgroup_sock_ops", False),
        ("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser", False),
        ("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict", False),
        ("sk_skb/verdict", "sk_skb", "sk_skb_verdict", False),
        ("sk_skb", "sk_skb", "none", False),
        ("sk_msg", "sk_msg", "sk_msg_verdict", False),
        ("lirc_mode2", "lirc_mode2", "lirc_mode2", False),
        ("flow_dissector", "flow_dissector", "flow_dissector", False),
        ("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress", False),
        ("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress", False),
        ("cgroup/skb", "cgroup_skb", "none", False),
        ("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", False),
        ("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release", False),
        ("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create", False),
        ("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind", False),
        ("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind", False),
        ("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind", False),
        ("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind", False),
        ("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", False),
        ("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect", False),
        ("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect", False),
        ("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg", False),
        ("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg", False),
        ("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg", False),
        ("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg", False),
        ("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg", False),
        ("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg", False),
        ("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername", False),
        ("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername", False),
        ("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername", False),
        ("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname", False),
        ("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname", False),
        ("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname", False),
        ("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", False),
        ("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", False),
        ("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt", False),
        ("cgroup/dev", "cgroup_device", "cgroup_device", False),
        ("struct_ops+", "struct_ops", "none", False),
        ("struct_ops.s+", "struct_ops", "none", True),
        ("sk_lookup", "sk_lookup", "sk_lookup", False),
        ("netfilter", "netfilter", "netfilter", False),
    ))

#: libbpf < 1.0 and PREVAIL matched these by prefix ("xdp_prog", "socket1", "classifier_x");
#: cilium/ebpf still matches a pattern without ``+`` by prefix, so Cilium's datapath names
#: its tc programs ``tc/entry`` and ``tc/tail`` (its xdp ones ``xdp/entry``, ``xdp/tail``)
#: and the OpenTelemetry profiler its ``perf_event/unwind_native``
_LEGACY_PREFIXES = (("xdp", "xdp", "xdp"), ("tc/", "sched_cls", "none"),
                    ("perf_event/", "perf_event", "none"),
                    ("socket", "socket_filter", "none"),
                    ("classifier", "sched_cls", "none"), ("action", "sched_act", "none"),
                    ("cgroup_skb", "cgroup_skb", "none"),
                    ("sockops", "sock_ops", "cgroup_sock_ops"), ("sk_skb", "sk_skb", "none"),
                    ("sk_msg", "sk_msg", "sk_msg_verdict"))

#: iproute2's tail-call sections: "PROG_ID/KEY" (``__section_tail(ID, KEY)``)
TAIL_CALL_SECTION = re.compile(r"^\d+/\d+$")

DATA_SECTION_PREFIXES = (".rodata", ".data", ".bss")


def _matches(pattern: str, section: str) -> bool:
    if pattern.endswith("+"):
        base = pattern[:-1]
        return section == base or section.startswith(base + "/")
    return section == pattern


@functools.lru_cache(maxsize=1024)
def section_def(section: str) -> tuple[str, str, bool]:
    """(program type, expected attach type name, sleepable) of a section name; program
    type ``unspec`` when no loader convention names one."""
    for pattern, ptype, attach, sleepable in SECTION_DEFS:
        if _matches(pattern, section):
            return ptype, attach, sleepable
    for prefix, ptype, attach in _LEGACY_PREFIXES:
        if section.startswith(prefix):
            return ptype, attach, False
    return "unspec", "none", False


def prog_type_of(section: str) -> str:
    """The program type for a section name, ``unspec`` when no loader would know it."""
    return section_def(section)[0]


def parse_prog_type(name: str) -> str:
    """A ``--prog-type`` value: a program type name (``xdp``, ``sched_cls``, ``BPF_PROG_TYPE_XDP``)
    or a section name libbpf knows (``tc``, ``kprobe``); ``ValueError`` if neither."""
    n = name.strip().lower().removeprefix("bpf_prog_type_")
    if n in PROG_TYPE_IDS and n != "unspec":
        return n
    ptype = prog_type_of(name.strip())
    if ptype == "unspec":
        raise ValueError(f"unknown program type {name!r} (one of: "
                         f"{', '.join(t for t in PROG_TYPE_IDS if t != 'unspec')})")
    return ptype


def is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in DATA_SECTION_PREFIXES)
