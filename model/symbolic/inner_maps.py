"""Array and hash of maps in the Z3 engine (the abstract verifier: model.verifier.transfer's
not_null, a CONST_PTR_TO_MAP of the inner map's template; the interpreter:
model.interp.maps, one inner map per slot).

* ``bpf_map_lookup_elem`` on an array / hash of maps returns NULL or a map pointer with
  the inner map's template (the map the verifier checks the inner calls against). Which map
  sits in the slot is unknown: the pointer's address is a fresh non-zero value (its ``key``)
  and whether the slot is empty is free (an array of maps: a key past max_entries is NULL).
* The engine holds one copy of the template's elements for every inner map. A lookup
  through a pointer from an outer lookup reads the element of a fresh, unconstrained key
  of that copy (as model.symbolic.percpu reads another CPU's copy): its bytes are free and
  no conclusion rests on two inner maps, or two lookups of one, agreeing. Whether it finds
  one is free for a hash, or an array made with BPF_F_INNER_MAP (its inner maps may differ
  in size): the kernel keeps the NULL too. An array of the template's size finds one
  exactly below max_entries; the kernel drops the NULL of a key it knows is such a
  constant (get_constant_map_key reads the verifier's stack slot types, which this engine
  lacks): a NULL for a key below max_entries is a path marked AMBIGUOUS, whose failures
  are the verifier's to judge (unknown, never unsafe); without them it is safe either way.
* Left to the verifier (VERIFIER_ONLY: unknown, never safe): a map-in-map without a
  template, an inner map the program also names itself (one copy would tie the two), an
  inner map whose value holds a special field (a lock, a timer, a kptr: the kernel tells
  inner maps apart by map_uid), a callback over the elements of an inner map, a lookup in
  an inner array with a key the engine does not know.
"""

from __future__ import annotations

import z3

from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.map_helpers import MAP_IN_MAP_IDS, can_elide_null, map_type_name
from model.symbolic.state import P, Region, S, bv


#: the st.maps marker of a path through a NULL the kernel may have dropped
AMBIGUOUS = "maybe-elided-null"


def is_outer(lay, name: str) -> bool:
    return lay.maps[name].type in MAP_IN_MAP_IDS


def via_outer(r) -> bool:
    """A map pointer an outer lookup gave (its address travels as its ``key``)."""
    return isinstance(r, P) and r.r.kind == "mapptr" and r.key is not None


def unfollowed(lay, prog, name: str) -> str | None:
    """Why the engine leaves a lookup in array / hash of maps ``name`` to the verifier."""
    m = lay.maps[name]
    what = f"{VERIFIER_ONLY}: a lookup in an {map_type_name(m.type)}"
    if m.inner not in lay.maps:
        return f"{what} without an inner map template"
    if any(ref.map == m.inner for ref in prog.map_refs.values()):
        return f"{what} whose inner map the program also names"
    if lay.maps[m.inner].fields:
        return f"{what} whose inner values hold special fields"
    return None


def callback_unfollowed(st, pc: int) -> str | None:
    """bpf_for_each_map_elem over an inner map: the verifier's rules decide."""
    if via_outer(st.cur.regs[1]):
        return f"{VERIFIER_ONLY}: callbacks over an inner map (insn {pc})"
    return None


def lookup(lay, st, name: str, key, pc: int, n: int):
    """bpf_map_lookup_elem on map ``name``, an outer map or an inner map reached through a
    pointer an outer lookup gave: (a reason to leave it to the verifier or None, the
    outcomes ``[(state, r0, extra guard)]``)."""
    if is_outer(lay, name):
        return None, outer_lookup(lay, st, name, key, pc, n)
    return inner_lookup(lay, st, name, key, pc, n)


def outer_lookup(lay, st, name: str, key, pc: int, n: int):
    """The outcomes ``[(state, r0, extra guard)]`` of a lookup in outer map ``name`` with
    key ``key`` (a term, or None when unknown): NULL, or a pointer to some inner map."""
    m = lay.maps[name]
    null = z3.Bool(f"outer_null_{pc}_{n}")
    found = z3.Not(null)
    if lay.is_array(name) or map_type_name(m.type) == "array_of_maps":
        if key is not None:
            found = z3.And(found, lay.in_range(name, key))
    addr = z3.BitVec(f"inner_map_{pc}_{n}", 64)
    fact = addr != bv(0)
    if not any(f.eq(fact) for f in lay.facts):
        lay.facts.append(fact)
    hit = st.copy()
    return [(st, S(bv(0)), null), (hit, P(Region("mapptr", m.inner), bv(0), addr), found)]


def inner_lookup(lay, st, name: str, key, pc: int, n: int):
    """The outcomes of a lookup (key ``key``, None when unknown) in an inner map of
    template ``name`` through a pointer an outer lookup gave, or a reason to leave it."""
    m = lay.maps[name]
    elem = z3.BitVec(f"inner_key_{pc}_{n}", 8 * max(m.key_size, 1))  # an element of the copy
    hit = st.copy()
    if can_elide_null(m.type, m.map_flags) and key is not None:
        # an array of the template's size: found exactly below its entries; the kernel
        # drops the NULL of a key it knows is such a constant (get_constant_map_key: a
        # STACK_ZERO key or a constant spill of the key's size), which this engine's bytes
        # do not tell: a NULL there is a path only the verifier may judge (AMBIGUOUS)
        ok = lay.in_range(name, key)
        unsure = st.copy()
        unsure.maps[AMBIGUOUS] = z3.BoolVal(True)
        return None, [(st, S(bv(0)), z3.Not(ok)), (unsure, S(bv(0)), ok),
                      (hit, P(Region("map", name), bv(0), elem), ok)]
    if can_elide_null(m.type, m.map_flags):
        return f"{VERIFIER_ONLY}: a lookup in an inner {map_type_name(m.type)} with a key " \
            "it does not know", []
    null = z3.Bool(f"inner_miss_{pc}_{n}")
    return None, [(st, S(bv(0)), null), (hit, P(Region("map", name), bv(0), elem), z3.Not(null))]


def ambiguous(st) -> str | None:
    """A failure on a path through a NULL the kernel may have dropped is the verifier's to
    judge (unknown), not an unsafe execution."""
    if AMBIGUOUS in st.maps:
        return f"{VERIFIER_ONLY}: a path through the NULL of an inner array lookup the " \
            "kernel may know is never NULL"
    return None


__all__ = ["AMBIGUOUS", "ambiguous", "lookup", "is_outer", "via_outer", "unfollowed", "callback_unfollowed", "outer_lookup",
           "inner_lookup"]
