"""The rows of the helper prototype table: one ``struct bpf_func_proto`` per helper, as in
Linux 6.18 (kernel/bpf/helpers.c, net/core/filter.c, kernel/trace/bpf_trace.c,
kernel/bpf/stackmap.c, kernel/bpf/ringbuf.c, kernel/bpf/syscall.c, ...).

A row is ``(name, ret, args, gpl_only, pkt_access[, extra fields])``; names without the
``bpf_`` prefix. Where the kernel has several protos of one helper with the same argument
kinds (``perf_event_output``: skb, xdp, tracepoint, raw_tp flavours), one row stands for
them all; where the kinds differ between program types, :data:`VARIANTS` gives the other
program types' arguments. Checked against the running kernel by tests/test_platform.py and
tests/test_helper_table.py.
"""

from __future__ import annotations

from model.platform.proto_kinds import (
    ARG_ANYTHING, ARG_CONST_ALLOC_SIZE_OR_ZERO, ARG_CONST_MAP_PTR, ARG_CONST_SIZE,
    ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_BTF_ID, ARG_PTR_TO_BTF_ID_OR_NULL,
    ARG_PTR_TO_BTF_ID_SOCK_COMMON, ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL,
    ARG_PTR_TO_BTF_ID_SOCK_COMMON_RELEASE, ARG_PTR_TO_CONST_STR, ARG_PTR_TO_CTX, ARG_PTR_TO_CTX_OR_NULL,
    ARG_PTR_TO_DYNPTR, ARG_PTR_TO_FUNC, ARG_PTR_TO_KPTR, ARG_PTR_TO_LONG, ARG_PTR_TO_MAP_KEY,
    ARG_PTR_TO_MAP_VALUE, ARG_PTR_TO_MEM_OR_NULL_RDONLY, ARG_PTR_TO_MEM_OR_NULL_WRITE,
    ARG_PTR_TO_MEM_RDONLY, ARG_PTR_TO_MEM_WRITE, ARG_PTR_TO_PERCPU_BTF_ID,
    ARG_PTR_TO_RINGBUF_MEM_RELEASE, ARG_PTR_TO_SOCK_COMMON,
    ARG_PTR_TO_SPIN_LOCK, ARG_PTR_TO_STACK_OR_NULL, ARG_PTR_TO_TIMER,
    ARG_PTR_TO_UNINIT_MAP_VALUE, ARG_PTR_TO_UNINIT_MEM, F, Arg, ArgType, Ret, fixed_mem,
)

CTX, ANY, MAP = ARG_PTR_TO_CTX, ARG_ANYTHING, ARG_CONST_MAP_PTR
SIZE, SIZE0 = ARG_CONST_SIZE, ARG_CONST_SIZE_OR_ZERO
RDONLY, UNINIT = ARG_PTR_TO_MEM_RDONLY, ARG_PTR_TO_UNINIT_MEM
INT, VOID = Ret.INTEGER, Ret.VOID
_MAP_VALUE_OR_NULL = ArgType(Arg.PTR_TO_MAP_VALUE, F.PTR_MAYBE_NULL)
_DYNPTR_RDONLY = ArgType(Arg.PTR_TO_DYNPTR, F.MEM_RDONLY)
#: ``ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE``
_DYNPTR_RB_RELEASE = ArgType(Arg.PTR_TO_DYNPTR, F.DYNPTR_RINGBUF | F.OBJ_RELEASE)
#: the dynptr a helper initialises: ``ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_x | MEM_UNINIT``
_DYNPTR_RB_UNINIT = ArgType(Arg.PTR_TO_DYNPTR, F.DYNPTR_RINGBUF | F.MEM_UNINIT)
_DYNPTR_LOCAL_UNINIT = ArgType(Arg.PTR_TO_DYNPTR, F.DYNPTR_LOCAL | F.MEM_UNINIT)
_KPTR_NEW = ArgType(Arg.PTR_TO_BTF_ID, F.PTR_MAYBE_NULL | F.OBJ_RELEASE)
_IPHDR, _IPV6HDR, _TCPHDR = 20, 40, 20  # sizeof(struct iphdr / ipv6hdr / tcphdr)
_RO = F.MEM_RDONLY

