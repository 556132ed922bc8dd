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
from model.platform.ctx_cgroup import CGROUP_TYPES
from model.platform.ctx_layouts import ctx_layout
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
             "lwt_xmit", "sk_skb", "flow_dissector"}
PACKET_TYPES = SKB_TYPES | {"xdp"}
DEFAULT_CTX = {"kprobe": PT_REGS_SIZE, "perf_event": PT_REGS_SIZE + 8, "tracepoint": 64,
               "raw_tracepoint": 64, "tracing": 64, "syscall": 64}


@dataclass
class Context:
    address: int
    region: Region
    packet: Region | None = None
    pointer_fields: dict[int, int] = field(default_factory=dict)  # ctx offset -> address

    def pointer_at(self, off: int) -> int | None:
        return self.pointer_fields.get(off)


def eth_protocol(frame: bytes) -> bytes:
    """skb->protocol (network byte order) as the kernel's eth_type_trans derives it: the
    EtherType when it is one (>= 0x600), else 802.3 raw (0xFFFF payload) or 802.2."""
    etype = int.from_bytes(frame[12:14], "big")
    if etype >= 0x600:
        return frame[12:14]
    if frame[14:16] == b"\xff\xff":
        return (0x0001).to_bytes(2, "big")  # ETH_P_802_3
    return (0x0004).to_bytes(2, "big")  # ETH_P_802_2


def runnable(prog) -> None:
    """Raise NotModelled when the interpreter cannot run ``prog`` (its context)."""
    _unrunnable(prog.prog_type)


def _unrunnable(prog_type: str) -> None:
    if prog_type in MODELLED_ATTACH:  # fentry/fexit/fmod_ret/tp_btf/lsm
        raise NotModelled(f"running {prog_type} programs (a BTF-typed context of kernel "
                          "argument values and pointers; the kernel cannot test-run most "
                          "of them either)")
    if prog_type in CGROUP_TYPES:
        raise NotModelled(f"running {prog_type} programs (a context of kernel objects: a "
                          "socket, a sysctl, a device access; the kernel's BPF_PROG_TEST_RUN "
                          "does not run them either: ENOTSUPP)")


def make_context(mem: Memory, prog_type: str, ctx: bytes | None, packet: bytes | None) -> Context:
    _unrunnable(prog_type)
    if prog_type in PACKET_TYPES:
        if packet is None:
            packet, ctx = (ctx or b""), None
        frame = packet
        if prog_type == "socket_filter" and len(packet) >= ETH_HLEN:
            packet = packet[ETH_HLEN:]  # skb->data starts at the network header
        pkt = mem.add(Region("packet", "packet", PACKET_BASE, bytearray(packet), True))
        data, end = pkt.base, pkt.end
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
