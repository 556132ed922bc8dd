"""Checking one memory access through an abstract pointer, per region kind, with the kernel
verifier's messages; reads return the abstract value loaded, writes update the stack.

Failures raise ``Reject(message)``.
"""

from __future__ import annotations

from typing import Final

from model.platform import btf_access as BA
from model.platform.ctx_layouts import ctx_access, moved_ctx_reason, unmodelled_yield
from model.platform.ctx_skb_types import FLOW_KEYS_SIZE
from model.platform.map_fields import MapFieldError, map_field_read
from model.platform.map_helpers import access_type_check
from model.domains import Scalar
from model.domains.scalar import bounds_sync, replace
from model.semantics.backend import INT, to_signed
from model.platform.value_fields import field_access_error
from model.platform.sock_fields import sock_access
from model.verifier.regs import (BUFFERS, PACKET, SIZED_MEM, SOCKETS, Reg, T, is_pointer, known,
                                 pointer, type_str, unknown, var_of)
from model.verifier.state import EMPTY, INVALID, MISC, SPILL, ZERO, Frame, Slot, State, slot

MAX_VAR_OFF: Final = 1 << 29  # BPF_MAX_VAR_OFF
PKT_WRITE_TYPES = {"xdp", "sched_cls", "sched_act", "lwt_xmit", "sk_skb", "sk_msg",
                   "cgroup_sockopt"}
STACK_SIZE: Final = 512


