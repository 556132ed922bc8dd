"""skv's verifier beside the kernel on real objects a user brings: for every program both
accept, skv's time and processed instructions next to the kernel's (``skv check --kernel
--no-symbolic --json``: the kernel loads the both-edges form through skv's libbpf-like
wrapper), the ratios, and the programs over 10 s.

The corpora are not part of skv: fetch and build them outside the repository (see
bench/real_corpora.py), then ``python -m bench.real_corpora_speed [--time-limit S] DIR...``.
Results (figures only): bench/results/real_corpora_speed.json and .md. ``--merge``: keep
the corpora of the existing results not measured in this run (a run per corpus, one at a
time); ``--note TEXT``: a line of prose under the table's heading (how the corpora were
built, what ran beside). Every corpus records what measured it: the head commit, whether
the compiled core was in use, the UTC time and the load average before and after.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.real_corpora import _cli

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "real_corpora_speed.json"
SLOW_S = 10.0


def _rows(directory: Path, time_limit: float) -> list[dict]:
    rows = []
    for obj in sorted(p for p in directory.iterdir() if p.suffix in (".o", ".elf")):
        # the whole object's check: every program's limit (and the kernel's loads), plus slack
        _, out, _ = _cli("info", str(obj))
        nprogs = max(1, out.count("\n"))
        rc, out, _ = _cli("check", "--kernel", "--no-symbolic", "--json", "--time-limit",
                          str(time_limit), str(obj), timeout=120 + 3 * time_limit * nprogs)
        if rc == -1:  # out of the subprocess's time: the object is named, the run goes on
            print(f"{obj}: the check ran out of its {120 + 3 * time_limit * nprogs:.0f} s",
                  file=sys.stderr)
            continue
        try:
            rows += json.loads(out)["programs"]
        except (json.JSONDecodeError, KeyError):
            continue  # an object skv cannot load: bench/real_corpora.py counts those
    return rows


def summarise(name: str, rows: list[dict]) -> dict:
    both = [r for r in rows if r.get("verdict") == "accepted"
            and (r.get("kernel") or {}).get("verdict") == "accepted"
            and r["kernel"].get("time_us")]
    progs = [{"object": Path(r["object"]).name, "program": r["program"],
              # skv's CPU time (its wall time moves with the machine's load); older runs
              # recorded only the wall time
              "skv_s": r["stats"].get("cpu_s", r["stats"]["time_s"]),
              "skv_wall_s": r["stats"]["time_s"], "kernel_s": r["kernel"]["time_us"] / 1e6,
              "skv_insns": r["stats"]["insns_processed"],
              "kernel_insns": r["kernel"]["insns_processed"]} for r in both]
    for p in progs:
        p["time_ratio"] = round(p["skv_s"] / max(p["kernel_s"], 1e-6), 2)
        p["insns_ratio"] = round(p["skv_insns"] / max(p["kernel_insns"], 1), 3)
    # the kernel verifies, skv does not: the cause is skv's first line (a budget, a time limit)
    false_rejects = [{"object": Path(r["object"]).name, "program": r["program"],
                      "verdict": r.get("verdict"),
                      "cause": ((r.get("error") or {}).get("message") or "").splitlines()[:1]}
                     for r in rows if r.get("verdict") != "accepted"
                     and (r.get("kernel") or {}).get("verdict") == "accepted"]
    total_insns = sum(p["skv_insns"] for p in progs)
    total_s = sum(p["skv_s"] for p in progs)
    return {
        "corpus": name, "programs": len(rows), "both_accept": len(progs),
        "median_time_ratio": statistics.median(p["time_ratio"] for p in progs) if progs else None,
        "median_insns_ratio": statistics.median(p["insns_ratio"] for p in progs) if progs else None,
        "max_insns_ratio": max((p["insns_ratio"] for p in progs), default=None),
        "over_1_5x_insns": sum(p["insns_ratio"] > 1.5 for p in progs),
        "max_skv_s": max((p["skv_s"] for p in progs), default=None),
        "over_10s": [f"{p['object']}:{p['program']}" for p in progs if p["skv_s"] > SLOW_S],
        "skv_insns_per_s": round(total_insns / total_s) if total_s else None,
        "kernel_accepts_skv_not": false_rejects,
        "details": progs,
    }


def _cell(value) -> str:
    """A table cell: floats (ratios, seconds) to two decimals."""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def measured_by() -> dict:
    """What measures now: the head commit, the compiled core or not, the time, the load."""
    import model.fast

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    return {"commit": head, "compiled": model.fast.active(),
            "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "load": round(os.getloadavg()[0], 1)}


def _measured_cell(c: dict) -> str:
    m = c.get("measured")
    if not m:
        return "?"
    build = "compiled" if m["compiled"] else "pure Python"
    load = f"{m['load']}-{m['load_after']}" if "load_after" in m else m["load"]
    return f"{m['commit']} {build}, {m['utc']}, load {load}"


def table(doc: dict) -> str:
    cols = ["corpus", "programs", "both_accept", "median_time_ratio", "median_insns_ratio",
            "max_insns_ratio", "over_1_5x_insns", "max_skv_s", "skv_insns_per_s"]
    out = ["# Real objects: skv's verifier beside the kernel (bench/real_corpora_speed.py)", "",
           f"Time limit {doc['time_limit']} s per program; skv's time is its verifier's CPU time, "
           "the kernel's its verification_time_us; ratios skv / kernel over programs both "
           "accept.", ""]
    if doc.get("note"):
        out += [doc["note"], ""]
    out += ["| " + " | ".join(cols + ["measured"]) + " |", "|" + "---|" * (len(cols) + 1)]
    for c in doc["corpora"]:
        out.append("| " + " | ".join([_cell(c[k]) for k in cols] + [_measured_cell(c)]) + " |")
    out.append("")
    for c in doc["corpora"]:
        worst = sorted(c["details"], key=lambda p: -p["insns_ratio"])[:5]
        out.append(f"- {c['corpus']}: over {SLOW_S:.0f} s: {', '.join(c['over_10s']) or 'none'}; "
                   "worst insns ratios: " + ", ".join(
                       f"{p['program']} {p['insns_ratio']}x ({p['skv_insns']} vs "
                       f"{p['kernel_insns']})" for p in worst))
        if c.get("kernel_accepts_skv_not"):
            out.append(f"  - {c['corpus']}: the kernel accepts, skv does not: " + "; ".join(
                f"{r['object']}:{r['program']} ({(r['cause'] or [r['verdict']])[0]})"
                for r in c["kernel_accepts_skv_not"]))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.real_corpora_speed",
                                 description="skv's verifier beside the kernel on the "
                                 "objects of each corpus directory (built outside skv)")
    ap.add_argument("dirs", nargs="+", metavar="DIR", help="a corpus: its .o / .elf files")
    ap.add_argument("--time-limit", type=float, default=60.0, help="per program, seconds")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other corpora of the results file (a run per corpus)")
    ap.add_argument("--note", help="a note for the results file")
    a = ap.parse_args(argv)
    missing = [d for d in a.dirs if not Path(d).is_dir()]
    if missing:
        ap.error(f"not a directory: {', '.join(missing)}")
    args, time_limit, note, merge = a.dirs, a.time_limit, a.note, a.merge
    doc: dict = {"time_limit": time_limit, "corpora": []}
    if merge and RESULTS.exists():
        doc = json.loads(RESULTS.read_text())
        doc["time_limit"] = time_limit
    if note is not None:
        doc["note"] = note
    for d in args:  # written after every corpus: a later failure keeps the earlier figures
        by = measured_by()
        c = summarise(Path(d).name, _rows(Path(d), time_limit))
        c["measured"] = {**by, "load_after": round(os.getloadavg()[0], 1)}
        doc["corpora"] = [o for o in doc["corpora"] if o["corpus"] != c["corpus"]] + [c]
        RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
        RESULTS.with_suffix(".md").write_text(table(doc))
    print(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
