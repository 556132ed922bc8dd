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

Argument and return types mirror ``enum bpf_arg_type`` / ``enum bpf_return_type``: a base
type plus flag bits (``MEM_RDONLY``, ``MEM_UNINIT``, ``MEM_WRITE``, ``PTR_MAYBE_NULL``,
``OBJ_RELEASE``, ...), as in include/linux/bpf.h.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from model.elf.sections import PROG_TYPE_IDS
from model.platform.helpers import HELPER_NAMES

# --- argument types --------------------------------------------------------------------


class Arg(enum.Enum):
    """Base argument types (``enum bpf_arg_type`` without flag bits). Value = what the
    verifier's ``check_func_arg`` requires of the register."""

    DONTCARE = "unused argument: not checked, need not be initialised"
    CONST_MAP_PTR = "a map pointer (ld_imm64 pseudo map fd), known at verification time"
    PTR_TO_MAP_KEY = ("pointer to key_size initialised bytes of the map in the previous "
                      "CONST_MAP_PTR argument (stack, map value, or packet if pkt_access)")
    PTR_TO_MAP_VALUE = ("pointer to value_size initialised bytes for the map in the "
                        "previous CONST_MAP_PTR argument")
    PTR_TO_MEM = ("pointer to memory (stack, packet, map value, ringbuf/alloc mem, ...); "
                  "the size is the next CONST_SIZE* argument (or fixed for MEM_FIXED_SIZE); "
                  "read unless MEM_UNINIT, writable unless MEM_RDONLY")
    CONST_SIZE = "scalar byte count for the previous memory argument, > 0, bounded"
    CONST_SIZE_OR_ZERO = "scalar byte count for the previous memory argument, >= 0, bounded"
    PTR_TO_CTX = "the program's context pointer, unmodified (offset 0)"
    ANYTHING = "any initialised register (scalar or pointer)"
    PTR_TO_SPIN_LOCK = "pointer to the struct bpf_spin_lock field of a map value (constant offset)"
    PTR_TO_SOCK_COMMON = "pointer to a sock_common (or a full socket)"
    PTR_TO_SOCKET = "pointer to a full socket (struct bpf_sock)"
    PTR_TO_BTF_ID = "pointer to an in-kernel struct of the proto's BTF id"
    PTR_TO_RINGBUF_MEM = "memory returned by bpf_ringbuf_reserve, unmodified (a reference)"
    CONST_ALLOC_SIZE_OR_ZERO = ("constant scalar byte count of memory the helper allocates; "
                                "becomes the size of the returned pointer")
    PTR_TO_BTF_ID_SOCK_COMMON = "pointer to sock_common (BTF or bpf_sock)"
    PTR_TO_FUNC = "pointer to a BPF subprogram (ld_imm64 src=4), used as a callback"
    PTR_TO_STACK = "pointer into the program's stack"
    PTR_TO_CONST_STR = "pointer into a read-only map value holding a NUL-terminated string"
    PTR_TO_TIMER = "pointer to the struct bpf_timer field of a map value"
    PTR_TO_DYNPTR = "pointer to a struct bpf_dynptr on the stack"


class ArgFlag(enum.Flag):
    """Flag bits of ``enum bpf_type_flag`` that appear in helper argument types."""

    NONE = 0
    PTR_MAYBE_NULL = enum.auto()  # NULL (scalar 0) also accepted
    MEM_RDONLY = enum.auto()      # helper only reads: read-only memory accepted
    MEM_UNINIT = enum.auto()      # helper fills it: memory need not be initialised
    MEM_WRITE = enum.auto()       # helper writes: read-only memory rejected
    MEM_FIXED_SIZE = enum.auto()  # size is in the proto (arg_size), no size argument
    OBJ_RELEASE = enum.auto()     # the helper releases the reference held by this pointer
    MEM_ALLOC = enum.auto()
    MEM_RINGBUF = enum.auto()


