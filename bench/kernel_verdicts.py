"""The real verifier's verdicts on every bundled program: each M0 assignment of its keys
materialised (``model.materialize``), and the both-edges (M2) forms ``r10`` and
``may_goto``, loaded with log_level 2 + stats. Per row: verdict, the manifest's
expectation, insns processed, total/peak states, verification time (µs, best of
``REPEAT``), and the verifier's error on rejection.

Results: bench/results/kernel_verdicts.json and .md (the table the verifier work is
measured against). ``python -m bench.kernel_verdicts``; skipped without bpf(2).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"
RESULTS = ROOT / "bench" / "results" / "kernel_verdicts.json"
TABLE = RESULTS.with_suffix(".md")
REPEAT = 3
COLUMNS = ["object", "program", "assignment", "verdict", "expected", "insns processed",
           "states", "peak states", "time µs", "error"]


def _unsafe(cubes: list[dict], assignment: dict) -> bool:
    return any(all(assignment.get(k) == v for k, v in c.items()) for c in cubes)


def _measure(load) -> dict:
    """Load ``REPEAT`` times (``load() -> (ok, LoadResult)``); stats of the fastest."""
    from model.kernel import rejection_reason

    best = None
    for _ in range(REPEAT):
        ok, res = load()
        if best is None or (res.verification_time_us or 0) < (best[1].verification_time_us or 0):
            best = (ok, res)
    ok, res = best
    return {"verdict": "accept" if ok else "reject", "insns_processed": res.insns_processed,
            "states": res.states, "peak_states": res.peak_states,
            "max_states_per_insn": res.max_states_per_insn,
            "time_us": res.verification_time_us,
            "error": "" if ok else rejection_reason(res.log) or res.error}


def rows_for(entry: dict) -> list[dict]:
    from model.elf.loader import load_object
    from model.kernel.objload import verdict, verdict_both_edges
    from model.materialize import key_assignments

    obj = load_object(str(BPFPROGS / entry["object"]))
    prog = obj.program(entry["program"])
    by_pc = {s.pc: s for s in prog.sites}
    ours_to_manifest = {by_pc[s["pc"]].key: s["key"] for s in entry["sites"] if s["pc"] in by_pc}
    cubes = entry["expect"]["M0"]["unsafe_when"]
    base = {"object": entry["object"], "program": entry["program"],
            "prog_type": entry["prog_type"], "insns": prog.n_slots, "sites": len(prog.sites)}
    rows = []
    for a in key_assignments(prog):
        m = {ours_to_manifest.get(k, k): int(v) for k, v in a.items()}
        row = {**base, "model": "M0",
               "assignment": ",".join(f"{k}={int(v)}" for k, v in a.items()) or "-",
               "expected": "reject" if _unsafe(cubes, m) else "accept",
               **_measure(lambda: verdict(obj, prog, a))}
        rows.append(row)
    for how in ("r10", "may_goto"):
        row = {**base, "model": "M2", "assignment": f"M2 both edges ({how})",
               "expected": "accept" if entry["expect"]["M2"]["safe"] else "reject",
               **_measure(lambda: verdict_both_edges(obj, prog, how))}
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [r["object"], r["program"], r["assignment"],
                 r["verdict"] + ("" if r["verdict"] == r["expected"] else " (!)"),
                 r["expected"], r["insns_processed"], r["states"], r["peak_states"],
                 r["time_us"], r["error"].replace("|", "\\|")]
        out.append("| " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def summary(rows: list[dict]) -> dict:
    def count(pred):
        return sum(1 for r in rows if pred(r))

    return {"rows": len(rows), "programs": len({(r["object"], r["program"]) for r in rows}),
            "accepted": count(lambda r: r["verdict"] == "accept"),
            "rejected": count(lambda r: r["verdict"] == "reject"),
            "agree_with_manifest": count(lambda r: r["verdict"] == r["expected"]),
            "max_insns_processed": max((r["insns_processed"] or 0) for r in rows),
            "total_insns_processed": sum((r["insns_processed"] or 0) for r in rows),
            "max_peak_states": max((r["peak_states"] or 0) for r in rows),
            "total_time_us": sum((r["time_us"] or 0) for r in rows)}


def main() -> dict | None:
    from model.kernel import available

    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return None
    entries = json.loads((BPFPROGS / "manifest.json").read_text())["programs"]
    t0 = time.perf_counter()
    rows = [row for e in entries for row in rows_for(e)]
    head = summary(rows)
    head["wall_s"] = round(time.perf_counter() - t0, 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": head, "repeat": REPEAT, "rows": rows},
                                  indent=1) + "\n")
    table = markdown(rows)
    TABLE.write_text("# Kernel verdicts on the bundled programs\n\n"
                     f"Linux verifier, log_level 2 + stats; time = best of {REPEAT} loads. "
                     "`(!)` marks a verdict that differs from bpfprogs/manifest.json.\n\n"
                     + table + "\n" + ", ".join(f"{k}: {v}" for k, v in head.items()) + "\n")
    print(table)
    print(", ".join(f"{k}: {v}" for k, v in head.items()))
    print(f"wrote {RESULTS.relative_to(ROOT)} and {TABLE.relative_to(ROOT)}")
    return head


if __name__ == "__main__":
    main()
