"""Checking one memory access through an abstract pointer, per region kind, with the kernel
verifier's messages; reads return the abstract value loaded, writes update the stack.

Failures raise ``Reject(message)``.
"""

from __future__ import annotations

from dataclasses import replace

from model.domains import Scalar
from model.platform.ctx_layouts import ctx_access
from model.verifier.regs import PACKET, Reg, T, known, pointer, unknown
from model.verifier.state import INVALID, MISC, SPILL, ZERO, Frame, Slot, State

MAX_VAR_OFF = 1 << 29  # BPF_MAX_VAR_OFF
PKT_WRITE_TYPES = {"xdp", "sched_cls", "sched_act", "lwt_xmit", "sk_skb"}
STACK_SIZE = 512


class Reject(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def check_bounds(regno: int, reg: Reg, off: int, size: int, limit: int, what: str) -> None:
    """``reg + off .. + size`` within ``[0, limit)`` for every value of reg's variable part
    (the kernel's check_mem_region_access)."""
    var = reg.var
    smin, umax = var.smin_s, var.umax
    lo = reg.off + off + smin
    if smin < 0 and (lo < 0 or smin == -(1 << 63)):
        raise Reject(f"R{regno} min value is negative, either use unsigned index or do a "
                     "if (index >=0) check.")
    if lo < 0 or lo + size > limit:
        raise Reject(f"invalid access to {what}, value_size={limit} off={reg.off + off + smin} "
                     f"size={size}")
    if umax >= MAX_VAR_OFF:
        raise Reject(f"R{regno} unbounded memory access, make sure to bounds check any such "
                     "access")
    if reg.off + off + umax + size > limit:
        raise Reject(f"R{regno} max value is outside of the allowed memory range")


def access(st: State, maps, prog_type: str, regno: int, reg: Reg, off: int, size: int,
           write: bool, value: Reg | None = None) -> Reg | None:
    """Check the access; for a read return the loaded register (not yet extended)."""
    t = reg.type
    if t is T.STACK:
        return _stack(st, regno, reg, off, size, write, value)
    if t is T.MAP_VALUE:
        m = maps[reg.map]
        if write and reg.read_only:
            raise Reject(f"write into map forbidden, value_size={m.value_size} "
                         f"off={reg.off + off} size={size}")
        check_bounds(regno, reg, off, size, m.value_size, "map value")
        if not write and reg.read_only and reg.var.is_const():
            return _rodata_value(m, reg.off + off + reg.var.const_value(), size)
        return None if write else unknown()
    if t is T.MEM:
        check_bounds(regno, reg, off, size, reg.range, "memory")
        return None if write else unknown()
    if t in PACKET:
        return _packet(prog_type, regno, reg, off, size, write)
    if t is T.CTX:
        return _ctx(prog_type, regno, reg, off, size, write)
    raise Reject(f"R{regno} invalid mem access '{t.value}'")


def _rodata_value(m, off: int, size: int) -> Reg:
    data = m.initial or b""
    if off + size <= len(data):
        return known(int.from_bytes(data[off:off + size], "little"))
    return unknown()


def _packet(prog_type: str, regno: int, reg: Reg, off: int, size: int, write: bool) -> Reg | None:
    if write and prog_type not in PKT_WRITE_TYPES:
        raise Reject("cannot write into packet")
    if reg.var.smin_s < 0:
        raise Reject(f"R{regno} min value is negative, either use unsigned index or do a "
                     "if (index >=0) check.")
    o = reg.off + off
    if o < 0 or o + size > reg.range:
        raise Reject(f"invalid access to packet, off={o} size={size}, "
                     f"R{regno}(id={reg.id},off={reg.off},r={reg.range})\n"
                     f"R{regno} offset is outside of the packet")
    return None if write else unknown()


def _ctx(prog_type: str, regno: int, reg: Reg, off: int, size: int, write: bool) -> Reg | None:
    if not reg.var.is_const() or reg.var.const_value() != 0:
        raise Reject(f"variable ctx access var_off=({reg.var.var_off.value:#x}; "
                     f"{reg.var.var_off.mask:#x}) disallowed")
    o = reg.off + off
    got = ctx_access(prog_type, o, size, write)
    if isinstance(got, str):
        raise Reject(got)
    if write:
        return None
    kind = getattr(got, "kind", "scalar")
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
    var = reg.var
    if var.is_const():
        lo = hi = reg.off + off + _signed(var.const_value())
    else:
        if write and value is not None and value.is_pointer:
            raise Reject(f"spilled ptr in range of var-offset stack write; "
                         f"R{regno} has variable offset")
        lo, hi = reg.off + off + var.smin_s, reg.off + off + var.smax_s
    if lo < -STACK_SIZE or hi + size > 0:
        kind = "write to" if write else "read from"
        raise Reject(f"invalid {kind} stack R{regno} off={lo} size={size}")
    if lo != hi:  # variable offset: any byte of the range may be touched
        if write:
            for a in range(lo, hi + size):
                _set_byte(frame, a, MISC)
            return None
        return unknown()
    return _stack_write(frame, lo, size, value) if write else _stack_read(frame, lo, size)


def _slot_of(addr: int) -> tuple[int, int]:
    """(slot index, byte within slot) of a negative frame offset."""
    k = (-addr - 1) // 8
    return k, addr + 8 * (k + 1)


def _set_byte(frame: Frame, addr: int, kind: str) -> None:
    k, b = _slot_of(addr)
    s = frame.stack.get(k, Slot())
    kinds = s.kinds if s.spill is None else s.kinds.replace(SPILL, MISC)
    frame.stack[k] = Slot(kinds[:b] + kind + kinds[b + 1:], None)


def _stack_write(frame: Frame, addr: int, size: int, value: Reg | None) -> None:
    if size == 8 and addr % 8 == 0 and value is not None and value.type is not T.NOT_INIT:
        k, _ = _slot_of(addr)
        frame.stack[k] = Slot(SPILL * 8, value)
        return
    if value is not None and value.is_pointer:
        raise Reject(f"invalid size of register spill: R{'?'} of type {value.type.value} "
                     f"written with {size} bytes")
    zero = value is not None and value.const() == 0 if value is not None else False
    for a in range(addr, addr + size):
        _set_byte(frame, a, ZERO if zero else MISC)


def store_imm(frame: Frame, addr: int, size: int, imm: int) -> None:
    if size == 8 and addr % 8 == 0:
        frame.stack[_slot_of(addr)[0]] = Slot(SPILL * 8, known(imm))
        return
    for a in range(addr, addr + size):
        _set_byte(frame, a, ZERO if imm == 0 else MISC)


def _stack_read(frame: Frame, addr: int, size: int) -> Reg:
    k, b = _slot_of(addr)
    s = frame.stack.get(k, Slot())
    if s.spill is not None and b == 0 and size == 8:
        return s.spill
    if s.spill is not None and b + size <= 8:
        if s.spill.is_pointer:
            raise Reject(f"invalid size of register fill: {size} bytes of a spilled "
                         f"{s.spill.type.value}")
        c = s.spill.const()
        if c is not None:
            return known((c >> (8 * b)) & ((1 << (8 * size)) - 1))
        return unknown()
    kinds = []
    for a in range(addr, addr + size):
        kk, bb = _slot_of(a)
        sl = frame.stack.get(kk, Slot())
        if sl.spill is not None and sl.spill.is_pointer:
            raise Reject(f"invalid read from stack off={addr} size={size}: part of a "
                         f"spilled {sl.spill.type.value}")
        kinds.append(ZERO if (sl.spill is not None and sl.spill.const() == 0) else
                     MISC if sl.spill is not None else sl.kinds[bb])
    if all(x == ZERO for x in kinds):
        return known(0)
    return unknown()  # misc or uninitialised bytes: allowed to root, value unknown


def stack_bytes_initialised(st: State, reg: Reg, size: int) -> bool:
    """Are the ``size`` bytes at a stack pointer all written (for helper key arguments)?"""
    frame = _frame_of(st, reg)
    base = reg.off + (_signed(reg.var.const_value()) if reg.var.is_const() else 0)
    for a in range(base, base + size):
        k, b = _slot_of(a)
        s = frame.stack.get(k, Slot())
        if s.spill is None and s.kinds[b] == INVALID:
            return False
    return True


def stack_const(st: State, reg: Reg, size: int) -> int | None:
    """The constant stored at a stack pointer, if the bytes hold one."""
    try:
        r = _stack_read(_frame_of(st, reg), reg.off, size)
    except Reject:
        return None
    c = r.const()
    return c


def mark_written(st: State, reg: Reg, size: int) -> None:
    """A helper wrote ``size`` bytes at a stack pointer (e.g. probe_read's destination)."""
    frame = _frame_of(st, reg)
    for a in range(reg.off, reg.off + size):
        _set_byte(frame, a, MISC)


__all__ = ["Reject", "access", "check_bounds", "store_imm", "stack_bytes_initialised",
           "stack_const", "mark_written", "Scalar", "replace"]
