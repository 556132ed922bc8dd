"""bpf_timer_* in the Z3 engine (the abstract verifier's rules: model.verifier.timers; the
interpreter does not run timers).

* ``ARG_PTR_TO_TIMER``: a map value pointer at a constant offset that is the value's
  ``struct bpf_timer``; bpf_timer_init's map is the timer's own. Both are judged by the
  verifier's own check functions (``timer_arg``, ``timer_map_arg``) on the pointer's
  constant offset; a variable one is left to the verifier ("unknown").
* bpf_timer_set_callback's callback runs asynchronously, as a program of its own
  (push_async_cb): ``async_state`` is the state it starts in, explored from the call under
  the path's guard (a callback that is never set never runs): one frame whose ``callsite``
  is ``ASYNC``, a fresh stack, r1 the timer's map, r2 a read-only pointer to the key of
  some element and r3 its value (any element: an array index below max_entries, a present
  hash key; the map's contents are whatever they are when the timer fires: its inputs). At
  its exit r0 must be a scalar in the callback's range ("At async callback return").
"""

from __future__ import annotations

import z3

from model.platform.callbacks import callback_ret_message, callback_spec
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.prototypes import helper_proto
from model.symbolic.state import P, Region, S, State, bv, const_of, new_frame, path_constant
from model.verifier.memcheck import Reject
from model.verifier.regs import T as RT
from model.verifier.regs import pointer
from model.verifier.timers import timer_arg, timer_map_arg

FOLLOWED = frozenset({"timer_init", "timer_set_callback", "timer_start", "timer_cancel"})
#: the callsite of an asynchronous callback's frame (the verifier's too)
ASYNC = -2
T = z3.BoolVal(True)


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def _kind(r) -> str:
    return "scalar" if isinstance(r, S) else r.r.kind if isinstance(r, P) else "?"


def timer_bad(lay, regno: int, r) -> tuple[list, str | None]:
    """(bad conditions, the timer's map) of an ARG_PTR_TO_TIMER argument."""
    if not (isinstance(r, P) and r.r.kind == "map"):
        return [(T, f"R{regno} type={_kind(r)} expected=map_value")], None
    off = const_of(r.off)
    if off is None or not path_constant(r.off):
        return [(T, f"{VERIFIER_ONLY}: a bpf_timer pointer at a variable offset")], None
    try:
        return [], timer_arg(lay.maps, regno, pointer(RT.MAP_VALUE, off=off, map=r.r.name))
    except Reject as e:
        return [(T, str(e))], None


def map_bad(timer_map: str | None, regno: int, r: P) -> list:
    """ARG_CONST_MAP_PTR after a timer: the timer's own map."""
    try:
        timer_map_arg(timer_map, regno, pointer(RT.MAP_PTR, map=r.r.name))
    except Reject as e:
        return [(T, str(e))]
    return []


def async_state(eng, before, guard, target: int, key_kind: str):
    """The state bpf_timer_set_callback's callback at ``target`` starts in (see above);
    None when ``before`` runs in that very callback on the same map (a callback re-arming
    its timer): its body is already explored from this entry, under a weaker guard."""
    name = before.cur.regs[1].r.name
    roots = eng.__dict__.setdefault("async_roots", {})  # async frame gen -> (target, map)
    if is_async_frame(before.frames[0]) and \
            roots.get(before.frames[0].region.gen) == (target, name):
        return None
    gen = (1 << 20) + len(roots)
    roots[gen] = (target, name)
    m = eng.lay.maps[name]
    key = z3.FreshConst(z3.BitVecSort(8 * max(m.key_size, 1)), "timer_key")
    if eng.lay.is_array(name):
        some = eng.lay.in_range(name, key)
    else:
        some = z3.Select(eng.lay.present_in[name], key)
    eng.lay.lookups.append((name, key))
    st = State([new_frame(0, gen, ASYNC)], z3.And(guard, some), target)
    st.gens = gen
    st.site_runs = dict(before.site_runs)  # it runs after the call
    regs = st.cur.regs
    regs[1] = P(Region("mapptr", name), bv(0))
    regs[2] = P(Region(key_kind, name, 0, 0), bv(0), key)
    regs[3] = P(Region("map", name), bv(0), key)
    return st


def is_async_frame(frame) -> bool:
    return frame.callsite == ASYNC


def exit_bad(st) -> tuple:
    """(bad, reason) at an asynchronous callback's exit (check_return_code)."""
    r0 = st.cur.regs[0]
    lo, hi = callback_spec("timer_set_callback").ret
    if not isinstance(r0, S):
        return T, ("At async callback return the register R0 is not a known value "
                   f"({_kind(r0) if r0 is not None else 'not init'})")
    return (z3.Not(z3.And(r0.v >= bv(lo), r0.v <= bv(hi))),
            callback_ret_message(-(1 << 63), (1 << 63) - 1, lo, hi, "async callback"))


__all__ = ["FOLLOWED", "ASYNC", "followed", "timer_bad", "map_bad", "async_state",
           "is_async_frame", "exit_bad"]
