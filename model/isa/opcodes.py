"""Opcode constants and name tables (RFC 9669 encoding).

Only numbers and names live here; the typed instructions (``insn``) and the decoder
(``decode``) are built on these tables so no encoding fact is written down twice.
"""

from __future__ import annotations

# instruction classes (low 3 bits)
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)

# source bit of ALU/JMP classes
K, X = 0x00, 0x08

# ALU operation codes (high 4 bits)
ALU_OPS: dict[str, int] = {
    "add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
    "lsh": 0x60, "rsh": 0x70, "neg": 0x80, "mod": 0x90, "xor": 0xa0, "mov": 0xb0,
    "arsh": 0xc0,
}
# ops that share an opcode with a base op and are told apart by the offset field
ALU_SIGNED: dict[str, str] = {"sdiv": "div", "smod": "mod", "movsx": "mov"}
ALU_OP_NAMES = tuple(ALU_OPS) + tuple(ALU_SIGNED)
END = 0xd0
ENDIAN_KINDS = ("le", "be", "bswap")
ENDIAN_WIDTHS = (16, 32, 64)
MOVSX_OFFS_32 = (8, 16)
MOVSX_OFFS_64 = (8, 16, 32)

# JMP operation codes (high 4 bits)
JMP_OPS: dict[str, int] = {
    "ja": 0x00, "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50,
    "jsgt": 0x60, "jsge": 0x70, "jlt": 0xa0, "jle": 0xb0, "jslt": 0xc0, "jsle": 0xd0,
}
CALL, EXIT, JCOND = 0x80, 0x90, 0xe0
MAY_GOTO = JMP | JCOND  # 0xe5

# JA src_reg values of the 2024 static-branch proposal
STATIC_NONE, STATIC_GOTOL_OR_NOP, STATIC_NOP_OR_GOTOL = 0, 1, 3
STATIC_FLAGS = (STATIC_NONE, STATIC_GOTOL_OR_NOP, STATIC_NOP_OR_GOTOL)

# call src_reg values
CALL_HELPER, CALL_PSEUDO, CALL_KFUNC = 0, 1, 2

# load/store size (bits 3-4) and mode (bits 5-7)
SIZES: dict[int, int] = {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}
SIZE_OF_BITS: dict[int, int] = {v: k for k, v in SIZES.items()}
SIZE_SUFFIX: dict[int, str] = {1: "b", 2: "h", 4: "w", 8: "dw"}
IMM, ABS, IND, MEM, MEMSX, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xc0
LEGACY_MODES: dict[str, int] = {"abs": ABS, "ind": IND}

LD_IMM64 = LD | IMM | 0x18  # 0x18
PSEUDO_SOURCES = range(7)  # ld_imm64 src_reg 0..6
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_BTF_ID, PSEUDO_FUNC = 1, 2, 3, 4
PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = 5, 6
# with PSEUDO_MAP_FD / PSEUDO_MAP_IDX the second slot's imm is reserved (must be 0)

# atomic operations (the imm field of STX|ATOMIC)
FETCH = 0x01
ATOMIC_OPS: dict[str, int] = {
    "add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xa0, "xchg": 0xe0, "cmpxchg": 0xf0,
}
ATOMIC_ALWAYS_FETCH = ("xchg", "cmpxchg")
ATOMIC_SIZES = (4, 8)
# BPF_LOAD_ACQ / BPF_STORE_REL (imm of an STX ATOMIC of any size 1/2/4/8)
LOAD_ACQ, STORE_REL = 0x100, 0x110

# operator text shared by both printers (kernel disasm.c and LLVM use the same symbols)
ALU_OP_STR: dict[str, str] = {
    "add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "or": "|=", "and": "&=",
    "lsh": "<<=", "rsh": ">>=", "mod": "%=", "xor": "^=", "mov": "=", "arsh": "s>>=",
    "sdiv": "s/=", "smod": "s%=", "movsx": "=",
}
JMP_OP_STR: dict[str, str] = {
    "jeq": "==", "jgt": ">", "jlt": "<", "jge": ">=", "jle": "<=", "jset": "&", "jne": "!=",
    "jsgt": "s>", "jslt": "s<", "jsge": "s>=", "jsle": "s<=",
}
# (is32, static) -> mnemonic of a ja: the 2024 proposal's names for the static forms
JA_MNEMONICS: dict[tuple[bool, int], str] = {
    (False, STATIC_NONE): "goto",
    (True, STATIC_NONE): "gotol", (True, STATIC_GOTOL_OR_NOP): "gotol_or_nop",
    (True, STATIC_NOP_OR_GOTOL): "nop_or_gotol",
}

MAX_REG = 10
FRAME_REG = 10


def mnemonic(code: int) -> str:
    """A short conformance-suite style name for an opcode byte (for error messages)."""
    cls, op, src = code & 7, code & 0xf0, code & 0x08
    if cls in (ALU, ALU64):
        if op == END:
            return "bswap" if cls == ALU64 else ("be" if src else "le")
        name = next((n for n, v in ALU_OPS.items() if v == op), None)
        if name is None:
            return "alu"
        return name + ("64" if cls == ALU64 else "")
    if cls in (JMP, JMP32):
        if op == CALL:
            return "callx" if src else "call"
        if op == EXIT:
            return "exit"
        if op == JCOND:
            return "may_goto"
        name = next((n for n, v in JMP_OPS.items() if v == op), None)
        if name is None:
            return "jmp"
        if name == "ja":
            return "gotol" if cls == JMP32 else "ja"
        return name + ("32" if cls == JMP32 else "")
    size = SIZE_SUFFIX[SIZE_OF_BITS[code & 0x18]]
    mode = code & 0xe0
    if cls == LD:
        if code == LD_IMM64:
            return "lddw"
        return {ABS: "ldabs", IND: "ldind"}.get(mode, "ld") + size
    if cls == LDX:
        return ("ldxs" if mode == MEMSX else "ldx") + size
    if cls == ST:
        return "st" + size
    if mode == ATOMIC:
        return "atomic" + {4: "32", 8: "64"}.get(SIZE_OF_BITS[code & 0x18], size)
    return "stx" + size
