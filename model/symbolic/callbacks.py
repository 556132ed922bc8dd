"""Synchronous callbacks in the Z3 engine: bpf_loop and bpf_for_each_map_elem over an array or
a hash map (model.platform.callbacks says how the kernel calls them; the abstract verifier's rules:
model.verifier.calls / step; the interpreter runs them: model.interp.helpers).

The callback is executed, as the kernel and the interpreter run it: the call instruction is
a loop head. At the call (its arguments checked by ``memory.call_helper``, as any helper's)
the path splits into

* "done": the helper returns after ``k`` calls of the callback (``k`` counted per path in
  ``helper_runs[ITERATIONS - pc]``), r0 its exact return value (bpf_loop: ``-EINVAL`` for
  non-zero flags, ``-E2BIG`` for more than BPF_MAX_LOOPS, else ``k``), possible only when
  the helper stops there: every element visited, or the last call returned non-zero (a
  hash map holds any number of elements up to max_entries: its walk may stop after any
  call; its ``k``-th element is a key present in the map as it is then, none visited
  before in this call: ``hash_key``);
* "one more call": the state *before* the call enters the callback in a new frame (the
  frame's ``callsite`` is the call's pc, which tells a callback frame from a bpf-to-bpf
  one), its registers as the helper sets them: the index ``k`` (bpf_loop), the map, a
  read-only pointer to the key and the value's pointer (for_each), the caller's r3.

The callback's exit (``leave``) checks r0 with the callback's return rule (a scalar in
``CallbackSpec.ret``), pops the frame and returns to the call instruction with the caller's
registers as they were, r0 excepted: it holds the callback's return value, which only the
re-executed call reads (the call overwrites r0). Each return counts as a back edge: past
``Budget.unroll`` iterations the path is dropped (BOUND REACHED: the answers are then
"unknown", never "safe"). Static-key sites in the callback get a variable per execution,
as everywhere.

What this module does not follow is left to the abstract verifier (the engine's answer is
"unknown"): none; bpf_find_vma is driven here as a callback called at most once
(model.symbolic.vmas), bpf_user_ringbuf_drain's once per sample, any number of them (its
dynptr: model.symbolic.dynptrs); bpf_timer_set_callback
(asynchronous) is model.symbolic.timers'.
"""

from __future__ import annotations

import z3

from model.interp.helpers import BPF_MAX_LOOPS
from model.platform.callbacks import (CALLBACKS, FOR_EACH_MAP_TYPES, callback_ret_message,
                                      helper_short_name, is_callback_call)
from model.platform.map_helpers import map_helper_check, map_type_name
from model.symbolic import dynptrs, vmas
from model.symbolic.timers import async_state
from model.verifier.calls import MAX_CALL_FRAMES
from model.symbolic.state import BV64, P, Region, S, bv, const_of, new_frame

EINVAL, E2BIG, EBUSY = -22, -7, -16
#: helper_runs slot of a call's iterations so far: ITERATIONS - pc (below refs.RESERVED)
ITERATIONS = -(1 << 20)
#: helper_runs slot of a bpf_user_ringbuf_drain call's last fingerprint (``repeats``)
_FP = -(1 << 21)
#: BPF_MAX_USER_RINGBUF_SAMPLES (kernel/bpf/ringbuf.c)
MAX_USER_RINGBUF_SAMPLES = 128 * 1024
#: a read-only pointer to a for_each element's key: Region(KEY_KIND, map, interpreter frame
#: count at the call, iteration)
KEY_KIND = "map_key"
T = z3.BoolVal(True)


def unfollowed(eng, st, pc: int, insn) -> str | None:
    """Why this engine does not follow the callback call at ``pc`` (None: it does)."""
    name = helper_short_name(insn.imm)
    what = f"not modelled by the Z3 engine: callbacks of bpf_{name} (insn {pc})"
    if name in ("loop", "timer_set_callback", "find_vma", "user_ringbuf_drain"):
        return None
    if name == "for_each_map_elem":
        r1 = st.cur.regs[1]
        if isinstance(r1, P) and r1.r.kind == "mapptr":
            m = eng.lay.maps[r1.r.name]
            if map_type_name(m.type) in FOR_EACH_MAP_TYPES or \
                    map_helper_check(m.type, insn.imm, eng.lay.ptype) is not None:
                return None  # followed, or call_helper reports the map
            return what.replace(" (insn", f" over map {r1.r.name} (insn")
        return None  # not a map pointer: call_helper reports it
    return what


def _slot(pc: int) -> int:
    return ITERATIONS - pc


def _u32(v):
    return z3.ZeroExt(32, z3.Extract(31, 0, v))