@dataclass(frozen=True)
class ArgType:
    """A helper argument type: base type and flags (kernel: ``ARG_x | FLAG | ...``)."""

    base: Arg
    flags: ArgFlag = ArgFlag.NONE

    @property
    def is_mem(self) -> bool:
        """A pointer to memory whose size is given by the next (size) argument."""
        return self.base is Arg.PTR_TO_MEM and not (self.flags & ArgFlag.MEM_FIXED_SIZE)

    @property
    def is_size(self) -> bool:
        return self.base in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO)

    @property
    def maybe_null(self) -> bool:
        return bool(self.flags & ArgFlag.PTR_MAYBE_NULL)

    @property
    def reads_mem(self) -> bool:
        """The helper reads the memory (so it must be initialised)."""
        return self.base is Arg.PTR_TO_MEM and not (self.flags & ArgFlag.MEM_UNINIT)

    @property
    def writes_mem(self) -> bool:
        return self.base is Arg.PTR_TO_MEM and not (self.flags & ArgFlag.MEM_RDONLY)

    def __str__(self) -> str:
        parts = [f"ARG_{self.base.name}"]
        parts += [f.name for f in ArgFlag if f.value and f in self.flags]
        return " | ".join(parts)


def _a(base: Arg, flags: ArgFlag = ArgFlag.NONE) -> ArgType:
    return ArgType(base, flags)


