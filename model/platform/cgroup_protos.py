"""Which helpers the cgroup program types reach (Linux 6.18): their ``*_func_proto`` chains
(net/core/filter.c sock_filter_func_proto / sock_addr_func_proto, kernel/bpf/cgroup.c
cgroup_dev_func_proto / sysctl_func_proto / cg_sockopt_func_proto), each starting with
cgroup_common_func_proto and cgroup_current_func_proto and falling back to
bpf_base_func_proto (sock_addr: bpf_sk_base_func_proto). Several answers depend on the
program's ``expected_attach_type``. Used by :mod:`model.platform.prototypes`; checked
against the running kernel by tests/test_cgroup_types.py (every helper id, every attach
type).
"""

from __future__ import annotations

from model.platform.ctx_cgroup import INET4_CONNECT, INET6_CONNECT, SETSOCKOPT, effective_attach

#: cgroup_common_func_proto answers NULL for get_retval / set_retval at these attach types
#: (cgroup_skb ingress/egress, sock_ops, and the sock_addr hooks whose return value must
#: be 1: recvmsg, getpeername, getsockname)
NO_RETVAL_ATTACH = frozenset({0, 1, 3, 19, 20, 51, 29, 30, 52, 31, 32, 53})
_RETVAL = {"get_retval", "set_retval"}
# cgroup_current_func_proto: get_current_uid_gid, get_current_comm, get_cgroup_classid
# (the _curr proto) and current_task_under_cgroup -- all already in bpf_base_func_proto
# for a privileged loader, the only one these types have.
_COMMON = {"get_local_storage", "perf_event_output"}
_SOCK = {"get_socket_cookie", "get_netns_cookie", "sk_storage_get", "ktime_get_coarse_ns"}
_SOCK_ADDR = {
    "get_socket_cookie", "get_netns_cookie", "sk_lookup_tcp", "sk_lookup_udp", "sk_release",
    "skc_lookup_tcp", "setsockopt", "getsockopt", "sk_storage_get", "sk_storage_delete",
}
_DEVICE: set[str] = set()
_SYSCTL = {"sysctl_get_name", "sysctl_get_current_value", "sysctl_get_new_value",
           "sysctl_set_new_value", "ktime_get_coarse_ns"}
_SOCKOPT = {"get_netns_cookie", "sk_storage_get", "sk_storage_delete", "tcp_sock"}

#: the fallback of each type: "base" (bpf_base_func_proto) or "sk_base"
FALLBACK = {"cgroup_sock": "base", "cgroup_sock_addr": "sk_base", "cgroup_device": "base",
            "cgroup_sysctl": "base", "cgroup_sockopt": "base"}


def cgroup_own_helpers(prog_type: str, attach_type: int) -> set[str]:
    """The helpers ``prog_type``'s own switches return (before its fallback)."""
    attach = effective_attach(prog_type, attach_type)
    own = set(_COMMON)
    if attach not in NO_RETVAL_ATTACH:
        own |= _RETVAL
    if prog_type == "cgroup_sock":
        own |= _SOCK
    elif prog_type == "cgroup_sock_addr":
        own |= _SOCK_ADDR
        if attach in (INET4_CONNECT, INET6_CONNECT):
            own.add("bind")
    elif prog_type == "cgroup_device":
        own |= _DEVICE
    elif prog_type == "cgroup_sysctl":
        own |= _SYSCTL
    elif prog_type == "cgroup_sockopt":
        own |= _SOCKOPT
        if attach == SETSOCKOPT:  # bpf_sk_setsockopt / bpf_sk_getsockopt
            own |= {"setsockopt", "getsockopt"}
    return own


__all__ = ["FALLBACK", "NO_RETVAL_ATTACH", "cgroup_own_helpers"]
