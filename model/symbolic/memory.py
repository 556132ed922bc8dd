"""Memory accesses and helper calls on symbolic states.

Each check returns the *bad* conditions as ``(z3 Bool, reason)`` pairs (``True`` when the
failure is structural: a scalar dereferenced, a forbidden region); the engine records
``guard /\\ bad`` as a possible assertion failure and continues under ``guard /\\ not bad``.
"""

from __future__ import annotations

import itertools

import z3

from model.platform.ctx_layouts import (SOCKET_YIELDS, VERIFIER_ONLY, ctx_access,
                                        moved_ctx_reason, unmodelled_yield)
from model.platform.map_fields import MapFieldError, map_field_read
from model.platform.value_fields import field_error, record_fields
from model.platform.map_helpers import (access_type_check, can_elide_null, keys_exact,
                                        map_helper_check, map_helper_unmodelled,
                                        SOCKET_LOOKUP_MAP_TYPES, map_type_name,
                                        map_write_check)
from model.platform.prototypes import (Arg, ArgFlag, Ret, helper_check, helper_proto,
                                       helper_unmodelled, known_zero_arg, packet_arg_check,
                                       subprog_helper_check)
from model.semantics.backend import to_signed
from model.symbolic import (callbacks, const_strs, dynptrs, inner_maps, kfuncs, kmem, kptrs,
                            locks, percpu, refs, sock_casts, sockets, timers, typed, vmas)
from model.symbolic.alignment import aligned as _aligned
from model.symbolic.skb_dynptrs import RO_PACKET
from model.symbolic.havoc import arg_alignment, havoc_written, refined_return
from model.symbolic.state import (BV64, BYTE, MAX_PACKET, P, Region, S, State, bv, const_of,
                                  read_bytes, write_bytes)
from model.verifier.calls import GPL_COMPATIBLE
from model.verifier.memcheck import PKT_WRITE_TYPES

T = z3.BoolVal(True)


def in_bounds(off, size, limit):
    """``[off, off + size)`` inside ``[0, limit)`` (all 64-bit terms, no wrap-around)."""
    return z3.And(z3.ULE(size, limit), z3.ULE(off, limit - size))


def map_array(lay, st: State, name: str):
    arr = st.maps.get(name)
    if arr is not None:
        return arr
    m = lay.maps[name]
    if m.frozen_constant:
        inner = z3.K(BV64, z3.BitVecVal(0, 8))
        for i, b in enumerate(m.initial or b""):
            if b:
                inner = z3.Store(inner, bv(i), z3.BitVecVal(b, 8))
        return z3.K(z3.BitVecSort(8 * max(m.key_size, 1)), inner)
    return lay.map_in[name]


def frame_of(st: State, r: Region):
    for f in st.frames:
        if f.region == r:
            return f
    return None


def check_region(lay, st: State, p, size, write: bool, atomic: bool = False):
    """Bad conditions for touching ``size`` bytes (a 64-bit term) at pointer ``p``."""
    if p is None:
        return [(T, "access through an uninitialised register")]
    if isinstance(p, S):
        return [(T, "invalid mem access 'scalar'")]
    k = p.r.kind
    if k == "stack":
        if frame_of(st, p.r) is None:
            return [(T, "stack pointer into a frame that no longer exists")]
        return [(z3.Not(in_bounds(p.off, size, lay.size(p))), "stack access out of bounds")]
    if k == "packet":
        if write and lay.ptype not in PKT_WRITE_TYPES:
            return [(T, "cannot write into packet")]
        if write and p.r.name == RO_PACKET:  # a bpf_dynptr_slice (model.symbolic.skb_dynptrs)
            return [(T, "cannot write into rdonly_mem")]
        if atomic:
            return [(T, "atomic access to packet")]
        return [(z3.Not(in_bounds(p.off, size, lay.pkt_len(st))),
                 "packet access out of bounds")]
    if k == "pkt_meta":
        # the metadata area [data_meta, data) has a symbolic length: only a comparison of
        # the meta pointer with data bounds it (a comparison with data_end does not)
        if write and lay.ptype not in PKT_WRITE_TYPES:
            return [(T, "cannot write into packet")]
        if atomic:
            return [(T, "atomic access to packet")]
        return [(z3.Not(in_bounds(p.off, size, lay.mlen)),
                 "access through data_meta outside the metadata area")]
    if k == "map":
        m = lay.maps[p.r.name]
        why = access_type_check(m.prog_flags, write, m.value_size, const_of(p.off), size)
        if why is not None:
            return [(T, why)]
        bad = [(z3.Not(in_bounds(p.off, size, bv(m.value_size))),
                f"access out of bounds of map value {p.r.name} (value_size={m.value_size})")]
        for kind, foff, fsize in record_fields(m.fields):  # a special field touched
            bad.append((z3.And(z3.ULT(p.off, bv(foff + fsize)), z3.UGT(p.off + size, bv(foff))),
                        field_error(kind)))
        return bad
    if k == "ctx":
        return []  # checked field by field in ctx_access (needs a constant offset)
    if k in (typed.KIND, kmem.KIND):
        return typed.helper_mem()
    if k == refs.KIND:  # a ring buffer reservation: check_mem_region_access
        return [(z3.Not(in_bounds(p.off, size, bv(p.r.size))),
                 f"invalid access to memory, mem_size={p.r.size}")]
    if k == "mapptr":
        return _map_fields(lay, p, size, write or atomic)
    if k == callbacks.KEY_KIND:  # a for_each callback's key
        return callbacks.key_access(lay, p, bv(0), size, write or atomic)
    return [(T, f"invalid mem access '{k}'")]


