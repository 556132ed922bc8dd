"""Kfunc calls in the abstract verifier (Linux 6.18 check_kfunc_call / check_kfunc_args)
for the kfuncs of model.platform.kfuncs; any other stays "not modelled: kfunc NAME".

* The program type must be one the kfunc's set is registered for ("calling kernel
  function NAME is not allowed"); no kfunc while a bpf_spin_lock is held.
* bpf_rcu_read_lock / bpf_rcu_read_unlock open and close an RCU read section (not
  nested; an unlock without a lock refused); the unlock makes every MEM_RCU pointer
  untrusted (and no longer maybe-NULL). The main program may not exit, tail call or use
  LD_ABS/IND inside one (model.verifier.locks.check_rcu_unlocked).
* Arguments: a scalar ("R1 is not a scalar"); the context (unmoved); memory and its
  ``__sz`` size, read and written by the kfunc; a typed pointer: not NULL nor maybe NULL
  ("Possibly NULL pointer passed to trusted argN"), a PTR_TO_BTF_ID (other memory: "must
  point to scalar, or struct with scalar" for a struct with pointers), trusted (referenced
  or PTR_TRUSTED) for KF_TRUSTED_ARGS and release kfuncs, trusted or MEM_RCU for KF_RCU
  ones, of the struct the kfunc takes (btf_struct_ids_match: strict for a released one).
* KF_RELEASE: the typed argument's reference is released (every copy invalid); a release
  kfunc needs a referenced argument. KF_ACQUIRE: the returned pointer holds a new
  reference, which the program must release (model.verifier.refs). KF_RET_NULL: maybe
  NULL until checked.
"""

from __future__ import annotations

from model.elf.btf import STRUCT
from model.platform.kfuncs import (DYNPTR_KFUNCS, KF_ACQUIRE, KF_RCU, KF_RELEASE,
                                   KF_RET_NULL, KF_SLEEPABLE, KFUNCS, RCU_LOCK, RCU_UNLOCK,
                                   arg_struct, kfunc_check, kfunc_name)
from model.platform.prototypes import Arg, ArgType
from model.platform.tracing_targets import vmlinux_btf
from model.verifier.calls import _mem_arg, _null_mem_size, _size_arg, unmoved_ctx
from model.verifier.memcheck import Reject, vmlinux_struct_id
from model.verifier.regs import NOT_INIT, NULLABLE, SOCKETS, Reg, T, pointer, replace, \
    type_str, unknown
from model.verifier.state import State


def call_kfunc(st: State, obj, prog, ptype: str, pc: int, btf_id: int, ids) -> None:
    """Check a kfunc call at ``pc`` and apply its effect on ``st``."""
    name = kfunc_name(prog, pc, btf_id)
    why = kfunc_check(name, ptype, prog.sleepable or ptype == "syscall",
                      prog.attach_type) if name else None
    if name is None or why is not None and why.startswith("not modelled"):
        raise Reject(why or prog.kfunc_unmodelled(pc, btf_id))
    if why is not None:
        raise Reject(why)
    k = KFUNCS[name]
    if st.lock is not None:
        raise Reject("function calls are not allowed while holding a lock")
    if name in (RCU_LOCK, RCU_UNLOCK):
        _rcu(st, name)
    elif st.rcu and k.has(KF_SLEEPABLE):
        raise Reject(f"kernel func {name} is sleepable within rcu_read_lock region")
    regs = st.cur.regs
    if name in DYNPTR_KFUNCS:  # dynptr arguments and slices
        from model.verifier import dynptr_kfuncs

        ret = dynptr_kfuncs.call(st, obj, ptype, name, k, pc, ids)
        for i in range(1, 6):
            regs[i] = NOT_INIT
        regs[0] = ret
        return
    released = None
    for i, kind in enumerate(k.args):
        regno = i + 1
        r = regs[regno]
        if kind in ("size", "ign"):
            continue  # checked with its memory (the argument before)
        if kind == "scalar":
            if r.type is not T.SCALAR:
                raise Reject(f"R{regno} is not a scalar")
            continue
        if r.type is T.NOT_INIT:  # (the kernel's words vary: skv's are the helpers')
            raise Reject(f"R{regno} !read_ok")
        if kind == "mem":
            _mem_and_size(st, obj, ptype, i, regno, r, regs[regno + 1])
            continue
        if kind == "ctx":
            if r.type is not T.CTX:
                raise Reject(f"arg#{i} expected pointer to ctx, but got {type_str(r)}")
            unmoved_ctx(regno, r)
            continue
        if (r.type is T.SCALAR and r.const() == 0) or r.type in NULLABLE:
            raise Reject(f"Possibly NULL pointer passed to trusted arg{i}")
        ref = _btf_arg(name, k, i, regno, r, arg_struct(kind))
        if ref:
            released = ref
    if k.has(KF_RELEASE) and released is None:
        raise Reject(f"release kernel function {name} expects refcounted PTR_TO_BTF_ID")
    if released is not None:
        from model.verifier.refs import release

        release(st, released, f"kfunc {name}")
    for r in range(1, 6):
        regs[r] = NOT_INIT
    regs[0] = _return(st, k, pc, ids)


