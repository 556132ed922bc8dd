"""Program contexts for the interpreter, per program type.

The kernel rewrites loads of a context's packet-pointer fields (``xdp_md.data``,
``__sk_buff.data_end``, ...) into loads of real pointers; the interpreter does the same: a
4-byte load of such a field yields the packet address. Other fields are ordinary bytes of
the context region, filled from the caller's context bytes (or zeros).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import NotModelled, SkvError
from model.interp.memory import CTX_BASE, PACKET_BASE, MemFault, Memory, Region
from model.platform.ctx_cgroup import CGROUP_TYPES
from model.platform.ctx_layouts import ctx_layout, moved_ctx_reason
from model.platform.ctx_skb_types import FLOW_KEYS_SIZE
from model.platform.tracing_targets import MODELLED_ATTACH

def _struct(prog_type: str) -> tuple[int, dict[str, int]]:
    """Size and field offsets of a context struct, from the platform's layout tables."""
    layout = ctx_layout(prog_type)
    return layout.size, {f.name: f.off for f in layout.fields}


SKB_SIZE, _SKB = _struct("sched_cls")  # struct __sk_buff (every field visible to tc)
SKB_LEN, SKB_PROTOCOL, SKB_IFINDEX = _SKB["len"], _SKB["protocol"], _SKB["ifindex"]
SKB_PKT_TYPE, SKB_WIRE_LEN = _SKB["pkt_type"], _SKB["wire_len"]
#: the __sk_buff fields BPF_PROG_TEST_RUN takes from ctx_in (convert___skb_to_skb); any
#: other non-zero byte makes it refuse the run with EINVAL
SKB_CTX_IN_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp",
                     "wire_len", "gso_segs", "gso_size", "hwtstamp")
GSO_LEGACY_MAX_SIZE = 65536
GSO_MAX_SEGS = 65535
SKB_DATA, SKB_DATA_END, SKB_DATA_META = _SKB["data"], _SKB["data_end"], _SKB["data_meta"]
XDP_SIZE, _XDP = _struct("xdp")  # struct xdp_md
PT_REGS_SIZE = ctx_layout("kprobe").size  # struct pt_regs on x86-64
ETH_HLEN = 14
LOOPBACK_IFINDEX = 1  # BPF_PROG_TEST_RUN runs skb programs on the loopback device
SKB_TYPES = {"socket_filter", "sched_cls", "sched_act", "cgroup_skb", "lwt_in", "lwt_out",
             "lwt_xmit", "sk_skb", "flow_dissector", "lwt_seg6local"}
PACKET_TYPES = SKB_TYPES | {"xdp"}
#: BPF_PROG_TEST_RUN gives these the packet after its Ethernet header (not tc's is_l2)
L3_TYPES = {"socket_filter", "lwt_in", "lwt_out", "lwt_xmit"}
#: contexts the interpreter does not build (see model.platform.ctx_skb_types)
UNBUILT = {"sk_msg": "struct sk_msg_md (the kernel cannot test-run sk_msg either)",
           "sk_reuseport": "struct sk_reuseport_md",
           "lwt_seg6local": "an IPv6 segment-routing packet (the kernel cannot test-run it)",
           "raw_tracepoint_writable": "the tracepoint's writable buffer (the kernel cannot "
                                      "test-run raw_tp.w either)",
           "netfilter": "struct bpf_nf_ctx (kernel sk_buff and nf_hook_state objects)"}
DEFAULT_CTX = {"kprobe": PT_REGS_SIZE, "perf_event": PT_REGS_SIZE + 8, "tracepoint": 64,
               "raw_tracepoint": 64, "tracing": 64, "syscall": 64}


@dataclass
class Context:
    address: int
    region: Region
    packet: Region | None = None
    pointer_fields: dict[int, int] = field(default_factory=dict)  # ctx offset -> address
    pointer_sizes: dict[int, int] = field(default_factory=dict)  # ctx offset -> width (4)

    def pointer_at(self, off: int) -> int | None:
        return self.pointer_fields.get(off)

    def pointer_size(self, off: int) -> int:
        return self.pointer_sizes.get(off, 4)


def moved_ctx_fault(context: Context | None, regno: int, base: int, addr: int,
                    size: int) -> MemFault | None:
    """check_ptr_off_reg at run time: a load or store that lands in the context through a
    register not holding the context's start (the kernel rewrites a context access by the
    instruction's offset alone, so a moved pointer is refused: ``moved_ctx_reason``)."""
    if context is None or not context.region.base <= addr < context.region.end:
        return None
    why = moved_ctx_reason(regno, base - context.region.base)
    return MemFault(addr, size, why, "ctx") if why else None


def eth_protocol(frame: bytes) -> bytes:
    """skb->protocol (network byte order) as the kernel's eth_type_trans derives it: the
    EtherType when it is one (>= 0x600), else 802.3 raw (0xFFFF payload) or 802.2."""
    etype = int.from_bytes(frame[12:14], "big")
    if etype >= 0x600:
        return frame[12:14]
    if frame[14:16] == b"\xff\xff":
        return (0x0001).to_bytes(2, "big")  # ETH_P_802_3
    return (0x0004).to_bytes(2, "big")  # ETH_P_802_2


