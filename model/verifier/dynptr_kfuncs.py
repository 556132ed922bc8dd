"""skb / xdp dynptrs and dynptr slices in the abstract verifier, as Linux 6.18 checks the
kfuncs (kernel/bpf/verifier.c check_kfunc_args, check_kfunc_call; net/core/filter.c,
kernel/bpf/helpers.c), rows of model.platform.kfuncs (DYNPTR_KFUNCS).

* bpf_dynptr_from_skb(skb, flags, ptr__uninit) / bpf_dynptr_from_xdp(xdp, flags,
  ptr__uninit): the context (not NULL: "Possibly NULL pointer passed to trusted arg0",
  unmoved), a scalar, and 16 bytes of stack made a dynptr of type skb / xdp (the rules of
  model.verifier.dynptr: an unreferenced dynptr there is overwritten). No reference.
* bpf_dynptr_slice(p, offset, buffer__opt, buffer__szk) and bpf_dynptr_slice_rdwr: an
  initialised dynptr of any type (a callback's const one too), a scalar offset, a buffer
  that is NULL or stack/map memory of ``buffer__szk`` bytes the kfunc may write ("arg#2
  arg#3 memory, len pair leads to invalid memory access"), and that size a known constant
  ("R4 must be a known constant"). r0 is NULL or ``buffer__szk`` bytes of memory (a slice
  of the dynptr: destroying the dynptr makes it a scalar), read-only for bpf_dynptr_slice;
  bpf_dynptr_slice_rdwr needs a program type that may write packet data ("the prog does
  not allow writes to packet data"), whatever the dynptr's type.
* A slice of an skb or xdp dynptr is packet memory: a helper that changes packet data, and
  bpf_dynptr_write to an skb dynptr, make it an unknown scalar with the packet pointers
  (calls.invalidate_packet_pointers; tag ``PKT_SLICE``).
"""

from __future__ import annotations

from model.platform.proto_kinds import Arg, ArgFlag, ArgType
from model.verifier.calls import PKT_SLICE, unmoved_ctx
from model.verifier.dynptr import dynptr_arg
from model.verifier.kfuncs import _mem_and_size
from model.verifier.memcheck import PKT_WRITE_TYPES, Reject
from model.verifier.regs import NULLABLE, Reg, T, pointer, type_str, unknown

#: the dynptr types whose slices are packet memory (reg_is_dynptr_slice_pkt)
PACKET_DYNPTRS = frozenset({"skb", "xdp"})
_INIT_FLAGS = {"skb": ArgFlag.DYNPTR_SKB, "xdp": ArgFlag.DYNPTR_XDP}


def call(st, obj, ptype: str, name: str, k, pc: int, ids) -> Reg:
    """The checks of a DYNPTR_KFUNCS call and its effect on ``st``; r0."""
    regs = st.cur.regs
    dynptr = None
    for i, kind in enumerate(k.args):
        regno, r = i + 1, regs[i + 1]
        if kind == "szk":
            continue  # with its buffer
        if kind == "scalar":
            if r.type is not T.SCALAR:
                raise Reject(f"R{regno} is not a scalar")
            continue
        if r.type is T.NOT_INIT:
            raise Reject(f"R{regno} !read_ok")
        kind, _, dtype = kind.partition(":")
        if kind in ("ctx", "dynptr_uninit") and (r.type is T.SCALAR and r.const() == 0
                                                 or r.type in NULLABLE):
            raise Reject(f"Possibly NULL pointer passed to trusted arg{i}")
        if kind.startswith("dynptr") and r.type not in (T.STACK, T.CONST_DYNPTR):
            raise Reject(f"arg#{i} expected pointer to stack or const struct bpf_dynptr")
        if kind == "ctx":
            if r.type is not T.CTX:
                raise Reject(f"arg#{i} expected pointer to ctx, but got {type_str(r)}")
            unmoved_ctx(regno, r)
        elif kind == "dynptr_uninit":
            flag = _INIT_FLAGS[dtype]
            dynptr_arg(st, regno, r, ArgType(Arg.PTR_TO_DYNPTR, ArgFlag.MEM_UNINIT | flag),
                       pc, ids)
        elif kind == "dynptr":  # const struct bpf_dynptr *
            dynptr = dynptr_arg(st, regno, r, ArgType(Arg.PTR_TO_DYNPTR, ArgFlag.MEM_RDONLY),
                                pc, ids)
        elif kind == "mem_opt":
            _buffer(st, obj, ptype, i, regno, r, regs[regno + 1])
        else:
            raise Reject(f"not modelled: argument kind {kind} of kfunc {name}")
    if k.ret == "scalar":
        return unknown()
    size = regs[4].const()
    assert dynptr is not None and size is not None  # (checked above)
    if k.ret == "slice_rdwr" and ptype not in PKT_WRITE_TYPES:
        raise Reject("the prog does not allow writes to packet data")
    return pointer(T.MEM_OR_NULL, id=ids.new(), range=size, ref=dynptr.ref,
                   dynptr=dynptr.id, read_only=k.ret == "slice",
                   tag=PKT_SLICE if dynptr.type in PACKET_DYNPTRS else "")


def _buffer(st, obj, ptype: str, i: int, regno: int, buf: Reg, size: Reg) -> None:
    """KF_ARG_PTR_TO_MEM_SIZE with an ``__opt`` buffer (NULL, or memory of the size) and a
    ``__szk`` size, which must be a known constant."""
    if not (buf.type is T.SCALAR and buf.const() == 0):
        _mem_and_size(st, obj, ptype, i, regno, buf, size)
    if size.type is not T.SCALAR or size.const() is None:
        raise Reject(f"R{regno + 1} must be a known constant")


__all__ = ["call", "PACKET_DYNPTRS"]
