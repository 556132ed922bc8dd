"""bpf_spin_lock / bpf_spin_unlock in the Z3 engine (the abstract verifier's rules:
model.verifier.locks, whose checks run here on a register built from the symbolic value;
the interpreter's run: model.interp.refs).

The argument must point, at a constant offset, to the ``struct bpf_spin_lock`` of a map
value (``locks.map_field_pointer``). The lock is named by the lookup that gave the pointer
(the verifier's id): a lookup in a map whose value holds a lock gives pointers whose
region's ``gen`` is the lookup's pc + 1 (0: a pointer no lookup made, which the verifier
does not model). A held lock is the ``st.maps`` marker ``lock#<map>#<gen>`` (states
holding different locks never merge). One lock at a time ("Locking two bpf_spin_locks are
not allowed"); the unlock must name the held one; while it is held no helper or kfunc but
bpf_spin_unlock may be called, and the main program may not exit or use LD_ABS/IND
(``refs.leak_reason``).
"""

from __future__ import annotations

import z3

from model.platform.prototypes import helper_proto
from model.platform.value_fields import SPIN_LOCK as SPIN_LOCK_FIELD, spin_lock_off
from model.symbolic.sockets import TYPE_NAMES
from model.symbolic.state import P, S, const_of
from model.verifier.locks import SPIN_LOCK, SPIN_UNLOCK, map_field_pointer
from model.verifier.memcheck import Reject
from model.verifier.regs import T as VT
from model.verifier.regs import pointer

PREFIX = "lock#"
FOLLOWED = frozenset({"spin_lock", "spin_unlock"})
TRUE = z3.BoolVal(True)
LOCKED_CALL = "function calls are not allowed while holding a lock"


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def held(st) -> str | None:
    """The marker of the lock the state holds, or None."""
    return next((n for n in st.maps if n.startswith(PREFIX)), None)


def lookup_gen(lay, map_name: str, pc: int) -> int:
    """The ``gen`` of the pointers a lookup at ``pc`` in ``map_name`` gives."""
    return pc + 1 if spin_lock_off(lay.maps[map_name].fields) is not None else 0


def call_bad(st, hid: int) -> list:
    """do_check: only bpf_spin_unlock may be called while a lock is held."""
    return [(TRUE, LOCKED_CALL)] if held(st) and hid != SPIN_UNLOCK else []


def arg(lay, st, regno: int, r, hid: int) -> list:
    """check_func_arg for ARG_PTR_TO_SPIN_LOCK, then process_spin_lock: bad list; the lock
    is taken or released on ``st`` when there is none."""
    if not (isinstance(r, P) and r.r.kind == "map"):
        what = "scalar" if isinstance(r, S) else \
            TYPE_NAMES.get(r.r.kind, r.r.kind) if isinstance(r, P) else "?"
        return [(TRUE, f"R{regno} type={what} expected=map_value, ptr_")]
    c = const_of(r.off)
    if c is None:
        return [(TRUE, f"R{regno} doesn't have constant offset. {SPIN_LOCK_FIELD} has to be "
                 "at the constant offset")]
    reg = pointer(VT.MAP_VALUE, off=c - (1 << 64) if c >> 63 else c, map=r.r.name)
    try:
        map_field_pointer(lay.maps, regno, reg, SPIN_LOCK_FIELD)
    except Reject as e:
        return [(TRUE, e.message)]
    if r.r.gen == 0:
        return [(TRUE, "not modelled: bpf_spin_lock through a map value pointer without "
                 "an id")]
    name = f"{PREFIX}{r.r.name}#{r.r.gen}"
    cur = held(st)
    if hid == SPIN_LOCK:
        if cur is not None:
            return [(TRUE, "Locking two bpf_spin_locks are not allowed")]
        st.maps[name] = TRUE
        return []
    if cur is None:
        return [(TRUE, "bpf_spin_unlock without taking a lock")]
    if cur != name:
        return [(TRUE, "bpf_spin_unlock of different lock")]
    st.maps = {n: a for n, a in st.maps.items() if n != cur}
    return []


__all__ = ["followed", "held", "lookup_gen", "call_bad", "arg", "LOCKED_CALL"]
