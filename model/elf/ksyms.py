"""``ld_imm64`` of a ``__ksym`` extern as libbpf patches it against the running kernel
(``bpf_object__resolve_ksyms_btf_id`` and its kallsyms pass), the one rule the loader (so
skv judges the program libbpf would load, as with CO-RE) and the kernel wrapper share:

- a symbol with BTF in vmlinux (a VAR, or a FUNC for ``bpf_ksym_exists``) stays a
  ``BPF_PSEUDO_BTF_ID`` load (src 3) of that BTF id (typed, or refused, as the kernel's
  check_pseudo_btf_id does: model.platform.ksym_vars);
- else one ``/proc/kallsyms`` names (a typeless ``extern const void x __ksym``): its
  address, a plain 64-bit constant (src 0);
- else a ``__weak`` one: the constant 0 (``bpf_ksym_exists`` is false);
- else (a strong extern the kernel lacks): unresolved, libbpf refuses the object.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from model.elf.btf import FUNC, VAR, Btf
from model.isa import LoadImm64
from model.program import PSEUDO_BTF_ID


@lru_cache(maxsize=1)
def kallsyms() -> dict[str, int]:
    """Kernel symbol -> address (``/proc/kallsyms``; empty when unreadable)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and len(parts) < 4:  # not a module's symbol
                    out.setdefault(parts[2], int(parts[0], 16))
    except OSError:
        pass
    return out


def resolve_ksym_load(insn: LoadImm64, name: str, weak: bool,
                      vmlinux: Btf | None) -> LoadImm64 | None:
    """The ``ld_imm64`` (src 3) of extern ``name`` as libbpf patches it, or None when the
    kernel lacks a strong extern (or its BTF cannot be read)."""
    if vmlinux is None:
        return None
    t = vmlinux.find(name, VAR) or vmlinux.find(name, FUNC)
    if t is not None:
        return replace(insn, src=PSEUDO_BTF_ID, imm=t.id, imm2=0)
    addr = kallsyms().get(name)
    if addr is not None:
        return replace(insn, src=0, imm=_s32(addr), imm2=_s32(addr >> 32))
    if weak:
        return replace(insn, src=0, imm=0, imm2=0)  # NULL
    return None


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def apply_ksyms(prog, weak: frozenset, vmlinux: Btf | None) -> None:
    """Patch ``prog``'s kernel-symbol loads in place, as libbpf does before loading (a
    symbol with BTF: src 3 with its BTF id; an unresolved one stays src 3, id 0; the
    engines judge them, model.platform.prog_types.ld_imm64_unmodelled)."""
    if not prog.ksyms:
        return
    insns, pc, changed = [], 0, False
    for insn in prog.insns:
        name = prog.ksyms.get(pc)
        if name is not None and isinstance(insn, LoadImm64) and insn.src == PSEUDO_BTF_ID:
            new = resolve_ksym_load(insn, name, name in weak, vmlinux)
            if new is not None:
                insn, changed = new, True
        insns.append(insn)
        pc += insn.slots
    if changed:
        prog.insns = insns
        prog._by_pc = None
