"""The speed-up of ``skv check -j 2`` over a serial run on the bundled corpus
(``bpfprogs/*.o``, verifier + symbolic engine, one task per program), and that both give
the same rows (timing fields aside). Wall time is the best of ``REPEAT`` runs each, the
worker pool's start-up included (as ``skv check -j 2`` pays it).

Results: bench/results/parallel.json. ``python -m bench.parallel``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "parallel.json"
REPEAT = 3


def _timed(items, jobs: int):
    from model.runner import run_all
    from model.runner.checking import check_item

    t0 = time.perf_counter()
    rows = [r for rs in run_all(check_item, items, jobs=jobs) for r in rs]
    return time.perf_counter() - t0, rows


def main() -> dict:
    from model.runner import default_jobs
    from model.runner.checking import CheckOptions, plan, without_timing

    objects = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "bpfprogs").glob("*.o"))
    items = plan(objects, None, CheckOptions())
    walls: dict[int, list[float]] = {1: [], 2: []}
    same = True
    for _ in range(REPEAT):
        results = {}
        for jobs in (1, 2):
            wall, rows = _timed(items, jobs)
            walls[jobs].append(wall)
            results[jobs] = without_timing(rows)
        same = same and results[1] == results[2]
    serial, par = min(walls[1]), min(walls[2])
    doc = {"objects": len(objects), "programs": len(items), "cores": default_jobs(),
           "load_average": list(os.getloadavg()), "repeat": REPEAT,
           "serial_s": round(serial, 3), "j2_s": round(par, 3),
           "speedup_j2": round(serial / par, 2), "identical_results": same,
           "all_walls_s": {str(k): [round(w, 3) for w in v] for k, v in walls.items()}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    main()
