"""skb / xdp dynptrs in the Z3 engine: bpf_dynptr_from_skb / bpf_dynptr_from_xdp, and
bpf_dynptr_read / write / data on the dynptrs they make (model.symbolic.dynptrs).

The static rules are the abstract verifier's own (model.verifier.dynptr_kfuncs.call, run on
the mirror of model.symbolic.dynptrs: the context unmoved, a scalar, 16 bytes of stack made
a dynptr of type skb / xdp); a ``Reject`` is an unsafe execution of the path. A dynptr's
``Info``: NULL where flags are non-zero (r0 -EINVAL, else 0), the packet's length as its
size, read-only for an skb in a program type that may not write packet data (the kernel's
bpf_dynptr_from_skb_rdonly). bpf_dynptr_write to one gives the packet unknown bytes (an skb
dynptr's also drops the packet pointers, as a packet-changing helper: the verifier's rule);
bpf_dynptr_data gives NULL. bpf_dynptr_slice / slice_rdwr of a packet dynptr without a
buffer: NULL or a packet pointer (the packet is linear here; data that is not may give
NULL), read-only for bpf_dynptr_slice, dropped with the packet pointers. With a stack
buffer (the kernel's skb_header_pointer / bpf_xdp_copy_buf): the buffer's bytes become
unknown (the verifier's view: the kfunc may write them), and the slice is NULL, the packet
pointer, or (data that is not linear) the buffer; a write through a read-only slice fails
on the packet pointer's outcome. A buffer in a map value, or a slice of a local / ring
buffer dynptr, is left to the verifier ("not modelled", unknown).
"""

from __future__ import annotations

import errno

import z3

from model.platform.kfuncs import KFUNCS
from model.symbolic.state import P, Region, S, bv, const_of
from model.verifier import dynptr as VD
from model.verifier import dynptr_kfuncs as VK
from model.verifier.memcheck import PKT_WRITE_TYPES, Reject
from model.verifier.regs import NOT_INIT, known, pointer, unknown
from model.verifier.regs import T as VT

FOLLOWED = frozenset({"bpf_dynptr_from_skb", "bpf_dynptr_from_xdp"})
#: the packet region's name in a read-only slice (bpf_dynptr_slice): no store through it
RO_PACKET = "packet#ro"
PACKET_KINDS = ("skb", "xdp")
SKB_WRITE_FLAGS = 1 | 2  # BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
EINVAL = -errno.EINVAL
T = z3.BoolVal(True)


def _vreg(st, v):
    """The verifier's register for symbolic value ``v`` (None: left to the verifier)."""
    from model.symbolic.dynptrs import _stack_reg

    if v is None:
        return NOT_INIT
    if isinstance(v, S):
        c = const_of(v.v)
        return known(c) if c is not None else unknown()
    if isinstance(v, P) and v.r.kind == "ctx":
        c = const_of(v.off)
        return None if c is None else pointer(VT.CTX, off=c - (1 << 64) if c >> 63 else c)
    if isinstance(v, P) and v.r.kind == "stack":
        return _stack_reg(st, v)
    return None


