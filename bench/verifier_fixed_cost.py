"""skv's verifier on real objects, one process per object as ``skv check`` runs: per
program the verdict, the message, the processed instructions, skv's own time measure
(``stats.time_s``: the check of one program) and the CPU time of that check. Two runs'
records, compared, say whether a change kept every verdict, message and count.

``python -m bench.verifier_fixed_cost [--time-limit S] OUT.jsonl DIR...`` writes one JSON
line per program; ``python -m bench.verifier_fixed_cost --object PATH`` is one object's
part (its lines on stdout); ``--compare BEFORE.jsonl AFTER.jsonl`` prints the programs
whose verdict, message or count differ and, per corpus, the median CPU times and their
ratios to the kernel's time (bench/results/real_corpora_speed.json) over the programs both
accept. The corpora are not part of skv (see bench/real_corpora.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def object_rows(path: str, time_limit: float) -> list[dict]:
    from model.runner.checking import CheckOptions, _load
    from model.program import select_programs
    from model.verifier.checker import check_program
    from model.errors import SkvError

    try:
        obj = _load(path, CheckOptions())
        progs = select_programs(obj, None)
    except SkvError as e:
        return [{"object": Path(path).name, "program": None, "verdict": "error",
                 "message": str(e), "insns": None}]
    rows = []
    for prog in progs:
        c0 = time.process_time()
        try:
            v = check_program(obj, prog, time_limit=time_limit)
        except Exception as e:  # noqa: BLE001 - recorded as the run's outcome
            rows.append({"object": Path(path).name, "program": prog.name,
                         "verdict": "error", "message": f"{type(e).__name__}: {e}",
                         "insns": None})
            continue
        cpu = time.process_time() - c0
        rows.append({"object": Path(path).name, "program": prog.name, "verdict": v.verdict,
                     "message": v.error.message if v.error else None,
                     "insn": v.error.insn if v.error else None,
                     "insns": v.stats.insns_processed, "states": v.stats.states,
                     "time_s": v.stats.time_s, "cpu_s": cpu})
    return rows


OUTCOME = ("verdict", "message", "insn", "insns")


def _read(path: str) -> dict:
    rows = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        rows.setdefault((r["corpus"], r["object"], r["program"]), r)
    return rows


def compare(before: str, after: str) -> str:
    b, a = _read(before), _read(after)
    both = sorted(set(b) & set(a), key=str)
    diff = [k for k in both if any(b[k].get(f) != a[k].get(f) for f in OUTCOME)]
    kernel = {}
    for c in json.loads((ROOT / "bench/results/real_corpora_speed.json").read_text())["corpora"]:
        for p in c["details"]:
            kernel[(c["corpus"], p["object"], p["program"])] = p["kernel_s"]
    out = [f"{len(both)} programs in both runs; {len(diff)} differ in verdict, message or "
           "processed instructions" + "".join(f"\n  {k}: {[b[k].get(f) for f in OUTCOME]} -> "
                                            f"{[a[k].get(f) for f in OUTCOME]}" for k in diff),
           "", "| corpus | programs | skv ms before | skv ms after | kernel ms | "
           "ratio before | ratio after |", "|---|---|---|---|---|---|---|"]
    for corpus in sorted({k[0] for k in both}):
        ks = [k for k in both if k[0] == corpus and k in kernel
              and b[k]["verdict"] == a[k]["verdict"] == "accepted"]
        if not ks:
            continue
        med = statistics.median
        out.append(f"| {corpus} | {len(ks)} | {med(b[k]['cpu_s'] for k in ks) * 1e3:.2f} | "
                   f"{med(a[k]['cpu_s'] for k in ks) * 1e3:.2f} | "
                   f"{med(kernel[k] for k in ks) * 1e3:.3f} | "
                   f"{med(b[k]['cpu_s'] / kernel[k] for k in ks):.1f} | "
                   f"{med(a[k]['cpu_s'] / kernel[k] for k in ks):.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.verifier_fixed_cost")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--object", help="one object's part: its lines on stdout")
    ap.add_argument("paths", nargs="*", help="OUT.jsonl DIR...")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    a = ap.parse_args(argv)
    if a.compare:
        print(compare(*a.compare))
        return 0
    time_limit = a.time_limit
    if a.object:
        for r in object_rows(a.object, time_limit):
            print(json.dumps(r))
        return 0
    args = a.paths
    out, dirs = Path(args[0]), args[1:]
    with out.open("w") as f:
        for d in dirs:
            for obj in sorted(p for p in Path(d).iterdir() if p.suffix in (".o", ".elf")):
                p = subprocess.run([sys.executable, "-m", "bench.verifier_fixed_cost",
                                    "--time-limit", str(time_limit), "--object", str(obj)],
                                   cwd=ROOT, capture_output=True, text=True)
                for line in p.stdout.splitlines():
                    r = json.loads(line)
                    r["corpus"] = Path(d).name
                    f.write(json.dumps(r) + "\n")
                f.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
