"""The x86-64 JIT model against the real Linux 6.18 JIT on 2,000 generated programs
(tests/progen.py, seeded), each loaded as a socket filter; the kernel's image is read back
(prog_jited) and compared byte for byte with ours, masking only absolute kernel addresses.
Two inputs: the kernel's xlated program (the JIT's real input) and our own program with
the verifier rewrites model.x86.xlate knows (differences classified as in tests/test_jit.py).
Also: our JIT time per program. Results: bench/results/jit.json.

``python -m bench.jit [N] [SEED]``; skipped (with the reason) without bpf(2).
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "jit.json"
N, SEED = 2_000, 20240602


def main(n: int = N, seed: int = SEED) -> dict | None:
    from model.isa import encode
    from model.kernel import VerifierRejected, available, load
    from model.program import Program
    from model.x86 import cpu_has_bmi2, jit_raw, jit_xlated, raws_of, same_image, xlated_raws
    from model.x86.xlate import xlate

    sys.path.insert(0, str(ROOT))
    from tests.progen import random_programs
    from tests.test_jit import classify

    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return None
    xl: collections.Counter = collections.Counter()
    direct: collections.Counter = collections.Counter()
    times, passes, sizes, rejected = [], collections.Counter(), [], 0
    for g in random_programs(seed, n):
        try:
            with load(encode(g.insns), "socket_filter", log_level=0) as p:
                kimg, kxl = p.jited(), p.xlated()
        except VerifierRejected:
            rejected += 1
            continue
        t0 = time.perf_counter()
        r = jit_xlated(kxl)
        times.append(time.perf_counter() - t0)
        passes[r.passes] += 1
        sizes.append(len(r.image))
        xl["identical" if same_image(r, kimg) else "jit-model"] += 1
        ours_in = xlate(raws_of(Program("g", "socket", g.insns)))
        direct[classify(ours_in, xlated_raws(kxl), same_image(jit_raw(ours_in), kimg))] += 1
    total = sum(xl.values())
    result = {
        "programs": n, "seed": seed, "compared": total, "rejected": rejected,
        "cpu_bmi2": cpu_has_bmi2(),
        "xlated_input": {"identical_share": xl["identical"] / total, "counts": dict(xl)},
        "program_input": {"identical_share": direct["identical"] / total,
                          "counts": dict(direct)},
        "jit_time_us": {"mean": 1e6 * statistics.mean(times),
                        "median": 1e6 * statistics.median(times), "max": 1e6 * max(times)},
        "image_bytes": {"mean": statistics.mean(sizes), "max": max(sizes)},
        "passes": {str(k): v for k, v in sorted(passes.items())},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
