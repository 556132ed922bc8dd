"""The kernel verifier-log printer: ``print_bpf_insn`` of kernel/bpf/disasm.c (Linux 6.18).

``ld_imm64`` map loads print as bpftool's xlated dump does (``map[id:%u]``,
``map[id:%u][0]+%u``), the form the talk's logs show. The 2024 static-branch ``ja``
forms, which no released kernel prints, use the proposal's mnemonics
(``goto_or_nop``/``nop_or_goto``, ``gotol_or_nop``/``nop_or_gotol``).
"""

from __future__ import annotations

from typing import Callable, Mapping

from model.isa import opcodes as oc
from model.isa.insn import (
    Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64, MayGoto,
    LoadAcquire, StoreRelease,
    Store,
)
from model.platform.helpers import HELPER_NAMES

MapIdFn = Callable[[int, Insn], "int | None"]

ALU_STR, JMP_STR, STATIC_JA = oc.ALU_OP_STR, oc.JMP_OP_STR, oc.JA_MNEMONICS
LDST = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
LDSX = {1: "s8", 2: "s16", 4: "s32"}


def _u32(v: int) -> int:
    return v & 0xffffffff


def _mem(size: int, reg: int, off: int, types=LDST) -> str:
    return f"({types[size]} *)(r{reg} {off:+d})"


def _alu(i: Alu) -> str:
    p = "r" if i.is64 else "w"
    if i.op == "neg":
        return f"{p}{i.dst} = -{p}{i.dst}"
    if i.src is not None:
        cast = f"(s{i.off})" if i.op == "movsx" else ""
        return f"{p}{i.dst} {ALU_STR[i.op]} {cast}{p}{i.src}"
    return f"{p}{i.dst} {ALU_STR[i.op]} {i.imm}"


def _atomic(i: Atomic) -> str:
    mem, bits = _mem(i.size, i.dst, i.off), "64" if i.size == 8 else ""
    if i.op == "cmpxchg":
        return f"r0 = atomic{bits}_cmpxchg({mem}, r0, r{i.src})"
    if i.op == "xchg":
        return f"r{i.src} = atomic{bits}_xchg({mem}, r{i.src})"
    if i.fetch:
        return f"r{i.src} = atomic{bits}_fetch_{i.op}({mem}, r{i.src})"
    return f"lock *{mem} {ALU_STR[i.op]} r{i.src}"


def _ld_imm64(i: LoadImm64, pc: int, map_id: MapIdFn | None) -> str:
    mid = map_id(pc, i) if map_id is not None else None
    if i.src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_VALUE) or (
            mid is not None and i.src in (oc.PSEUDO_MAP_IDX, oc.PSEUDO_MAP_IDX_VALUE)):
        mid = i.imm if mid is None else mid
        if i.src in (oc.PSEUDO_MAP_FD, oc.PSEUDO_MAP_IDX):
            return f"r{i.dst} = map[id:{_u32(mid)}]"
        return f"r{i.dst} = map[id:{_u32(mid)}][0]+{_u32(i.imm2)}"
    return f"r{i.dst} = 0x{i.value:x}"


def _call(i: Call, helper_names: bool | Mapping[int, str]) -> str:
    if i.src == oc.CALL_PSEUDO:
        return f"call pc{i.imm:+d}"
    if i.src == oc.CALL_KFUNC:
        return f"call kernel-function#{i.imm}"
    names = HELPER_NAMES if helper_names is True else (helper_names or {})
    return f"call {names.get(i.imm, 'unknown')}#{i.imm}"


def _jump(i: Jump) -> str:
    if i.cond == "ja":
        return f"{STATIC_JA[(i.is32, i.static)]} pc{i.delta:+d}"
    p = "w" if i.is32 else "r"
    rhs = f"{p}{i.src}" if i.src is not None else f"0x{_u32(i.imm):x}"
    return f"if {p}{i.dst} {JMP_STR[i.cond]} {rhs} goto pc{i.off:+d}"


def format_kernel(insn: Insn, pc: int, *, map_id: MapIdFn | None = None,
                  helper_names: bool | Mapping[int, str] = True) -> str:
    """The verifier-log text after ``pc: `` (e.g. ``(05) goto pc+0``).

    ``map_id(pc, insn)`` supplies the id printed for a map load (default: the insn's imm).
    ``helper_names``: ``True`` uses Linux 6.18's names, ``False`` prints every helper as
    ``unknown#id`` (what the kernel prints for an id it cannot name), or pass a mapping.
    """
    if isinstance(insn, Alu):
        text = _alu(insn)
    elif isinstance(insn, Endian):
        text = f"r{insn.dst} = {insn.kind}{insn.width} r{insn.dst}"
    elif isinstance(insn, LoadImm64):
        text = _ld_imm64(insn, pc, map_id)
    elif isinstance(insn, LoadAcquire):  # (disasm.c: r, whatever the size)
        text = f"r{insn.dst} = load_acquire({_mem(insn.size, insn.src, insn.off)})"
    elif isinstance(insn, StoreRelease):
        text = f"store_release({_mem(insn.size, insn.dst, insn.off)}, r{insn.src})"
    elif isinstance(insn, Load):
        types = LDSX if insn.signed else LDST
        text = f"r{insn.dst} = *{_mem(insn.size, insn.src, insn.off, types)}"
    elif isinstance(insn, Store):
        val = f"r{insn.src}" if insn.src is not None else str(insn.imm)
        text = f"*{_mem(insn.size, insn.dst, insn.off)} = {val}"
    elif isinstance(insn, Atomic):
        text = _atomic(insn)
    elif isinstance(insn, LegacyLoad):
        where = f"{insn.imm}" if insn.mode == "abs" else f"r{insn.src} + {insn.imm}"
        text = f"r0 = *({LDST[insn.size]} *)skb[{where}]"
    elif isinstance(insn, Jump):
        text = _jump(insn)
    elif isinstance(insn, MayGoto):
        text = f"may_goto pc{insn.off:+d}"
    elif isinstance(insn, Call):
        text = _call(insn, helper_names)
    elif isinstance(insn, CallX):  # not a kernel instruction; printed as LLVM does
        text = f"callx r{insn.dst}"
    elif isinstance(insn, Exit):
        text = "exit"
    else:
        raise TypeError(f"not an instruction: {insn!r}")
    return f"({insn.opcode:02x}) {text}"


def kernel_line(pc: int, insn: Insn, **kw) -> str:
    """``f"{pc}: {format_kernel(insn, pc, **kw)}"`` -- one verifier-log line."""
    return f"{pc}: {format_kernel(insn, pc, **kw)}"
