"""BTF func info for a raw program load: the kernel refuses ``ld_imm64`` of a function (a
callback, ``BPF_PSEUDO_FUNC``) unless the program carries BTF func info ("missing btf
func_info"), so a program with callbacks is loaded with a minimal BTF blob (``int``, one
``int (void)`` prototype, one static ``FUNC`` per function) and one ``struct
bpf_func_info`` record (insn offset, FUNC type id) per function start.

Measured on Linux 6.18 (tests/test_callbacks.py): static linkage for every function,
including the entry, is accepted for every program type skv loads this way.
"""

from __future__ import annotations

import ctypes
import struct

from model.kernel.bpf import BpfError, Fd, _buf, _u32, _u64, sys_bpf

BPF_BTF_LOAD = 18
BTF_MAGIC = 0xEB9F
KIND_INT, KIND_FUNC, KIND_FUNC_PROTO = 1, 12, 13


class BtfLoadAttr(ctypes.Structure):
    _fields_ = [("btf", _u64), ("btf_log_buf", _u64), ("btf_size", _u32),
                ("btf_log_size", _u32), ("btf_log_level", _u32), ("btf_log_true_size", _u32)]


def func_btf(names: list[str]) -> bytes:
    """A BTF blob: [1] int, [2] int (void), [3 + k] static FUNC ``names[k]``."""
    strings = bytearray(b"\0int\0")
    types = bytearray()
    types += struct.pack("<III", 1, KIND_INT << 24, 4) + struct.pack("<I", (1 << 24) | 32)
    types += struct.pack("<III", 0, KIND_FUNC_PROTO << 24, 1)
    for name in names:
        off = len(strings)
        strings += name.encode() + b"\0"
        types += struct.pack("<III", off, KIND_FUNC << 24, 2)
    header = struct.pack("<HBBIIIII", BTF_MAGIC, 1, 0, 24, 0, len(types), len(types),
                         len(strings))
    return header + bytes(types) + bytes(strings)


def func_info_records(starts: list[int]) -> bytes:
    """``struct bpf_func_info`` records for the functions at ``starts`` (sorted pcs)."""
    return b"".join(struct.pack("<II", pc, 3 + k) for k, pc in enumerate(starts))


def btf_load(data: bytes) -> Fd:
    """BPF_BTF_LOAD: an owned BTF fd (``BpfError`` with the kernel's BTF log if refused)."""
    blob = _buf(data)
    log = ctypes.create_string_buffer(1 << 16)
    attr = BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                       btf_log_buf=ctypes.addressof(log), btf_log_size=len(log),
                       btf_log_level=1)
    r = sys_bpf(BPF_BTF_LOAD, attr)
    if r < 0:
        raise BpfError(BPF_BTF_LOAD, -r, log.value.decode(errors="replace").strip())
    return Fd(r)


def program_func_info(prog) -> tuple[Fd, bytes] | None:
    """A BTF fd and func info records for a program with callbacks (``ld_imm64`` of a
    function), one FUNC per function start; None for other programs (loaded without)."""
    from model.cfg.graph import func_starts
    from model.isa import LoadImm64
    from model.program import PSEUDO_FUNC

    if not any(isinstance(i, LoadImm64) and i.src == PSEUDO_FUNC for i in prog.insns):
        return None
    starts = sorted(func_starts(prog))
    names = [f"f{pc}" for pc in starts]
    return btf_load(func_btf(names)), func_info_records(starts)


__all__ = ["func_btf", "func_info_records", "btf_load", "program_func_info"]
