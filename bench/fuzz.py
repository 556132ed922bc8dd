"""The command-line fuzzing campaign of ``tests/test_fuzz_cli.py`` at scale: damaged objects
through info/disasm/cfg/info --pipeline/check, damaged JSON through every file reader.
Results: bench/results/fuzz.json (counts per command and exit status, bugs found, the
slowest input, peak memory).

``python -m bench.fuzz [N_OBJECTS] [N_JSON] [SEED]`` (default 50,000 + 50,000).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fuzz.json"


def main(n_objects: int = 50_000, n_json: int = 50_000, seed: int = 1600) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from cli_fuzz import fuzz_json, fuzz_objects, peak_rss_mib
    from conftest import bundled_objects
    from test_fuzz_cli import valid_documents

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        objs = fuzz_objects(bundled_objects(), n_objects, seed, tmp)
        t1 = time.perf_counter()
        js = fuzz_json(valid_documents(tmp), n_json, seed, tmp)
    t2 = time.perf_counter()
    doc = {"objects": n_objects, "json_files": n_json, "seed": seed,
           "object_outcomes": dict(sorted(objs.counts.items())),
           "json_outcomes": dict(sorted(js.counts.items())),
           "bugs": [{"what": w, "argv": a, "message": m} for w, a, m in objs.bugs + js.bugs][:50],
           "bug_count": len(objs.bugs) + len(js.bugs),
           "slowest_input_s": round(max(objs.slowest_s, js.slowest_s), 3),
           "peak_rss_mib": round(peak_rss_mib()),
           "time_s": {"objects": round(t1 - t0, 1), "json": round(t2 - t1, 1)}}
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("objects", "json_files", "bug_count",
                                          "slowest_input_s", "peak_rss_mib", "time_s")}))
    return doc


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
