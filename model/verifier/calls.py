"""Calls in the abstract verifier: helper calls checked against their prototypes
(``model.platform.prototypes``), and bpf-to-bpf calls with their own frames.
"""

from __future__ import annotations

from model.platform.callbacks import FOR_EACH_MAP_TYPES, callback_ret_message
from model.platform.helpers import helper_name
from model.platform.map_helpers import (MAP_IN_MAP_IDS, MAP_TYPES, SOCK_MAP_TYPES,
                                        access_type_check, map_type_name,
                                        can_elide_null, entries_at_least, map_helper_check,
                                        map_helper_unmodelled,
                                        resolve_map_arg,
                                        map_write_check)
from model.platform.proto_kinds import BTF_RETS, RET_BTF_PLAIN, RET_BTF_STRUCT
from model.platform.helpers import TAIL_CALL  # noqa: F401 (re-exported)
from model.platform.prototypes import (Arg, ArgFlag, Ret, helper_check,
                                       helper_proto, known_zero_arg, packet_arg_check,
                                       verifier_unmodelled)
from model.verifier.memcheck import (Reject, access, btf_sock_common_arg, buffer_access, check_bounds,
                                     derived, map_prog_flags,
                                     check_ptr_alignment,
                                     constant_map_key, value_fields_check, mark_written,
                                     stack_bounds)
from model.platform.proto_kinds import (ACQUIRES, CASTS, DYNPTR_SLICES, PERCPU_RETS, REF_RETS,
                                        RET_WITHIN_SIZE, UNREF_SOCKS)
from model.platform.tracing_targets import MAX_ERRNO
from model.domains.scalar import Scalar, bounds_sync, replace as with_bounds
from model.semantics.backend import INT
from model.platform.value_fields import spin_lock_off
from model.verifier.dynptr import (callback_dynptr, dynptr_arg, from_mem_check,
                                   helper_mem_check, release_dynptr, slice_reg)
from model.verifier.kptrs import kptr_xchg
from model.verifier.locks import calls_while_locked, check_rcu_unlocked, spin_lock_arg
from model.verifier.refs import acquire, cast, check_leaks, ref_arg, release, release_arg
from model.verifier.regs import (BUFFERS, NOT_INIT, PACKET, SIZED_MEM, Reg, T, known, pointer,
                                 replace, scalar, type_str, unknown)
from model.verifier.state import DynSlot, Frame, State
from model.verifier.const_str import const_str_arg, snprintf_check
from model.verifier.timers import btf_arg, callback_reg, timer_arg, timer_map_arg
from model.verifier.percpu import percpu_arg, percpu_return

MAX_CALL_FRAMES = 8
FOR_EACH_TYPE_IDS = frozenset(i for i, n in MAP_TYPES.items() if n in FOR_EACH_MAP_TYPES)
GPL_COMPATIBLE = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                  "Dual MPL/GPL"}
MAX_HELPER_MEM = 1 << 29
#: the register types a memory argument may have (the kernel's mem_types, as it logs them)
MEM_ARG_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"


def _allowed(ptype: str, hid: int, gpl: bool, attach_type: int, section: str):
    """(why the call is refused or not modelled, or None; the prototype): a pure function
    of the platform tables, looked up once per (program type, helper, license, attach,
    section)."""
    key = (ptype, hid, gpl, attach_type, section)
    got = _ALLOWED.get(key)
    if got is None:
        why = (helper_check(ptype, hid, gpl=gpl, attach_type=attach_type, section=section)
               or verifier_unmodelled(ptype, hid))
        got = _ALLOWED[key] = (why, helper_proto(ptype, hid) if why is None else None)
    return got


_ALLOWED: dict = {}


def _attach_type(prog) -> int:
    """``prog.attach_type`` (it parses the section name)."""
    return derived(_ATTACH, (prog.section, prog.type_override), prog, "attach_type")


_ATTACH: dict[tuple, int] = {}


