"""The llvm-objdump printer: the text ``llvm-objdump-19 -d --mcpu=v4`` prints.

By default (``alu32=True``) the text is that of ``--mcpu=v3``/``v4`` (the ``alu32``
feature: ``w`` registers in sub-64-bit loads, stores and 32-bit atomics). ``alu32=False``
reproduces plain ``llvm-objdump-19 -d``, including its ``<unknown>`` for most 32-bit
atomics.

objdump drops a few fields: the src_reg of ``call`` (helper, bpf-to-bpf and kfunc calls
all print as ``call IMM``) and the kfunc module offset, the static-branch flags of ``ja``,
the second-slot imm of a pseudo ``ld_imm64`` and the imm of ``LD IND``. With
``lossless=True`` exactly those instructions print in an extended syntax the assembler
(``model.isa.asm``) reads back: ``call pc-0x3``, ``call kfunc 0x4d2[, 0x3]``,
``goto_or_nop``/``nop_or_goto``/``gotol_or_nop``/``nop_or_gotol``,
``ld_pseudo r1, 0x2, 0x7, 0x8`` and ``skb[r2 + 0x7]``; every other instruction prints
as objdump prints it.
"""

from __future__ import annotations

from model.isa import opcodes as oc
from model.isa.insn import (
    Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64, MayGoto,
    LoadAcquire, StoreRelease,
    Store,
)

ALU_STR, JMP_STR, JA_NAMES = oc.ALU_OP_STR, oc.JMP_OP_STR, oc.JA_MNEMONICS
ATOMIC_STR = {op: ALU_STR[op] for op in ("add", "or", "and", "xor")}
UTYPE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
STYPE = {1: "s8", 2: "s16", 4: "s32"}


def shex(v: int) -> str:
    """LLVM's signed hex: ``0x5``, ``-0x5``."""
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def rel(v: int) -> str:
    """A jump distance: ``+0x3``, ``-0x3``."""
    return f"-0x{-v:x}" if v < 0 else f"+0x{v:x}"


def _mem(reg: int, off: int) -> str:
    return f"(r{reg} {'-' if off < 0 else '+'} 0x{abs(off):x})"


def _alu(i: Alu) -> str:
    p = "r" if i.is64 else "w"
    if i.op == "neg":
        return f"{p}{i.dst} = -{p}{i.dst}"
    if i.src is None:
        return f"{p}{i.dst} {ALU_STR[i.op]} {shex(i.imm)}"
    cast = f"(s{i.off})" if i.op == "movsx" else ""
    return f"{p}{i.dst} {ALU_STR[i.op]} {cast}{p}{i.src}"


def _ld_imm64(i: LoadImm64, lossless: bool) -> str:
    if i.src == 0:
        v = i.value
        return f"r{i.dst} = {shex(v - (1 << 64) if v >> 63 else v)} ll"
    text = f"ld_pseudo\tr{i.dst}, 0x{i.src:x}, 0x{i.imm & 0xffffffff:x}"
    if lossless and i.imm2:
        text += f", 0x{i.imm2 & 0xffffffff:x}"
    return text


def _atomic(i: Atomic, alu32: bool) -> str:
    mem = _mem(i.dst, i.off)
    if i.size == 8:
        p, typ = "r", "u64"
    elif alu32:
        p, typ = "w", "u32"
    elif i.op == "add":  # plain -d decodes only BPF_ADD (fetch bit ignored) for 32 bits
        return f"lock *(u32 *){mem} += r{i.src}"
    else:
        return "<unknown>"
    if i.op == "xchg":
        fn = "xchg_64" if i.size == 8 else "xchg32_32"
        return f"{p}{i.src} = {fn}({mem[1:-1]}, {p}{i.src})"
    if i.op == "cmpxchg":
        fn = "cmpxchg_64" if i.size == 8 else "cmpxchg32_32"
        return f"{p}0 = {fn}({mem[1:-1]}, {p}0, {p}{i.src})"
    if i.fetch:
        return f"{p}{i.src} = atomic_fetch_{i.op}(({typ} *){mem}, {p}{i.src})"
    return f"lock *({typ} *){mem} {ATOMIC_STR[i.op]} {p}{i.src}"