_PROBE_READ = (UNINIT, SIZE0, ANY)

ROWS: list[tuple] = [
    # --- maps (kernel/bpf/helpers.c)
    ("map_lookup_elem", Ret.PTR_TO_MAP_VALUE_OR_NULL, (MAP, ARG_PTR_TO_MAP_KEY), False, True),
    ("map_update_elem", INT, (MAP, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, ANY), False, True),
    ("map_delete_elem", INT, (MAP, ARG_PTR_TO_MAP_KEY), False, True),
    ("map_push_elem", INT, (MAP, ARG_PTR_TO_MAP_VALUE, ANY), False, True),
    ("map_pop_elem", INT, (MAP, ARG_PTR_TO_UNINIT_MAP_VALUE), False, False),
    ("map_peek_elem", INT, (MAP, ARG_PTR_TO_UNINIT_MAP_VALUE), False, False),
    ("map_lookup_percpu_elem", Ret.PTR_TO_MAP_VALUE_OR_NULL, (MAP, ARG_PTR_TO_MAP_KEY, ANY),
     False, True),
    # --- time, ids, cpu
    ("ktime_get_ns", INT, (), False, False),
    ("ktime_get_boot_ns", INT, (), False, False),
    ("ktime_get_tai_ns", INT, (), False, False),
    ("ktime_get_coarse_ns", INT, (), False, False),
    ("jiffies64", INT, (), False, False),
    ("get_prandom_u32", INT, (), False, False),
    ("get_smp_processor_id", INT, (), False, False),
    ("get_numa_node_id", INT, (), False, False),
    ("get_current_pid_tgid", INT, (), False, False),
    ("get_current_uid_gid", INT, (), False, False),
    ("get_current_comm", INT, (UNINIT, SIZE), False, False),
    ("get_current_task", INT, (), True, False),
    ("get_current_task_btf", Ret.PTR_TO_BTF_ID, (), True, False),
    ("get_current_cgroup_id", INT, (), False, False),
    ("get_current_ancestor_cgroup_id", INT, (ANY,), False, False),
    ("get_ns_current_pid_tgid", INT, (ANY, ANY, UNINIT, SIZE), False, False),
    # tc's bpf_get_cgroup_classid_proto; elsewhere the _curr proto (no argument), see VARIANTS
    ("get_cgroup_classid", INT, (CTX,), False, False),
    ("strtol", INT, (RDONLY, SIZE, ANY, ARG_PTR_TO_LONG), False, False),
    ("strtoul", INT, (RDONLY, SIZE, ANY, ARG_PTR_TO_LONG), False, False),
    ("strncmp", INT, (RDONLY, SIZE, ARG_PTR_TO_CONST_STR), False, False),
    # --- tracing (kernel/trace/bpf_trace.c, kernel/bpf/stackmap.c)
    # bpf_probe_read_compat_proto (x86-64 has non-overlapping address spaces)
    ("probe_read", INT, _PROBE_READ, True, False),
    ("probe_read_str", INT, _PROBE_READ, True, False),
    ("probe_read_user", INT, _PROBE_READ, True, False),
    ("probe_read_kernel", INT, _PROBE_READ, True, False),
    ("probe_read_user_str", INT, _PROBE_READ, True, False),
    ("probe_read_kernel_str", INT, _PROBE_READ, True, False),
    ("probe_write_user", INT, (ANY, RDONLY, SIZE), True, False),
    # r3..r5 are ARG_DONTCARE: printed with the format, not checked
    ("trace_printk", INT, (RDONLY, SIZE), True, False),
    ("trace_vprintk", INT, (RDONLY, SIZE, ARG_PTR_TO_MEM_OR_NULL_RDONLY, SIZE0), True, False),
    ("perf_event_output", INT, (CTX, MAP, ANY, RDONLY, SIZE0), True, False),
    ("perf_event_read", INT, (MAP, ANY), True, False),
    ("perf_event_read_value", INT, (MAP, ANY, UNINIT, SIZE), True, False),
    ("get_stackid", INT, (CTX, MAP, ANY), True, False),
    ("get_stack", INT, (CTX, UNINIT, SIZE0, ANY), True, False),
    ("perf_prog_read_value", INT, (CTX, UNINIT, SIZE), True, False),
    ("read_branch_records", INT, (CTX, ARG_PTR_TO_MEM_OR_NULL_WRITE, SIZE0, ANY), True, False),
    ("get_task_stack", INT, (ARG_PTR_TO_BTF_ID, UNINIT, SIZE0, ANY), False, False),
    ("current_task_under_cgroup", INT, (MAP, ANY), False, False),
    ("send_signal", INT, (ANY,), False, False),
    ("send_signal_thread", INT, (ANY,), False, False),
    ("override_return", INT, (CTX, ANY), True, False),
    ("get_func_ip", INT, (CTX,), True, False),
    ("get_attach_cookie", INT, (CTX,), False, False),
    ("get_func_arg", INT, (CTX, ANY, ARG_PTR_TO_LONG), False, False),
    ("get_func_ret", INT, (CTX, ARG_PTR_TO_LONG), False, False),
    ("get_func_arg_cnt", INT, (CTX,), False, False),
    ("get_branch_snapshot", INT, (UNINIT, SIZE0), True, False),
    ("copy_from_user", INT, (UNINIT, SIZE0, ANY), False, False),
    ("copy_from_user_task", INT, (UNINIT, SIZE0, ANY, ARG_PTR_TO_BTF_ID, ANY), True, False),
    ("snprintf_btf", INT, (ARG_PTR_TO_MEM_WRITE, SIZE, RDONLY, SIZE, ANY), False, False),
    ("snprintf", INT, (ARG_PTR_TO_MEM_OR_NULL_WRITE, SIZE0, ARG_PTR_TO_CONST_STR,
                       ARG_PTR_TO_MEM_OR_NULL_RDONLY, SIZE0), True, False),
    ("task_pt_regs", Ret.PTR_TO_BTF_ID, (ARG_PTR_TO_BTF_ID,), True, False),
    ("find_vma", INT, (ARG_PTR_TO_BTF_ID, ANY, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY),
     False, False),
    ("d_path", INT, (ARG_PTR_TO_BTF_ID, ARG_PTR_TO_MEM_WRITE, SIZE0), False, False),
    # iterators only (BPF_TRACE_ITER): the seq_file is meta->seq
    ("seq_printf", INT, (ARG_PTR_TO_BTF_ID, RDONLY, SIZE, ARG_PTR_TO_MEM_OR_NULL_RDONLY, SIZE0),
     True, False),
    ("seq_write", INT, (ARG_PTR_TO_BTF_ID, RDONLY, SIZE0), True, False),
    ("seq_printf_btf", INT, (ARG_PTR_TO_BTF_ID, RDONLY, SIZE0, ANY), True, False),
    ("skb_output", INT, (ARG_PTR_TO_BTF_ID, MAP, ANY, RDONLY, SIZE0), True, False),
    ("xdp_output", INT, (ARG_PTR_TO_BTF_ID, MAP, ANY, RDONLY, SIZE0), True, False),
    ("sock_from_file", Ret.PTR_TO_BTF_ID_OR_NULL, (ARG_PTR_TO_BTF_ID,), False, False),
    ("task_storage_get", Ret.PTR_TO_MAP_VALUE_OR_NULL,
     (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, _MAP_VALUE_OR_NULL, ANY), False, False),
    ("task_storage_delete", INT, (MAP, ARG_PTR_TO_BTF_ID_OR_NULL), False, False),
    ("cgrp_storage_get", Ret.PTR_TO_MAP_VALUE_OR_NULL,
     (MAP, ARG_PTR_TO_BTF_ID_OR_NULL, _MAP_VALUE_OR_NULL, ANY), False, False),
    ("cgrp_storage_delete", INT, (MAP, ARG_PTR_TO_BTF_ID_OR_NULL), False, False),
    ("per_cpu_ptr", Ret.PTR_TO_MEM_OR_BTF_ID_OR_NULL, (ARG_PTR_TO_PERCPU_BTF_ID, ANY), False, False),
    ("this_cpu_ptr", Ret.PTR_TO_MEM_OR_BTF_ID, (ARG_PTR_TO_PERCPU_BTF_ID,), False, False),
    # --- tail calls, ring buffers, callbacks, locks, timers, kptrs, dynptrs
    ("tail_call", VOID, (CTX, MAP, ANY), False, False),
    ("ringbuf_output", INT, (MAP, RDONLY, SIZE0, ANY), False, False),
    ("ringbuf_reserve", Ret.PTR_TO_RINGBUF_MEM_OR_NULL,
     (MAP, ARG_CONST_ALLOC_SIZE_OR_ZERO, ANY), False, False, {"ret_size_arg": 1}),
    ("ringbuf_submit", VOID, (ARG_PTR_TO_RINGBUF_MEM_RELEASE, ANY), False, False),
    ("ringbuf_discard", VOID, (ARG_PTR_TO_RINGBUF_MEM_RELEASE, ANY), False, False),
    ("ringbuf_query", INT, (MAP, ANY), False, False),
    ("ringbuf_reserve_dynptr", INT, (MAP, ANY, ANY, _DYNPTR_RB_UNINIT), False, False),
    ("ringbuf_submit_dynptr", VOID, (_DYNPTR_RB_RELEASE, ANY), False, False),
    ("ringbuf_discard_dynptr", VOID, (_DYNPTR_RB_RELEASE, ANY), False, False),
    ("dynptr_from_mem", INT, (UNINIT, SIZE0, ANY, _DYNPTR_LOCAL_UNINIT), False, False),
    ("dynptr_read", INT, (UNINIT, SIZE0, _DYNPTR_RDONLY, ANY, ANY), False, False),
    ("dynptr_write", INT, (_DYNPTR_RDONLY, ANY, RDONLY, SIZE0, ANY), False, False),
    ("dynptr_data", Ret.PTR_TO_DYNPTR_MEM_OR_NULL,
     (_DYNPTR_RDONLY, ANY, ARG_CONST_ALLOC_SIZE_OR_ZERO), False, False),
    ("user_ringbuf_drain", INT, (MAP, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY),
     False, False),
    ("for_each_map_elem", INT, (MAP, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY),
     False, False),
    ("loop", INT, (ANY, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ANY), False, False),
    ("spin_lock", VOID, (ARG_PTR_TO_SPIN_LOCK,), False, False),
    ("spin_unlock", VOID, (ARG_PTR_TO_SPIN_LOCK,), False, False),
    ("timer_init", INT, (ARG_PTR_TO_TIMER, MAP, ANY), True, False),
    ("timer_set_callback", INT, (ARG_PTR_TO_TIMER, ARG_PTR_TO_FUNC), True, False),
    ("timer_start", INT, (ARG_PTR_TO_TIMER, ANY, ANY), True, False),
    ("timer_cancel", INT, (ARG_PTR_TO_TIMER,), True, False),
    ("kptr_xchg", Ret.PTR_TO_BTF_ID_OR_NULL, (ARG_PTR_TO_KPTR, _KPTR_NEW), False, False),
    # --- skb (net/core/filter.c)
    ("skb_store_bytes", INT, (CTX, ANY, RDONLY, SIZE, ANY), False, False),
    ("skb_load_bytes", INT, (CTX, ANY, UNINIT, SIZE), False, False),
    ("skb_load_bytes_relative", INT, (CTX, ANY, UNINIT, SIZE, ANY), False, False),
    ("l3_csum_replace", INT, (CTX, ANY, ANY, ANY, ANY), False, False),
    ("l4_csum_replace", INT, (CTX, ANY, ANY, ANY, ANY), False, False),
    ("csum_diff", INT, (ARG_PTR_TO_MEM_OR_NULL_RDONLY, SIZE0, ARG_PTR_TO_MEM_OR_NULL_RDONLY,
                        SIZE0, ANY), False, True),
    ("csum_update", INT, (CTX, ANY), False, False),
    ("csum_level", INT, (CTX, ANY), False, False),
    ("clone_redirect", INT, (CTX, ANY, ANY), False, False),
    ("redirect", INT, (ANY, ANY), False, False),
    ("redirect_neigh", INT, (ANY, ARG_PTR_TO_MEM_OR_NULL_RDONLY, SIZE0, ANY), False, False),
    ("redirect_peer", INT, (ANY, ANY), False, False),
    ("redirect_map", INT, (MAP, ANY, ANY), False, False),
    ("skb_vlan_push", INT, (CTX, ANY, ANY), False, False),
    ("skb_vlan_pop", INT, (CTX,), False, False),
    ("skb_change_proto", INT, (CTX, ANY, ANY), False, False),
    ("skb_change_type", INT, (CTX, ANY), False, False),
    ("skb_change_tail", INT, (CTX, ANY, ANY), False, False),
    ("skb_change_head", INT, (CTX, ANY, ANY), False, False),
    ("skb_pull_data", INT, (CTX, ANY), False, False),
    ("skb_adjust_room", INT, (CTX, ANY, ANY, ANY), False, False),
    ("skb_get_tunnel_key", INT, (CTX, UNINIT, SIZE, ANY), False, False),
    ("skb_set_tunnel_key", INT, (CTX, RDONLY, SIZE, ANY), False, False),
    ("skb_get_tunnel_opt", INT, (CTX, UNINIT, SIZE), False, False),
    ("skb_set_tunnel_opt", INT, (CTX, RDONLY, SIZE), False, False),
    ("skb_under_cgroup", INT, (CTX, MAP, ANY), False, False),
    ("get_route_realm", INT, (CTX,), False, False),
    ("get_hash_recalc", INT, (CTX,), False, False),
    ("set_hash_invalid", INT, (CTX,), False, False),
    ("set_hash", INT, (CTX, ANY), False, False),
    ("get_socket_cookie", INT, (CTX,), False, False),
    ("get_socket_uid", INT, (CTX,), False, False),
    ("get_netns_cookie", INT, (ARG_PTR_TO_CTX_OR_NULL,), False, False),
    ("fib_lookup", INT, (CTX, ARG_PTR_TO_MEM_WRITE, SIZE, ANY), True, False),
    ("check_mtu", INT, (CTX, ANY, fixed_mem(4, F.MEM_WRITE | F.MEM_ALIGNED), ANY, ANY),
     True, False),
    ("skb_get_xfrm_state", INT, (CTX, ANY, UNINIT, SIZE, ANY), False, False),
    ("skb_cgroup_classid", INT, (CTX,), False, False),
    ("skb_cgroup_id", INT, (CTX,), False, False),
    ("skb_ancestor_cgroup_id", INT, (CTX, ANY), False, False),
    ("skb_ecn_set_ce", INT, (CTX,), False, False),
    ("skb_set_tstamp", INT, (CTX, ANY, ANY), False, False),
    ("get_local_storage", Ret.PTR_TO_MAP_VALUE, (MAP, ANY), False, False),
    # --- sockets (reference tracking, BTF sock pointers)
    ("sk_lookup_tcp", Ret.PTR_TO_SOCKET_OR_NULL, (CTX, RDONLY, SIZE, ANY, ANY), False, True),
    ("sk_lookup_udp", Ret.PTR_TO_SOCKET_OR_NULL, (CTX, RDONLY, SIZE, ANY, ANY), False, True),
    ("skc_lookup_tcp", Ret.PTR_TO_SOCK_COMMON_OR_NULL, (CTX, RDONLY, SIZE, ANY, ANY),
     False, True),
    ("sk_release", INT, (ARG_PTR_TO_BTF_ID_SOCK_COMMON_RELEASE,), False, False),
    ("sk_fullsock", Ret.PTR_TO_SOCKET_OR_NULL, (ARG_PTR_TO_SOCK_COMMON,), False, False),
    ("tcp_sock", Ret.PTR_TO_TCP_SOCK_OR_NULL, (ARG_PTR_TO_SOCK_COMMON,), False, False),
    ("get_listener_sock", Ret.PTR_TO_SOCKET_OR_NULL, (ARG_PTR_TO_SOCK_COMMON,), False, False),
    ("sk_cgroup_id", INT, (ARG_PTR_TO_BTF_ID_SOCK_COMMON,), False, False),
    ("sk_ancestor_cgroup_id", INT, (ARG_PTR_TO_BTF_ID_SOCK_COMMON, ANY), False, False),
    ("sk_storage_get", Ret.PTR_TO_MAP_VALUE_OR_NULL,
     (MAP, ARG_PTR_TO_BTF_ID_SOCK_COMMON, _MAP_VALUE_OR_NULL, ANY), False, False),
    ("sk_storage_delete", INT, (MAP, ARG_PTR_TO_BTF_ID_SOCK_COMMON), False, False),
    ("sk_assign", INT, (CTX, ARG_PTR_TO_BTF_ID_SOCK_COMMON, ANY), False, False),
    ("tcp_check_syncookie", INT, (ARG_PTR_TO_BTF_ID_SOCK_COMMON, RDONLY, SIZE, RDONLY, SIZE),
     True, True),
    ("tcp_gen_syncookie", INT, (ARG_PTR_TO_BTF_ID_SOCK_COMMON, RDONLY, SIZE, RDONLY, SIZE),
     True, True),
    *((f"skc_to_{s}", Ret.PTR_TO_BTF_ID_OR_NULL, (ARG_PTR_TO_BTF_ID_SOCK_COMMON,), False, False)
      for s in ("tcp6_sock", "tcp_sock", "tcp_timewait_sock", "tcp_request_sock", "udp6_sock",
                "unix_sock")),
    # bpf_skc_to_mptcp_sock takes a socket, not a BTF-typed pointer (ARG_PTR_TO_SOCK_COMMON)
    ("skc_to_mptcp_sock", Ret.PTR_TO_BTF_ID_OR_NULL, (ARG_PTR_TO_SOCK_COMMON,), False, False),
    ("tcp_raw_gen_syncookie_ipv4", INT, (fixed_mem(_IPHDR, _RO), RDONLY, SIZE0), True, True),
    ("tcp_raw_gen_syncookie_ipv6", INT, (fixed_mem(_IPV6HDR, _RO), RDONLY, SIZE0), True, True),
    ("tcp_raw_check_syncookie_ipv4", INT, (fixed_mem(_IPHDR, _RO), fixed_mem(_TCPHDR, _RO)),
     True, True),
    ("tcp_raw_check_syncookie_ipv6", INT, (fixed_mem(_IPV6HDR, _RO), fixed_mem(_TCPHDR, _RO)),
     True, True),
    # --- xdp
    # --- sock_ops programs (net/core/filter.c: the bpf_sock_ops_* protos)
    ("sock_ops_cb_flags_set", INT, (CTX, ANY), False, False),
    ("sock_map_update", INT, (CTX, MAP, ARG_PTR_TO_MAP_KEY, ANY), False, False),
    ("sock_hash_update", INT, (CTX, MAP, ARG_PTR_TO_MAP_KEY, ANY), False, False),
    ("setsockopt", INT, (CTX, ANY, ANY, RDONLY, SIZE), False, False),
    ("getsockopt", INT, (CTX, ANY, ANY, UNINIT, SIZE), False, False),
    ("load_hdr_opt", INT, (CTX, ARG_PTR_TO_MEM_WRITE, SIZE, ANY), False, False),
    ("store_hdr_opt", INT, (CTX, RDONLY, SIZE, ANY), False, False),
    ("reserve_hdr_opt", INT, (CTX, ANY, ANY), False, False),
    ("xdp_adjust_head", INT, (CTX, ANY), False, False),
    ("xdp_adjust_tail", INT, (CTX, ANY), False, False),
    ("xdp_adjust_meta", INT, (CTX, ANY), False, False),
    ("xdp_get_buff_len", INT, (CTX,), False, False),
    ("xdp_load_bytes", INT, (CTX, ANY, UNINIT, SIZE), False, False),
    ("xdp_store_bytes", INT, (CTX, ANY, RDONLY, SIZE), False, False),
    # --- lwt, sk_skb, sk_msg, sk_reuseport programs (net/core/filter.c, net/core/sock_map.c,
    # net/core/sock_reuseport.c)
    ("lwt_push_encap", INT, (CTX, ANY, RDONLY, SIZE), False, False),
    ("lwt_seg6_store_bytes", INT, (CTX, ANY, RDONLY, SIZE), False, False),
    ("lwt_seg6_action", INT, (CTX, ANY, RDONLY, SIZE), False, False),
    ("lwt_seg6_adjust_srh", INT, (CTX, ANY, ANY), False, False),
    ("sk_redirect_map", INT, (CTX, MAP, ANY, ANY), False, False),
    ("sk_redirect_hash", INT, (CTX, MAP, ARG_PTR_TO_MAP_KEY, ANY), False, False),
    ("msg_redirect_map", INT, (CTX, MAP, ANY, ANY), False, False),
    ("msg_redirect_hash", INT, (CTX, MAP, ARG_PTR_TO_MAP_KEY, ANY), False, False),
    ("msg_apply_bytes", INT, (CTX, ANY), False, False),
    ("msg_cork_bytes", INT, (CTX, ANY), False, False),
    ("msg_pull_data", INT, (CTX, ANY, ANY, ANY), False, False),
    ("msg_push_data", INT, (CTX, ANY, ANY, ANY), False, False),
    ("msg_pop_data", INT, (CTX, ANY, ANY, ANY), False, False),
    ("sk_select_reuseport", INT, (CTX, MAP, ARG_PTR_TO_MAP_KEY, ANY), False, False),
    # --- cgroup programs (kernel/bpf/cgroup.c, net/core/filter.c)
    ("get_retval", INT, (), False, False),
    ("set_retval", INT, (ANY,), False, False),
    ("bind", INT, (CTX, RDONLY, SIZE), False, False),
    ("sysctl_get_name", INT, (CTX, ARG_PTR_TO_MEM_WRITE, SIZE, ANY), False, False),
    ("sysctl_get_current_value", INT, (CTX, UNINIT, SIZE), False, False),
    ("sysctl_get_new_value", INT, (CTX, UNINIT, SIZE), False, False),
    ("sysctl_set_new_value", INT, (CTX, RDONLY, SIZE), False, False),
    # --- syscall programs (kernel/bpf/syscall.c)
    ("sys_bpf", INT, (ANY, RDONLY, SIZE), False, False),
    ("btf_find_by_name_kind", INT, (RDONLY, SIZE, ANY, ANY), False, False),
    ("sys_close", INT, (ANY,), False, False),
    ("kallsyms_lookup_name", INT, (RDONLY, SIZE0, ANY, ARG_PTR_TO_LONG), False, False),
]

