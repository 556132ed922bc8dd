"""Checks the kernel makes while loading a program, before it walks any path: they refuse
the program even when the instruction is never executed. Both engines call
:func:`load_time_error` first (the abstract verifier and the Z3 engine).

Today: ``ld_imm64`` of a kernel object's BTF id (``__ksym``) as check_pseudo_btf_id
checks it (model.platform.ksym_vars; the Z3 engine leaves its typed pointer to the
abstract verifier: VERIFIER_ONLY); every map
an ``ld_imm64`` names must be of a type the engines model (the kernel
resolves map fds and checks the map against the program at load: an arena without a user
address, a struct_ops map... are refused even in dead code), and direct map-value loads
(``ld_imm64`` src 2/6) must be ones the map can serve (``model.platform.direct_value``).
"""

from __future__ import annotations

from model.isa import LoadImm64
from model.platform.direct_value import direct_value_error
from model.platform.value_fields import kptr_fields_error, lock_load_error
from model.platform.map_helpers import map_type_name, map_type_unmodelled
from model.platform.prog_types import ld_imm64_unmodelled
from model.platform.prototypes import program_sleepable


#: map types a sleepable program may use (check_map_prog_compatibility); any other is refused
SLEEPABLE_MAP_TYPES = frozenset({
    "hash", "lru_hash", "array", "percpu_hash", "percpu_array", "lru_percpu_hash",
    "array_of_maps", "hash_of_maps", "ringbuf", "user_ringbuf", "inode_storage",
    "sk_storage", "task_storage", "cgrp_storage", "queue", "stack"})


def pseudo_func_error(prog, pc: int, insn: LoadImm64) -> str | None:
    """ld_imm64 of a function (a callback), checked when the instruction is verified
    (check_ld_imm, on a path the verifier walks: in dead code the kernel checks nothing):
    the kernel needs BTF func info for it (an object without it is loaded without; with
    it, skv's loader gives the kernel one static FUNC per function, see
    model.kernel.funcinfo), and the function must be static. Both engines call it."""
    if not prog.func_names:
        return "missing btf func_info"
    if pc + 1 + insn.imm in prog.global_funcs:
        return "callback function not static"
    return None


def _in_vmlinux(struct: str) -> bool:
    from model.elf.btf import STRUCT
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()
    return btf is not None and btf.find(struct, STRUCT) is not None


def load_time_error(obj, prog, *, typed: bool = False) -> tuple[int, str] | None:
    """``(pc, message)`` of the first load-time refusal, or None. ``typed``: the engine
    models typed kernel pointers (``ld_imm64_unmodelled``)."""
    sleepable = program_sleepable(prog)
    why = kptr_fields_error(obj.maps, _in_vmlinux)
    if why is not None:
        return 0, why
    for pc, insn in prog.iter_pcs():
        if isinstance(insn, LoadImm64) and insn.src == 4:  # checked as it runs
            continue
        why = ld_imm64_unmodelled(insn.src, insn.imm, typed=typed, imm2=insn.imm2) \
            if isinstance(insn, LoadImm64) else None
        if why is not None:
            return pc, why
        if isinstance(insn, LoadImm64) and insn.src in (1, 2, 5, 6):
            ref = prog.map_refs.get(pc)
            m = obj.maps.get(ref.map) if ref is not None else None
            if m is None:
                continue
            why = map_type_unmodelled(m.type) or lock_load_error(
                prog.prog_type, m.fields, map_type_name(m.type), m.map_flags)
            if why is None and sleepable and map_type_name(m.type) not in SLEEPABLE_MAP_TYPES:
                why = ("Sleepable programs can only use array, hash, ringbuf and local "
                       "storage maps")
            if why is None and insn.src in (2, 6):
                why = direct_value_error(m.type, m.max_entries, m.value_size, insn.imm2)
            if why is not None:
                return pc, why
    return None


__all__ = ["load_time_error"]
