"""Run every benchmark in bench/ (each writes its results under bench/results/).

Not run here: ``bench.real_corpora DIR...`` (needs corpora fetched and built outside the
repository) and ``bench.mutation`` (tens of minutes: one test run per mutant)."""

from __future__ import annotations

import importlib

BENCHES = ["bench.load_cfg", "bench.differential", "bench.kernel_verdicts", "bench.verifier_keys",
           "bench.verifier_kernel", "bench.jit", "bench.symbolic", "bench.poke", "bench.fuzz",
           "bench.parallel", "bench.rule_surface", "bench.verifier_speed"]


def main() -> None:
    from model.runner import progress_bar

    with progress_bar(len(BENCHES), "skv bench") as bar:   # on stderr, only on a terminal
        for name in BENCHES:
            bar.set_postfix_str(name)
            print(f"== {name}")
            importlib.import_module(name).main()
            bar.update()


if __name__ == "__main__":
    main()
