"""Helper prototypes and which program types may call which helper (Linux 6.18, x86-64).

Two tables, written from the kernel's sources (``struct bpf_func_proto`` definitions in
kernel/bpf/helpers.c, net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/ringbuf.c,
kernel/bpf/bpf_iter.c, kernel/bpf/syscall.c) and checked against the running kernel by
``tests/test_platform.py``:

* :data:`PROTOTYPES` — ``helper id -> HelperProto``: argument and return types, GPL-only,
  packet access. Where the kernel has several protos of one helper (``perf_event_output``
  is ``bpf_skb_event_output_proto`` for skb programs, ``bpf_perf_event_output_proto_tp``
  for tracepoints, ...), they share the argument types recorded here.
* the per-program-type helper sets behind :func:`helper_allowed`, built like the kernel's
  ``*_func_proto`` chains: a type's own helpers, then the chain it falls back to, down to
  ``bpf_base_func_proto`` (whose later parts need CAP_BPF, then CAP_PERFMON).

The rows themselves are in :mod:`model.platform.proto_rows` (with the per-program-type
variants, :func:`helper_proto`); the argument and return kinds, and which of them the
engines model, in :mod:`model.platform.proto_kinds` (:func:`helper_unmodelled`: a call of a
helper with a kind no engine models is a clean "not modelled: ..." rejection).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from model.elf.sections import PROG_TYPE_IDS, section_def
from model.platform.ctx_layouts import MODELLED_PROG_TYPES as _CTX_MODELLED
from model.platform.cgroup_protos import FALLBACK as _CGROUP_FALLBACK, cgroup_own_helpers
from model.errors import NotModelled
from model.platform.helpers import HELPER_NAMES, helper_id  # noqa: F401 (re-exported)
from model.platform.iter_targets import ITER_HELPERS, target_helpers
from model.platform.proto_kinds import (Arg, ArgFlag, ArgType, Ret,  # noqa: F401 (re-exported)
                                        HELPER_ALLOWED_IN, unmodelled_kind)
from model.platform.proto_rows import CHANGES_PKT_DATA, ROWS, VARIANTS

# --- prototypes ------------------------------------------------------------------------


@dataclass(frozen=True)
class HelperProto:
    """One helper's ``struct bpf_func_proto`` (the fields the verifier checks).

    ``allowed``: the program types (names as in model.elf.sections) whose verifier accepts
    a call, for a privileged loader and a GPL license; ``None`` when every program type falls back to it
    (``bpf_base_func_proto`` without capability checks). Computed from the chains below.
    ``ret_size_arg``: index (0-based) of the argument that gives the returned memory's size.
    """

    id: int
    name: str                       # without the bpf_ prefix
    ret: Ret
    args: tuple[ArgType, ...]
    gpl_only: bool = False
    pkt_access: bool = False        # a packet pointer may be passed as a memory argument
    allowed: frozenset[str] | None = None
    ret_size_arg: int | None = None
    might_sleep: bool = False
    changes_pkt_data: bool = False  # bpf_helper_changes_pkt_data: packet pointers die

    @property
    def kernel_name(self) -> str:
        return "bpf_" + self.name


# --- which program types reach which helper ---------------------------------------------
# Names without the bpf_ prefix. Each set is one switch of a *_func_proto function.

# bpf_base_func_proto (kernel/bpf/helpers.c): first switch, no capability needed
_BASE = {
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "map_lookup_percpu_elem", "get_prandom_u32", "get_smp_processor_id",
    "get_numa_node_id", "tail_call", "ktime_get_ns", "ktime_get_boot_ns", "ktime_get_tai_ns",
    "ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query",
    "strncmp", "strtol", "strtoul", "get_current_pid_tgid", "get_ns_current_pid_tgid",
    "get_current_uid_gid",
}
# ... then only with CAP_BPF
_BASE_CAP_BPF = {
    "spin_lock", "spin_unlock", "jiffies64", "per_cpu_ptr", "this_cpu_ptr", "timer_init",
    "timer_set_callback", "timer_start", "timer_cancel", "kptr_xchg", "for_each_map_elem",
    "loop", "user_ringbuf_drain", "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr",
    "ringbuf_discard_dynptr", "dynptr_from_mem", "dynptr_read", "dynptr_write", "dynptr_data",
    "cgrp_storage_get", "cgrp_storage_delete", "get_current_cgroup_id",
    "get_current_ancestor_cgroup_id", "current_task_under_cgroup", "get_cgroup_classid",
    "task_storage_get", "task_storage_delete",
}
# ... then only with CAP_PERFMON
_BASE_CAP_PERFMON = {
    "trace_printk", "get_current_task", "get_current_task_btf", "get_current_comm",
    "probe_read_user", "probe_read_kernel", "probe_read_user_str", "probe_read_kernel_str",
    "copy_from_user", "copy_from_user_task", "snprintf_btf", "snprintf", "task_pt_regs",
    "trace_vprintk", "perf_event_read_value", "perf_event_read", "send_signal",
    "send_signal_thread", "get_task_stack", "get_branch_snapshot", "find_vma",
}

# bpf_sk_base_func_proto (net/core/filter.c): skc_to_* need CAP_PERFMON
_SK_BASE = {"ktime_get_coarse_ns"}
_SK_BASE_CAP_PERFMON = {
    "skc_to_tcp6_sock", "skc_to_tcp_sock", "skc_to_tcp_timewait_sock",
    "skc_to_tcp_request_sock", "skc_to_udp6_sock", "skc_to_unix_sock", "skc_to_mptcp_sock",
}

_SK_FILTER = {"skb_load_bytes", "skb_load_bytes_relative", "get_socket_cookie",
              "get_socket_uid", "perf_event_output", "get_netns_cookie"}
_CG_SKB = {
    "get_local_storage", "sk_fullsock", "sk_storage_get", "sk_storage_delete",
    "perf_event_output", "skb_cgroup_id", "skb_ancestor_cgroup_id", "sk_cgroup_id",
    "sk_ancestor_cgroup_id", "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "skc_lookup_tcp",
    "tcp_sock", "get_listener_sock", "skb_ecn_set_ce",
}
_TC = {
    "skb_store_bytes", "skb_load_bytes", "skb_load_bytes_relative", "skb_pull_data",
    "csum_diff", "csum_update", "csum_level", "l3_csum_replace", "l4_csum_replace",
    "clone_redirect", "get_cgroup_classid", "skb_vlan_push", "skb_vlan_pop",
    "skb_change_proto", "skb_change_type", "skb_adjust_room", "skb_change_tail",
    "skb_change_head", "skb_get_tunnel_key", "skb_set_tunnel_key", "skb_get_tunnel_opt",
    "skb_set_tunnel_opt", "redirect", "redirect_neigh", "redirect_peer", "get_route_realm",
    "get_hash_recalc", "set_hash_invalid", "set_hash", "perf_event_output",
    "get_smp_processor_id", "skb_under_cgroup", "get_socket_cookie", "get_socket_uid",
    "fib_lookup", "check_mtu", "sk_fullsock", "sk_storage_get", "sk_storage_delete",
    "skb_get_xfrm_state", "skb_cgroup_classid", "skb_cgroup_id", "skb_ancestor_cgroup_id",
    "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "tcp_sock", "get_listener_sock",
    "skc_lookup_tcp", "tcp_check_syncookie", "skb_ecn_set_ce", "tcp_gen_syncookie",
    "sk_assign", "skb_set_tstamp", "tcp_raw_gen_syncookie_ipv4", "tcp_raw_gen_syncookie_ipv6",
    "tcp_raw_check_syncookie_ipv4", "tcp_raw_check_syncookie_ipv6", "get_netns_cookie",
}
# sock_ops_func_proto (net/core/filter.c), before bpf_sk_base_func_proto
_SOCK_OPS = {
    "setsockopt", "getsockopt", "sock_ops_cb_flags_set", "sock_map_update", "sock_hash_update",
    "get_socket_cookie", "get_local_storage", "perf_event_output", "sk_storage_get",
    "sk_storage_delete", "get_netns_cookie", "load_hdr_opt", "store_hdr_opt",
    "reserve_hdr_opt", "tcp_sock",
}
# lwt_out_func_proto; lwt_in adds lwt_push_encap; lwt_xmit its own list first; seg6local
# the lwt_seg6_* helpers (CONFIG_IPV6_SEG6_BPF); all fall back to bpf_sk_base_func_proto
_LWT_OUT = {"skb_load_bytes", "skb_pull_data", "csum_diff", "get_cgroup_classid",
            "get_route_realm", "get_hash_recalc", "perf_event_output", "get_smp_processor_id",
            "skb_under_cgroup"}
_LWT_XMIT = {"skb_get_tunnel_key", "skb_set_tunnel_key", "skb_get_tunnel_opt",
             "skb_set_tunnel_opt", "redirect", "clone_redirect", "skb_change_tail",
             "skb_change_head", "skb_store_bytes", "csum_update", "csum_level",
             "l3_csum_replace", "l4_csum_replace", "set_hash_invalid", "lwt_push_encap"}
_LWT_SEG6 = {"lwt_seg6_store_bytes", "lwt_seg6_action", "lwt_seg6_adjust_srh"}
# sk_skb_func_proto, sk_msg_func_proto, flow_dissector_func_proto, sk_lookup_func_proto
# (all before bpf_sk_base_func_proto), sk_reuseport_func_proto (before bpf_base_func_proto)
_SK_SKB = {"skb_store_bytes", "skb_load_bytes", "skb_pull_data", "skb_change_tail",
           "skb_change_head", "skb_adjust_room", "get_socket_cookie", "get_socket_uid",
           "sk_redirect_map", "sk_redirect_hash", "perf_event_output", "sk_lookup_tcp",
           "sk_lookup_udp", "sk_release", "skc_lookup_tcp"}
_SK_MSG = {"msg_redirect_map", "msg_redirect_hash", "msg_apply_bytes", "msg_cork_bytes",
           "msg_pull_data", "msg_push_data", "msg_pop_data", "perf_event_output",
           "get_current_uid_gid", "get_current_pid_tgid", "sk_storage_get",
           "sk_storage_delete", "get_netns_cookie", "get_current_cgroup_id",
           "get_current_ancestor_cgroup_id", "get_cgroup_classid"}
_FLOW_DISSECTOR = {"skb_load_bytes"}
_SK_LOOKUP = {"perf_event_output", "sk_assign", "sk_release"}
_SK_REUSEPORT = {"sk_select_reuseport", "skb_load_bytes", "skb_load_bytes_relative",
                 "get_socket_cookie", "ktime_get_coarse_ns"}
_XDP = {
    "perf_event_output", "get_smp_processor_id", "csum_diff", "xdp_adjust_head",
    "xdp_adjust_meta", "redirect", "redirect_map", "xdp_adjust_tail", "xdp_get_buff_len",
    "xdp_load_bytes", "xdp_store_bytes", "fib_lookup", "check_mtu", "sk_lookup_udp",
    "sk_lookup_tcp", "sk_release", "skc_lookup_tcp", "tcp_check_syncookie", "tcp_gen_syncookie",
    "tcp_raw_gen_syncookie_ipv4", "tcp_raw_gen_syncookie_ipv6", "tcp_raw_check_syncookie_ipv4",
    "tcp_raw_check_syncookie_ipv6",
}
# bpf_tracing_func_proto (kernel/trace/bpf_trace.c), the fallback of every tracing type.
# probe_read/probe_read_str: CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE (x86-64).
_TRACING = {
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "map_lookup_percpu_elem", "ktime_get_ns", "ktime_get_boot_ns", "tail_call",
    "get_current_pid_tgid", "get_current_task", "get_current_task_btf", "task_pt_regs",
    "get_current_uid_gid", "get_current_comm", "trace_printk", "get_smp_processor_id",
    "get_numa_node_id", "perf_event_read", "current_task_under_cgroup", "get_prandom_u32",
    "probe_write_user", "probe_read_user", "probe_read_kernel", "probe_read_user_str",
    "probe_read_kernel_str", "probe_read", "probe_read_str", "get_current_cgroup_id",
    "get_current_ancestor_cgroup_id", "cgrp_storage_get", "cgrp_storage_delete", "send_signal",
    "send_signal_thread", "perf_event_read_value", "get_ns_current_pid_tgid", "ringbuf_output",
    "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "jiffies64",
    "get_task_stack", "copy_from_user", "copy_from_user_task", "snprintf_btf", "per_cpu_ptr",
    "this_cpu_ptr", "task_storage_get", "task_storage_delete", "for_each_map_elem", "snprintf",
    "get_func_ip", "get_branch_snapshot", "find_vma", "trace_vprintk",
}
_KPROBE = {"perf_event_output", "get_stackid", "get_stack", "override_return", "get_func_ip",
           "get_attach_cookie"}
_TRACEPOINT = {"perf_event_output", "get_stackid", "get_stack", "get_attach_cookie"}
_RAW_TP = {"perf_event_output", "get_stackid", "get_stack", "get_attach_cookie"}
# pe_prog_func_proto (the _pe flavours of get_stackid / get_stack take the context too)
_PERF_EVENT = {"perf_event_output", "get_stackid", "get_stack", "perf_prog_read_value",
               "read_branch_records", "get_attach_cookie"}
# tracing_prog_func_proto, without what needs BPF_TRACE_ITER or a trampoline
_TRACING_PROG = {
    "skb_output", "xdp_output", "skc_to_tcp6_sock", "skc_to_tcp_sock",
    "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock", "skc_to_udp6_sock",
    "skc_to_unix_sock", "skc_to_mptcp_sock", "sk_storage_get", "sk_storage_delete",
    "sock_from_file", "get_socket_cookie", "xdp_get_buff_len", "d_path",
}
# ... and what tracing_prog_func_proto answers NULL before falling back to raw_tp's chain
_TRACING_PROG_NULL = {"get_attach_cookie", "get_func_arg", "get_func_ret", "get_func_arg_cnt",
                      "seq_printf", "seq_write", "seq_printf_btf"}
# tracing_prog_func_proto's helpers that need a trampoline (fentry/fexit/fmod_ret, lsm);
# bpf_lsm_func_proto's own helpers (ima_*: sleepable only; set/getsockopt: lsm_cgroup only)
_TRAMPOLINE = {"get_func_arg", "get_func_ret", "get_func_arg_cnt", "get_attach_cookie"}
_LSM = {"inode_storage_get", "inode_storage_delete", "sk_storage_get", "sk_storage_delete",
        "spin_lock", "spin_unlock", "bprm_opts_set", "get_attach_cookie"}
#: attach types with a trampoline (bpf_prog_has_trampoline): fentry, fexit, fmod_ret
_TRAMPOLINE_ATTACH = {"tracing": (24, 25, 26), "lsm": (27,)}
_SYSCALL = {"sys_bpf", "btf_find_by_name_kind", "sys_close", "kallsyms_lookup_name"}

# Helpers whose proto a type reaches but that check_helper_call still refuses there:
# get_func_ip (check_get_func_ip: kprobe, or tracing with a trampoline), helpers with
# fn->allowed (d_path, the tracing sk_storage_get/delete: only some BTF attach points),
# might_sleep helpers in non-sleepable programs (copy_from_user*: the syscall type, and
# programs a ``.s`` section makes sleepable, :func:`sleepable`).
# fn->might_sleep (also refused inside an RCU read section: "sleepable helper NAME#ID in
# rcu_read_lock region"; bpf_sys_bpf, bpf_sys_close, bpf_btf_find_by_name_kind and
# bpf_kallsyms_lookup_name measured not to be)
_MIGHT_SLEEP = {"copy_from_user", "copy_from_user_task", "ima_inode_hash", "ima_file_hash"}
_SLEEPABLE_TYPES = {"syscall"}  # BPF_F_SLEEPABLE is mandatory for syscall programs
_FN_ALLOWED_BTF_ONLY = {"syscall": {"d_path", "sk_storage_get", "sk_storage_delete"}}

# Kernel configuration the helper sets depend on, as on the reference kernel (6.18,
# CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY=y, no CONFIG_BPF_KPROBE_OVERRIDE):
#: "none", "integrity" (probe_write_user gone) or "confidentiality" (also every
#: kernel-memory read: probe_read, probe_read_str, probe_read_kernel, probe_read_kernel_str)
LOCKDOWN = "integrity"
#: CONFIG_BPF_KPROBE_OVERRIDE: kprobe programs may call bpf_override_return
KPROBE_OVERRIDE = False
_LOCKDOWN_WRITE_USER = {"probe_write_user"}
_LOCKDOWN_READ_KERNEL = {"probe_read", "probe_read_str", "probe_read_kernel",
                         "probe_read_kernel_str"}


def _config_removes(lockdown: str, kprobe_override: bool) -> set[str]:
    gone = set()
    if lockdown in ("integrity", "confidentiality"):
        gone |= _LOCKDOWN_WRITE_USER
    if lockdown == "confidentiality":
        gone |= _LOCKDOWN_READ_KERNEL
    if not kprobe_override:
        gone.add("override_return")
    return gone


def _base(privileged: bool) -> set[str]:
    return _BASE | (_BASE_CAP_BPF | _BASE_CAP_PERFMON if privileged else set())


def _sk_base(privileged: bool) -> set[str]:
    return _SK_BASE | (_SK_BASE_CAP_PERFMON if privileged else set()) | _base(privileged)


def _tracing(privileged: bool) -> set[str]:
    return _TRACING | _base(privileged)


def _chain(prog_type: str, privileged: bool, lockdown: str = LOCKDOWN,
           kprobe_override: bool = KPROBE_OVERRIDE, attach_type: int = 0,
           section: str = "") -> set[str] | None:
    """Helper names whose proto ``prog_type``'s get_func_proto returns (None: not modelled).
    ``section``: an iterator's, whose target may add its own (bpf_iter_get_func_proto)."""
    sk_filter = _SK_FILTER | _sk_base(privileged)
    raw_tp = _RAW_TP | _tracing(privileged)
    chains = {
        "socket_filter": sk_filter,
        "cgroup_skb": _CG_SKB | sk_filter,
        "sched_cls": _TC | _sk_base(privileged),
        "sched_act": _TC | _sk_base(privileged),
        "xdp": _XDP | _sk_base(privileged),
        "sock_ops": _SOCK_OPS | _sk_base(privileged),
        "lwt_out": _LWT_OUT | _sk_base(privileged),
        "lwt_in": {"lwt_push_encap"} | _LWT_OUT | _sk_base(privileged),
        "lwt_xmit": _LWT_XMIT | _LWT_OUT | _sk_base(privileged),
        "lwt_seg6local": _LWT_SEG6 | _LWT_OUT | _sk_base(privileged),
        "sk_skb": _SK_SKB | _sk_base(privileged),
        "sk_msg": _SK_MSG | _sk_base(privileged),
        "flow_dissector": _FLOW_DISSECTOR | _sk_base(privileged),
        "sk_lookup": _SK_LOOKUP | _sk_base(privileged),
        "sk_reuseport": _SK_REUSEPORT | _base(privileged),
        "kprobe": _KPROBE | _tracing(privileged),
        "tracepoint": _TRACEPOINT | _tracing(privileged),
        "perf_event": _PERF_EVENT | _tracing(privileged),
        "raw_tracepoint": raw_tp,
        "raw_tracepoint_writable": raw_tp,  # raw_tp_prog_func_proto
        "netfilter": _base(privileged),  # bpf_nf_func_proto
        "syscall": _SYSCALL | _TRACING_PROG | (raw_tp - _TRACING_PROG_NULL),
    }
    if prog_type in _CGROUP_FALLBACK:  # model.platform.cgroup_protos
        fallback = _sk_base if _CGROUP_FALLBACK[prog_type] == "sk_base" else _base
        chains[prog_type] = cgroup_own_helpers(prog_type, attach_type) | fallback(privileged)
    if prog_type in _TRAMPOLINE_ATTACH:  # tracing_prog_func_proto (lsm: after its own)
        tracing = _TRACING_PROG | (raw_tp - _TRACING_PROG_NULL)
        if attach_type in _TRAMPOLINE_ATTACH[prog_type]:
            tracing |= _TRAMPOLINE
        elif attach_type == 23:  # tp_btf: bpf_get_attach_cookie_proto_tracing
            tracing |= {"get_attach_cookie"}
        elif attach_type == 28 and prog_type == "tracing":  # BPF_TRACE_ITER's seq_*, and
            tracing |= ITER_HELPERS | target_helpers(section)  # the target's own
        chains[prog_type] = tracing | (_LSM if prog_type == "lsm" else set())
    chain = chains.get(prog_type)
    return None if chain is None else chain - _config_removes(lockdown, kprobe_override)


