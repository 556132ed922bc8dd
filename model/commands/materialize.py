"""``skv materialize``: one program with every static site fixed (M0 by key, M1 by site),
dead code removed and offsets fixed — or in the both-edges (M2) form; printed in kernel-log
style and/or written as an object a stock kernel (and ``skv``) can load."""

from __future__ import annotations

from model.commands.common import load, select_programs
from model.errors import SkvError


def add_arguments(p) -> None:
    p.add_argument("object", metavar="OBJ", help="BPF ELF object file")
    p.add_argument("--program", "-p", metavar="NAME",
                   help="the program (required when the object has several)")
    p.add_argument("--keys", "-k", metavar="K=0|1,...",
                   help="M0: the value of every key the program's sites use")
    p.add_argument("--sites", "-s", metavar="ID=0|1,...",
                   help="M1: per-site key states by site id (as skv info lists them); "
                        "override --keys")
    p.add_argument("--both-edges", nargs="?", const="r10", choices=("r10", "may_goto"),
                   metavar="r10|may_goto",
                   help="M2: turn every site into 'if r10 == 0x0 goto T' (default) or "
                        "'may_goto T', which the verifier explores both edges of")
    p.add_argument("--output", "-o", metavar="OUT.o", help="write the result as an object")
    p.add_argument("--print", action="store_true", dest="print_",
                   help="print the result (the default when no --output is given)")


def run(args) -> int:
    from model.report.listing import program_lines
    from model.materialize import both_edges, materialize, parse_assignment

    obj = load(args.object)
    progs = select_programs(obj, args.program)
    if len(progs) > 1:
        names = ", ".join(p.name for p in progs)
        raise SkvError(f"{args.object}: several programs ({names}); choose one with --program")
    prog = progs[0]
    if args.both_edges is not None:
        if args.keys is not None or args.sites is not None:
            raise SkvError("--both-edges cannot be combined with --keys or --sites")
        out = both_edges(prog, args.both_edges)
        what = f"both edges ({args.both_edges})"
    else:
        if args.keys is None and args.sites is None and prog.sites:
            raise SkvError("give --keys, --sites or --both-edges "
                           f"(program {prog.name} uses keys: {', '.join(prog.keys())})")
        keys = parse_assignment(args.keys or "", "keys")
        sites = parse_assignment(args.sites or "", "sites")
        out = materialize(prog, keys=keys, sites=sites)
        what = ", ".join([f"{k}={int(v)}" for k, v in keys.items()]
                         + [f"site {i}={int(v)}" for i, v in sites.items()]) or "no sites"
    if args.output:
        write_object(obj, out, args.output)
    if args.print_ or not args.output:
        print(f"; {args.object} program {out.name} materialised: {what} "
              f"({prog.n_slots} -> {out.n_slots} insns)")
        print("\n".join(program_lines(obj, out, "kernel")))
    if args.output:
        print(f"wrote {args.output}")
    return 0


def object_bytes(obj, prog) -> bytes:
    """An object holding ``prog`` and the maps it references (key maps are not)."""
    from model.elf.writer import ProgSpec, build_object

    names = sorted({r.map for r in prog.map_refs.values()})
    missing = [n for n in names if n not in obj.maps]
    if missing:
        raise SkvError(f"program {prog.name} refers to map {missing[0]}, which the object "
                       "does not define")
    maps = [obj.maps[n] for n in obj.maps if n in names]
    keys = sorted({s.key for s in prog.sites})
    maps += [obj.maps[k] for k in keys if k in obj.maps and k not in names]
    return build_object([ProgSpec.from_program(prog)], maps, obj.license or "GPL")


def write_object(obj, prog, path: str) -> None:
    data = object_bytes(obj, prog)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise SkvError(f"{path}: cannot write: {e.strerror}") from None
