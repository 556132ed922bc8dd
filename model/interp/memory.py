"""Concrete memory for the interpreter: disjoint regions at fixed, well-separated base
addresses, so a pointer is an ordinary 64-bit integer and any access outside a region, or
across its end, is caught precisely.

Each region knows whether it may be written and, for stacks, which bytes were initialised:
reading an uninitialised stack byte is a fault, as the kernel verifier would reject it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from model.errors import SkvError

STACK_SIZE = 512  # per frame (MAX_BPF_STACK)
STACK_BASE = 0x1000_0000_0000
STACK_STRIDE = 0x10_0000
CTX_BASE = 0x2000_0000_0000
PACKET_BASE = 0x3000_0000_0000
MAP_BASE = 0x4000_0000_0000
MAP_STRIDE = 1 << 40
MAP_PTR_BASE = 0x5000_0000_0000  # map pointers are opaque handles, never dereferenced
FUNC_BASE = 0x6000_0000_0000  # callback addresses: FUNC_BASE + pc
KERNEL_BASE = 0xFFFF_8880_0000_0000  # memory only probe_read_kernel may touch


class MemFault(Exception):
    """An illegal access; the interpreter turns it into a ``Fault`` with the pc."""

    def __init__(self, addr: int, size: int, reason: str, region: str | None = None):
        self.addr, self.size, self.reason, self.region = addr, size, reason, region
        super().__init__(reason)


@dataclass
class Region:
    name: str
    kind: str  # stack | ctx | packet | map_value | rodata | kernel
    base: int
    data: bytearray
    writable: bool = True
    init: bytearray | None = None  # per-byte initialised flags (stacks only)
    meta: dict = field(default_factory=dict)
    readable: bool = True  # False: a BPF_F_WRONLY_PROG map's value

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def end(self) -> int:
        return self.base + len(self.data)


#: bytes the interpreter's regions may hold in all (map values, contexts, packets, stacks)
MEMORY_BUDGET = 768 << 20


class MemoryBudgetExceeded(SkvError):
    """The run needs more memory than the interpreter's budget (a result, not a crash)."""


class Memory:
    def __init__(self, budget: int = MEMORY_BUDGET):
        self._bases: list[int] = []
        self._regions: list[Region] = []
        self.budget = budget
        self.used = 0

    def add(self, region: Region) -> Region:
        if self.used + len(region.data) > self.budget:
            raise MemoryBudgetExceeded(
                f"interpreter memory budget of {self.budget >> 20} MiB exhausted (region "
                f"{region.name}, {len(region.data)} bytes)")
        self.used += len(region.data)
        k = bisect.bisect_left(self._bases, region.base)
        if (k < len(self._regions) and self._regions[k].base < region.end) or \
                (k > 0 and self._regions[k - 1].end > region.base):
            raise ValueError(f"region {region.name} overlaps another")
        self._bases.insert(k, region.base)
        self._regions.insert(k, region)
        return region

    def remove(self, region: Region) -> None:
        k = self._regions.index(region)
        self.used -= len(region.data)
        del self._regions[k], self._bases[k]

    def find(self, addr: int) -> Region | None:
        k = bisect.bisect_right(self._bases, addr) - 1
        if k >= 0 and addr < self._regions[k].end:
            return self._regions[k]
        return None

    def regions(self) -> list[Region]:
        return list(self._regions)

    def region_for(self, addr: int, size: int, access: str) -> Region:
        r = self.find(addr)
        if r is None:
            near = self._nearest(addr)
            hint = f" ({addr - near.end:+d} bytes past {near.name})" if near and addr >= near.end \
                else ""
            raise MemFault(addr, size, f"{access} of {size} bytes at {addr:#x}: no region{hint}")
        if addr + size > r.end:
            raise MemFault(addr, size, f"{access} of {size} bytes at {r.name}+{addr - r.base} "
                                       f"crosses the end of {r.name} ({r.size} bytes)", r.name)
        if access == "read" and not r.readable:
            raise MemFault(addr, size, f"read from write-only {r.kind} {r.name}", r.name)
        return r

    def _nearest(self, addr: int) -> Region | None:
        k = bisect.bisect_right(self._bases, addr) - 1
        return self._regions[k] if k >= 0 else None

    def load(self, addr: int, size: int, *, kind_ok=None) -> int:
        r = self.region_for(addr, size, "read")
        if kind_ok is not None and r.kind not in kind_ok:
            raise MemFault(addr, size, f"read of {r.kind} memory {r.name} is not allowed here",
                           r.name)
        off = addr - r.base
        if r.init is not None and not all(r.init[off:off + size]):
            raise MemFault(addr, size, f"read of {size} bytes at {r.name}{off - r.size:+d} "
                                       "touches uninitialised stack", r.name)
        return int.from_bytes(r.data[off:off + size], "little")

    def load_bytes(self, addr: int, size: int) -> bytes:
        if size == 0:
            return b""
        r = self.region_for(addr, size, "read")
        off = addr - r.base
        if r.init is not None and not all(r.init[off:off + size]):
            raise MemFault(addr, size, f"read of {size} bytes at {r.name}{off - r.size:+d} "
                                       "touches uninitialised stack", r.name)
        return bytes(r.data[off:off + size])

    def store(self, addr: int, size: int, value: int) -> None:
        self.store_bytes(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def store_bytes(self, addr: int, data: bytes) -> None:
        if not data:
            return
        r = self.region_for(addr, len(data), "write")
        if not r.writable:
            raise MemFault(addr, len(data), f"write to read-only {r.kind} {r.name}", r.name)
        off = addr - r.base
        r.data[off:off + len(data)] = data
        if r.init is not None:
            r.init[off:off + len(data)] = b"\1" * len(data)

    def region_of(self, addr: int) -> Region | None:
        return self.find(addr)


def check_stack_alignment(addr: int, size: int) -> None:
    """A stack access must be aligned to its size, always (the verifier's rule,
    memcheck.alignment_bias; a frame's end is aligned, so fp-relative is absolute)."""
    if addr & (size - 1) and STACK_BASE <= addr < CTX_BASE:
        from model.verifier.memcheck import alignment_bias
        from model.verifier.regs import T

        bias = alignment_bias(T.STACK, size, False)
        if bias >= 0 and (addr + bias) % size:
            off = (addr - STACK_BASE) % STACK_STRIDE - STACK_SIZE
            raise MemFault(addr, size, f"misaligned stack access: {size} bytes at fp{off:+d}",
                           "stack")


def new_stack(mem: Memory, depth: int, zeroed: bool = False) -> Region:
    init = bytearray(b"\1" * STACK_SIZE) if zeroed else bytearray(STACK_SIZE)
    return mem.add(Region(f"stack#{depth}", "stack", STACK_BASE + depth * STACK_STRIDE,
                          bytearray(STACK_SIZE), True, init))