def _map_fields(lay, p, size, write: bool) -> list:
    """A load through a map pointer: the fields of the map's kernel structure
    (model.platform.map_fields); the value read is unknown."""
    off, n = const_of(p.off), const_of(size)
    if off is None or n is None:
        return [(T, "not modelled: a variable access to a map's structure")]
    try:
        why = map_field_read(lay.maps[p.r.name].type, 0, to_signed(off, 64), n, write)
    except MapFieldError as e:
        return [(T, str(e))]
    return [] if why is None else [(T, why)]


def load(lay, st: State, p, off: int, size: int, signed: bool = False,
         regno: int | None = None):
    """(bad list, loaded value) for a ``size``-byte read at ``p + off`` (``signed``: a
    sign-extending load; ``regno``: the pointer's register, for messages)."""
    if isinstance(p, P) and p.r.kind == "mapptr":
        bad = check_region(lay, st, P(p.r, p.off + bv(off), p.key), bv(size), False)
        return bad, None if bad else S(_ext(z3.BitVec(f"mapfield_{next(_FIELD_READS)}",
                                                        8 * size)))
    if isinstance(p, P) and p.r.kind == typed.KIND:
        return typed.ptr_load(lay, p, off, size, False, regno, kfuncs.in_rcu(st))
    if isinstance(p, P) and p.r.kind == callbacks.KEY_KIND:
        bad = callbacks.key_access(lay, p, bv(off), bv(size), False)
        return bad, S(_ext(read_bytes(callbacks.key_bytes(p), p.off + bv(off), size)))
    if isinstance(p, P) and p.r.kind == sockets.KIND:
        return sockets.load(lay, p, off, size, regno, str(next(_FIELD_READS)))
    if isinstance(p, P) and p.r.kind == kmem.KIND:
        return kmem.load(lay, p, off, size, regno)
    if p is None or isinstance(p, S) or p.r.kind not in PLAIN:
        return check_region(lay, st, p, bv(size), False), None
    if p.r.kind == "ctx":
        return _ctx(lay, st, p, off, size, False, None, regno, signed)
    got = kptrs.load(lay, st, p, off, size, regno)
    if got is not None:  # a kptr field (model.symbolic.kptrs)
        return got
    o = p.off + bv(off)
    bad = check_region(lay, st, P(p.r, o, p.key), bv(size), False) + _aligned(lay, p.r, o, size)
    if p.r.kind == "stack":
        f = frame_of(st, p.r)
        c = const_of(o)
        bad += dynptrs.stack_bad(st, p, o, size, False, regno, "")  # model.symbolic.dynptrs
        if c is not None:
            for so, v in f.spills.items():
                if so == c and size == 8:
                    return bad, v
                if so < c + size and c < so + 8:
                    return bad + [(T, "invalid size of register fill")], None
        return bad, S(_ext(read_bytes(f.stack, o, size)))
    if p.r.kind in ("packet", "pkt_meta"):
        arr = st.pkt if st.pkt is not None else lay.pkt_in
        return bad, S(_ext(read_bytes(arr, _pkt_index(lay, p.r, o), size)))
    if p.r.kind == refs.KIND:
        return bad, S(_ext(read_bytes(st.maps[p.r.name], o, size)))
    inner = z3.Select(map_array(lay, st, p.r.name), p.key)
    return bad, S(_ext(read_bytes(inner, o, size)))