def _call(i: Call, lossless: bool) -> str:
    if lossless and i.src == oc.CALL_PSEUDO:
        return f"call pc{rel(i.imm)}"
    if lossless and i.src == oc.CALL_KFUNC:
        return f"call kfunc {shex(i.imm)}" + (f", {shex(i.off)}" if i.off else "")
    return f"call {shex(i.imm)}"


def _jump(i: Jump, lossless: bool) -> str:
    if i.cond == "ja":
        return f"{JA_NAMES[(i.is32, i.static if lossless else 0)]} {rel(i.delta)}"
    p = "w" if i.is32 else "r"
    rhs = f"{p}{i.src}" if i.src is not None else shex(i.imm)
    return f"if {p}{i.dst} {JMP_STR[i.cond]} {rhs} goto {rel(i.off)}"


def format_llvm(insn: Insn, pc: int = 0, *, alu32: bool = True, lossless: bool = False) -> str:
    """The assembly text llvm-objdump-19 prints for ``insn`` (without ``<sym>`` labels)."""
    if isinstance(insn, Alu):
        return _alu(insn)
    if isinstance(insn, Endian):
        return f"r{insn.dst} = {insn.kind}{insn.width} r{insn.dst}"
    if isinstance(insn, LoadImm64):
        return _ld_imm64(insn, lossless)
    if isinstance(insn, LoadAcquire):  # LLVM 20's text (objdump 19 cannot decode it)
        p = "w" if insn.size < 8 else "r"
        return f"{p}{insn.dst} = load_acquire(({UTYPE[insn.size]} *){_mem(insn.src, insn.off)})"
    if isinstance(insn, StoreRelease):
        p = "w" if insn.size < 8 else "r"
        return f"store_release(({UTYPE[insn.size]} *){_mem(insn.dst, insn.off)}, {p}{insn.src})"
    if isinstance(insn, Load):
        typ = STYPE[insn.size] if insn.signed else UTYPE[insn.size]
        p = "w" if alu32 and insn.size < 8 and not insn.signed else "r"
        return f"{p}{insn.dst} = *({typ} *){_mem(insn.src, insn.off)}"
    if isinstance(insn, Store):
        if insn.src is None:
            val = shex(insn.imm)
        else:
            val = f"{'w' if alu32 and insn.size < 8 else 'r'}{insn.src}"
        return f"*({UTYPE[insn.size]} *){_mem(insn.dst, insn.off)} = {val}"
    if isinstance(insn, Atomic):
        return _atomic(insn, alu32)
    if isinstance(insn, LegacyLoad):
        if insn.mode == "abs":
            where = shex(insn.imm)
        else:
            where = f"r{insn.src}" + (f" + {shex(insn.imm)}" if lossless and insn.imm else "")
        return f"r0 = *({UTYPE[insn.size]} *)skb[{where}]"
    if isinstance(insn, Jump):
        return _jump(insn, lossless)
    if isinstance(insn, MayGoto):
        return f"may_goto {rel(insn.off)}"
    if isinstance(insn, Call):
        return _call(insn, lossless)
    if isinstance(insn, CallX):
        return f"callx r{insn.dst}"
    if isinstance(insn, Exit):
        return "exit"
    raise TypeError(f"not an instruction: {insn!r}")


def llvm_line(pc: int, insn: Insn, **kw) -> str:
    """objdump's whole line: ``{pc:>8}:\\t<hex bytes>\\t<text>``.

    An ``ld_imm64`` is one line with all 16 bytes, as llvm-objdump-19 prints it.
    """
    hexbytes = " ".join(f"{b:02x}" for b in insn.encode())
    return f"{pc:>8}:\t{hexbytes}\t{format_llvm(insn, pc, **kw)}"
