"""Dynptr helpers for the interpreter, as Linux 6.18 runs them (kernel/bpf/helpers.c,
kernel/bpf/ringbuf.c): a ``struct bpf_dynptr`` is the kernel's ``bpf_dynptr_kern`` in its
16 bytes: the data pointer, then a u32 of the size (low 24 bits), the type (bits 28-30)
and the read-only bit (31), then a u32 offset. A failed initialisation leaves a NULL
dynptr (all zero), which reads, writes and slices refuse. A ring buffer dynptr's
reservation is held (model.interp.refs) until submitted or discarded.

The static rules (initialised dynptrs, no partial overwrite, references) are the
verifier's (model.verifier.dynptr); here a garbled dynptr is whatever its bytes say, and
its data pointer faults if it points nowhere. bpf_user_ringbuf_drain finds a few samples
(random bytes, count and sizes from the run's seed) and gives each to the callback as a
read-only local dynptr.
"""

from __future__ import annotations

import struct

from model.interp.helpers import map_for_helper
from model.interp.memory import FUNC_BASE, MemFault, Region
from model.interp.refs import _release, ringbuf_reserve
from model.platform.helpers import helper_id

EINVAL, E2BIG = -22, -7
SIZE_MASK, TYPE_SHIFT, RDONLY = 0xFFFFFF, 28, 1 << 31
LOCAL, RINGBUF, SKB, XDP = 1, 2, 3, 4  # (model.interp.skb_dynptrs: skb / xdp)
SKB_WRITE_FLAGS = 1 | 2  # BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
SAMPLE_BASE = 0x7800_0000_0000
FROM_MEM, RESERVE_DYNPTR, SUBMIT_DYNPTR, DISCARD_DYNPTR = (
    helper_id(n) for n in ("dynptr_from_mem", "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr",
                           "ringbuf_discard_dynptr"))
READ, WRITE, DATA, DRAIN = 201, 202, 203, 209
WAKEUP_FLAGS = 1 | 2  # BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP


def _set(m, ptr: int, data: int, size: int, kind: int, rdonly: bool = False) -> None:
    info = (size & SIZE_MASK) | (kind << TYPE_SHIFT) | (RDONLY if rdonly else 0)
    m.mem.store_bytes(ptr, struct.pack("<QII", data, info, 0))


def _get(m, ptr: int) -> tuple[int, int, int, bool, int]:
    """(data, size, type, read-only, offset) of the dynptr at ``ptr``."""
    data, info, off = struct.unpack("<QII", m.mem.load_bytes(ptr, 16))
    return data, info & SIZE_MASK, (info >> TYPE_SHIFT) & 7, bool(info & RDONLY), off


def _null(m, ptr: int, err: int) -> int:
    m.mem.store_bytes(ptr, bytes(16))
    return err


def from_mem(m, r1, r2, r3, r4, r5):
    if r2 & 0xFFFFFFFF > SIZE_MASK:
        return _null(m, r4, E2BIG)
    if r3:
        return _null(m, r4, EINVAL)
    _set(m, r4, r1, r2 & 0xFFFFFFFF, LOCAL)
    return 0


def reserve_dynptr(m, r1, r2, r3, r4, r5):
    size = r2 & 0xFFFFFFFF
    if r3:
        map_for_helper(m, r1, RESERVE_DYNPTR)
        return _null(m, r4, EINVAL)
    if size > SIZE_MASK:
        return _null(m, r4, E2BIG)
    data = ringbuf_reserve(m, r1, size, 0, 0, 0)
    if not data:
        return _null(m, r4, EINVAL)
    _set(m, r4, data, size, RINGBUF)
    return 0


def _release_dynptr(helper: str):
    def release(m, r1, r2, r3, r4, r5):
        data, _, kind, _, _ = _get(m, r1)
        if data:  # a NULL dynptr (a failed reservation) holds nothing
            if kind != RINGBUF:
                raise MemFault(r1, 0, f"{helper}: the dynptr at {r1:#x} is not a ring buffer's")
            _release(m, data, "ringbuf", helper)
        m.mem.store_bytes(r1, bytes(16))
        return 0
    return release


def _at(m, ptr: int, off: int, n: int, write: bool, flags: int) -> int:
    """The address of ``n`` bytes at ``off`` in the dynptr at ``ptr``, or an error: a NULL
    dynptr, a write to a read-only one, flags (-EINVAL); past its end
    (bpf_dynptr_check_off_len: -E2BIG)."""
    data, size, _, rdonly, base = _get(m, ptr)
    off, n = off & 0xFFFFFFFF, n & 0xFFFFFFFF
    if not data or (write and rdonly) or (flags and not write):
        return EINVAL
    if off > size or n > size - off:
        return E2BIG
    return EINVAL if flags else data + base + off


def read(m, r1, r2, r3, r4, r5):
    at = _at(m, r3, r4, r2, False, r5)
    if at > 0:
        m.mem.store_bytes(r1, m.mem.load_bytes(at, r2 & 0xFFFFFFFF))
    return min(at, 0)


def write(m, r1, r2, r3, r4, r5):
    if _get(m, r1)[2] == SKB:  # __bpf_skb_store_bytes' flags
        r5 &= ~SKB_WRITE_FLAGS
    at = _at(m, r1, r2, r4, True, r5)
    if at > 0:
        m.mem.store_bytes(at, m.mem.load_bytes(r3, r4 & 0xFFFFFFFF))
    return min(at, 0)


def data(m, r1, r2, r3, r4, r5):
    if _get(m, r1)[2] in (SKB, XDP):  # skb / xdp dynptrs take bpf_dynptr_slice
        return 0
    return max(_at(m, r1, r2, r3, True, 0), 0)  # NULL where the others fail


def user_ringbuf_drain(m, r1, r2, r3, r4, r5):
    """The callback gets (a read-only local dynptr over a sample, ctx) for each sample,
    until it returns non-zero; the number of samples drained. Flags other than
    BPF_RB_NO_WAKEUP / BPF_RB_FORCE_WAKEUP give -EINVAL (kernel/bpf/ringbuf.c)."""
    map_for_helper(m, r1, DRAIN)
    if r4 & ~WAKEUP_FLAGS:
        return EINVAL
    done = 0
    for _ in range(m.rng.randint(0, 3)):
        size = m.rng.choice((0, 1, 8, 16, 64))
        at = SAMPLE_BASE + len(m.frames) * 0x1000
        region = m.mem.add(Region("user_ringbuf sample", "rodata", at,
                                  bytearray(16 + size), False))
        region.data[16:] = bytes(m.rng.randrange(256) for _ in range(size))
        region.data[:16] = struct.pack("<QII", at + 16, size | (LOCAL << TYPE_SHIFT) | RDONLY,
                                       0)
        try:
            ret = m.call_back(r2 - FUNC_BASE, [at, r3])
        finally:
            m.mem.remove(region)
        done += 1
        if ret & 0xFFFFFFFFFFFFFFFF:
            break
    return done


DYNPTR_HELPERS = {FROM_MEM: from_mem, RESERVE_DYNPTR: reserve_dynptr,
                  SUBMIT_DYNPTR: _release_dynptr("bpf_ringbuf_submit_dynptr"),
                  DISCARD_DYNPTR: _release_dynptr("bpf_ringbuf_discard_dynptr"),
                  READ: read, WRITE: write, DATA: data, DRAIN: user_ringbuf_drain}
