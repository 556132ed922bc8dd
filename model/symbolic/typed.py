"""BTF-typed programs in the Z3 engine (``tracing``: fentry / fexit / fmod_ret / tp_btf /
iter; ``lsm``): their context and the kernel memory PTR_TO_BTF_ID pointers reach, read as
the kernel reads them (probe reads) with the rules of ``model.platform.btf_access`` -- the
same functions the abstract verifier calls (btf_ctx_access, check_ptr_to_btf_access).

* A context read is checked by ``btf_access.ctx_read``; a scalar argument is the context's
  bytes (an input; lsm's return value slot within the hook's range); a struct pointer
  argument is a typed pointer whose address is the context's 8 bytes at that slot.
* A read through a typed pointer needs a constant offset (a variable one: the verifier's
  rules decide) and is checked by ``btf_access.gpl_check`` / ``ptr_access``; a scalar
  member reads as a fresh unknown of the access's size (kernel memory the program does
  not own: nothing ties two reads together), a struct pointer member as a new typed
  pointer with an unknown address, a pointer to a non-struct member as untrusted memory
  (reads anywhere are probes, writes refused). Writes are refused ("only read is
  supported"). A pointer's region names its type; its address travels as its ``key``.
* A pointer that may be NULL (``maybe_null``: __nullable arguments, _or_null members)
  must be checked before a read or arithmetic: one where its address may be 0 is a
  failure. Other typed pointers may be NULL at run time too (their reads are probes: no
  fault), except trusted ones, which the kernel knows are not (reg_not_null): their
  address is assumed non-zero.
* Helpers: bpf_get_current_task_btf, and a typed socket for bpf_get_socket_cookie and the
  bpf_skc_to_* casts (checked by the verifier's btf_sock_common_arg). An lsm program
  returns within its hook's range (lsm_return_range, 32-bit).
* What the engine does not follow -- a typed pointer as helper memory or as another typed
  helper argument, an iterator's buffers, a typed access at a variable or huge offset --
  is left to the verifier (``VERIFIER_ONLY``: unknown, never safe).
"""
from __future__ import annotations

import itertools

import z3

from model.elf.btf import STRUCT
from model.platform import btf_access as BA
from model.platform.proto_kinds import (RELEASE_EXPECTED, RET_BTF_PLAIN, RET_BTF_STRUCT, Arg,
                                        Ret)
from model.platform.prototypes import helper_proto
from model.verifier.memcheck import Reject, btf_sock_common_arg
from model.verifier.regs import T as VT
from model.verifier.regs import pointer
from model.verifier.transfer import MAX_VAR_OFF
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.tracing_targets import btf_target, lsm_return_range, vmlinux_btf
from model.symbolic.state import P, Region, S, bv, const_of, read_bytes

KIND = "btf"
#: helpers followed: bpf_get_current_task_btf (a trusted task_struct pointer), and those
#: taking a typed socket (ARG_PTR_TO_BTF_ID_SOCK_COMMON, checked by the verifier's
#: btf_sock_common_arg): bpf_get_socket_cookie, the bpf_skc_to_* casts (a plain pointer to
#: their struct, or NULL); bpf_task_pt_regs, bpf_sock_from_file (model.symbolic.kmem checks
#: their typed argument)
FOLLOWED_RETS = frozenset({"get_current_task_btf", "get_socket_cookie", "skc_to_tcp6_sock",
                           "skc_to_tcp_sock", "skc_to_tcp_timewait_sock",
                           "skc_to_tcp_request_sock", "skc_to_udp6_sock",
                           "skc_to_unix_sock", "task_pt_regs", "sock_from_file",
                           "skc_to_mptcp_sock"})
#: the program types whose typed context this engine follows
FOLLOWED_TYPES = ("tracing", "lsm")
T = z3.BoolVal(True)
_LOADS = itertools.count()


def target_of(prog):
    """The attach target the engine reads the context with, or None (an untyped program)."""
    return btf_target(prog) if prog.prog_type in FOLLOWED_TYPES else None


