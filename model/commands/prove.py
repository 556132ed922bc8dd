"""``skv prove``: run every proof script in ``proofs/`` (Z3) and print one table of claims
(PROVED / COUNTEREXAMPLE / BOUND REACHED / FAILED, time), ``-j N`` scripts at once or on a
Dask cluster (``--cluster``), the table always in the serial run's order. Exit status 1 when any script fails
or any claim is not its expected result. The summary convention is in ``proofs/runner.py``."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="pass --quick to every script")
    p.add_argument("--only", metavar="TEXT", help="only scripts whose name contains TEXT")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds per script")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="run N scripts at once (processes; default: the number of cores); "
                        "the table is the serial run's")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the scripts on a Dask distributed cluster (scheduler address)")


def run(args) -> int:
    import sys

    from model.runner import default_jobs
    from proofs.runner import run as run_proofs

    if args.jobs is not None and args.jobs < 1:
        print(f"skv: error: -j {args.jobs}: need at least 1 process", file=sys.stderr)
        return 2
    return run_proofs(args.quick, args.only, args.timeout,
                      jobs=args.jobs or default_jobs(), cluster=args.cluster)
