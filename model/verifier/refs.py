"""Acquired references in the abstract verifier, as the Linux 6.18 kernel tracks them: a
helper of ``proto_kinds.ACQUIRES`` returns a pointer holding a new reference (the state's
``refs``), a release helper (an ``OBJ_RELEASE`` argument) hands it back and every copy of
the pointer becomes an unknown scalar, a NULL check's NULL branch drops it, and the program
may not exit, tail call or use LD_ABS/IND while holding one.
"""

from __future__ import annotations

from model.platform.proto_kinds import RELEASE_EXPECTED, Arg, Ret, reference_leak
from model.verifier.memcheck import Reject, btf_sock_common_arg, fixed_off_only
from model.verifier.regs import Reg, T, pointer, type_str, unknown
from model.verifier.state import State

#: the register kinds a release argument accepts (check_reg_type), per argument base kind
RELEASABLE = {Arg.PTR_TO_RINGBUF_MEM: {T.RINGBUF_MEM},
              Arg.PTR_TO_BTF_ID_SOCK_COMMON: {T.SOCKET, T.SOCK_COMMON, T.TCP_SOCK},
              Arg.PTR_TO_SOCK_COMMON: {T.SOCKET, T.SOCK_COMMON, T.TCP_SOCK}}
#: the register an acquiring helper returns, per return kind (with the size for memory)
ACQUIRED = {Ret.PTR_TO_RINGBUF_MEM_OR_NULL: T.RINGBUF_MEM_OR_NULL,
            Ret.PTR_TO_SOCKET_OR_NULL: T.SOCKET_OR_NULL,
            Ret.PTR_TO_SOCK_COMMON_OR_NULL: T.SOCK_COMMON_OR_NULL,
            Ret.PTR_TO_TCP_SOCK_OR_NULL: T.TCP_SOCK_OR_NULL}


def acquire(st: State, ret: Ret, pc: int, ids, size: int = 0) -> Reg:
    """The register returned by an acquiring call at ``pc``: NULL or a pointer holding a
    new reference (its id is also the NULL check's id; the kernel spends one id on the
    maybe-NULL mark first)."""
    ids.new()
    ref = ids.new()
    st.refs = st.refs + ((ref, pc),)
    return pointer(ACQUIRED[ret], id=ref, ref=ref, range=size)


def cast(ret: Ret, arg: Reg, ids) -> Reg:
    """A pointer cast from socket ``arg`` (bpf_sk_fullsock, bpf_tcp_sock): NULL until
    checked (a NULL result releases nothing), holding ``arg``'s reference."""
    return pointer(ACQUIRED[ret], id=ids.new(), ref=arg.ref)


def ref_arg(regno: int, r: Reg, base: Arg) -> None:
    """check_reg_type for a ring buffer memory or socket argument."""
    if r.type not in RELEASABLE[base]:
        raise Reject(f"R{regno} type={type_str(r)} expected={RELEASE_EXPECTED[base]}")


def release_arg(regno: int, r: Reg, base: Arg) -> int:
    """check_func_arg for an ``OBJ_RELEASE`` argument: the reference the register holds (a
    socket, or a typed pointer cast from one by a bpf_skc_to_* helper)."""
    if base is Arg.PTR_TO_BTF_ID_SOCK_COMMON and r.type in (T.BTF_ID, T.BTF_ID_OR_NULL):
        btf_sock_common_arg(regno, r, False)
    else:
        ref_arg(regno, r, base)
    if r.off:
        raise Reject(f"R{regno} must have zero offset when passed to release func or "
                     "trusted arg to kfunc")
    fixed_off_only(r, r.type.value)
    if not r.ref:
        raise Reject(f"R{regno} must be referenced when passed to release function")
    return r.ref


def release(st: State, ref: int, helper: str) -> None:
    """release_reference: drop the reference; every register and spill holding it becomes
    an unknown scalar (what a privileged loader gets)."""
    if not any(i == ref for i, _ in st.refs):
        raise Reject(f"func {helper} reference has not been acquired before")
    st.refs = tuple(x for x in st.refs if x[0] != ref)
    for f, where, r in list(st.all_regs()):
        if r.ref == ref:
            st.update(f, where, unknown())


def dropped_on_null(st: State, reg: Reg) -> None:
    """The NULL branch of a check of a just-acquired pointer holds no reference."""
    if reg.ref and reg.ref == reg.id:
        st.refs = tuple(x for x in st.refs if x[0] != reg.ref)


def check_leaks(st: State, prefix: str) -> None:
    """check_reference_leak at an exit of the main program, a tail call or LD_ABS/IND."""
    if st.refs:
        raise Reject(reference_leak([f"id={i} alloc_insn={pc}" for i, pc in st.refs], prefix))


__all__ = ["acquire", "cast", "ref_arg", "release_arg", "release", "dropped_on_null", "check_leaks"]
