"""A linked program as text, one instruction a line, in kernel verifier-log or llvm-objdump
style: function labels (BTF func info names, else the symbols'), static sites annotated,
and in kernel style the C source line each instruction came from (``.BTF.ext`` line info),
printed as the kernel's verifier log prints it: ``; <line> @ <file>:<line number>``."""

from __future__ import annotations

from model.program import BpfObject, Program


def map_ids(obj: BpfObject) -> dict[str, int]:
    """Stable ids for printing ``map[id:N]``: the maps in definition order, from 1."""
    return {name: n + 1 for n, name in enumerate(obj.maps)}


def site_note(prog: Program, pc: int) -> str:
    s = prog.site_at(pc)
    if s is None:
        return ""
    kind = "inverse" if s.inverse else "normal"
    on = f"goto {s.target}" if s.jumps(True) else "fall through"
    off = f"goto {s.target}" if s.jumps(False) else "fall through"
    return f"  ; static branch #{s.id} key {s.key} ({kind}): on -> {on}, off -> {off}"


def function_name(prog: Program, pc: int) -> str | None:
    """The name of the function starting at ``pc``, if one does."""
    name = prog.func_names.get(pc) or prog.subprogs.get(pc)
    return name or (prog.name if pc == 0 else None)


def program_lines(obj: BpfObject, prog: Program, style: str, alu32: bool = False,
                  source: bool = True) -> list[str]:
    """``source``: with kernel style, print each source line before the instructions it
    produced (llvm style stays what ``llvm-objdump -d`` prints)."""
    from model.isa import kernel_line, llvm_line

    ids = map_ids(obj)

    def map_id(pc, insn):
        ref = prog.map_refs.get(pc)
        return ids.get(ref.map) if ref else None

    out = []
    for pc, insn in prog.iter_pcs():
        name = function_name(prog, pc)
        if name:
            out.append(f"{name}:")
        if style == "kernel":
            if source and pc in prog.lines:
                out.append(f"; {prog.lines[pc].kernel_text()}")
            text = kernel_line(pc, insn, map_id=map_id)
        else:
            text = llvm_line(pc, insn, alu32=alu32)
        out.append(text + site_note(prog, pc))
    return out