#: the program types whose helper sets are modelled: those whose contexts are (one list,
#: model.platform.ctx_layouts; every one has a chain in :func:`_chain`)
MODELLED_PROG_TYPES = _CTX_MODELLED


def sleepable(prog_type: str, section: str = "") -> bool:
    """in_sleepable: a syscall program, or one whose section the loader makes sleepable
    (``uprobe.s``, ``iter.s``: BPF_F_SLEEPABLE)."""
    if prog_type in _SLEEPABLE_TYPES:
        return True
    ptype, _, sleeps = section_def(section) if section else ("", "", False)
    return sleeps and ptype == prog_type


def program_sleepable(prog) -> bool:
    """:func:`sleepable` for a ``model.program.Program``."""
    return sleepable(prog.prog_type, prog.section)


def _verifier_refuses(prog_type: str, name: str, attach_type: int = 0,
                      sleeps: bool | None = None) -> str | None:
    """check_helper_call's refusals after get_func_proto returned a proto (``sleeps``:
    the program is sleepable; default: its type always is)."""
    if name == "get_func_ip" and prog_type in _TRAMPOLINE_ATTACH:
        if attach_type not in _TRAMPOLINE_ATTACH[prog_type]:
            return "func bpf_get_func_ip#173 supported only for fentry/fexit/fmod_ret programs"
        return None
    if name == "get_func_ip" and prog_type != "kprobe":
        return "func bpf_get_func_ip#173 not supported for program type {n}"
    if name in _FN_ALLOWED_BTF_ONLY.get(prog_type, ()):
        return "helper call is not allowed in probe"
    allowed = HELPER_ALLOWED_IN.get(name)
    if allowed is not None:  # fn->allowed(prog) by expected attach type
        ok = allowed.get(attach_type) if prog_type == "tracing" else None
        if ok is None:
            return f"not modelled: where bpf_{name} is allowed (the kernel's attach allowlist)"
        if not ok:
            return "helper call is not allowed in probe"
    if sleeps is None:
        sleeps = prog_type in _SLEEPABLE_TYPES
    if name in _MIGHT_SLEEP and not sleeps:
        return "helper call might sleep in a non-sleepable prog"
    return None


