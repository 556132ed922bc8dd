"""``ld_imm64`` of a kernel symbol's BTF id (``BPF_PSEUDO_BTF_ID``, src 3: what libbpf
makes of a ``__ksym`` extern with vmlinux BTF, model.elf.ksyms), as Linux 6.18's
check_pseudo_btf_id types it at load, before any path is walked:

* the id must name a vmlinux type ("ldimm64 insn specifies invalid btf_id %d.") that is a
  VAR or a FUNC ("pseudo btf_id %d in ldimm64 isn't KIND_VAR or KIND_FUNC"), and kallsyms
  must know the symbol's address ("ldimm64 failed to find the address for kernel symbol
  '%s'."). A kernel built without CONFIG_KALLSYMS_ALL (the reference kernel) has no data
  symbols in kallsyms: every VAR is refused there, only FUNCs load. skv asks the running
  kernel's ``/proc/kallsyms`` (model.elf.ksyms.kallsyms); when it cannot be read the
  symbol's load is "not modelled".
* a FUNC: PTR_TO_MEM | MEM_RDONLY of size 0 (``bpf_ksym_exists``);
* a VAR of the ``.data..percpu`` section: PTR_TO_BTF_ID | MEM_PERCPU of the VAR's type
  (``percpu_ptr_``), which only bpf_per_cpu_ptr / bpf_this_cpu_ptr turn into memory
  (model.verifier.percpu): reading through it is refused ("access percpu memory");
* another VAR: of a struct (or union) type, a plain PTR_TO_BTF_ID of it; of any other
  type, PTR_TO_MEM | MEM_RDONLY of the type's size.

A symbol of a module's BTF (``insn[1].imm``, a BTF fd) is not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.elf import btf as B
from model.errors import NotModelled

#: the per-CPU variables' section in vmlinux BTF (find_btf_percpu_datasec)
PERCPU_DATASEC = ".data..percpu"


@dataclass(frozen=True)
class Ksym:
    """What the register holds after the load: ``kind`` "func" (PTR_TO_MEM | MEM_RDONLY,
    size 0), "percpu" (PTR_TO_BTF_ID | MEM_PERCPU of ``type_id``), "btf_id" (PTR_TO_BTF_ID
    of ``type_id``) or "mem" (PTR_TO_MEM | MEM_RDONLY of ``size`` bytes); ``name``: the
    symbol."""

    kind: str
    name: str
    type_id: int = 0
    size: int = 0


def _vmlinux() -> B.Btf | None:
    from model.platform.tracing_targets import vmlinux_btf

    try:
        return vmlinux_btf()
    except NotModelled:
        return None


def _percpu_var_ids(btf: B.Btf) -> frozenset[int]:
    sec = btf.find(PERCPU_DATASEC, B.DATASEC)
    return frozenset(m.type for m in sec.members) if sec is not None else frozenset()


#: id(btf) -> (that BTF, its per-CPU variables): the BTF is kept, so that its id is not
#: given to another object while the entry stands (an id alone could name a later BTF)
_PERCPU: dict[int, tuple[B.Btf, frozenset[int]]] = {}


def _is_percpu(btf: B.Btf, var_id: int) -> bool:
    got = _PERCPU.get(id(btf))
    if got is None or got[0] is not btf:
        got = _PERCPU[id(btf)] = (btf, _percpu_var_ids(btf))
    return var_id in got[1]


def ksym_load(imm: int, imm2: int = 0, *, kallsyms=None) -> Ksym | str:
    """The typed value of ``ld_imm64 rX, BPF_PSEUDO_BTF_ID, imm`` (``imm2``: the second
    slot's imm, a module BTF fd when non-zero), or the kernel's refusal / a "not modelled"
    reason (a string). ``kallsyms``: name -> address (default: the running kernel's)."""
    if imm2:
        return "not modelled: __ksym of a kernel module's BTF (ld_imm64 BPF_PSEUDO_BTF_ID)"
    btf = _vmlinux()
    if btf is None:
        return "not modelled: __ksym without the kernel's BTF (ld_imm64 BPF_PSEUDO_BTF_ID)"
    tid = imm & 0xFFFFFFFF
    if tid >= len(btf.types):
        signed = tid - (1 << 32) if tid >> 31 else tid
        return f"ldimm64 insn specifies invalid btf_id {signed}."
    t = btf.types[tid]
    if t.kind not in (B.VAR, B.FUNC):
        return f"pseudo btf_id {tid} in ldimm64 isn't KIND_VAR or KIND_FUNC"
    if kallsyms is None:
        from model.elf.ksyms import kallsyms as _kallsyms

        kallsyms = _kallsyms()
    if not kallsyms:
        return (f"not modelled: the address of kernel symbol '{t.name}' (/proc/kallsyms "
                "cannot be read)")
    if t.name not in kallsyms:
        return f"ldimm64 failed to find the address for kernel symbol '{t.name}'."
    if t.kind == B.FUNC:
        return Ksym("func", t.name)
    if _is_percpu(btf, tid):
        return Ksym("percpu", t.name, t.type)
    target = btf.resolve(t.type)
    if target.kind in (B.STRUCT, B.UNION):
        return Ksym("btf_id", t.name, t.type)
    try:
        size = btf.size_of(t.type)
    except B.BtfError:
        return f"not modelled: the size of kernel symbol '{t.name}'"
    return Ksym("mem", t.name, t.type, size)


def ksym_load_error(imm: int, imm2: int = 0) -> str | None:
    """check_pseudo_btf_id's refusal (or "not modelled") of this load, or None."""
    got = ksym_load(imm, imm2)
    return got if isinstance(got, str) else None


__all__ = ["Ksym", "ksym_load", "ksym_load_error", "PERCPU_DATASEC"]
