"""Load-acquire / store-release in the Z3 engine (``model.isa.LoadAcquire`` /
``StoreRelease``): the plain load or store, after the atomic-only checks. Followed through
the regions whose memory this engine holds (stack, map values, ring buffer records), where
the kernel allows an atomic (atomic_ptr_type_ok); it is always strictly aligned. Any other
pointer kind is left as "not modelled" (the abstract verifier judges it)."""

from __future__ import annotations

import z3

from model.isa import LoadAcquire
from model.symbolic import refs
from model.symbolic.alignment import aligned
from model.symbolic.state import P, bv

#: the regions an ordered access is followed through
ORDERED_KINDS = ("stack", "map", refs.KIND)


def ordered_ok(eng, st, pc: int, insn) -> bool:
    """The checks of an ordered ``insn`` beyond its plain load or store; False: the path
    ends here (refused or not modelled)."""
    load = isinstance(insn, LoadAcquire)
    reg = insn.src if load else insn.dst
    p = st.cur.regs[reg]
    if not isinstance(p, P):
        return True  # the plain access refuses a scalar or uninitialised register
    name = "load-acquire" if load else "store-release"
    what = f"{name} of {insn.size} bytes at R{reg}{insn.off:+d}"
    if p.r.kind not in ORDERED_KINDS or p.r.kind == "map" and eng.lay.maps[p.r.name].fields:
        # (a special field, a kptr: only BPF_MEM may touch it)
        eng.fail(st, pc, what, z3.BoolVal(True), f"not modelled: {name} through a {p.r.kind} "
                 "pointer")
        return False
    return eng.check_bad(st, pc, what + " is aligned",
                         aligned(eng.lay, p.r, p.off + bv(insn.off), insn.size, True))
