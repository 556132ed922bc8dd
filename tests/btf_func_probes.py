"""Probes with bpf-to-bpf subprograms that the kernel must see with BTF func info (a
subprogram doing ``bpf_tail_call`` needs it): a minimal BTF blob (``int`` and one
``int f(void)`` function per subprogram), loaded with ``BPF_BTF_LOAD`` and passed with
``func_info`` to ``BPF_PROG_LOAD``; the model sees the same functions as
``Program.func_names``."""

from __future__ import annotations

import ctypes
import struct

from model.isa import Call, encode, iter_pcs
from model.kernel.bpf import ProgLoadAttr, bpf_call, prog_type_number, sys_bpf
from model.kernel.oracle import patch_map_fds, rejection_reason  # noqa: F401 (re-export)

BPF_BTF_LOAD = 18
BTF_MAGIC = 0xEB9F
INT, FUNC, FUNC_PROTO = 1, 12, 13


class _BtfLoadAttr(ctypes.Structure):
    _fields_ = [("btf", ctypes.c_uint64), ("btf_log_buf", ctypes.c_uint64),
                ("btf_size", ctypes.c_uint32), ("btf_log_size", ctypes.c_uint32),
                ("btf_log_level", ctypes.c_uint32)]


def func_starts(insns) -> list[int]:
    """pc 0 and every bpf-to-bpf call target, sorted."""
    starts = {0}
    for pc, i in iter_pcs(insns):
        if isinstance(i, Call) and i.src == 1:
            starts.add(i.target(pc))
    return sorted(starts)


def btf_blob(n_funcs: int) -> bytes:
    """type 1: int; type 2: int (void); types 3..: FUNC f<k> (static) of type 2."""
    strs = b"\0int\0" + b"".join(f"f{k}\0".encode() for k in range(n_funcs))
    name_off = {k: 5 + sum(len(f"f{j}") + 1 for j in range(k)) for k in range(n_funcs)}
    types = struct.pack("<IIII", 1, INT << 24, 4, (1 << 24) | 32)  # signed, 32 bits
    types += struct.pack("<III", 0, FUNC_PROTO << 24, 1)  # int (void)
    for k in range(n_funcs):
        types += struct.pack("<III", name_off[k], FUNC << 24, 2)  # static linkage
    hdr = struct.pack("<HBBIIIII", BTF_MAGIC, 1, 0, 24, 0, len(types), len(types),
                      len(strs))
    return hdr + types + strs


def load_with_funcs(insns, prog_type: str, maps: dict) -> tuple[bool, str]:
    """The kernel's verdict and log for ``insns`` (model Insns) with func info."""
    blob = btf_blob(len(func_starts(insns)))
    bbuf = ctypes.create_string_buffer(blob, len(blob))
    blog = ctypes.create_string_buffer(1 << 16)
    battr = _BtfLoadAttr(btf=ctypes.addressof(bbuf), btf_log_buf=ctypes.addressof(blog),
                         btf_size=len(blob), btf_log_size=1 << 16, btf_log_level=1)
    btf_fd = bpf_call(BPF_BTF_LOAD, battr, "BTF_LOAD")
    import os
    try:
        starts = func_starts(insns)
        finfo = b"".join(struct.pack("<II", pc, 3 + k) for k, pc in enumerate(starts))
        fbuf = ctypes.create_string_buffer(finfo, len(finfo))
        code = patch_map_fds(encode(insns), maps)
        ibuf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(b"GPL")
        lbuf = ctypes.create_string_buffer(1 << 22)
        attr = ProgLoadAttr(prog_type=prog_type_number(prog_type), insn_cnt=len(code) // 8,
                            insns=ctypes.addressof(ibuf), license=ctypes.addressof(lic),
                            log_level=2, log_size=1 << 22, log_buf=ctypes.addressof(lbuf),
                            prog_btf_fd=btf_fd, func_info_rec_size=8,
                            func_info=ctypes.addressof(fbuf), func_info_cnt=len(starts))
        r = sys_bpf(5, attr)
        if r >= 0:
            os.close(r)
        return r >= 0, lbuf.value.decode(errors="replace")
    finally:
        os.close(btf_fd)
