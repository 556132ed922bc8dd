"""The Z3 engine on the probe programs of the tests for map-in-map lookups, per-CPU
pointers and ``__ksym`` loads, typed helpers (seq_*, d_path, snprintf...), iterators,
references, socket casts and the context's flow keys / tracepoint buffer / netfilter
pointers (tests/maps_calls_probes.py, percpu_probes.py, typed_helper_probes.py,
iterator_probes.py, references_probes.py, test_sock_helpers.py, test_skb_prog_types.py):
per probe set, how many programs its exploration decides and why it gives up on the
others, beside the abstract verifier's verdict (``bench.symbolic_callback_probes.measure``:
an unsafe execution where the verifier accepts would be a soundness bug, counted).

``python -m bench.symbolic_misc_probes [--out JSON]`` (figures only, no kernel).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def probe_sets() -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from iterator_probes import probes as iterator_probes
    from maps_calls_probes import MAP_IN_MAP_PROBES
    from percpu_probes import ALL as PERCPU
    from references_probes import ALL_PROBES as REFS
    from soundness_probes import Probe
    from test_skb_prog_types import VERIFIER_ONLY_CASES
    from test_sock_helpers import PROBES as SOCK_CASTS
    from typed_helper_probes import (D_PATH_PROBES, FILE_PROBES, OUTPUT_PROBES,
                                     SNPRINTF_PROBES, STR_PROBES, TYPED_PROBES)

    return {"map_in_map": MAP_IN_MAP_PROBES, "percpu_ksym": PERCPU,
            "typed_helpers": TYPED_PROBES + STR_PROBES + FILE_PROBES + OUTPUT_PROBES
            + D_PATH_PROBES + SNPRINTF_PROBES,
            "iterators": iterator_probes(), "references": REFS, "socket_casts": SOCK_CASTS,
            "ctx_pointers": [Probe(n, pt, t + "\nr0 = 1\nexit\n")
                             for pt, n, t in VERIFIER_ONLY_CASES]}


def main(argv: list[str]) -> int:
    from bench.symbolic_callback_probes import main as measure_sets

    return measure_sets(argv, probe_sets())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
