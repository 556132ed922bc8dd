"""Helper argument and return kinds (Linux 6.18 ``enum bpf_arg_type`` / ``enum
bpf_return_type`` with their ``enum bpf_type_flag`` bits, include/linux/bpf.h), and which
of them skv's engines model.

A kind the engines do not model (kptrs, most BTF ids, ...) makes a call of any helper
using it a clean "not modelled" rejection (:func:`unmodelled_kind`), never an accept. Some
kinds only the abstract verifier models (``typed``/``refs``/``dynptrs`` in
:func:`unmodelled_kind`): acquired references and spin locks (:data:`REF_ARGS`), typed
pointers (:data:`RET_BTF_STRUCT`, :data:`ARG_BTF_STRUCT`), bpf_timer pointers
(model.verifier.timers), dynptrs (``ARG_PTR_TO_DYNPTR``, ``RET_PTR_TO_DYNPTR_MEM_OR_NULL``,
bpf_user_ringbuf_drain's callback: model.verifier.dynptr); the Z3 engine gives up on those
paths ("not modelled").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property

from model.platform.callbacks import UNMODELLED, callback_spec


class Arg(enum.Enum):
    """Base argument types (``enum bpf_arg_type`` without flag bits). Value = what the
    verifier's ``check_func_arg`` requires of the register."""

    DONTCARE = "unused argument: not checked, need not be initialised"
    CONST_MAP_PTR = "a map pointer (ld_imm64 pseudo map fd), known at verification time"
    PTR_TO_MAP_KEY = ("pointer to key_size initialised bytes of the map in the previous "
                      "CONST_MAP_PTR argument (stack, map value, or packet if pkt_access)")
    PTR_TO_MAP_VALUE = ("pointer to value_size bytes for the map in the previous "
                        "CONST_MAP_PTR argument (written by the helper with MEM_UNINIT)")
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
    PTR_TO_PERCPU_BTF_ID = "pointer to a per-CPU kernel variable (ld_imm64 of a ksym)"
    PTR_TO_KPTR = "pointer to a kptr field of a map value"


class ArgFlag(enum.Flag):
    """Flag bits of ``enum bpf_type_flag`` that appear in helper argument types."""

    NONE = 0
    PTR_MAYBE_NULL = enum.auto()  # NULL (scalar 0) also accepted
    MEM_RDONLY = enum.auto()      # helper only reads: read-only memory accepted
    MEM_UNINIT = enum.auto()      # helper fills it: memory need not be initialised
    MEM_WRITE = enum.auto()       # helper writes: read-only memory rejected
    MEM_FIXED_SIZE = enum.auto()  # size is in the proto (arg_size), no size argument
    MEM_ALIGNED = enum.auto()     # the pointer must be aligned to the fixed size
    OBJ_RELEASE = enum.auto()     # the helper releases the reference held by this pointer
    MEM_ALLOC = enum.auto()
    MEM_RINGBUF = enum.auto()
    DYNPTR_LOCAL = enum.auto()    # DYNPTR_TYPE_LOCAL: a dynptr over program memory
    DYNPTR_RINGBUF = enum.auto()  # DYNPTR_TYPE_RINGBUF: over a ring buffer reservation
    DYNPTR_SKB = enum.auto()      # DYNPTR_TYPE_SKB: over an skb's packet (a kfunc's)
    DYNPTR_XDP = enum.auto()      # DYNPTR_TYPE_XDP: over an xdp buffer (a kfunc's)


