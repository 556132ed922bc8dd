"""``skv info``: what an object holds — programs, maps, static keys and their sites."""

from __future__ import annotations

from model.commands.common import add_object_args, load, select_programs, table
from model.platform.map_helpers import MAP_TYPES


def add_arguments(p) -> None:
    add_object_args(p)
    p.add_argument("--pipeline", action="store_true",
                   help="also print the site table after each load stage (model.pipeline)")


def run(args) -> int:
    for n, path in enumerate(args.objects):
        obj = load(path, reading=True, prog_type=args.prog_type, btf=args.btf,
                   maps_only=True)
        if n:
            print()
        print(f"== {path}  (license {obj.license or '-'})")
        progs = select_programs(obj, args.program)
        print(table([[p.name, p.section, p.prog_type, p.n_slots,
                      ",".join(p.subprogs.values()) or "-", len(p.sites),
                      ",".join(p.keys()) or "-"] for p in progs],
                    ["program", "section", "type", "insns", "subprogs", "sites", "keys"]))
        print()
        print(table([[m.name, MAP_TYPES.get(m.type, m.type), m.key_size, m.value_size,
                      m.max_entries, f"{m.map_flags:#x}",
                      "static key" if m.is_static_key else m.origin] for m in obj.maps.values()],
                    ["map", "type", "key", "value", "max_entries", "flags", "kind"]))
        sites = [s for p in progs for s in p.sites]
        if sites:
            print()
            print(table([[s.id, s.program, s.pc, s.target, s.key,
                          "inverse (likely)" if s.inverse else "normal (unlikely)",
                          s.design, s.origin] for s in sites],
                        ["site", "program", "pc", "target", "key", "polarity", "design",
                         "declared by"]))
        if getattr(args, "pipeline", False):
            from model.pipeline import render, run_pipeline

            for p in progs:
                print()
                print(f"-- life of the static branches of {p.name} (BPF_PROG_LOAD)")
                print(render(run_pipeline(p)), end="")
    return 0
