"""What a helper call does to memory in the Z3 engine, from its prototype alone: every byte
a memory argument lets the helper write (``ARG_PTR_TO_MEM`` without ``MEM_RDONLY``,
``ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE``) gets a fresh unknown value, so no
conclusion rests on the helper leaving it unchanged; and ``MEM_ALIGNED`` arguments must be
aligned to their fixed size (check_ptr_alignment, strict).
"""

from __future__ import annotations

import z3

from model.platform.proto_kinds import RET_WITHIN_SIZE, Arg, ArgFlag
from model.platform.tracing_targets import MAX_ERRNO
from model.symbolic.state import BV64, BYTE, P, S, bv, const_of
from model.verifier.memcheck import NET_IP_ALIGN


def arg_alignment(p, arg) -> list:
    """Bad conditions of a MEM_ALIGNED fixed-size memory argument that is not aligned."""
    if not (arg.flags & ArgFlag.MEM_ALIGNED) or arg.size <= 1 or not isinstance(p, P):
        return []
    ip = NET_IP_ALIGN if p.r.kind in ("packet", "pkt_meta") else 0
    mask = bv(arg.size - 1)
    return [((p.off + bv(ip)) & mask != bv(0), f"misaligned access (size {arg.size})")]


def _written_args(proto, regs, map_name, lay):
    """(pointer, size term) for each argument the helper may write."""
    args = proto.args
    for i, a in enumerate(args):
        if not a.writes_mem:
            continue
        p = regs[i + 1]
        if not isinstance(p, P):  # NULL (PTR_MAYBE_NULL) or already reported
            continue
        if a.base is Arg.PTR_TO_MAP_VALUE:
            yield p, bv(lay.maps[map_name].value_size)
        elif a.is_fixed_mem:
            yield p, bv(a.size)
        elif i + 2 < len(regs) and isinstance(regs[i + 2], S):
            yield p, regs[i + 2].v


def _overwrite(arr, lo, size, junk):
    """``arr`` with indices ``[lo, lo + size)`` taken from ``junk``."""
    i = z3.BitVec("i", 64)
    inside = z3.And(z3.ULE(lo, i), z3.ULT(i - lo, size))
    return z3.Lambda([i], z3.If(inside, z3.Select(junk, i), z3.Select(arr, i)))


def overwrite_stack(st, p, size, junk) -> None:
    """The ``size`` bytes at stack pointer ``p`` taken from array ``junk`` (the spills
    they touch gone)."""
    from model.symbolic.memory import frame_of

    f = frame_of(st, p.r)
    if f is None:
        return
    f.stack = _overwrite(f.stack, p.off, size, junk)
    lo, n = const_of(p.off), const_of(size)
    if lo is None or n is None:
        f.spills = {}
    else:
        f.spills = {so: v for so, v in f.spills.items() if not (so < lo + n and lo < so + 8)}


def havoc_written(lay, st, proto, regs, map_name, tag: str, call=None) -> None:
    """Fresh bytes wherever the call may write (stack, packet, map value). ``call``: its
    (pc, n), under which ``lay.helper_outs`` keeps the bytes for a counterexample's replay
    (the interpreter writes them where its model of the call writes unknown bytes)."""
    from model.symbolic.memory import _pkt_index, map_array

    outs = None if call is None else lay.helper_outs.setdefault(call, [])
    if outs:
        outs.clear()  # this path's call (another path's is overwritten)
    for k, (p, size) in enumerate(_written_args(proto, regs, map_name, lay)):
        junk = z3.Array(f"helper_out_{tag}_{k}", BV64, BYTE)
        kind = p.r.kind
        lo = _pkt_index(lay, p.r, p.off) if kind in ("packet", "pkt_meta") else p.off
        if outs is not None and kind in ("stack", "packet", "pkt_meta", "map"):
            outs.append((junk, lo, size))
        if kind == "stack":
            overwrite_stack(st, p, size, junk)
        elif kind in ("packet", "pkt_meta"):
            arr = st.pkt if st.pkt is not None else lay.pkt_in
            st.pkt = _overwrite(arr, lo, size, junk)
        elif kind == "map":
            arr = map_array(lay, st, p.r.name)
            inner = _overwrite(z3.Select(arr, p.key), lo, size, junk)
            st.maps[p.r.name] = z3.Store(arr, p.key, inner)


__all__ = ["arg_alignment", "havoc_written", "overwrite_stack"]


def refined_return(proto, regs, value):
    """The integer a ``RET_WITHIN_SIZE`` helper returns: the bytes it copied (at most its
    size argument) or an error (at least -MAX_ERRNO), as the verifier's
    do_refine_retval_range assumes: the fresh ``value`` clamped into that range."""
    if proto.name not in RET_WITHIN_SIZE:
        return value
    size = regs[1 + next(i for i, a in enumerate(proto.args) if a.is_size)]
    if not isinstance(size, S):
        return value
    lo = bv(-MAX_ERRNO)
    value = z3.If(value < lo, lo, value)  # (signed comparisons)
    return z3.If(value > size.v, size.v, value)
