"""bpf_map_lookup_percpu_elem in the Z3 engine (the abstract verifier: a map value or NULL,
as bpf_map_lookup_elem; the interpreter: model.interp.percpu, every CPU's copy).

The engine holds one copy of each map element. Another CPU's copy of element ``key`` is
read as the element of a fresh, unconstrained key of the same map: its bytes are free
(the fresh key may be the looked-up one or another), and so is whether the call finds it
(a CPU number past nr_cpu_ids, a key not present: NULL). Every value the kernel may
return is among those, so no conclusion rests on two CPUs' copies agreeing.
"""

from __future__ import annotations

import z3

from model.platform.prototypes import helper_proto
from model.symbolic.state import P, Region, S, bv

FOLLOWED = frozenset({"map_lookup_percpu_elem"})


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def lookup(lay, st, name: str, pc: int, n: int):
    """The outcomes ``[(state, r0, extra guard)]``: NULL, or another CPU's value."""
    m = lay.maps[name]
    key = z3.BitVec(f"cpu_key_{pc}_{n}", 8 * max(m.key_size, 1))
    lay.lookups.append((name, key))
    null = z3.Bool(f"cpu_null_{pc}_{n}")
    found = z3.Not(null)
    if lay.is_array(name):
        found = z3.And(found, lay.in_range(name, key))
    hit = st.copy()
    return [(st, S(bv(0)), null), (hit, P(Region("map", name), bv(0), key), found)]


__all__ = ["FOLLOWED", "followed", "lookup"]
