"""Differential testing at scale: 50,000 generated programs (tests/progen.py, seeded), each
loaded into the real kernel as a socket filter, test-run on a 14-byte zero packet, and
compared with our interpreter. Results: bench/results/differential.json.

``python -m bench.differential [N] [SEED]``; skipped (with the reason) without bpf(2).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "differential.json"
N, SEED = 50_000, 20240601
KEEP = 20  # mismatching / rejected programs kept in the results, verbatim


def main(n: int = N, seed: int = SEED) -> dict | None:
    from model.kernel import available

    sys.path.insert(0, str(ROOT / "tests"))
    from progen import random_programs, run_both

    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return None
    counts: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    examples: dict[str, list] = {"mismatch": [], "rejected": []}
    insns = 0
    t0 = time.perf_counter()
    for prog in random_programs(seed, n):
        out = run_both(prog)
        counts[out.kind] += 1
        insns += sum(i.slots for i in prog.insns)
        if out.kind == "rejected":
            reasons[out.detail] += 1
        if out.kind != "ok" and len(examples[out.kind]) < KEEP:
            examples[out.kind].append({"kernel": out.kernel, "ours": out.ours,
                                       "detail": out.detail, "program": prog.llvm()})
    elapsed = time.perf_counter() - t0
    result = {
        "programs": n, "seed": seed, "ok": counts["ok"],
        "kernel_rejections": counts["rejected"], "mismatches": counts["mismatch"],
        "rejection_reasons": dict(reasons.most_common()),
        "mean_insns": round(insns / n, 1), "seconds": round(elapsed, 2),
        "programs_per_s": round(n / elapsed, 1), "examples": examples,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{n} programs (seed {seed}, mean {result['mean_insns']} slots): "
          f"{counts['ok']} agree, {counts['rejected']} kernel rejections, "
          f"{counts['mismatch']} mismatches; {elapsed:.1f}s ({result['programs_per_s']} "
          f"programs/s)")
    for kind in ("mismatch", "rejected"):
        for ex in examples[kind][:3]:
            print(f"-- {kind}: kernel {ex['kernel']}, ours {ex['ours']} {ex['detail']}")
            print("\n".join(ex["program"]))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
