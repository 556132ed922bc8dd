"""The Z3 engine on the callback, timer, bpf_find_vma and dynptr probe programs of the tests
(tests/callback_probes.py, tests/timer_probes.py, tests/dynptr_probes.py): per probe set,
how many programs its exploration decides (explored completely: no unsafe execution, or
an unsafe execution found) and why it gives up on the others (``symbolic_follow``'s reason
classes), beside the abstract verifier's verdict: a program the engine finds unsafe while
the verifier accepts it would be a soundness bug (counted, must be 0).

``python -m bench.symbolic_callback_probes [--out JSON]`` (figures only, no kernel).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def probe_sets() -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from callback_probes import PROBES
    from dynptr_probes import ALL_PROBES
    from timer_probes import FIND_VMA_PROBES, TIMER_PROBES

    return {"callbacks": PROBES, "timers": TIMER_PROBES, "find_vma": FIND_VMA_PROBES,
            "dynptrs": ALL_PROBES}


def measure(probes, time_s: float = 10.0) -> dict:
    from bench.symbolic_follow import measure_program
    from model.verifier.checker import check_program

    out = Counter()
    reasons: Counter = Counter()
    for p in probes:
        obj, prog = p.model()
        row = measure_program(obj, prog, time_s)
        accepted = check_program(obj, prog).accepted
        out["programs"] += 1
        if "error" in row:
            reasons[f"program refused by the engine: {row['error'][:80]}"] += 1
        elif row["unsafe"]:
            out["unsafe found"] += 1
            out["unsafe found, verifier accepts (soundness bug)"] += accepted
        elif not row["exhausted"]:
            out["explored, no unsafe execution"] += 1
            out["explored safe, verifier rejects (its imprecision)"] += not accepted
        for r in set(row["exhausted"]) if not row["unsafe"] else ():
            reasons[r] += 1
        out["unknown"] += bool(row["exhausted"] or "error" in row) and not row["unsafe"]
    return {"summary": dict(out), "unknown_by_reason": dict(reasons)}


def main(argv: list[str], sets: dict | None = None) -> int:
    """Measure ``sets`` (name -> probes; default: :func:`probe_sets`)."""
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    sets = probe_sets() if sets is None else sets
    res = {name: measure(probes) for name, probes in sets.items()}
    text = json.dumps(res, indent=1)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