#: check_helper_call's rule on an argument that must be a known zero (register_is_null),
#: checked after every argument's own check: helper name -> (argument index, message)
_KNOWN_ZERO_ARGS = {
    "get_local_storage": (1, "get_local_storage() doesn't support non-zero flags"),
}


def known_zero_arg(helper: int) -> tuple[int, str] | None:
    """(index, message) of ``helper``'s argument that must be a known 0, or None."""
    return _KNOWN_ZERO_ARGS.get((HELPER_NAMES.get(helper) or "").removeprefix("bpf_"))


def helper_check(prog_type: str, helper: int, *, gpl: bool = True, privileged: bool = True,
                 lockdown: str = LOCKDOWN, kprobe_override: bool = KPROBE_OVERRIDE,
                 attach_type: int = 0, section: str = "") -> str | None:
    """Why the 6.18 verifier rejects ``call helper`` in ``prog_type``, or None if it accepts
    the call itself (its arguments are checked separately, against :data:`PROTOTYPES`).

    ``privileged``: loaded with CAP_BPF + CAP_PERFMON (root). Unprivileged loading exists
    only for socket_filter and cgroup_skb; there the CAP_BPF / CAP_PERFMON parts of
    bpf_base_func_proto (and skc_to_*) are missing.
    ``gpl``: the program's license is GPL-compatible (gpl_only helpers need it).
    ``lockdown`` / ``kprobe_override``: see :data:`LOCKDOWN`, :data:`KPROBE_OVERRIDE`.
    ``section``: the program's (an iterator target's own helpers, :func:`_chain`).
    Raises ``NotModelled`` for a program type whose helpers are not modelled.
    """
    name = (HELPER_NAMES.get(helper) or "").removeprefix("bpf_")
    if not name or helper == 0:
        return f"invalid func unknown#{helper}"
    chain = _chain(prog_type, privileged, lockdown, kprobe_override, attach_type, section)
    if chain is None:
        raise NotModelled(f"the helpers of program type {prog_type}")
    if name not in chain:
        return f"program of this type cannot use helper bpf_{name}#{helper}"
    proto = PROTOTYPES.get(helper)
    if proto is not None and proto.gpl_only and not gpl:
        return "cannot call GPL-restricted function from non-GPL compatible program"
    why = _verifier_refuses(prog_type, name, attach_type, sleepable(prog_type, section))
    if why is not None:
        return why.format(n=PROG_TYPE_IDS.get(prog_type, prog_type))
    return None