@dataclass(frozen=True)
class ArgType:
    """A helper argument type: base type and flags (kernel: ``ARG_x | FLAG | ...``);
    ``size``: ``arg_size`` of a MEM_FIXED_SIZE memory argument. Its derived tests are
    computed once per argument type (``cached_property``: ``enum.Flag`` operations run as
    Python code, and the verifier asks them at every helper call)."""

    base: Arg
    flags: ArgFlag = ArgFlag.NONE
    size: int = 0

    @cached_property
    def is_mem(self) -> bool:
        """A pointer to memory whose size is given by the next (size) argument."""
        return self.base is Arg.PTR_TO_MEM and not (self.flags & ArgFlag.MEM_FIXED_SIZE)

    @cached_property
    def is_fixed_mem(self) -> bool:
        return self.base is Arg.PTR_TO_MEM and bool(self.flags & ArgFlag.MEM_FIXED_SIZE)

    @cached_property
    def is_size(self) -> bool:
        return self.base in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO)

    @cached_property
    def maybe_null(self) -> bool:
        return bool(self.flags & ArgFlag.PTR_MAYBE_NULL)

    @cached_property
    def reads_mem(self) -> bool:
        """The helper reads the memory (so it must be initialised)."""
        return self.base is Arg.PTR_TO_MEM and not (self.flags & ArgFlag.MEM_UNINIT)

    @cached_property
    def writes_mem(self) -> bool:
        """The helper may write the memory: a memory argument that is not MEM_RDONLY, or a
        map value it fills (MEM_UNINIT | MEM_WRITE: bpf_map_pop_elem / peek_elem)."""
        if self.base is Arg.PTR_TO_MAP_VALUE:
            return bool(self.flags & ArgFlag.MEM_WRITE)
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
#: bpf_map_pop_elem / peek_elem: the helper fills value_size bytes
ARG_PTR_TO_UNINIT_MAP_VALUE = _a(Arg.PTR_TO_MAP_VALUE, F.MEM_UNINIT | F.MEM_WRITE)
ARG_PTR_TO_MEM = _a(Arg.PTR_TO_MEM)
ARG_PTR_TO_MEM_WRITE = _a(Arg.PTR_TO_MEM, F.MEM_WRITE)
ARG_PTR_TO_MEM_RDONLY = _a(Arg.PTR_TO_MEM, F.MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL_RDONLY = _a(Arg.PTR_TO_MEM, F.PTR_MAYBE_NULL | F.MEM_RDONLY)
ARG_PTR_TO_MEM_OR_NULL_WRITE = _a(Arg.PTR_TO_MEM, F.PTR_MAYBE_NULL | F.MEM_WRITE)
#: kernel ``ARG_PTR_TO_UNINIT_MEM = MEM_UNINIT | MEM_WRITE | ARG_PTR_TO_MEM``
ARG_PTR_TO_UNINIT_MEM = _a(Arg.PTR_TO_MEM, F.MEM_UNINIT | F.MEM_WRITE)
ARG_CONST_SIZE = _a(Arg.CONST_SIZE)
ARG_CONST_SIZE_OR_ZERO = _a(Arg.CONST_SIZE_OR_ZERO)
ARG_PTR_TO_CTX = _a(Arg.PTR_TO_CTX)
ARG_PTR_TO_CTX_OR_NULL = _a(Arg.PTR_TO_CTX, F.PTR_MAYBE_NULL)
ARG_ANYTHING = _a(Arg.ANYTHING)
ARG_PTR_TO_SPIN_LOCK = _a(Arg.PTR_TO_SPIN_LOCK)
ARG_PTR_TO_FUNC = _a(Arg.PTR_TO_FUNC)
ARG_PTR_TO_STACK_OR_NULL = _a(Arg.PTR_TO_STACK, F.PTR_MAYBE_NULL)
ARG_PTR_TO_CONST_STR = _a(Arg.PTR_TO_CONST_STR)
ARG_PTR_TO_RINGBUF_MEM_RELEASE = _a(Arg.PTR_TO_RINGBUF_MEM, F.OBJ_RELEASE)
ARG_CONST_ALLOC_SIZE_OR_ZERO = _a(Arg.CONST_ALLOC_SIZE_OR_ZERO)
ARG_PTR_TO_SOCK_COMMON = _a(Arg.PTR_TO_SOCK_COMMON)
ARG_PTR_TO_SOCKET_RELEASE = _a(Arg.PTR_TO_SOCKET, F.OBJ_RELEASE)
#: bpf_sk_release's argument: ``ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE``
ARG_PTR_TO_BTF_ID_SOCK_COMMON_RELEASE = _a(Arg.PTR_TO_BTF_ID_SOCK_COMMON, F.OBJ_RELEASE)
ARG_PTR_TO_BTF_ID = _a(Arg.PTR_TO_BTF_ID)
ARG_PTR_TO_BTF_ID_OR_NULL = _a(Arg.PTR_TO_BTF_ID, F.PTR_MAYBE_NULL)
ARG_PTR_TO_BTF_ID_SOCK_COMMON = _a(Arg.PTR_TO_BTF_ID_SOCK_COMMON)
ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL = _a(Arg.PTR_TO_BTF_ID_SOCK_COMMON, F.PTR_MAYBE_NULL)
ARG_PTR_TO_TIMER = _a(Arg.PTR_TO_TIMER)
ARG_PTR_TO_DYNPTR = _a(Arg.PTR_TO_DYNPTR)
ARG_PTR_TO_PERCPU_BTF_ID = _a(Arg.PTR_TO_PERCPU_BTF_ID)
ARG_PTR_TO_KPTR = _a(Arg.PTR_TO_KPTR)


def fixed_mem(size: int, flags: ArgFlag = ArgFlag.NONE) -> ArgType:
    """``ARG_PTR_TO_FIXED_SIZE_MEM | flags`` with ``arg_size = size``."""
    return ArgType(Arg.PTR_TO_MEM, F.MEM_FIXED_SIZE | flags, size)


#: the old ARG_PTR_TO_LONG / ARG_PTR_TO_INT: ``ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT |
#: MEM_WRITE | MEM_ALIGNED`` with arg_size 8 / 4
ARG_PTR_TO_LONG = fixed_mem(8, F.MEM_UNINIT | F.MEM_WRITE | F.MEM_ALIGNED)


# --- return types ----------------------------------------------------------------------
class Ret(enum.Enum):
    """``enum bpf_return_type`` values (with their flags) of the 6.18 helpers."""

    INTEGER = "RET_INTEGER: r0 is an unknown scalar"
    VOID = "RET_VOID: r0 is not readable after the call"
    PTR_TO_MAP_VALUE = "RET_PTR_TO_MAP_VALUE: r0 points to value_size bytes of the map"
    PTR_TO_MAP_VALUE_OR_NULL = ("RET_PTR_TO_MAP_VALUE_OR_NULL: r0 points to value_size bytes "
                                "of the map in arg 1, or is NULL; must be checked before use")
    PTR_TO_RINGBUF_MEM_OR_NULL = ("RET_PTR_TO_MEM | MEM_RINGBUF | PTR_MAYBE_NULL: r0 points "
                                  "to ret_size_arg's (constant) bytes of ring buffer memory, "
                                  "or is NULL; a reference that must be submitted/discarded")
    PTR_TO_SOCKET_OR_NULL = "RET_PTR_TO_SOCKET_OR_NULL (an acquired reference)"
    PTR_TO_TCP_SOCK_OR_NULL = "RET_PTR_TO_TCP_SOCK_OR_NULL"
    PTR_TO_SOCK_COMMON_OR_NULL = "RET_PTR_TO_SOCK_COMMON_OR_NULL"
    PTR_TO_BTF_ID = "RET_PTR_TO_BTF_ID (trusted)"
    PTR_TO_BTF_ID_OR_NULL = "RET_PTR_TO_BTF_ID_OR_NULL"
    PTR_TO_MEM_OR_BTF_ID = ("RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY: this CPU's copy of a "
                            "per-CPU variable (bpf_this_cpu_ptr)")
    PTR_TO_MEM_OR_BTF_ID_OR_NULL = ("RET_PTR_TO_MEM_OR_BTF_ID | PTR_MAYBE_NULL | MEM_RDONLY: "
                                    "a CPU's copy of a per-CPU variable, NULL for a CPU "
                                    "number >= nr_cpu_ids (bpf_per_cpu_ptr)")
    PTR_TO_DYNPTR_MEM_OR_NULL = "RET_PTR_TO_DYNPTR_MEM_OR_NULL"


# --- what the engines model ------------------------------------------------------------
#: argument kinds both engines check soundly (with the flags they understand)
MODELLED_ARGS = frozenset({Arg.DONTCARE, Arg.ANYTHING, Arg.CONST_MAP_PTR, Arg.PTR_TO_MAP_KEY,
                           Arg.PTR_TO_MAP_VALUE, Arg.PTR_TO_MEM, Arg.CONST_SIZE,
                           Arg.CONST_SIZE_OR_ZERO, Arg.PTR_TO_CTX})
#: argument kinds modelled for the callback helpers of ``model.platform.callbacks`` only
CALLBACK_ARGS = frozenset({Arg.PTR_TO_FUNC, Arg.PTR_TO_STACK})
MODELLED_FLAGS = (F.PTR_MAYBE_NULL | F.MEM_RDONLY | F.MEM_UNINIT | F.MEM_WRITE
                  | F.MEM_FIXED_SIZE | F.MEM_ALIGNED)
#: return kinds both engines model (RET_PTR_TO_MAP_VALUE_OR_NULL: bpf_map_lookup_elem on
#: the value map types only, see map_helpers.VALUE_MAP_TYPES; RET_PTR_TO_MAP_VALUE:
#: bpf_get_local_storage, the cgroup storage the program runs with, never NULL)
MODELLED_RETS = frozenset({Ret.INTEGER, Ret.VOID, Ret.PTR_TO_MAP_VALUE_OR_NULL,
                           Ret.PTR_TO_MAP_VALUE})
#: helpers whose kinds are modelled but whose effect is not
UNMODELLED_HELPERS: dict[str, str] = {}
#: helpers only the abstract verifier (and the interpreter) model: for the Z3 engine a
#: clean "not modelled" (unknown, never safe); bpf_map_lookup_percpu_elem's value is
#: another CPU's copy (or NULL for a CPU >= nr_cpu_ids, whatever the key), which the Z3
#: engine's one copy per map does not hold
VERIFIER_ONLY_HELPERS = {"map_lookup_percpu_elem": "another CPU's map value"}
#: the per-CPU pointer helpers (ARG_PTR_TO_PERCPU_BTF_ID in, RET_PTR_TO_MEM_OR_BTF_ID out:
#: model.verifier.percpu); only the abstract verifier models typed pointers
PERCPU_RETS = frozenset({Ret.PTR_TO_MEM_OR_BTF_ID, Ret.PTR_TO_MEM_OR_BTF_ID_OR_NULL})


#: helpers returning RET_PTR_TO_BTF_ID(_TRUSTED) (never NULL) or RET_PTR_TO_BTF_ID_OR_NULL
#: (NULL until checked), and the vmlinux struct they point to (``*fn->ret_btf_id``); only
#: the abstract verifier models typed pointers
RET_BTF_STRUCT = {"get_current_task_btf": "task_struct", "task_pt_regs": "pt_regs",
                  "sock_from_file": "socket",
                  "skc_to_tcp6_sock": "tcp6_sock", "skc_to_tcp_sock": "tcp_sock",
                  "skc_to_tcp_timewait_sock": "tcp_timewait_sock",
                  "skc_to_tcp_request_sock": "tcp_request_sock",
                  "skc_to_udp6_sock": "udp6_sock", "skc_to_unix_sock": "unix_sock",
                  "skc_to_mptcp_sock": "mptcp_sock"}
#: of those, the helpers whose return is not PTR_TRUSTED (RET_PTR_TO_BTF_ID and
#: RET_PTR_TO_BTF_ID_OR_NULL: a plain "ptr_" pointer); the others are
#: RET_PTR_TO_BTF_ID_TRUSTED
RET_BTF_PLAIN = frozenset(RET_BTF_STRUCT) - {"get_current_task_btf"}
#: helpers whose ARG_PTR_TO_BTF_ID argument the abstract verifier checks, and the vmlinux
#: struct it must point to (``*fn->arg1_btf_id``)
ARG_BTF_STRUCT = {"find_vma": "task_struct", "get_task_stack": "task_struct",
                  "seq_printf": "seq_file", "seq_write": "seq_file", "seq_printf_btf": "seq_file",
                  "task_pt_regs": "task_struct", "sock_from_file": "file",
                  "skb_output": "sk_buff", "xdp_output": "xdp_buff", "d_path": "path",
                  # ARG_PTR_TO_BTF_ID_OR_NULL (NULL, or a maybe-NULL pointer, accepted)
                  "task_storage_get": "task_struct", "task_storage_delete": "task_struct",
                  "cgrp_storage_get": "cgroup", "cgrp_storage_delete": "cgroup",
                  # sleepable programs only (might_sleep)
                  "copy_from_user_task": "task_struct"}

#: helpers with a ``bpf_func_proto.allowed`` callback, by expected attach type: True
#: allowed, False refused ("helper call is not allowed in probe"); another attach type is
#: not modelled. bpf_d_path: any iterator (BPF_TRACE_ITER 28); tp_btf (BPF_TRACE_RAW_TP 23)
#: attaches to a btf_trace_* typedef, never in btf_allowlist_d_path (kernel functions);
#: fentry/fexit/fmod_ret depend on that allowlist, LSM on the hook being sleepable
HELPER_ALLOWED_IN = {"d_path": {28: True, 23: False}}
#: helpers whose ARG_PTR_TO_CONST_STR argument the abstract verifier checks
#: (model.verifier.const_str); bpf_snprintf's is also a format (model.platform.bprintf)
CONST_STR_HELPERS = frozenset({"strncmp", "snprintf"})


# --- acquired references (the abstract verifier only) ----------------------------------
#: helpers whose returned pointer is an acquired reference (the kernel's
#: is_acquire_function, for the helpers modelled): the program must hand it back to a
#: release helper (an ``OBJ_RELEASE`` argument) on every path before it exits
ACQUIRES = frozenset({"sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "ringbuf_reserve"})


def reference_leak(held: list[str], what: str) -> str:
    """check_reference_leak's message: a line per reference still ``held`` (how the engine
    names it), then that ``what`` (an exit of the main program, a tail call, LD_ABS/IND)
    would leak them."""
    return "\n".join([f"Unreleased reference {h}" for h in held]
                     + [f"{what} would lead to reference leak"])
#: helpers whose returned pointer (NULL until checked) is their socket argument seen as
#: another kind: it holds the argument's reference, if any (is_ptr_cast_function)
CASTS = frozenset({"sk_fullsock", "tcp_sock", "skc_to_tcp_sock", "skc_to_tcp6_sock",
                   "skc_to_udp6_sock", "skc_to_mptcp_sock", "skc_to_tcp_timewait_sock",
                   "skc_to_tcp_request_sock"})
#: helpers returning a socket (NULL until checked) that holds no reference: neither an
#: acquire nor a cast function in the kernel (bpf_get_listener_sock)
UNREF_SOCKS = frozenset({"get_listener_sock"})
#: the return kinds of :data:`ACQUIRES` and the argument kinds that release them (and
#: bpf_spin_lock's, whose lock the verifier tracks like a reference; and a socket passed to
#: a helper such as bpf_sk_assign)
BTF_RETS = (Ret.PTR_TO_BTF_ID, Ret.PTR_TO_BTF_ID_OR_NULL)
#: helpers on kptr fields of map values: the abstract verifier's alone (model.verifier.kptrs)
KPTR_HELPERS = frozenset({"kptr_xchg"})
REF_RETS = frozenset({Ret.PTR_TO_RINGBUF_MEM_OR_NULL, Ret.PTR_TO_SOCKET_OR_NULL,
                      Ret.PTR_TO_SOCK_COMMON_OR_NULL, Ret.PTR_TO_TCP_SOCK_OR_NULL})
REF_ARGS = frozenset({ARG_PTR_TO_RINGBUF_MEM_RELEASE, ARG_PTR_TO_BTF_ID_SOCK_COMMON_RELEASE,
                      ARG_CONST_ALLOC_SIZE_OR_ZERO, ARG_PTR_TO_SPIN_LOCK,
                      ARG_PTR_TO_BTF_ID_SOCK_COMMON, ARG_PTR_TO_BTF_ID_SOCK_COMMON_OR_NULL,
                      ARG_PTR_TO_SOCK_COMMON,
                      _a(Arg.PTR_TO_SOCKET, F.PTR_MAYBE_NULL)})  # sk_lookup's bpf_sk_assign
#: what a released (or socket) argument may be (check_reg_type's "expected=" list)
RELEASE_EXPECTED = {
    Arg.PTR_TO_RINGBUF_MEM: "ringbuf_mem",
    Arg.PTR_TO_BTF_ID_SOCK_COMMON: "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_",
    Arg.PTR_TO_SOCK_COMMON: "sock_common, sock, tcp_sock, xdp_sock",
}


#: the dynptr type flag of an ``ARG_PTR_TO_DYNPTR`` argument -> the dynptr type's name
#: (the kernel's dynptr_type_str)
DYNPTR_TYPES = {F.DYNPTR_LOCAL: "local", F.DYNPTR_RINGBUF: "ringbuf", F.DYNPTR_SKB: "skb",
                F.DYNPTR_XDP: "xdp"}
#: helpers whose integer return do_refine_retval_range bounds by their size argument: at
#: most that argument's largest value (meta->msize_max_value, its umax), at least
#: -MAX_ERRNO, as a 64- and a 32-bit signed range (bytes copied, or an error)
RET_WITHIN_SIZE = frozenset({"get_stack", "get_task_stack", "probe_read_str",
                             "probe_read_kernel_str", "probe_read_user_str"})
#: helpers whose returned memory is a slice of their dynptr argument (is_dynptr_ref_function)
DYNPTR_SLICES = frozenset({"dynptr_data"})


def dynptr_type(arg: ArgType) -> str | None:
    """The dynptr type an ``ARG_PTR_TO_DYNPTR`` argument names, or None (any type)."""
    return next((t for f, t in DYNPTR_TYPES.items() if arg.flags & f), None)


def uses_dynptrs(proto) -> bool:
    """A dynptr argument or return, or a callback given a dynptr."""
    spec = callback_spec(proto.name)
    return (any(a.base is Arg.PTR_TO_DYNPTR for a in proto.args)
            or proto.ret is Ret.PTR_TO_DYNPTR_MEM_OR_NULL
            or (spec is not None and spec.dynptr))


def unmodelled_kind(proto, *, typed: bool = False, refs: bool = False,
                    dynptrs: bool = False) -> str | None:
    """Why no engine can judge a call of ``proto`` ("not modelled: ..."), or None.
    ``typed``: the engine models PTR_TO_BTF_ID (RET_BTF_STRUCT returns); ``refs``: it tracks
    acquired references (:data:`ACQUIRES`, :data:`REF_ARGS`); ``dynptrs``: it models
    dynptrs (:func:`uses_dynptrs`); only the abstract verifier does all three."""
    name = proto.kernel_name
    why = UNMODELLED_HELPERS.get(proto.name)
    if why is not None:
        return f"not modelled: {why} (helper {name})"
    if proto.name in UNMODELLED:
        return f"not modelled: {UNMODELLED[proto.name]} (helper {name})"
    if typed and refs and proto.name in KPTR_HELPERS:
        return None  # model.verifier.kptrs
    why = VERIFIER_ONLY_HELPERS.get(proto.name)
    if why is not None and not (typed and refs and dynptrs):
        return f"not modelled: {why} (helper {name})"
    if uses_dynptrs(proto):
        if not (dynptrs and refs):
            return f"not modelled: dynptrs (helper {name})"
        if proto.ret is Ret.PTR_TO_DYNPTR_MEM_OR_NULL:
            return None  # its other arguments: ANYTHING and the constant slice size
    callback = callback_spec(proto.name) is not None
    for a in proto.args:
        if refs and a in REF_ARGS:
            continue
        if dynptrs and a.base is Arg.PTR_TO_DYNPTR:
            continue  # model.verifier.dynptr
        if callback and a.base in CALLBACK_ARGS:
            continue  # checked by the verifier's callback rules (model.platform.callbacks)
        if typed and (a == ARG_PTR_TO_TIMER or a.base is Arg.PTR_TO_BTF_ID
                      and not a.flags & ~F.PTR_MAYBE_NULL and proto.name in ARG_BTF_STRUCT):
            continue  # model.verifier.timers, and a typed pointer of ARG_BTF_STRUCT
        if typed and a == ARG_PTR_TO_CONST_STR and proto.name in CONST_STR_HELPERS:
            continue  # model.verifier.const_str
        if typed and a == ARG_PTR_TO_PERCPU_BTF_ID:
            continue  # model.verifier.percpu
        if a.base not in MODELLED_ARGS or a.flags & ~MODELLED_FLAGS:
            return f"not modelled: argument kind {a} of helper {name}"
        if a.base is Arg.PTR_TO_CTX and a.flags & ~F.PTR_MAYBE_NULL:
            return f"not modelled: argument kind {a} of helper {name}"
    if typed and proto.ret in BTF_RETS and proto.name in RET_BTF_STRUCT:
        return None
    if typed and proto.ret in PERCPU_RETS:
        return None
    if refs and proto.ret in REF_RETS and proto.name in ACQUIRES | CASTS | UNREF_SOCKS:
        return None
    if proto.ret not in MODELLED_RETS:
        return f"not modelled: return kind {proto.ret.value.split(':')[0]} of helper {name}"
    return None
