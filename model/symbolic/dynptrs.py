"""Dynptrs in the Z3 engine: bpf_dynptr_from_mem, bpf_ringbuf_reserve_dynptr /
submit_dynptr / discard_dynptr, bpf_dynptr_read / write / data (the interpreter runs them:
model.interp.dynptrs).

The static rules are the abstract verifier's own functions (model.verifier.dynptr:
``dynptr_arg``, ``release_dynptr``, ``helper_mem_check``; model.verifier.memcheck's
``_dynptr_bytes`` for plain loads and stores), run on a *mirror*: a verifier state whose
frames hold only the path's dynptr slots (``State.dynptrs[("slot", frame gen, spi)]``,
verifier ``Slot``s) and whose references are the ring buffer dynptrs the path holds. What
they change (a dynptr marked, destroyed, released) is copied back; a ``Reject`` is an unsafe
execution of the path (at a constant stack offset: a variable one near a dynptr is left to
the verifier, "unknown").

What a dynptr holds at run time (``State.dynptrs[("info", id)]``, an ``Info``): its type,
the memory it covers (a map's values, or its ring buffer reservation: the array
``st.maps["ringbuf#d<ref>"]``, a held reference -- a path that ends holding it leaks it, as
model.symbolic.refs' reservations do), whether it is NULL (a failed initialisation: flags,
a size over 2^24-1, a full ring) and its size. Return values are the kernel's
(kernel/bpf/helpers.c): -EINVAL for a NULL dynptr or flags, -E2BIG past its end.
bpf_dynptr_read writes unknown bytes (the memory's content is not tracked: the verifier
reads map and ring buffer bytes as unknown scalars too), bpf_dynptr_write makes the
covered memory unknown, bpf_dynptr_data returns NULL or a slice of exactly ``len`` bytes
(a region ``dslice#<id>#...`` of its own); a slice becomes an unknown scalar when its
dynptr is destroyed or released (the verifier's rule). bpf_user_ringbuf_drain's callback
(model.symbolic.callbacks: called once per sample, any number of samples: past the unroll
bound the answers are "unknown") gets ``sample_dynptr``: a read-only local dynptr of any
size (CONST_PTR_TO_DYNPTR: the verifier's checks on its offset; not spillable).
"""

from __future__ import annotations

import itertools

import z3

from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.map_helpers import map_helper_check
from model.platform.proto_kinds import Arg, ArgFlag
from model.platform.prototypes import helper_proto
from model.symbolic import skb_dynptrs as SK
from model.symbolic.refs import SLICE
from model.symbolic.state import BV64, BYTE, P, Region, S, bv, const_of, path_constant
from model.interp.memory import STACK_SIZE
from model.domains import Scalar
from model.verifier import dynptr as VD
from model.verifier.memcheck import Reject, _dynptr_bytes
from model.verifier.regs import NOT_INIT, Reg, unknown
from model.verifier.regs import T as VT
from model.verifier.regs import pointer
from model.verifier.state import Frame as VFrame
from model.verifier.state import State as VState

FOLLOWED = frozenset({"dynptr_from_mem", "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr",
                      "ringbuf_discard_dynptr", "dynptr_read", "dynptr_write", "dynptr_data"})
#: the callback helper whose callback gets a read-only dynptr (model.symbolic.callbacks)
DRAIN = "user_ringbuf_drain"
FOLLOWED_ALL = FOLLOWED | {DRAIN}
#: the region of bpf_user_ringbuf_drain's dynptr (CONST_PTR_TO_DYNPTR): name its info's id
CB_KIND = "dynptr_ptr"
EINVAL, E2BIG = -22, -7
SIZE_MASK = 0xFFFFFF
RINGBUF_HDR = 8
#: the memory array of a ring buffer dynptr's reservation: REF_PREFIX + its reference id
REF_PREFIX = "ringbuf#d"
T = z3.BoolVal(True)
F = z3.BoolVal(False)
_STALE = itertools.count()


class Info:
    """What a dynptr holds: ``kind`` (local / ringbuf), ``where`` (a map's name, or the
    reservation's array name; "" for a user ring buffer sample), ``null`` (Bool: NULL),
    ``size`` (64-bit: its size), ``rdonly`` (a sample: writes fail, no slice)."""

    __slots__ = ("kind", "where", "null", "size", "rdonly")

    def __init__(self, kind: str, where: str, null, size, rdonly: bool = False):
        self.kind, self.where, self.null, self.size = kind, where, null, size
        self.rdonly = rdonly

    def __repr__(self) -> str:
        return (f"Info({self.kind},{self.where},{self.null.sexpr()},{self.size.sexpr()},"
                f"{self.rdonly})")


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED_ALL