def _rcu(st: State, name: str) -> None:
    if name == RCU_LOCK:
        if st.rcu:
            raise Reject(f"nested rcu read lock (kernel function {name})")
        st.rcu = True
        return
    if not st.rcu:
        raise Reject(f"unmatched rcu read unlock (kernel function {name})")
    st.rcu = False
    for f, where, r in list(st.all_regs()):
        if r.trust == "rcu" and r.type in (T.BTF_ID, T.BTF_ID_OR_NULL):
            st.update(f, where, replace(r, type=T.BTF_ID, trust="untrusted"))


def _btf_arg(fname: str, k, i: int, regno: int, r: Reg, want: str) -> int:
    """KF_ARG_PTR_TO_BTF_ID: the reference ``r`` gives a release kfunc (0: none)."""
    btf, wid = vmlinux_btf(), vmlinux_struct_id(want)
    if r.type is not T.BTF_ID:
        if r.type in SOCKETS:
            raise Reject(f"not modelled: a socket passed to kfunc {fname}")
        if _has_pointers(btf, wid):
            raise Reject(f"arg#{i} pointer type STRUCT {want} must point to scalar, or "
                         "struct with scalar")
        raise Reject(f"not modelled: memory passed as struct {want} to kfunc {fname}")
    if r.tag:
        raise Reject(f"not modelled: a {r.tag} typed pointer passed to kfunc {fname}")
    trusted = bool(r.ref) or r.trust == "trusted"
    if (k.trusted_args or k.has(KF_RCU)) and not trusted:  # first (measured on 6.18)
        if not k.has(KF_RCU):
            raise Reject(f"R{regno} must be referenced or trusted")
        if r.trust != "rcu":
            raise Reject(f"R{regno} must be a rcu pointer")
    if r.trust == "untrusted":
        raise Reject(f"arg#{i} is {type_str(r)} expected ptr_ or socket")
    releasing = k.has(KF_RELEASE) and r.ref
    if releasing and r.off:
        raise Reject(f"R{regno} must have zero offset when passed to release func or "
                     "trusted arg to kfunc")
    if not r.var.is_const() or r.var.const_value() or r.off < 0:
        raise Reject(f"not modelled: a typed pointer at a negative or variable offset "
                     f"passed to kfunc {fname}")
    if releasing:
        same = r.btf_id == wid
    else:
        from model.platform.btf_access import struct_ids_match

        same = struct_ids_match(btf, r.btf_id, r.off, wid)
        if same is None:
            raise Reject(f"not modelled: a typed pointer into an array passed to {fname}")
    if not same:
        have = btf.type(r.btf_id).name
        raise Reject(f"kernel function {fname} args#{i} expected pointer to STRUCT {want} "
                     f"but R{regno} has a pointer to STRUCT {have}")
    return r.ref if releasing else 0


def _has_pointers(btf, sid: int, depth: int = 0) -> bool:
    """Whether struct ``sid`` holds a pointer (through nested structs and arrays)."""
    from model.elf.btf import ARRAY, PTR, UNION

    t = btf.resolve(sid)
    if t.kind == PTR:
        return True
    if t.kind == ARRAY:
        return _has_pointers(btf, t.array.type, depth + 1)
    if t.kind not in (STRUCT, UNION) or depth > 16:
        return False
    return any(_has_pointers(btf, m.type, depth + 1) for m in t.members)


def _mem_and_size(st, obj, ptype, i: int, regno: int, mem: Reg, size: Reg) -> None:
    """KF_ARG_PTR_TO_MEM_SIZE (check_kfunc_mem_size_reg): memory and its ``__sz`` size
    in the next register, read and written by the kfunc; a maybe-NULL pointer is checked
    as not NULL, a NULL one goes with a size of 0 only."""
    if size.type is not T.SCALAR:  # the kernel then takes the memory as a struct of
        # its own size, and refuses the size argument after it if that passes
        raise Reject(f"R{regno + 1} is not a scalar")
    try:
        if mem.type is T.SCALAR and mem.const() == 0:
            _null_mem_size(regno, size)
            return
        n = _size_arg(regno + 1, size, ArgType(Arg.CONST_SIZE_OR_ZERO))
        mem = replace(mem, type=NULLABLE.get(mem.type, mem.type))
        _mem_arg(st, obj, ptype, regno, mem, n, write=True, kernel_write=True)
    except Reject as e:
        raise Reject(f"{e}\narg#{i} arg#{i + 1} memory, len pair leads to invalid memory "
                     "access") from None


def _return(st: State, k, pc: int, ids) -> Reg:
    if k.ret == "void":
        return NOT_INIT
    if k.ret == "scalar":
        return unknown()
    sid = vmlinux_struct_id(arg_struct(k.ret))
    kind = T.BTF_ID_OR_NULL if k.has(KF_RET_NULL) else T.BTF_ID
    null_id = ids.new() if k.has(KF_RET_NULL) else 0
    if k.has(KF_ACQUIRE):
        ref = ids.new()
        st.refs = st.refs + ((ref, pc),)
        return pointer(kind, btf_id=sid, id=ref, ref=ref)
    return pointer(kind, btf_id=sid, id=null_id)


__all__ = ["call_kfunc"]