#: helpers whose typed-pointer / reference argument or return kinds the modules of this
#: engine follow (helper_unmodelled would refuse them otherwise): computed once
FOLLOWED_TYPED = (typed.FOLLOWED_RETS | timers.FOLLOWED | kptrs.FOLLOWED | percpu.FOLLOWED
                  | vmas.FOLLOWED | kmem.FOLLOWED | const_strs.FOLLOWED)
FOLLOWED_REFS = (refs.FOLLOWED | typed.FOLLOWED_RETS | sockets.FOLLOWED | locks.FOLLOWED
                 | kptrs.FOLLOWED | percpu.FOLLOWED | dynptrs.FOLLOWED_ALL | sock_casts.FOLLOWED)
MAP_ARGS = (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE)
#: helpers whose socket arguments (ARG_PTR_TO_SOCK_COMMON...) this engine checks
FOLLOWED_SOCK_ARGS = sockets.FOLLOWED | sock_casts.FOLLOWED

def helper_args(args, regs):
    """(i, arg, register) of each helper argument a call checks: ARG_DONTCARE and an
    initialised ARG_ANYTHING are skipped; the register is None for an uninitialised one
    (the call then fails with :func:`uninit_arg`)."""
    for i, arg in enumerate(args):
        r = regs[i + 1]
        if arg.base is Arg.DONTCARE or r is not None and arg.base is Arg.ANYTHING:
            continue
        yield i, arg, r


def uninit_arg(i: int) -> list:
    """The bad list of the uninitialised register of argument ``i``."""
    return [(T, f"R{i + 1} !read_ok (helper argument)")]


#: regions whose bytes load/store model
PLAIN = ("stack", "ctx", "packet", "pkt_meta", "map", refs.KIND)


def _pkt_index(lay, r: Region, o):
    """Index into the packet array: metadata bytes sit just before the data (index 0)."""
    return o - lay.mlen if r.kind == "pkt_meta" else o


_FIELD_READS = itertools.count()  # fresh names for values read from a map's structure


def _ext(raw):
    w = raw.size()
    return z3.ZeroExt(64 - w, raw) if w < 64 else raw


def store(lay, st: State, p, off: int, size: int, value, atomic=False,
          regno: int | None = None, src: int | None = None):
    """Bad list for a write of ``value`` (a symbolic value) at ``p + off``; updates ``st``."""
    if isinstance(p, P) and p.r.kind == typed.KIND:
        return typed.ptr_load(lay, p, off, size, True, regno, kfuncs.in_rcu(st))[0]
    if isinstance(p, P) and p.r.kind == sockets.KIND:
        return sockets.access_bad(lay, p, off, size, True, regno)
    if isinstance(p, P) and p.r.kind == kmem.KIND:
        return kmem.access_bad(lay, p, off, size, True, regno, atomic)
    if p is None or isinstance(p, S) or p.r.kind not in PLAIN:
        return check_region(lay, st, p, bv(size), True, atomic)
    o = p.off + bv(off)
    raw = lay.addr(value)
    if p.r.kind == "ctx":
        if atomic:
            return [(T, "atomic access to ctx")]
        bad, _ = _ctx(lay, st, p, off, size, True, raw, regno)
        return bad
    bad = check_region(lay, st, P(p.r, o, p.key), bv(size), True, atomic) + \
        _aligned(lay, p.r, o, size, atomic)
    kbad = None if atomic else kptrs.store(lay, st, p, off, size, value, src)
    if kbad is not None:  # a kptr field (model.symbolic.kptrs): its rules, not the field's
        bad = [(b, w) for b, w in bad if "kptr" not in w] + kbad
    if p.r.kind == "stack":
        f = frame_of(st, p.r)
        c = const_of(o)
        bad += dynptrs.stack_bad(st, p, o, size, True, regno, f"st{c}")  # a dynptr destroyed
        value = dynptrs.spilled(lay, value)
        # a pointer spilled at a fixed offset must be whole; written at a variable offset
        # (check_stack_write_var_off, privileged) it is plain bytes, as any value
        if isinstance(value, P) and c is not None and size != 8:
            return bad + [(T, "invalid size of register spill")]
        if c is None:
            f.spills = {}
        else:
            f.spills = {so: v for so, v in f.spills.items() if not (so < c + size and c < so + 8)}
            if isinstance(value, P):
                f.spills[c] = value
        f.stack = write_bytes(f.stack, o, raw, size)
    elif p.r.kind in ("packet", "pkt_meta"):
        st.pkt = write_bytes(st.pkt if st.pkt is not None else lay.pkt_in,
                             _pkt_index(lay, p.r, o), raw, size)
    elif p.r.kind == refs.KIND:
        st.maps[p.r.name] = write_bytes(st.maps[p.r.name], o, raw, size)
    else:
        arr = map_array(lay, st, p.r.name)
        st.maps[p.r.name] = z3.Store(arr, p.key, write_bytes(z3.Select(arr, p.key), o, raw, size))
    return bad


