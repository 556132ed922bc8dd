"""Calls in the abstract verifier: helper calls checked against their prototypes
(``model.platform.prototypes``), and bpf-to-bpf calls with their own frames.
"""

from __future__ import annotations

from model.platform.callbacks import FOR_EACH_MAP_TYPES, callback_ret_message
from model.platform.helpers import helper_name
from model.platform.map_helpers import (MAP_TYPES, access_type_check, is_array_type, map_helper_check,
                                        map_helper_unmodelled, map_write_check)
from model.platform.prototypes import (Arg, ArgFlag, Ret, helper_check, helper_proto,
                                       helper_unmodelled, packet_arg_check,
                                       subprog_helper_check)
from model.verifier.memcheck import (Reject, access, check_bounds, check_ptr_alignment,
                                     constant_map_key, mark_written, stack_bounds)
from model.verifier.regs import NOT_INIT, PACKET, Reg, T, pointer, unknown
from model.verifier.state import Frame, State

MAX_CALL_FRAMES = 8
FOR_EACH_TYPE_IDS = frozenset(i for i, n in MAP_TYPES.items() if n in FOR_EACH_MAP_TYPES)
GPL_COMPATIBLE = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                  "Dual MPL/GPL"}
MAX_HELPER_MEM = 1 << 29
#: the register types a memory argument may have (the kernel's mem_types, as it logs them)
MEM_ARG_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"


def call_helper(st: State, obj, prog, ptype: str, hid: int, ids) -> int | None:
    """Check a helper call and apply its effect on ``st``; the entry pc of the callback it
    calls (``ARG_PTR_TO_FUNC``), or None."""
    name = helper_name(hid) or "unknown"
    why = (helper_check(ptype, hid, gpl=obj.license in GPL_COMPATIBLE)
           or helper_unmodelled(ptype, hid))
    if why is not None:
        raise Reject(why)
    proto = helper_proto(ptype, hid)
    why = subprog_helper_check(hid, len(st.frames) > 1)
    if why is not None:
        raise Reject(why)
    regs = st.cur.regs
    map_name = callback = None
    args = list(proto.args)
    for i, arg in enumerate(args):
        regno = i + 1
        r = regs[regno]
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
        if r.type in PACKET and base in (Arg.PTR_TO_MEM, Arg.PTR_TO_MAP_KEY,
                                         Arg.PTR_TO_MAP_VALUE):
            why = packet_arg_check(proto)
            if why is not None:
                raise Reject(why)
        if base is Arg.CONST_MAP_PTR:
            if r.type is not T.MAP_PTR:
                raise Reject(f"R{regno} type={r.type.value} expected=map_ptr")
            map_name = r.map
        elif base in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
            if map_name is None:
                raise Reject("invalid map_ptr to access map->key")
            m = obj.maps[map_name]
            size = m.key_size if base is Arg.PTR_TO_MAP_KEY else m.value_size
            _mem_arg(st, obj, ptype, regno, r, size, write=arg.writes_mem)
        elif arg.is_fixed_mem:
            _mem_arg(st, obj, ptype, regno, r, arg.size, write=arg.writes_mem,
                     kernel_write=bool(arg.flags & ArgFlag.MEM_WRITE))
            if arg.flags & ArgFlag.MEM_ALIGNED:
                check_ptr_alignment(r, 0, arg.size, True)
        elif base is Arg.PTR_TO_MEM:
            size_reg = regs[regno + 1] if regno < 5 else None
            size = _size_arg(regno + 1, size_reg, args[i + 1] if i + 1 < len(args) else None)
            _mem_arg(st, obj, ptype, regno, r, size, write=arg.writes_mem,  # size 0 too
                     kernel_write=bool(arg.flags & ArgFlag.MEM_WRITE))
        elif base in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO,
                      Arg.CONST_ALLOC_SIZE_OR_ZERO):
            if r.type is not T.SCALAR:
                raise Reject(f"R{regno} type={r.type.value} expected=scalar")
        elif base is Arg.PTR_TO_FUNC:
            if r.type is not T.FUNC:
                raise Reject(f"R{regno} type={r.type.value} expected=func")
            callback = r.off
        elif base is Arg.PTR_TO_STACK:  # any offset, even a variable one
            if r.type is not T.STACK:
                raise Reject(f"R{regno} type={r.type.value} expected=fp")
        elif base is Arg.PTR_TO_CTX:
            if r.type is not T.CTX:
                raise Reject(f"R{regno} type={r.type.value} expected=ctx")
            if r.off:
                raise Reject(f"dereference of modified ctx ptr R{regno} off={r.off} disallowed")
            if not r.var.is_const() or r.var.const_value():
                raise Reject(f"variable ctx access var_off=({r.var.var_off.value:#x}; "
                             f"{r.var.var_off.mask:#x}) disallowed")
        else:  # helper_unmodelled let no other kind through
            raise Reject(f"not modelled: argument kind {arg} of helper {name}")
    if map_name is not None:
        _map_rules(obj.maps[map_name], hid, ptype)
    ret = _return(st, obj, proto, map_name, ids)
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = ret
    if proto.changes_pkt_data:
        invalidate_packet_pointers(st)
    return callback