def call(eng, st, pc: int, name: str) -> list:
    """The states after the call of kfunc ``name`` at ``pc`` (failures recorded on ``eng``)."""
    from model.symbolic.dynptrs import Info, _Ids, mirror, write_back

    lay, regs = eng.lay, st.cur.regs
    slicing = name not in FOLLOWED
    if slicing and isinstance(regs[3], P) and regs[3].r.kind not in ("stack", "ctx"):
        eng._exhaust(f"not modelled: kfunc {name} with a buffer outside the stack in the Z3 "
                     f"engine (insn {pc})")
        return []
    args = (1, 2, 3, 4) if slicing else (1, 2, 3)
    vregs = [_vreg(st, regs[r]) for r in args]
    if any(r is None for r in vregs):
        eng._exhaust(f"not modelled: an argument of kfunc {name} the Z3 engine leaves to "
                     f"the verifier (insn {pc})")
        return []
    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    vst = mirror(st)
    for r, reg in zip(args, vregs):
        vst.cur.regs[r] = reg
    try:
        VK.call(vst, None, lay.ptype, name, KFUNCS[name], pc, _Ids(pc, n))
    except Reject as e:
        eng.fail(st, pc, f"call to kernel function {name} is allowed", T, e.message)
        return []
    write_back(st, vst, f"{pc}_{n}")
    at = vregs[0 if slicing else 2]
    frame = next(f for f in vst.frames if f.frameno == at.frame)
    d = frame.stack[VD._spi(at)].dynptr
    if slicing:
        return _slice(eng, st, pc, n, name, st.dynptrs.get(("info", d.id)))
    kind = "skb" if name.endswith("skb") else "xdp"
    flags = regs[2].v
    st.dynptrs[("info", d.id)] = Info(kind, "", flags != bv(0), lay.pkt_len(st),
                                      rdonly=kind == "skb" and lay.ptype not in PKT_WRITE_TYPES)
    return eng.outcomes(st, pc, [(st, S(z3.If(flags != bv(0), bv(EINVAL), bv(0))), None)])


def _slice(eng, st, pc: int, n: int, name: str, info) -> list:
    """bpf_dynptr_slice(_rdwr) of a packet dynptr without a buffer: NULL (a NULL dynptr,
    a range past its end, a read-only dynptr for _rdwr, or data that is not linear), else
    a packet pointer to those bytes (read-only for bpf_dynptr_slice: RO_PACKET). A slice
    of a local or ring buffer dynptr is left to the verifier."""
    if info is None or info.kind not in PACKET_KINDS:
        eng._exhaust(f"not modelled: kfunc {name} of a local or ring buffer dynptr in the Z3 "
                     f"engine (insn {pc})")
        return []
    from model.symbolic.havoc import overwrite_stack
    from model.symbolic.state import BV64, BYTE

    regs = st.cur.regs
    off = z3.ZeroExt(32, z3.Extract(31, 0, eng.lay.addr(regs[2])))
    size = bv(const_of(regs[4].v) & 0xFFFFFFFF)
    rdwr = name.endswith("_rdwr")
    nonlinear = z3.Bool(f"slice_nonlinear_{pc}_{n}")
    null = z3.Or(info.null, z3.UGT(off, info.size), z3.UGT(size, info.size - off),
                 z3.BoolVal(rdwr and info.rdonly))
    buf = regs[3] if isinstance(regs[3], P) else None
    if buf is not None:  # (a stack buffer: the checks passed)
        overwrite_stack(st, buf, size, z3.Array(f"slice_buf_{pc}_{n}", BV64, BYTE))
    ok = st.copy()
    ptr = P(Region("packet", "packet" if rdwr else RO_PACKET), off)
    if buf is None:
        null = z3.Or(null, nonlinear)
        return eng.outcomes(st, pc, [(st, S(bv(0)), null), (ok, ptr, z3.Not(null))])
    copied = st.copy()
    return eng.outcomes(st, pc, [(st, S(bv(0)), null),
                                 (ok, ptr, z3.And(z3.Not(null), z3.Not(nonlinear))),
                                 (copied, buf, z3.And(z3.Not(null), nonlinear))])


def write_flags(info, flags):
    """The flags bpf_dynptr_write refuses for this dynptr (an skb takes two)."""
    return flags & bv(~SKB_WRITE_FLAGS) if info.kind == "skb" else flags


def written(lay, st, info, tag: str) -> None:
    """bpf_dynptr_write to a packet dynptr: unknown packet bytes; for an skb the packet
    pointers are dropped too (the verifier's changes_data)."""
    from model.symbolic.memory import _invalidate_packet
    from model.symbolic.state import BV64, BYTE

    if info.kind == "skb":  # (the length stays: bpf_skb_store_bytes does not resize)
        plen = st.plen
        _invalidate_packet(st, tag)
        st.plen = plen
    st.pkt = z3.Array(f"dynw_pkt_{tag}", BV64, BYTE)


__all__ = ["FOLLOWED", "RO_PACKET", "PACKET_KINDS", "call", "write_flags", "written"]
