"""Abstract register values, as the kernel verifier keeps them.

A register is NOT_INIT, a SCALAR (a ``Scalar``: tnum plus signed/unsigned 64- and 32-bit
bounds), or a pointer: its type, the region it points into (a map, a stack frame, the
packet...), a fixed offset ``off`` and a variable offset ``var`` (a ``Scalar``). Pointers
that may be NULL carry an ``id`` shared by their copies, so a null check fixes them all;
packet pointers carry an ``id`` and a verified ``range`` (bytes readable from the pointer's
base, fixed offset excluded), as in the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from model.domains import Scalar
from model.domains.scalar import cached_hash


class T(Enum):
    NOT_INIT = "not_init"
    SCALAR = "scalar"
    CTX = "ctx"
    STACK = "fp"
    MAP_PTR = "map_ptr"
    MAP_VALUE = "map_value"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    PKT = "pkt"
    PKT_END = "pkt_end"
    PKT_META = "pkt_meta"
    MEM = "mem"
    MEM_OR_NULL = "mem_or_null"
    FUNC = "func"
    MAP_KEY = "map_key"  # a for_each_map_elem callback's key (read-only, key_size bytes)


NULLABLE = {T.MAP_VALUE_OR_NULL: T.MAP_VALUE, T.MEM_OR_NULL: T.MEM}
PACKET = {T.PKT, T.PKT_META}
POINTERS = {t for t in T} - {T.NOT_INIT, T.SCALAR}


@dataclass(frozen=True)
class Reg:
    type: T
    scalar: Scalar | None = None  # SCALAR: the value; pointers: the variable offset
    off: int = 0
    id: int = 0
    map: str | None = None  # MAP_PTR / MAP_VALUE(_OR_NULL): the map's name
    range: int = 0  # PKT: verified bytes; MEM: region size
    frame: int = 0  # STACK: the frame the pointer points into
    read_only: bool = False  # MAP_VALUE of a frozen .rodata map
    #: SCALAR linked by ``rX += imm`` (the kernel's ``id | BPF_ADD_CONST``, ``off``): its
    #: value is that of the other scalars with its ``id`` plus ``delta`` minus theirs.
    #: None: not such a register (a plain copy has delta 0 and no flag)
    delta: int | None = None

    __hash__ = cached_hash

    @property
    def is_scalar(self) -> bool:
        return self.type is T.SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.type in POINTERS

    @property
    def var(self) -> Scalar:
        return self.scalar if self.scalar is not None else Scalar.const(0)

    def const(self) -> int | None:
        """The exact value of a scalar known to one constant, else None."""
        if self.type is T.SCALAR and self.scalar.is_const():
            return self.scalar.const_value()
        return None


NOT_INIT = Reg(T.NOT_INIT)


def scalar(s: Scalar, id: int = 0) -> Reg:
    return Reg(T.SCALAR, s, id=id)


def known(v: int) -> Reg:
    return Reg(T.SCALAR, Scalar.const(v & (2**64 - 1)))


def unknown() -> Reg:
    return Reg(T.SCALAR, Scalar.unknown())


def pointer(t: T, off: int = 0, **kw) -> Reg:
    return Reg(t, Scalar.const(0), off=off, **kw)


def with_offset(r: Reg, off: int) -> Reg:
    return replace(r, off=off)


def format_reg(r: Reg) -> str:
    """The kernel log's text for a register (``scalar(...)``, ``fp-8``, ``ctx()``...)."""
    if r.type is T.SCALAR:
        return format_scalar(r.scalar)
    if r.type is T.STACK:
        base = f"fp{r.off:+d}" if r.off else "fp0"
        return base.replace("fp+", "fp") if r.frame == 0 else f"fp[{r.frame}]{r.off:+d}"
    parts = []
    if r.id:
        parts.append(f"id={r.id}")
    if r.off:
        parts.append(f"off={r.off}")
    if r.map:
        parts.append(f"map={r.map}")
    if r.type in PACKET or r.type is T.MEM:
        parts.append(f"r={r.range}")
    if r.scalar is not None and not r.var.is_const():
        parts.append(format_scalar(r.scalar, bare=True))
    return f"{r.type.value}({','.join(parts)})"


def format_scalar(s: Scalar, bare: bool = False) -> str:
    if s.is_const():
        v = s.const_value()
        signed = v - (1 << 64) if v >> 63 else v
        return str(signed) if not bare else f"imm={signed}"
    fields = []
    if s.smin_s != -(1 << 63):
        fields.append(f"smin={s.smin_s}")
    if s.smax_s != (1 << 63) - 1:
        fields.append(f"smax={s.smax_s}")
    if s.umin != 0:
        fields.append(f"umin={s.umin}")
    if s.umax != 2**64 - 1:
        fields.append(f"umax={s.umax}")
    if s.s32_min_s != -(1 << 31) and s.s32_min_s != s.smin_s:
        fields.append(f"smin32={s.s32_min_s}")
    if s.s32_max_s != (1 << 31) - 1 and s.s32_max_s != s.smax_s:
        fields.append(f"smax32={s.s32_max_s}")
    if s.u32_max != 2**32 - 1 and s.u32_max != s.umax:
        fields.append(f"umax32={s.u32_max}")
    if s.var_off.mask != 2**64 - 1:
        fields.append(f"var_off=({s.var_off.value:#x}; {s.var_off.mask:#x})")
    body = ",".join(fields)
    return body if bare else f"scalar({body})"
