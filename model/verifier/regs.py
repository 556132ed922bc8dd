"""Abstract register values, as the kernel verifier keeps them.

A register is NOT_INIT, a SCALAR (a ``Scalar``: tnum plus signed/unsigned 64- and 32-bit
bounds), or a pointer: its type, the region it points into (a map, a stack frame, the
packet...), a fixed offset ``off`` and a variable offset ``var`` (a ``Scalar``). Pointers
that may be NULL carry an ``id`` shared by their copies, so a null check fixes them all;
packet pointers carry an ``id`` and a verified ``range`` (bytes readable from the pointer's
base, fixed offset excluded), as in the kernel.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, NamedTuple

from model.domains import Scalar
from model.domains.scalar import replace


class T(Enum):
    NOT_INIT = "not_init"
    SCALAR = "scalar"
    CTX = "ctx"
    STACK = "fp"
    MAP_PTR = "map_ptr"
    MAP_VALUE = "map_value"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    PKT = "pkt"
    PKT_END = "pkt_end"
    PKT_META = "pkt_meta"
    MEM = "mem"
    MEM_OR_NULL = "mem_or_null"
    FUNC = "func"
    BTF_ID = "ptr_"                  # PTR_TO_BTF_ID: typed kernel memory (read-only here)
    BTF_ID_OR_NULL = "ptr_or_null_"  # ... | PTR_MAYBE_NULL
    #: PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED: a non-struct pointer member read through
    #: PTR_TO_BTF_ID; any read through it is a fault-safe probe, no write
    UNTRUSTED_MEM = "rdonly_untrusted_mem"
    # acquired references (``ref``): ring buffer memory (PTR_TO_MEM | MEM_RINGBUF |
    # MEM_ALLOC) and sockets, NULL until checked
    RINGBUF_MEM = "ringbuf_mem"
    RINGBUF_MEM_OR_NULL = "ringbuf_mem_or_null"
    SOCKET = "sock"
    SOCKET_OR_NULL = "sock_or_null"
    SOCK_COMMON = "sock_common"
    SOCK_COMMON_OR_NULL = "sock_common_or_null"
    TCP_SOCK = "tcp_sock"
    TCP_SOCK_OR_NULL = "tcp_sock_or_null"
    XDP_SOCK = "xdp_sock"  # an xskmap entry (a NULL-checked lookup; no reference)
    MAP_KEY = "map_key"  # a for_each_map_elem callback's key (read-only, key_size bytes)
    #: CONST_PTR_TO_DYNPTR: a dynptr the program may read through helpers only (a
    #: bpf_user_ringbuf_drain callback's sample; ``tag``: its dynptr type)
    CONST_DYNPTR = "dynptr_ptr"
    FLOW_KEYS = "flow_keys"  # __sk_buff->flow_keys of a flow dissector (struct bpf_flow_keys)
    TP_BUFFER = "tp_buffer"  # raw_tp.w's args[0]: the tracepoint's writable buffer
    #: PTR_TO_BUF (| MEM_RDONLY): an iterator's map element value (key), of a size known
    #: only at attach (model.platform.iter_targets)
    BUF = "buf"
    BUF_OR_NULL = "buf_or_null"
    RDONLY_BUF = "rdonly_buf"
    RDONLY_BUF_OR_NULL = "rdonly_buf_or_null"

    # members are singletons: hash them by identity, in C (Enum's own hashes the name in
    # Python, and registers are hashed on every fingerprint)
    __hash__ = object.__hash__


NULLABLE = {T.MAP_VALUE_OR_NULL: T.MAP_VALUE, T.MEM_OR_NULL: T.MEM,
            T.BTF_ID_OR_NULL: T.BTF_ID,
            T.RINGBUF_MEM_OR_NULL: T.RINGBUF_MEM, T.SOCKET_OR_NULL: T.SOCKET,
            T.SOCK_COMMON_OR_NULL: T.SOCK_COMMON, T.TCP_SOCK_OR_NULL: T.TCP_SOCK,
            T.BUF_OR_NULL: T.BUF, T.RDONLY_BUF_OR_NULL: T.RDONLY_BUF}
#: PTR_TO_BUF: any constant offset >= 0 (the size is checked at attach)
BUFFERS = {T.BUF, T.RDONLY_BUF}
#: memory of a size known to the verifier (``range``)
SIZED_MEM = {T.MEM, T.RINGBUF_MEM}
#: pointers to a socket (no arithmetic, read-only fields)
SOCKETS = {T.SOCKET, T.SOCK_COMMON, T.TCP_SOCK, T.XDP_SOCK}
PACKET = {T.PKT, T.PKT_META}
POINTERS = {t for t in T} - {T.NOT_INIT, T.SCALAR}


class Reg(NamedTuple):
    """One register's abstract value; immutable (a named tuple: hashing and equality in C,
    states are fingerprinted at every prune point)."""

    type: T
    scalar: Scalar | None = None  # SCALAR: the value; pointers: the variable offset
    off: int = 0
    id: int = 0
    map: str | None = None  # MAP_PTR / MAP_VALUE(_OR_NULL): the map's name
    range: int = 0  # PKT: verified bytes; MEM: region size
    frame: int = 0  # STACK: the frame the pointer points into
    read_only: bool = False  # MAP_VALUE of a frozen .rodata map
    #: SCALAR linked by ``rX += imm`` (the kernel's ``id | BPF_ADD_CONST``, ``off``): its
    #: value is that of the other scalars with its ``id`` plus ``delta`` minus theirs.
    #: None: not such a register (a plain copy has delta 0 and no flag)
    delta: int | None = None
    #: BTF_ID(_OR_NULL): the struct's vmlinux BTF id, its trust ("trusted", "rcu",
    #: "untrusted", "" plain) and a "user"/"percpu" tag (model.platform.btf_access)
    btf_id: int = 0
    trust: str = ""
    tag: str = ""
    #: the kernel's ``ref_obj_id``: the acquired reference this pointer holds (0: none);
    #: releasing it invalidates every register and spill carrying it
    ref: int = 0
    #: MEM(_OR_NULL) returned by bpf_dynptr_data: the id of the dynptr it is a slice of
    #: (destroying that dynptr invalidates the slice)
    dynptr: int = 0

    @property
    def is_scalar(self) -> bool:
        return self.type is T.SCALAR

    @property
    def is_pointer(self) -> bool:
        return is_pointer(self)

    @property
    def var(self) -> Scalar:
        return var_of(self)

    def const(self) -> int | None:
        """The exact value of a scalar known to one constant, else None."""
        s = self.scalar
        if self.type is T.SCALAR and s is not None and s.is_const():
            return s.const_value()
        return None


def is_pointer(r: Reg) -> bool:
    """``r.is_pointer`` (a function: compiled code calls it natively, not a property)."""
    return r.type in POINTERS


def var_of(r: Reg) -> Scalar:
    """``r.var``: a scalar's value, a pointer's variable offset (a function: compiled code
    calls it natively, not a property)."""
    s = r.scalar
    return s if s is not None else _ZERO


_ZERO: Final = Scalar.const(0)
NOT_INIT = Reg(T.NOT_INIT)


def scalar(s: Scalar, id: int = 0) -> Reg:
    """``Reg(T.SCALAR, s, id=id)``, built without the named tuple's Python ``__new__``
    (the other fields' defaults are ``NOT_INIT``'s)."""
    return tuple.__new__(Reg, (T.SCALAR, s, 0, id) + _REG_TAIL)


# (the fields ``scalar``, ``with_scalar`` and ``unlinked`` write by position)
if Reg._fields[:4] != ("type", "scalar", "off", "id"):  # pragma: no cover - a reordering
    raise ImportError(f"regs.scalar writes Reg's first fields by position: {Reg._fields[:4]}")
_REG_TAIL = tuple(NOT_INIT)[4:]


def unlinked(r: Reg) -> Reg:
    """``replace(r, id=0, delta=None)``, with no keyword arguments' dictionary built."""
    values = list(r)
    values[_ID] = 0
    values[_DELTA] = None
    return tuple.__new__(Reg, values)


