"""Our abstract verifier against the kernel's on 20,000 seeded programs from
``tests/vergen.py``: counts per class (both accept, both reject, we accept and the kernel
rejects, we reject and the kernel accepts), the false-reject rate and its top reasons,
message agreement when both reject, and speed: instructions processed per second by us
and by the kernel, and the ratio of our time to the kernel's ``verification time``.

Results: bench/results/verifier_kernel.json. ``python -m bench.verifier_kernel``; skipped
without bpf(2).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "verifier_kernel.json"
N_PROGRAMS = 20_000
SEED = 7


def main(n: int = N_PROGRAMS, seed: int = SEED) -> dict | None:
    from model.kernel import available

    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from test_verifier_kernel import classify, compare, non_safety
    from vergen import random_programs

    t0 = time.perf_counter()
    results = [compare(vp) for vp in random_programs(seed, n)]
    wall = time.perf_counter() - t0
    summary = classify(results)
    fa = [c for c in results if c.cls == "false_accept"]
    ours_s = sum(c.our_time_s for c in results)
    kern_us = sum(c.kernel_time_us or 0 for c in results)
    ours_insns = sum(c.our_insns for c in results)
    kern_insns = sum(c.kernel_insns or 0 for c in results)
    timed = [c for c in results if c.kernel_time_us]
    ratios = sorted(c.our_time_s * 1e6 / c.kernel_time_us for c in timed)
    features = collections.Counter(f.lstrip("!") for c in results for f in c.prog.features)
    out = {
        **summary,
        "seed": seed,
        "false_accepts_safety": sum(not non_safety(c.kernel_msg) for c in fa),
        "false_accept_examples": [c.report() for c in fa[:5]],
        "false_reject_examples": [c.report() for c in results
                                  if c.cls == "false_reject"][:5],
        "by_prog_type": {t: dict(collections.Counter(c.cls for c in results
                                                     if c.prog.prog_type == t))
                         for t in ("xdp", "sched_cls", "socket_filter")},
        "snippets": dict(features.most_common()),
        "ours": {"time_s": round(ours_s, 3), "insns_processed": ours_insns,
                 "insns_per_s": round(ours_insns / ours_s) if ours_s else None},
        "kernel": {"time_s": round(kern_us / 1e6, 3), "insns_processed": kern_insns,
                   "insns_per_s": round(kern_insns / (kern_us / 1e6)) if kern_us else None},
        "time_ratio_ours_to_kernel": {
            "total": round(ours_s * 1e6 / kern_us, 2) if kern_us else None,
            "median_per_program": round(ratios[len(ratios) // 2], 2) if ratios else None,
            "programs_timed": len(timed)},
        "wall_s": round(wall, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{n} programs (seed {seed}) in {wall:.0f} s: {summary['counts']}")
    print(f"false accepts (safety): {out['false_accepts_safety']}; false-reject rate "
          f"{summary['false_reject_rate']:.2%}; both-reject message agreement "
          f"{summary['both_reject_message_agreement']:.1%}")
    for reason, k in summary["top_false_reject_reasons"][:5]:
        print(f"  false reject x{k}: {reason}")
    print(f"ours: {out['ours']['insns_per_s']} insns/s; kernel: {out['kernel']['insns_per_s']} "
          f"insns/s; our time / kernel's: {out['time_ratio_ours_to_kernel']['total']}x total, "
          f"{out['time_ratio_ours_to_kernel']['median_per_program']}x median")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return out


if __name__ == "__main__":
    main()
