"""BPF semantics written once, evaluated over Python ints (interpreter) and over Z3
bit-vectors (symbolic engine)."""

from model.semantics.backend import INT, IntBackend, Z3Backend, mask, to_signed
from model.semantics.ops import (alu, atomic_result, byteswap, condition, endian, extend_load,
                                 imm64)

__all__ = ["INT", "IntBackend", "Z3Backend", "mask", "to_signed", "alu", "atomic_result",
           "byteswap", "condition", "endian", "extend_load", "imm64"]