_ID: Final = Reg._fields.index("id")
_DELTA: Final = Reg._fields.index("delta")


def with_scalar(r: Reg, s: Scalar | None) -> Reg:
    """``replace(r, scalar=s)`` (``scalar`` is the second field), with no keyword
    arguments' dictionary built."""
    return tuple.__new__(Reg, (r[0], s) + r[2:])


def known(v: int) -> Reg:
    r = _KNOWN.get(v)  # one shared (frozen) register per constant
    if r is None:
        if len(_KNOWN) >= 1 << 16:
            _KNOWN.clear()
        r = _KNOWN[v] = Reg(T.SCALAR, Scalar.const(v & (2**64 - 1)))
    return r


_KNOWN: dict[int, Reg] = {}


def unknown() -> Reg:
    return _UNKNOWN


_UNKNOWN = Reg(T.SCALAR, Scalar.unknown())  # one shared (frozen) register


def pointer(t: T, off: int = 0, **kw) -> Reg:
    return Reg(t, Scalar.const(0), off=off, **kw)


def with_offset(r: Reg, off: int) -> Reg:
    return replace(r, off=off)


def type_str(r: Reg) -> str:
    """reg_type_str: the type's name with a typed pointer's prefixes ("trusted_ptr_",
    "rcu_ptr_or_null_", "untrusted_ptr_", "percpu_ptr_"; "rdonly_mem")."""
    if r.type in (T.BTF_ID, T.BTF_ID_OR_NULL) and (r.trust or r.tag):
        return "".join(f"{p}_" for p in (r.tag, r.trust) if p) + r.type.value
    if r.type in (T.MEM, T.MEM_OR_NULL) and r.read_only:
        return f"rdonly_{r.type.value}"
    return r.type.value