def call_helper(st: State, obj, prog, ptype: str, hid: int, ids) -> int | None:
    """Check a helper call and apply its effect on ``st``; the entry pc of the callback it
    calls (``ARG_PTR_TO_FUNC``), or None."""
    name = helper_name(hid) or "unknown"
    calls_while_locked(st, hid)
    why, proto = _allowed(ptype, hid, obj.license in GPL_COMPATIBLE, _attach_type(prog),
                          prog.section)
    if why is not None:
        raise Reject(why)
    regs = st.cur.regs
    if proto.name == "kptr_xchg":  # model.verifier.kptrs
        regs[0] = kptr_xchg(st, obj.maps, st.pc, ids)
        for k in range(1, 6):
            regs[k] = NOT_INIT
        return None
    map_name: str | None = None
    callback: int | None = None
    timer_map = None
    released: int | None = None
    alloc_size: int | None = None
    msize: int | None = None
    sock: Reg | None = None
    dynptr: DynSlot | None = None
    released_dynptr: Reg | None = None
    const_str: bytes | None = None
    percpu: Reg | None = None
    args = list(proto.args)
    for i, arg in enumerate(args):
        regno = i + 1
        r = regs[regno]
        if map_name is not None:
            arg = resolve_map_arg(obj.maps[map_name].type, arg)
        base = arg.base
        if base is Arg.DONTCARE:
            continue
        if r.type is T.NOT_INIT:
            raise Reject(f"R{regno} !read_ok")
        if base is Arg.ANYTHING:
            continue
        if arg.maybe_null and r.const() == 0:
            if arg.is_mem:
                _null_mem_size(regno, regs[regno + 1])
            continue
        if ((r.type is T.RDONLY_BUF or r.type is T.MEM and r.read_only)
                and not arg.flags & ArgFlag.MEM_RDONLY
                and base in (Arg.PTR_TO_MEM, Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE)):
            # check_reg_type: read-only memory only for a MEM_RDONLY argument (not a map
            # key: an iterator copies its element's key to the stack first)
            raise Reject(f"R{regno} type={type_str(r)} expected={MEM_ARG_EXPECTED}")
        if (r.type is T.BTF_ID and r.trust == "trusted" and not r.tag
                and not arg.flags & ArgFlag.MEM_RDONLY
                and base in (Arg.PTR_TO_MEM, Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE)):
            # check_reg_type: a trusted typed pointer is memory (mem_types) for reading only
            raise Reject(f"{proto.kernel_name}() may write into memory pointed by R{regno} "
                         f"type={type_str(r)}")
        if r.type in PACKET and base in (Arg.PTR_TO_MEM, Arg.PTR_TO_MAP_KEY,
                                         Arg.PTR_TO_MAP_VALUE):
            why = packet_arg_check(proto, ptype)
            if why is not None:
                raise Reject(why)
        if base is Arg.PTR_TO_DYNPTR:
            dynptr = dynptr_arg(st, regno, r, arg, st.pc, ids)
            if arg.flags & ArgFlag.OBJ_RELEASE:
                released_dynptr = r
        elif arg.flags & ArgFlag.OBJ_RELEASE:
            released = release_arg(regno, r, base)
        elif base is Arg.PTR_TO_SPIN_LOCK:
            spin_lock_arg(st, obj.maps, regno, r, hid)
        elif base is Arg.PTR_TO_BTF_ID_SOCK_COMMON and r.type in (T.BTF_ID, T.BTF_ID_OR_NULL):
            btf_sock_common_arg(regno, r, arg.maybe_null)
            sock = r
        elif base is Arg.PTR_TO_TIMER:
            timer_map = timer_arg(obj.maps, regno, r)
        elif base is Arg.PTR_TO_CONST_STR:  # proto_kinds.CONST_STR_HELPERS only
            const_str = const_str_arg(obj.maps, regno, r)
        elif base is Arg.PTR_TO_PERCPU_BTF_ID:  # model.verifier.percpu
            percpu = percpu_arg(regno, r)
        elif base is Arg.PTR_TO_BTF_ID:  # proto_kinds.ARG_BTF_STRUCT's helpers only
            btf_arg(proto.name, regno, r, arg.maybe_null)
        elif base is Arg.PTR_TO_SOCKET:  # sk_lookup's bpf_sk_assign (NULL handled above)
            if r.type not in (T.SOCKET, T.SOCKET_OR_NULL if arg.maybe_null else T.SOCKET):
                raise Reject(f"R{regno} type={type_str(r)} expected=sock")
        elif base in (Arg.PTR_TO_BTF_ID_SOCK_COMMON, Arg.PTR_TO_SOCK_COMMON):
            ref_arg(regno, r, base)  # a socket, unmoved (no arithmetic on one)
            sock = r
        elif base is Arg.CONST_MAP_PTR:
            if r.type is not T.MAP_PTR:
                raise Reject(f"R{regno} type={type_str(r)} expected=map_ptr")
            timer_map_arg(timer_map, regno, r)
            map_name = r.map
        elif base in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
            if map_name is None:
                raise Reject("invalid map_ptr to access map->key")
            m = obj.maps[map_name]
            size = m.key_size if base is Arg.PTR_TO_MAP_KEY else m.value_size
            _mem_arg(st, obj, ptype, regno, r, size, write=arg.writes_mem,
                     raw=bool(arg.flags & ArgFlag.MEM_UNINIT))
        elif arg.is_fixed_mem:
            _mem_arg(st, obj, ptype, regno, r, arg.size, write=arg.writes_mem,
                     kernel_write=bool(arg.flags & ArgFlag.MEM_WRITE),
                     raw=bool(arg.flags & ArgFlag.MEM_UNINIT))
            if arg.flags & ArgFlag.MEM_ALIGNED:
                check_ptr_alignment(r, 0, arg.size, True)
        elif base is Arg.PTR_TO_MEM:
            size_reg = regs[regno + 1] if regno < 5 else None
            size = _size_arg(regno + 1, size_reg, args[i + 1] if i + 1 < len(args) else None)
            _mem_arg(st, obj, ptype, regno, r, size, write=arg.writes_mem,  # size 0 too
                     kernel_write=bool(arg.flags & ArgFlag.MEM_WRITE),
                     raw=bool(arg.flags & ArgFlag.MEM_UNINIT))
        elif base in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO,
                      Arg.CONST_ALLOC_SIZE_OR_ZERO):
            if r.type is not T.SCALAR:
                raise Reject(f"R{regno} type={type_str(r)} expected=scalar")
            msize = r.var.umax  # check_mem_size_reg's meta->msize_max_value
            if base is Arg.CONST_ALLOC_SIZE_OR_ZERO:
                alloc_size = r.const()
                if alloc_size is None:
                    raise Reject(f"R{regno} is not a known constant'")
        elif base is Arg.PTR_TO_FUNC:
            if r.type is not T.FUNC:
                raise Reject(f"R{regno} type={type_str(r)} expected=func")
            callback = r.off
        elif base is Arg.PTR_TO_STACK:  # any offset, even a variable one
            if r.type is not T.STACK:
                raise Reject(f"R{regno} type={type_str(r)} expected=fp")
        elif base is Arg.PTR_TO_CTX:
            if r.type is not T.CTX:
                raise Reject(f"R{regno} type={type_str(r)} expected=ctx")
            unmoved_ctx(regno, r)
        else:  # helper_unmodelled let no other kind through
            raise Reject(f"not modelled: argument kind {arg} of helper {name}")
    if st.rcu and proto.might_sleep:
        raise Reject(f"sleepable helper {proto.kernel_name}#{hid} in rcu_read_lock region")
    if proto.name == "snprintf":  # check_bpf_snprintf_call
        assert const_str is not None  # its format argument is a PTR_TO_CONST_STR
        snprintf_check(const_str, regs[5])
    zero = known_zero_arg(hid)
    if zero is not None and regs[zero[0] + 1].const() != 0:
        raise Reject(zero[1])
    if map_name is not None:
        _map_rules(obj.maps, map_name, hid, ptype)
    if released is not None:
        release(st, released, f"{proto.kernel_name}#{hid}")
    if released_dynptr is not None:
        release_dynptr(st, released_dynptr, f"{proto.kernel_name}#{hid}")
    if proto.name == "dynptr_from_mem":
        from_mem_check(regs[1])
    if proto.name == "tail_call":
        check_leaks(st, "tail_call")
        check_rcu_unlocked(st, "tail_call")
    if proto.ret in REF_RETS and proto.name in ACQUIRES:
        ret = acquire(st, proto.ret, st.pc, ids, alloc_size or 0)
    elif proto.ret in REF_RETS and proto.name in CASTS:
        assert sock is not None  # (a socket argument: set above)
        ret = cast(proto.ret, sock, ids)
    elif proto.ret in REF_RETS and proto.name in UNREF_SOCKS:  # NULL until checked, no ref
        ret = pointer(T.SOCKET_OR_NULL, id=ids.new())
    elif proto.name in DYNPTR_SLICES:
        assert dynptr is not None  # (a dynptr argument: set above)
        ret = slice_reg(dynptr, alloc_size or 0, ids)
    elif proto.ret in PERCPU_RETS:
        assert percpu is not None  # (a per-cpu argument: set above)
        ret = percpu_return(percpu, proto.ret is Ret.PTR_TO_MEM_OR_BTF_ID_OR_NULL, ids)
    else:
        ret = _return(st, obj, proto, map_name, ids)
        if proto.name in RET_WITHIN_SIZE and msize is not None:
            ret = scalar(within_size(msize))
        if proto.name in CASTS:  # bpf_skc_to_*: the typed pointer holds the socket's ref
            assert sock is not None
            ret = replace(ret, ref=sock.ref)
    for k in range(1, 6):
        regs[k] = NOT_INIT
    regs[0] = ret
    if proto.changes_pkt_data or proto.name == "dynptr_write" and dynptr is not None \
            and dynptr.type == "skb":  # writing an skb dynptr may move its data
        invalidate_packet_pointers(st)
    return callback


