"""``skv check -j N`` and ``skv prove -j N`` give the serial run's results (same rows, same
order; timing fields aside); ``--csv`` loads with Python's csv module under veristat's
column names; ``skv compare`` of two runs prints the differences and flags verdict changes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import BPFPROGS
from model.cli import main
from model.runner import run_all
from model.runner.checking import CheckOptions, plan, without_timing

OBJECTS = [str(p) for p in sorted(BPFPROGS.glob("*.o"))]


def _check_json(capsys, *argv) -> dict:
    rc = main(["check", "--json", *argv])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    return json.loads(out)


@pytest.fixture(scope="module")
def serial_doc():
    """The serial run over every bundled object (module-scoped: several tests use it)."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["check", "--json", "-j", "1", *OBJECTS])
    assert rc == 1                                  # bpfprogs/ holds unsafe programs
    return json.loads(buf.getvalue())


def test_check_j2_equals_serial(capsys, serial_doc):
    par = _check_json(capsys, "-j", "2", *OBJECTS)
    assert without_timing(par) == without_timing(serial_doc)
    rows = [(r["object"], r["program"]) for r in serial_doc["programs"]]
    want = [(i.path, i.program) for i in plan(OBJECTS, None, CheckOptions())]
    assert rows == want and len(rows) > len(OBJECTS)   # one row per program, in plan order
    assert {r["verdict"] for r in serial_doc["programs"]} == {"accepted", "rejected"}


def test_parallel_keeps_a_broken_objects_row_in_place(capsys, tmp_path):
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF not really")
    objs = [OBJECTS[0], str(bad), OBJECTS[1]]
    docs = [_check_json_rc(capsys, "-j", j, "--no-symbolic", *objs) for j in ("1", "2")]
    assert without_timing(docs[0]) == without_timing(docs[1])
    assert [r["verdict"] for r in docs[0]["programs"]][1] == "error"


def _check_json_rc(capsys, *argv) -> dict:
    rc = main(["check", "--json", *argv])
    assert rc == 2                                   # the broken object
    return json.loads(capsys.readouterr().out)


def test_run_all_orders_results_as_items():
    items = list(range(12))
    assert run_all(_slow_square, items, jobs=2) == [i * i for i in items]
    assert run_all(_slow_square, items, jobs=1) == [i * i for i in items]


def _slow_square(i: int) -> int:
    import time

    time.sleep(0.02 * (12 - i))                     # the first items finish last
    return i * i


def test_bad_job_count(capsys):
    assert main(["check", "-j", "0", OBJECTS[0]]) == 2
    assert "-j 0" in capsys.readouterr().err


def test_prove_j2_equals_serial(monkeypatch):
    import proofs.runner as runner

    monkeypatch.setattr(runner, "scripts", lambda: ["pipeline", "both_edges"])
    outs = []
    for jobs in (1, 2):
        buf = io.StringIO()
        assert runner.run(quick=True, out=buf, jobs=jobs) == 0
        # the table without the time column
        outs.append([line[:83].rstrip() for line in buf.getvalue().splitlines()])
    assert outs[0] == outs[1]
    assert sum("(script total)" in line for line in outs[0]) == 2


# -- CSV and compare --------------------------------------------------------------------------
def test_csv_has_veristat_columns_and_loads(capsys, serial_doc):
    rc = main(["check", "--csv", "-j", "1", *OBJECTS])
    assert rc == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for col in ("File", "Program", "Verdict", "Duration (us)", "Insns", "States",
                "Peak states"):
        assert col in rows[0], col
    assert len(rows) == len(serial_doc["programs"])
    for row, r in zip(rows, serial_doc["programs"]):
        assert (row["File"], row["Program"]) == (r["object"], r["program"])
        assert row["Verdict"] == ("success" if r["verdict"] == "accepted" else "failure")
        assert int(row["Insns"]) == r["stats"]["insns_processed"]
        assert int(row["Peak states"]) == r["stats"]["peak_states"]
        assert int(row["States"]) == r["stats"]["states"]
        assert int(row["Duration (us)"]) >= 0 and row["skv verdict"] == r["verdict"]


def test_compare_flags_verdict_changes(capsys, tmp_path, serial_doc):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(serial_doc))
    changed = json.loads(json.dumps(serial_doc))
    first = changed["programs"][0]
    first["verdict"] = "rejected" if first["verdict"] == "accepted" else "accepted"
    first["stats"]["insns_processed"] += 10
    dropped = changed["programs"].pop()
    b.write_text(json.dumps(changed))
    assert main(["compare", str(a), str(a)]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and "0 verdict change(s)" in out
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "2 verdict change(s)" in out
    row = next(line for line in lines if first["program"] in line.split())
    assert "MISMATCH" in row and "+10 (" in row
    gone = next(line for line in lines if dropped["program"] in line.split())
    assert "MISMATCH" in gone
    assert main(["compare", "--csv", str(a), str(b)]) == 1
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sum(r["Verdict (DIFF)"] == "MISMATCH" for r in rows) == 2
    assert {"Verdict (A)", "Verdict (B)", "Insns (DIFF)", "Duration (us) (DIFF)"} <= set(rows[0])


def test_compare_rejects_a_file_that_is_not_a_check_run(capsys, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"programs": [{"object": "a"}]}))
    assert main(["compare", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "x.json" in err and len(err.strip().splitlines()) == 1


def test_progress_is_silent_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    import sys

    from model.runner import progress_bar

    assert run_all(_slow_square, [1, 2], jobs=1, progress="squares") == [1, 4]
    assert capsys.readouterr().err == ""             # pytest's stderr is not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with progress_bar(2, "squares") as bar:
        assert not bar.disable                       # on a terminal: a tqdm bar
    with progress_bar(2, None) as bar:
        assert bar.disable                           # no label: no bar
