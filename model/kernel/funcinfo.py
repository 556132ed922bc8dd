"""BTF func info for a raw program load: the kernel refuses ``ld_imm64`` of a function (a
callback, ``BPF_PSEUDO_FUNC``) unless the program carries BTF func info ("missing btf
func_info"), so a program with callbacks is loaded with a minimal BTF blob (``int``, one
``int (void)`` prototype, one static ``FUNC`` per function) and one ``struct
bpf_func_info`` record (insn offset, FUNC type id) per function start.

Measured on Linux 6.18 (tests/test_callbacks.py): static linkage for every function,
including the entry, is accepted for every program type skv loads this way.
"""

from __future__ import annotations

import struct

from model.elf.btf import btf_blob

KIND_INT, KIND_FUNC, KIND_FUNC_PROTO = 1, 12, 13


def func_btf(names: list[str], global_names=frozenset()) -> bytes:
    """A BTF blob: [1] int, [2] int (void), [3 + k] FUNC ``names[k]``, static unless in
    ``global_names`` (global linkage: verified on its own)."""
    strings = bytearray(b"\0int\0")
    types = bytearray()
    types += struct.pack("<III", 1, KIND_INT << 24, 4) + struct.pack("<I", (1 << 24) | 32)
    types += struct.pack("<III", 0, KIND_FUNC_PROTO << 24, 1)
    for name in names:
        off = len(strings)
        strings += name.encode() + b"\0"
        types += struct.pack("<III", off, KIND_FUNC << 24 | (name in global_names), 2)
    return btf_blob(types, strings)


def func_info_records(starts: list[int]) -> tuple[tuple[int, int], ...]:
    """``struct bpf_func_info`` records (insn, FUNC type id) for the functions at
    ``starts`` (sorted pcs)."""
    return tuple((pc, 3 + k) for k, pc in enumerate(starts))


def program_func_info(prog) -> tuple[bytes, tuple[tuple[int, int], ...]] | None:
    """A BTF blob and func info records for a program with callbacks (``ld_imm64`` of a
    function), one FUNC per function start; None for other programs (loaded without)."""
    from model.cfg.graph import func_starts
    from model.isa import LoadImm64
    from model.program import PSEUDO_FUNC

    if not any(isinstance(i, LoadImm64) and i.src == PSEUDO_FUNC for i in prog.insns):
        return None
    starts = sorted(func_starts(prog))
    names = [f"f{pc}" for pc in starts]
    return func_btf(names), func_info_records(starts)


__all__ = ["func_btf", "func_info_records", "program_func_info"]