def after_call(eng, before, guard, pc: int, insn, done: list) -> list:
    """The states after the callback helper call at ``pc``: ``done`` (call_helper's
    outcomes, continuing after the call) restricted to where the helper returns, and the
    state entering the callback once more (from ``before``, the state at the call, under
    ``guard``: the call's checks passed)."""
    name = helper_short_name(insn.imm)
    regs = before.cur.regs
    if CALLBACKS[name].is_async:  # model.symbolic.timers
        st = async_state(eng, before, guard, const_of(regs[2].off), KEY_KIND)
        return done + ([st] if st is not None else [])
    k = before.helper_runs.get(_slot(pc), 0)
    last = regs[0]  # the previous call's return value (leave), when k > 0
    stopped = z3.BoolVal(False) if k == 0 or name == "find_vma" else (last.v != bv(0))
    flags = regs[4 if name != "find_vma" else 5]
    flags = flags.v if isinstance(flags, S) else bv(1)
    cut = None
    if name == "user_ringbuf_drain":  # any number of samples (model.symbolic.dynptrs)
        flags = regs[4].v if isinstance(regs[4], S) else bv(-1)
        runs = flags & bv(~3) == bv(0)  # BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP only
        more = z3.BoolVal(True)
        run = before.helper_runs.get(pc, 0)
        busy = z3.Bool(f"drain_busy_{pc}_{run}_{k}")
        count = bv(k)
        if repeats(eng, before, pc):  # the last sample left the caller as it was
            n = z3.BitVec(f"drain_count_{pc}_{run}", 64)
            count = z3.If(stopped, bv(k), n)
            cut = z3.And(z3.ULE(bv(k), n), z3.ULE(n, bv(MAX_USER_RINGBUF_SAMPLES)))
        ret = z3.If(runs, z3.If(busy, bv(EBUSY), count), bv(EINVAL))
    elif name == "find_vma":  # model.symbolic.vmas: called once, or not at all
        runs = flags == bv(0)
        more = z3.BoolVal(k == 0)
        ret = vmas.not_called_ret(flags, pc, before.helper_runs.get(pc, 0)) if k == 0 \
            else bv(0)
    elif name == "loop":
        nr = _u32(eng.lay.addr(regs[1]))
        runs = z3.And(flags == bv(0), z3.ULE(nr, bv(BPF_MAX_LOOPS)))
        more = z3.ULT(bv(k), nr)
        ret = z3.If(flags != bv(0), bv(EINVAL), z3.If(z3.Not(runs), bv(E2BIG), bv(k)))
    else:  # for_each_map_elem: an array's every index, in order; a hash map's elements
        runs = flags == bv(0)
        more = eng.lay.in_range(regs[1].r.name, bv(k))  # below its (loaded) entries
        ret = z3.If(runs, bv(k), bv(EINVAL))
    # a hash map may hold any number of elements (at most max_entries): it may end anywhere
    at_end = z3.BoolVal(True) if name in ("find_vma", "user_ringbuf_drain") or (
        name == "for_each_map_elem" and not eng.lay.is_array(regs[1].r.name)) else z3.Not(more)
    ends = z3.Or(z3.And(z3.Not(runs), z3.BoolVal(k == 0)),
                 z3.And(runs, z3.Or(at_end, stopped)))
    if cut is not None:
        ends = z3.And(ends, cut)
    eng.helper_vars.pop((pc, before.helper_runs.get(pc, 0)), None)  # not a free result
    out = []
    for s in done:
        s.guard = z3.And(s.guard, ends)
        if not eng.sat(s.guard):
            continue
        s.helper_runs.pop(_slot(pc), None)
        s.helper_runs.pop(_FP - pc, None)
        s.cur.regs[0] = S(ret)
        out.append(s)
    again = z3.And(guard, runs, more, z3.Not(stopped))
    if cut is not None or not eng.sat(again):  # cut: every further sample is covered
        return out
    if len(before.frames) >= MAX_CALL_FRAMES:
        eng.fail(before, pc, "call depth", T,
                 f"the call stack of {len(before.frames) + 1} frames is too deep")
        return out
    target = const_of(regs[3 if name == "find_vma" else 2].off)  # the callback's ld_imm64
    before.guard = again
    before.helper_runs[_slot(pc)] = k + 1
    before.gens += 1
    caller = before.cur.regs
    f = new_frame(len(before.frames), before.gens, pc)
    if name == "loop":
        f.regs[1], f.regs[2] = S(bv(k)), caller[3]
    elif name == "user_ringbuf_drain":
        f.regs[1], f.regs[2] = dynptrs.sample_dynptr(eng, before, pc, k), caller[3]
    elif name == "find_vma":
        f.regs[1], f.regs[3] = caller[1], caller[4]
        f.regs[2] = vmas.vma_pointer(eng.lay, pc, before.helper_runs.get(pc, 0))
    else:
        mp = caller[1]
        key = bv(k, 8 * eng.lay.maps[mp.r.name].key_size)
        if not eng.lay.is_array(mp.r.name):  # the k-th element: a present key, not one before
            key, seen = hash_key(eng, before, pc, k)
            before.guard = z3.And(before.guard, seen)
        eng.lay.lookups.append((mp.r.name, key))
        f.regs[1] = mp
        f.regs[2] = P(Region(KEY_KIND, mp.r.name, len(before.frames) - 1, k), bv(0), key)
        f.regs[3] = P(Region("map", mp.r.name), bv(0), key)
        f.regs[4] = caller[3]
    before.frames.append(f)
    before.pc = target
    return out + [before]


