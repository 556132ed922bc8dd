"""x86-64 encodings of single BPF instructions, after Linux 6.18's
``arch/x86/net/bpf_jit_comp.c`` (our own code; the rules are the kernel's).

Works on raw BPF slots (:class:`model.isa.insn.Raw`), as the kernel JIT does, so that
kernel-internal registers (``BPF_REG_AX`` = 11, mapped to r10) and encodings the verifier
inserts (``mov rX, percpu``) can be emitted as well as plain instructions.

Only the straight-line instructions live here (ALU, loads, stores, atomics, ``ld_imm64``);
control flow (jumps, calls, exit), the prologue and the multi-pass sizing are in
:mod:`model.x86.jit`, which owns the addresses.
"""

from __future__ import annotations

import struct

# --- register mapping (reg2hex / is_ereg of the kernel) ---------------------------------
AX = 11          # BPF_REG_AX (MAX_BPF_REG): x86 r10, used by verifier rewrites / blinding
AUX = 13         # AUX_REG (MAX_BPF_JIT_REG + 1): x86 r11, JIT scratch
R9 = 14          # X86_REG_R9
R12 = 15         # X86_REG_R12
REG2HEX = {0: 0, 1: 7, 2: 6, 3: 2, 4: 1, 5: 0, 6: 3, 7: 5, 8: 6, 9: 7, 10: 5, AX: 2, AUX: 3,
           R9: 1, R12: 4}
X86_NAMES = {0: "rax", 1: "rdi", 2: "rsi", 3: "rdx", 4: "rcx", 5: "r8", 6: "rbx", 7: "r13",
             8: "r14", 9: "r15", 10: "rbp", AX: "r10", AUX: "r11", R9: "r9", R12: "r12"}
_EREGS = {5, 7, 8, 9, AX, AUX, R9, R12}

#: canonical x86 NOPs (``x86_nops``), as the kernel's ``emit_nops`` uses them
X86_NOPS = {
    1: b"\x90", 2: b"\x66\x90", 3: b"\x0f\x1f\x00", 4: b"\x0f\x1f\x40\x00",
    5: b"\x0f\x1f\x44\x00\x00", 6: b"\x66\x0f\x1f\x44\x00\x00",
    7: b"\x0f\x1f\x80\x00\x00\x00\x00", 8: b"\x0f\x1f\x84\x00\x00\x00\x00\x00",
}
ASM_NOP_MAX = 8

# BPF opcode fields
CLS_LD, CLS_LDX, CLS_ST, CLS_STX, CLS_ALU, CLS_JMP, CLS_JMP32, CLS_ALU64 = range(8)
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_OR, OP_AND, OP_LSH, OP_RSH = (0x00, 0x10, 0x20, 0x30, 0x40,
                                                                  0x50, 0x60, 0x70)
OP_NEG, OP_MOD, OP_XOR, OP_MOV, OP_ARSH, OP_END = 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0
SRC_X = 0x08
SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
MODE_MEM, MODE_MEMSX, MODE_ATOMIC = 0x60, 0x80, 0xc0
BPF_ADDR_PERCPU = -1
FETCH, XCHG, CMPXCHG, LOAD_ACQ, STORE_REL = 0x01, 0xe1, 0xf1, 0x100, 0x110

SIMPLE_ALU = {OP_ADD: 0x01, OP_SUB: 0x29, OP_AND: 0x21, OP_OR: 0x09, OP_XOR: 0x31,
              OP_LSH: 0xE0, OP_RSH: 0xE8, OP_ARSH: 0xF8}


class Unsupported(Exception):
    """An instruction this model does not JIT (tail calls, arena, LD_ABS/IND, ...)."""


def is_ereg(r: int) -> bool:
    return r in _EREGS


def is_ereg_8l(r: int) -> bool:
    return is_ereg(r) or r in (1, 2, 10)


def is_imm8(v: int) -> bool:
    return -128 <= v <= 127


def is_imm8_jmp_offset(v: int) -> bool:
    """The 6.18 JIT's rule for a short (rel8) jump: -128..123, so the passes converge."""
    return -128 <= v <= 123


def is_simm32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


def is_uimm32(v: int) -> bool:
    return 0 <= v < (1 << 32)


def u8(v: int) -> int:
    return v & 0xff


