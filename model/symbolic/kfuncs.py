"""Kfunc calls in the Z3 engine, for the kfuncs of model.platform.kfuncs (the abstract
verifier's rules: model.verifier.kfuncs, whose checks this module calls on a register built
from each symbolic value).

* The program type must be one the kfunc's set is registered for (``kfunc_check``).
* bpf_rcu_read_lock / unlock open and close an RCU read section (a ``st.maps`` marker, so
  states inside and outside never merge): nested locks and unmatched unlocks fail; the
  unlock makes every RCU typed pointer untrusted; the main program may not exit, tail
  call or use LD_ABS/IND inside one (``refs.leak_reason``).
* Arguments: a scalar; the context (unmoved); memory and its ``__sz`` size (bounds as for
  a helper's memory; the bytes the kfunc may write become unknown); a typed pointer: NULL
  where it may be NULL ("Possibly NULL pointer passed to trusted argN"), else the
  verifier's ``_btf_arg`` on the register it is (trust, struct, offset, reference).
* KF_ACQUIRE: NULL (KF_RET_NULL) or a typed pointer holding a new reference ``kref#k``
  (``st.maps``; the region's ``gen`` is k + 1); KF_RELEASE ends it, every copy of the
  pointer becomes an unknown scalar; a path ending the program holding one leaks it.
* What the verifier calls "not modelled" (a socket or a per-CPU pointer as an argument)
  ends the path as an exhausted budget (unknown, never safe).
"""

from __future__ import annotations

import z3

from model.platform import btf_access as BA
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.kfuncs import (DYNPTR_KFUNCS, KF_ACQUIRE, KF_RELEASE, KF_RET_NULL,
                                   KF_SLEEPABLE, KFUNCS, RCU_LOCK, RCU_UNLOCK, arg_struct,
                                   kfunc_check)
from model.platform.prototypes import program_sleepable
from model.symbolic import locks, sockets, typed
from model.symbolic.state import BV64, BYTE, P, Region, S, bv, const_of
from model.verifier.kfuncs import _btf_arg
from model.verifier.memcheck import Reject, vmlinux_struct_id
from model.verifier.regs import T as VT
from model.verifier.regs import pointer, unknown

RCU = "rcu#"  # the st.maps marker of an RCU read section
REF = "kref#"  # st.maps names of the references acquiring kfuncs hand out
ACQUIRED = -3  # helper_runs slot counting a path's kfunc references
TRUE = z3.BoolVal(True)


def in_rcu(st) -> bool:
    return RCU in st.maps


def held(st) -> list[str]:
    return sorted(n for n in st.maps if n.startswith(REF))


def call(eng, st, pc: int, name: str) -> list:
    """The states after the kfunc call at ``pc`` (failures recorded on ``eng``)."""
    lay = eng.lay
    what = f"call to kernel function {name} is allowed with these arguments"
    why = kfunc_check(name, lay.ptype, program_sleepable(eng.prog) or lay.ptype == "syscall",
                      lay.attach_type)
    if why is not None:
        eng.fail(st, pc, "a modelled call", TRUE, why)
        return []
    if locks.held(st):
        eng.fail(st, pc, what, TRUE, locks.LOCKED_CALL)
        return []
    if name in DYNPTR_KFUNCS:  # skb / xdp dynptrs (slices are left to the verifier)
        from model.symbolic import skb_dynptrs

        return skb_dynptrs.call(eng, st, pc, name)
    k = KFUNCS[name]
    sid = None
    if arg_struct(k.ret):
        try:
            sid = vmlinux_struct_id(arg_struct(k.ret))
        except Reject as e:
            eng._exhaust(f"{e.message} (insn {pc})")
            return []
    if name in (RCU_LOCK, RCU_UNLOCK):
        if not eng.check_bad(st, pc, what, _rcu(lay, st, name)):
            return []
    elif in_rcu(st) and k.has(KF_SLEEPABLE):
        eng.fail(st, pc, what, TRUE, f"kernel func {name} is sleepable within rcu_read_lock "
                 "region")
        return []
    regs = st.cur.regs
    released = None
    for i, kind in enumerate(k.args):
        regno, r = i + 1, regs[i + 1]
        if kind in ("size", "ign"):
            continue
        if kind == "scalar":
            bad = [] if isinstance(r, S) else [(TRUE, f"R{regno} is not a scalar")]
        elif r is None:
            bad = [(TRUE, f"R{regno} !read_ok")]
        elif kind == "mem":
            bad = _mem(eng, st, i, regno, r, regs[regno + 1])
        elif kind == "ctx":
            bad = _ctx_arg(i, regno, r)
        else:
            bad, ref = _btf(lay, name, k, i, regno, r, arg_struct(kind))
            released = ref if ref else released
        if eng._left_to_verifier(bad, pc, ("not modelled", VERIFIER_ONLY)):
            return []
        if not eng.check_bad(st, pc, what, bad):
            return []
    if k.has(KF_RELEASE) and released is None:
        eng.fail(st, pc, what, TRUE, f"release kernel function {name} expects refcounted "
                 "PTR_TO_BTF_ID")
        return []
    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    if released is not None:
        release(st, released, f"{pc}_{n}")
    _havoc_mem(lay, st, k, f"{pc}_{n}")
    return eng.outcomes(st, pc, _return(lay, st, k, sid, pc, n))


