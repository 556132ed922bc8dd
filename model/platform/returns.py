"""What a program may return in r0 at its final ``exit``: Linux 6.18's check_return_code.

At the exit of the main program (frame 0) the verifier requires, in this order:

1. r0 is initialised ("R0 !read_ok").
2. If the loader lacks CAP_PERFMON (``allow_ptr_leaks`` off), r0 is not a pointer:
   "R0 leaks addr as return value". Privileged (root) loaders may return a pointer from
   every type *without* a range below (socket_filter returning ``r1`` loads as root).
3. For the types with a return range, r0 is a scalar ("At program exit the register R0 is
   not a known value (ctx)") whose bounds lie inside the range ("At program exit the
   register R0 has smin=2 smax=2 should have been in [0, 1]", or "has unknown scalar value"
   when nothing is known).

Subprogram exits (frame > 0) only require a scalar ("At subprogram exit the register R0 is
not a scalar value"); async callbacks (timers) must return 0.

Ranges, by program type and ``expected_attach_type`` (the default attach type, 0, where the
type has one; names as in model.elf.sections):

* ``cgroup_skb``: [0, 1] for BPF_CGROUP_INET_INGRESS (0, the default); [0, 3] for
  BPF_CGROUP_INET_EGRESS (1), where bit 1 is the congestion notification (returning 2 or 3
  marks the program as requiring the egress attach type).
* ``cgroup_sock``, ``sock_ops``, ``cgroup_device``, ``cgroup_sysctl``, ``cgroup_sockopt``:
  [0, 1].
* ``cgroup_sock_addr``: [0, 1]; [1, 1] for the recvmsg / getpeername / getsockname hooks;
  [0, 3] for inet4/inet6 bind.
* ``sk_lookup`` [SK_DROP, SK_PASS] = [0, 1]; ``netfilter`` [NF_DROP, NF_ACCEPT] = [0, 1].
* ``tracing``: fentry/fexit [0, 0]; iter [0, 1]; raw_tp-BTF and fmod_ret unconstrained.
* ``raw_tracepoint``: unconstrained (only [0, 0] when attached through BTF, i.e.
  ``attach_btf_id`` set).
* ``kprobe``: unconstrained, except the session attach types (kprobe/uprobe session) [0, 1].
* ``lsm`` / ``struct_ops``: from the hook's / operator's BTF prototype (not modelled).
* everything else — ``socket_filter``, ``sched_cls``, ``sched_act``, ``xdp``,
  ``tracepoint``, ``perf_event``, ``lwt_*``, ``sk_skb``, ``sk_msg``, ``flow_dissector``,
  ``syscall``, ``ext`` — unconstrained: any scalar (and, for a privileged loader, a pointer).
  XDP actions above XDP_REDIRECT or TC verdicts out of range are run-time matters
  (bpf_warn_invalid_xdp_action), not the verifier's.
"""

from __future__ import annotations

# enum bpf_attach_type values used here
BPF_CGROUP_INET_INGRESS = 0
BPF_CGROUP_INET_EGRESS = 1
BPF_CGROUP_INET4_BIND = 8
BPF_CGROUP_INET6_BIND = 9
BPF_CGROUP_UDP4_RECVMSG = 19
BPF_CGROUP_UDP6_RECVMSG = 20
BPF_TRACE_RAW_TP = 23
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_MODIFY_RETURN = 26
BPF_TRACE_ITER = 28
BPF_CGROUP_INET4_GETPEERNAME = 29
BPF_CGROUP_INET6_GETPEERNAME = 30
BPF_CGROUP_INET4_GETSOCKNAME = 31
BPF_CGROUP_INET6_GETSOCKNAME = 32
BPF_CGROUP_UNIX_RECVMSG = 51
BPF_CGROUP_UNIX_GETPEERNAME = 52
BPF_CGROUP_UNIX_GETSOCKNAME = 53
BPF_TRACE_KPROBE_SESSION = 56
BPF_TRACE_UPROBE_SESSION = 57

