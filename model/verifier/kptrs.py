"""Kptr fields of map values in the abstract verifier (Linux 6.18 check_map_kptr_access,
map_kptr_match_type, btf_ld_kptr_type, process_kptr_func and bpf_kptr_xchg's return).

A kptr field is a pointer member of a map value whose type carries the ``kptr`` tag
(referenced, ``__kptr``), ``kptr_untrusted`` (``__kptr_untrusted``) or ``percpu_kptr``
(``MapDef.fields``: model.platform.value_fields.kptr_kind). The map access checks
(model.verifier.memcheck.value_fields_check) let through only a direct 8-byte access at
the field's constant offset; then, per instruction:

* a load (BPF_LDX) gives a maybe-NULL typed pointer to the field's struct: MEM_RCU for a
  referenced kptr of an RCU-protected struct inside an RCU read section (which a
  non-sleepable program always is), else untrusted;
* a store of a register (BPF_STX) only to an unreferenced kptr, of NULL or a typed pointer
  of the field's struct (trusted, RCU, untrusted or plain, maybe NULL);
* a store of an immediate (BPF_ST) of 0 only to an unreferenced kptr;
* an atomic: never.

``bpf_kptr_xchg(&value->field, new)`` swaps a referenced kptr: the first argument a map
value pointer at the field's constant offset, the second NULL or a referenced pointer of
the field's struct (released); it returns the old one as a new reference, maybe NULL.

Kptrs to program-local types (bpf_obj_new), percpu kptrs and ``uptr`` fields are not
modelled.
"""

from __future__ import annotations

from model.platform.kfuncs import KPTR_DTOR_STRUCTS, RCU_PROTECTED
from model.platform.value_fields import kptr_of
from model.verifier.memcheck import Reject
from model.verifier.regs import Reg, T, pointer, type_str
from model.verifier.state import State

BTF_PTRS = (T.BTF_ID, T.BTF_ID_OR_NULL)


def kptr_field(m, off: int) -> tuple[str, str] | None:
    """(tag, struct) of the kptr field of map ``m`` at value offset ``off``, or None."""
    for kind, foff, _ in m.fields:
        if foff == off:
            got = kptr_of(kind)
            if got is not None:
                return got
    return None


def _struct_id(tag: str, struct: str) -> int:
    """The vmlinux BTF id of a kptr's struct; "not modelled" for what skv leaves out."""
    from model.elf.btf import STRUCT
    from model.platform.tracing_targets import vmlinux_btf

    if tag not in ("kptr", "kptr_untrusted"):
        raise Reject(f"not modelled: a {tag} field of a map value")
    btf = vmlinux_btf()
    t = btf.find(struct, STRUCT) if btf is not None and struct else None
    if t is None:
        raise Reject(f"not modelled: a kptr to struct {struct or '?'} (a program-local "
                     "type, or not in vmlinux BTF)")
    if tag == "kptr" and struct not in KPTR_DTOR_STRUCTS:
        raise Reject(f"not modelled: a referenced kptr to struct {struct}")
    return t.id


def kptr_insn(st: State, maps, insn, base, sleepable: bool):
    """check_map_kptr_access for ``insn`` (a Load, Store or Atomic through map value
    pointer ``base``, already bounds- and field-checked): the register a load of a kptr
    gives, else None."""
    from model.isa import Atomic, Load, LoadAcquire, StoreRelease

    var = base.var
    if not var.is_const():
        return None
    field = kptr_field(maps[base.map], base.off + insn.off + var.const_value())
    if field is None:
        return None
    tag, struct = field
    off = base.off + insn.off + var.const_value()
    if isinstance(insn, (Atomic, LoadAcquire, StoreRelease)):
        raise Reject("kptr in map can only be accessed using BPF_MEM instruction mode")
    sid = _struct_id(tag, struct)
    regs = st.cur.regs
    if isinstance(insn, Load):
        rcu = st.rcu or st.lock is not None or not sleepable  # in_rcu_cs
        trust = "rcu" if tag == "kptr" and struct in RCU_PROTECTED and rcu else "untrusted"
        return pointer(T.BTF_ID_OR_NULL, btf_id=sid, trust=trust)
    if tag != "kptr_untrusted":
        raise Reject("store to referenced kptr disallowed")
    if insn.src is None:
        if insn.imm:
            raise Reject(f"BPF_ST imm must be 0 when storing to kptr at off={off}")
        return None
    value = regs[insn.src]
    if not (value.type is T.SCALAR and value.const() == 0):
        match_type(insn.src, value, struct, sid, referenced=False)
    return None


