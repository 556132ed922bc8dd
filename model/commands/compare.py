"""``skv compare A.json B.json``: two ``skv check --json`` runs side by side, in the manner
of ``veristat -C``: per object and program each run's verdict, processed instructions and
time, and the difference (``+N (+P.PP%)``); a changed verdict is ``MISMATCH``. ``--csv``
prints the same as CSV. Exit status 0 when every verdict matches, 1 when some changed,
2 bad input (a file that is not a ``check --json`` document)."""

from __future__ import annotations

import csv
import sys

from model.commands.common import table
from model.inputs import read_json_object
from model.report.tabular import COMPARE_SCHEMA, compare


def add_arguments(p) -> None:
    p.add_argument("a", metavar="A.json", help="the first run (skv check --json)")
    p.add_argument("b", metavar="B.json", help="the second run (skv check --json)")
    p.add_argument("--csv", action="store_true", help="print CSV")


def run(args) -> int:
    docs = [read_json_object(p, "a skv check --json document", COMPARE_SCHEMA)
            for p in (args.a, args.b)]
    head, lines, changed = compare(docs[0]["programs"], docs[1]["programs"])
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(head)
        w.writerows(lines)
    else:
        print(table(lines, head))
        print(f"\n{len(lines)} program(s), {changed} verdict change(s)")
    return 1 if changed else 0