#: helper -> {program type: arguments} where that type's proto takes other argument kinds
#: than the row (the type's ``*_func_proto`` returns another ``struct bpf_func_proto``)
_NOT_TC = ("socket_filter", "kprobe", "tracepoint", "xdp", "raw_tracepoint", "cgroup_skb",
           "syscall", "perf_event", "sock_ops")
#: the types whose helpers come from tracing_prog_func_proto (BTF-typed, and syscall's)
_TRACING_PROTO = ("syscall", "tracing", "lsm")
_CGROUP = ("cgroup_sock", "cgroup_sock_addr", "cgroup_device", "cgroup_sysctl", "cgroup_sockopt")
#: cg_sockopt_func_proto's bpf_sk_setsockopt / bpf_sk_getsockopt: a socket, not the ctx
_SK_SOCKOPT = (ARG_PTR_TO_BTF_ID_SOCK_COMMON, ANY, ANY)
VARIANTS: dict[str, dict[str, tuple]] = {
    # bpf_get_cgroup_classid_curr_proto
    "get_cgroup_classid": {t: () for t in _NOT_TC + _CGROUP},
    # bpf_sk_storage_get_cg_sock_proto: the context is the socket
    "sk_storage_get": {"cgroup_sock": (MAP, CTX, _MAP_VALUE_OR_NULL, ANY)},
    # bpf_sk_setsockopt_proto / bpf_sk_getsockopt_proto (tracing: tcp and unix iterators)
    "setsockopt": {t: _SK_SOCKOPT + (RDONLY, SIZE) for t in ("cgroup_sockopt", "tracing")},
    "getsockopt": {t: _SK_SOCKOPT + (UNINIT, SIZE) for t in ("cgroup_sockopt", "tracing")},
    # bpf_get_socket_ptr_cookie_proto: a socket pointer or NULL
    "get_socket_cookie": {t: (ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL,) for t in _TRACING_PROTO},
    "xdp_get_buff_len": {t: (ARG_PTR_TO_BTF_ID,) for t in _TRACING_PROTO},  # _trace_proto
}
# the socket types: the _curr classid proto, the socket-pointer cookie of sk_reuseport,
# sk_lookup's bpf_sk_assign (a full socket or NULL)
VARIANTS["get_cgroup_classid"].update(
    {t: () for t in ("sk_skb", "sk_msg", "flow_dissector", "sk_lookup", "sk_reuseport",
                     "raw_tracepoint_writable", "netfilter")})
