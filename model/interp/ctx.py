"""Program contexts for the interpreter, per program type.

The kernel rewrites loads of a context's packet-pointer fields (``xdp_md.data``,
``__sk_buff.data_end``, ...) into loads of real pointers; the interpreter does the same: a
4-byte load of such a field yields the packet address. Other fields are ordinary bytes of
the context region, filled from the caller's context bytes (or zeros).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.errors import NotModelled
from model.interp.memory import CTX_BASE, PACKET_BASE, Memory, Region
from model.platform.ctx_layouts import ctx_layout
from model.platform.ctx_skb_types import FLOW_KEYS_SIZE
from model.platform.tracing_targets import MODELLED_ATTACH

def _struct(prog_type: str) -> tuple[int, dict[str, int]]:
    """Size and field offsets of a context struct, from the platform's layout tables."""
    layout = ctx_layout(prog_type)
    return layout.size, {f.name: f.off for f in layout.fields}


SKB_SIZE, _SKB = _struct("sched_cls")  # struct __sk_buff (every field visible to tc)
SKB_LEN, SKB_PROTOCOL, SKB_IFINDEX = _SKB["len"], _SKB["protocol"], _SKB["ifindex"]
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


def eth_protocol(frame: bytes) -> bytes:
    """skb->protocol (network byte order) as the kernel's eth_type_trans derives it: the
    EtherType when it is one (>= 0x600), else 802.3 raw (0xFFFF payload) or 802.2."""
    etype = int.from_bytes(frame[12:14], "big")
    if etype >= 0x600:
        return frame[12:14]
    if frame[14:16] == b"\xff\xff":
        return (0x0001).to_bytes(2, "big")  # ETH_P_802_3
    return (0x0004).to_bytes(2, "big")  # ETH_P_802_2


def make_context(mem: Memory, prog_type: str, ctx: bytes | None, packet: bytes | None) -> Context:
    if prog_type in MODELLED_ATTACH:  # fentry/fexit/fmod_ret/tp_btf/lsm
        raise NotModelled(f"running {prog_type} programs (a BTF-typed context of kernel "
                          "argument values and pointers; the kernel cannot test-run most "
                          "of them either)")
    if prog_type in UNBUILT:
        raise NotModelled(f"running {prog_type} programs: the interpreter builds no "
                          f"{UNBUILT[prog_type]}")
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
        raw = bytearray(ctx or bytes(SKB_SIZE)).ljust(SKB_SIZE, b"\0")
        if ctx is None:
            # as BPF_PROG_TEST_RUN builds the skb: a socket filter sees the packet after
            # its Ethernet header (skb->len excludes it), tc sees the whole frame
            raw[SKB_LEN:SKB_LEN + 4] = len(packet).to_bytes(4, "little")
            if len(frame) >= ETH_HLEN:
                raw[SKB_PROTOCOL:SKB_PROTOCOL + 2] = eth_protocol(frame)
            raw[SKB_IFINDEX:SKB_IFINDEX + 4] = LOOPBACK_IFINDEX.to_bytes(4, "little")
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
