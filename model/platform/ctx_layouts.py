"""Program contexts (what ``r1`` points to at entry), per program type, Linux 6.18 / x86-64.

For each modelled program type: the context's struct and size, and per field its offset,
width, the access sizes allowed for reads and for writes, and what a full read yields
(``scalar``, or a pointer kind: ``pkt`` = packet start, ``pkt_end``, ``pkt_meta``,
``sock_common_or_null``). The rules follow the kernel's ``*_is_valid_access`` functions
(net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/syscall.c); every type also
requires ``off % size == 0``. :func:`ctx_access` answers one access the way the verifier's
``check_ctx_access`` does; ``tests/test_platform.py`` checks it against the running kernel.

Per type:

* ``socket_filter`` / ``cgroup_skb`` / ``sched_cls`` / ``sched_act``: ``struct __sk_buff``
  (192 bytes). Generic rule (bpf_skb_is_valid_access): ``__u32`` fields may be read with 1,
  2 or 4 bytes (narrow loads: the verifier rewrites them into the kernel field's width) and
  written only with 4; ``cb[0..4]`` is read/written with any aligned size inside it
  (8-byte too); ``data``/``data_end``/``data_meta`` and the IPv4/IPv6 addresses need exactly
  4 bytes; ``tstamp`` and ``hwtstamp`` exactly 8 (``hwtstamp`` read-only); ``sk`` exactly 8,
  read-only, yielding ``struct bpf_sock_common *`` or NULL; ``flow_keys``, ``tstamp_type``
  and the padding before ``hwtstamp`` are refused. Then per type:

  - socket_filter: no ``tc_classid``, packet pointers, socket fields (``family`` ..
    ``local_port``), ``tstamp``, ``wire_len``, ``hwtstamp``; writes only to ``cb``.
  - cgroup_skb: no ``tc_classid``, ``data_meta``, ``wire_len``; ``data``/``data_end``
    (pkt / pkt_end) need CAP_BPF; writes to ``mark``, ``priority``, ``cb``, ``tstamp``
    (the last with CAP_BPF).
  - sched_cls / sched_act (tc_cls_act_is_valid_access): packet pointers incl.
    ``data_meta``; no socket fields; ``tstamp_type`` readable with 1 byte; writes to
    ``mark``, ``tc_index``, ``priority``, ``tc_classid``, ``cb``, ``tstamp``,
    ``queue_mapping``.

* ``xdp``: ``struct xdp_md`` (24 bytes, six ``__u32``), read-only, 4-byte loads only;
  ``data``/``data_end``/``data_meta`` yield packet pointers; ``egress_ifindex`` only for
  ``expected_attach_type == BPF_XDP_DEVMAP`` (33). (Writes to ``rx_queue_index`` exist
  only for device-offloaded programs, not modelled.)
* ``kprobe``: ``struct pt_regs`` (x86-64: 21 registers, 168 bytes), read-only, any aligned
  1/2/4/8-byte load inside.
* ``perf_event``: ``struct bpf_perf_event_data``: the ``pt_regs`` (168 bytes: 8-byte aligned
  loads only), then ``sample_period`` and ``addr`` (``__u64``, any aligned 1/2/4/8-byte
  load); read-only (pe_prog_is_valid_access).
* ``tracepoint``: the perf trace record. The first 8 bytes are hidden (they hold the
  ``struct pt_regs *`` the helpers need), the rest may be read with any aligned size up to
  ``PERF_MAX_TRACE_SIZE`` (8192): the verifier does not know which tracepoint the program
  will attach to. It records the largest offset read, and attaching to a tracepoint whose
  record is smaller fails (EACCES). Pass ``ctx_size`` (the tracepoint's record size, from
  its ``format`` file) to apply that limit here too.
* ``raw_tracepoint``: ``__u64 args[12]`` (MAX_BPF_FUNC_ARGS), read-only, any aligned load
  (narrow ones too). The tracepoint's real argument count is checked at attach time.
* ``sock_ops``: ``struct bpf_sock_ops`` (see :func:`_sock_ops_layout`).
* ``lwt_*``, ``sk_skb``, ``flow_dissector``, ``sk_msg``, ``sk_lookup``, ``sk_reuseport``,
  ``raw_tracepoint_writable``, ``netfilter``: :mod:`model.platform.ctx_skb_types` (the
  ``__sk_buff`` ones on this module's field table, :func:`skb_layout_from`).
* ``cgroup_sock``, ``cgroup_sock_addr``, ``cgroup_device``, ``cgroup_sysctl``,
  ``cgroup_sockopt``: in :mod:`model.platform.ctx_cgroup` (their fields depend on the
  program's ``expected_attach_type``; an attach type the kernel refuses to load the type
  with has no layout: NotModelled).
* ``syscall``: the context is the user buffer given to BPF_PROG_TEST_RUN (``ctx_in``); the
  verifier allows any aligned read or write at offsets below U16_MAX (65535), and test-run
  refuses a ``ctx_size_in`` smaller than the largest offset used. Pass ``ctx_size`` to
  apply that limit here.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass

from model.errors import NotModelled

ANY = frozenset({1, 2, 4, 8})
NARROW = frozenset({1, 2, 4})       # reads of a __u32 field (bpf_ctx_narrow_access_ok)
W4 = frozenset({4})
W8 = frozenset({8})
W1 = frozenset({1})
NONE = frozenset()

#: ``enum bpf_attach_type`` values used here
BPF_XDP_DEVMAP = 33

#: PERF_MAX_TRACE_SIZE: the verifier's bound for tracepoint contexts
PERF_MAX_TRACE_SIZE = 8192
#: MAX_BPF_FUNC_ARGS * sizeof(u64): the raw tracepoint context
RAW_TP_CTX_SIZE = 12 * 8
#: syscall programs: offsets must be below U16_MAX
SYSCALL_CTX_LIMIT = 0xFFFF


@dataclass(frozen=True)
class CtxField:
    """One field (or an array / a free-form area) of a context.

    ``read`` / ``write``: allowed access sizes (empty = not allowed). An access must be
    aligned (``off % size == 0``) and lie inside ``[off, off + width)``. ``yields``: what a
    read produces (pointer kinds only for full-width reads, which are the only ones allowed).
    ``at_start``: a narrower access only at the field's first byte (the kernel's rule is a
    ``case offsetof(...)`` label, not a ``bpf_ctx_range``); elsewhere only full-width ones.
    ``inner``: the read sizes allowed past the field's first byte, yielding a scalar (None:
    ``read`` everywhere; raw_tp.w's ``args[0]``: the buffer pointer only at offset 0).
    ``narrow_end``: a narrower access must lie inside the field's first ``narrow_end``
    bytes (``bpf_sock->dst_port``: a 2-byte port in a 4-byte slot); 0 = anywhere.
    """

    name: str
    off: int
    width: int
    read: frozenset[int] = NARROW
    write: frozenset[int] = NONE
    yields: str = "scalar"
    at_start: bool = False
    inner: frozenset[int] | None = None
    narrow_end: int = 0

    @property
    def end(self) -> int:
        return self.off + self.width


@dataclass(frozen=True)
class CtxLayout:
    prog_type: str
    struct: str
    size: int                       # accesses must start below this offset
    fields: tuple[CtxField, ...]
    min_off: int = 0                # ... and at or above this one

    def field_at(self, off: int) -> CtxField | None:
        for f in self.fields:
            if f.off <= off < f.end:
                return f
        return None


@dataclass(frozen=True)
class CtxAccess:
    """An allowed context access: the field, and what a read yields (``scalar`` for writes:
    what may be stored is a scalar; storing a pointer is "R%d leaks addr into ctx" for
    unprivileged programs)."""

    field: str
    kind: str
    off: int
    size: int
    write: bool


# --- struct __sk_buff (include/uapi/linux/bpf.h) ---------------------------------------
# name, offset, width
SK_BUFF_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("len", 0, 4), ("pkt_type", 4, 4), ("mark", 8, 4), ("queue_mapping", 12, 4),
    ("protocol", 16, 4), ("vlan_present", 20, 4), ("vlan_tci", 24, 4), ("vlan_proto", 28, 4),
    ("priority", 32, 4), ("ingress_ifindex", 36, 4), ("ifindex", 40, 4), ("tc_index", 44, 4),
    ("cb", 48, 20), ("hash", 68, 4), ("tc_classid", 72, 4), ("data", 76, 4),
    ("data_end", 80, 4), ("napi_id", 84, 4), ("family", 88, 4), ("remote_ip4", 92, 4),
    ("local_ip4", 96, 4), ("remote_ip6", 100, 16), ("local_ip6", 116, 16),
    ("remote_port", 132, 4), ("local_port", 136, 4), ("data_meta", 140, 4),
    ("flow_keys", 144, 8), ("tstamp", 152, 8), ("wire_len", 160, 4), ("gso_segs", 164, 4),
    ("sk", 168, 8), ("gso_size", 176, 4), ("tstamp_type", 180, 1), ("hwtstamp", 184, 8),
)
SK_BUFF_SIZE = 192
_SOCK_FIELDS = {"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port",
                "local_port"}
_EXACT4 = {"remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "data", "data_meta",
           "data_end"}


def _skb_generic(name: str) -> tuple[frozenset[int], frozenset[int], str]:
    """bpf_skb_is_valid_access: (read sizes, write sizes if the type lets it write, yields)."""
    if name == "cb":
        return ANY, ANY, "scalar"
    if name in _EXACT4:
        return W4, W4, "scalar"
    if name in ("flow_keys", "tstamp_type"):
        return NONE, NONE, "scalar"
    if name == "hwtstamp":
        return W8, NONE, "scalar"
    if name == "tstamp":
        return W8, W8, "scalar"
    if name == "sk":
        return W8, NONE, "sock_common_or_null"
    return NARROW, W4, "scalar"


def _skb_layout(prog_type: str, privileged: bool) -> CtxLayout:
    if prog_type == "socket_filter":
        refused = {"tc_classid", "data", "data_meta", "data_end", "tstamp", "wire_len",
                   "hwtstamp"} | _SOCK_FIELDS
        writable = {"cb"}
        pointers: dict[str, str] = {}
    elif prog_type == "cgroup_skb":
        refused = {"tc_classid", "data_meta", "wire_len"}
        if not privileged:
            refused |= {"data", "data_end"}
        writable = {"mark", "priority", "cb"} | ({"tstamp"} if privileged else set())
        pointers = {"data": "pkt", "data_end": "pkt_end"}
    elif prog_type in ("sched_cls", "sched_act"):
        refused = set(_SOCK_FIELDS)
        writable = {"mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                    "queue_mapping"}
        pointers = {"data": "pkt", "data_meta": "pkt_meta", "data_end": "pkt_end"}
    else:
        raise NotModelled(f"the __sk_buff context of program type {prog_type}")
    return skb_layout_from(prog_type, refused, writable, pointers)


def skb_layout_from(prog_type: str, refused: set[str], writable: set[str],
                    pointers: dict[str, str]) -> CtxLayout:
    """``struct __sk_buff`` for a type whose ``*_is_valid_access`` refuses ``refused``,
    lets ``writable`` be stored to and makes ``pointers`` packet pointers, then applies
    bpf_skb_is_valid_access (:func:`_skb_generic`)."""
    fields = []
    for name, off, width in SK_BUFF_FIELDS:
        read, write, yields = _skb_generic(name)
        if name == "tstamp_type" and prog_type in ("sched_cls", "sched_act"):
            read = W1
        if name in refused:
            read = write = NONE
        if name not in writable:
            write = NONE
        fields.append(CtxField(name, off, width, read, write, pointers.get(name, yields)))
    return CtxLayout(prog_type, "struct __sk_buff", SK_BUFF_SIZE, tuple(fields))


# --- struct xdp_md ---------------------------------------------------------------------
def _xdp_layout(attach_type: int) -> CtxLayout:
    f = [CtxField("data", 0, 4, W4, NONE, "pkt"), CtxField("data_end", 4, 4, W4, NONE, "pkt_end"),
         CtxField("data_meta", 8, 4, W4, NONE, "pkt_meta"),
         CtxField("ingress_ifindex", 12, 4, W4), CtxField("rx_queue_index", 16, 4, W4),
         CtxField("egress_ifindex", 20, 4, W4 if attach_type == BPF_XDP_DEVMAP else NONE)]
    return CtxLayout("xdp", "struct xdp_md", 24, tuple(f))


# --- struct pt_regs (arch/x86/include/asm/ptrace.h, x86-64) ----------------------------
PT_REGS_X86_64 = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                  "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS_X86_64)  # 168


def _kprobe_layout() -> CtxLayout:
    f = tuple(CtxField(n, 8 * i, 8, ANY) for i, n in enumerate(PT_REGS_X86_64))
    return CtxLayout("kprobe", "struct pt_regs", PT_REGS_SIZE, f)


def _perf_event_layout() -> CtxLayout:
    f = tuple(CtxField(n, 8 * i, 8, W8) for i, n in enumerate(PT_REGS_X86_64)) + (
        CtxField("sample_period", PT_REGS_SIZE, 8, ANY),
        CtxField("addr", PT_REGS_SIZE + 8, 8, ANY))
    return CtxLayout("perf_event", "struct bpf_perf_event_data", PT_REGS_SIZE + 16, f)


# --- struct bpf_sock_ops (include/uapi/linux/bpf.h) ----------------------------------
_SOCK_OPS_U32 = (
    "family", "remote_ip4", "local_ip4", "remote_ip6[0]", "remote_ip6[1]", "remote_ip6[2]",
    "remote_ip6[3]", "local_ip6[0]", "local_ip6[1]", "local_ip6[2]", "local_ip6[3]",
    "remote_port", "local_port", "is_fullsock", "snd_cwnd", "srtt_us",
    "bpf_sock_ops_cb_flags", "state", "rtt_min", "snd_ssthresh", "rcv_nxt", "snd_nxt",
    "snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us", "packets_out",
    "retrans_out", "total_retrans", "segs_in", "data_segs_in", "segs_out", "data_segs_out",
    "lost_out", "sacked_out", "sk_txhash")


def _sock_ops_layout() -> CtxLayout:
    """sock_ops_is_valid_access: __u32 fields read whole (4 bytes), __u64 fields and the
    pointers 8 bytes, skb_tcp_flags narrow from its start; writes only to reply and
    sk_txhash (4 bytes); ``sk`` yields a socket pointer or NULL (not modelled)."""
    f = [CtxField("op", 0, 4, W4), CtxField("reply", 4, 4, W4, W4)]
    f += [CtxField(f"args[{i}]", 4 + 4 * i, 4, W4) for i in range(1, 4)]
    f += [CtxField(n, 20 + 4 * i, 4, W4, W4 if n == "sk_txhash" else NONE)
          for i, n in enumerate(_SOCK_OPS_U32)]
    f += [CtxField("bytes_received", 168, 8, W8), CtxField("bytes_acked", 176, 8, W8),
          CtxField("sk", 184, 8, W8, NONE, "sock_or_null"),
          CtxField("skb_data", 192, 8, W8, NONE, "pkt"),
          CtxField("skb_data_end", 200, 8, W8, NONE, "pkt_end"),
          CtxField("skb_len", 208, 4, W4),
          CtxField("skb_tcp_flags", 212, 4, NARROW, at_start=True),
          CtxField("skb_hwtstamp", 216, 8, W8)]
    return CtxLayout("sock_ops", "struct bpf_sock_ops", 224, tuple(f))


#: the most negative offset a load/store instruction can carry (s16)
INSN_OFF_MIN = -(1 << 15)


def _tracepoint_layout(ctx_size: int | None) -> CtxLayout:
    size = PERF_MAX_TRACE_SIZE if ctx_size is None else min(ctx_size, PERF_MAX_TRACE_SIZE)
    # tp_prog_is_valid_access tests ``off < sizeof(void *)``: int against size_t, so a
    # negative offset compares as a huge unsigned value and passes; ``off >=
    # PERF_MAX_TRACE_SIZE`` (int) does not catch it either. The 6.18 verifier therefore
    # accepts aligned loads *before* the record (measured down to -32768, the smallest
    # instruction offset). Modelled as it is, since skv mirrors the verifier.
    f = (CtxField("before_record(kernel quirk)", INSN_OFF_MIN, -INSN_OFF_MIN, ANY),
         CtxField("pt_regs_ptr(hidden)", 0, 8, NONE),
         CtxField("record", 8, max(size - 8, 0), ANY))
    return CtxLayout("tracepoint", "perf trace record", size, f, min_off=INSN_OFF_MIN)


def _raw_tp_layout() -> CtxLayout:
    f = tuple(CtxField(f"args[{i}]", 8 * i, 8, ANY) for i in range(12))
    return CtxLayout("raw_tracepoint", "struct bpf_raw_tracepoint_args", RAW_TP_CTX_SIZE, f)


def _syscall_layout(ctx_size: int | None) -> CtxLayout:
    if ctx_size is None:
        # offsets below U16_MAX; an aligned access starting there may end at 65536
        return CtxLayout("syscall", "user ctx_in", SYSCALL_CTX_LIMIT,
                         (CtxField("ctx", 0, SYSCALL_CTX_LIMIT + 1, ANY, ANY),))
    size = min(ctx_size, SYSCALL_CTX_LIMIT)
    return CtxLayout("syscall", "user ctx_in", size, (CtxField("ctx", 0, ctx_size, ANY, ANY),))


#: program types whose context is modelled
MODELLED_PROG_TYPES = ("socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
                       "raw_tracepoint", "cgroup_skb", "syscall", "perf_event", "sock_ops",
                       "cgroup_sock", "cgroup_sock_addr", "cgroup_device", "cgroup_sysctl",
                       "cgroup_sockopt")
#: ... and the socket / lwt types of model.platform.ctx_skb_types
MODELLED_PROG_TYPES += ("lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb",
                        "flow_dissector", "sk_msg", "sk_lookup", "sk_reuseport",
                        "raw_tracepoint_writable", "netfilter")


@functools.lru_cache(maxsize=256)
def ctx_layout(prog_type: str, *, privileged: bool = True, attach_type: int = 0,
               ctx_size: int | None = None) -> CtxLayout:
    """The context of ``prog_type`` (``NotModelled`` if not modelled). ``ctx_size`` narrows
    the free-form contexts (tracepoint, syscall); ``attach_type`` is the program's
    ``expected_attach_type``."""
    if prog_type in ("socket_filter", "cgroup_skb", "sched_cls", "sched_act"):
        return _skb_layout(prog_type, privileged)
    if prog_type == "xdp":
        return _xdp_layout(attach_type)
    if prog_type == "kprobe":
        return _kprobe_layout()
    if prog_type == "perf_event":
        return _perf_event_layout()
    if prog_type == "sock_ops":
        return _sock_ops_layout()
    if prog_type == "tracepoint":
        return _tracepoint_layout(ctx_size)
    if prog_type == "raw_tracepoint":
        return _raw_tp_layout()
    if prog_type == "syscall":
        return _syscall_layout(ctx_size)
    from model.platform.ctx_skb_types import SKB_TYPE_CTX, skb_type_layout
    if prog_type in SKB_TYPE_CTX:
        return skb_type_layout(prog_type)
    if prog_type.startswith("cgroup_"):  # model.platform.ctx_cgroup
        from model.platform.ctx_cgroup import cgroup_layout

        return cgroup_layout(prog_type, attach_type)
    raise NotModelled(f"the context of program type {prog_type}")


def moved_ctx_reason(regno: int | None, fixed_off: int | None,
                     var_off: str | None = None) -> str | None:
    """__check_ptr_off_reg for the context pointer (every load, store and helper argument
    through it): it must be used unmoved. ``fixed_off`` is the pointer's constant offset
    (``None``: not a single constant, e.g. different on merged paths); ``var_off`` the
    kernel's text of a variable part (``"(value; mask)"``), ``None`` when there is none.
    ``r1 += 4; r1 += -4`` leaves it unmoved and is fine. The verifier's message, or None."""
    reg = f"R{regno}" if regno is not None else "R?"
    if fixed_off is not None and fixed_off < 0:
        return f"negative offset ctx ptr {reg} off={fixed_off} disallowed"
    if fixed_off is None or fixed_off:
        off = "?" if fixed_off is None else fixed_off
        return f"dereference of modified ctx ptr {reg} off={off} disallowed"
    if var_off is not None:
        return f"variable ctx access var_off={var_off} disallowed"
    return None


