"""The ``attach_btf_id`` a BTF-typed program (fentry/fexit/fmod_ret/tp_btf/lsm) must be
loaded with: its section's target in the running kernel's BTF
(model.platform.tracing_targets). Other programs load with 0."""

from __future__ import annotations

from model.errors import NotModelled
from model.platform.tracing_targets import MODELLED_ATTACH, attach_target


def attach_btf_id(prog) -> int:
    """The vmlinux BTF id of ``prog``'s attach target; 0 when its type needs none or skv
    cannot find one (the kernel then refuses the load itself)."""
    if prog.prog_type not in MODELLED_ATTACH:
        return 0
    try:
        return attach_target(prog.prog_type, prog.attach_type, prog.section).btf_id
    except NotModelled:
        return 0


__all__ = ["attach_btf_id"]
