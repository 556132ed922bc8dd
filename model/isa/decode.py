"""Bytes <-> typed instructions.

Decoding a slot extracts only the fields its opcode gives a meaning to, builds the typed
instruction, and compares that instruction's raw fields with the input: a difference can
only be a reserved/unused field that is non-zero, which is reported by name.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from model.errors import IsaError
from model.isa import opcodes as oc
from model.isa.insn import (
    RAW_FIELD_NAMES, Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load,
    LoadAcquire, StoreRelease,
    LoadImm64, MayGoto, Raw, Store,
)


class _Bad(Exception):
    """A cause found while decoding one slot (turned into ``IsaError`` with the index)."""


def _what(code: int) -> str:
    return f"{oc.mnemonic(code)} (0x{code:02x})"


def _unknown(code: int, why: str = "") -> _Bad:
    return _Bad(f"unknown opcode 0x{code:02x}" + (f" ({why})" if why else ""))


def _reg(r: Raw, field: str) -> int:
    value = r.dst if field == "dst_reg" else r.src
    if value > oc.MAX_REG:
        raise _Bad(f"{_what(r.code)} has invalid {field} {value} (registers are r0-r10)")
    return value


def _alu(r: Raw) -> Insn:
    code, is64 = r.code, (r.code & 7) == oc.ALU64
    op, reg_src = code & 0xf0, bool(code & oc.X)
    if op == oc.END:
        if is64 and reg_src:
            raise _unknown(code, "bswap has no register-source form")
        if r.imm not in oc.ENDIAN_WIDTHS:
            raise _Bad(f"{_what(code)} has invalid imm {r.imm} (width must be 16, 32 or 64)")
        kind = "bswap" if is64 else ("be" if reg_src else "le")
        return Endian(kind, r.imm, _reg(r, "dst_reg"))
    name = next((n for n, v in oc.ALU_OPS.items() if v == op), None)
    if name is None:
        raise _unknown(code)
    if name == "neg":
        if reg_src:
            raise _unknown(code, "neg has no register-source form")
        return Alu("neg", is64, _reg(r, "dst_reg"))
    off = 0
    if name in ("div", "mod") and r.off != 0:
        if r.off != 1:
            raise _Bad(f"{_what(code)} has invalid off {r.off} (0, or 1 for s{name})")
        name, off = "s" + name, 1
    elif name == "mov" and reg_src and r.off != 0:
        offs = oc.MOVSX_OFFS_64 if is64 else oc.MOVSX_OFFS_32
        if is64 and r.off == 1 and r.imm in (1, 1 << 16):  # BPF_ADDR_SPACE_CAST
            raise _Bad(f"not modelled: addr_space_cast (BPF arena pointers) {_what(code)}")
        if r.off not in offs:
            raise _Bad(f"{_what(code)} has invalid off {r.off} (movsx takes "
                       + ", ".join(map(str, offs)) + ")")
        name, off = "movsx", r.off
    dst = _reg(r, "dst_reg")
    if reg_src:
        return Alu(name, is64, dst, _reg(r, "src_reg"), 0, off)
    return Alu(name, is64, dst, None, r.imm, off)


def _jmp(r: Raw) -> Insn:
    code, is32 = r.code, (r.code & 7) == oc.JMP32
    op, reg_src = code & 0xf0, bool(code & oc.X)
    if op == oc.CALL and reg_src and not is32:  # callx (LLVM: register in dst_reg)
        return CallX(_reg(r, "dst_reg"))
    if op in (oc.CALL, oc.EXIT, oc.JCOND) and (is32 or reg_src):
        raise _unknown(code, f"{oc.mnemonic(code)} exists only as 0x{oc.JMP | op:02x}")
    if op == oc.CALL:
        if r.src not in (oc.CALL_HELPER, oc.CALL_PSEUDO, oc.CALL_KFUNC):
            raise _Bad(f"{_what(code)} has invalid src_reg {r.src} (0 helper, 1 bpf call, 2 kfunc)")
        return Call(r.src, r.imm, r.off if r.src == oc.CALL_KFUNC else 0)
    if op == oc.EXIT:
        return Exit()
    if op == oc.JCOND:
        return MayGoto(r.off)
    name = next((n for n, v in oc.JMP_OPS.items() if v == op), None)
    if name is None:
        raise _unknown(code)
    if name == "ja":
        if reg_src:
            raise _unknown(code, "ja has no register-source form")
        if not is32 and r.src:
            raise _Bad(f"{_what(code)} has non-zero src_reg {r.src} (the 2024 static-branch "
                       "flags exist only on gotol, 0x06)")
        if r.src not in oc.STATIC_FLAGS:
            raise _Bad(f"{_what(code)} has invalid src_reg {r.src} "
                       "(static-branch flags must be 0, 1 or 3)")
        if is32:
            return Jump("ja", True, 0, None, r.imm, 0, r.src)
        return Jump("ja", False, 0, None, 0, r.off, r.src)
    dst = _reg(r, "dst_reg")
    if reg_src:
        return Jump(name, is32, dst, _reg(r, "src_reg"), 0, r.off)
    return Jump(name, is32, dst, None, r.imm, r.off)


def _ld(r: Raw) -> Insn:
    code, mode = r.code, r.code & 0xe0
    size = oc.SIZE_OF_BITS[code & 0x18]
    if mode in (oc.ABS, oc.IND) and size != 8:
        if mode == oc.ABS:
            return LegacyLoad(size, "abs", None, r.imm)
        return LegacyLoad(size, "ind", _reg(r, "src_reg"), r.imm)
    raise _unknown(code)


def _ld_imm64(r: Raw, r2: Raw) -> Insn:
    if r.src not in oc.PSEUDO_SOURCES:
        raise _Bad(f"{_what(r.code)} has invalid src_reg {r.src} (pseudo sources are 0-6)")
    imm2 = 0 if r.src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_IDX) else r2.imm
    return LoadImm64(_reg(r, "dst_reg"), r.src, r.imm, imm2)


def _ldx(r: Raw) -> Insn:
    code, mode = r.code, r.code & 0xe0
    size = oc.SIZE_OF_BITS[code & 0x18]
    if mode == oc.MEM or (mode == oc.MEMSX and size != 8):
        return Load(size, _reg(r, "dst_reg"), _reg(r, "src_reg"), r.off, mode == oc.MEMSX)
    raise _unknown(code)


def _st(r: Raw) -> Insn:
    if r.code & 0xe0 != oc.MEM:
        raise _unknown(r.code)
    return Store(oc.SIZE_OF_BITS[r.code & 0x18], _reg(r, "dst_reg"), r.off, None, r.imm)


def _stx(r: Raw) -> Insn:
    code, mode = r.code, r.code & 0xe0
    size = oc.SIZE_OF_BITS[code & 0x18]
    if mode == oc.MEM:
        return Store(size, _reg(r, "dst_reg"), r.off, _reg(r, "src_reg"), 0)
    if mode == oc.ATOMIC and r.imm == oc.LOAD_ACQ:
        return LoadAcquire(size, _reg(r, "dst_reg"), _reg(r, "src_reg"), r.off)
    if mode == oc.ATOMIC and r.imm == oc.STORE_REL:
        return StoreRelease(size, _reg(r, "dst_reg"), r.off, _reg(r, "src_reg"))
    if mode != oc.ATOMIC or size not in oc.ATOMIC_SIZES:
        raise _unknown(code)
    op = next((n for n, v in oc.ATOMIC_OPS.items() if v == r.imm & ~oc.FETCH), None)
    fetch = bool(r.imm & oc.FETCH)
    if op is None or (op in oc.ATOMIC_ALWAYS_FETCH and not fetch):
        raise _Bad(f"{_what(code)} has unknown atomic operation imm 0x{r.imm & 0xffffffff:x}")
    return Atomic(size, op, fetch, _reg(r, "dst_reg"), _reg(r, "src_reg"), r.off)


_BY_CLASS = {oc.LD: _ld, oc.LDX: _ldx, oc.ST: _st, oc.STX: _stx,
             oc.ALU: _alu, oc.ALU64: _alu, oc.JMP: _jmp, oc.JMP32: _jmp}


def _check_reserved(got: Raw, want: Raw, what: str) -> None:
    for name, g, w in zip(RAW_FIELD_NAMES, got, want):
        if g != w:
            shown = f"0x{g:02x}" if name == "opcode" else str(g)
            raise _Bad(f"{what} has non-zero {name} {shown}" if w == 0
                       else f"{what} has unexpected {name} {shown} (expected {w})")


def decode_one(data: bytes, slot: int) -> Insn:
    """Decode the instruction starting at ``slot`` (8-byte units) of ``data``.

    Beyond RFC 9669 it accepts the 2024 static-branch forms of ``gotol`` (JMP32 JA with
    src_reg 1 = ``gotol_or_nop`` or 3 = ``nop_or_gotol``, as LLVM encodes them); ``ja``
    (JMP JA) with a non-zero src_reg stays invalid.
    """
    nslots = len(data) // 8
    if not 0 <= slot < nslots:
        raise IsaError(f"no instruction at slot {slot} (program has {nslots} slots)", index=slot)
    r = Raw.unpack(data, slot)
    try:
        if r.code == oc.LD_IMM64:
            if slot + 1 >= nslots:
                raise _Bad(f"{_what(r.code)} is truncated: its second slot is missing")
            r2 = Raw.unpack(data, slot + 1)
            insn = _ld_imm64(r, r2)
            first, second = insn.raw()
            _check_reserved(r, first, _what(r.code))
            _check_reserved(r2, second, f"{_what(r.code)} second slot")
            return insn
        cls = r.code & 7
        insn = _jmp(r) if cls in (oc.JMP, oc.JMP32) else _BY_CLASS[cls](r)
        _check_reserved(r, insn.raw()[0], _what(r.code))
        return insn
    except _Bad as e:
        raise IsaError(str(e), index=slot) from None
    except IsaError as e:  # a typed constructor refused a field the decoder passed on
        raise IsaError(f"{_what(r.code)}: {e.cause}", index=slot) from None


def decode(data: bytes) -> list[Insn]:
    """Decode a whole program; raises ``IsaError(cause, index=slot)`` on invalid input."""
    data = bytes(data)
    if len(data) % 8:
        raise IsaError(f"program length {len(data)} is not a multiple of 8 bytes",
                       index=len(data) // 8)
    out: list[Insn] = []
    slot = 0
    while slot < len(data) // 8:
        insn = decode_one(data, slot)
        out.append(insn)
        slot += insn.slots
    return out


def encode(insns: Iterable[Insn]) -> bytes:
    """Concatenate the encodings; ``encode(decode(b)) == b`` for every valid ``b``."""
    return b"".join(i.encode() for i in insns)


def iter_pcs(insns: Iterable[Insn]) -> Iterator[tuple[int, Insn]]:
    """Yield ``(pc, insn)`` with pcs counted in slots."""
    pc = 0
    for insn in insns:
        yield pc, insn
        pc += insn.slots
