"""bpf_spin_lock / bpf_spin_unlock in the abstract verifier (Linux 6.18 process_spin_lock
and the checks around it): the argument must point, at a constant offset, to the
``struct bpf_spin_lock`` of a map value (``MapDef.fields``, from the map's BTF); one lock
at a time, released by the pointer's own lookup; while it is held no helper but
bpf_spin_unlock may be called, and the main program may not exit or use LD_ABS/IND.
"""

from __future__ import annotations

from model.platform.helpers import helper_id
from model.platform.value_fields import SPIN_LOCK as SPIN_LOCK_FIELD, field_off
from model.verifier.memcheck import Reject
from model.verifier.regs import Reg, T
from model.verifier.state import State

SPIN_LOCK, SPIN_UNLOCK = helper_id("spin_lock"), helper_id("spin_unlock")


def calls_while_locked(st: State, helper: int) -> None:
    """do_check: only bpf_spin_unlock may be called while a lock is held (bpf-to-bpf calls
    may)."""
    if st.lock is not None and helper != SPIN_UNLOCK:
        raise Reject("function calls are not allowed while holding a lock")


def check_unlocked(st: State, prefix: str) -> None:
    """check_resource_leak's lock part (main program exit, LD_ABS/IND)."""
    if st.lock is not None:
        raise Reject(f"{prefix} cannot be used inside bpf_spin_lock-ed region")


def check_rcu_unlocked(st: State, prefix: str) -> None:
    """check_resource_leak's RCU part, after the reference check (exit, tail call,
    LD_ABS/IND)."""
    if st.rcu:
        raise Reject(f"{prefix} cannot be used inside bpf_rcu_read_lock-ed region")


def map_field_pointer(maps, regno: int, r: Reg, kind: str) -> None:
    """check_map_field_pointer: the map value pointer ``r`` (its type already checked)
    points, at a constant offset, to the value's special field of kind ``kind`` (a struct
    name of model.platform.value_fields)."""
    if not r.var.is_const():
        raise Reject(f"R{regno} doesn't have constant offset. {kind} has to be at the "
                     "constant offset")
    m = maps[r.map]
    want = field_off(m.fields, kind)
    if want is None:
        if not m.fields:
            raise Reject(f"map '{r.map}' has to have BTF in order to use {kind}")
        raise Reject(f"map '{r.map}' has no valid {kind}")
    off = r.off + r.var.const_value()
    if off != want:
        raise Reject(f"off {off} doesn't point to 'struct {kind}' that is at {want}")


def spin_lock_arg(st: State, maps, regno: int, r: Reg, helper: int) -> None:
    """check_func_arg for ARG_PTR_TO_SPIN_LOCK, then process_spin_lock."""
    if r.type is not T.MAP_VALUE:
        raise Reject(f"R{regno} type={r.type.value} expected=map_value, ptr_")
    map_field_pointer(maps, regno, r, SPIN_LOCK_FIELD)
    if r.id == 0:  # a pointer no lookup made (ld_imm64 of a value): whose lock is it?
        raise Reject("not modelled: bpf_spin_lock through a map value pointer without an id")
    if helper == SPIN_LOCK:
        if st.lock is not None:
            raise Reject("Locking two bpf_spin_locks are not allowed")
        st.lock = (r.map, r.id)
        return
    if st.lock is None:
        raise Reject("bpf_spin_unlock without taking a lock")
    if st.lock != (r.map, r.id):
        raise Reject("bpf_spin_unlock of different lock")
    st.lock = None


__all__ = ["calls_while_locked", "check_unlocked", "check_rcu_unlocked", "map_field_pointer", "spin_lock_arg"]