def global_call_unfollowed(lay, st) -> str | None:
    """What this engine leaves to the verifier at a call of a global function (which the
    kernel verifies on its own from its BTF prototype: model.verifier.globals): a typed
    pointer argument, an RCU read section held."""
    if in_rcu(st):
        return "a call of a global function inside an RCU read section"
    for regno in range(1, 6):
        r = st.cur.regs[regno]
        if isinstance(r, P) and r.r.kind in (typed.KIND, sockets.KIND):
            return f"a typed pointer (R{regno}) passed to a global function"
    return None


def _rcu(lay, st, name: str) -> list:
    if name == RCU_LOCK:
        if in_rcu(st):
            return [(TRUE, f"nested rcu read lock (kernel function {name})")]
        st.maps[RCU] = TRUE
        return []
    if not in_rcu(st):
        return [(TRUE, f"unmatched rcu read unlock (kernel function {name})")]
    st.maps = {n: a for n, a in st.maps.items() if n != RCU}

    def untrust(v):
        if isinstance(v, P) and v.r.kind == typed.KIND and lay.typed[v.r.name].trust == "rcu":
            t = lay.typed[v.r.name]
            return typed_pointer(lay, BA.Typed(t.kind, t.btf_id, "untrusted", False, t.tag), v.key,
                          v.r.gen, v.off)
        return v

    for f in st.frames:
        f.regs = [untrust(v) for v in f.regs]
        f.spills = {o: untrust(v) for o, v in f.spills.items()}
    return []


def typed_pointer(lay, got: BA.Typed, addr, ref: int = 0, off=None) -> P:
    """A typed pointer (model.symbolic.typed's region naming) holding reference ``ref``."""
    name = f"{got.kind}:{got.btf_id}:{got.trust}:{int(got.maybe_null)}:{got.tag}" + \
        (f":ref{ref}" if ref else "")
    lay.typed[name] = got
    return P(Region(typed.KIND, name, gen=ref), bv(0) if off is None else off, addr)


def _ctx_arg(i: int, regno: int, r) -> list:
    from model.symbolic.memory import moved_ctx

    if not (isinstance(r, P) and r.r.kind == "ctx"):
        what = "scalar" if isinstance(r, S) else r.r.kind
        return [(TRUE, f"arg#{i} expected pointer to ctx, but got {what}")]
    return moved_ctx(r, regno)


def _mem(eng, st, i: int, regno: int, mem, size) -> list:
    """KF_ARG_PTR_TO_MEM_SIZE: NULL with a size of 0, else memory of ``size`` bytes."""
    from model.symbolic.memory import check_region

    if not isinstance(size, S):
        return [(TRUE, f"R{regno + 1} is not a scalar")]
    tail = f"\narg#{i} arg#{i + 1} memory, len pair leads to invalid memory access"
    if isinstance(mem, S):
        return [(z3.Or(mem.v != bv(0), size.v != bv(0)), f"R{regno} invalid mem access "
                 f"'scalar'{tail}")]
    return [(b, w + tail) for b, w in check_region(eng.lay, st, mem, size.v, True)]


