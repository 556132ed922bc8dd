"""Which programs skv models at all: the one check both engines make before looking at a
single instruction. A program type whose context, helpers or return rules are not modelled
(``lsm``, ``struct_ops``, ``tracing``...), a section no loader convention
types (``unspec``: the kernel itself refuses type 0) and a sleepable program of a
non-sleepable-by-default type (``uprobe.s``, ``fentry.s``: the kernel restricts their maps
and widens their helpers) are a clean rejection "not modelled: ...", never a verdict. So is
an ``expected_attach_type`` the kernel refuses to load the type with (cgroup_sock_addr
without one: EINVAL before verification; model.platform.ctx_cgroup.attach_refusal)."""

from __future__ import annotations

from model.errors import NotModelled
from model.platform.ctx_cgroup import attach_refusal
from model.platform.ctx_layouts import MODELLED_PROG_TYPES as _CTX_TYPES
from model.platform.prototypes import MODELLED_PROG_TYPES as _HELPER_TYPES
from model.platform.tracing_targets import MODELLED_ATTACH, attach_target

#: types the kernel loads sleepable whatever the section says (syscall: always)
_ALWAYS_SLEEPABLE = ("syscall",)
#: sleepable programs skv models: uprobe.s / usdt.s (kprobe), iter.s (tracing, BPF_TRACE_ITER
#: 28; the abstract verifier only). A sleepable fentry / fexit / fmod_ret / lsm program is
#: not modelled (the reference kernel refuses even a non-sleepable one before verifying it)
_SLEEPABLE_MODELLED = {"kprobe": None, "tracing": (28,)}
#: can_be_sleepable: the types (tracing: attach types) the kernel lets be sleepable
_CAN_SLEEP = {"tracing": (24, 25, 26, 28), "lsm": None, "kprobe": None, "struct_ops": None,
              "syscall": None}


def prog_type_unmodelled(prog_type: str, section: str = "", *, sleepable: bool = False,
                         typed: bool = False, attach_type: int = 0) -> str | None:
    """The clean rejection for a program skv does not model, or None. ``typed``: the
    engine models BTF-typed contexts (fentry/fexit/fmod_ret/tp_btf/iter/lsm: the abstract
    verifier only; model.platform.tracing_targets)."""
    if sleepable and (prog_type not in _CAN_SLEEP or _CAN_SLEEP[prog_type] is not None
                      and attach_type not in _CAN_SLEEP[prog_type]):
        return ("Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can "
                "be sleepable")
    if sleepable and prog_type not in _ALWAYS_SLEEPABLE:
        attach = _SLEEPABLE_MODELLED.get(prog_type, ())
        if attach is not None and attach_type not in attach:
            return f"not modelled: sleepable {prog_type} programs (section {section})"
        if not typed:
            return (f"not modelled: sleepable {prog_type} programs (section {section}; only "
                    "the abstract verifier models them)")
    if prog_type in MODELLED_ATTACH:
        if not typed:
            return (f"not modelled: program type {prog_type} (BTF-typed context; only the "
                    "abstract verifier models it)")
        try:
            attach_target(prog_type, attach_type, section)
        except NotModelled as e:
            return f"not modelled: {e.what}"
        return None
    if prog_type == "unspec":
        return (f"not modelled: program type unspec (section {section} names no program "
                "type; give --prog-type TYPE)")
    if prog_type not in _CTX_TYPES or prog_type not in _HELPER_TYPES:
        return f"not modelled: program type {prog_type}"
    return attach_refusal(prog_type, attach_type)


def ld_imm64_unmodelled(src: int, imm: int = 0, *, typed: bool = False,
                        imm2: int = 0) -> str | None:
    """``ld_imm64`` pseudo sources skv does not model, and the kernel's load-time refusals
    of one: BPF_PSEUDO_BTF_ID (3), what libbpf makes of a ``__ksym`` symbol with vmlinux
    BTF (model.elf.ksyms), is checked as check_pseudo_btf_id does
    (model.platform.ksym_vars: an id that is not a VAR or FUNC, a symbol kallsyms lacks);
    the typed pointer it gives is modelled by an engine that models typed pointers
    (``typed``: the abstract verifier); for the others it is ``VERIFIER_ONLY``."""
    if src != 3:
        return None
    from model.platform.ctx_layouts import VERIFIER_ONLY
    from model.platform.ksym_vars import ksym_load

    got = ksym_load(imm, imm2)
    if isinstance(got, str):
        return got
    if typed:
        return None
    return f"{VERIFIER_ONLY}: __ksym {got.name} (ld_imm64 BPF_PSEUDO_BTF_ID, a {got.kind})"


def program_unmodelled(prog, *, typed: bool = False) -> str | None:
    """``prog_type_unmodelled`` for a loaded ``model.program.Program``, then its CO-RE
    relocations: libbpf patches those instructions with the running kernel's offsets, so
    judging the compile-time values would judge another program."""
    why = prog_type_unmodelled(prog.prog_type, prog.section, sleepable=prog.sleepable,
                               typed=typed, attach_type=prog.attach_type)
    if why is None and prog.core_relos:
        pc = min(prog.core_relos)
        r = prog.core_relos[pc]
        cause = prog.core_unresolved.get(pc, "not resolved")
        why = (f"not modelled: CO-RE relocation {r.kind_name} at insn {pc} "
               f"(access {r.access} of BTF type [{r.type_id}]: {cause})")
    return why


__all__ = ["prog_type_unmodelled", "program_unmodelled", "ld_imm64_unmodelled"]
