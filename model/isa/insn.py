"""Typed BPF instructions (frozen dataclasses) and their encoding.

Each class validates its fields on construction (``IsaError``) and knows its raw slot
fields, so ``encode`` never produces a reserved field that is non-zero. The decoder
(``model.isa.decode``) extracts only the meaningful fields of a slot, builds the typed
instruction and compares its raw fields with the input: any difference is a reserved
field that was set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import ClassVar, NamedTuple

from model.errors import IsaError
from model.isa import opcodes as oc

_SLOT = struct.Struct("<BBhi")


class Raw(NamedTuple):
    """The five fields of one 8-byte slot (``off``/``imm`` signed)."""

    code: int
    dst: int
    src: int
    off: int
    imm: int

    def pack(self) -> bytes:
        return _SLOT.pack(self.code, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def unpack(cls, data: bytes, slot: int) -> "Raw":
        code, regs, off, imm = _SLOT.unpack_from(data, slot * 8)
        return cls(code, regs & 0xf, regs >> 4, off, imm)


RAW_FIELD_NAMES = ("opcode", "dst_reg", "src_reg", "off", "imm")


def _need(ok: bool, cls: str, what: str) -> None:
    if not ok:
        raise IsaError(f"{cls}: {what}")


def _reg(cls: str, name: str, value: int | None, optional: bool = False) -> None:
    if value is None and optional:
        return
    _need(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= oc.MAX_REG,
          cls, f"{name} must be a register 0-{oc.MAX_REG}, not {value!r}")


def _int(cls: str, name: str, value: int, bits: int) -> None:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    _need(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
          cls, f"{name} must be a signed {bits}-bit integer, not {value!r}")


@dataclass(frozen=True)
class Insn:
    """Base of every typed instruction."""

    slots: ClassVar[int] = 1

    def raw(self) -> tuple[Raw, ...]:
        """The raw fields of each slot this instruction occupies."""
        raise NotImplementedError

    @property
    def opcode(self) -> int:
        return self.raw()[0].code

    @property
    def mnemonic(self) -> str:
        return oc.mnemonic(self.opcode)

    def encode(self) -> bytes:
        return b"".join(r.pack() for r in self.raw())


@dataclass(frozen=True)
class Alu(Insn):
    """ALU (32-bit, ``is64=False``) or ALU64 arithmetic; ``src is None`` = immediate."""

    op: str
    is64: bool
    dst: int
    src: int | None = None
    imm: int = 0
    off: int = 0

    def __post_init__(self):
        n = "Alu"
        _need(self.op in oc.ALU_OP_NAMES, n, f"unknown op {self.op!r}")
        _need(isinstance(self.is64, bool), n, "is64 must be a bool")
        _reg(n, "dst", self.dst)
        _reg(n, "src", self.src, optional=True)
        _int(n, "imm", self.imm, 32)
        _need(self.src is None or self.imm == 0, n, "imm must be 0 with a register source")
        if self.op == "neg":
            _need(self.src is None and self.imm == 0, n, "neg takes no source operand")
        if self.op in ("sdiv", "smod"):
            _need(self.off == 1, n, f"{self.op} has off 1, not {self.off!r}")
        elif self.op == "movsx":
            offs = oc.MOVSX_OFFS_64 if self.is64 else oc.MOVSX_OFFS_32
            _need(self.src is not None, n, "movsx needs a register source")
            _need(self.off in offs, n, f"movsx off must be one of {offs}, not {self.off!r}")
        else:
            _need(self.off == 0, n, f"{self.op} has off 0, not {self.off!r}")

    def raw(self):
        base = oc.ALU_OPS[oc.ALU_SIGNED.get(self.op, self.op)]
        code = (oc.ALU64 if self.is64 else oc.ALU) | base | (oc.K if self.src is None else oc.X)
        return (Raw(code, self.dst, self.src or 0, self.off, self.imm),)


@dataclass(frozen=True)
class Endian(Insn):
    """Byte swap: ``le``/``be`` (ALU class) or unconditional ``bswap`` (ALU64 class)."""

    kind: str
    width: int
    dst: int

    def __post_init__(self):
        _need(self.kind in oc.ENDIAN_KINDS, "Endian", f"unknown kind {self.kind!r}")
        _need(self.width in oc.ENDIAN_WIDTHS, "Endian", f"width must be 16, 32 or 64, not {self.width!r}")
        _reg("Endian", "dst", self.dst)

    def raw(self):
        code = {"le": oc.ALU | oc.END | oc.K, "be": oc.ALU | oc.END | oc.X,
                "bswap": oc.ALU64 | oc.END | oc.K}[self.kind]
        return (Raw(code, self.dst, 0, 0, self.width),)


@dataclass(frozen=True)
class LoadImm64(Insn):
    """``ld_imm64`` (two slots); ``src`` is the pseudo source 0-6."""

    slots: ClassVar[int] = 2
    dst: int
    src: int = 0
    imm: int = 0
    imm2: int = 0

    def __post_init__(self):
        n = "LoadImm64"
        _reg(n, "dst", self.dst)
        _need(self.src in oc.PSEUDO_SOURCES, n, f"pseudo source must be 0-6, not {self.src!r}")
        _int(n, "imm", self.imm, 32)
        _int(n, "imm2", self.imm2, 32)
        if self.src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_IDX):
            _need(self.imm2 == 0, n, f"imm2 must be 0 with pseudo source {self.src}")

    @property
    def value(self) -> int:
        return ((self.imm2 & 0xffffffff) << 32) | (self.imm & 0xffffffff)

    @classmethod
    def from_value(cls, dst: int, value: int, src: int = 0) -> "LoadImm64":
        """Build from a 64-bit value (signed or unsigned)."""
        value &= (1 << 64) - 1
        lo, hi = value & 0xffffffff, value >> 32
        return cls(dst, src, lo - (1 << 32) if lo >> 31 else lo, hi - (1 << 32) if hi >> 31 else hi)

    def raw(self):
        return (Raw(oc.LD_IMM64, self.dst, self.src, 0, self.imm), Raw(0, 0, 0, 0, self.imm2))


@dataclass(frozen=True)
class Load(Insn):
    """LDX MEM (``signed=False``) or MEMSX sign-extending load of ``size`` bytes."""

    size: int
    dst: int
    src: int
    off: int = 0
    signed: bool = False

    def __post_init__(self):
        _need(self.size in ((1, 2, 4) if self.signed else (1, 2, 4, 8)), "Load",
              f"size {self.size!r} is not valid for a {'sign-extending ' if self.signed else ''}load")
        _reg("Load", "dst", self.dst)
        _reg("Load", "src", self.src)
        _int("Load", "off", self.off, 16)

    def raw(self):
        code = oc.LDX | (oc.MEMSX if self.signed else oc.MEM) | oc.SIZES[self.size]
        return (Raw(code, self.dst, self.src, self.off, 0),)


@dataclass(frozen=True)
class Store(Insn):
    """STX MEM (register ``src``) or ST MEM (``src is None``, value in ``imm``)."""

    size: int
    dst: int
    off: int = 0
    src: int | None = None
    imm: int = 0

    def __post_init__(self):
        _need(self.size in (1, 2, 4, 8), "Store", f"size must be 1, 2, 4 or 8, not {self.size!r}")
        _reg("Store", "dst", self.dst)
        _reg("Store", "src", self.src, optional=True)
        _int("Store", "off", self.off, 16)
        _int("Store", "imm", self.imm, 32)
        _need(self.src is None or self.imm == 0, "Store", "imm must be 0 with a register source")

    def raw(self):
        cls = oc.ST if self.src is None else oc.STX
        return (Raw(cls | oc.MEM | oc.SIZES[self.size], self.dst, self.src or 0, self.off, self.imm),)


@dataclass(frozen=True)
class Atomic(Insn):
    """STX ATOMIC read-modify-write of ``size`` (4 or 8) bytes at ``dst + off``."""

    size: int
    op: str
    fetch: bool
    dst: int
    src: int
    off: int = 0

    def __post_init__(self):
        n = "Atomic"
        _need(self.size in oc.ATOMIC_SIZES, n, f"size must be 4 or 8, not {self.size!r}")
        _need(self.op in oc.ATOMIC_OPS, n, f"unknown op {self.op!r}")
        _need(isinstance(self.fetch, bool), n, "fetch must be a bool")
        if self.op in oc.ATOMIC_ALWAYS_FETCH:
            _need(self.fetch, n, f"{self.op} always fetches (fetch=True)")
        _reg(n, "dst", self.dst)
        _reg(n, "src", self.src)
        _int(n, "off", self.off, 16)

    def raw(self):
        imm = oc.ATOMIC_OPS[self.op] | (oc.FETCH if self.fetch else 0)
        return (Raw(oc.STX | oc.ATOMIC | oc.SIZES[self.size], self.dst, self.src, self.off, imm),)


@dataclass(frozen=True)
class LoadAcquire(Load):
    """STX ATOMIC ``BPF_LOAD_ACQ``: ``dst = load_acquire(*(size *)(src + off))``, zero
    extended. A ``Load`` (every layer that reads a load reads this one) with acquire
    ordering; the verifier adds the atomic checks (``model.verifier.ordered``)."""

    def __post_init__(self):
        super().__post_init__()
        _need(not self.signed, "LoadAcquire", "a load-acquire zero-extends (signed=False)")

    def raw(self):
        return (Raw(oc.STX | oc.ATOMIC | oc.SIZES[self.size], self.dst, self.src, self.off,
                    oc.LOAD_ACQ),)


@dataclass(frozen=True)
class StoreRelease(Store):
    """STX ATOMIC ``BPF_STORE_REL``: ``store_release(*(size *)(dst + off), src)``. A
    ``Store`` of a register with release ordering."""

    def __post_init__(self):
        super().__post_init__()
        _need(self.src is not None, "StoreRelease", "a store-release stores a register")

    def raw(self):
        assert self.src is not None
        return (Raw(oc.STX | oc.ATOMIC | oc.SIZES[self.size], self.dst, self.src, self.off,
                    oc.STORE_REL),)


@dataclass(frozen=True)
class LegacyLoad(Insn):
    """LD ABS (``src is None``) / LD IND (``src`` register) packet load into r0."""

    size: int
    mode: str
    src: int | None = None
    imm: int = 0

    def __post_init__(self):
        n = "LegacyLoad"
        _need(self.size in (1, 2, 4), n, f"size must be 1, 2 or 4, not {self.size!r}")
        _need(self.mode in oc.LEGACY_MODES, n, f"mode must be abs or ind, not {self.mode!r}")
        if self.mode == "abs":
            _need(self.src is None, n, "abs takes no source register")
        else:
            _reg(n, "src", self.src)
        _int(n, "imm", self.imm, 32)

    def raw(self):
        code = oc.LD | oc.LEGACY_MODES[self.mode] | oc.SIZES[self.size]
        return (Raw(code, 0, self.src or 0, 0, self.imm),)


class _Branch:
    """``delta``/``with_delta``/``target`` shared by ``Jump`` and ``MayGoto``."""

    @property
    def delta(self) -> int:
        """Jump distance in slots (``target = pc + 1 + delta``)."""
        return getattr(self, self._delta_field_of())

    def _delta_field_of(self) -> str:
        return "off"

    def with_delta(self, delta: int):
        field = self._delta_field_of()
        bits = 32 if field == "imm" else 16
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not isinstance(delta, int) or not lo <= delta <= hi:
            raise IsaError(f"jump distance {delta} does not fit in {bits}-bit {field}")
        return replace(self, **{field: delta})

    def target(self, pc: int) -> int:
        return pc + 1 + self.delta


@dataclass(frozen=True)
class Jump(_Branch, Insn):
    """JMP/JMP32 conditional jump or ``ja``; ``is32`` ``ja`` is ``gotol`` (distance in imm)."""

    cond: str
    is32: bool
    dst: int = 0
    src: int | None = None
    imm: int = 0
    off: int = 0
    static: int = 0

    def __post_init__(self):
        n = "Jump"
        _need(self.cond in oc.JMP_OPS, n, f"unknown condition {self.cond!r}")
        _need(isinstance(self.is32, bool), n, "is32 must be a bool")
        _int(n, "imm", self.imm, 32)
        _int(n, "off", self.off, 16)
        if self.cond == "ja":
            _need(self.dst == 0 and self.src is None, n, "ja takes no registers")
            _need(self.static in oc.STATIC_FLAGS, n, f"static must be 0, 1 or 3, not {self.static!r}")
            _need(self.is32 or not self.static, n,
                  "static-branch flags exist only on gotol (is32 ja)")
            _need(self.off == 0 if self.is32 else self.imm == 0, n,
                  "gotol keeps its distance in imm (off 0)" if self.is32
                  else "ja keeps its distance in off (imm 0)")
        else:
            _reg(n, "dst", self.dst)
            _reg(n, "src", self.src, optional=True)
            _need(self.src is None or self.imm == 0, n, "imm must be 0 with a register source")
            _need(self.static == 0, n, "only ja can be a static branch")

    def _delta_field_of(self) -> str:
        return "imm" if self.cond == "ja" and self.is32 else "off"

    def raw(self):
        code = (oc.JMP32 if self.is32 else oc.JMP) | oc.JMP_OPS[self.cond]
        code |= oc.K if self.src is None else oc.X
        src = self.static if self.cond == "ja" else (self.src or 0)
        return (Raw(code, self.dst, src, self.off, self.imm),)


@dataclass(frozen=True)
class MayGoto(_Branch, Insn):
    """``may_goto`` (0xe5): jump of ``off`` slots once the loop budget is exhausted."""

    off: int = 0

    def __post_init__(self):
        _int("MayGoto", "off", self.off, 16)

    def raw(self):
        return (Raw(oc.MAY_GOTO, 0, 0, self.off, 0),)


@dataclass(frozen=True)
class Call(Insn):
    """``call``: helper (src 0), bpf-to-bpf (src 1, imm relative) or kfunc (src 2)."""

    src: int
    imm: int
    off: int = 0

    def __post_init__(self):
        n = "Call"
        _need(self.src in (oc.CALL_HELPER, oc.CALL_PSEUDO, oc.CALL_KFUNC), n,
              f"src must be 0, 1 or 2, not {self.src!r}")
        _int(n, "imm", self.imm, 32)
        _int(n, "off", self.off, 16)
        _need(self.src == oc.CALL_KFUNC or self.off == 0, n, "off is only used by kfunc calls")

    def target(self, pc: int) -> int | None:
        """The callee's pc for a bpf-to-bpf call, else ``None``."""
        return pc + 1 + self.imm if self.src == oc.CALL_PSEUDO else None

    def raw(self):
        return (Raw(oc.JMP | oc.CALL, 0, self.src, self.off, self.imm),)


@dataclass(frozen=True)
class CallX(Insn):
    """``callx rN`` (0x8d, LLVM's encoding: the register in dst_reg): call the helper whose
    id is in the register. Not RFC 9669 and not accepted by Linux; the conformance suite
    uses it."""

    dst: int

    def __post_init__(self):
        _reg("CallX", "dst", self.dst)

    def raw(self):
        return (Raw(oc.JMP | oc.CALL | oc.X, self.dst, 0, 0, 0),)


@dataclass(frozen=True)
class Exit(Insn):
    """``exit``."""

    def raw(self):
        return (Raw(oc.JMP | oc.EXIT, 0, 0, 0, 0),)


INSN_CLASSES = (Alu, Endian, LoadImm64, Load, Store, LoadAcquire, StoreRelease, Atomic,
                LegacyLoad, Jump, MayGoto, Call, CallX, Exit)