def _havoc_mem(lay, st, k, tag: str) -> None:
    """The bytes a kfunc's memory arguments let it write become unknown."""
    from model.symbolic.havoc import _overwrite
    from model.symbolic.memory import frame_of, map_array

    regs = st.cur.regs
    for i, kind in enumerate(k.args):
        p, size = regs[i + 1], regs[i + 2] if i + 2 < len(regs) else None
        if kind != "mem" or not isinstance(p, P) or not isinstance(size, S):
            continue
        junk = z3.Array(f"kfunc_out_{tag}_{i}", BV64, BYTE)
        if p.r.kind == "stack":
            f = frame_of(st, p.r)
            f.stack = _overwrite(f.stack, p.off, size.v, junk)
            f.spills = {}
        elif p.r.kind == "map":
            arr = map_array(lay, st, p.r.name)
            st.maps[p.r.name] = z3.Store(arr, p.key,
                                         _overwrite(z3.Select(arr, p.key), p.off, size.v, junk))


def _btf(lay, fname: str, k, i: int, regno: int, r, want: str):
    """(bad list, the reference a release kfunc ends or 0) for a typed argument."""
    null = f"Possibly NULL pointer passed to trusted arg{i}"
    if isinstance(r, S):
        if const_of(r.v) == 0:
            return [(TRUE, null)], 0
        reg, bad = unknown(), [(r.v == bv(0), null)]
    elif r.r.kind == sockets.KIND or r.r.kind == typed.KIND and r.r.gen < 0:  # sock_casts
        return [(TRUE, f"not modelled: a socket passed to kfunc {fname}")], 0
    elif r.r.kind != typed.KIND:
        reg, bad = pointer(VT.STACK), []  # other memory: refused as not a typed pointer
    else:
        t = lay.typed[r.r.name]
        if t.kind != "btf_id":
            reg = pointer(VT.MEM)
        else:
            c = const_of(r.off)
            if c is None:
                return [(TRUE, f"not modelled: a typed pointer at a variable offset passed "
                         f"to kfunc {fname}")], 0
            c = c - (1 << 64) if c >> 63 else c
            reg = pointer(VT.BTF_ID, off=c, btf_id=t.btf_id, trust=t.trust, tag=t.tag,
                          ref=r.r.gen)
        bad = [(r.key == bv(0), null)] if t.maybe_null else []
    try:
        ref = _btf_arg(fname, k, i, regno, reg, want)
    except Reject as e:
        return bad + [(TRUE, e.message)], 0
    return bad, ref


def acquire(lay, st, got: BA.Typed, addr) -> P:
    """A typed pointer at ``addr`` holding a new reference of ``st`` (``kref#k``)."""
    j = st.helper_runs.get(ACQUIRED, 0)
    st.helper_runs[ACQUIRED] = j + 1
    st.maps[f"{REF}{j}"] = TRUE
    return typed_pointer(lay, got, addr, j + 1)


def release(st, ref: int, tag: str) -> None:
    """release_reference: every typed pointer holding ``ref`` becomes an unknown scalar."""
    st.maps = {n: a for n, a in st.maps.items() if n != f"{REF}{ref - 1}"}

    def drop(v, where):
        if isinstance(v, P) and v.r.kind == typed.KIND and v.r.gen == ref:
            return S(z3.BitVec(f"released_{tag}_{where}", 64))
        return v

    for d, f in enumerate(st.frames):
        f.regs = [drop(v, f"{d}r{i}") for i, v in enumerate(f.regs)]
        f.spills = {o: drop(v, f"{d}s{o}") for o, v in f.spills.items()}


def _return(lay, st, k, sid, pc: int, n: int) -> list:
    """[(state, r0, extra guard)] after the call (``sid``: the returned struct's id)."""
    if k.ret == "void":
        return [(st, None, None)]
    if k.ret == "scalar":
        return [(st, S(z3.BitVec(f"kfunc_{pc}_{n}", 64)), None)]
    addr = z3.BitVec(f"kobj_{pc}_{n}", 64)
    ok = st.copy() if k.has(KF_RET_NULL) else st
    got = BA.Typed("btf_id", sid, "", False, "")
    ptr = acquire(lay, ok, got, addr) if k.has(KF_ACQUIRE) else typed_pointer(lay, got, addr)
    if not k.has(KF_RET_NULL):
        return [(ok, ptr, addr != bv(0))]
    null = z3.Bool(f"kfunc_null_{pc}_{n}")
    return [(st, S(bv(0)), null), (ok, ptr, z3.And(z3.Not(null), addr != bv(0)))]


__all__ = ["call", "in_rcu", "held", "acquire", "release", "typed_pointer",
           "global_call_unfollowed"]