def sample_dynptr(eng, before, pc: int, k: int) -> P:
    """bpf_user_ringbuf_drain's callback r1 for its ``k``-th sample: a read-only local
    dynptr over the sample (any size up to 2^24-1: the ring's), never NULL."""
    run = before.helper_runs.get(pc, 0)
    did = -(((pc << 12) | (run & 0xFFF)) << 8 | (k & 0xFF)) - 1  # < 0: no stack slot
    size = z3.ZeroExt(40, z3.BitVec(f"sample_size_{pc}_{run}_{k}", 24))
    before.dynptrs[("info", did)] = Info("local", "", F, size, rdonly=True)
    return P(Region(CB_KIND, str(did), len(before.frames)), bv(0))


def spilled(lay, value):
    """A register spilled to the stack: a sample's dynptr pointer is not spillable (the
    kernel's is_spillable_regtype): its bytes fill back as a scalar."""
    if isinstance(value, P) and value.r.kind == CB_KIND:
        return S(lay.addr(value))
    return value


class _Ids:
    """Ids for the verifier's functions, the same on every path through one call."""

    def __init__(self, pc: int, n: int):
        self.n = ((pc << 12) | (n & 0xFFF)) << 3

    def new(self) -> int:
        self.n += 1
        return self.n


# -- the mirror ------------------------------------------------------------------------------
def _refs(st) -> tuple:
    return tuple((int(n[len(REF_PREFIX):]), 0) for n in sorted(st.maps)
                 if n.startswith(REF_PREFIX))


def mirror(st) -> VState:
    frames = []
    for f in st.frames:
        g = f.region.gen
        stack = {k[2]: s for k, s in st.dynptrs.items() if k[0] == "slot" and k[1] == g}
        frames.append(VFrame([NOT_INIT] * 11, stack, frameno=g))
    return VState(frames, refs=_refs(st))


def write_back(st, vst: VState, tag: str) -> None:
    """Copy the mirror's dynptr slots and references back into ``st``: the dynptrs gone
    lose their info and slices, the references released their arrays."""
    before = {s.dynptr.id for k, s in st.dynptrs.items() if k[0] == "slot"}
    slots = {("slot", vf.frameno, k): s for vf in vst.frames for k, s in vf.stack.items()
             if s.dynptr is not None}
    after = {s.dynptr.id for s in slots.values()}
    st.dynptrs = {k: v for k, v in st.dynptrs.items()
                  if k[0] != "slot" and (k[0] != "info" or k[1] in after or k[1] < 0)}
    st.dynptrs.update(slots)
    kept = {f"{REF_PREFIX}{r}" for r, _ in vst.refs}
    st.maps = {n: a for n, a in st.maps.items() if not n.startswith(REF_PREFIX) or n in kept}
    gone = before - after
    if gone:
        _drop_slices(st, gone, tag)


def _drop_slices(st, ids, tag: str) -> None:
    """Slices of the dynptrs ``ids`` become unknown scalars (mark_reg_invalid)."""
    prefixes = tuple(f"{SLICE}{i}#" for i in ids)
    st.maps = {n: a for n, a in st.maps.items() if not n.startswith(prefixes)}
    tag = f"{tag}_{next(_STALE)}"  # fresh unknowns, whatever the caller's tag

    def drop(v, where):
        if isinstance(v, P) and v.r.name.startswith(prefixes):
            return S(z3.BitVec(f"stale_slice_{tag}_{where}", 64))
        return v

    for d, f in enumerate(st.frames):
        f.regs = [drop(v, f"{d}r{i}") for i, v in enumerate(f.regs)]
        f.spills = {o: drop(v, f"{d}s{o}") for o, v in f.spills.items()}


def _stack_reg(st, p: P):
    """The verifier's register for stack pointer ``p`` (None: a variable offset)."""
    c = const_of(p.off)
    if c is None:  # the kernel's tnum is not constant either, unless merged paths differ
        return None if path_constant(p.off) else \
            Reg(VT.STACK, Scalar.unknown(), off=0, frame=p.r.gen)
    c = c - (1 << 64) if c >> 63 else c
    return pointer(VT.STACK, off=c - STACK_SIZE, frame=p.r.gen)


