"""Ring buffer reservations in the Z3 engine (the references the abstract verifier tracks in
model.verifier.refs; the interpreter's run: model.interp.refs).

``bpf_ringbuf_reserve(map, size, flags)`` returns NULL or a fresh region of ``size`` bytes
(a constant: ARG_CONST_ALLOC_SIZE_OR_ZERO), named ``ringbuf#k`` for the k-th reservation
the path made (the interpreter numbers its reservations the same way, so addresses agree);
its bytes are unknown. The state is split at the call into the NULL and the reserved
outcomes, the latter possible only with ``flags == 0`` and a record that fits the ring
(bpf_ringbuf_reserve). ``bpf_ringbuf_submit`` / ``discard`` end it: the argument must be an
unmoved reservation ("... expected=ringbuf_mem", "must have zero offset"), and every copy of
the pointer becomes an unknown scalar (release_reference). A path that ends the program
holding a reservation leaks it (check_reference_leak). Accesses are bounded by the region's
size (``memory.check_region``).
"""

from __future__ import annotations

import z3

from model.interp.refs import RINGBUF_HDR
from model.platform.proto_kinds import RELEASE_EXPECTED, Arg, reference_leak
from model.platform.prototypes import helper_proto
from model.verifier.transfer import MAX_VAR_OFF
from model.symbolic.state import BV64, BYTE, P, Region, S, bv, const_of

#: the helpers whose references this engine follows (the others: the verifier's alone)
FOLLOWED = frozenset({"ringbuf_reserve", "ringbuf_submit", "ringbuf_discard"})
KIND = "ringbuf"
#: helper_runs slot counting a path's reservations (helper_runs keys are call pcs >= 0)
RESERVED = -1
#: the region names of dynptr slices (model.symbolic.dynptrs): ring buffer memory in
#: shape, not a reservation
SLICE = "dslice#"


def followed(prog_type: str, hid: int) -> bool:
    """Does this engine follow the references of helper ``hid``?"""
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def held(st) -> list[str]:
    """The reservations the state still holds (their memory arrays live in ``st.maps``),
    the sockets (model.symbolic.sockets) and kfunc references (model.symbolic.kfuncs)."""
    return sorted(n for n in st.maps if n.startswith((KIND + "#", "sock#", "kref#")))


def reserve(lay, st, pc: int, n: int, map_name: str, size_reg, flags_reg):
    """The outcomes ``[(state, r0, extra guard)]`` of a reservation (its size checked)."""
    size = const_of(size_reg.v)
    k = st.helper_runs.get(RESERVED, 0)
    ok = st.copy()
    ok.helper_runs[RESERVED] = k + 1
    name = f"{KIND}#{k}"
    ok.maps[name] = z3.Array(f"rb_{pc}_{n}", BV64, BYTE)
    fits = z3.ULE(bv(size + RINGBUF_HDR), lay.entries(map_name))  # (loader-sized: unknown)
    flags = flags_reg.v if isinstance(flags_reg, S) else bv(1)
    null = z3.Bool(f"rb_null_{pc}_{n}")
    lay.reserve_nulls[(pc, n)] = null
    region = Region(KIND, name, 0, k, size)
    return [(st, S(bv(0)), null),
            (ok, P(region, bv(0)), z3.And(z3.Not(null), flags == bv(0), fits))]


def size_bad(regno: int, r) -> list | None:
    """The reservation's size must be a constant the path fixes (the kernel: a known
    constant); None: the verifier's rules decide (not followed here) -- a variable size,
    or one from BPF_MAX_VAR_OFF on, where the kernel's pointer offset rules
    (check_reg_sane_offset) refuse arithmetic that stays inside the region."""
    if not isinstance(r, S):
        return [(z3.BoolVal(True), f"R{regno} type=pointer expected=scalar")]
    c = const_of(r.v)
    return [] if c is not None and c < MAX_VAR_OFF else None


def release_bad(regno: int, r) -> list:
    """check_reg_type / check_func_arg_reg_off for a released ring buffer argument."""
    if not (isinstance(r, P) and r.r.kind == KIND) or r.r.name.startswith(SLICE):
        what = "scalar" if isinstance(r, S) else "mem" if isinstance(r, P) and \
            r.r.name.startswith(SLICE) else r.r.kind if isinstance(r, P) else "?"
        return [(z3.BoolVal(True), f"R{regno} type={what} expected="
                 f"{RELEASE_EXPECTED[Arg.PTR_TO_RINGBUF_MEM]}")]
    return [(r.off != bv(0), f"R{regno} must have zero offset when passed to release func "
             "or trusted arg to kfunc")]


def release(st, r: P, tag: str) -> None:
    """release_reference: the reservation ends; every copy of its pointer (registers and
    spills of every frame) becomes an unknown scalar."""
    st.maps = {n: a for n, a in st.maps.items() if n != r.r.name}

    def drop(v, where):
        if isinstance(v, P) and v.r == r.r:
            return S(z3.BitVec(f"released_{tag}_{where}", 64))
        return v

    for d, f in enumerate(st.frames):
        f.regs = [drop(v, f"{d}r{i}") for i, v in enumerate(f.regs)]
        f.spills = {o: drop(v, f"{d}s{o}") for o, v in f.spills.items()}


def leak_reason(st, what: str = "BPF_EXIT instruction in main prog") -> str | None:
    """check_reference_leak before ``what`` (an exit of the main program, a tail call,
    LD_ABS/IND): the reservations the path still holds."""
    if what != "tail_call" and any(n.startswith("lock#") for n in st.maps):
        return f"{what} cannot be used inside bpf_spin_lock-ed region"  # (model.symbolic.locks)
    names = held(st)
    if names:
        return reference_leak([f"({n})" for n in names], what)
    if "rcu#" in st.maps:  # check_resource_leak's RCU part (model.symbolic.kfuncs)
        return f"{what} cannot be used inside bpf_rcu_read_lock-ed region"
    return None


__all__ = ["FOLLOWED", "followed", "KIND", "held", "reserve", "release", "release_bad", "size_bad",
           "leak_reason"]