class Reject(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _outside(what: str, limit: int, off: int, size: int) -> str:
    """__check_mem_access's message for ``what`` ("map value" or "memory")."""
    if what == "map value":
        return f"invalid access to map value, value_size={limit} off={off} size={size}"
    if what == "map key":
        return f"invalid access to map key, key_size={limit} off={off} size={size}"
    return f"invalid access to memory, mem_size={limit} off={off} size={size}"


def check_bounds(regno: int, reg: Reg, off: int, size: int, limit: int, what: str) -> None:
    """``reg + off .. + size`` within ``[0, limit)`` for every value of reg's variable part
    (the kernel's check_mem_region_access, with __check_mem_access's line before its own)."""
    var = var_of(reg)
    smin, umax = var.smin_s, var.umax
    off = reg.off + off
    lo = off + smin
    if smin < 0 and (smin == -(1 << 63) or lo != to_signed(lo, 32) or lo < 0):
        raise Reject(f"R{regno} min value is negative, either use unsigned index or do a "
                     "if (index >=0) check.")
    if lo < 0 or lo + size > limit:
        raise Reject(f"{_outside(what, limit, lo, size)}\n"
                     f"R{regno} min value is outside of the allowed memory range")
    if umax >= MAX_VAR_OFF:
        raise Reject(f"R{regno} unbounded memory access, make sure to bounds check any such "
                     "access")
    if off + umax + size > limit:
        raise Reject(f"{_outside(what, limit, off + umax, size)}\n"
                     f"R{regno} max value is outside of the allowed memory range")


def access(st: State | None, maps, prog_type: str, regno: int, reg: Reg, off: int, size: int,
           write: bool, value: Reg | None = None, strict: bool = False,
           signed: bool = False, attach_type: int = 0, target=None,
           gpl: bool = True, in_rcu: bool = True) -> Reg | None:
    """Check the access; for a read return the loaded register (not yet extended).
    ``strict``: the program was loaded with strict alignment (see check_ptr_alignment);
    ``signed``: a sign-extending load; ``attach_type``: the program's expected attach type
    (the context of some types depends on it: xdp/devmap's egress_ifindex); ``target``:
    a BTF-typed program's attach target (model.platform.tracing_targets), its context.
    A maybe-NULL pointer read is returned with id 0: the caller gives it a fresh id.
    ``gpl``: the program's license is GPL-compatible (kernel structs need it);
    ``in_rcu``: inside an RCU read section (the kernel's in_rcu_cs: a non-sleepable
    program, a bpf_rcu_read_lock section or a spin lock)."""
    t = reg.type
    if t is not T.STACK:  # the stack's (always strict) check comes with its frame's
        check_ptr_alignment(reg, off, size, strict)
    if t is T.STACK:
        if st is None:  # (the Z3 engine checks its non-stack accesses with no state)
            raise TypeError("a stack access is checked with its state")
        return _stack(st, regno, reg, off, size, write, value)
    if t is T.MAP_VALUE:
        m = maps[reg.map]
        why = access_type_check(map_prog_flags(m), write, m.value_size, reg.off + off, size)
        if why is not None:
            raise Reject(why)
        check_bounds(regno, reg, off, size, m.value_size, "map value")
        value_fields_check(m, reg, off, size)
        var = var_of(reg)
        if not write and reg.read_only and var.is_const():
            return _rodata_value(m, reg.off + off + var.var_off.value, size)
        return None if write else unknown()
    if t in SIZED_MEM:
        if write and reg.read_only:  # PTR_TO_MEM | MEM_RDONLY (a kernel symbol's memory)
            raise Reject(f"R{regno} cannot write into {type_str(reg)}")
        check_bounds(regno, reg, off, size, reg.range, "memory")
        return None if write else unknown()
    if t in SOCKETS:  # no arithmetic on a socket pointer: the offset is the insn's
        why = sock_access(t.value, regno, reg.off + off, size, write)
        if why is not None:
            raise Reject(why)
        return None if write else unknown()
    if t is T.FLOW_KEYS:  # check_flow_keys_access: inside struct bpf_flow_keys
        o = reg.off + off
        if o < 0 or o + size > FLOW_KEYS_SIZE:
            raise Reject(f"invalid access to flow keys off={o} size={size}")
        return None if write else unknown()
    if t is T.TP_BUFFER:  # check_tp_buffer_access: the upper bound is checked at attach
        buffer_access(regno, reg, off, size, "tracepoint")
        return None if write else unknown()
    if t in BUFFERS:  # check_buffer_access: an iterator's map key / value
        if write and t is T.RDONLY_BUF:
            raise Reject(f"R{regno} cannot write into {t.value}")
        buffer_access(regno, reg, off, size, "rdonly" if t is T.RDONLY_BUF else "rdwr")
        return None if write else unknown()
    if t is T.MAP_KEY:  # a for_each callback's key: read-only
        if write:
            raise Reject(f"write to change key R{regno} not allowed")
        check_bounds(regno, reg, off, size, maps[reg.map].key_size, "map key")
        return unknown()
    if t in PACKET:
        return _packet(prog_type, regno, reg, off, size, write)
    if t is T.CTX and target is not None:
        check_ctx_pointer(regno, reg)
        return typed_reg(BA.ctx_read(_vmlinux(), target, off, size, write))
    if t is T.CTX:
        return _ctx(prog_type, regno, reg, off, size, write, signed, attach_type)
    if t is T.BTF_ID:
        return _btf_id(regno, reg, off, size, write, gpl, in_rcu)
    if t is T.UNTRUSTED_MEM:  # check_mem_access: reads at any offset are probes
        if write:
            raise Reject(f"R{regno} cannot write into rdonly_untrusted_mem")
        return unknown()
    if t is T.MAP_PTR:
        return _map_fields(maps[reg.map], regno, reg.off + off, size, write)
    raise Reject(f"R{regno} invalid mem access '{type_str(reg)}'")


def buffer_access(regno: int, reg: Reg, off: int, size: int, what: str) -> None:
    """__check_buffer_access: a buffer whose size is checked at attach time (a
    tracepoint's, an iterator's map element) is accessed at a constant offset >= 0 (the
    pointer's fixed offset plus ``off``)."""
    o = reg.off + off
    if o < 0:
        raise Reject(f"R{regno} invalid {what} buffer access: off={o}, size={size}")
    var = var_of(reg)
    if not var.is_const() or var.const_value():
        t_ = var.var_off
        raise Reject(f"R{regno} invalid variable buffer offset: off={o}, "
                     f"var_off=({t_.value:#x}; {t_.mask:#x})")


def _vmlinux():
    from model.platform.tracing_targets import vmlinux_btf

    return vmlinux_btf()


def vmlinux_struct_id(name: str | None) -> int:
    """The running kernel's BTF id of struct ``name`` (a helper's or kfunc's argument or
    return type); "not modelled" without it (``NotModelled`` without the kernel's BTF)."""
    from model.elf.btf import STRUCT

    t = None if name is None else _vmlinux().find(name, STRUCT)
    if t is None:
        raise Reject(f"not modelled: struct {name} is not in vmlinux BTF")
    return t.id


def typed_reg(got) -> Reg | None:
    """A register for what a typed read yields (model.platform.btf_access.Typed), or the
    verifier's message raised."""
    if isinstance(got, str):
        raise Reject(got)
    if got.kind == "scalar" and got.s32 is not None:  # __mark_reg_s32_range
        lo, hi = got.s32
        s = replace(Scalar.unknown(), s32_min=lo & 0xFFFFFFFF, s32_max=hi & 0xFFFFFFFF)
        return Reg(T.SCALAR, bounds_sync(INT, s))
    if got.kind == "scalar":
        return unknown()
    if got.kind == "mem_untrusted":  # PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED
        return pointer(T.UNTRUSTED_MEM)
    if got.kind == "buf":  # PTR_TO_BUF | PTR_MAYBE_NULL (| MEM_RDONLY)
        return pointer(T.RDONLY_BUF_OR_NULL if got.trust == "rdonly" else T.BUF_OR_NULL)
    return pointer(T.BTF_ID_OR_NULL if got.maybe_null else T.BTF_ID, btf_id=got.btf_id,
                   trust=got.trust, tag=got.tag)


def _btf_id(regno: int, reg: Reg, off: int, size: int, write: bool,
            gpl: bool, in_rcu: bool = True) -> Reg | None:
    """check_ptr_to_btf_access: a GPL program, a constant offset, then btf_struct_access's
    walk (a referenced pointer is trusted: is_trusted_reg); outside an RCU read section a
    pointer read through a trusted or RCU one is untrusted unless the field is marked
    trusted."""
    why = BA.gpl_check(_vmlinux(), reg.btf_id, gpl)
    if why is not None:
        raise Reject(why)
    var = var_of(reg)
    name = BA.struct_name(_vmlinux(), reg.btf_id)
    if not var.is_const():
        raise Reject(f"R{regno} is ptr_{name} invalid variable offset: off={off}, "
                     f"var_off=({var.var_off.value:#x}; {var.var_off.mask:#x})")
    trust = reg.trust or ("trusted" if reg.ref else "")
    base = BA.Typed("btf_id", reg.btf_id, trust, False, reg.tag)
    got = BA.ptr_access(_vmlinux(), base, regno, reg.off + off + _signed(var.var_off.value),
                        size, write, sleepable=not in_rcu)
    if write and not isinstance(got, str):
        return None
    return typed_reg(got)


def fixed_off_only(reg: Reg, what: str) -> None:
    """check_func_arg_reg_off's rule for a pointer handed to a helper: no variable
    offset ("variable ``what`` access var_off=... disallowed")."""
    var = var_of(reg)
    if not var.is_const() or var.const_value():
        raise Reject(f"variable {what} access var_off=({var.var_off.value:#x}; "
                     f"{var.var_off.mask:#x}) disallowed")


def btf_sock_common_arg(regno: int, reg: Reg, maybe_null: bool) -> None:
    """A PTR_TO_BTF_ID register passed as ARG_PTR_TO_BTF_ID_SOCK_COMMON (``maybe_null``:
    the argument also takes a pointer that may be NULL): check_reg_type's kinds (a plain
    or trusted pointer: not RCU, untrusted, __user or __percpu) and struct rule
    (btf_access.sock_common_arg), then check_func_arg_reg_off (a constant, non-negative
    offset)."""
    what = type_str(reg)
    if (reg.type is T.BTF_ID_OR_NULL and not maybe_null or reg.trust not in ("", "trusted")
            or reg.tag):
        raise Reject(f"R{regno} type={what} expected=sock_common, sock, tcp_sock, xdp_sock, "
                     "ptr_, trusted_ptr_")
    fixed_off_only(reg, what)
    if reg.off < 0:
        raise Reject(f"negative offset {what} ptr R{regno} off={reg.off} disallowed")
    why = BA.sock_common_arg(_vmlinux(), reg.btf_id, regno, reg.off)
    if why is not None:
        raise Reject(why)


def _map_fields(m, regno: int, off: int, size: int, write: bool) -> Reg:
    """check_ptr_to_map_access: a read of a scalar field of the map's kernel structure."""
    try:
        why = map_field_read(m.type, regno, off, size, write)
    except MapFieldError as e:
        raise Reject(str(e)) from None
    if why is not None:
        raise Reject(why)
    return unknown()


def derived(table: dict, key: tuple, obj, prop: str):
    """``getattr(obj, prop)``, a property of ``obj`` that depends on ``key`` alone,
    remembered in ``table`` (the properties of maps and programs are Python code, asked
    at every access or call)."""
    got = table.get(key)
    if got is None:
        if len(table) > 4096:
            table.clear()
        got = table[key] = getattr(obj, prop)
    return got


def map_prog_flags(m) -> int:
    """``m.prog_flags``: the map's flags as the kernel sees them."""
    return derived(_PROG_FLAGS, (m.type, m.map_flags, m.origin, m.name), m, "prog_flags")


_PROG_FLAGS: dict[tuple, int] = {}


def value_fields_check(m, reg: Reg, off: int, size: int, direct: bool = True) -> None:
    """check_map_access: no byte of a special field of the value (a bpf_spin_lock...) may
    be touched, at any of the pointer's offsets; a kptr only by a load or store (``direct``)
    of its 8 bytes at a constant offset (model.verifier.kptrs checks the instruction)."""
    if not m.fields:
        return  # no special field (most maps): nothing to touch
    var = var_of(reg)
    const = reg.off + off + var.var_off.value if var.is_const() else None
    why = field_access_error(m.fields, reg.off + off + var.smin_s, reg.off + off + var.umax,
                             size, const, direct)
    if why is not None:
        raise Reject(why)


def _rodata_value(m, off: int, size: int) -> Reg:
    data = m.initial or b""
    if off + size <= len(data):
        return known(int.from_bytes(data[off:off + size], "little"))
    return unknown()


def _packet(prog_type: str, regno: int, reg: Reg, off: int, size: int, write: bool) -> Reg | None:
    if write and prog_type not in PKT_WRITE_TYPES:
        raise Reject("cannot write into packet")
    if var_of(reg).smin_s < 0:
        raise Reject(f"R{regno} min value is negative, either use unsigned index or do a "
                     "if (index >=0) check.")
    o = reg.off + off
    if o < 0 or o + size > reg.range:
        # the kernel prints the whole offset twice (__check_mem_access)
        raise Reject(f"invalid access to packet, off={o} size={size}, "
                     f"R{regno}(id={reg.id},off={o},r={reg.range})\n"
                     f"R{regno} offset is outside of the packet")
    return None if write else unknown()


def check_ctx_pointer(regno: int, reg: Reg) -> None:
    """The context pointer is only used unmoved (check_ptr_off_reg): no fixed offset, no
    variable part."""
    v = var_of(reg)
    t = v.var_off
    var = None if v.is_const() and v.const_value() == 0 else f"({t.value:#x}; {t.mask:#x})"
    why = moved_ctx_reason(regno, reg.off, var)
    if why:
        raise Reject(why)


def _ctx(prog_type: str, regno: int, reg: Reg, off: int, size: int, write: bool,
         signed: bool = False, attach_type: int = 0) -> Reg | None:
    check_ctx_pointer(regno, reg)
    got = ctx_access(prog_type, off, size, write, signed=signed, attach_type=attach_type)
    if isinstance(got, str):
        raise Reject(got)
    if write:
        return None
    why = unmodelled_yield(got, typed=True)
    if why is not None:
        raise Reject(why)
    kind = getattr(got, "kind", "scalar")
    if kind == "sock_or_null":  # the loading instruction gives it its NULL-check id
        return pointer(T.SOCKET_OR_NULL)
    if kind == "flow_keys":
        return pointer(T.FLOW_KEYS)
    if kind.startswith("trusted_ptr_"):  # netfilter: a trusted pointer to a vmlinux struct
        from model.elf.btf import STRUCT
        name = kind.removeprefix("trusted_ptr_")
        t = _vmlinux().find(name, STRUCT)
        if t is None:
            raise Reject(f"not modelled: struct {name} without vmlinux BTF")
        return pointer(T.BTF_ID, btf_id=t.id, trust="trusted")
    if kind == "tp_buffer":
        return pointer(T.TP_BUFFER)
    if kind == "sock":  # sk_msg_md->sk, sk_reuseport_md->sk, bpf_sock_addr->sk,
        # bpf_sockopt->sk: never NULL, no reference
        return pointer(T.SOCKET)
    if kind == "sock_common_or_null":
        return pointer(T.SOCK_COMMON_OR_NULL)
    if kind == "pkt":
        return pointer(T.PKT)
    if kind == "pkt_end":
        return pointer(T.PKT_END)
    if kind == "pkt_meta":
        return pointer(T.PKT_META)
    return unknown()


# -- the stack -----------------------------------------------------------------------------
def _frame_of(st: State, reg: Reg) -> Frame:
    for f in st.frames:
        if f.frameno == reg.frame:
            return f
    raise Reject(f"stack pointer into frame {reg.frame}, which no longer exists")


def _stack(st: State, regno: int, reg: Reg, off: int, size: int, write: bool,
           value: Reg | None) -> Reg | None:
    frame = _frame_of(st, reg)
    check_stack_alignment(reg, off, size)
    lo, hi = stack_bounds(regno, reg, off, size, write)
    st.note_depth(frame, lo)
    # check_stack_write_fixed_off only: a variable-offset write (check_stack_write_var_off,
    # privileged) of any value, a pointer too, leaves plain bytes (below)
    if write and lo == hi and value is not None and value.type is T.STACK and \
            frame is not st.cur:
        raise Reject("cannot spill pointers to stack into stack frame of the caller")
    _dynptr_bytes(st, frame, regno, lo, hi, size, write)
    if lo != hi:  # variable offset: any byte of the range may be touched
        if write:
            zero = value is not None and value.const() == 0
            for a in range(lo, hi + size):
                if not (zero and _keeps_zero(frame, a)):
                    _set_byte(frame, a, MISC)
            return None
        return unknown()
    if write:
        _stack_write(frame, lo, size, value)
        return None
    return _stack_read(frame, lo, size)


def _dynptr_bytes(st: State, frame: Frame, regno: int, lo: int, hi: int, size: int,
                  write: bool) -> None:
    """A direct access of ``size`` bytes at [lo, hi] that may touch a dynptr: a write
    destroys it first (model.verifier.dynptr.destroy), a read is refused."""
    for k in range((-lo - 1) // 8, (-hi - size) // 8 - 1, -1):  # from the lowest address up
        s = frame.stack.get(k)
        if s is None or s.dynptr is None:
            continue
        from model.verifier import dynptr

        if write:
            dynptr.destroy(st, frame, k)
            continue
        at = max(lo, -8 * (k + 1))
        if lo == hi:
            raise Reject(f"invalid read from stack off {lo}+{at - lo} size {size}")
        raise Reject(f"invalid variable-offset read from stack R{regno} (a dynptr at {at})")


def _keeps_zero(frame: Frame, addr: int) -> bool:
    """check_stack_write_var_off writing zero: a zero byte, or a byte of a spilled scalar
    known to be 0, stays as it is."""
    k, b = _slot_of(addr)
    s = frame.stack.get(k)
    if s is None:
        return False
    if s.kinds[b] == ZERO:
        return True
    return (s.kinds[b] == SPILL and s.spill is not None and s.spill.type is T.SCALAR
            and s.spill.const() == 0)


def stack_bounds(regno: int, reg: Reg, off: int, size: int, write: bool) -> tuple[int, int]:
    """check_stack_access_within_bounds for ``size`` bytes at ``reg + off`` (a direct
    access, or a helper's memory argument): the lowest and highest start offsets, with the
    kernel's messages when some byte may fall outside the frame."""
    var = var_of(reg)
    kind = "write to" if write else "read from"
    if var.is_const():
        lo = hi = reg.off + off + _signed(var.var_off.value)
    else:
        if var.smax_s >= MAX_VAR_OFF or var.smin_s <= -MAX_VAR_OFF:
            raise Reject(f"invalid unbounded variable-offset {kind} stack R{regno}")
        lo, hi = reg.off + off + var.smin_s, reg.off + off + var.smax_s
    # check_stack_slot_within_bounds: the first byte must be in the frame, even for 0 bytes
    if lo >= 0 or lo < -STACK_SIZE or hi + size > 0 or size < 0:
        if var.is_const():
            raise Reject(f"invalid {kind} stack R{regno} off={lo} size={size}")
        raise Reject(f"invalid variable-offset {kind} stack R{regno} var_off="
                     f"({var.var_off.value:#x}; {var.var_off.mask:#x}) off={reg.off + off} "
                     f"size={size}")
    return lo, hi


def check_stack_alignment(reg: Reg, off: int, size: int) -> None:
    """Stack accesses are always strictly aligned (check_ptr_alignment: the spill tracking
    relies on it): ``var_off + off`` must be a multiple of ``size``."""
    check_ptr_alignment(reg, off, size, True)


#: check_ptr_alignment's words for each pointer type ("" for the others)
ALIGN_DESC = {T.STACK: "stack ", T.MAP_VALUE: "value ", T.CTX: "context ",
              T.FLOW_KEYS: "flow keys "}
#: NET_IP_ALIGN: strict packet alignment assumes the IP header 2 bytes into the buffer
NET_IP_ALIGN = 2


def alignment_bias(rtype: T, size: int, strict: bool) -> int:
    """check_ptr_alignment's rule for a ``size``-byte access through a ``rtype`` pointer:
    -1 when it needs no check (not strict, BPF_F_STRICT_ALIGNMENT being off on x86-64, which
    has efficient unaligned access, and not the stack, which is always strict; or one
    byte), else what the address counts besides the pointer's offsets (NET_IP_ALIGN for a
    packet, 0 else): ``bias + var_off + off + insn off`` must be a multiple of ``size``.
    The one rule the abstract verifier and the Z3 engine (model.symbolic.memory) apply."""
    if rtype is T.STACK:
        strict = True
    if not strict or size == 1:
        return -1
    return NET_IP_ALIGN if rtype in PACKET else 0


def check_ptr_alignment(reg: Reg, off: int, size: int, strict: bool) -> None:
    """check_ptr_alignment: with ``strict`` (always for the stack and for atomics) the
    pointer's offsets must be aligned to ``size`` (:func:`alignment_bias`)."""
    ip = alignment_bias(reg.type, size, strict)
    if ip < 0:
        return
    t = var_of(reg).var_off
    if ((t.value + ip + reg.off + off) | t.mask) & (size - 1):
        tn = str(_signed(t.value)) if t.mask == 0 else f"({t.value:#x}; {t.mask:#x})"
        if reg.type in PACKET:
            raise Reject(f"misaligned packet access off {ip}+{tn}+{reg.off}+{off} size {size}")
        raise Reject(f"misaligned {ALIGN_DESC.get(reg.type, '')}access off {tn}+{reg.off}+"
                     f"{off} size {size}")


def _slot_of(addr: int) -> tuple[int, int]:
    """(slot index, byte within slot) of a negative frame offset."""
    k = (-addr - 1) // 8
    return k, addr + 8 * (k + 1)


def _set_byte(frame: Frame, addr: int, kind: str) -> None:
    """A plain write of one byte; a spilled register in its slot is gone (its other
    bytes become misc, as scrub_spilled_slot does)."""
    k, b = _slot_of(addr)
    s = frame.stack.get(k, EMPTY)
    kinds = s.kinds if s.spill is None else "".join(
        INVALID if x == INVALID else MISC for x in s.kinds)
    frame.stack[k] = slot(kinds[:b] + kind + kinds[b + 1:])


def spill_size(s: Slot) -> int:
    """How many bytes from the slot's base hold the spilled register (0: no spill)."""
    if s.spill is None or s.kinds[0] != SPILL:
        return 0
    n = 0
    while n < 8 and s.kinds[n] == SPILL:
        n += 1
    return n


def _stack_write(frame: Frame, addr: int, size: int, value: Reg | None) -> None:
    """check_stack_write_fixed_off: a scalar written at a slot's base is a (maybe narrow)
    spill; a pointer must be spilled whole; anything else is misc (or zero) bytes."""
    k, b = _slot_of(addr)
    if value is not None and value.type is T.CONST_DYNPTR:
        value = None  # not a spillable type (is_spillable_regtype): misc bytes
    if value is not None and is_pointer(value):
        if size != 8:
            raise Reject("invalid size of register spill")
        frame.stack[k] = slot(SPILL * 8, value)
        return
    if b == 0 and value is not None and value.type is T.SCALAR:
        old = frame.stack.get(k, EMPTY)
        rest = "".join(MISC if x == SPILL else x for x in old.kinds[size:])
        frame.stack[k] = slot(SPILL * size + rest, value)
        return
    zero = value is not None and value.const() == 0
    if b + size <= 8:  # inside one slot (aligned): _set_byte on each byte, at once
        s = frame.stack.get(k, EMPTY)
        kinds = s.kinds if s.spill is None else "".join(
            INVALID if x == INVALID else MISC for x in s.kinds)
        frame.stack[k] = slot(kinds[:b] + (ZERO if zero else MISC) * size + kinds[b + size:])
        return
    for a in range(addr, addr + size):
        _set_byte(frame, a, ZERO if zero else MISC)


def _stack_read(frame: Frame, addr: int, size: int) -> Reg:
    """check_stack_read_fixed_off (aligned, so inside one slot)."""
    k, b = _slot_of(addr)
    s = frame.stack.get(k, EMPTY)
    n = spill_size(s)
    spill = s.spill
    if spill is not None and n:
        if size == 8 and n == 8:
            return spill
        if spill.type is not T.SCALAR:
            raise Reject("invalid size of register fill")
        if size <= n and b == 0:
            return spill  # the caller narrows it to the load's size
        kinds = s.kinds[b:b + size]
        if all(x == SPILL for x in kinds) and spill.const() == 0:
            return known(0)
    kinds = s.kinds[b:b + size]
    if all(x == ZERO for x in kinds):
        return known(0)
    return unknown()  # misc or uninitialised bytes: allowed to root, value unknown


def constant_map_key(st: State, reg: Reg, key_size: int) -> int | None:
    """get_constant_map_key: the key at a stack pointer when the verifier knows it (zero
    bytes from the key up to its slot's top, or a spill of exactly ``key_size`` bytes at
    the key's address holding a constant)."""
    var = var_of(reg)
    if reg.type is not T.STACK or not var.is_const():
        return None
    addr = reg.off + _signed(var.var_off.value)
    if not -STACK_SIZE <= addr < 0:
        return None
    k, b = _slot_of(addr)
    s = _frame_of(st, reg).stack.get(k, EMPTY)
    zeros = 0
    while b + zeros < 8 and s.kinds[b + zeros] == ZERO:
        zeros += 1
    if zeros >= key_size:
        return 0
    spill = s.spill
    if spill is None or spill_size(s) == 0 or spill.type is not T.SCALAR:
        return None
    n = 0
    while b + n < 8 and s.kinds[b + n] == SPILL:
        n += 1
    if n != key_size:
        return None
    return spill.const()


def mark_written(st: State, reg: Reg, size: int) -> None:
    """A helper wrote ``size`` bytes at a stack pointer (e.g. probe_read's destination)."""
    frame = _frame_of(st, reg)
    for a in range(reg.off, reg.off + size):
        _set_byte(frame, a, MISC)


__all__ = ["Reject", "vmlinux_struct_id", "access", "check_bounds", "mark_written",
           "constant_map_key", "check_ptr_alignment", "check_ctx_pointer"]