def le32(v: int) -> bytes:
    return struct.pack("<I", v & 0xffffffff)


def add_1mod(b: int, r: int) -> int:
    return b | 1 if is_ereg(r) else b


def add_2mod(b: int, r1: int, r2: int) -> int:
    if is_ereg(r1):
        b |= 1
    if is_ereg(r2):
        b |= 4
    return b


def add_1reg(b: int, r: int) -> int:
    return u8(b + REG2HEX[r])


def add_2reg(b: int, dst: int, src: int) -> int:
    return u8(b + REG2HEX[dst] + (REG2HEX[src] << 3))


class Out(bytearray):
    """The bytes of one BPF instruction being emitted (the kernel's ``temp``)."""

    def e(self, *bs: int) -> None:
        self.extend(u8(b) for b in bs)

    def off32(self, v: int) -> None:
        self.extend(le32(v))

    def nops(self, n: int) -> None:
        while n > 0:
            k = min(n, ASM_NOP_MAX)
            self.extend(X86_NOPS[k])
            n -= k


# --- helpers mirroring the kernel's emit_* functions ---------------------------------------
def mov_reg(o: Out, is64: bool, dst: int, src: int) -> None:
    if is64:
        if dst != src:
            o.e(add_2mod(0x48, dst, src), 0x89, add_2reg(0xC0, dst, src))
    else:
        if is_ereg(dst) or is_ereg(src):
            o.e(add_2mod(0x40, dst, src))
        o.e(0x89, add_2reg(0xC0, dst, src))


def mov_imm32(o: Out, sign_propagate: bool, dst: int, imm32: int) -> None:
    imm32 &= 0xffffffff
    if sign_propagate and imm32 >= 0x80000000:
        o.e(add_1mod(0x48, dst), 0xC7, add_1reg(0xC0, dst))
        o.off32(imm32)
        return
    if imm32 == 0:
        if is_ereg(dst):
            o.e(add_2mod(0x40, dst, dst))
        o.e(0x31, add_2reg(0xC0, dst, dst))
        return
    if is_ereg(dst):
        o.e(add_1mod(0x40, dst))
    o.e(add_1reg(0xB8, dst))
    o.off32(imm32)


def mov_imm64(o: Out, dst: int, value: int, *, force_abs: bool = False) -> int:
    """``emit_mov_imm64``; returns the offset in ``o`` of the imm64 if movabs was used
    (-1 otherwise). ``force_abs``: a kernel address (map pointer), always movabs."""
    value &= (1 << 64) - 1
    lo, hi = value & 0xffffffff, value >> 32
    signed = value - (1 << 64) if value >> 63 else value
    if not force_abs and is_uimm32(value):
        mov_imm32(o, False, dst, lo)
    elif not force_abs and is_simm32(signed):
        mov_imm32(o, True, dst, lo)
    else:
        o.e(add_1mod(0x48, dst), add_1reg(0xB8, dst))
        at = len(o)
        o.off32(lo)
        o.off32(hi)
        return at
    return -1


def movsx_reg(o: Out, bits: int, is64: bool, dst: int, src: int) -> None:
    if is64:
        if bits == 8:
            o.e(add_2mod(0x48, src, dst), 0x0f, 0xbe, add_2reg(0xC0, src, dst))
        elif bits == 16:
            o.e(add_2mod(0x48, src, dst), 0x0f, 0xbf, add_2reg(0xC0, src, dst))
        elif bits == 32:
            o.e(add_2mod(0x48, src, dst), 0x63, add_2reg(0xC0, src, dst))
    else:
        if bits == 8:
            o.e(add_2mod(0x40, src, dst), 0x0f, 0xbe, add_2reg(0xC0, src, dst))
        elif bits == 16:
            if is_ereg(dst) or is_ereg(src):
                o.e(add_2mod(0x40, src, dst))
            o.e(add_2mod(0x0f, src, dst), 0xbf, add_2reg(0xC0, src, dst))


def insn_suffix(o: Out, ptr: int, val: int, off: int) -> None:
    if is_imm8(off):
        o.e(add_2reg(0x40, ptr, val), off)
    else:
        o.e(add_2reg(0x80, ptr, val))
        o.off32(off)


def maybe_mod(o: Out, dst: int, src: int, is64: bool) -> None:
    if is64:
        o.e(add_2mod(0x48, dst, src))
    elif is_ereg(dst) or is_ereg(src):
        o.e(add_2mod(0x40, dst, src))