#: the ctx region of a pointer that had a non-constant scalar added (the kernel's
#: "variable ctx access": its var_off is no longer the constant 0)
CTX_VARIABLE = Region("ctx", "ctx+var")


def moved_ctx(p, regno: int | None = None) -> list:
    """check_ptr_off_reg on a symbolic ctx pointer: bad conditions when it is not unmoved.
    A constant offset gives the verifier's exact message; an offset that differs between
    merged paths (each path's own offset is a constant) is bad wherever it is non-zero."""
    if p.r == CTX_VARIABLE:
        return [(T, moved_ctx_reason(regno, 0, "(unknown)"))]
    c = const_of(p.off)
    if c is not None:
        why = moved_ctx_reason(regno, c - (1 << 64) if c >> 63 else c)
        return [(T, why)] if why else []
    return [(p.off != bv(0), moved_ctx_reason(regno, None))]


def _ctx(lay, st, p, off: int, size: int, write: bool, raw, regno: int | None,
         signed: bool = False):
    bad = moved_ctx(p, regno)
    if any(z3.is_true(b) for b, _ in bad):
        return bad, None
    o = bv(off)  # the state goes on where the pointer is unmoved
    if lay.target is not None:  # a BTF-typed context (btf_ctx_access)
        got_bad, value = typed.ctx_load(lay, off, size, write)
        return bad + got_bad, value
    got = ctx_access(lay.ptype, off, size, write, signed=signed, attach_type=lay.attach_type)
    if isinstance(got, str):
        return bad + [(T, got)], None
    arr = st.ctx if st.ctx is not None else lay.ctx_in
    if write:
        st.ctx = write_bytes(arr, o, raw, size)
        return bad, None
    if getattr(got, "kind", "") in SOCKET_YIELDS:  # a socket (model.symbolic.sockets)
        return bad, sockets.ctx_pointer(lay, got.kind, read_bytes(arr, o, 8))
    why = unmodelled_yield(got)
    ptr = kmem.ctx_pointer(lay, got.kind, read_bytes(arr, o, 8)) if why else None
    if why is not None:  # a pointer the engine follows (model.symbolic.kmem), or not
        return bad + ([] if ptr is not None else [(T, why)]), ptr
    kind = getattr(got, "kind", "scalar")
    if kind == "pkt":
        return bad, P(Region("packet", "packet"), bv(0))
    if kind == "pkt_meta":
        return bad, P(Region("pkt_meta", "packet"), bv(0))
    if kind == "pkt_end":
        return bad, P(Region("pkt_end", "packet"), lay.pkt_len(st))
    return bad, S(_ext(read_bytes(arr, o, size)))


