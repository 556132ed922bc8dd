"""``skv disasm``: the linked programs of an object, in kernel-log or llvm-objdump style,
with static sites and subprogram starts marked."""

from __future__ import annotations

from model.commands.common import add_object_args, load, map_ids, select_programs
from model.program import BpfObject, Program


def add_arguments(p) -> None:
    add_object_args(p)
    p.add_argument("--style", choices=("kernel", "llvm"), default="kernel",
                   help="kernel verifier-log style (default) or llvm-objdump style")
    p.add_argument("--mcpu", choices=("v1", "v2", "v3", "v4"), default="v1",
                   help="with --style llvm: print as llvm-objdump -d --mcpu=V does (v3/v4: "
                        "w registers in 32-bit loads, stores and atomics; default: plain -d)")


def site_note(prog: Program, pc: int) -> str:
    s = prog.site_at(pc)
    if s is None:
        return ""
    kind = "inverse" if s.inverse else "normal"
    on = f"goto {s.target}" if s.jumps(True) else "fall through"
    off = f"goto {s.target}" if s.jumps(False) else "fall through"
    return f"  ; static branch #{s.id} key {s.key} ({kind}): on -> {on}, off -> {off}"


def program_lines(obj: BpfObject, prog: Program, style: str, alu32: bool = False) -> list[str]:
    from model.isa import kernel_line, llvm_line

    ids = map_ids(obj)

    def map_id(pc, insn):
        ref = prog.map_refs.get(pc)
        return ids.get(ref.map) if ref else None

    out = []
    for pc, insn in prog.iter_pcs():
        name = prog.subprogs.get(pc)
        if name or pc == 0:
            out.append(f"{name or prog.name}:")
        if style == "kernel":
            text = kernel_line(pc, insn, map_id=map_id)
        else:
            text = llvm_line(pc, insn, alu32=alu32)
        out.append(text + site_note(prog, pc))
    return out


def run(args) -> int:
    for path in args.objects:
        obj = load(path, reading=True, prog_type=args.prog_type, btf=args.btf)
        ids = map_ids(obj)
        for prog in select_programs(obj, args.program):
            print(f"; {path} program {prog.name} (section {prog.section}, {prog.n_slots} insns)")
            if args.style == "kernel" and prog.map_refs:
                used = sorted({r.map for r in prog.map_refs.values()}, key=ids.get)
                print("; map ids: " + ", ".join(f"{ids[m]} = {m}" for m in used))
            alu32 = args.mcpu in ("v3", "v4")
            print("\n".join(program_lines(obj, prog, args.style, alu32)))
            print()
    return 0
