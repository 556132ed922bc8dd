"""Alignment in the Z3 engine: the abstract verifier's one rule (memcheck.alignment_bias,
check_ptr_alignment) asserted on a symbolic offset."""

from __future__ import annotations

import z3

from model.symbolic import refs
from model.symbolic.state import Region, bv
from model.verifier.memcheck import ALIGN_DESC, alignment_bias
from model.verifier.regs import PACKET
from model.verifier.regs import T as VT

#: the abstract verifier's pointer type of each region kind whose alignment is checked here
_ALIGN_TYPES = {"stack": VT.STACK, "packet": VT.PKT, "pkt_meta": VT.PKT_META,
                "map": VT.MAP_VALUE, refs.KIND: VT.RINGBUF_MEM}


def aligned(lay, r: Region, o, size: int, atomic: bool = False) -> list:
    """The verifier's alignment rule (memcheck.alignment_bias: the stack and atomics always
    strict, the rest under BPF_F_STRICT_ALIGNMENT; packets count NET_IP_ALIGN)."""
    rtype = _ALIGN_TYPES.get(r.kind)
    ip = -1 if rtype is None else alignment_bias(rtype, size, lay.strict_alignment or atomic)
    if ip < 0:
        return []
    what = "packet " if rtype in PACKET else ALIGN_DESC.get(rtype, "")
    return [(z3.Extract(_LOW_BITS[size], 0, o + bv(ip)) != 0, f"misaligned {what}access")]


_LOW_BITS = {2: 0, 4: 1, 8: 2}


__all__ = ["aligned"]
