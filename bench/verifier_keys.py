"""Verifier cost: (1) as the number of keys grows, one both-edges run against checking
every one of the 2^K materialised assignments, for K = 1..16 on a generated program;
(2) our speed against the real kernel's verification time on the bundled programs (their
both-edges form). Results: bench/results/verifier_keys.json."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from bench.gen import sites_object
from model.elf.loader import load_image, load_object
from model.elf.reader import parse_elf
from model.keystate import all_assignments
from model.materialize import both_edges, materialize
from model.verifier.checker import check_program

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "verifier_keys.json"
FULL_UP_TO = 12  # beyond this, time a random sample of assignments and scale it
SAMPLE = 1024


def keys_scaling() -> list[dict]:
    rows = []
    for k in range(1, 17):
        blob = sites_object(24 * k + 8, k, keys=k)
        obj = load_image(parse_elf(blob, f"gen-{k}"))
        prog = obj.programs[0]
        t0 = time.perf_counter()
        v = check_program(obj, prog)
        one = time.perf_counter() - t0
        assert v.accepted, v.error
        keys = prog.keys()
        n = 1 << k
        if k <= FULL_UP_TO:
            chosen = list(all_assignments(keys))
        else:
            rng = random.Random(k)
            chosen = [{key: bool(rng.getrandbits(1)) for key in keys} for _ in range(SAMPLE)]
        t0 = time.perf_counter()
        for a in chosen:
            assert check_program(obj, materialize(prog, keys=a)).accepted
        spent = time.perf_counter() - t0
        total = spent * n / len(chosen)
        rows.append({"keys": k, "insns": prog.n_slots, "both_edges_s": round(one, 5),
                     "both_edges_insns_processed": v.stats.insns_processed,
                     "enumerate_s": round(total, 3), "assignments": n,
                     "measured_assignments": len(chosen), "estimated": len(chosen) < n,
                     "ratio": round(total / one, 1)})
        print(f"K={k:2d}: both-edges {one * 1000:8.2f} ms ({v.stats.insns_processed} insns); "
              f"2^{k} materialised {total:9.2f} s{' (est.)' if len(chosen) < n else ''}; "
              f"ratio {total / one:9.1f}")
    return rows


def kernel_ratio() -> list[dict]:
    from model.kernel import available
    from model.kernel.objload import verdict_both_edges

    ok, why = available()
    if not ok:
        print(f"kernel comparison skipped: {why}")
        return []
    rows = []
    for path in sorted((ROOT / "bpfprogs").glob("*.o")):
        obj = load_object(str(path))
        for prog in obj.programs:
            be = both_edges(prog)
            ours = min((check_program(obj, be) for _ in range(3)), key=lambda v: v.stats.time_s)
            times = []
            for _ in range(3):
                accepted, res = verdict_both_edges(obj, prog, "r10")
                times.append(res.verification_time_us or 0)
            kern_us = min(times)
            rows.append({"object": path.name, "program": prog.name,
                         "ours_insns": ours.stats.insns_processed,
                         "ours_us": round(ours.stats.time_s * 1e6, 1),
                         "ours_insns_per_s": int(ours.stats.insns_processed /
                                                 max(ours.stats.time_s, 1e-9)),
                         "kernel_insns": res.insns_processed, "kernel_us": kern_us,
                         "ratio_ours_to_kernel": round(ours.stats.time_s * 1e6 /
                                                       max(kern_us, 1), 1),
                         "same_verdict": accepted == ours.accepted})
    tot_ours = sum(r["ours_us"] for r in rows)
    tot_k = sum(r["kernel_us"] for r in rows)
    print(f"bundled programs: ours {tot_ours / 1000:.1f} ms vs kernel {tot_k / 1000:.2f} ms "
          f"(ratio {tot_ours / max(tot_k, 1):.0f}x); verdicts agree on "
          f"{sum(r['same_verdict'] for r in rows)}/{len(rows)}")
    return rows


def main() -> None:
    doc = {"keys_scaling": keys_scaling(), "kernel": kernel_ratio()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