VARIANTS["get_socket_cookie"]["sk_reuseport"] = VARIANTS["get_socket_cookie"]["syscall"]
VARIANTS["sk_assign"] = {"sk_lookup": (CTX, ArgType(Arg.PTR_TO_SOCKET, F.PTR_MAYBE_NULL), ANY)}

#: bpf_helper_changes_pkt_data (net/core/filter.c, 6.18): after a call, every packet pointer
#: is invalid (clear_all_pkt_pointers). Not bpf_tail_call: in the main program a successful
#: tail call does not return.
CHANGES_PKT_DATA = frozenset({
    "clone_redirect", "l3_csum_replace", "l4_csum_replace", "lwt_push_encap",
    "lwt_seg6_action", "lwt_seg6_adjust_srh", "lwt_seg6_store_bytes", "msg_pop_data",
    "msg_pull_data", "msg_push_data", "skb_adjust_room", "skb_change_head", "skb_change_proto",
    "skb_change_tail", "skb_pull_data", "skb_store_bytes", "skb_vlan_pop", "skb_vlan_push",
    "store_hdr_opt", "xdp_adjust_head", "xdp_adjust_meta", "xdp_adjust_tail",
})

__all__ = ["ROWS", "VARIANTS", "CHANGES_PKT_DATA"]
