"""Kernel functions (kfuncs) the engines model, as data (Linux 6.18: kernel/bpf/helpers.c's
generic and common kfunc sets, kernel/bpf/cpumask.c, net/netfilter/nf_conntrack_bpf.c).

A kfunc call is ``call`` with src_reg BPF_PSEUDO_KFUNC_CALL and imm the vmlinux BTF id of
the function (libbpf resolves a ``__ksym`` extern to it). Each row: the KF_* flags of its
``BTF_ID_FLAGS`` entry, its arguments and return (the kinds below; a struct pointer's
struct comes from the row, checked against the function's vmlinux BTF prototype by
``tests/test_kfuncs.py``) and the kfunc set it belongs to, which names the program types
that may call it (``register_btf_kfunc_id_set``; measured on Linux 6.18: the program types
outside a set get "calling kernel function NAME is not allowed").

Argument kinds: ``"scalar"``; ``"ctx"`` (the program's context, KF_ARG_PTR_TO_CTX);
``"mem"`` (memory whose size is the next argument, an ``__sz`` one: KF_ARG_PTR_TO_MEM_SIZE);
``"size"`` (that size); ``"btf:STRUCT"`` (a typed pointer, KF_ARG_PTR_TO_BTF_ID);
``"dynptr"`` (an initialised ``struct bpf_dynptr``), ``"dynptr_uninit:TYPE"`` (one the
kfunc initialises, of that dynptr type); ``"mem_opt"`` (a ``__opt`` buffer: NULL, or memory
of the size in the next argument), ``"szk"`` (that size, a ``__szk`` constant); ``"ign"``
(an ``__ign`` argument: is_kfunc_arg_ignore, the kernel checks nothing of it, not even that
the register is initialised; measured on Linux 6.18). Returns:
``"void"``, ``"scalar"``, ``"btf:STRUCT"``, ``"slice"`` / ``"slice_rdwr"`` (PTR_TO_MEM of
the constant size, read-only or not, a slice of the dynptr argument).

A kfunc not in :data:`KFUNCS` stays "not modelled: kfunc NAME" for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

KF_ACQUIRE = 1 << 0
KF_RELEASE = 1 << 1
KF_RET_NULL = 1 << 2
KF_TRUSTED_ARGS = 1 << 4
KF_SLEEPABLE = 1 << 5
KF_DESTRUCTIVE = 1 << 6
KF_RCU = 1 << 7

#: program types that may call bpf_dynptr_from_skb with a context that is no __sk_buff
_NO_SKB = frozenset({"tracing", "tracepoint", "perf_event", "cgroup_sock", "sock_ops",
                     "netfilter"})
#: kfunc set -> the program types registered for it (skv's names, model.elf.sections);
#: measured on Linux 6.18 with a call of every kfunc below in each program type
#: (tests/test_kfuncs.py); lsm and struct_ops are left out (not loadable here)
SETS: dict[str, frozenset[str]] = {
    # kernel/bpf/helpers.c generic_kfunc_set
    "generic": frozenset({"tracing", "sched_cls", "xdp", "syscall", "tracepoint",
                          "cgroup_skb", "perf_event", "cgroup_sock", "sock_ops"}),
    # kernel/bpf/helpers.c common_kfunc_set (BPF_PROG_TYPE_UNSPEC: every program type)
    "common": frozenset({"*"}),
    # kernel/bpf/cpumask.c cpumask_kfunc_set
    "cpumask": frozenset({"tracing", "syscall", "tracepoint", "perf_event"}),
    # net/netfilter/nf_conntrack_bpf.c: modelled only in the program type whose context
    # the lookup takes (the kernel registers both for tc and xdp)
    "ct_skb": frozenset({"sched_cls"}),
    "ct_xdp": frozenset({"xdp"}),
    "ct": frozenset({"sched_cls", "xdp"}),
    # net/core/filter.c bpf_sk_iter_kfunc_set: tracing programs, and of those only
    # iterators (tracing_iter_filter: expected attach type BPF_TRACE_ITER)
    "sk_iter": frozenset({"tracing"}),
    # net/core/filter.c bpf_kfunc_set_skb / bpf_kfunc_set_xdp (bpf_dynptr_from_skb/xdp),
    # measured: also callable where the context is no packet (SET_UNMODELLED)
    "dynptr_skb": frozenset({"sched_cls", "sched_act", "socket_filter", "cgroup_skb",
                             "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb",
                             *_NO_SKB}),
    "dynptr_xdp": frozenset({"xdp", "tracing"}),
}
#: kfunc sets whose program types include ones skv does not model the kfunc in
SET_UNMODELLED = {"dynptr_skb": _NO_SKB, "dynptr_xdp": frozenset({"tracing"})}
#: kfunc set -> the one expected attach type its program types must have
SET_ATTACH = {"sk_iter": 28}  # BPF_TRACE_ITER


@dataclass(frozen=True)
class Kfunc:
    name: str
    flags: int
    args: tuple[str, ...]
    ret: str
    kset: str

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def trusted_args(self) -> bool:
        """is_kfunc_trusted_args: KF_TRUSTED_ARGS, or a release kfunc."""
        return self.has(KF_TRUSTED_ARGS) or self.has(KF_RELEASE)


def _k(name, flags, args, ret, kset) -> Kfunc:
    return Kfunc(name, flags, tuple(args), ret, kset)


_ACQ_NULL = KF_ACQUIRE | KF_RET_NULL
_TASK, _CGRP, _MASK, _CPUMASK = "btf:task_struct", "btf:cgroup", "btf:bpf_cpumask", "btf:cpumask"
_CT_ARGS = ("mem", "size", "mem", "size")
_IGN = "ign"

KFUNCS: dict[str, Kfunc] = {k.name: k for k in (
    _k("bpf_task_acquire", _ACQ_NULL | KF_RCU, [_TASK], _TASK, "generic"),
    _k("bpf_task_release", KF_RELEASE, [_TASK], "void", "generic"),
    _k("bpf_task_from_pid", _ACQ_NULL, ["scalar"], _TASK, "generic"),
    _k("bpf_task_from_vpid", _ACQ_NULL, ["scalar"], _TASK, "generic"),
    _k("bpf_cgroup_acquire", _ACQ_NULL | KF_RCU, [_CGRP], _CGRP, "generic"),
    _k("bpf_cgroup_release", KF_RELEASE, [_CGRP], "void", "generic"),
    _k("bpf_cgroup_from_id", _ACQ_NULL, ["scalar"], _CGRP, "generic"),
    _k("bpf_cgroup_ancestor", _ACQ_NULL | KF_RCU, [_CGRP, "scalar"], _CGRP, "generic"),
    _k("bpf_task_under_cgroup", KF_RCU, [_TASK, _CGRP], "scalar", "generic"),
    _k("bpf_rcu_read_lock", 0, [], "void", "common"),
    _k("bpf_rcu_read_unlock", 0, [], "void", "common"),
    _k("bpf_cpumask_create", _ACQ_NULL, [], _MASK, "cpumask"),
    _k("bpf_cpumask_acquire", KF_ACQUIRE | KF_TRUSTED_ARGS, [_MASK], _MASK, "cpumask"),
    _k("bpf_cpumask_release", KF_RELEASE, [_MASK], "void", "cpumask"),
    _k("bpf_cpumask_first", KF_RCU, [_CPUMASK], "scalar", "cpumask"),
    _k("bpf_cpumask_first_zero", KF_RCU, [_CPUMASK], "scalar", "cpumask"),
    _k("bpf_cpumask_set_cpu", KF_RCU, ["scalar", _MASK], "void", "cpumask"),
    _k("bpf_cpumask_clear_cpu", KF_RCU, ["scalar", _MASK], "void", "cpumask"),
    _k("bpf_cpumask_test_cpu", KF_RCU, ["scalar", _CPUMASK], "scalar", "cpumask"),
    _k("bpf_cpumask_clear", KF_RCU, [_MASK], "void", "cpumask"),
    _k("bpf_cpumask_setall", KF_RCU, [_MASK], "void", "cpumask"),
    _k("bpf_cpumask_empty", KF_RCU, [_CPUMASK], "scalar", "cpumask"),
    _k("bpf_cpumask_weight", KF_RCU, [_CPUMASK], "scalar", "cpumask"),
    _k("bpf_skb_ct_lookup", _ACQ_NULL, ["ctx", *_CT_ARGS], "btf:nf_conn", "ct_skb"),
    _k("bpf_xdp_ct_lookup", _ACQ_NULL, ["ctx", *_CT_ARGS], "btf:nf_conn", "ct_xdp"),
    _k("bpf_ct_release", KF_RELEASE, ["btf:nf_conn"], "void", "ct"),
    _k("bpf_sock_destroy", KF_TRUSTED_ARGS, ["btf:sock_common"], "scalar", "sk_iter"),
    # skb / xdp dynptrs (model.verifier.dynptr_kfuncs)
    _k("bpf_dynptr_from_skb", 0, ["ctx", "scalar", "dynptr_uninit:skb"], "scalar",
       "dynptr_skb"),
    _k("bpf_dynptr_from_xdp", 0, ["ctx", "scalar", "dynptr_uninit:xdp"], "scalar",
       "dynptr_xdp"),
    _k("bpf_dynptr_slice", KF_RET_NULL, ["dynptr", "scalar", "mem_opt", "szk"], "slice",
       "common"),
    _k("bpf_dynptr_slice_rdwr", KF_RET_NULL, ["dynptr", "scalar", "mem_opt", "szk"],
       "slice_rdwr", "common"),
    # kernel/bpf/helpers.c string kfuncs (common set): they read their ``__ign`` strings
    # with copy_from_kernel_nofault, so the verifier checks no pointer
    _k("bpf_strcmp", 0, [_IGN, _IGN], "scalar", "common"),
    _k("bpf_strcasecmp", 0, [_IGN, _IGN], "scalar", "common"),
    _k("bpf_strchr", 0, [_IGN, "scalar"], "scalar", "common"),
    _k("bpf_strchrnul", 0, [_IGN, "scalar"], "scalar", "common"),
    _k("bpf_strnchr", 0, [_IGN, "scalar", "scalar"], "scalar", "common"),
    _k("bpf_strrchr", 0, [_IGN, "scalar"], "scalar", "common"),
    _k("bpf_strlen", 0, [_IGN], "scalar", "common"),
    _k("bpf_strnlen", 0, [_IGN, "scalar"], "scalar", "common"),
    _k("bpf_strspn", 0, [_IGN, _IGN], "scalar", "common"),
    _k("bpf_strcspn", 0, [_IGN, _IGN], "scalar", "common"),
    _k("bpf_strstr", 0, [_IGN, _IGN], "scalar", "common"),
    _k("bpf_strnstr", 0, [_IGN, _IGN, "scalar"], "scalar", "common"),
)}
#: the kfuncs model.verifier.dynptr_kfuncs judges (dynptr arguments, slices)
DYNPTR_KFUNCS = frozenset({"bpf_dynptr_from_skb", "bpf_dynptr_from_xdp", "bpf_dynptr_slice",
                           "bpf_dynptr_slice_rdwr"})

RCU_LOCK, RCU_UNLOCK = "bpf_rcu_read_lock", "bpf_rcu_read_unlock"
#: the structs a referenced kptr may point to: a destructor kfunc is registered for them
#: (register_btf_id_dtor_kfuncs; BPF_MAP_CREATE refuses a referenced kptr to another)
KPTR_DTOR_STRUCTS = frozenset({"task_struct", "cgroup", "bpf_cpumask"})
#: rcu_protected_object: a referenced kptr of these loaded in an RCU section is MEM_RCU
RCU_PROTECTED = frozenset({"task_struct", "cgroup", "bpf_cpumask"})


def kfunc_check(name: str, prog_type: str, sleepable: bool = False,
                attach_type: int = 0) -> str | None:
    """Why a call of kfunc ``name`` from ``prog_type`` (with ``attach_type``) is refused
    ("calling kernel function ... is not allowed", the kernel's words) or not modelled;
    None: modelled."""
    k = KFUNCS.get(name)
    if k is None:
        return f"not modelled: kfunc {name}"
    if prog_type in ("lsm", "struct_ops", "ext", "lsm_cgroup"):
        return f"not modelled: kfunc {name} in a {prog_type} program"
    types = SETS[k.kset]
    if prog_type in SET_UNMODELLED.get(k.kset, ()):
        return f"not modelled: kfunc {name} in a {prog_type} program"
    if "*" not in types and prog_type not in types:
        if k.kset == "ct_skb" and prog_type == "xdp" or k.kset == "ct_xdp" and prog_type == \
                "sched_cls":
            return f"not modelled: kfunc {name} in a {prog_type} program"
        return f"calling kernel function {name} is not allowed"
    if SET_ATTACH.get(k.kset, attach_type) != attach_type:
        return f"calling kernel function {name} is not allowed"
    if k.has(KF_SLEEPABLE) and not sleepable:
        return f"program must be sleepable to call sleepable kfunc {name}"
    return None


def kfunc_name(prog, pc: int, btf_id: int) -> str | None:
    """The called kfunc's name: the object's ``__ksym`` extern at ``pc``, else the
    running kernel's BTF name of ``btf_id``."""
    name = prog.ksyms.get(pc)
    if name is None and btf_id > 0:
        from model.platform.tracing_targets import vmlinux_btf

        btf = vmlinux_btf()
        if btf is not None and btf_id < len(btf.types):
            name = btf.types[btf_id].name or None
    return name


def arg_struct(kind: str) -> str | None:
    """The struct of a ``btf:STRUCT`` argument or return kind."""
    return kind[4:] if kind.startswith("btf:") else None


__all__ = ["KF_ACQUIRE", "KF_RELEASE", "KF_RET_NULL", "KF_TRUSTED_ARGS", "KF_SLEEPABLE",
           "KF_DESTRUCTIVE", "KF_RCU", "SETS", "Kfunc", "KFUNCS", "RCU_LOCK", "RCU_UNLOCK",
           "KPTR_DTOR_STRUCTS", "RCU_PROTECTED", "DYNPTR_KFUNCS", "kfunc_check", "kfunc_name", "arg_struct"]
