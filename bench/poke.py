"""Text-poke races: time per Z3 proof (every cell of ``proofs/poke_race.py``: protocol x site
size x fetch model x property, and the key scenarios), executor speed (fetch executions and
instructions per second) and 10,000 random schedules per (protocol, site size) group of the
quick table on the executor (no PROVED property violated). Results: bench/results/poke.json."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from model.x86 import executor as X
from model.x86 import fetch as fx
from model.x86 import race
from model.x86.poke import KEY_SCENARIOS, PROTOCOLS
from proofs import poke_race

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "poke.json"
SAMPLES = 10_000


def main() -> None:
    proofs = []
    t0 = time.perf_counter()
    for pr in PROTOCOLS:
        for sz, kinds in poke_race.SIZES.items():
            for m in fx.ALL_MODELS:
                if not poke_race.applicable(sz, m):
                    continue
                for p in fx.PROPERTIES:
                    for k in kinds:
                        r = race.search_fetch(pr, k, m, p)
                        proofs.append({"protocol": pr, "kind": k, "model": m.name, "property": p,
                                       "result": r.status, "s": round(r.seconds, 4)})
    for sc in KEY_SCENARIOS:
        r = race.search_key(sc)
        proofs.append({"key": sc.name, "result": r.status, "s": round(r.seconds, 4)})
    z3_total = time.perf_counter() - t0
    samples = []
    fetches = steps = 0
    ex_time = 0.0
    for pr in PROTOCOLS:
        for sz in poke_race.SIZES:
            models = [m for m in poke_race.QUICK_MODELS if poke_race.applicable(sz, m)]
            rng = random.Random(1)
            viol = 0
            t1 = time.perf_counter()
            for i in range(SAMPLES):
                m = models[i % len(models)]
                sc = fx.random_schedule(rng, pr, poke_race.SIZES[sz][i % 2], m)
                r = X.replay(sc)
                fetches += len(sc.fetches)
                steps += r.steps
                viol += any(r.violations[p] for p in fx.PROPERTIES
                            if poke_race.expected(pr, sz, m, p) == "PROVED")
            dt = time.perf_counter() - t1
            ex_time += dt
            samples.append({"protocol": pr, "size": sz, "schedules": SAMPLES,
                            "violations_of_proved": viol, "s": round(dt, 2)})
            print(f"  {pr:16} {sz}: {SAMPLES} schedules, {viol} violations of PROVED claims, "
                  f"{dt:.1f}s")
    times = sorted(p["s"] for p in proofs)
    out = {"z3": {"queries": len(proofs), "total_s": round(z3_total, 2),
                  "median_s": times[len(times) // 2], "max_s": times[-1],
                  "proved": sum(p["result"] == "PROVED" for p in proofs),
                  "counterexamples": sum(p["result"] == "COUNTEREXAMPLE" for p in proofs),
                  "other": sum(p["result"] not in ("PROVED", "COUNTEREXAMPLE") for p in proofs)},
           "executor": {"schedules": SAMPLES * len(samples), "fetches": fetches,
                        "instructions": steps, "seconds": round(ex_time, 2),
                        "fetches_per_s": int(fetches / ex_time),
                        "instructions_per_s": int(steps / ex_time),
                        "schedules_per_s": int(SAMPLES * len(samples) / ex_time)},
           "samples": samples, "proofs": proofs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("z3", "executor")}, indent=1))


if __name__ == "__main__":
    main()