def _pointer(lay, got: BA.Typed, addr) -> P:
    """A typed pointer at address ``addr`` (the pointer's ``key``; its region names its
    type, registered in the layout, so paths reading the same kind of pointer merge)."""
    name = f"{got.kind}:{got.btf_id}:{got.trust}:{int(got.maybe_null)}:{got.tag}"
    lay.typed[name] = got
    if got.trust == "trusted" and not got.maybe_null:
        fact = addr != bv(0)
        if not any(f.eq(fact) for f in lay.facts):
            lay.facts.append(fact)
    return P(Region(KIND, name), bv(0), addr)


def _yield(lay, got, addr, scalar):
    """(bad, value) for what a typed read yields."""
    if isinstance(got, str):
        return [(T, got)], None
    if got.kind == "scalar":
        value = scalar()
        if got.s32 is not None:  # lsm's return value slot: in the hook's range (32-bit)
            lo, hi = got.s32
            w = z3.Extract(31, 0, value.v)
            fact = z3.And(w >= bv(lo, 32), w <= bv(hi, 32))
            if not any(f.eq(fact) for f in lay.facts):
                lay.facts.append(fact)
        return [], value
    if got.kind == "buf":  # an iterator's buffer (model.symbolic.kmem)
        from model.symbolic.kmem import buf_pointer

        return [], buf_pointer(lay, got, addr)
    return [], _pointer(lay, got, addr)


def ctx_load(lay, off: int, size: int, write: bool):
    """(bad, value) of a context access at constant offset ``off`` (the pointer unmoved)."""
    got = BA.ctx_read(vmlinux_btf(), lay.target, off, size, write)
    if write and not isinstance(got, str):  # ctx_read refuses every write
        return [(T, "only read is supported")], None

    def scalar():
        raw = read_bytes(lay.ctx_in, bv(off), size)
        return S(z3.ZeroExt(64 - 8 * size, raw) if size < 8 else raw)

    addr = read_bytes(lay.ctx_in, bv(off), 8) if not isinstance(got, str) else None
    return _yield(lay, got, addr, scalar)


def ptr_load(lay, p: P, off: int, size: int, write: bool, regno: int | None,
             in_rcu: bool = False):
    """(bad, value) of a read (or a refused write) through typed pointer ``p``
    (``in_rcu``: inside bpf_rcu_read_lock, which matters to a sleepable program)."""
    base = lay.typed[p.r.name]
    k = next(_LOADS)

    def scalar():
        v = z3.BitVec(f"kmem_{k}", 8 * size)
        return S(z3.ZeroExt(64 - 8 * size, v) if size < 8 else v)

    # PTR_MAYBE_NULL: the NULL check comes first
    bad = null_bad(lay, p, f"R{regno} invalid mem access '{or_null(base)}'")
    c = const_of(p.off + bv(off))
    if c is None:
        return bad + [(T, f"{VERIFIER_ONLY}: a typed access at a variable offset")], None
    c = c - (1 << 64) if c >> 63 else c
    if base.kind == "mem_untrusted":  # check_mem_access: reads at any offset are probes
        if write:
            return bad + [(T, f"R{regno} cannot write into rdonly_untrusted_mem")], None
        if not -MAX_VAR_OFF < c < MAX_VAR_OFF:  # the pointer's offset rules decide
            return bad + [(T, f"{VERIFIER_ONLY}: a typed access at a huge offset")], None
        return bad, scalar()
    btf = vmlinux_btf()
    why = BA.gpl_check(btf, base.btf_id, lay.gpl)
    if why is not None:
        return [(T, why)], None
    # a referenced pointer is trusted (is_trusted_reg; model.symbolic.kfuncs: its gen)
    trust = base.trust or ("trusted" if p.r.gen else "")
    got = BA.ptr_access(btf, BA.Typed("btf_id", base.btf_id, trust, False, base.tag),
                        regno if regno is not None else 0, c, size, write,
                        sleepable=lay.sleepable and not in_rcu)
    if write and not isinstance(got, str):
        return bad, None

    more, value = _yield(lay, got, z3.BitVec(f"kptr_{k}", 64), scalar)
    return bad + more, value