def _slots(st, gen: int) -> list:
    """(spi, Slot) of the dynptr slots of frame instance ``gen``."""
    return [(k[2], s) for k, s in st.dynptrs.items() if k[0] == "slot" and k[1] == gen]


def _overlap(spi: int, o, size):
    """Bytes [o, o + size) of the frame (engine offsets) touch slot ``spi``."""
    lo = STACK_SIZE - 8 * (spi + 1)
    return z3.And(z3.UGT(size, bv(0)), z3.ULT(o, bv(lo + 8)), z3.UGT(o + size, bv(lo)))


def _frame_gens(st, gen: int) -> bool:
    return any(k[0] == "slot" and k[1] == gen for k in st.dynptrs)


# -- plain stack accesses ----------------------------------------------------------------------
def stack_bad(st, p: P, o, size: int, write: bool, regno, tag: str) -> list:
    """A load or store of ``size`` bytes at stack offset ``o`` (memcheck._dynptr_bytes on
    the mirror: a read of a dynptr's bytes is refused, a write destroys an unreferenced
    dynptr, is refused over a referenced one)."""
    if not _frame_gens(st, p.r.gen):
        return []
    c = const_of(o)
    if c is None:  # each dynptr the access may touch: a read or a referenced one is refused
        out, vst = [], mirror(st)
        frame = next((f for f in vst.frames if f.frameno == p.r.gen), None)
        for k, s in _slots(st, p.r.gen):
            ov = _overlap(k, o, bv(size))
            if write and not s.dynptr.ref:  # destroyed where the write may touch it, as
                if frame is not None and k in frame.stack and _may(st.guard, ov):  # kernel
                    VD.destroy(vst, frame, k)
                continue
            out.append((ov, "cannot overwrite referenced dynptr" if write else
                        f"invalid variable-offset read from stack R{regno} (a dynptr)"))
        write_back(st, vst, tag)
        return out
    lo = (c - (1 << 64) if c >> 63 else c) - STACK_SIZE
    vst = mirror(st)
    frame = next((f for f in vst.frames if f.frameno == p.r.gen), None)
    if frame is None:  # a frame that no longer exists (check_region says so)
        return []
    try:
        _dynptr_bytes(vst, frame, regno if regno is not None else 0, lo, lo, size, write)
    except Reject as e:
        return [(T, e.message)]
    write_back(st, vst, tag)
    return []


def _may(guard, cond) -> bool:
    """``cond`` may hold on the path (unknown counts as may: the kernel destroys every
    dynptr a variable-offset write may touch, by its bounds)."""
    s = z3.Solver()
    s.set("timeout", 2000)
    s.add(guard, cond)
    return s.check() != z3.unsat


def helper_mem_bad(st, regno: int, r, size, raw: bool) -> list:
    """A helper's memory argument on the stack touching a dynptr (helper_mem_check)."""
    if not (isinstance(r, P) and r.r.kind == "stack" and _frame_gens(st, r.r.gen)):
        return []
    reg, n = _stack_reg(st, r), const_of(size) if not isinstance(size, int) else size
    if reg is None or n is None:  # the dynptrs the range may touch
        size = bv(size) if isinstance(size, int) else size
        return [(_overlap(k, r.off, size), f"potential write to dynptr (R{regno})" if raw else
                 f"invalid variable-offset read from stack R{regno} (a dynptr)")
                for k, _ in _slots(st, r.r.gen)]
    vst = mirror(st)
    frame = next((f for f in vst.frames if f.frameno == r.r.gen), None)
    if frame is None:  # a frame that no longer exists (check_region says so)
        return []
    try:
        VD.helper_mem_check(frame, regno, reg, reg.off, reg.off, n, raw)
    except Reject as e:
        return [(T, e.message)]
    return []


# -- the helpers -------------------------------------------------------------------------------
def _u32(v):
    return z3.ZeroExt(32, z3.Extract(31, 0, v))


