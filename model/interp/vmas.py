"""bpf_find_vma and the current task for the interpreter (Linux 6.18, kernel/bpf/task_iter.c,
kernel/bpf/helpers.c); the static rules are the verifier's (model.verifier.timers' btf_arg
for the task, model.platform.callbacks for the callback), the same model as the Z3 engine's
(model.symbolic.vmas).

* bpf_get_current_task_btf: the run's one task, a read-only ``struct task_struct`` whose
  fields read as zeros (the interpreter knows no kernel object's values; its ``mm`` is NULL).
* bpf_find_vma(task, addr, callback, ctx, flags): flags other than 0 give -EINVAL; a NULL
  task -ENOENT; an address below ``mmap_min_addr`` (no mapping can start there) -ENOENT;
  otherwise, by the run's seed, -ENOENT (no VMA covers it), -EBUSY (the mmap lock not taken)
  or the callback called once with (task, a read-only ``struct vm_area_struct`` reading as
  zeros, ctx) and 0 returned (the callback's own return value is ignored).
"""

from __future__ import annotations

import errno

from model.elf.btf import STRUCT
from model.interp.memory import FUNC_BASE, MemFault, Region
from model.platform.helpers import helper_id

EINVAL, ENOENT, EBUSY = -errno.EINVAL, -errno.ENOENT, -errno.EBUSY
TASK_AT = 0x7C00_0000_0000
VMA_BASE = 0x7D00_0000_0000  # + frame depth * VMA_STRIDE: a nested call gets its own
VMA_STRIDE = 0x1000
MMAP_MIN_ADDR = 4096  # the kernel's default vm.mmap_min_addr (CONFIG_DEFAULT_MMAP_MIN_ADDR)
TASK_BTF, FIND_VMA = helper_id("get_current_task_btf"), helper_id("find_vma")


def _struct_size(name: str) -> int:
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()
    return btf.size_of(btf.find(name, STRUCT).id)


def current_task(m, *_):
    """The address of the run's task (made on first use)."""
    if m.mem.find(TASK_AT) is None:
        m.mem.add(Region("current task_struct", "rodata", TASK_AT,
                         bytearray(_struct_size("task_struct")), False))
    return TASK_AT


def find_vma(m, r1, r2, r3, r4, r5):
    if r5:
        return EINVAL
    if r1 == 0:
        return ENOENT
    if r1 != TASK_AT or m.mem.find(TASK_AT) is None:
        raise MemFault(r1, 0, f"bpf_find_vma: r1 {r1:#x} is not a task_struct")
    if r2 < MMAP_MIN_ADDR:
        return ENOENT
    outcome = m.rng.random()
    if outcome < 0.3:
        return ENOENT if outcome < 0.2 else EBUSY
    at = VMA_BASE + len(m.frames) * VMA_STRIDE
    vma = m.mem.add(Region("vm_area_struct", "rodata", at,
                           bytearray(_struct_size("vm_area_struct")), False))
    try:
        m.call_back(r3 - FUNC_BASE, [r1, at, r4])
    finally:
        m.mem.remove(vma)
    return 0


VMA_HELPERS = {TASK_BTF: current_task, FIND_VMA: find_vma}

__all__ = ["VMA_HELPERS", "current_task", "find_vma"]
