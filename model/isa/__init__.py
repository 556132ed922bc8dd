"""The BPF instruction layer: typed instructions, decode/encode, printers, assembler.

See docs/isa-api.md for the contract every other layer codes against.
"""

from model.isa.asm import assemble
from model.isa.decode import decode, decode_one, encode, iter_pcs
from model.isa.kernel_fmt import format_kernel, kernel_line
from model.isa.llvm_fmt import format_llvm, llvm_line
from model.isa.insn import (
    Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64, MayGoto,
    LoadAcquire, Store, StoreRelease,
)

__all__ = [
    "Insn", "Alu", "Endian", "LoadImm64", "Load", "Store", "LoadAcquire", "StoreRelease",
    "Atomic", "LegacyLoad", "Jump",
    "MayGoto", "Call", "CallX", "Exit",
    "decode", "decode_one", "encode", "iter_pcs", "format_kernel", "kernel_line",
    "format_llvm", "llvm_line", "assemble",
]