def _u32(raw: bytes | bytearray, off: int) -> int:
    return int.from_bytes(raw[off:off + 4], "little")


def _device_macs(ifindex: int) -> tuple[bytes, bytes]:
    """(dev_addr, broadcast) of the device ``ifindex`` (the loopback device: zeros)."""
    try:
        sysfs = Path("/sys/class/net") / socket.if_indextoname(ifindex)
        return tuple(bytes.fromhex((sysfs / f).read_text().strip().replace(":", ""))
                     for f in ("address", "broadcast"))  # type: ignore[return-value]
    except (OSError, ValueError):
        return bytes(6), bytes(6)


def pkt_type(frame: bytes, ifindex: int = LOOPBACK_IFINDEX) -> int:
    """skb->pkt_type as eth_type_trans derives it on device ``ifindex``: PACKET_HOST (0)
    for the device's own address, PACKET_BROADCAST (1) / PACKET_MULTICAST (2) for a
    group address that is / is not the device's broadcast, else PACKET_OTHERHOST (3)."""
    dest = frame[:6]
    addr, bcast = _device_macs(ifindex)
    if dest[:1] and dest[0] & 1:
        return 1 if dest == bcast else 2
    return 0 if dest == addr else 3


def test_run_skb(frame: bytes, packet: bytes, ctx: bytes | None,
                 checks: bool = True) -> bytearray:
    """The ``struct __sk_buff`` a program sees under BPF_PROG_TEST_RUN: the fields the
    caller may set (:data:`SKB_CTX_IN_FIELDS`) from ``ctx``, and the ones the kernel derives
    from the frame whatever ``ctx`` says: ``len`` (a socket filter's excludes the Ethernet
    header), ``pkt_type``, ``protocol`` (eth_type_trans), ``ifindex`` (the loopback device
    unless ``ctx`` names another existing one) and, with a ``ctx``, ``wire_len`` (``len``
    unless set, then at least ``len``). With ``checks`` (``skv run --ctx``), a context the
    kernel refuses (another non-zero field: EINVAL; an unknown ifindex: ENODEV) is a
    ``SkvError``; without (the interpreter's own callers), its other bytes are kept."""
    raw = bytearray(ctx or bytes(SKB_SIZE)).ljust(SKB_SIZE, b"\0")
    if ctx is not None and checks:
        allowed = bytearray(len(raw))
        for f in ctx_layout("sched_cls").fields:
            if f.name in SKB_CTX_IN_FIELDS:
                allowed[f.off:f.end] = b"\1" * (f.end - f.off)
        bad = next((i for i, b in enumerate(raw) if b and not (i < SKB_SIZE and allowed[i])),
                   None)
        if bad is not None:
            field_at = ctx_layout("sched_cls").field_at(bad)
            name = field_at.name if field_at is not None else f"byte {bad}"
            raise SkvError(f"--ctx: BPF_PROG_TEST_RUN refuses a __sk_buff with {name} set "
                           f"(EINVAL); it takes only {', '.join(SKB_CTX_IN_FIELDS)}")
    ifindex = _u32(raw, SKB_IFINDEX)
    if ifindex <= LOOPBACK_IFINDEX or not checks:
        ifindex = max(ifindex, LOOPBACK_IFINDEX)
    else:
        try:
            socket.if_indextoname(ifindex)
        except OSError:
            raise SkvError(f"--ctx: no network device with ifindex {ifindex} (the kernel's "
                           "test run fails with ENODEV)") from None
    wire_len = _u32(raw, SKB_WIRE_LEN)
    if checks and wire_len and not len(packet) <= wire_len <= GSO_LEGACY_MAX_SIZE:
        raise SkvError(f"--ctx: wire_len {wire_len} outside [len {len(packet)}, "
                       f"{GSO_LEGACY_MAX_SIZE}] (EINVAL)")
    if checks and _u32(raw, _SKB["gso_segs"]) > GSO_MAX_SEGS:
        raise SkvError(f"--ctx: gso_segs over {GSO_MAX_SEGS} (EINVAL)")
    raw[SKB_LEN:SKB_LEN + 4] = len(packet).to_bytes(4, "little")
    if ctx is not None:  # without a context the kernel leaves qdisc_skb_cb's pkt_len 0
        raw[SKB_WIRE_LEN:SKB_WIRE_LEN + 4] = (wire_len or len(packet)).to_bytes(4, "little")
    raw[SKB_IFINDEX:SKB_IFINDEX + 4] = ifindex.to_bytes(4, "little")
    if len(frame) >= ETH_HLEN:
        raw[SKB_PROTOCOL:SKB_PROTOCOL + 2] = eth_protocol(frame)
        raw[SKB_PKT_TYPE:SKB_PKT_TYPE + 4] = pkt_type(frame, ifindex).to_bytes(4, "little")
    return raw


