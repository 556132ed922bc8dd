"""The ``skv prove`` driver: run every proof script and print one table.

A proof script is a module ``proofs/<name>.py`` that defines ``main()``. The runner starts
each as ``python -m proofs.<name> [--quick]`` (``--quick`` passed through when given) and
reads its result.

Summary convention (adopt it in new proof scripts): the *last* line a script prints on
stdout is

    SKV-PROOF-SUMMARY <json>

with ``<json>`` an object ``{"script": str, "ok": bool, "claims": [claim, ...]}``, each claim
``{"claim": str, "result": "PROVED" | "COUNTEREXAMPLE" | "BOUND REACHED" | "FAILED",
"expected": str | null, "ok": bool, "seconds": float, "detail": str}`` (``ok`` and
``expected`` may be left out: the claim is then ok when the script exits 0; ``time_s`` is
read as ``seconds``). ``result`` is what
the solver said (COUNTEREXAMPLE may be the expected result of a deliberately broken variant
or of an unsafe protocol); ``ok`` says whether it is the expected one. The script's exit
status must still be non-zero when any claim is not ok.

A script without the summary line is one row: PROVED when it exits 0, FAILED otherwise.
The runner exits 1 when any script exits non-zero, times out, or reports a claim not ok.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PREFIX = "SKV-PROOF-SUMMARY "
PROOFS = Path(__file__).resolve().parent


class ClaimLog:
    """Runs a proof script's claims: one printed line each (result, name, time, detail,
    ``<-- UNEXPECTED`` when the result is not the expected one), then ``finish()`` prints
    the count and the summary line and gives the exit status."""

    def __init__(self, script: str, width: int = 58):
        self.script, self.width = script, width
        self.claims: list[dict] = []
        self.failed = 0

    def __call__(self, name: str, fn, expect: str = "PROVED") -> tuple[str, str]:
        t0 = time.perf_counter()
        try:
            result, detail = fn()
        except Exception as e:  # report, keep going
            result, detail = "FAILED", f"{type(e).__name__}: {e}"
        dt = time.perf_counter() - t0
        ok = result == expect
        self.failed += not ok
        print(f"{result:14} {name:{self.width}} {dt:6.2f}s  {detail}"
              + ("" if ok else "  <-- UNEXPECTED"))
        self.claims.append({"claim": name, "result": result, "expected": expect, "ok": ok,
                            "seconds": round(dt, 3), "detail": detail})
        return result, detail

    def finish(self) -> int:
        print(f"{len(self.claims)} claims, {self.failed} unexpected")
        print(PREFIX + json.dumps({"script": self.script, "ok": not self.failed,
                                   "claims": self.claims}))
        return 1 if self.failed else 0


def scripts() -> list[str]:
    """Modules in proofs/ that define main() (found by text, without importing them)."""
    out = []
    for p in sorted(PROOFS.glob("*.py")):
        if p.stem in ("__init__", "runner"):
            continue
        if "\ndef main(" in p.read_text(errors="replace"):
            out.append(p.stem)
    return out


def parse_summary(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith(PREFIX):
            try:
                d = json.loads(line[len(PREFIX):])
                return d if isinstance(d, dict) and isinstance(d.get("claims"), list) else None
            except json.JSONDecodeError:
                return None
    return None


def run_script(name: str, quick: bool, timeout: float | None, extra=()) -> dict:
    cmd = [sys.executable, "-m", f"proofs.{name}"] + (["--quick"] if quick else []) + list(extra)
    t0 = time.monotonic()
    root = PROOFS.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root, env=env)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    dt = time.monotonic() - t0
    summ = parse_summary(out)
    rows = []
    if summ:
        for c in summ["claims"]:
            # a claim without "ok" is judged by the script's exit status (which must be
            # non-zero when a claim that should hold fails); "time_s" is accepted for seconds
            ok = c["ok"] if "ok" in c else rc == 0
            secs = c.get("seconds", c.get("time_s", 0.0))
            rows.append({"claim": str(c.get("claim", "?")), "result": str(c.get("result", "FAILED")),
                         "ok": bool(ok), "seconds": float(secs or 0.0),
                         "detail": str(c.get("detail", ""))})
    else:
        res = "PROVED" if rc == 0 else ("BOUND REACHED" if rc is None else "FAILED")
        tail = (err.strip().splitlines() or [""])[-1] if rc else ""
        rows.append({"claim": "(exit status)", "result": res, "ok": rc == 0, "seconds": dt,
                     "detail": "timeout" if rc is None else tail})
    ok = rc == 0 and all(r["ok"] for r in rows)
    return {"script": name, "rc": rc, "ok": ok, "seconds": dt, "rows": rows}


def run(quick: bool = False, only: str | None = None, timeout: float | None = None,
        out=None, jobs: int = 1, cluster: str | None = None) -> int:
    """``jobs`` > 1: that many scripts at once (a process pool); ``cluster``: on a Dask
    cluster (``model.runner``). The table is the serial run's whatever finishes first."""
    import functools

    from model.runner import progress_bar, run_all

    out = sys.stdout if out is None else out  # looked up now, not at import time
    names = [n for n in scripts() if not only or only in n]
    bad = 0
    print(f"{'script':18} {'claim':48} {'result':15} {'time':>8}", file=out)
    one = functools.partial(run_script, quick=quick, timeout=timeout)
    if jobs > 1 or cluster:
        results = iter(run_all(one, names, jobs=jobs, cluster=cluster, progress="skv prove"))
        bar = None
    else:  # one at a time, each script's rows printed as soon as it ends
        results = (one(n) for n in names)
        bar = progress_bar(len(names), "skv prove")
    for n, r in zip(names, results):
        for row in r["rows"]:
            mark = "" if row["ok"] else "  <-- UNEXPECTED"
            print(f"{n:18} {row['claim'][:48]:48} {row['result']:15} {row['seconds']:7.2f}s{mark}",
                  file=out)
        if not r["ok"]:
            bad += 1
            if r["rc"] not in (0, 1):
                print(f"{n:18} exit status {r['rc']}", file=out)
        print(f"{n:18} {'(script total)':48} {'ok' if r['ok'] else 'FAILED':15} "
              f"{r['seconds']:7.2f}s", file=out)
        out.flush()
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    print(f"{len(names)} scripts, {bad} failed", file=out)
    return 1 if bad else 0


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Run every proofs/*.py script")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=None)
    p.add_argument("--timeout", type=float, default=None, help="seconds per script")
    a = p.parse_args(argv)
    return run(a.quick, a.only, a.timeout)


if __name__ == "__main__":
    sys.exit(main())
