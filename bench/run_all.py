"""Run every benchmark in bench/ (each writes its results under bench/results/)."""

from __future__ import annotations

import importlib

BENCHES = ["bench.load_cfg", "bench.differential", "bench.kernel_verdicts", "bench.verifier_keys",
           "bench.verifier_kernel", "bench.jit", "bench.symbolic", "bench.poke", "bench.fuzz"]


def main() -> None:
    for name in BENCHES:
        print(f"== {name}")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