# -- helpers -------------------------------------------------------------------------------
def call_helper(eng, st: State, pc: int, hid: int, obj):
    """Check the call and compute r0. Returns (bad list, [(state, r0 value, extra guard)])."""
    lay = eng.lay
    proto = helper_proto(lay.ptype, hid)
    why = (helper_check(lay.ptype, hid, gpl=obj.license in GPL_COMPATIBLE,
                        attach_type=lay.attach_type, section=lay.section)
           or helper_unmodelled(lay.ptype, hid, typed=proto.name in FOLLOWED_TYPED,
                                refs=proto.name in FOLLOWED_REFS,
                                dynptrs=proto.name in percpu.FOLLOWED | dynptrs.FOLLOWED_ALL))
    if why is not None:
        return [(T, why)], []
    why = subprog_helper_check(hid, len(st.frames) > 1)
    if why is not None:
        return [(T, why)], []
    if locks.call_bad(st, hid):  # model.symbolic.locks
        return locks.call_bad(st, hid), []
    if proto.might_sleep and kfuncs.in_rcu(st):  # model.symbolic.kfuncs
        return [(T, f"sleepable helper {proto.kernel_name}#{hid} in rcu_read_lock region")], []
    if proto.name in kptrs.FOLLOWED:  # model.symbolic.kptrs
        why = sock_casts.unfollowed(st.cur.regs[1:3])
        return ([(T, why)], []) if why else kptrs.xchg(eng, st, pc)
    if proto.name in dynptrs.FOLLOWED:  # model.symbolic.dynptrs
        return dynptrs.call(eng, st, pc, proto)
    if proto.name in kmem.PERCPU_HELPERS:  # model.symbolic.kmem
        return kmem.percpu_call(lay, st, proto, pc)
    regs = st.cur.regs
    bad: list = []
    map_name = released = timer_map = sock = None
    args = list(proto.args)
    for i, arg, r in helper_args(args, regs):
        if r is None:
            return bad + uninit_arg(i), []
        null = isinstance(r, S) and arg.maybe_null
        cond_null = (r.v == bv(0)) if null else z3.BoolVal(False)
        if null and arg.is_mem:  # NULL needs a size that is 0 (check_mem_size_reg)
            sz = regs[i + 2]
            nonzero = z3.BoolVal(True) if not isinstance(sz, S) else sz.v != bv(0)
            bad.append((z3.And(cond_null, nonzero),
                        f"R{i + 1} type=scalar: NULL memory argument with a size that may "
                        "be non-zero"))
        if (isinstance(r, P) and r.r.kind == "packet" and packet_arg_check(proto, lay.ptype)
                and arg.base in (Arg.PTR_TO_MEM, Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE)):
            return bad + [(T, packet_arg_check(proto, lay.ptype))], []
        if arg.base is Arg.CONST_MAP_PTR:
            if not (isinstance(r, P) and r.r.kind == "mapptr"):
                return bad + [(T, f"R{i + 1} is not a map pointer")], []
            map_name = r.r.name
            if lay.maps[map_name].is_static_key:
                return bad + [(T, "cannot access static keys")], []
            if timer_map is not None:  # bpf_timer_init: the timer's own map
                bad += timers.map_bad(timer_map, i + 1, r)
        elif isinstance(r, P) and r.r.kind == kmem.KIND and (arg.is_mem or arg.is_fixed_mem or
                                                             arg.base in MAP_ARGS):
            bad += kmem.mem_arg_bad(lay, i + 1, r, arg, regs[i + 2] if i < 4 else None,
                                    map_name)
        elif arg.base in MAP_ARGS:
            m = lay.maps[map_name]
            size = m.key_size if arg.base is Arg.PTR_TO_MAP_KEY else m.value_size
            bad += dynptrs.helper_mem_bad(st, i + 1, r, size,
                                          bool(arg.flags & ArgFlag.MEM_UNINIT))
            # NULL where allowed (bpf_sk_storage_get's initial value)
            bad += [(z3.And(z3.Not(cond_null), b), w) for b, w in
                    check_region(lay, st, r, bv(size), arg.writes_mem)]
        elif arg.is_fixed_mem:
            bad += dynptrs.helper_mem_bad(st, i + 1, r, arg.size,
                                          bool(arg.flags & ArgFlag.MEM_UNINIT))
            bad += [(z3.And(z3.Not(cond_null), b), w) for b, w in
                    check_region(lay, st, r, bv(arg.size), arg.writes_mem)
                    + arg_alignment(r, arg)]
        elif arg.base is Arg.PTR_TO_MEM:
            size = regs[i + 2] if i + 1 < len(args) and args[i + 1].is_size else None
            if size is None or not isinstance(size, S):
                return bad + [(T, f"R{i + 2} is not a scalar size")], []
            bad += dynptrs.helper_mem_bad(st, i + 1, r, size.v,
                                          bool(arg.flags & ArgFlag.MEM_UNINIT))
            bad += [(z3.And(z3.Not(cond_null), b), w) for b, w in
                     check_region(lay, st, r, size.v, arg.writes_mem)]
        elif arg.base is Arg.CONST_ALLOC_SIZE_OR_ZERO:  # bpf_ringbuf_reserve's size
            more = refs.size_bad(i + 1, r)
            if more is None:
                return bad + [(T, f"{VERIFIER_ONLY}: a reservation of a variable or huge size")], []
            bad += more
        elif arg.base in sockets.SOCK_ARGS and proto.name in FOLLOWED_SOCK_ARGS:
            more = sockets.arg_bad(i + 1, r, arg)
            if more is None:  # a typed pointer (model.symbolic.sock_casts)
                more = sock_casts.typed_arg_bad(lay, proto, i + 1, r, arg)
            if more is None:  # a typed pointer cast from a socket: the verifier's rules
                return bad + [(T, f"{VERIFIER_ONLY}: a typed socket given to {proto.name}")], []
            bad += more
            sock = r
        elif arg.base is Arg.PTR_TO_BTF_ID_SOCK_COMMON and isinstance(r, P) and \
                r.r.kind == sockets.KIND:  # a socket to bpf_skc_to_*
            if proto.name not in typed.FOLLOWED_RETS:
                return bad + [(T, f"{VERIFIER_ONLY}: a socket given to {proto.name}")], []
            bad += sockets.arg_bad(i + 1, r, arg)  # unreferenced (a ctx socket): checked
        elif arg.base is Arg.PTR_TO_BTF_ID_SOCK_COMMON and proto.name in typed.FOLLOWED_RETS:
            bad += typed.sock_common_arg(lay, i + 1, r, arg.maybe_null)
        elif arg.base is Arg.PTR_TO_BTF_ID and proto.name in vmas.FOLLOWED:  # bpf_find_vma
            bad += vmas.task_bad(lay, proto.name, i + 1, r, arg.maybe_null)
        elif arg.base is Arg.PTR_TO_BTF_ID and proto.name in kmem.BTF_ARG_HELPERS:
            bad += kmem.btf_arg_bad(lay, proto.name, i + 1, r, arg.maybe_null)
        elif arg.base is Arg.PTR_TO_CONST_STR and proto.name in const_strs.FOLLOWED:
            bad += const_strs.arg_bad(lay, proto, i + 1, r, regs)
        elif arg.base is Arg.PTR_TO_SPIN_LOCK:  # model.symbolic.locks
            bad += locks.arg(lay, st, i + 1, r, hid)
        elif arg.base is Arg.PTR_TO_RINGBUF_MEM:  # submit / discard (OBJ_RELEASE)
            released = r
            bad += refs.release_bad(i + 1, r)
        elif arg.base in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
            if not isinstance(r, S):
                return bad + [(T, f"R{i + 1} is not a scalar")], []
            if arg.base is Arg.CONST_SIZE:
                bad.append((r.v == bv(0), f"R{i + 1} invalid zero-sized read"))
        elif arg.base is Arg.PTR_TO_TIMER:  # model.symbolic.timers
            more, timer_map = timers.timer_bad(lay, i + 1, r)
            if more:
                return bad + more, []
        elif arg.base is Arg.PTR_TO_FUNC:  # a callback (model.symbolic.callbacks)
            if not (isinstance(r, P) and r.r.kind == "func"):
                return bad + [(T, f"R{i + 1} type={_kind(r)} expected=func")], []
        elif arg.base is Arg.PTR_TO_STACK:  # a callback's context: any stack offset
            if null:
                bad.append((z3.Not(cond_null), f"R{i + 1} type=scalar expected=fp"))
            elif not (isinstance(r, P) and r.r.kind == "stack"):
                return bad + [(T, f"R{i + 1} type={_kind(r)} expected=fp")], []
        elif arg.base is Arg.PTR_TO_CTX:
            if null:
                bad.append((z3.Not(cond_null), f"R{i + 1} type=scalar expected=ctx"))
            elif not (isinstance(r, P) and r.r.kind == "ctx"):
                return bad + [(T, f"R{i + 1} is not the context")], []
            else:
                bad += moved_ctx(r, i + 1)
        else:
            return bad + [(T, f"{VERIFIER_ONLY}: argument kind {arg.base.name} of helper "
                              f"{proto.name}")], []  # unknown: the verifier decides
    zero = known_zero_arg(hid)
    if zero is not None:
        r = regs[zero[0] + 1]
        if not (isinstance(r, S) and const_of(r.v) == 0):
            return bad + [(T, zero[1])], []
    if map_name is not None:
        m = lay.maps[map_name]
        why = (map_write_check(m.prog_flags, hid) or map_helper_check(m.type, hid, lay.ptype)
               or map_helper_unmodelled(m.type, hid, map_in_map=True)
               or (inner_maps.unfollowed(lay, eng.prog, map_name)
                   if inner_maps.is_outer(lay, map_name) else None))
        if why is not None:
            return bad + [(T, why)], []
    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    fresh = z3.BitVec(f"h_{pc}_{n}", 64)
    grown = None
    if proto.changes_pkt_data:
        grown = _invalidate_packet(st, f"{pc}_{n}")
    if proto.name in percpu.FOLLOWED:  # another CPU's value (model.symbolic.percpu)
        return bad, percpu.lookup(lay, st, map_name, pc, n)
    if proto.name == "sk_storage_get" or proto.name in kmem.STORAGE_GET:
        return bad, sockets.storage_get(lay, st, map_name, regs[2], pc, n)
    if proto.ret is Ret.PTR_TO_MAP_VALUE_OR_NULL and (inner_maps.is_outer(lay, map_name)
                                                      or inner_maps.via_outer(regs[1])):
        why, outs = inner_maps.lookup(lay, st, map_name, _key(lay, st, map_name, regs[2]),
                                      pc, n)
        return bad + ([(T, why)] if why else []), outs
    if proto.ret is Ret.PTR_TO_MAP_VALUE_OR_NULL:
        return bad, _lookup(lay, st, map_name, regs[2], locks.lookup_gen(lay, map_name, pc))
    if proto.name in sockets.ACQUIRERS:
        return bad, sockets.acquire(lay, st, pc, n, proto.ret)
    if proto.name in sockets.CASTERS:
        if any(z3.is_true(b) for b, _ in bad) or not isinstance(sock, P):
            return bad, []
        return bad, sockets.cast(lay, st, pc, n, proto, sock)
    if proto.name == "sk_release" and isinstance(sock, P) and \
            not any(z3.is_true(b) for b, _ in bad):
        sockets.release(st, sock, f"{pc}_{n}")
    ret = typed.helper_result(lay, proto, pc, n)
    if ret is not None:  # a cast holds its socket's reference (model.symbolic.sock_casts)
        return bad, [(st, sock_casts.result(lay, proto, ret, regs[1]), None)]
    if proto.ret is Ret.PTR_TO_RINGBUF_MEM_OR_NULL:
        return bad, refs.reserve(lay, st, pc, n, map_name, regs[2], regs[3])
    if released is not None:
        if any(z3.is_true(b) for b, _ in bad):
            return bad, []
        refs.release(st, released, f"{pc}_{n}")
    if proto.ret is Ret.PTR_TO_MAP_VALUE:  # bpf_get_local_storage: one storage, never NULL
        key = bv(0, 8 * lay.maps[map_name].key_size)
        lay.lookups.append((map_name, key))
        gen = locks.lookup_gen(lay, map_name, pc)  # its lock's name (model.symbolic.locks)
        return bad, [(st, P(Region("map", map_name, gen=gen), bv(0), key), None)]
    havoc_written(lay, st, proto, regs, map_name, f"{pc}_{n}", (pc, n))
    if hid == 2:
        key = _key(lay, st, map_name, regs[2])
        if key is not None and not lay.is_array(map_name):
            pres = st.present.get(map_name, lay.present_in[map_name])
            st.present[map_name] = z3.Store(pres, key, z3.BoolVal(True))
        if key is not None:
            vs = lay.maps[map_name].value_size
            arr = map_array(lay, st, map_name)
            src = regs[3]
            inner = z3.Select(arr, key)
            for i in range(vs):
                _, b = load(lay, st, src, i, 1)
                if b is not None:
                    inner = z3.Store(inner, bv(i), z3.Extract(7, 0, b.v))
            st.maps[map_name] = z3.Store(arr, key, inner)
    if hid == 3:
        key = _key(lay, st, map_name, regs[2])
        if key is not None and not lay.is_array(map_name):
            pres = st.present.get(map_name, lay.present_in[map_name])
            st.present[map_name] = z3.Store(pres, key, z3.BoolVal(False))
    if proto.ret is Ret.VOID:
        return bad, [(st, None, grown)]
    if proto.ret is not Ret.INTEGER:  # helper_unmodelled let no other kind through
        return bad + [(T, f"not modelled: return kind {proto.ret.name}")], []
    value = refined_return(proto, regs, fresh)
    if hid == 7:
        value = z3.ZeroExt(32, z3.Extract(31, 0, fresh))
    eng.helper_vars[(pc, n)] = value
    return bad, [(st, S(value), grown)]