def _map_rules(m, hid: int, ptype: str) -> None:
    """record_func_map's and check_map_func_compatibility's map checks, then whether this
    model knows what the call does with a map of this type."""
    why = (map_write_check(m.prog_flags, hid) or map_helper_check(m.type, hid, ptype)
           or map_helper_unmodelled(m.type, hid))
    if why is not None:
        raise Reject(why)


def invalidate_packet_pointers(st: State) -> None:
    """clear_all_pkt_pointers: after a helper that may move or resize the packet, every
    packet pointer (data, meta, end; in registers or spilled, in every frame) becomes an
    unknown scalar (a privileged loader; unprivileged ones get NOT_INIT)."""
    for f, where, r in list(st.all_regs()):
        if r.type in PACKET or r.type is T.PKT_END:
            st.update(f, where, unknown())


def _null_mem_size(regno: int, size: Reg) -> None:
    """A NULL memory argument (ARG_PTR_TO_MEM | PTR_MAYBE_NULL) is fine only with a size
    that is surely 0 (check_mem_size_reg -> check_helper_mem_access on a NULL register)."""
    if size.type is T.SCALAR and size.scalar.umax == 0:
        return
    raise Reject(f"R{regno} type=scalar expected={MEM_ARG_EXPECTED}")


def _size_arg(regno: int, r: Reg | None, arg) -> int:
    """The largest size a size argument may have (0: nothing to check)."""
    if r is None or r.type is not T.SCALAR:
        raise Reject(f"R{regno} type={r.type.value if r else '?'} expected=scalar")
    s = r.scalar
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
             kernel_write: bool = False) -> None:
    """``size`` bytes at the pointer must be accessible (written ones marked, on the stack).
    ``kernel_write``: the argument has MEM_WRITE (the kernel checks it as a write)."""
    if r.type is T.STACK:
        lo, _ = stack_bounds(regno, r, 0, size, kernel_write)
        st.note_depth(next(f for f in st.frames if f.frameno == r.frame), lo)
        if write:
            mark_written(st, r, size)
        return
    if r.type is T.MAP_VALUE:
        m = obj.maps[r.map]
        why = access_type_check(m.prog_flags, write, m.value_size, r.off, size)
        if why is not None:
            raise Reject(why)
        check_bounds(regno, r, 0, size, m.value_size, "map value")
        return
    if r.type in PACKET or r.type is T.MEM:
        access(st, obj.maps, ptype, regno, r, 0, size, write=write and r.type is not T.MEM,
               value=None)
        return
    if r.type is T.MAP_KEY:  # check_helper_mem_access: a key is never written
        if write:
            raise Reject(f"R{regno} cannot write into map_key")
        check_bounds(regno, r, 0, size, obj.maps[r.map].key_size, "map key")
        return
    raise Reject(f"R{regno} type={r.type.value} expected={MEM_ARG_EXPECTED}")


def _return(st: State, obj, proto, map_name: str | None, ids) -> Reg:
    ret = proto.ret
    if ret is Ret.INTEGER:
        return unknown()
    if ret is Ret.VOID:
        return NOT_INIT
    if ret is Ret.PTR_TO_MAP_VALUE_OR_NULL:
        m = obj.maps[map_name]
        if is_array_type(m.type) or m.origin == "data":  # arrays: a constant in-range key is never NULL
            key = constant_map_key(st, st.cur.regs[2], m.key_size)
            if key is not None and key < m.max_entries:
                return pointer(T.MAP_VALUE, map=map_name)
        return pointer(T.MAP_VALUE_OR_NULL, map=map_name, id=ids.new())
    raise Reject(f"not modelled: return kind {ret.name} of helper {proto.kernel_name}")


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
        if src == "scalar":
            regs[i] = unknown()
        elif src.startswith("arg"):
            regs[i] = caller[int(src[3:])]
        else:  # map_key / map_value of the map in the caller's r1
            m = caller[1].map
            if obj.maps[m].type not in FOR_EACH_TYPE_IDS:
                raise Reject(f"not modelled: for_each callbacks over map {m}")
            regs[i] = pointer(T.MAP_KEY if src == "map_key" else T.MAP_VALUE, map=m)
    frameno = len(st.frames)
    regs[10] = Reg(T.STACK, None, off=0, frame=frameno)
    st.frames.append(Frame(regs, {}, callsite, frameno, spec.ret, target))
    st.pc = target


def check_callback_return(r0: Reg, ret: tuple[int, int]) -> None:
    """prepare_func_exit for a callback: r0 must be a scalar in the callback's range."""
    if r0.type is not T.SCALAR:
        raise Reject("R0 not a scalar value")
    s = r0.scalar
    if s.smin_s < ret[0] or s.smax_s > ret[1]:
        raise Reject(callback_ret_message(s.smin_s, s.smax_s, *ret))
