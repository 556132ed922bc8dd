"""``skv check``: the static-keys-aware verifier's verdict for every program of every object:
both edges of every static site on every execution (safe under M2, hence under every key
assignment), with the kernel-style log of why a program is rejected.

With the symbolic engine (``model.symbolic``, skipped by ``--no-symbolic``) each program
also gets, per key model, whether it is safe ("models": M0 with the exact unsafe key
assignments as cubes, M1, M2), the smallest extra unsafety M1/M2 add, a counterexample
replayed in the interpreter (``--cex FILE`` writes the first one in ``skv run --replay``
format) and the cross-check with the verifier (``SOUNDNESS BUG`` when the verifier accepts
an unsafe program).

``--x86`` confirms each M0/M1/M2 counterexample on our JIT's x86 code (``model.e2e``: CPU 1
toggles the key with the int3 protocol for M1/M2); in ``--json`` the counterexample gains
``"x86": {"confirmed", "bpf_insn", "x86_address", "x86_insn", "model", "schedule", ...}``.
``--report DIR`` writes an HTML page per object plus ``DIR/index.html`` (``model.report``):
verdict table, unsafe conditions, M1/M2 extra unsafety, pictures (CFG with the path and the
observed site states, CPU 1/CPU 0 timeline; SVG and PNG files) and logs; it implies ``--x86``.
Neither changes the exit status.

``--kernel`` also loads each program into the running kernel (``model.runner.kernel_side``:
the both-edges form; ``--kernel=all`` each M0 key assignment as well) and shows the kernel's
verdict, processed instructions and verification time beside skv's (table, ``--json``
``"kernel"``, ``--csv``); every disagreement is a ``KERNEL DISAGREES`` line on stderr (the
exit status stays skv's). A program no loader can put to this kernel (its attach target,
e.g. ``fentry/F``, or a strong ``__ksym`` extern is not in the kernel) is bad input:
``skv: error: ...`` naming it, exit status 2.

``-j N`` checks the programs in N processes (default: the number of cores), ``--cluster
ADDRESS`` on a Dask cluster (``model.runner``); the output is the serial run's. ``--csv``
prints veristat's columns (``model.report.tabular``).

``--prog-flags`` verifies as if loaded with those BPF_PROG_LOAD flags (default none, as
libbpf loads): ``BPF_F_STRICT_ALIGNMENT`` makes packet and map value accesses checked for
alignment; each row's ``prog_flags`` says which were used.

Exit status: 0 every program accepted, 1 some rejected (by the verifier, or by an unsafe
execution the symbolic engine found), 3 an internal error in some program (its row has
verdict "error"; the other programs' rows are kept), 2 bad input (an object that does
not load is reported as verdict "error").
"""

from __future__ import annotations

import json
import sys

from model.commands.common import add_loader_args, table
from model.errors import SkvError
from model.inputs import show
from model.platform.prog_flags import parse_prog_flags


def add_arguments(p) -> None:
    p.add_argument("objects", nargs="+", metavar="OBJ", help="BPF ELF object file(s)")
    p.add_argument("--program", "-p", metavar="NAME", help="only this program")
    add_loader_args(p)
    p.add_argument("--log", action="store_true", help="print the verifier log of each program")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--budget", type=int, default=1_000_000, metavar="N",
                   help="processed-instruction budget (default: the kernel's 1000000)")
    p.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                   help="wall-clock limit per program in seconds (default 120)")
    p.add_argument("--no-symbolic", action="store_true",
                   help="skip the symbolic (Z3) key-model analysis")
    p.add_argument("--cex", metavar="FILE",
                   help="write the first counterexample found as a replay file (skv run --replay)")
    p.add_argument("--x86", action="store_true",
                   help="confirm each counterexample on the JIT'd x86 code (CPU 1 toggles)")
    p.add_argument("--via-int3", action="store_true",
                   help="with --x86, M2: CPU 0's fetch after a toggle hits the INT3 byte")
    p.add_argument("--prog-flags", metavar="FLAGS", default="",
                   help="BPF_PROG_LOAD flags to verify under: names (BPF_F_STRICT_ALIGNMENT,"
                        "BPF_F_ANY_ALIGNMENT; comma-separated) or a number; default none, "
                        "as libbpf loads")
    p.add_argument("--report", metavar="DIR",
                   help="write an HTML report (one page per object, index.html); implies --x86")
    p.add_argument("--csv", action="store_true",
                   help="print CSV with veristat's column names (File, Program, Verdict, "
                        "Duration (us), Insns, States, Peak states), then skv's own")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="check programs in N processes (default: the number of cores); "
                        "the output is the serial run's")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the checks on a Dask distributed cluster (scheduler address, "
                        "e.g. tcp://host:8786)")
    p.add_argument("--kernel", nargs="?", const="both-edges", choices=("both-edges", "all"),
                   help="also load each program into the running kernel (both-edges form; "
                        "=all: also each M0 key assignment) and show its verdict beside skv's")