def match_type(regno: int, r, struct: str, sid: int, referenced: bool) -> None:
    """map_kptr_match_type: ``r`` may be stored in (or swapped into) a kptr of ``struct``."""
    from model.platform.btf_access import struct_ids_match
    from model.platform.tracing_targets import vmlinux_btf

    ok_trust = ("", "trusted", "rcu") if referenced else ("", "trusted", "rcu", "untrusted")
    name = ""
    good = r.type in BTF_PTRS and r.trust in ok_trust and not r.tag
    if good:
        name = vmlinux_btf().type(r.btf_id).name
        if not r.var.is_const() or r.var.const_value() or r.off < 0:
            raise Reject(f"not modelled: a {name} pointer at a negative or variable offset "
                         "stored in a kptr")
        if referenced:
            good = r.off == 0 and r.btf_id == sid
        else:
            got = struct_ids_match(vmlinux_btf(), r.btf_id, r.off, sid)
            if got is None:
                raise Reject("not modelled: a typed pointer into an array stored in a kptr")
            good = got
    if not good:
        also = "" if referenced else f" or untrusted_ptr_{struct}"
        raise Reject(f"invalid kptr access, R{regno} type={type_str(r)}{name} "
                     f"expected=ptr_{struct}{also}")


def kptr_xchg(st: State, maps, pc: int, ids) -> Reg:
    """bpf_kptr_xchg's arguments (R1, R2) and effect: the returned register."""
    from model.verifier.refs import release

    regs = st.cur.regs
    for regno in (1, 2):
        if regs[regno].type is T.NOT_INIT:
            raise Reject(f"R{regno} !read_ok")
    sid, released = xchg_args(maps, regs[1], regs[2])
    if released:
        release(st, released, "bpf_kptr_xchg#194")
    ids.new()  # the maybe-NULL mark's id, then the reference's (acquire_reference)
    ref = ids.new()
    st.refs = st.refs + ((ref, pc),)
    return pointer(T.BTF_ID_OR_NULL, btf_id=sid, id=ref, ref=ref)


def xchg_args(maps, r, new) -> tuple[int, int]:
    """bpf_kptr_xchg's checks of R1 (``r``) and R2 (``new``): (the kptr's struct id, the
    reference R2 hands over or 0 for NULL)."""
    from model.verifier.timers import BTF_ID_EXPECTED

    if r.type is not T.MAP_VALUE:
        raise Reject(f"R1 type={type_str(r)} expected=map_value, ptr_")
    m = maps[r.map]
    if not m.fields and not m.btf_value_type_id:
        raise Reject(f"map '{r.map}' has to have BTF in order to use bpf_kptr_xchg")
    if not r.var.is_const():
        raise Reject("R1 doesn't have constant offset. kptr has to be at the constant offset")
    if not any(kptr_of(kind) for kind, _, _ in m.fields):
        raise Reject("R1 has no valid kptr")
    off = r.off + r.var.const_value()
    field = kptr_field(m, off)
    if field is None:
        raise Reject(f"off={off} doesn't point to kptr")
    tag, struct = field
    if tag not in ("kptr", "percpu_kptr"):
        raise Reject(f"off={off} kptr isn't referenced kptr")
    sid = _struct_id(tag, struct)
    if new.type is T.SCALAR and new.const() == 0:
        return sid, 0
    if new.type not in BTF_PTRS or new.trust == "untrusted" or new.tag:
        raise Reject(f"R2 type={type_str(new)} expected={BTF_ID_EXPECTED}")
    match_type(2, new, struct, sid, referenced=True)
    if not new.ref:
        raise Reject("R2 must be referenced when passed to release function")
    return sid, new.ref


__all__ = ["kptr_field", "kptr_insn", "match_type", "kptr_xchg", "xchg_args"]
