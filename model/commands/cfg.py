"""``skv cfg``: a program's control-flow graph, static branches drawn as labelled,
dashed nondeterministic edges."""

from __future__ import annotations

import os
import sys

from model.commands.common import add_loader_args, load, select_programs
from model.inputs import show, write_text
from model.errors import CfgError, SkvError


def add_arguments(p) -> None:
    p.add_argument("object", metavar="OBJ", help="BPF ELF object file")
    p.add_argument("--program", "-p", metavar="NAME",
                   help="the program to draw (required when the object has several)")
    add_loader_args(p)
    p.add_argument("--format", "-f", choices=("dot", "svg", "png"), default="dot")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="where to write (default: stdout for dot, OBJ-PROGRAM.FMT otherwise)")


def run(args) -> int:
    from model.cfg import build_cfg, check_structure
    from model.cfg.render import render, to_dot

    obj = load(args.object, reading=True, prog_type=args.prog_type, btf=args.btf)
    progs = select_programs(obj, args.program)
    if len(progs) > 1 and args.format != "dot":
        names = ", ".join(p.name for p in progs)
        raise SkvError(f"{args.object}: several programs ({names}); choose one with --program")
    texts = []
    for prog in progs:
        try:
            check_structure(prog)
            graph = build_cfg(prog)
        except CfgError as e:  # the error names the program; say which file too
            raise SkvError(f"{show(args.object)}: {e}") from None
        texts.append((prog, to_dot(graph, prog, title=f"{args.object}: {prog.name}")))
    if args.format == "dot":
        body = "\n".join(t for _, t in texts)
        if args.output:
            write_text(args.output, body)
        else:
            sys.stdout.write(body)
        return 0
    prog, text = texts[0]
    out = args.output or f"{os.path.splitext(args.object)[0]}-{prog.name}.{args.format}"
    d = os.path.dirname(out)
    if d:
        os.makedirs(d, exist_ok=True)
    render(text, args.format, out)
    print(out)
    return 0
