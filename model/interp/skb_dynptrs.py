"""skb / xdp dynptr kfuncs for the interpreter (Linux 6.18: net/core/filter.c,
kernel/bpf/helpers.c); the static rules are the verifier's (model.verifier.dynptr_kfuncs).

* bpf_dynptr_from_skb / from_xdp(ctx, flags, ptr): flags other than 0 leave a NULL dynptr
  and give -EINVAL; else a dynptr of type skb (3) / xdp (4) over the whole packet (the
  interpreter's packets are linear: skb->len, the xdp buffer's length). An skb dynptr is
  read-only where the program type may not write packet data (the kernel calls
  bpf_dynptr_from_skb_rdonly there).
* bpf_dynptr_slice / slice_rdwr(p, offset, buffer, size): NULL for a NULL dynptr, a range
  past its end (and a read-only dynptr for _rdwr), else the address of those bytes (a
  linear packet: never the buffer).
* bpf_dynptr_read / write / data on them (model.interp.dynptrs): bpf_dynptr_write to an skb
  dynptr takes BPF_F_RECOMPUTE_CSUM / BPF_F_INVALIDATE_HASH; bpf_dynptr_data gives NULL.
"""

from __future__ import annotations

import errno

from model.interp.dynptrs import SKB, XDP, _at, _get, _null, _set
from model.interp.memory import MemFault
from model.verifier.memcheck import PKT_WRITE_TYPES

EINVAL = -errno.EINVAL


def _from(kind: int):
    def init(m, r1, r2, r3, r4, r5):
        ctx = m.context
        if ctx is None or ctx.packet is None or r1 != ctx.region.base:
            raise MemFault(r1, 0, f"r1 {r1:#x} is not the program's context")
        if r2:
            return _null(m, r3, EINVAL)
        pkt = ctx.packet
        _set(m, r3, pkt.base, pkt.size, kind, rdonly=kind == SKB and not _writes(m))
        return 0
    return init


def _writes(m) -> bool:
    """specialize_kfunc: bpf_dynptr_from_skb_rdonly where the program type may not write
    packet data (may_access_direct_pkt_data)."""
    return m.prog.prog_type in PKT_WRITE_TYPES


def _slice(rdwr: bool):
    def slice_(m, r1, r2, r3, r4, r5):
        _, _, _, rdonly, _ = _get(m, r1)
        if rdwr and rdonly:
            return 0
        return max(_at(m, r1, r2, r4, False, 0), 0)  # NULL where a read would fail
    return slice_


KFUNC_MODELS = {"bpf_dynptr_from_skb": _from(SKB), "bpf_dynptr_from_xdp": _from(XDP),
                "bpf_dynptr_slice": _slice(False), "bpf_dynptr_slice_rdwr": _slice(True)}

__all__ = ["KFUNC_MODELS"]