def within_size(msize: int) -> Scalar:
    """do_refine_retval_range for ``RET_WITHIN_SIZE`` helpers: r0 in [-MAX_ERRNO, msize]
    as 64- and 32-bit signed bounds (the others unbounded), then reg_bounds_sync."""
    s = with_bounds(Scalar.unknown(), smin=-MAX_ERRNO & (2**64 - 1), smax=msize,
                    s32_min=-MAX_ERRNO & (2**32 - 1), s32_max=msize)
    return bounds_sync(INT, s)


def unmoved_ctx(regno: int, r: Reg) -> None:
    """check_func_arg_reg_off for a context argument: neither a fixed nor a variable
    offset."""
    if r.off:
        raise Reject(f"dereference of modified ctx ptr R{regno} off={r.off} disallowed")
    if not r.var.is_const() or r.var.const_value():
        raise Reject(f"variable ctx access var_off=({r.var.var_off.value:#x}; "
                     f"{r.var.var_off.mask:#x}) disallowed")


def _map_rules(maps, name: str, hid: int, ptype: str) -> None:
    """record_func_map's and check_map_func_compatibility's map checks, then whether this
    model knows what the call does with a map of this type."""
    m = maps[name]
    why = (map_write_check(map_prog_flags(m), hid) or map_helper_check(m.type, hid, ptype)
           or map_helper_unmodelled(m.type, hid, map_in_map=True, refs=True))
    if why is None and m.type in MAP_IN_MAP_IDS and m.inner not in maps:
        why = f"not modelled: map-in-map {name} without an inner map template"
    if why is not None:
        raise Reject(why)