#: may_access_direct_pkt_data answers true for these types whatever the helper's
#: ``pkt_access`` (cgroup_sockopt: optval may go to any helper taking memory)
_PKT_ARGS_ALWAYS = frozenset({"cgroup_sockopt"})


def packet_arg_check(proto: HelperProto, prog_type: str = "") -> str | None:
    """check_func_arg: a packet pointer may be a memory/key/value argument only of a helper
    with ``pkt_access`` (may_access_direct_pkt_data with the call's meta), or in a type
    whose packet any helper may take."""
    if proto.pkt_access or prog_type in _PKT_ARGS_ALWAYS:
        return None
    return "helper access to the packet is not allowed"


def subprog_helper_check(helper: int, in_subprog: bool) -> str | None:
    """A helper called from a bpf-to-bpf subprogram, for the Z3 engine: bpf_tail_call
    there (the kernel refuses it without BTF func info, ``model.cfg.checks``; with it, 6.18
    verifies it as either going on or returning from the subprogram with an unknown R0
    and every packet pointer invalid, which only the abstract verifier models)."""
    if in_subprog and helper == helper_id("tail_call"):
        return "not modelled: bpf_tail_call in a subprogram"
    return None


def helper_allowed(prog_type: str, helper: int, *, gpl: bool = True, privileged: bool = True,
                   lockdown: str = LOCKDOWN, kprobe_override: bool = KPROBE_OVERRIDE) -> bool:
    """Whether a program of ``prog_type`` may call helper id ``helper`` (Linux 6.18's
    ``*_func_proto`` chains plus check_helper_call's GPL / sleepable / get_func_ip checks).
    """
    return helper_check(prog_type, helper, gpl=gpl, privileged=privileged, lockdown=lockdown,
                        kprobe_override=kprobe_override) is None