def format_reg(r: Reg) -> str:
    """The kernel log's text for a register (``scalar(...)``, ``fp-8``, ``ctx()``...)."""
    if r.type is T.SCALAR:
        return format_scalar(r.var)
    if r.type is T.STACK:
        base = f"fp{r.off:+d}" if r.off else "fp0"
        return base.replace("fp+", "fp") if r.frame == 0 else f"fp[{r.frame}]{r.off:+d}"
    parts = []
    if r.id:
        parts.append(f"id={r.id}")
    if r.ref:
        parts.append(f"ref_obj_id={r.ref}")
    if r.off:
        parts.append(f"off={r.off}")
    if r.map:
        parts.append(f"map={r.map}")
    if r.btf_id:
        parts.append(f"btf={r.btf_id}{',' + r.trust if r.trust else ''}")
    if r.type in PACKET or r.type is T.MEM:
        parts.append(f"r={r.range}")
    if r.type in (T.RINGBUF_MEM, T.RINGBUF_MEM_OR_NULL):
        parts.append(f"sz={r.range}")
    if r.scalar is not None and not r.var.is_const():
        parts.append(format_scalar(r.scalar, bare=True))
    return f"{r.type.value}({','.join(parts)})"


def format_scalar(s: Scalar, bare: bool = False) -> str:
    if s.is_const():
        v = s.var_off.value
        signed = v - (1 << 64) if v >> 63 else v
        return str(signed) if not bare else f"imm={signed}"
    fields = []
    if s.smin_s != -(1 << 63):
        fields.append(f"smin={s.smin_s}")
    if s.smax_s != (1 << 63) - 1:
        fields.append(f"smax={s.smax_s}")
    if s.umin != 0:
        fields.append(f"umin={s.umin}")
    if s.umax != 2**64 - 1:
        fields.append(f"umax={s.umax}")
    if s.s32_min_s != -(1 << 31) and s.s32_min_s != s.smin_s:
        fields.append(f"smin32={s.s32_min_s}")
    if s.s32_max_s != (1 << 31) - 1 and s.s32_max_s != s.smax_s:
        fields.append(f"smax32={s.s32_max_s}")
    if s.u32_max != 2**32 - 1 and s.u32_max != s.umax:
        fields.append(f"umax32={s.u32_max}")
    if s.var_off.mask != 2**64 - 1:
        fields.append(f"var_off=({s.var_off.value:#x}; {s.var_off.mask:#x})")
    body = ",".join(fields)
    return body if bare else f"scalar({body})"
