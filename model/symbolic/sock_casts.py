"""Typed views of a referenced socket in the Z3 engine (the abstract verifier:
model.verifier.refs, is_ptr_cast_function in model.platform.proto_kinds.CASTS).

* A bpf_skc_to_* cast (and bpf_skc_to_mptcp_sock, whose argument is a plain socket) of a
  socket holding a reference returns a typed pointer (model.symbolic.typed) that holds the
  same reference, as the kernel's casts do (bpf_skc_to_unix_sock's holds none): its
  region's ``gen`` is minus the socket's reference number (sockets.py numbers a path's
  sockets; a kfunc's references, model.symbolic.kfuncs, are positive). A cast of such a
  pointer holds it too.
* Releasing the socket (bpf_sk_release of the socket or of the typed pointer, the
  verifier's release_arg on the register it is) ends every pointer holding the reference
  (sockets.release).
* A typed pointer holding a socket's reference given to a kfunc or to bpf_kptr_xchg is left
  to the verifier (VERIFIER_ONLY).
"""

from __future__ import annotations

import z3

from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.proto_kinds import CASTS, Arg
from model.verifier.memcheck import Reject
from model.verifier.refs import release_arg
from model.verifier.regs import T as VT
from model.verifier.regs import pointer
from model.symbolic.state import P, Region, bv, const_of

#: bpf_setsockopt / bpf_getsockopt on a typed socket (an iterator's, a tracing program's)
SOCKOPT = frozenset({"setsockopt", "getsockopt"})
#: helpers followed here besides those of sockets.FOLLOWED / typed.FOLLOWED_RETS
FOLLOWED = frozenset({"skc_to_mptcp_sock"}) | SOCKOPT
TRUE = z3.BoolVal(True)


def followed(prog_type: str, hid: int) -> bool:
    from model.platform.prototypes import helper_proto

    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def holds(r) -> int:
    """The socket reference number ``r`` holds (0: none)."""
    from model.symbolic import sockets, typed

    if isinstance(r, P) and r.r.kind == sockets.KIND:
        return r.r.gen
    if isinstance(r, P) and r.r.kind == typed.KIND and r.r.gen < 0:
        return -r.r.gen
    return 0


def result(lay, proto, ret: P, arg) -> P:
    """The typed pointer a cast returns, holding its argument's reference if a cast
    function's (CASTS)."""
    ref = holds(arg) if proto.name in CASTS else 0
    if not ref:
        return ret
    name = f"{ret.r.name}:sref"
    lay.typed[name] = lay.typed[ret.r.name]
    return P(Region(ret.r.kind, name, gen=-ref), ret.off, ret.key)


def typed_arg_bad(lay, proto, regno: int, r, arg) -> list | None:
    """A typed pointer given as a socket argument (sockets.arg_bad leaves those): socket
    storage, socket options and the helpers only looking at a socket (the verifier's
    btf_sock_common_arg),
    bpf_sk_release of a typed pointer holding a reference (release_arg); None: the
    verifier decides."""
    from model.symbolic import sockets, typed

    if proto.name in sockets.STORAGE | sockets.USERS | SOCKOPT:
        return typed.sock_common_arg(lay, regno, r, arg.maybe_null)
    if proto.name != "sk_release" or arg.base is not Arg.PTR_TO_BTF_ID_SOCK_COMMON:
        return None
    base = lay.typed[r.r.name]
    c = const_of(r.off)
    if c is None or base.kind != "btf_id":
        return None

    def reg(null: bool):
        return pointer(VT.BTF_ID_OR_NULL if null else VT.BTF_ID,
                       off=c - (1 << 64) if c >> 63 else c, btf_id=base.btf_id,
                       trust=base.trust, tag=base.tag, ref=holds(r))

    bad = []
    if base.maybe_null:
        try:
            release_arg(regno, reg(True), arg.base)
        except Reject as e:
            bad.append((r.key == bv(0), e.message))
    try:
        release_arg(regno, reg(False), arg.base)
    except Reject as e:
        bad.append((TRUE, e.message))
    return bad


def unfollowed(args) -> str | None:
    """A typed pointer holding a socket's reference among ``args``: kfuncs and
    bpf_kptr_xchg are the verifier's to judge with it."""
    from model.symbolic import typed

    if any(isinstance(r, P) and r.r.kind == typed.KIND and holds(r) for r in args):
        return f"{VERIFIER_ONLY}: a typed pointer holding a socket's reference as an argument"
    return None


__all__ = ["FOLLOWED", "followed", "holds", "result", "typed_arg_bad", "unfollowed"]