def _build() -> dict[int, HelperProto]:
    out: dict[int, HelperProto] = {}
    everywhere = set.intersection(*(_chain(t, False) for t in MODELLED_PROG_TYPES))
    for row in ROWS:
        name, ret, args, gpl_only, pkt = row[:5]
        extra = row[5] if len(row) > 5 else {}
        hid = helper_id(name)
        if name in everywhere:
            allowed = None
        else:
            allowed = frozenset(t for t in MODELLED_PROG_TYPES
                                if name in _chain(t, True) and _verifier_refuses(t, name) is None)
        out[hid] = HelperProto(hid, name, ret, tuple(args), gpl_only, pkt, allowed,
                               might_sleep=name in _MIGHT_SLEEP,
                               changes_pkt_data=name in CHANGES_PKT_DATA, **extra)
    return out


#: helper id -> prototype, for the helpers skv's verifier models
PROTOTYPES: dict[int, HelperProto] = _build()


def helper_proto(prog_type: str, helper: int) -> HelperProto | None:
    """The prototype a ``prog_type`` program gets for ``helper`` (its ``*_func_proto``'s
    answer: the row, or the type's variant of it, see proto_rows.VARIANTS), or None when the
    table has no row for it."""
    proto = PROTOTYPES.get(helper)
    if proto is None:
        return None
    args = VARIANTS.get(proto.name, {}).get(prog_type)
    return proto if args is None else replace(proto, args=tuple(args))