def call(eng, st, pc: int, proto):
    """(bad list, [(state, r0, extra guard)]) of a dynptr helper call."""
    from model.symbolic.havoc import havoc_written
    from model.symbolic.memory import check_region, helper_args, uninit_arg

    lay, regs = eng.lay, st.cur.regs
    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    tag = f"{pc}_{n}"
    ids = _Ids(pc, n)
    vst = mirror(st)
    bad: list = []
    dyn = dyn_reg = None
    for i, arg, r in helper_args(proto.args, regs):
        regno = i + 1
        if r is None:
            return bad + uninit_arg(i), []
        if arg.base is Arg.CONST_MAP_PTR:
            if not (isinstance(r, P) and r.r.kind == "mapptr"):
                return bad + [(T, f"R{regno} type={_kind(r)} expected=map_ptr")], []
            why = map_helper_check(lay.maps[r.r.name].type, proto.id, lay.ptype)
            if why is not None:
                return bad + [(T, why)], []
        elif arg.base in (Arg.CONST_SIZE_OR_ZERO, Arg.CONST_ALLOC_SIZE_OR_ZERO):
            if not isinstance(r, S):
                return bad + [(T, f"R{regno} type={_kind(r)} expected=scalar")], []
            if arg.base is Arg.CONST_ALLOC_SIZE_OR_ZERO and const_of(r.v) is None:
                if not path_constant(r.v):  # the kernel needs a known constant (the
                    # stray quote is the kernel's own: check_func_arg's words on 6.18)
                    return bad + [(T, f"R{regno} is not a known constant'")], []
                return bad + [(T, f"{VERIFIER_ONLY}: a slice of a size that differs "
                                  "between merged paths")], []
        elif arg.base is Arg.PTR_TO_MEM:
            size = regs[regno + 1]
            if not isinstance(size, S):
                return bad + [(T, f"R{regno + 1} is not a scalar size")], []
            write = bool(arg.flags & ArgFlag.MEM_UNINIT)
            bad += check_region(lay, st, r, size.v, write)
            bad += helper_mem_bad(st, regno, r, size.v, write)
        elif arg.base is Arg.PTR_TO_DYNPTR:
            if not (isinstance(r, P) and r.r.kind in ("stack", CB_KIND)):
                return bad + [(T, f"R{regno} type={_kind(r)} expected={VD.EXPECTED}")], []
            if r.r.kind == "stack" and not any(f.region == r.r for f in st.frames):
                return bad + [(T, "stack pointer into a frame that no longer exists")], []
            reg = _stack_reg(st, r) if r.r.kind == "stack" else _sample_reg(r)
            if reg is None:
                return bad + [(T, f"{VERIFIER_ONLY}: a dynptr at a variable offset")], []
            try:
                dyn = VD.dynptr_arg(vst, regno, reg, arg, pc, ids)
            except Reject as e:
                return bad + [(T, e.message)], []
            dyn_reg = reg
            if r.r.kind == CB_KIND:  # the sample's info, under its region's id
                dyn = dyn._replace(id=int(r.r.name))
        else:
            return bad + [(T, f"{VERIFIER_ONLY}: argument kind {arg.base.name} of helper "
                              f"{proto.name}")], []
    if any(z3.is_true(b) for b, _ in bad):
        return bad, []
    name = proto.name
    try:
        if name in ("ringbuf_submit_dynptr", "ringbuf_discard_dynptr"):
            VD.release_dynptr(vst, dyn_reg, f"{proto.kernel_name}#{proto.id}")
        if name == "dynptr_from_mem":
            VD.from_mem_check(_mem_reg(regs[1]))
    except Reject as e:
        return bad + [(T, e.message)], []
    write_back(st, vst, tag)
    if name == "dynptr_from_mem":
        size, flags = _u32(regs[2].v), lay.addr(regs[3])
        big = z3.UGT(size, bv(SIZE_MASK))
        st.dynptrs[("info", dyn.id)] = Info("local", regs[1].r.name,
                                           z3.Or(big, flags != bv(0)), size)
        ret = z3.If(big, bv(E2BIG), z3.If(flags != bv(0), bv(EINVAL), bv(0)))
        return bad, [(st, S(ret), None)]
    if name == "ringbuf_reserve_dynptr":
        size, flags = _u32(lay.addr(regs[2])), lay.addr(regs[3])
        where = f"{REF_PREFIX}{dyn.ref}"
        st.maps[where] = z3.Array(f"rbd_{tag}", BV64, BYTE)
        fail = z3.Bool(f"rbd_fail_{tag}")
        big = z3.UGT(size, bv(SIZE_MASK))
        fits = z3.ULE(size + bv(RINGBUF_HDR), lay.entries(regs[1].r.name))
        null = z3.Or(flags != bv(0), big, fail, z3.Not(fits))
        st.dynptrs[("info", dyn.id)] = Info("ringbuf", where, null, size)
        ret = z3.If(flags != bv(0), bv(EINVAL), z3.If(big, bv(E2BIG),
                                                       z3.If(null, bv(EINVAL), bv(0))))
        return bad, [(st, S(ret), None)]
    if name in ("ringbuf_submit_dynptr", "ringbuf_discard_dynptr"):
        return bad, [(st, None, None)]
    info = st.dynptrs.get(("info", dyn.id))
    if info is None:  # a dynptr whose origin this engine does not know
        return bad + [(T, f"{VERIFIER_ONLY}: a dynptr of unknown origin")], []
    if name == "dynptr_read":
        ln, off = _u32(regs[2].v), _u32(lay.addr(regs[4]))
        flags = lay.addr(regs[5])
        oob = z3.Or(z3.UGT(off, info.size), z3.UGT(ln, info.size - off))
        ret = z3.If(z3.Or(info.null, flags != bv(0)), bv(EINVAL),
                    z3.If(oob, bv(E2BIG), bv(0)))
        havoc_written(lay, st, proto, regs, None, tag)
        return bad, [(st, S(ret), None)]
    if name == "dynptr_write":
        off, ln = _u32(lay.addr(regs[2])), _u32(regs[4].v)
        flags = lay.addr(regs[5])
        oob = z3.Or(z3.UGT(off, info.size), z3.UGT(ln, info.size - off))
        ret = z3.If(z3.Or(info.null, z3.BoolVal(info.rdonly)), bv(EINVAL),
                    z3.If(oob, bv(E2BIG), z3.If(SK.write_flags(info, flags) != bv(0),
                                                bv(EINVAL), bv(0))))
        if info.kind in SK.PACKET_KINDS:  # model.symbolic.skb_dynptrs
            SK.written(lay, st, info, tag)
        elif not info.rdonly:
            _havoc(lay, st, info, tag)
        return bad, [(st, S(ret), None)]
    # dynptr_data: NULL, or a slice of exactly len bytes
    off, ln = _u32(lay.addr(regs[2])), const_of(regs[3].v)
    oob = z3.Or(z3.UGT(off, info.size), z3.UGT(bv(ln), info.size - off))
    null = z3.Or(info.null, oob, z3.BoolVal(info.rdonly or info.kind in SK.PACKET_KINDS))
    ok = st.copy()
    region = f"{SLICE}{dyn.id}#{tag}"
    ok.maps[region] = z3.Array(f"slice_{tag}", BV64, BYTE)
    slice_ = P(Region("ringbuf", region, 0, (1 << 16) + (pc << 4) + n, ln), bv(0))
    return bad, [(st, S(bv(0)), null), (ok, slice_, z3.Not(null))]