#: the ``tag`` of a slice of an skb or xdp dynptr (model.verifier.dynptr_kfuncs)
PKT_SLICE = "pkt"


def invalidate_packet_pointers(st: State) -> None:
    """clear_all_pkt_pointers: after a helper that may move or resize the packet, every
    packet pointer (data, meta, end; in registers or spilled, in every frame) and every
    slice of an skb/xdp dynptr becomes an unknown scalar (a privileged loader;
    unprivileged ones get NOT_INIT)."""
    for f, where, r in list(st.all_regs()):
        if r.type in PACKET or r.type is T.PKT_END or r.tag == PKT_SLICE:
            st.update(f, where, unknown())


def _null_mem_size(regno: int, size: Reg) -> None:
    """A NULL memory argument (ARG_PTR_TO_MEM | PTR_MAYBE_NULL) is fine only with a size
    that is surely 0 (check_mem_size_reg -> check_helper_mem_access on a NULL register)."""
    if size.type is T.SCALAR and size.var.umax == 0:
        return
    raise Reject(f"R{regno} type=scalar expected=fp")  # check_helper_mem_access's default


def _size_arg(regno: int, r: Reg | None, arg) -> int:
    """The largest size a size argument may have (0: nothing to check)."""
    if r is None or r.type is not T.SCALAR:
        raise Reject(f"R{regno} type={type_str(r) if r else '?'} expected=scalar")
    s = r.var  # (a scalar's value: never None)
    if s.smin_s < 0:
        raise Reject(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
    zero_ok = arg is not None and arg.base is not Arg.CONST_SIZE
    if s.umin == 0 and not zero_ok:
        raise Reject(f"R{regno} invalid zero-sized read: u64=[{s.umin},{s.umax}]")
    if s.umax >= MAX_HELPER_MEM:
        raise Reject(f"R{regno} unbounded memory access, use 'var &= const' or "
                     "'if (var < const)'")
    return s.umax


def _mem_arg(st: State, obj, ptype: str, regno: int, r: Reg, size: int, write: bool,
             kernel_write: bool = False, raw: bool = False) -> None:
    """``size`` bytes at the pointer must be accessible (written ones marked, on the stack).
    ``kernel_write``: the argument has MEM_WRITE (the kernel checks it as a write);
    ``raw``: MEM_UNINIT (the helper only writes it: the kernel's raw_mode)."""
    if r.type is T.STACK:
        lo, hi = stack_bounds(regno, r, 0, size, kernel_write)
        frame = next(f for f in st.frames if f.frameno == r.frame)
        st.note_depth(frame, lo)
        helper_mem_check(frame, regno, r, lo, hi, size, raw)
        if write:
            mark_written(st, r, size)
        return
    if r.type is T.MAP_VALUE:
        m = obj.maps[r.map]
        why = access_type_check(map_prog_flags(m), write, m.value_size, r.off, size)
        if why is not None:
            raise Reject(why)
        check_bounds(regno, r, 0, size, m.value_size, "map value")
        value_fields_check(m, r, 0, size, direct=False)
        return
    if r.type in PACKET or r.type in SIZED_MEM:
        access(st, obj.maps, ptype, regno, r, 0, size,
               write=write and r.type not in SIZED_MEM, value=None)
        return
    if r.type in BUFFERS:  # check_helper_mem_access: an iterator's map key / value (a
        # read-only key only for a MEM_RDONLY argument: checked with the argument's kind)
        buffer_access(regno, r, 0, size, "rdonly" if r.type is T.RDONLY_BUF else "rdwr")
        return
    if r.type is T.MAP_KEY:  # check_helper_mem_access: a key is never written
        if write:
            raise Reject(f"R{regno} cannot write into map_key")
        check_bounds(regno, r, 0, size, obj.maps[r.map].key_size, "map key")
        return
    raise Reject(f"R{regno} type={type_str(r)} expected={MEM_ARG_EXPECTED}")


def _return(st: State, obj, proto, map_name: str | None, ids) -> Reg:
    ret = proto.ret
    if ret is Ret.INTEGER:
        return unknown()
    if ret is Ret.VOID:
        return NOT_INIT
    if ret is Ret.PTR_TO_MAP_VALUE:  # bpf_get_local_storage: the storage, never NULL
        lock_id = ids.new() if spin_lock_off(obj.maps[map_name].fields) is not None else 0
        return pointer(T.MAP_VALUE, map=map_name, id=lock_id)
    if ret is Ret.PTR_TO_MAP_VALUE_OR_NULL:
        m = obj.maps[map_name]
        if map_type_name(m.type) in SOCK_MAP_TYPES:  # a socket (once checked), referenced
            return replace(acquire(st, Ret.PTR_TO_SOCKET_OR_NULL, st.pc, ids),
                           type=T.MAP_VALUE_OR_NULL, map=map_name)
        # a constant key in range (bpf_map_lookup_elem only: a percpu_elem lookup is NULL
        # for a CPU >= nr_cpu_ids whatever the key)
        if proto.name == "map_lookup_elem" and (can_elide_null(m.type, m.map_flags)
                                                or m.origin == "data"):
            key = constant_map_key(st, st.cur.regs[2], m.key_size)
            if key is not None and key < entries_at_least(m.type, m.max_entries):
                # a value with a spin lock gets an id all the same: the lock's identity
                lock_id = ids.new() if spin_lock_off(m.fields) is not None else 0
                return pointer(T.MAP_VALUE, map=map_name, id=lock_id)
        return pointer(T.MAP_VALUE_OR_NULL, map=map_name, id=ids.new())
    if ret in BTF_RETS and proto.name in RET_BTF_STRUCT:
        from model.platform.tracing_targets import vmlinux_btf

        from model.elf.btf import STRUCT
        t = vmlinux_btf().find(RET_BTF_STRUCT[proto.name], STRUCT)
        if t is None:
            raise Reject(f"not modelled: {proto.kernel_name} without struct "
                         f"{RET_BTF_STRUCT[proto.name]} in vmlinux BTF")
        trust = "" if proto.name in RET_BTF_PLAIN else "trusted"
        if ret is Ret.PTR_TO_BTF_ID_OR_NULL:  # an id: a NULL check marks every copy
            return pointer(T.BTF_ID_OR_NULL, btf_id=t.id, trust=trust, id=ids.new())
        return pointer(T.BTF_ID, btf_id=t.id, trust=trust)
    raise Reject(f"not modelled: return kind {ret.name} of helper {proto.kernel_name}")


def tail_call_return(st: State) -> State | None:
    """After ``bpf_tail_call`` (checked by call_helper) in a subprogram, the kernel goes on
    (the tail call failed) and also verifies the subprogram returning to its caller (it
    succeeded: the tail-called program's R0, unknown; any packet pointer invalid). That
    returning state, or None in the main program (a successful tail call ends it)."""
    if len(st.frames) == 1:
        return None
    out = st.copy()
    invalidate_packet_pointers(out)
    out.cur.regs[0] = unknown()
    leave_subprog(out)
    return out


def ld_abs_return(st: State) -> State | None:
    """After ``LD_ABS``/``LD_IND`` in a subprogram the kernel also verifies the hidden exit
    a failed load takes (``bpf_gen_ld_abs``: ``r0 = 0; exit``, check_ld_abs): the
    subprogram returning 0 to its caller. That returning state, or None in the main
    program (there the exit ends the program with 0)."""
    if len(st.frames) == 1:
        return None
    out = st.copy()
    out.cur.regs[0] = known(0)
    leave_subprog(out)
    return out


# -- bpf-to-bpf calls ----------------------------------------------------------------------
def enter_subprog(st: State, pc: int, target: int) -> bool:
    if len(st.frames) >= MAX_CALL_FRAMES:
        return False
    caller = st.cur
    regs = [NOT_INIT] * 11
    for r in range(1, 6):
        regs[r] = caller.regs[r]
    frameno = len(st.frames)
    regs[10] = Reg(T.STACK, None, off=0, frame=frameno)
    st.frames.append(Frame(regs, {}, pc, frameno))
    st.pc = target
    return True


def leave_subprog(st: State) -> None:
    callee = st.frames.pop()
    if callee.cb_ret is not None:
        # back to the helper call: another iteration, or none (the caller's registers are
        # still those of the call)
        st.pc = callee.callsite
        st.from_callback = True
        return
    caller = st.cur
    caller.regs[0] = callee.regs[0]
    for r in range(1, 6):
        caller.regs[r] = NOT_INIT
    st.pc = callee.callsite + 1


# -- callbacks (model.platform.callbacks) ----------------------------------------------------
def enter_callback(st: State, obj, callsite: int, target: int, spec) -> None:
    """push_callback_call: ``st`` (the state at the helper call, before its effect) enters
    the callback at ``target`` in a new frame set up as ``spec`` says."""
    if len(st.frames) >= MAX_CALL_FRAMES:
        raise Reject(f"the call stack of {len(st.frames) + 1} frames is too deep")
    caller = st.cur.regs
    regs = [NOT_INIT] * 11
    for i, src in enumerate(spec.regs, start=1):
        regs[i] = callback_reg(src, caller, obj.maps, FOR_EACH_TYPE_IDS)
    frameno = len(st.frames)
    regs[10] = Reg(T.STACK, None, off=0, frame=frameno)
    st.frames.append(Frame(regs, {}, callsite, frameno, spec.ret, target))
    st.pc = target


def check_callback_return(r0: Reg, ret: tuple[int, int], is_async: bool = False) -> None:
    """prepare_func_exit for a callback: r0 must be a scalar in the callback's range; an
    async callback's exit (check_return_code, "At async callback return")."""
    if r0.type is not T.SCALAR:
        raise Reject("At async callback return the register R0 is not a known value "
                     f"({r0.type.value})" if is_async else "R0 not a scalar value")
    s = r0.var  # (a scalar's value: never None)
    if s.smin_s < ret[0] or s.smax_s > ret[1]:
        raise Reject(callback_ret_message(s.smin_s, s.smax_s, *ret,
                                          "async callback" if is_async else "callback"))