def or_null(t: BA.Typed) -> str:
    """The verifier's name of a maybe-NULL typed pointer (``trusted_ptr_or_null_``...)."""
    return (f"{t.trust}_" if t.trust in ("trusted", "rcu", "untrusted") else "") + \
        "ptr_or_null_"


def null_bad(lay, p: P, why: str) -> list:
    """A maybe-NULL typed pointer used where its address may still be 0."""
    return [(p.key == bv(0), why)] if lay.typed[p.r.name].maybe_null else []


def followed(prog_type: str, hid: int) -> bool:
    """Does this engine follow the typed pointer helper ``hid`` returns?"""
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED_RETS


def helper_result(lay, proto, pc: int, n: int):
    """The typed pointer a RET_BTF_STRUCT helper this engine follows returns, or None."""
    if proto.name not in FOLLOWED_RETS or proto.name not in RET_BTF_STRUCT:
        return None
    t = vmlinux_btf().find(RET_BTF_STRUCT[proto.name], STRUCT)
    if t is None:
        return None
    got = BA.Typed("btf_id", t.id, "" if proto.name in RET_BTF_PLAIN else "trusted",
                   proto.ret is Ret.PTR_TO_BTF_ID_OR_NULL)
    return _pointer(lay, got, z3.BitVec(f"kptr_call{pc}_{n}", 64))


def sock_common_arg(lay, regno: int, r, maybe_null: bool) -> list:
    """Bad conditions of ``r`` as an ARG_PTR_TO_BTF_ID_SOCK_COMMON argument (``maybe_null``:
    NULL allowed): a typed pointer the verifier's btf_sock_common_arg takes."""
    expected = f"R{regno} type={{}} expected={RELEASE_EXPECTED[Arg.PTR_TO_BTF_ID_SOCK_COMMON]}"
    if isinstance(r, S):
        return [(r.v != bv(0) if maybe_null else T, expected.format("scalar"))]
    if not isinstance(r, P) or r.r.kind != KIND or lay.typed[r.r.name].kind != "btf_id":
        return [(T, expected.format(r.r.kind if isinstance(r, P) else "?"))]
    base = lay.typed[r.r.name]
    c = const_of(r.off)
    if c is None:
        return [(T, f"{VERIFIER_ONLY}: a typed argument at a variable offset")]
    bad = [] if maybe_null else null_bad(lay, r, expected.format(or_null(base)))
    reg = pointer(VT.BTF_ID, off=c - (1 << 64) if c >> 63 else c, btf_id=base.btf_id,
                  trust=base.trust, tag=base.tag)
    try:
        btf_sock_common_arg(regno, reg, maybe_null)
    except Reject as e:
        return bad + [(T, e.message)]
    return bad


def lsm_return_bad(lay, r0):
    """check_return_code for lsm: r0's 32-bit signed value in the hook's range (none for a
    void hook): (bad, reason) or (None, "")."""
    rng = lsm_return_range(lay.target)
    if rng is None:
        return None, ""
    if not isinstance(r0, S):
        return T, "At program exit the register R0 is not a known value"
    lo, hi = rng
    w = z3.Extract(31, 0, r0.v)
    return (z3.Not(z3.And(w >= bv(lo, 32), w <= bv(hi, 32))),
            f"At program exit the register R0 should have been in [{lo}, {hi}]")


def helper_mem() -> list:
    """A typed pointer handed to a helper as memory: the verifier's rules decide."""
    return [(T, f"{VERIFIER_ONLY}: a typed pointer as helper memory")]


__all__ = ["KIND", "FOLLOWED_TYPES", "FOLLOWED_RETS", "target_of", "ctx_load", "ptr_load",
           "helper_mem", "helper_result", "null_bad", "or_null", "sock_common_arg",
           "lsm_return_bad"]