#: program types whose verifier accepts LD_ABS/LD_IND (``may_access_skb``); every other
#: type gets "BPF_LD_[ABS|IND] instructions not allowed for this program type"
LD_ABS_TYPES = frozenset({"socket_filter", "sched_cls", "sched_act"})


#: what a context read may yield in the engines: a number or a packet pointer
MODELLED_YIELDS = frozenset({"scalar", "pkt", "pkt_end", "pkt_meta"})
#: ... and, in an engine that models socket pointers (``typed``: the abstract verifier),
#: the socket fields: ``__sk_buff->sk`` (PTR_TO_SOCK_COMMON_OR_NULL), ``bpf_sock_ops->sk``
#: (PTR_TO_SOCKET_OR_NULL), ``sk_msg_md->sk``, ``bpf_sock_addr->sk``, ``bpf_sockopt->sk``
#: (PTR_TO_SOCKET), holding no reference
SOCKET_YIELDS = frozenset({"sock_or_null", "sock_common_or_null", "sock"})
#: ... and ``__sk_buff->flow_keys`` (PTR_TO_FLOW_KEYS, model.platform.ctx_skb_types)
TYPED_YIELDS = SOCKET_YIELDS | {"flow_keys", "tp_buffer"}


def unmodelled_yield(got, *, typed: bool = False) -> str | None:
    """The clean rejection for a context field whose value is a pointer the engine does not
    model (``typed``: see :data:`SOCKET_YIELDS`), or None."""
    kind = getattr(got, "kind", "scalar")
    verifier_only = kind in TYPED_YIELDS or kind.startswith("trusted_ptr_")  # a vmlinux struct
    if kind in MODELLED_YIELDS or typed and verifier_only:
        return None
    if verifier_only:  # the abstract verifier's rules decide (VERIFIER_ONLY)
        return f"{VERIFIER_ONLY}: the context field {got.field} ({kind} pointer)"
    return f"not modelled: the context field {got.field} ({kind} pointer)"


