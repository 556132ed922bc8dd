"""Per-CPU data and kernel symbols for the interpreter (Linux 6.18 semantics).

* ``nr_cpu_ids`` (:func:`possible_cpus`): the running machine's possible CPUs; the
  program runs on ``Machine.cpu``.
* bpf_map_lookup_percpu_elem(map, key, cpu): NULL for ``cpu >= nr_cpu_ids``, else the
  element's copy on that CPU (``MapState.lookup_on_cpu``: another CPU's copies start
  zeroed, are dropped with the element, and a program's writes touch its own CPU's only).
* ``ld_imm64`` of a kernel symbol's BTF id (model.platform.ksym_vars): a FUNC's address
  (nothing readable there: PTR_TO_MEM of size 0); a per-CPU VAR's per-CPU address, which
  the program cannot read (the verifier refuses it) but bpf_this_cpu_ptr / bpf_per_cpu_ptr
  turn into the CPU's copy; another VAR's read-only copy. The kernel's values are unknown
  here: every copy reads as zeros, read-only (MEM_RDONLY; a PTR_TO_BTF_ID only reads).
* bpf_copy_from_user_task(dst, size, user_ptr, task, flags): flags other than 0 give
  -EINVAL, size 0 gives 0; the task's user memory is not modelled: the copy fails as the
  kernel's does on an unmapped address (dst zeroed, -EFAULT).
"""

from __future__ import annotations

import os
from errno import EFAULT, EINVAL
from functools import lru_cache

from model.errors import SkvError
from model.interp.memory import MemFault, Region
from model.platform.ksym_vars import ksym_load

#: addresses of kernel symbols and their copies (above the maps, below the kernel's probes)
KSYM_BASE = 0x7800_0000_0000
KSYM_STRIDE = 1 << 24  # room for the largest per-CPU variable
FUNC_ADDR = KSYM_BASE - KSYM_STRIDE  # every kernel FUNC: nothing readable there


@lru_cache(maxsize=1)
def possible_cpus() -> int:
    """nr_cpu_ids: the possible CPUs (``/sys/devices/system/cpu/possible``, "0-N")."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            last = f.read().strip().replace(",", "-").split("-")[-1]
        return int(last) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


class _Ksyms:
    """A memory's kernel-symbol regions: (BTF VAR id, CPU or None) -> region; the per-CPU
    handles are unmapped addresses."""

    def __init__(self, mem):
        self.mem = mem
        self.regions: dict[tuple[int, int | None], Region] = {}
        self.handles: dict[int, tuple[int, object]] = {}  # handle -> (var id, Ksym)
        self.next = KSYM_BASE

    def _alloc(self) -> int:
        at, self.next = self.next, self.next + KSYM_STRIDE
        return at

    def copy(self, var_id: int, ks, cpu: int | None) -> int:
        r = self.regions.get((var_id, cpu))
        if r is None:
            at = self._alloc()
            where = "" if cpu is None else f"@cpu{cpu}"
            r = self.mem.add(Region(f"{ks.name}{where}", "rodata", at, bytearray(ks.size),
                                    False))
            self.regions[(var_id, cpu)] = r
        return r.base

    def handle(self, var_id: int, ks) -> int:
        for at, (vid, _) in self.handles.items():
            if vid == var_id:
                return at
        at = self._alloc()
        self.handles[at] = (var_id, ks)
        return at


def _ksyms(mem) -> _Ksyms:
    got = getattr(mem, "ksyms", None)
    if got is None:
        got = mem.ksyms = _Ksyms(mem)
    return got


def _sized(ks):
    """The Ksym with the byte size of its type (a struct's too)."""
    from dataclasses import replace

    from model.platform.tracing_targets import vmlinux_btf

    return replace(ks, size=vmlinux_btf().size_of(ks.type_id)) if ks.kind != "mem" else ks


def ksym_address(m, imm: int, imm2: int) -> int:
    """The value ``ld_imm64 rX, BPF_PSEUDO_BTF_ID, imm`` loads."""
    ks = ksym_load(imm, imm2)
    if isinstance(ks, str):  # the kernel refuses the program at load
        raise SkvError(f"ld_imm64 of kernel symbol BTF id {imm}: {ks}")
    if ks.kind == "func":
        return FUNC_ADDR
    ks = _sized(ks)
    kt = _ksyms(m.mem)
    if ks.kind == "percpu":
        return kt.handle(imm & 0xFFFFFFFF, ks)
    return kt.copy(imm & 0xFFFFFFFF, ks, None)


def _cpu_copy(m, ptr: int, cpu: int) -> int:
    kt = _ksyms(m.mem)
    got = kt.handles.get(ptr)
    if got is None:
        raise MemFault(ptr, 0, f"r1 {ptr:#x} is not a per-CPU kernel variable")
    return kt.copy(got[0], got[1], cpu)


def this_cpu_ptr(m, r1, r2, r3, r4, r5):
    return _cpu_copy(m, r1, m.cpu)


def per_cpu_ptr(m, r1, r2, r3, r4, r5):
    cpu = r2 & 0xFFFFFFFF
    return 0 if cpu >= m.nr_cpus else _cpu_copy(m, r1, cpu)


def map_lookup_percpu_elem(m, r1, r2, r3, r4, r5):
    from model.interp.helpers import map_for_helper

    st = map_for_helper(m, r1, 195)
    cpu = r3 & 0xFFFFFFFF
    if cpu >= m.nr_cpus:
        return 0
    return st.lookup_on_cpu(m.mem.load_bytes(r2, st.defn.key_size), cpu, m.cpu)


def copy_from_user_task(m, r1, r2, r3, r4, r5):
    size = r2 & 0xFFFFFFFF
    if r5:
        return -EINVAL
    if size == 0:
        return 0
    m.mem.store_bytes(r1, bytes(size))  # nothing of the task's user memory is mapped
    return -EFAULT


PERCPU_HELPERS = {153: per_cpu_ptr, 154: this_cpu_ptr, 195: map_lookup_percpu_elem,
                  191: copy_from_user_task}

__all__ = ["possible_cpus", "ksym_address", "PERCPU_HELPERS"]
