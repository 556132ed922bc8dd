"""``skv disasm``: the linked programs of an object, in kernel-log or llvm-objdump style,
with static sites and function starts (BTF func info names) marked; in kernel style each
C source line (``.BTF.ext`` line info) is printed before its instructions as the kernel's
verifier log prints it, ``; <line> @ <file>:<n>`` (``--no-source`` leaves them out)."""

from __future__ import annotations

from model.commands.common import add_object_args, load, map_ids, select_programs
from model.report.listing import program_lines


def add_arguments(p) -> None:
    add_object_args(p)
    p.add_argument("--style", choices=("kernel", "llvm"), default="kernel",
                   help="kernel verifier-log style (default) or llvm-objdump style")
    p.add_argument("--mcpu", choices=("v1", "v2", "v3", "v4"), default="v1",
                   help="with --style llvm: print as llvm-objdump -d --mcpu=V does (v3/v4: "
                        "w registers in 32-bit loads, stores and atomics; default: plain -d)")
    p.add_argument("--no-source", action="store_true",
                   help="kernel style: leave out the C source lines (.BTF.ext line info)")


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
            print("\n".join(program_lines(obj, prog, args.style, alu32,
                                          source=not args.no_source)))
            print()
    return 0