#: the start of a reason for what only the abstract verifier models: an engine that meets
#: it stops that path as an exhausted budget (unknown), not as an unsafe execution
VERIFIER_ONLY = "not modelled by the Z3 engine"


def reject_reason(off: int, size: int) -> str:
    """check_ctx_access's message."""
    return f"invalid bpf_context access off={off} size={size}"


def ctx_access(prog_type: str, off: int, size: int, write: bool, *, privileged: bool = True,
               attach_type: int = 0, ctx_size: int | None = None,
               signed: bool = False) -> CtxAccess | str:
    """One load (``write=False``) or store of ``size`` bytes at context offset ``off``:
    a :class:`CtxAccess` when the 6.18 verifier allows it, else the verifier's message.
    ``signed``: a sign-extending load (BPF_MEMSX), refused where a read yields a pointer
    (the packet pointer fields; measured on 6.18 for every type and offset).

    Only the access itself is judged: stores must be ``BPF_STX`` (``BPF_ST`` into the
    context is refused earlier: "BPF_ST stores into R1 ctx is not allowed"), atomics are
    refused, and the context pointer must not have been moved (``r1 += 8`` then a load is
    "dereference of modified ctx ptr").
    """
    lay = ctx_layout(prog_type, privileged=privileged, attach_type=attach_type,
                     ctx_size=ctx_size)
    if size not in ANY or off < lay.min_off or off >= lay.size or off % size:
        return reject_reason(off, size)
    f = lay.field_at(off)
    if f is None:
        return reject_reason(off, size)
    inner = f.inner is not None and off != f.off
    sizes = f.write if write else f.inner if inner else f.read
    if size not in sizes or off + size > f.end or (f.at_start and off != f.off):
        return reject_reason(off, size)
    if f.narrow_end and size < f.width and off + size > f.off + f.narrow_end:
        return reject_reason(off, size)
    if inner:
        return CtxAccess(f.name, "scalar", off, size, write)
    if signed and not write and f.yields != "scalar":
        return reject_reason(off, size)
    return CtxAccess(f.name, "scalar" if write else f.yields, off, size, write)
