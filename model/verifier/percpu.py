"""Kernel symbols and per-CPU pointers in the abstract verifier (Linux 6.18).

* ``ld_imm64`` of a kernel symbol's BTF id (:func:`ksym_reg`): the register
  model.platform.ksym_vars describes (load-time refusals are model.verifier.loadtime's).
* ``ARG_PTR_TO_PERCPU_BTF_ID`` (bpf_per_cpu_ptr, bpf_this_cpu_ptr; :func:`percpu_arg`):
  check_reg_type's percpu_btf_ptr_types -- a PTR_TO_BTF_ID | MEM_PERCPU, plain, RCU or
  trusted (not untrusted, not maybe-NULL) -- then check_func_arg_reg_off (no fixed or
  variable offset).
* ``RET_PTR_TO_MEM_OR_BTF_ID`` (:func:`percpu_return`): the CPU's copy of the variable:
  of a struct (union) type, a plain PTR_TO_BTF_ID of the argument's type id (MEM_RDONLY
  folded away; reads are BTF walks, writes refused); of any other type, PTR_TO_MEM |
  MEM_RDONLY of its size; maybe NULL, with an id, for bpf_per_cpu_ptr (a CPU number >=
  nr_cpu_ids gives NULL).
"""

from __future__ import annotations

from model.elf import btf as B
from model.platform.ksym_vars import ksym_load
from model.verifier.memcheck import Reject, fixed_off_only
from model.verifier.regs import Reg, T, pointer, type_str

#: check_reg_type's "expected=" list for ARG_PTR_TO_PERCPU_BTF_ID (percpu_btf_ptr_types)
PERCPU_EXPECTED = "percpu_ptr_, percpu_rcu_ptr_, percpu_trusted_ptr_"


def _btf() -> B.Btf:
    from model.platform.tracing_targets import vmlinux_btf

    return vmlinux_btf()


def ksym_reg(imm: int, imm2: int = 0) -> Reg:
    """The register ``ld_imm64 rX, BPF_PSEUDO_BTF_ID, imm`` gives (check_ld_imm with the
    load's aux->btf_var)."""
    got = ksym_load(imm, imm2)
    if isinstance(got, str):  # verifier.loadtime refused the program before
        raise Reject(got)
    if got.kind == "func":
        return pointer(T.MEM, range=0, read_only=True)
    if got.kind == "mem":
        return pointer(T.MEM, range=got.size, read_only=True)
    if got.kind == "btf_id" and _btf().type(got.type_id).kind not in (B.STRUCT, B.UNION):
        raise Reject(f"not modelled: kernel symbol '{got.name}' of a qualified struct type")
    return pointer(T.BTF_ID, btf_id=got.type_id, tag="percpu" if got.kind == "percpu" else "")


def percpu_arg(regno: int, r: Reg) -> Reg:
    """ARG_PTR_TO_PERCPU_BTF_ID: the per-CPU pointer (meta->ret_btf_id is its type)."""
    if r.type is not T.BTF_ID or r.tag != "percpu" or r.trust not in ("", "rcu", "trusted"):
        raise Reject(f"R{regno} type={type_str(r)} expected={PERCPU_EXPECTED}")
    what = type_str(r)
    if r.off < 0:
        raise Reject(f"negative offset {what} ptr R{regno} off={r.off} disallowed")
    if r.off:
        raise Reject(f"dereference of modified {what} ptr R{regno} off={r.off} disallowed")
    fixed_off_only(r, what)
    return r


def percpu_return(arg: Reg, maybe_null: bool, ids) -> Reg:
    """R0 of bpf_this_cpu_ptr (``maybe_null`` False) / bpf_per_cpu_ptr (True) given the
    per-CPU pointer ``arg``."""
    btf = _btf()
    t = btf.resolve(arg.btf_id)
    nid = ids.new() if maybe_null else 0
    if t.kind in (B.STRUCT, B.UNION):
        if btf.type(arg.btf_id).kind not in (B.STRUCT, B.UNION):
            raise Reject(f"not modelled: a per-CPU variable of a qualified struct type "
                         f"[{arg.btf_id}]")
        return pointer(T.BTF_ID_OR_NULL if maybe_null else T.BTF_ID, btf_id=arg.btf_id,
                       id=nid)
    try:
        size = btf.size_of(arg.btf_id)
    except B.BtfError as e:  # btf_resolve_size failed
        raise Reject(f"unable to resolve the size of type '{t.name}': {e}") from None
    return pointer(T.MEM_OR_NULL if maybe_null else T.MEM, range=size, read_only=True, id=nid)


__all__ = ["ksym_reg", "percpu_arg", "percpu_return", "PERCPU_EXPECTED"]
