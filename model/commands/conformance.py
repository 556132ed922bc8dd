"""``skv conformance``: run bpf_conformance ``.data`` files on the interpreter.

One line per file (``PASS add.data``, ``FAIL x.data: expected 0x3, got 0x4``,
``ERROR x.data: cause``), then ``N passed, M failed``; exit 1 if any file did not pass.
"""

from __future__ import annotations

import sys

from model.interp.machine import DEFAULT_BUDGET


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help=".data files, or directories of them")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help=f"instructions per program (default {DEFAULT_BUDGET})")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the files that fail")


def run(args) -> int:
    from model.conformance import run_all
    from model.errors import SkvError

    if args.budget < 1:
        raise SkvError("--budget must be at least 1")
    _, failed = run_all(args.paths, sys.stdout, budget=args.budget, quiet=args.quiet)
    return 1 if failed else 0