def _kind(r) -> str:
    return "scalar" if isinstance(r, S) else r.r.kind


def _invalidate_packet(st: State, tag: str):
    """clear_all_pkt_pointers: every packet pointer of every frame (registers and spills)
    becomes an unknown scalar; the packet gets new bytes and a new length (returned: the
    guard bounding it)."""
    for f in st.frames:
        f.regs = [S(z3.BitVec(f"stale_{tag}_r{i}", 64)) if _is_pkt(v) else v
                  for i, v in enumerate(f.regs)]
        f.spills = {o: S(z3.BitVec(f"stale_{tag}_s{o}", 64)) if _is_pkt(v) else v
                    for o, v in f.spills.items()}
    st.pkt = z3.Array(f"pkt_{tag}", BV64, BYTE)
    st.plen = z3.BitVec(f"pkt_len_{tag}", 64)
    return z3.ULE(st.plen, bv(MAX_PACKET))


def _is_pkt(v) -> bool:
    return isinstance(v, P) and v.r.kind in ("packet", "pkt_end")


def _key(lay, st, name, ptr):
    """The key's value, or None (not a small scalar; or a prefix-matching map, whose
    contents are not tracked key by key: a fresh key stands for any element)."""
    m = lay.maps[name]
    if not keys_exact(m.type):
        return None
    _, v = load(lay, st, ptr, 0, m.key_size) if m.key_size in (1, 2, 4, 8) else (None, None)
    if v is None or not isinstance(v, S):
        return None
    return z3.Extract(8 * m.key_size - 1, 0, v.v)


