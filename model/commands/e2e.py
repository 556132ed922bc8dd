"""``skv e2e OBJ``: confirm a program's M1/M2 counterexample on our JIT's x86 code, with CPU 1
toggling the key site by site with the int3 protocol (``model.e2e``); for a program the
symbolic check finds safe under M2, run random toggle schedules instead.

Prints the BPF instruction, the x86 instruction, the schedule (CPU 1's events against CPU 0's
instruction numbers and site fetches) and the key model. ``--json`` prints, per program,
``{"program", "x86": {"confirmed", "bpf_insn", "x86_address", "model", ...}}`` or
``{"program", "random": {...}}``. Exit status 0 when every counterexample is confirmed and
every random schedule ends cleanly, 1 otherwise.

(Not registered in ``model.cli.COMMANDS`` yet: add ``"e2e": HELP`` there to enable it.)
"""

from __future__ import annotations

import json

HELP = "Confirm M1/M2 counterexamples on the JIT'd x86 code while CPU 1 toggles the key"


def add_arguments(p) -> None:
    p.add_argument("object", metavar="OBJ", help="BPF object file")
    p.add_argument("--program", help="only this program")
    p.add_argument("--random", type=int, default=200, metavar="N",
                   help="random toggle schedules per M2-safe program (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--via-int3", action="store_true",
                   help="M2: CPU 0's fetch after a toggle hits the INT3 byte")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    from model.commands.common import load, select_programs
    from model.e2e import confirm, random_schedules
    from model.symbolic import analyse_program

    obj = load(args.object)
    ok = True
    docs = []
    for prog in select_programs(obj, args.program):
        doc = analyse_program(obj, prog)
        cx = doc["counterexample"]
        out: dict = {"program": prog.name}
        if cx is not None and cx["model"] in ("M1", "M2"):
            r = confirm(obj, prog, cx, via_int3=args.via_int3)
            out["x86"] = r
            ok &= r["confirmed"]
            if not args.json:
                print(f"{prog.name}: {cx['model']} counterexample at BPF insn {cx['pc']} "
                      f"({cx.get('reason')}): x86 "
                      + ("CONFIRMED" if r["confirmed"] else "NOT confirmed"))
                if r["x86_address"] is not None:
                    print(f"  x86 {r['x86_address']:#x}: {r['x86_insn']}  -- {r['kind']}: "
                          f"{r['reason']} (BPF insn {r['fault_bpf_insn']})")
                for line in r["schedule"]["story"]:
                    print(f"  schedule: {line}")
                print(f"  observed site states: {r['observed']}")
                print("\n".join(r["log"]))
        elif cx is not None:
            out["x86"] = {"confirmed": None, "model": cx["model"],
                          "note": "an M0 counterexample needs no concurrent toggle"}
            if not args.json:
                print(f"{prog.name}: {cx['model']} counterexample (no toggle needed): skipped")
        elif doc["models"]["M2"]["safe"]:
            r = random_schedules(obj, prog, args.random, seed=args.seed)
            out["random"] = r
            ok &= not r["failures"]
            if not args.json:
                st = r["stats"]
                print(f"{prog.name}: safe under M2; {args.random} random toggle schedules: "
                      f"{len(r['failures'])} failure(s) ({st['pokes']} pokes, "
                      f"{st['int3_fetches']} fetches via INT3, {st['time_s']} s)")
                for f in r["failures"][:3]:
                    print(f"  run {f['run']}: {f['problem']}")
        docs.append(out)
    if args.json:
        print(json.dumps(docs, indent=1))
    return 0 if ok else 1
