"""bpf_timer_* and bpf_find_vma arguments in the abstract verifier (Linux 6.18
check_func_arg: ARG_PTR_TO_TIMER's process_timer_func, ARG_CONST_MAP_PTR after a timer,
ARG_PTR_TO_BTF_ID's check_reg_type), and the state an asynchronous callback is verified
in (push_async_cb + set_timer_callback_state; model.platform.callbacks).

* A timer argument is a map value pointer (not maybe-NULL: "R1 type=map_value_or_null
  expected=map_value") at a constant offset that is exactly the value's ``struct
  bpf_timer`` (check_map_field_pointer, shared with bpf_spin_lock: model.verifier.locks).
* bpf_timer_init's map argument is the timer's own map ("timer pointer in R1 map_uid=0
  doesn't match map pointer in R2 map_uid=0"). A timer in an inner map (map-in-map) is not
  modelled: the kernel gives the map of each outer lookup its own map_uid, skv names the
  inner template only, so every uid here is 0.
* A typed argument (proto_kinds.ARG_BTF_STRUCT: bpf_find_vma's task, bpf_d_path's path,
  ...) is a non-NULL PTR_TO_BTF_ID (plain, trusted or RCU; not untrusted; NULL and
  maybe-NULL too for an ``_OR_NULL`` one) whose struct at its constant offset is the one
  required, directly or as a struct member starting there (btf_struct_ids_match's walk:
  ``&file->f_path`` is a struct path). A negative or variable offset, or a walk through an
  array, is not modelled.
"""

from __future__ import annotations

from model.platform.btf_access import struct_ids_match
from model.platform.proto_kinds import ARG_BTF_STRUCT
from model.platform.value_fields import TIMER
from model.verifier.dynptr import callback_dynptr
from model.verifier.locks import map_field_pointer
from model.verifier.memcheck import Reject, vmlinux_struct_id
from model.verifier.regs import NOT_INIT, Reg, T, pointer, type_str
from model.verifier.state import Frame, State

#: check_reg_type's "expected=" list for ARG_PTR_TO_BTF_ID (btf_id_types)
BTF_ID_EXPECTED = "ptr_, trusted_ptr_, rcu_ptr_"


def timer_arg(maps, regno: int, r: Reg) -> str:
    """ARG_PTR_TO_TIMER: the timer's map (the kernel's meta->map_ptr)."""
    if r.type is not T.MAP_VALUE:
        raise Reject(f"R{regno} type={r.type.value} expected=map_value")
    map_field_pointer(maps, regno, r, TIMER)
    if maps[r.map].origin == "inner" or any(m.inner == r.map for m in maps.values()):
        raise Reject(f"not modelled: a bpf_timer in inner map {r.map} (the kernel tells the "
                     "maps of two lookups apart by their map_uid; skv does not)")
    return r.map


def timer_map_arg(timer_map: str | None, regno: int, r: Reg) -> None:
    """ARG_CONST_MAP_PTR after a timer argument: the same map."""
    if timer_map is not None and r.map != timer_map:
        raise Reject(f"timer pointer in R1 map_uid=0 doesn't match map pointer in R{regno} "
                     "map_uid=0")


def btf_arg(helper: str, regno: int, r: Reg, maybe_null: bool = False) -> None:
    """ARG_PTR_TO_BTF_ID(_OR_NULL) of a helper of model.platform.proto_kinds.ARG_BTF_STRUCT
    (a NULL constant for a nullable one is accepted by the caller)."""
    ok = (T.BTF_ID, T.BTF_ID_OR_NULL) if maybe_null else (T.BTF_ID,)
    if r.type not in ok or r.trust == "untrusted":  # a maybe-NULL one too: no
        # compatible type (check_reg_type strips PTR_MAYBE_NULL only for a nullable arg)
        raise Reject(f"R{regno} type={type_str(r)} expected={BTF_ID_EXPECTED}")
    if r.tag:
        raise Reject(f"not modelled: a {r.tag} typed pointer passed to bpf_{helper}")
    want = vmlinux_struct_id(ARG_BTF_STRUCT[helper])
    if r.off < 0 or not r.var.is_const() or r.var.const_value():
        raise Reject(f"not modelled: a {ARG_BTF_STRUCT[helper]} pointer at a negative or "
                     f"variable offset passed to bpf_{helper}")
    from model.platform.tracing_targets import vmlinux_btf

    got = struct_ids_match(vmlinux_btf(), r.btf_id, r.off, want)
    if got is None:
        raise Reject(f"not modelled: a typed pointer into an array passed to bpf_{helper}")
    if not got:
        name = vmlinux_btf().type(r.btf_id).name
        raise Reject(f"R{regno} is of type {name} but {ARG_BTF_STRUCT[helper]} is expected")


def callback_reg(src: str, caller: list[Reg], maps, for_each_types) -> Reg:
    """A callback's argument register from its ``CallbackSpec.regs`` source."""
    if src == "scalar":
        from model.verifier.regs import unknown

        return unknown()
    if src.startswith("arg"):
        return caller[int(src[3:])]
    if src.startswith("btf:"):
        return pointer(T.BTF_ID, btf_id=vmlinux_struct_id(src[4:]))
    if src == "dynptr_local":
        return callback_dynptr()
    m = caller[1].map  # map_ptr / map_key / map_value of the map in the caller's r1
    if maps[m].type not in for_each_types:
        raise Reject(f"not modelled: callbacks over map {m}")
    kind = {"map_ptr": T.MAP_PTR, "map_key": T.MAP_KEY, "map_value": T.MAP_VALUE}[src]
    return pointer(kind, map=m)


def async_callback_state(st: State, caller: list[Reg], maps, target: int, spec,
                         for_each_types) -> State:
    """push_async_cb: the callback at ``target`` as a program of its own (one frame, the
    callback's; a fresh stack; no lock, no references), its registers set up as ``spec``
    says from the caller's registers at the call."""
    regs = [NOT_INIT] * 11
    for i, src in enumerate(spec.regs, start=1):
        regs[i] = callback_reg(src, caller, maps, for_each_types)
    regs[10] = Reg(T.STACK, None, off=0, frame=0)
    return State([Frame(regs, {}, -2, 0, spec.ret, target)], target, st.depths)


__all__ = ["timer_arg", "timer_map_arg", "btf_arg", "callback_reg", "async_callback_state"]