def helper_unmodelled(prog_type: str, helper: int, *, typed: bool = False,
                      refs: bool = False, dynptrs: bool = False) -> str | None:
    """Why the engines do not judge a call of ``helper`` in ``prog_type`` ("not modelled:
    ..." naming the kind or the helper), or None when they model it. ``typed``: the
    engine models PTR_TO_BTF_ID returns; ``refs``: it tracks acquired references (see
    proto_kinds.ACQUIRES). The abstract verifier does both: :func:`verifier_unmodelled`."""
    proto = helper_proto(prog_type, helper)
    if proto is None:
        name = HELPER_NAMES.get(helper, f"#{helper}")
        return f"not modelled: helper {name} (no prototype in this model)"
    return unmodelled_kind(proto, typed=typed, refs=refs, dynptrs=dynptrs)


def verifier_unmodelled(prog_type: str, helper: int) -> str | None:
    """:func:`helper_unmodelled` for the abstract verifier (typed pointers, references,
    dynptrs)."""
    return helper_unmodelled(prog_type, helper, typed=True, refs=True, dynptrs=True)


def refs_only(prog_type: str, helper: int) -> str | None:
    """For an engine that tracks neither references, dynptrs nor typed pointers: why it
    cannot follow a call that the abstract verifier models (an acquiring or releasing
    helper; a dynptr: model.verifier.dynptr; a timer or a typed-pointer argument:
    model.verifier.timers), or None."""
    why = helper_unmodelled(prog_type, helper)
    if why is None or verifier_unmodelled(prog_type, helper) is not None:
        return None
    if helper_unmodelled(prog_type, helper, refs=True) is None:
        return why.replace("not modelled:", "not modelled (reference tracking):", 1)
    return why  # dynptrs, typed pointers, timers: the same words as helper_unmodelled's