def runnable(prog) -> None:
    """Raise NotModelled when the interpreter cannot run ``prog`` (its context)."""
    _unrunnable(prog.prog_type)


def _unrunnable(prog_type: str) -> None:
    if prog_type in MODELLED_ATTACH:  # fentry/fexit/fmod_ret/tp_btf/iter/lsm
        raise NotModelled(f"running {prog_type} programs (a BTF-typed context of kernel "
                          "argument values and pointers; the kernel cannot test-run most "
                          "of them either)")
    if prog_type in UNBUILT:
        raise NotModelled(f"running {prog_type} programs: the interpreter builds no "
                          f"{UNBUILT[prog_type]}")
    if prog_type in CGROUP_TYPES:
        raise NotModelled(f"running {prog_type} programs (a context of kernel objects: a "
                          "socket, a sysctl, a device access; the kernel's BPF_PROG_TEST_RUN "
                          "does not run them either: ENOTSUPP)")


def make_context(mem: Memory, prog_type: str, ctx: bytes | None, packet: bytes | None,
                 checks: bool = False) -> Context:
    _unrunnable(prog_type)
    if prog_type == "sk_lookup":
        region = mem.add(Region("ctx", "ctx", CTX_BASE, _sk_lookup_fields(ctx), True))
        return Context(region.base, region, None, {SK_LOOKUP_SK: 0}, {SK_LOOKUP_SK: 8})
    if prog_type in PACKET_TYPES:
        if packet is None:
            packet, ctx = (ctx or b""), None
        frame = packet
        if prog_type in L3_TYPES and len(packet) >= ETH_HLEN:
            packet = packet[ETH_HLEN:]  # skb->data starts at the network header
        pkt = mem.add(Region("packet", "packet", PACKET_BASE, bytearray(packet), True))
        data, end = pkt.base, pkt.end
        if prog_type == "flow_dissector":
            return _flow_dissector(mem, ctx, pkt)
        if prog_type == "xdp":
            raw = bytearray(ctx or bytes(XDP_SIZE)).ljust(XDP_SIZE, b"\0")
            region = mem.add(Region("ctx", "ctx", CTX_BASE, raw, True))
            return Context(region.base, region, pkt, {_XDP["data"]: data, _XDP["data_end"]: end, _XDP["data_meta"]: data})
        raw = test_run_skb(frame, packet, ctx, checks)
        region = mem.add(Region("ctx", "ctx", CTX_BASE, raw, True))
        return Context(region.base, region, pkt,
                       {SKB_DATA: data, SKB_DATA_END: end, SKB_DATA_META: data})
    size = DEFAULT_CTX.get(prog_type, 64)
    raw = bytearray(ctx if ctx is not None else bytes(size))
    region = mem.add(Region("ctx", "ctx", CTX_BASE, raw, True))
    return Context(region.base, region)


SK_LOOKUP_SK = 0  # struct bpf_sk_lookup's sk: NULL until bpf_sk_assign
_SKL = {f.name: f for f in ctx_layout("sk_lookup").fields}


def _sk_lookup_fields(ctx: bytes | None) -> bytearray:
    """What an sk_lookup program reads, as BPF_PROG_TEST_RUN builds it from ``ctx_in``: no
    socket selected, only the addresses of the family (AF_INET 2: the IPv4 ones, else the
    IPv6 ones), the local port as a u16."""
    size = ctx_layout("sk_lookup").size
    raw = bytearray(ctx or bytes(size)).ljust(size, b"\0")[:size]
    raw[0:8] = bytes(8)
    gone = ("remote_ip6", "local_ip6") if raw[8:12] == b"\2\0\0\0" else ("remote_ip4",
                                                                              "local_ip4")
    for name in gone:
        f = _SKL[name]
        raw[f.off:f.end] = bytes(f.width)
    port = _SKL["local_port"].off
    raw[port + 2:port + 4] = bytes(2)
    return raw
#: BPF_PROG_TEST_RUN's flow dissector: __sk_buff->flow_keys points at a zeroed struct
#: bpf_flow_keys with nhoff = thoff = ETH_HLEN and n_proto the frame's EtherType
FLOW_KEYS_BASE = CTX_BASE + 0x10000
SKB_FLOW_KEYS = _SKB["flow_keys"]


def _flow_dissector(mem: Memory, ctx: bytes | None, pkt: Region) -> Context:
    keys = bytearray(FLOW_KEYS_SIZE)
    keys[0:2] = keys[2:4] = ETH_HLEN.to_bytes(2, "little")
    keys[10:12] = bytes(pkt.data[12:14])
    fk = mem.add(Region("flow_keys", "flow_keys", FLOW_KEYS_BASE, keys, True))
    raw = bytearray(ctx or bytes(SKB_SIZE)).ljust(SKB_SIZE, b"\0")
    region = mem.add(Region("ctx", "ctx", CTX_BASE, raw, True))
    return Context(region.base, region, pkt,
                   {SKB_DATA: pkt.base, SKB_DATA_END: pkt.end, SKB_FLOW_KEYS: fk.base},
                   {SKB_FLOW_KEYS: 8})
