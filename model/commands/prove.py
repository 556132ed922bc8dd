"""``skv prove``: run every proof script in ``proofs/`` (Z3) and print one table of claims
(PROVED / COUNTEREXAMPLE / BOUND REACHED / FAILED, time). Exit status 1 when any script fails
or any claim is not its expected result. The summary convention is in ``proofs/runner.py``."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="pass --quick to every script")
    p.add_argument("--only", metavar="TEXT", help="only scripts whose name contains TEXT")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds per script")


def run(args) -> int:
    from proofs.runner import run as run_all

    return run_all(args.quick, args.only, args.timeout)
