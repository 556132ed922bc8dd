"""Checks the kernel makes while loading a program, before it walks any path: they refuse
the program even when the instruction is never executed. Both engines call
:func:`load_time_error` first (the abstract verifier and the Z3 engine).

Today: direct map-value loads (``ld_imm64`` src 2/6) the map cannot serve
(``model.platform.direct_value``).
"""

from __future__ import annotations

from model.isa import LoadImm64
from model.platform.direct_value import direct_value_error


def load_time_error(obj, prog) -> tuple[int, str] | None:
    """``(pc, message)`` of the first load-time refusal, or None."""
    for pc, insn in prog.iter_pcs():
        if isinstance(insn, LoadImm64) and insn.src in (2, 6):
            ref = prog.map_refs.get(pc)
            m = obj.maps.get(ref.map) if ref is not None else None
            if m is None:
                continue
            why = direct_value_error(m.type, m.max_entries, m.value_size, insn.imm2)
            if why is not None:
                return pc, why
    return None


__all__ = ["load_time_error"]
