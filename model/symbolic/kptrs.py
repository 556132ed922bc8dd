"""Kptr fields of map values and bpf_kptr_xchg in the Z3 engine (the abstract verifier's
rules: model.verifier.kptrs -- ``kptr_insn`` and ``xchg_args`` run here on registers built
from the symbolic values; the interpreter's run: model.interp.refs.kptr_xchg, NULLs only).

A kptr field's 8 bytes hold the kernel object's address (0: none). A direct 8-byte load at
the field's constant offset gives a maybe-NULL typed pointer to the field's struct at that
address (RCU or untrusted, as kptr_insn says); a store (only to an unreferenced kptr, of
NULL or a matching typed pointer) writes the pointer's address. An access at a variable
offset touching a kptr is left to the verifier (unknown).

``bpf_kptr_xchg(&v->field, new)``: ``new`` (NULL or a referenced typed pointer) is
released into the field; the old address comes back as NULL or a typed pointer holding a
new reference (model.symbolic.kfuncs' references), the state split on the old address.
"""

from __future__ import annotations

from types import SimpleNamespace

import z3

from model.isa import Load, Store
from model.platform import btf_access as BA
from model.platform.helpers import helper_id
from model.platform.value_fields import field_access_error, kptr_of
from model.symbolic import kfuncs, locks, sockets, typed
from model.symbolic.state import P, S, bv, const_of, read_bytes, write_bytes
from model.verifier.kptrs import kptr_field, kptr_insn, xchg_args
from model.verifier.memcheck import Reject
from model.verifier.regs import T as VT
from model.verifier.regs import known, pointer, replace, unknown

TRUE = z3.BoolVal(True)
FOLLOWED = frozenset({"kptr_xchg"})
XCHG = helper_id("kptr_xchg")


def has_kptrs(lay, name: str) -> bool:
    return any(kptr_of(kind) for kind, _, _ in lay.maps[name].fields)


def _field_at(lay, p: P, off: int):
    """The value offset of a kptr field accessed at ``p + off`` (constant), or None."""
    if p.r.kind != "map" or not has_kptrs(lay, p.r.name):
        return None
    c = const_of(p.off + bv(off))
    if c is None or kptr_field(lay.maps[p.r.name], c) is None:
        return None
    return c


def vreg(lay, v):
    """The verifier's register for a symbolic value (what the kptr rules look at)."""
    if isinstance(v, S):
        c = const_of(v.v)
        return known(c) if c is not None else unknown()
    if isinstance(v, P) and v.r.kind == typed.KIND and lay.typed[v.r.name].kind == "btf_id":
        t = lay.typed[v.r.name]
        c = const_of(v.off)
        if c is None:
            return pointer(VT.MEM)  # (a variable offset: refused as no typed pointer)
        return pointer(VT.BTF_ID_OR_NULL if t.maybe_null else VT.BTF_ID,
                       off=c - (1 << 64) if c >> 63 else c, btf_id=t.btf_id, trust=t.trust,
                       tag=t.tag, ref=v.r.gen)
    if isinstance(v, P) and v.r.kind == sockets.KIND:
        return sockets.vreg(v)
    return pointer(VT.STACK)  # other memory: no typed pointer


def _check(lay, st, insn, p: P, c: int, sleepable: bool, value=None):
    """kptr_insn on a stand-in of the state: (bad list, the loaded register or None)."""
    fake = SimpleNamespace(rcu=kfuncs.in_rcu(st), lock=locks.held(st),
                           cur=SimpleNamespace(regs={insn.src: value} if value is not None
                                               else {}))
    base = pointer(VT.MAP_VALUE, off=c, map=p.r.name)
    try:
        return [], kptr_insn(fake, lay.maps, insn, base, sleepable)
    except Reject as e:
        return [(TRUE, e.message)], None


def field_bad(lay, p: P, off: int, size: int) -> list | None:
    """check_map_access's kptr rules for a direct access at a constant offset touching a
    kptr field in a wrong way (its size, misaligned): bad list, or None."""
    if p.r.kind != "map" or not has_kptrs(lay, p.r.name):
        return None
    c = const_of(p.off + bv(off))
    if c is None:
        return None
    fields = [f for f in lay.maps[p.r.name].fields if kptr_of(f[0])]
    why = field_access_error(fields, c, c, size, c, True)
    return [(TRUE, why)] if why is not None else None


def load(lay, st, p: P, off: int, size: int, regno):
    """(bad, value) of a load at a kptr field, or None when ``p + off`` is none."""
    wrong = field_bad(lay, p, off, size)
    if wrong is not None:
        return wrong, None
    c = _field_at(lay, p, off)
    if c is None:
        return None
    from model.symbolic.memory import check_region, map_array

    bad = check_region(lay, st, P(p.r, p.off + bv(off), p.key), bv(8), False)
    bad = [(b, w) for b, w in bad if "kptr" not in w]
    more, reg = _check(lay, st, Load(8, 0, regno or 0, 0), p, c, lay.sleepable)
    if more:
        return bad + more, None
    addr = read_bytes(z3.Select(map_array(lay, st, p.r.name), p.key), p.off + bv(off), 8)
    got = BA.Typed("btf_id", reg.btf_id, reg.trust, True, reg.tag)
    return bad, kfuncs.typed_pointer(lay, got, addr)


def store(lay, st, p: P, off: int, size: int, value, src):
    """Bad list of a store at a kptr field (the bytes written by the caller), or None."""
    wrong = field_bad(lay, p, off, size)
    if wrong is not None:
        return wrong
    c = _field_at(lay, p, off)
    if c is None:
        return None
    imm = const_of(value.v) if src is None and isinstance(value, S) else 0
    insn = Store(8, 0, 0, src, imm or 0)
    bad, _ = _check(lay, st, insn, p, c, lay.sleepable,
                    vreg(lay, value) if src is not None else None)
    return bad


def xchg(eng, st, pc: int):
    """bpf_kptr_xchg: (bad list, [(state, r0, extra guard)])."""
    lay, regs = eng.lay, st.cur.regs
    r, new = regs[1], regs[2]
    for regno, v in ((1, r), (2, new)):
        if v is None:
            return [(TRUE, f"R{regno} !read_ok")], []
    base = vreg(lay, r)
    if isinstance(r, P) and r.r.kind == "map":
        c = const_of(r.off)
        base = pointer(VT.MAP_VALUE, off=c - (1 << 64) if c >> 63 else c, map=r.r.name) \
            if c is not None else replace(pointer(VT.MAP_VALUE, map=r.r.name),
                                          scalar=unknown().scalar)
    try:
        sid, released = xchg_args(lay.maps, base, vreg(lay, new))
    except Reject as e:
        return [(TRUE, e.message)], []
    from model.symbolic.memory import map_array

    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    arr = map_array(lay, st, r.r.name)
    inner = z3.Select(arr, r.key)
    old = read_bytes(inner, r.off, 8)
    new_addr = lay.addr(new)
    st.maps[r.r.name] = z3.Store(arr, r.key, write_bytes(inner, r.off, new_addr, 8))
    if released:
        kfuncs.release(st, released, f"{pc}_{n}")
    got = st.copy()
    ptr = kfuncs.acquire(lay, got, BA.Typed("btf_id", sid, "", False, ""), old)
    return [], [(st, S(bv(0)), old == bv(0)), (got, ptr, old != bv(0))]


__all__ = ["FOLLOWED", "has_kptrs", "load", "store", "xchg"]
