"""skv's abstract verifier before and after a change, on large real programs, on the same
machine: each round runs every program once with the ``before`` tree and once with the
``after`` tree (interleaved, so a change of load hits both), and each side keeps its fastest
CPU time over the rounds. The processed-instruction counts and verdicts must not differ.

The trees are two checkouts of skv's ``model`` package (e.g. ``git archive <rev> model | tar
-x -C DIR``); the objects are the user's (third-party corpora are built outside the
repository, see bench/real_corpora.py).

``python -m bench.verifier_speed_real BEFORE_DIR AFTER_DIR OBJ[:PROG] ... [--rounds N]
[--pure] [--out FILE.json]``; without ``:PROG`` every program of the object; ``--pure`` runs
the pure-Python sources (``SKV_PURE=1``), else each tree's ``make fast`` build when it has a
current one (the JSON says which ran: ``compiled``). Writes the JSON (figures only, with the
load average before and after) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CHILD = r'''
import gc, json, sys, time
from model import fast
from model.elf.loader import load_object
from model.verifier.checker import check_program
rows = []
for path, name in json.loads(sys.argv[1]):
    obj = load_object(path)
    for prog in [p for p in obj.programs if name in ("", p.name)]:
        gc.collect()
        c0 = time.process_time()
        v = check_program(obj, prog, log=False, time_limit=300)
        rows.append({"object": path.rsplit("/", 1)[-1], "program": prog.name,
                     "ok": v.accepted, "insns": v.stats.insns_processed,
                     "cpu_s": time.process_time() - c0, "compiled": fast.active()})
print(json.dumps(rows))
'''


def _run(tree: str, targets: list, pure: bool = False) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
    env.pop("SKV_PURE", None)
    if pure:
        env["SKV_PURE"] = "1"
    p = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(targets)], env=env,
                       capture_output=True, text=True, cwd="/", check=True)
    return json.loads(p.stdout)


def measure(before: str, after: str, targets: list, rounds: int,
            pure: bool = False) -> list[dict]:
    best: dict = {}
    for _ in range(rounds):
        for side, tree in (("before", before), ("after", after)):
            for r in _run(tree, targets, pure):
                key = (r["object"], r["program"])
                got = best.setdefault(key, {})
                if side in got:
                    assert (got[side]["ok"], got[side]["insns"]) == (r["ok"], r["insns"]), r
                if side not in got or r["cpu_s"] < got[side]["cpu_s"]:
                    got[side] = r
    rows = []
    for (obj, prog), got in best.items():
        b, a = got["before"], got["after"]
        assert (b["ok"], b["insns"]) == (a["ok"], a["insns"]), (obj, prog, b, a)
        rows.append({"object": obj, "program": prog, "ok": a["ok"], "insns": a["insns"],
                     "before_s": round(b["cpu_s"], 3), "after_s": round(a["cpu_s"], 3),
                     "compiled": [b["compiled"], a["compiled"]]})
    return sorted(rows, key=lambda r: -r["insns"])


def table(rows: list[dict]) -> str:
    out = ["| object | program | processed insns | before s | after s | before insns/s | "
           "after insns/s | speed-up |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a, n = r["before_s"], r["after_s"], r["insns"]
        out.append(f"| {r['object']} | {r['program']} | {n:,} | {b:.2f} | {a:.2f} | "
                   f"{n / b:,.0f} | {n / a:,.0f} | {b / a:.2f}x |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("targets", nargs="+", help="OBJ or OBJ:PROG")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pure", action="store_true", help="the pure-Python sources (SKV_PURE=1)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    targets = [[str(Path(t.split(":")[0]).resolve()), t.split(":")[1] if ":" in t else ""]
               for t in a.targets]
    load0 = os.getloadavg()
    rows = measure(a.before, a.after, targets, a.rounds, a.pure)
    if a.out:
        Path(a.out).write_text(json.dumps({"rounds": a.rounds, "pure": a.pure,
                                           "load_before": load0, "load": os.getloadavg(),
                                           "rows": rows}, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