F = ArgFlag
ARG_CONST_MAP_PTR = _a(Arg.CONST_MAP_PTR)
ARG_PTR_TO_MAP_KEY = _a(Arg.PTR_TO_MAP_KEY)
ARG_PTR_TO_MAP_VALUE = _a(Arg.PTR_TO_MAP_VALUE)
ARG_PTR_TO_MEM = _a(Arg.PTR_TO_MEM)
ARG_PTR_TO_MEM_RDONLY = _a(Arg.PTR_TO_MEM, F.MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL_RDONLY = _a(Arg.PTR_TO_MEM, F.PTR_MAYBE_NULL | F.MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL_WRITE = _a(Arg.PTR_TO_MEM, F.PTR_MAYBE_NULL | F.MEM_WRITE)
#: kernel ``ARG_PTR_TO_UNINIT_MEM = MEM_UNINIT | MEM_WRITE | ARG_PTR_TO_MEM``
ARG_PTR_TO_UNINIT_MEM = _a(Arg.PTR_TO_MEM, F.MEM_UNINIT | F.MEM_WRITE)
ARG_CONST_SIZE = _a(Arg.CONST_SIZE)
ARG_CONST_SIZE_OR_ZERO = _a(Arg.CONST_SIZE_OR_ZERO)
ARG_PTR_TO_CTX = _a(Arg.PTR_TO_CTX)
ARG_ANYTHING = _a(Arg.ANYTHING)
ARG_PTR_TO_SPIN_LOCK = _a(Arg.PTR_TO_SPIN_LOCK)
ARG_PTR_TO_FUNC = _a(Arg.PTR_TO_FUNC)
ARG_PTR_TO_STACK_OR_NULL = _a(Arg.PTR_TO_STACK, F.PTR_MAYBE_NULL)
ARG_PTR_TO_CONST_STR = _a(Arg.PTR_TO_CONST_STR)
ARG_PTR_TO_RINGBUF_MEM_RELEASE = _a(Arg.PTR_TO_RINGBUF_MEM, F.OBJ_RELEASE)
ARG_CONST_ALLOC_SIZE_OR_ZERO = _a(Arg.CONST_ALLOC_SIZE_OR_ZERO)


# --- return types ----------------------------------------------------------------------


class Ret(enum.Enum):
    """``enum bpf_return_type`` values used by the modelled helpers."""

    INTEGER = "RET_INTEGER: r0 is an unknown scalar"
    VOID = "RET_VOID: r0 is not readable after the call"
    PTR_TO_MAP_VALUE_OR_NULL = ("RET_PTR_TO_MAP_VALUE_OR_NULL: r0 points to value_size bytes "
                                "of the map in arg 1, or is NULL; must be checked before use")
    PTR_TO_RINGBUF_MEM_OR_NULL = ("RET_PTR_TO_MEM | MEM_RINGBUF | PTR_MAYBE_NULL: r0 points "
                                  "to ret_size_arg's (constant) bytes of ring buffer memory, "
                                  "or is NULL; a reference that must be submitted/discarded")


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

    @property
    def kernel_name(self) -> str:
        return "bpf_" + self.name


_ID = {name.removeprefix("bpf_"): i for i, name in HELPER_NAMES.items()}


def helper_id(name: str) -> int:
    """The ``enum bpf_func_id`` value of a helper name (with or without ``bpf_``)."""
    return _ID[name.removeprefix("bpf_")]


_P: list[tuple] = [
    # name, ret, args, gpl_only, pkt_access[, extra kwargs]
    ("map_lookup_elem", Ret.PTR_TO_MAP_VALUE_OR_NULL, (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY),
     False, True),
    ("map_update_elem", Ret.INTEGER,
     (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, ARG_ANYTHING), False, True),
    ("map_delete_elem", Ret.INTEGER, (ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY), False, True),
    # bpf_probe_read_compat_proto (x86-64 has non-overlapping address spaces)
    ("probe_read", Ret.INTEGER, (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING),
     True, False),
    ("ktime_get_ns", Ret.INTEGER, (), False, False),
    # r3..r5 are ARG_DONTCARE: printed with the format, not checked
    ("trace_printk", Ret.INTEGER, (ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE), True, False),
    ("get_prandom_u32", Ret.INTEGER, (), False, False),
    ("get_smp_processor_id", Ret.INTEGER, (), False, False),
    ("skb_store_bytes", Ret.INTEGER,
     (ARG_PTR_TO_CTX, ARG_ANYTHING, ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE, ARG_ANYTHING),
     False, False),
    ("l3_csum_replace", Ret.INTEGER, (ARG_PTR_TO_CTX,) + (ARG_ANYTHING,) * 4, False, False),
    ("l4_csum_replace", Ret.INTEGER, (ARG_PTR_TO_CTX,) + (ARG_ANYTHING,) * 4, False, False),
    ("tail_call", Ret.VOID, (ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR, ARG_ANYTHING), False, False),
    ("clone_redirect", Ret.INTEGER, (ARG_PTR_TO_CTX, ARG_ANYTHING, ARG_ANYTHING), False, False),
    ("get_current_pid_tgid", Ret.INTEGER, (), False, False),
    ("get_current_uid_gid", Ret.INTEGER, (), False, False),
    ("get_current_comm", Ret.INTEGER, (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE), False, False),
    ("redirect", Ret.INTEGER, (ARG_ANYTHING, ARG_ANYTHING), False, False),
    ("perf_event_output", Ret.INTEGER,
     (ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_PTR_TO_MEM_RDONLY,
      ARG_CONST_SIZE_OR_ZERO), True, False),
    ("skb_load_bytes", Ret.INTEGER,
     (ARG_PTR_TO_CTX, ARG_ANYTHING, ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE), False, False),
    ("get_stackid", Ret.INTEGER, (ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR, ARG_ANYTHING), True, False),
    ("csum_diff", Ret.INTEGER,
     (ARG_PTR_TO_MEM_OR_NULL_RDONLY, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_MEM_OR_NULL_RDONLY,
      ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), False, True),
    ("skb_change_proto", Ret.INTEGER, (ARG_PTR_TO_CTX, ARG_ANYTHING, ARG_ANYTHING), False, False),
    ("get_current_task", Ret.INTEGER, (), True, False),
    ("xdp_adjust_head", Ret.INTEGER, (ARG_PTR_TO_CTX, ARG_ANYTHING), False, False),
    ("probe_read_str", Ret.INTEGER,
     (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), True, False),
    ("redirect_map", Ret.INTEGER, (ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_ANYTHING), False, False),
    ("xdp_adjust_tail", Ret.INTEGER, (ARG_PTR_TO_CTX, ARG_ANYTHING), False, False),
    ("probe_read_user", Ret.INTEGER,
     (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), True, False),
    ("probe_read_kernel", Ret.INTEGER,
     (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), True, False),
    ("probe_read_user_str", Ret.INTEGER,
     (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), True, False),
    ("probe_read_kernel_str", Ret.INTEGER,
     (ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING), True, False),
    ("jiffies64", Ret.INTEGER, (), False, False),
    ("ktime_get_boot_ns", Ret.INTEGER, (), False, False),
    ("ringbuf_output", Ret.INTEGER,
     (ARG_CONST_MAP_PTR, ARG_PTR_TO_MEM_RDONLY, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING),
     False, False),
    ("ringbuf_reserve", Ret.PTR_TO_RINGBUF_MEM_OR_NULL,
     (ARG_CONST_MAP_PTR, ARG_CONST_ALLOC_SIZE_OR_ZERO, ARG_ANYTHING), False, False,
     {"ret_size_arg": 1}),
    ("ringbuf_submit", Ret.VOID, (ARG_PTR_TO_RINGBUF_MEM_RELEASE, ARG_ANYTHING), False, False),
    ("ringbuf_discard", Ret.VOID, (ARG_PTR_TO_RINGBUF_MEM_RELEASE, ARG_ANYTHING), False, False),
    ("for_each_map_elem", Ret.INTEGER,
     (ARG_CONST_MAP_PTR, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ARG_ANYTHING), False, False),
    ("snprintf", Ret.INTEGER,
     (ARG_PTR_TO_MEM_OR_NULL_WRITE, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_CONST_STR,
      ARG_PTR_TO_MEM_OR_NULL_RDONLY, ARG_CONST_SIZE_OR_ZERO), True, False),
    ("get_func_ip", Ret.INTEGER, (ARG_PTR_TO_CTX,), True, False),
    ("loop", Ret.INTEGER,
     (ARG_ANYTHING, ARG_PTR_TO_FUNC, ARG_PTR_TO_STACK_OR_NULL, ARG_ANYTHING), False, False),
    ("spin_lock", Ret.VOID, (ARG_PTR_TO_SPIN_LOCK,), False, False),
    ("spin_unlock", Ret.VOID, (ARG_PTR_TO_SPIN_LOCK,), False, False),
]

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
_SYSCALL = {"sys_bpf", "btf_find_by_name_kind", "sys_close", "kallsyms_lookup_name"}

# Helpers whose proto a type reaches but that check_helper_call still refuses there:
# get_func_ip (check_get_func_ip: kprobe, or tracing with a trampoline), helpers with
# fn->allowed (d_path, the tracing sk_storage_get/delete: only some BTF attach points),
# might_sleep helpers in non-sleepable programs (copy_from_user*: only the sleepable
# syscall type here).
_MIGHT_SLEEP = {"copy_from_user", "copy_from_user_task"}
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
           kprobe_override: bool = KPROBE_OVERRIDE) -> set[str] | None:
    """Helper names whose proto ``prog_type``'s get_func_proto returns (None: not modelled)."""
    sk_filter = _SK_FILTER | _sk_base(privileged)
    raw_tp = _RAW_TP | _tracing(privileged)
    chains = {
        "socket_filter": sk_filter,
        "cgroup_skb": _CG_SKB | sk_filter,
        "sched_cls": _TC | _sk_base(privileged),
        "sched_act": _TC | _sk_base(privileged),
        "xdp": _XDP | _sk_base(privileged),
        "kprobe": _KPROBE | _tracing(privileged),
        "tracepoint": _TRACEPOINT | _tracing(privileged),
        "raw_tracepoint": raw_tp,
        "syscall": _SYSCALL | _TRACING_PROG | (raw_tp - _TRACING_PROG_NULL),
    }
    chain = chains.get(prog_type)
    return None if chain is None else chain - _config_removes(lockdown, kprobe_override)


#: the program types whose helper sets are modelled
MODELLED_PROG_TYPES = ("socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
                       "raw_tracepoint", "cgroup_skb", "syscall")


def unmodelled(prog_type: str) -> str | None:
    """Why skv cannot judge a program of this type ("not modelled: ..."), or None. Both
    engines refuse such a program up front instead of meeting a missing table mid-way."""
    if prog_type in MODELLED_PROG_TYPES:
        return None
    return f"not modelled: program type {prog_type} (context, helpers and return rule)"


def _verifier_refuses(prog_type: str, name: str) -> str | None:
    """check_helper_call's refusals after get_func_proto returned a proto."""
    if name == "get_func_ip" and prog_type != "kprobe":
        return "func bpf_get_func_ip#173 not supported for program type {n}"
    if name in _FN_ALLOWED_BTF_ONLY.get(prog_type, ()):
        return "helper call is not allowed in probe"
    if name in _MIGHT_SLEEP and prog_type not in _SLEEPABLE_TYPES:
        return "helper call might sleep in a non-sleepable prog"
    return None


def helper_check(prog_type: str, helper: int, *, gpl: bool = True, privileged: bool = True,
                 lockdown: str = LOCKDOWN, kprobe_override: bool = KPROBE_OVERRIDE) -> str | None:
    """Why the 6.18 verifier rejects ``call helper`` in ``prog_type``, or None if it accepts
    the call itself (its arguments are checked separately, against :data:`PROTOTYPES`).

    ``privileged``: loaded with CAP_BPF + CAP_PERFMON (root). Unprivileged loading exists
    only for socket_filter and cgroup_skb; there the CAP_BPF / CAP_PERFMON parts of
    bpf_base_func_proto (and skc_to_*) are missing.
    ``gpl``: the program's license is GPL-compatible (gpl_only helpers need it).
    ``lockdown`` / ``kprobe_override``: see :data:`LOCKDOWN`, :data:`KPROBE_OVERRIDE`.
    Raises ``KeyError`` for a program type whose helpers are not modelled.
    """
    name = (HELPER_NAMES.get(helper) or "").removeprefix("bpf_")
    if not name or helper == 0:
        return f"invalid func unknown#{helper}"
    chain = _chain(prog_type, privileged, lockdown, kprobe_override)
    if chain is None:
        raise KeyError(f"helpers of program type {prog_type!r} are not modelled")
    if name not in chain:
        return f"program of this type cannot use helper bpf_{name}#{helper}"
    proto = PROTOTYPES.get(helper)
    if proto is not None and proto.gpl_only and not gpl:
        return "cannot call GPL-restricted function from non-GPL compatible program"
    why = _verifier_refuses(prog_type, name)
    if why is not None:
        return why.format(n=PROG_TYPE_IDS.get(prog_type, prog_type))
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
    for row in _P:
        name, ret, args, gpl_only, pkt = row[:5]
        extra = row[5] if len(row) > 5 else {}
        hid = helper_id(name)
        if name in everywhere:
            allowed = None
        else:
            allowed = frozenset(t for t in MODELLED_PROG_TYPES
                                if name in _chain(t, True) and _verifier_refuses(t, name) is None)
        out[hid] = HelperProto(hid, name, ret, tuple(args), gpl_only, pkt, allowed,
                               might_sleep=name in _MIGHT_SLEEP, **extra)
    return out


#: helper id -> prototype, for the helpers skv's verifier models
PROTOTYPES: dict[int, HelperProto] = _build()