_SOCK_ADDR_ONE = {BPF_CGROUP_UDP4_RECVMSG, BPF_CGROUP_UDP6_RECVMSG, BPF_CGROUP_UNIX_RECVMSG,
                  BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME,
                  BPF_CGROUP_UNIX_GETPEERNAME, BPF_CGROUP_INET4_GETSOCKNAME,
                  BPF_CGROUP_INET6_GETSOCKNAME, BPF_CGROUP_UNIX_GETSOCKNAME}

#: range per type at its default attach type (0); absent = unconstrained
DEFAULT_RANGES: dict[str, tuple[int, int]] = {
    "cgroup_skb": (0, 1), "cgroup_sock": (0, 1), "sock_ops": (0, 1), "cgroup_device": (0, 1),
    "cgroup_sysctl": (0, 1), "cgroup_sockopt": (0, 1), "cgroup_sock_addr": (0, 1),
    "sk_lookup": (0, 1), "netfilter": (0, 1),
}


def return_range(prog_type: str, attach_type: int = 0, *,
                 attach_btf: bool = False) -> tuple[int, int] | None:
    """The inclusive range r0 must lie in at the main program's exit, or ``None`` when the
    6.18 verifier does not constrain it (see the module doc).

    ``attach_type``: the program's ``expected_attach_type`` (0 = the type's default:
    BPF_CGROUP_INET_INGRESS for cgroup_skb). ``attach_btf``: raw_tracepoint loaded with an
    ``attach_btf_id``. lsm / struct_ops (hook-dependent) are reported as ``None``.
    """
    if prog_type == "cgroup_skb":
        return (0, 3) if attach_type == BPF_CGROUP_INET_EGRESS else (0, 1)
    if prog_type == "cgroup_sock_addr":
        if attach_type in _SOCK_ADDR_ONE:
            return (1, 1)
        if attach_type in (BPF_CGROUP_INET4_BIND, BPF_CGROUP_INET6_BIND):
            return (0, 3)
        return (0, 1)
    if prog_type == "raw_tracepoint":
        return (0, 0) if attach_btf else None
    if prog_type == "tracing":
        if attach_type in (BPF_TRACE_FENTRY, BPF_TRACE_FEXIT):
            return (0, 0)
        if attach_type == BPF_TRACE_ITER:
            return (0, 1)
        return None
    if prog_type == "kprobe":
        if attach_type in (BPF_TRACE_KPROBE_SESSION, BPF_TRACE_UPROBE_SESSION):
            return (0, 1)
        return None
    return DEFAULT_RANGES.get(prog_type)


def requires_scalar(prog_type: str, attach_type: int = 0, *, privileged: bool = True) -> bool:
    """Whether r0 must be a scalar (not a pointer) at the main program's exit: always for
    an unprivileged loader (no pointer leaks), otherwise only for types with a range."""
    return not privileged or return_range(prog_type, attach_type) is not None


def check_return(prog_type: str, smin: int, smax: int, *, is_pointer: bool = False,
                 reg_type: str = "scalar", attach_type: int = 0,
                 privileged: bool = True) -> str | None:
    """The verifier's message for r0 at the main exit (signed bounds ``smin..smax``, or a
    pointer of kind ``reg_type``), or None when accepted. Unknown bounds are the s64 limits.
    """
    if is_pointer and not privileged:
        return "R0 leaks addr as return value"
    rng = return_range(prog_type, attach_type)
    if rng is None:
        return None
    if is_pointer:
        return f"At program exit the register R0 is not a known value ({reg_type})"
    lo, hi = rng
    if lo <= smin and smax <= hi:
        return None
    parts = []
    if smin > -(1 << 63):
        parts.append(f"smin={smin}")
    if smax < (1 << 63) - 1:
        parts.append(f"smax={smax}")
    has = " ".join(parts) if parts else "unknown scalar value"
    return f"At program exit the register R0 has {has} should have been in [{lo}, {hi}]"