def _sample_reg(r: P):
    """The verifier's CONST_PTR_TO_DYNPTR register for a sample's dynptr pointer."""
    c = const_of(r.off)
    if c is None:
        return None if path_constant(r.off) else \
            Reg(VT.CONST_DYNPTR, Scalar.unknown(), off=0, tag="local")
    return pointer(VT.CONST_DYNPTR, off=c - (1 << 64) if c >> 63 else c, tag="local")


def _kind(r) -> str:
    return "scalar" if isinstance(r, S) else r.r.kind if isinstance(r, P) else "?"


def _mem_reg(r):
    """The verifier's register for from_mem_check (a map value, or what it is not)."""
    if isinstance(r, P) and r.r.kind == "map":
        return pointer(VT.MAP_VALUE, map=r.r.name)
    if isinstance(r, P) and r.r.kind == "stack":
        return pointer(VT.STACK)
    return pointer(VT.MEM) if isinstance(r, P) else unknown()


def _havoc(lay, st, info: Info, tag: str) -> None:
    """bpf_dynptr_write: the memory the dynptr covers holds unknown bytes."""
    if info.kind == "ringbuf":
        if info.where in st.maps:
            st.maps[info.where] = z3.Array(f"dynw_{tag}", BV64, BYTE)
        return
    m = lay.maps[info.where]
    st.maps[info.where] = z3.Array(f"dynw_{tag}", z3.BitVecSort(8 * max(m.key_size, 1)),
                                   z3.ArraySort(BV64, BYTE))


__all__ = ["FOLLOWED", "FOLLOWED_ALL", "DRAIN", "CB_KIND", "followed", "stack_bad",
           "helper_mem_bad", "call", "Info", "sample_dynptr", "spilled"]