def hash_key(eng, before, pc: int, k: int):
    """(key, condition) of the ``k``-th element a for_each over a hash map visits: present in
    the map as it is now, and none of the keys visited before in this call (named by the
    call's pc, its run on this path and the index, so the same on every path)."""
    name = before.cur.regs[1].r.name
    w = 8 * max(eng.lay.maps[name].key_size, 1)
    run = before.helper_runs.get(pc, 0)
    keys = [z3.BitVec(f"each_key_{pc}_{run}_{j}", w) for j in range(k + 1)]
    present = z3.Select(before.present.get(name, eng.lay.present_in[name]), keys[k])
    return keys[k], z3.And(present, *(keys[k] != j for j in keys[:k]))


def _fingerprint(st) -> tuple:
    """What the callers of a callback hold at its call (r0 aside: the callback's return
    value), as Z3 term ids (terms are hash-consed: equal ids, equal terms)."""
    def vid(v):
        if v is None or isinstance(v, S):
            return None if v is None else v.v.get_id()
        return (v.r, v.off.get_id(), None if v.key is None else v.key.get_id())

    def tid(t):
        return None if t is None else t.get_id()

    frames = tuple((f.region, tuple(vid(v) for v in f.regs[1:]), f.stack.get_id(),
                    tuple(sorted((o, vid(v)) for o, v in f.spills.items())))
                   for f in st.frames)
    return (frames, tuple(sorted((n, a.get_id()) for n, a in st.maps.items())),
            tuple(sorted((n, a.get_id()) for n, a in st.present.items())),
            tid(st.ctx), tid(st.pkt), tid(st.plen), tuple(sorted(st.site_runs.items())),
            tuple(sorted(repr(x) for x in st.dynptrs.items()
                         if x[0][0] != "info" or x[0][1] >= 0)))


def repeats(eng, before, pc: int) -> bool:
    """bpf_user_ringbuf_drain's callback at ``pc`` returned leaving its callers exactly
    as they were before it ran, on this path: every further sample would run from the
    same state (its inputs fresh), so the samples after this one need not be explored --
    the helper may then return any count up to BPF_MAX_USER_RINGBUF_SAMPLES. Records this
    state's fingerprint for the next sample otherwise."""
    fps = eng.__dict__.setdefault("drain_fps", [])
    fp = _fingerprint(before)
    prev = before.helper_runs.get(_FP - pc)
    if prev is not None and fps[prev] == fp:
        return True
    before.helper_runs[_FP - pc] = len(fps)
    fps.append(fp)
    return False


def is_callback_frame(eng, frame) -> bool:
    """A frame entered by a callback helper (its callsite is the helper call)."""
    return frame.callsite >= 0 and is_callback_call(eng.by_pc.get(frame.callsite))


def ret_range(eng, frame) -> tuple[int, int]:
    return CALLBACKS[helper_short_name(eng.by_pc[frame.callsite].imm)].ret


def exit_bad(eng, st):
    """(bad, reason) at a callback's exit: r0 is not a scalar in the callback's range."""
    r0 = st.cur.regs[0]
    if not isinstance(r0, S):
        return T, "R0 not a scalar value"
    lo, hi = ret_range(eng, st.cur)
    return (z3.Not(z3.And(r0.v >= bv(lo), r0.v <= bv(hi))),
            callback_ret_message(-(1 << 63), (1 << 63) - 1, lo, hi))


def leave(eng, st, callee) -> list:
    """The callback returned: back to its call instruction, the callback's r0 in the
    caller's r0 (read by ``after_call`` only); one more back edge."""
    st.cur.regs[0] = callee.regs[0]
    st.pc = callee.callsite
    st.back_edges += 1
    if st.back_edges > eng.budget.unroll:
        eng._exhaust(f"BOUND REACHED (unroll {eng.budget.unroll})")
        return []
    return [st]


# -- the key pointer of a for_each callback ----------------------------------------------
def key_access(lay, p: P, off, size, write: bool) -> list:
    """check_mem_access on PTR_TO_MAP_KEY: read-only, inside the key."""
    if write:
        return [(T, "write to change key not allowed")]
    n = lay.maps[p.r.name].key_size
    o = p.off + off
    return [(z3.Not(z3.And(z3.ULE(size, bv(n)), z3.ULE(o, bv(n) - size))),
             f"invalid access to map key, key_size={n}")]


def key_bytes(p: P):
    """The key's bytes as an array (offset -> byte)."""
    arr = z3.K(BV64, z3.BitVecVal(0, 8))
    w = p.key.size()
    for i in range(w // 8):
        arr = z3.Store(arr, bv(i), z3.Extract(8 * i + 7, 8 * i, p.key))
    return arr


__all__ = ["unfollowed", "after_call", "is_callback_frame", "exit_bad", "leave",
           "KEY_KIND", "key_access", "key_bytes"]