def _lookup(lay, st, name, ptr, gen: int = 0):
    """map_lookup_elem: split into the NULL and the value-pointer outcomes (``gen``: the
    pointer's lookup, for a map whose value holds a lock: model.symbolic.locks)."""
    m = lay.maps[name]
    key = _key(lay, st, name, ptr)
    if key is None:
        key = z3.FreshConst(z3.BitVecSort(8 * m.key_size), "key")
    lay.lookups.append((name, key))
    if lay.is_array(name):
        ok = lay.in_range(name, key)
        # an array made with BPF_F_INNER_MAP: the kernel keeps the NULL for any key
        null = z3.Not(ok) if m.origin == "data" or can_elide_null(m.type, m.map_flags) \
            else z3.BoolVal(True)
    else:
        ok = z3.Select(st.present.get(name, lay.present_in[name]), key)
        null = z3.Not(ok)
    hit = st.copy()
    kind = SOCKET_LOOKUP_MAP_TYPES.get(map_type_name(m.type))
    if kind is not None:  # a socket holding no reference (an xskmap's: model.symbolic.sockets)
        return [(st, S(bv(0)), null), (hit, sockets.in_map(lay, kind), ok)]
    return [(st, S(bv(0)), null), (hit, P(Region("map", name, gen=gen), bv(0), key), ok)]


__all__ = ["check_region", "load", "store", "call_helper", "in_bounds", "map_array",
           "moved_ctx", "CTX_VARIABLE"]