def run(args) -> int:
    from model.runner import default_jobs, run_all
    from model.runner.checking import CheckOptions, check_item, plan

    try:
        flags = parse_prog_flags(getattr(args, "prog_flags", ""))
    except SkvError as e:
        print(f"skv: error: {e}", file=sys.stderr)
        return 2
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        print(f"skv: error: -j {jobs}: need at least 1 process", file=sys.stderr)
        return 2
    kernel = getattr(args, "kernel", None)
    if kernel:
        from model.kernel import available

        ok, why = available()
        if not ok:
            print(f"skv: error: --kernel: the kernel cannot be used: {why}", file=sys.stderr)
            return 2
    opts = CheckOptions(args.budget, args.time_limit, not getattr(args, "no_symbolic", False),
                        flags, kernel, getattr(args, "prog_type", None),
                        getattr(args, "btf", None))
    items = plan(args.objects, args.program, opts)
    results = run_all(check_item, items, jobs=jobs or default_jobs(),
                      cluster=getattr(args, "cluster", None), progress="skv check")
    rows = [r for rs in results for r in rs]
    for r in rows:
        if (r.get("symbolic") or {}).get("soundness_bug"):
            print(f"skv: SOUNDNESS BUG: the verifier accepts {r['object']} {r['program']} but "
                  f"Z3 found an unsafe execution", file=sys.stderr)
    if getattr(args, "cex", None):
        _write_cex(args.cex, rows)
    report = getattr(args, "report", None)
    if getattr(args, "x86", False) or report:
        _add_x86(rows, getattr(args, "via_int3", False))
    if report:
        from model.report.html import write_report

        pages = write_report(report, rows)
        print(f"report written to {pages[0]} ({len(pages) - 1} page(s))", file=sys.stderr)
    if args.json:
        doc = {"programs": [{k: v for k, v in r.items() if k != "log" or args.log}
                            for r in rows]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif getattr(args, "csv", False):
        from model.report.tabular import csv_text

        sys.stdout.write(csv_text(rows))
    else:
        print(table([[r["object"], r["program"] or "-", r["verdict"],
                      _error_text(r), _stat(r, "insns_processed"), _stat(r, "peak_states"),
                      _stat(r, "time_s")] + (_kernel_cells(r) if kernel else []) for r in rows],
                    ["object", "program", "verdict", "first error", "insns", "peak states",
                     "time s"] + (["kernel", "k insns", "k time s", "agree"] if kernel
                                  else [])))
        for r in rows:
            sym = r.get("symbolic")
            if sym:
                text = sym.get("summary") or sym.get("error")
                bug = "SOUNDNESS BUG: " if sym.get("soundness_bug") else ""
                print(f"{bug}{r['object']} {r['program']}: {text} "
                      f"[{sym.get('cross_check', 'error')}]")
            x86 = (r.get("counterexample") or {}).get("x86")
            if x86 and getattr(args, "x86", False):
                print(f"  x86 ({x86['model']}): " + _x86_text(x86))
        if args.log:
            for r in rows:
                print(f"\n== {r['object']} {r['program']}: {r['verdict']}")
                print("\n".join(r["log"]))
    if kernel:
        from model.runner.kernel_side import disagreements

        bad = [line for r in rows for line in disagreements(r)]
        for line in bad:
            print(f"skv: KERNEL DISAGREES: {line}", file=sys.stderr)
        print(f"kernel: {sum('kernel' in r for r in rows)} program(s) loaded, "
              f"{len(bad)} disagreement(s)", file=sys.stderr)
        unloadable = [r["kernel"]["error"] for r in rows
                      if (r.get("kernel") or {}).get("input_error")]
        for msg in unloadable:
            print(f"skv: error: {show(msg)}", file=sys.stderr)
        if unloadable:
            return 2
    if any(r["verdict"] == "error" for r in rows):
        for r in rows:
            if r["verdict"] == "error":
                kind = "" if r["error"].get("internal") else "error: "
                print(f"skv: {kind}{show(r['error']['message'])}", file=sys.stderr)
        return 3 if any((r["error"] or {}).get("internal") for r in rows) else 2
    return 0 if all(r["verdict"] == "accepted" for r in rows) else 1


def _write_cex(path: str, rows: list[dict]) -> None:
    import os

    from model.commands.common import load
    from model.symbolic.cex import write

    for r in rows:
        cx = r.get("counterexample")
        if cx:
            obj = load(r["object"])
            write(path, os.path.abspath(r["object"]), obj.program(r["program"]), cx)
            print(f"counterexample for {r['object']} {r['program']} written to {path}",
                  file=sys.stderr)
            return
    print("no counterexample to write", file=sys.stderr)


def _add_x86(rows: list[dict], via_int3: bool) -> None:
    from model.commands.common import load
    from model.report.x86 import confirm_any

    objs: dict = {}
    for r in rows:
        cx = r.get("counterexample")
        if not cx or cx.get("model") not in ("M0", "M1", "M2"):
            continue
        try:
            obj = objs.get(r["object"]) or objs.setdefault(r["object"], load(r["object"]))
            prog = obj.program(r["program"])
            cx["x86"] = confirm_any(obj, prog, cx, via_int3=via_int3)
        except Exception as e:  # noqa: BLE001 - the x86 run must never take the verdict down
            cx["x86"] = {"confirmed": False, "model": cx.get("model"), "bpf_insn": cx.get("pc"),
                         "x86_address": None, "error": f"{type(e).__name__}: {e}"}


def _x86_text(x86: dict) -> str:
    if x86.get("error"):
        return f"not confirmed: {x86['error']}"
    head = "CONFIRMED" if x86.get("confirmed") else "NOT confirmed"
    if x86.get("x86_address") is None:
        return f"{head}: BPF insn {x86.get('bpf_insn')}, no fault ({x86.get('status')})"
    return (f"{head}: BPF insn {x86.get('bpf_insn')} -> x86 {x86['x86_address']:#x}: "
            f"{x86.get('x86_insn')} ({x86.get('kind')}: {x86.get('reason')})")


def _error_text(r: dict) -> str:
    e = r["error"]
    if e is None:
        return "-"
    msg = e["message"].splitlines()[0]
    if len(msg) > 70:
        msg = msg[:67] + "..."
    return f"insn {e['insn']}: {msg}" if e["insn"] is not None else msg


def _kernel_cells(r: dict) -> list[str]:
    k = r.get("kernel")
    if not k:
        return ["-", "-", "-", "-"]
    t = "-" if k.get("time_us") is None else f"{k['time_us'] / 1e6:.6f}"
    from model.report.tabular import kernel_agrees

    return [k["verdict"], "-" if k.get("insns_processed") is None else str(k["insns_processed"]),
            t, kernel_agrees(k)]


def _stat(r: dict, key: str) -> str:
    return "-" if r["stats"] is None else str(r["stats"][key])
