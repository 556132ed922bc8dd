"""``skv check`` rows as veristat prints them: ``--csv`` with veristat's column names, and
``skv compare A.json B.json``, two ``check --json`` runs side by side in the manner of
``veristat -C`` (per object and program: each side's value and the difference, verdict
changes flagged).

veristat's columns (its ``stat_defs`` table): ``File``, ``Program``, ``Verdict``
(``success``/``failure``), ``Duration (us)``, ``Insns`` (instructions processed),
``States`` (total), ``Peak states``. skv's own columns follow them: its verdict word, the
first error, the M0/M1/M2 safety, and with ``--kernel`` the kernel's verdict, processed
instructions and time, and whether the two agree.
"""

from __future__ import annotations

import csv
import io

VERISTAT_COLUMNS = ["File", "Program", "Verdict", "Duration (us)", "Insns", "States",
                    "Peak states"]
SKV_COLUMNS = ["skv verdict", "First error", "M0", "M1", "M2"]
KERNEL_COLUMNS = ["Kernel verdict", "Kernel insns", "Kernel duration (us)", "Kernel agrees"]

# the compare input: what a ``check --json`` document must hold to be compared
COMPARE_SCHEMA = {
    "type": "object",
    "required": ["programs"],
    "properties": {"programs": {"type": "array", "maxItems": 1_000_000, "items": {
        "type": "object",
        "required": ["object", "program", "verdict"],
        "properties": {
            "object": {"type": "string"},
            "program": {"type": ["string", "null"]},
            "verdict": {"enum": ["accepted", "rejected", "error"]},
            "stats": {"type": ["object", "null"], "properties": {
                "insns_processed": {"type": "integer", "minimum": 0},
                "states": {"type": "integer", "minimum": 0},
                "peak_states": {"type": "integer", "minimum": 0},
                "time_s": {"type": "number", "minimum": 0},
                "cpu_s": {"type": "number", "minimum": 0}}},
        }}}},
}


def veristat_verdict(verdict: str) -> str:
    return "success" if verdict == "accepted" else "failure"


def _stat(r: dict, key: str):
    st = r.get("stats")
    return "" if not st or st.get(key) is None else st[key]


def _us(seconds) -> str:
    return "" if seconds in ("", None) else str(round(seconds * 1e6))


def _safe(models: dict | None, m: str) -> str:
    v = ((models or {}).get(m) or {}).get("safe", "")
    return {True: "safe", False: "unsafe", None: "unknown"}.get(v, "")


def csv_text(rows: list[dict]) -> str:
    """One CSV line per row (header first); the kernel columns when any row has them."""
    kernel = any("kernel" in r for r in rows)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(VERISTAT_COLUMNS + SKV_COLUMNS + (KERNEL_COLUMNS if kernel else []))
    for r in rows:
        err = r.get("error") or {}
        line = [r["object"], r["program"] or "", veristat_verdict(r["verdict"]),
                _us(_stat(r, "time_s")), _stat(r, "insns_processed"), _stat(r, "states"),
                _stat(r, "peak_states"), r["verdict"], err.get("message", "").split("\n")[0],
                _safe(r.get("models"), "M0"), _safe(r.get("models"), "M1"),
                _safe(r.get("models"), "M2")]
        if kernel:
            k = r.get("kernel") or {}
            line += [k.get("verdict", ""), _blank(k.get("insns_processed")),
                     _blank(k.get("time_us")), kernel_agrees(k) if k else ""]
        w.writerow(line)
    return out.getvalue()


def _blank(v) -> str:
    return "" if v is None else str(v)


def kernel_agrees(k: dict) -> str:
    """``NO`` when the kernel disagrees with skv anywhere in a row's ``"kernel"`` part (the
    both-edges form or an M0 assignment), ``yes`` when it agrees on the both-edges form and
    nowhere disagrees, ``?`` when skv gave no answer to compare."""
    agree = [k.get("agrees")] + [m.get("agrees") for m in k.get("M0") or []]
    return "NO" if False in agree else ("yes" if agree[0] else "?")


def _diff(a, b) -> str:
    """veristat's difference cell: ``+N (+P.PP%)``."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    d = b - a
    pct = "+0.00%" if d == 0 else ("+inf%" if a == 0 else f"{100.0 * d / a:+.2f}%")
    return f"{d:+d} ({pct})" if isinstance(d, int) else f"{d:+.0f} ({pct})"


def compare(a_rows: list[dict], b_rows: list[dict]) -> tuple[list[str], list[list[str]], int]:
    """(header, lines, number of verdict changes). Rows are joined on (object, program), in
    A's order, then B's rows that A lacks; a program on one side only is a change."""
    key = lambda r: (r["object"], r["program"])  # noqa: E731
    a = {key(r): r for r in a_rows}
    b = {key(r): r for r in b_rows}
    order = list(a) + [k for k in b if k not in a]
    head = ["File", "Program", "Verdict (A)", "Verdict (B)", "Verdict (DIFF)",
            "Insns (A)", "Insns (B)", "Insns (DIFF)",
            "Duration (us) (A)", "Duration (us) (B)", "Duration (us) (DIFF)"]
    lines, changed = [], 0
    for k in order:
        ra, rb = a.get(k), b.get(k)
        va = ra["verdict"] if ra else "-"
        vb = rb["verdict"] if rb else "-"
        changed += va != vb
        ia, ib = (_stat(r, "insns_processed") if r else "" for r in (ra, rb))
        ta, tb = (_round_us(_stat(r, "time_s")) if r else "" for r in (ra, rb))
        lines.append([k[0], k[1] or "-", va, vb, "MATCH" if va == vb else "MISMATCH",
                      _cell(ia), _cell(ib), _diff(ia, ib), _cell(ta), _cell(tb), _diff(ta, tb)])
    return head, lines, changed


def _round_us(seconds):
    return "" if seconds == "" else round(seconds * 1e6)


def _cell(v) -> str:
    return "-" if v == "" else str(v)