def maybe_1mod(o: Out, reg: int, is64: bool) -> None:
    if is64:
        o.e(add_1mod(0x48, reg))
    elif is_ereg(reg):
        o.e(add_1mod(0x40, reg))


def ldx(o: Out, size: int, dst: int, src: int, off: int) -> None:
    if size == 1:
        o.e(add_2mod(0x48, src, dst), 0x0F, 0xB6)
    elif size == 2:
        o.e(add_2mod(0x48, src, dst), 0x0F, 0xB7)
    elif size == 4:
        if is_ereg(dst) or is_ereg(src):
            o.e(add_2mod(0x40, src, dst), 0x8B)
        else:
            o.e(0x8B)
    else:
        o.e(add_2mod(0x48, src, dst), 0x8B)
    insn_suffix(o, src, dst, off)


def ldsx(o: Out, size: int, dst: int, src: int, off: int) -> None:
    if size == 1:
        o.e(add_2mod(0x48, src, dst), 0x0F, 0xBE)
    elif size == 2:
        o.e(add_2mod(0x48, src, dst), 0x0F, 0xBF)
    elif size == 4:
        o.e(add_2mod(0x48, src, dst), 0x63)
    insn_suffix(o, src, dst, off)


def stx(o: Out, size: int, dst: int, src: int, off: int) -> None:
    if size == 1:
        if is_ereg(dst) or is_ereg_8l(src):
            o.e(add_2mod(0x40, dst, src), 0x88)
        else:
            o.e(0x88)
    elif size == 2:
        if is_ereg(dst) or is_ereg(src):
            o.e(0x66, add_2mod(0x40, dst, src), 0x89)
        else:
            o.e(0x66, 0x89)
    elif size == 4:
        if is_ereg(dst) or is_ereg(src):
            o.e(add_2mod(0x40, dst, src), 0x89)
        else:
            o.e(0x89)
    else:
        o.e(add_2mod(0x48, dst, src), 0x89)
    insn_suffix(o, dst, src, off)


def st_imm(o: Out, size: int, dst: int, off: int, imm: int) -> None:
    if size == 1:
        o.e(*((0x41, 0xC6) if is_ereg(dst) else (0xC6,)))
    elif size == 2:
        o.e(*((0x66, 0x41, 0xC7) if is_ereg(dst) else (0x66, 0xC7)))
    elif size == 4:
        o.e(*((0x41, 0xC7) if is_ereg(dst) else (0xC7,)))
    else:
        o.e(add_1mod(0x48, dst), 0xC7)
    if is_imm8(off):
        o.e(add_1reg(0x40, dst), off)
    else:
        o.e(add_1reg(0x80, dst))
        o.off32(off)
    o.extend(struct.pack("<I", imm & 0xffffffff)[:{1: 1, 2: 2, 4: 4, 8: 4}[size]])


def atomic_rmw(o: Out, op: int, dst: int, src: int, off: int, size: int) -> None:
    o.e(0xF0)
    maybe_mod(o, dst, src, size == 8)
    if op in (OP_ADD, OP_AND, OP_OR, OP_XOR):
        o.e(SIMPLE_ALU[op])
    elif op == OP_ADD | FETCH:
        o.e(0x0F, 0xC1)
    elif op == XCHG:
        o.e(0x87)
    elif op == CMPXCHG:
        o.e(0x0F, 0xB1)
    else:
        raise Unsupported(f"atomic op {op:#x}")
    insn_suffix(o, dst, src, off)


def shiftx(o: Out, dst: int, src: int, is64: bool, pp: int) -> None:
    """BMI2 ``shlx/shrx/sarx dst, dst, src`` (3-byte VEX, map 0f38)."""
    r = is_ereg(dst)
    vvvv = REG2HEX[src] | (8 if is_ereg(src) else 0)
    b1 = ((not r) << 7) | (1 << 6) | ((not r) << 5) | 2
    b2 = (int(is64) << 7) | ((~vvvv & 0xf) << 3) | (pp & 3)
    o.e(0xc4, b1, b2, 0xf7, add_2reg(0xC0, dst, dst))


