"""bpf_find_vma in the Z3 engine (the abstract verifier's rules: model.verifier.timers'
btf_arg for its task, model.platform.callbacks for its callback; the interpreter does not
run it).

* The task (``ARG_PTR_TO_BTF_ID``) must be a typed pointer (model.symbolic.typed) the
  verifier's ``btf_arg`` takes: a non-NULL plain, trusted or RCU ``struct task_struct``
  at a constant offset. A maybe-NULL one is refused where its address may be 0; anything
  else (a scalar, the context, the stack) is refused; a variable offset is left to the
  verifier (unknown).
* The helper (kernel/bpf/task_iter.c) returns -EINVAL for non-zero flags; else -ENOENT
  (no task, no mm, no vma covering the address) or -EBUSY (the mmap lock not taken)
  without calling the callback, or calls it once and returns 0 (its return value,
  checked to be in [0, 1], is ignored). The callback's frame: r1 the task, r2 a plain
  typed pointer to the ``struct vm_area_struct`` (any address: its reads are probes), r3
  the caller's r4 (callback_ctx). ``model.symbolic.callbacks.after_call`` drives it as a
  callback called at most once.
"""

from __future__ import annotations

import errno

import z3

from model.elf.btf import STRUCT
from model.platform import btf_access as BA
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.prototypes import helper_proto
from model.platform.tracing_targets import vmlinux_btf
from model.symbolic import typed
from model.symbolic.state import P, S, bv, const_of
from model.verifier.memcheck import Reject
from model.verifier.regs import T as VT
from model.verifier.regs import pointer
from model.verifier.timers import BTF_ID_EXPECTED, btf_arg

FOLLOWED = frozenset({"find_vma"})
EINVAL, ENOENT, EBUSY = -errno.EINVAL, -errno.ENOENT, -errno.EBUSY
T = z3.BoolVal(True)


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def task_bad(lay, helper: str, regno: int, r, maybe_null: bool) -> list:
    """Bad conditions of ``r`` as the typed (``ARG_PTR_TO_BTF_ID``) argument of ``helper``."""
    if isinstance(r, S) and maybe_null:
        return []  # NULL is accepted where the argument is _OR_NULL
    if not (isinstance(r, P) and r.r.kind == typed.KIND) or \
            lay.typed[r.r.name].kind != "btf_id":
        what = "scalar" if isinstance(r, S) else r.r.kind if isinstance(r, P) else "?"
        if isinstance(r, P) and r.r.kind == typed.KIND:
            what = lay.typed[r.r.name].kind
        return [(T, f"R{regno} type={what} expected={BTF_ID_EXPECTED}")]
    base = lay.typed[r.r.name]
    c = const_of(r.off)
    if c is None:
        return [(T, f"{VERIFIER_ONLY}: a typed argument at a variable offset")]
    bad = [] if maybe_null else typed.null_bad(
        lay, r, f"R{regno} type={typed.or_null(base)} expected={BTF_ID_EXPECTED}")
    trust = base.trust or ("trusted" if r.r.gen else "")  # a referenced pointer is trusted
    reg = pointer(VT.BTF_ID, off=c - (1 << 64) if c >> 63 else c, btf_id=base.btf_id,
                  trust=trust, tag=base.tag)
    try:
        btf_arg(helper, regno, reg, maybe_null)
    except Reject as e:
        return bad + [(T, e.message)]
    return bad


def vma_pointer(lay, pc: int, run: int):
    """The callback's r2: a plain pointer to a struct vm_area_struct."""
    t = vmlinux_btf().find("vm_area_struct", STRUCT)
    return typed._pointer(lay, BA.Typed("btf_id", t.id, "", False),
                          z3.BitVec(f"vma_{pc}_{run}", 64))


def not_called_ret(flags, pc: int, run: int):
    """r0 when the callback is not called: -EINVAL for flags, else -ENOENT or -EBUSY."""
    busy = z3.Bool(f"vma_busy_{pc}_{run}")
    return z3.If(flags != bv(0), bv(EINVAL), z3.If(busy, bv(EBUSY), bv(ENOENT)))


__all__ = ["FOLLOWED", "followed", "task_bad", "vma_pointer", "not_called_ret"]
