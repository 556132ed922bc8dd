"""What libbpf looks up in the running kernel's BTF (``/sys/kernel/btf/vmlinux``) before
``BPF_PROG_LOAD``: the attach target of a tracing or LSM program, and the ``__ksym``
externs (kfuncs and kernel variables) its instructions name.

Attach targets (libbpf's ``libbpf_find_attach_btf_id``, ``find_attach_btf_id``): the
section's name after the first ``/`` is the target; ``tp_btf/X`` is the TYPEDEF
``btf_trace_X``, ``lsm/X`` (``lsm.s``, ``lsm_cgroup``) the FUNC ``bpf_lsm_X``,
``iter/X`` (``iter.s``) the FUNC ``bpf_iter_X``, ``fentry``/``fexit``/``fmod_ret`` (and
their ``.s`` forms) the FUNC ``X``; the program is loaded with ``attach_btf_id`` its id
(``attach_btf_obj_fd`` 0: vmlinux). A target that is not there is one
:class:`AttachError` line naming it (libbpf refuses to load the object likewise).
Module targets (``fentry/mod:func``), a section without a target (set at run time) and
``freplace`` (a target program) are not resolved (a plain ``SkvError``: what the
loader's user gives, skv cannot).

``__ksym`` externs (libbpf's ``bpf_object__resolve_ksyms_btf_id``): a kfunc call gets the
FUNC's id as its ``imm``; an ``ld_imm64`` of a kernel symbol is patched by
``model.elf.ksyms.resolve_ksym_load`` (the loader's rule too). A ``__weak`` kfunc the
kernel lacks: the call becomes libbpf's poisoned helper call (``2002000000 + n``, refused
only if reachable). A strong one the kernel lacks is an :class:`AttachError` (libbpf
refuses the object). Kfuncs of kernel modules are not looked up (only vmlinux).
"""

from __future__ import annotations

from dataclasses import replace

from model.elf.btf import FUNC, VAR, Btf
from model.elf.core import VMLINUX_BTF, target_btf
from model.elf.ksyms import resolve_ksym_load
from model.errors import SkvError
from model.isa import Call, LoadImm64
from model.platform.tracing_targets import target_btf_name
from model.program import PSEUDO_BTF_ID, Program

_NEEDS_TARGET = ("tracing", "lsm", "ext")
POISON_CALL_KFUNC_BASE = 2002000000  # libbpf: a call of a missing weak kfunc


class AttachError(SkvError):
    """The kernel lacks what the program names (its attach target, a strong ``__ksym``):
    no loader can load it here (one line naming it)."""


def attach_btf_id(prog: Program, btf_path: str = VMLINUX_BTF) -> int:
    """The ``attach_btf_id`` libbpf loads ``prog`` with (0 for a program that takes none)."""
    if prog.prog_type not in _NEEDS_TARGET:
        return 0
    where = f"program {prog.name} (section {prog.section})"
    # what a loader's user would give (a target program, a target set at run time, a
    # module's BTF) skv cannot: an error for this program, not bad input
    if prog.prog_type == "ext":
        raise SkvError(f"{where}: freplace needs a target program, which skv cannot give")
    tgt = target_btf_name(prog.section)
    if tgt is None or not prog.section.partition("/")[2]:
        raise SkvError(f"{where}: the section names no attach target")
    name, kind = tgt
    if ":" in name:
        raise SkvError(f"{where}: attach target {name} is in a kernel module, which skv "
                       "does not resolve")
    vmlinux = _vmlinux(btf_path)
    t = vmlinux.find(name, kind)
    if t is None:
        raise AttachError(f"{where}: attach target {name} not found in {btf_path}")
    return t.id


def resolve_ksyms(prog: Program, weak: frozenset = frozenset(),
                  btf_path: str = VMLINUX_BTF) -> Program:
    """``prog`` with every kfunc call and kernel-symbol ``ld_imm64`` resolved against the
    running kernel as libbpf resolves them (a copy; the same program when it names no
    ``__ksym``). ``weak``: the ``__weak`` externs; a missing one is poisoned (a call) or
    NULL (a load) as libbpf makes it, a missing strong one an :class:`AttachError`."""
    if not prog.ksyms:
        return prog
    vmlinux = _vmlinux(btf_path)
    insns, pc = [], 0
    for insn in prog.insns:
        name = prog.ksyms.get(pc)
        if name is not None:
            insn = _resolve(prog, insn, name, name in weak, vmlinux)
        insns.append(insn)
        pc += insn.slots
    return replace(prog, insns=insns)


def _resolve(prog: Program, insn, name: str, weak: bool, vmlinux: Btf):
    if isinstance(insn, Call) and insn.src == 2:
        t = vmlinux.find(name, FUNC)
        if t is not None:
            return replace(insn, imm=t.id, off=0)
        if weak:  # libbpf's poison_kfunc_call: an unknown helper, refused if reachable
            n = sorted(set(prog.ksyms.values())).index(name)
            return Call(src=0, imm=POISON_CALL_KFUNC_BASE + n)
    elif isinstance(insn, LoadImm64) and insn.src == PSEUDO_BTF_ID:
        new = resolve_ksym_load(insn, name, weak, vmlinux)
        if new is not None:
            return new
    else:
        return insn
    raise AttachError(f"program {prog.name}: extern {name} (__ksym) is not in the kernel "
                      "(neither its BTF nor kallsyms)")


def _vmlinux(btf_path: str) -> Btf:
    btf = target_btf(btf_path)
    if btf is None:
        raise AttachError(f"cannot read the kernel's BTF ({btf_path}) to find attach targets")
    return btf


__all__ = ["AttachError", "attach_btf_id", "resolve_ksyms"]
