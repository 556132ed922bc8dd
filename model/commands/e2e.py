"""``skv e2e OBJ``: confirm a program's M1/M2 counterexample on our JIT's x86 code, with CPU 1
toggling the key site by site with the int3 protocol (``model.e2e``); for a program the
symbolic check finds safe under M2, run random toggle schedules instead.

Prints the BPF instruction, the x86 instruction, the schedule (CPU 1's events against CPU 0's
instruction numbers and site fetches) and the key model. ``--json`` prints, per program,
``{"program", "x86": {"confirmed", "bpf_insn", "x86_address", "model", ...}}`` or
``{"program", "random": {...}}``. Exit status 0 when every counterexample is confirmed and
every random schedule ends cleanly, 1 otherwise.

``--save FILE`` writes the first counterexample confirmed (or tried) on x86 as an
end-to-end counterexample (format ``skv-e2e/1``, ``model.report.x86``: object path and
sha256, program, key model, the counterexample's site states per execution and inputs,
CPU 1's schedule: initial site states and, per poke, the site, its new state and the CPU 0
instruction number of each int3-protocol event). ``skv e2e --replay FILE`` runs that
schedule again (no symbolic analysis) and confirms it: exit 0 confirmed, 1 not confirmed,
2 bad input (one-line ``skv: error:`` message). ``skv replay`` keeps its own formats.
"""

from __future__ import annotations

import json
import os

from model.errors import NotModelled, SkvError

HELP = "Confirm M1/M2 counterexamples on the JIT'd x86 code while CPU 1 toggles the key"


def add_arguments(p) -> None:
    p.add_argument("object", metavar="OBJ", nargs="?", help="BPF object file")
    p.add_argument("--program", help="only this program")
    p.add_argument("--random", type=int, default=200, metavar="N",
                   help="random toggle schedules per M2-safe program (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--via-int3", action="store_true",
                   help="M2: CPU 0's fetch after a toggle hits the INT3 byte")
    p.add_argument("--json", action="store_true")
    p.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                   help="wall-clock limit of each program's symbolic analysis (default 120)")
    p.add_argument("--save", metavar="FILE",
                   help="write the first x86 counterexample as a replayable JSON file")
    p.add_argument("--replay", metavar="FILE",
                   help="replay a saved end-to-end counterexample (no OBJ)")


def _replay(args) -> int:
    from model.report.x86 import replay

    if args.object:
        raise SkvError("--replay FILE takes no OBJ (the file names its object)")
    r = replay(args.replay)
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print(f"{r['program']}: replaying the saved {r['model']} schedule from {args.replay}")
        for line in r["schedule"].get("story", []):
            print(f"  schedule: {line}")
        print("\n".join(r["log"]))
        print(f"  observed site states: {r['observed']}")
        if r["x86_address"] is not None:
            print(f"  x86 {r['x86_address']:#x}: {r['x86_insn']}  -- {r['kind']}: "
                  f"{r['reason']} (BPF insn {r['fault_bpf_insn']})")
        print(f"outcome: BPF insn {r['bpf_insn']}: "
              + ("CONFIRMED" if r["confirmed"] else f"NOT confirmed ({r['status']})"))
    return 0 if r["confirmed"] else 1


def run(args) -> int:
    if getattr(args, "replay", None):
        return _replay(args)
    if not args.object:
        raise SkvError("an object file is required (or --replay FILE)")
    if args.save and os.path.isdir(args.save):
        raise SkvError(f"{args.save}: is a directory")
    from model.commands.common import load, select_programs
    from model.e2e import confirm, random_schedules
    from model.interp.ctx import runnable
    from model.symbolic import Budget, analyse_program

    obj = load(args.object)
    ok = True
    saved = False
    docs = []
    for prog in select_programs(obj, args.program):
        doc = analyse_program(obj, prog, budget=Budget(time_s=args.time_limit))
        cx = doc["counterexample"]
        out: dict = {"program": prog.name}
        try:
            runnable(prog)
        except NotModelled as e:  # the interpreter cannot run it (cgroup hooks...)
            out["skipped"] = str(e)
            docs.append(out)
            if not args.json:
                print(f"{prog.name}: skipped ({e})")
            continue
        if cx is not None and cx["model"] in ("M1", "M2"):
            r = confirm(obj, prog, cx, via_int3=args.via_int3)
            out["x86"] = r
            if args.save and not saved:
                from model.report.x86 import save

                save(args.save, args.object, prog, cx, r, args.via_int3)
                saved = True
                if not args.json:
                    print(f"  saved to {args.save} (skv e2e --replay {args.save})")
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
        elif doc["models"]["M2"]["safe"] is True:
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
    if args.save and not saved:
        import sys

        print(f"skv e2e: no M1/M2 counterexample to save in {args.object}", file=sys.stderr)
    return 0 if ok else 1