# --- one straight-line instruction ---------------------------------------------------------
def emit_simple(o: Out, code: int, dst: int, src: int, off: int, imm: int, *,
                bmi2: bool) -> str | None:
    """Emit a non-control-flow instruction (not ld_imm64). Returns a reloc kind when the
    bytes hold an absolute kernel address (``"percpu"``), else None."""
    cls, op = code & 7, code & 0xf0
    if cls in (CLS_ALU, CLS_ALU64):
        is64 = cls == CLS_ALU64
        x = bool(code & SRC_X)
        if op in (OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR):
            if x:
                maybe_mod(o, dst, src, is64)
                o.e(SIMPLE_ALU[op], add_2reg(0xC0, dst, src))
            else:
                maybe_1mod(o, dst, is64)
                b3, b2 = {OP_ADD: (0xC0, 0x05), OP_SUB: (0xE8, 0x2D), OP_AND: (0xE0, 0x25),
                          OP_OR: (0xC8, 0x0D), OP_XOR: (0xF0, 0x35)}[op]
                if is_imm8(imm):
                    o.e(0x83, add_1reg(b3, dst), imm)
                elif dst == 0:
                    o.e(b2)
                    o.off32(imm)
                else:
                    o.e(0x81, add_1reg(b3, dst))
                    o.off32(imm)
        elif op == OP_MOV:
            if x:
                if is64 and off == BPF_ADDR_PERCPU and imm == 0:
                    mov_reg(o, True, dst, src)
                    o.e(0x65, add_1mod(0x48, dst), 0x03, add_2reg(0x04, 0, dst), 0x25)
                    o.off32(0)  # &this_cpu_off: an absolute kernel address
                    return "percpu"
                if is64 and off == 1:
                    raise Unsupported("addr_space_cast (arena)")
                if off == 0:
                    mov_reg(o, is64, dst, src)
                else:
                    movsx_reg(o, off, is64, dst, src)
            else:
                mov_imm32(o, is64, dst, imm)
        elif op == OP_NEG:
            maybe_1mod(o, dst, is64)
            o.e(0xF7, add_1reg(0xD8, dst))
        elif op in (OP_DIV, OP_MOD):
            _divmod(o, is64, op, x, dst, src, off, imm)
        elif op == OP_MUL:
            if x:
                maybe_mod(o, src, dst, is64)
                o.e(0x0F, 0xAF, add_2reg(0xC0, src, dst))
            else:
                maybe_mod(o, dst, dst, is64)
                if is_imm8(imm):
                    o.e(0x6B, add_2reg(0xC0, dst, dst), imm)
                else:
                    o.e(0x69, add_2reg(0xC0, dst, dst))
                    o.off32(imm)
        elif op in (OP_LSH, OP_RSH, OP_ARSH):
            _shift(o, is64, op, x, dst, src, imm, bmi2)
        elif op == OP_END:
            _endian(o, cls, bool(code & SRC_X), dst, imm)
        else:
            raise Unsupported(f"ALU opcode {code:#04x}")
        return None
    size = SIZE_BYTES[code & 0x18]
    mode = code & 0xe0
    if cls == CLS_LDX and mode in (MODE_MEM, MODE_MEMSX):
        (ldsx if mode == MODE_MEMSX else ldx)(o, size, dst, src, off)
    elif cls == CLS_ST and mode == MODE_MEM:
        st_imm(o, size, dst, off, imm)
    elif cls == CLS_STX and mode == MODE_MEM:
        stx(o, size, dst, src, off)
    elif cls == CLS_STX and mode == MODE_ATOMIC:
        _atomic(o, size, dst, src, off, imm)
    else:
        raise Unsupported(f"opcode {code:#04x}")
    return None


def _divmod(o: Out, is64: bool, op: int, x: bool, dst: int, src: int, off: int,
            imm: int) -> None:
    if dst != 0:
        o.e(0x50)                      # push rax
    if dst != 3:
        o.e(0x52)                      # push rdx
    if x:
        if src in (0, 3):
            mov_reg(o, True, AUX, src)  # mov r11, src
            src = AUX
    else:
        o.e(0x49, 0xC7, 0xC3)          # mov r11, imm32
        o.off32(imm)
        src = AUX
    if dst != 0:
        mov_reg(o, is64, 0, dst)
    if off == 0:
        o.e(0x31, 0xd2)                # xor edx, edx
        maybe_1mod(o, src, is64)
        o.e(0xF7, add_1reg(0xF0, src))  # div src
    else:
        o.e(*((0x48, 0x99) if is64 else (0x99,)))  # cqo / cdq
        maybe_1mod(o, src, is64)
        o.e(0xF7, add_1reg(0xF8, src))  # idiv src
    if op == OP_MOD and dst != 3:
        mov_reg(o, is64, dst, 3)
    elif op == OP_DIV and dst != 0:
        mov_reg(o, is64, dst, 0)
    if dst != 3:
        o.e(0x5A)                      # pop rdx
    if dst != 0:
        o.e(0x58)                      # pop rax


