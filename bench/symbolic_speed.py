"""The Z3 engine's speed on the bundled datapath (bpfprogs/datapath/datapath.o and
unsafe_datapath.o): per program, the CPU time of ``analyse_program`` (exploration, M0/M1/M2
listing, counterexamples), its states stepped, merges, Z3 queries, exhausted budgets and the
one-line summary.

``python bench/symbolic_speed.py [--root DIR] [--time-limit S] [--out JSON] [PROGRAM...]``
(``--root``: the checkout whose ``model`` package is measured, for before/after runs of
another commit; CPU time, so a shared machine slows it less than wall time).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
OBJECTS = ["bpfprogs/datapath/datapath.o", "bpfprogs/datapath/unsafe_datapath.o"]


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    opts = {"--root": str(HERE), "--time-limit": "120", "--out": ""}
    for k in list(opts):
        if k in args:
            i = args.index(k)
            opts[k] = args[i + 1]
            del args[i:i + 2]
    root = Path(opts["--root"]).resolve()
    sys.path.insert(0, str(root))
    from model.elf.loader import load_object
    from model.symbolic import Budget, analyse_program, summary
    from model.verifier.checker import check_program

    rows = []
    for rel in OBJECTS:
        obj = load_object(str(HERE / rel), keys_as_maps="keep")
        for prog in obj.programs:
            if args and prog.name not in args:
                continue
            verdict = check_program(obj, prog)
            t0 = time.process_time()
            doc = analyse_program(obj, prog, verifier=verdict,
                                  budget=Budget(time_s=float(opts["--time-limit"])))
            cpu = time.process_time() - t0
            st = doc["stats"]
            row = {"object": Path(rel).name, "program": prog.name, "cpu_s": round(cpu, 2),
                   "steps": st["steps"], "merges": st["merges"], "queries": st["queries"],
                   "exhausted": doc["exhausted"], "summary": summary(doc)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if opts["--out"]:
        Path(opts["--out"]).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
