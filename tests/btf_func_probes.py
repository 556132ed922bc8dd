"""Probes with bpf-to-bpf subprograms that the kernel must see with BTF func info (a
subprogram doing ``bpf_tail_call`` needs it): a minimal BTF blob (``int`` and one
``int f(void)`` function per subprogram), loaded with ``BPF_BTF_LOAD`` and passed with
``func_info`` to ``BPF_PROG_LOAD``; the model sees the same functions as
``Program.func_names``."""

from __future__ import annotations

from model.isa import Call, encode, iter_pcs
from model.kernel.bpf import ProgBtf, btf_load, prog_load
from model.kernel.funcinfo import func_btf, func_info_records
from model.kernel.oracle import patch_map_fds, rejection_reason  # noqa: F401 (re-export)


def func_starts(insns) -> list[int]:
    """pc 0 and every bpf-to-bpf call target, sorted."""
    starts = {0}
    for pc, i in iter_pcs(insns):
        if isinstance(i, Call) and i.src == 1:
            starts.add(i.target(pc))
    return sorted(starts)


def load_with_funcs(insns, prog_type: str, maps: dict) -> tuple[bool, str]:
    """The kernel's verdict and log for ``insns`` (model Insns) with func info (the
    minimal BTF of model.kernel.funcinfo: one static FUNC per function)."""
    starts = func_starts(insns)
    fd, why = btf_load(func_btf([f"f{k}" for k in range(len(starts))]))
    if fd is None:
        raise RuntimeError(f"BPF_BTF_LOAD refused the func info BTF: {why}")
    with fd:
        r = prog_load(prog_type, patch_map_fds(encode(insns), maps), log_level=2,
                      btf=ProgBtf(fd.fileno(), func_info_records(starts)))
    if r.ok:
        r.close()
    return r.ok, r.log