def _shift(o: Out, is64: bool, op: int, x: bool, dst: int, src: int, imm: int,
           bmi2: bool) -> None:
    b3 = SIMPLE_ALU[op]
    if not x:
        maybe_1mod(o, dst, is64)
        if imm == 1:
            o.e(0xD1, add_1reg(b3, dst))
        else:
            o.e(0xC1, add_1reg(b3, dst), imm)
        return
    if bmi2 and src != 4:
        shiftx(o, dst, src, is64, {OP_LSH: 1, OP_RSH: 3, OP_ARSH: 2}[op])
        return
    orig_dst = dst
    if src != 4:
        if dst == 4:
            mov_reg(o, True, AUX, dst)
            dst = AUX
        else:
            o.e(0x51)                  # push rcx
        mov_reg(o, True, 4, src)       # mov rcx, src
    maybe_1mod(o, dst, is64)
    o.e(0xD3, add_1reg(b3, dst))
    if src != 4:
        if orig_dst == 4:
            mov_reg(o, True, orig_dst, AUX)
        else:
            o.e(0x59)                  # pop rcx


def _endian(o: Out, cls: int, to_be: bool, dst: int, imm: int) -> None:
    if to_be or cls == CLS_ALU64:      # be16/32/64 and bswap16/32/64
        if imm == 16:
            o.e(0x66)
            if is_ereg(dst):
                o.e(0x41)
            o.e(0xC1, add_1reg(0xC8, dst), 8)
            o.e(*((0x45, 0x0F, 0xB7) if is_ereg(dst) else (0x0F, 0xB7)))
            o.e(add_2reg(0xC0, dst, dst))
        elif imm == 32:
            o.e(*((0x41, 0x0F) if is_ereg(dst) else (0x0F,)))
            o.e(add_1reg(0xC8, dst))
        elif imm == 64:
            o.e(add_1mod(0x48, dst), 0x0F, add_1reg(0xC8, dst))
    else:                              # le16/32/64: zero-extension only
        if imm == 16:
            o.e(*((0x45, 0x0F, 0xB7) if is_ereg(dst) else (0x0F, 0xB7)))
            o.e(add_2reg(0xC0, dst, dst))
        elif imm == 32:
            if is_ereg(dst):
                o.e(0x45)
            o.e(0x89, add_2reg(0xC0, dst, dst))


def _atomic(o: Out, size: int, dst: int, src: int, off: int, imm: int) -> None:
    if imm in (OP_AND | FETCH, OP_OR | FETCH, OP_XOR | FETCH):
        # no single x86 instruction: a CMPXCHG loop, r0 saved in r10 (BPF_REG_AX)
        is64 = size == 8
        rsrc = AX if src == 0 else src
        rdst = AX if dst == 0 else dst
        mov_reg(o, True, AX, 0)
        loop = len(o)
        ldx(o, size, 0, rdst, off)
        mov_reg(o, is64, AUX, 0)
        maybe_mod(o, AUX, rsrc, is64)
        o.e(SIMPLE_ALU[imm & 0xf0], add_2reg(0xC0, AUX, rsrc))
        atomic_rmw(o, CMPXCHG, rdst, AUX, off, size)
        o.e(0x75, -(len(o) - loop) - 2)  # jne loop
        mov_reg(o, is64, rsrc, 0)
        mov_reg(o, True, 0, AX)
        return
    if imm == LOAD_ACQ:
        ldx(o, size, dst, src, off)
    elif imm == STORE_REL:
        stx(o, size, dst, src, off)
    else:
        if size not in (4, 8):
            raise Unsupported("1- and 2-byte RMW atomics")
        atomic_rmw(o, imm, dst, src, off, size)
