"""``skv check --kernel``: the running kernel's verdict beside skv's; on the bundled
programs they agree everywhere (the both-edges form, and with ``--kernel=all`` each M0
key assignment). A disagreement is flagged."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import BPFPROGS
from model.cli import main
from model.kernel import available
from model.runner.kernel_side import disagreements

OK, WHY = available()
pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not OK, reason=f"bpf(2) is not usable here: {WHY}")]
OBJECTS = [str(p) for p in sorted(BPFPROGS.glob("*.o"))]


@pytest.fixture(scope="module")
def doc():
    import contextlib

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = main(["check", "--json", "--kernel=all", *OBJECTS])
    assert rc == 1
    return json.loads(buf.getvalue()), err.getvalue()


def test_kernel_agrees_on_every_bundled_program(doc):
    d, err = doc
    rows = d["programs"]
    assert len(rows) > len(OBJECTS)
    verdicts = set()
    for r in rows:
        k = r["kernel"]
        assert k["form"].startswith("both-edges")
        assert k["verdict"] == r["verdict"], (r["object"], r["program"], k)
        assert k["agrees"] is True and k["insns_processed"] > 0 and k["time_us"] is not None
        assert k["M0"] and all(m["agrees"] is True for m in k["M0"]), (r["program"], k["M0"])
        assert not disagreements(r)
        verdicts.add(k["verdict"])
    assert verdicts == {"accepted", "rejected"}
    # an M0-unsafe program: the kernel rejects exactly skv's unsafe assignments
    off = next(r for r in rows if r["program"] == "null_off")
    assert {m["verdict"] for m in off["kernel"]["M0"]} == {"accepted", "rejected"}
    assert "0 disagreement(s)" in err and "KERNEL DISAGREES" not in err


def test_disagreement_is_flagged():
    row = {"object": "x.o", "program": "p", "verdict": "accepted",
           "kernel": {"form": "both-edges (r10)", "verdict": "rejected", "error": "R0 !read_ok",
                      "agrees": False,
                      "M0": [{"assignment": {"k": 0}, "skv": "safe", "verdict": "rejected",
                              "error": "R0 !read_ok", "agrees": False}]}}
    lines = disagreements(row)
    assert len(lines) == 2 and "kernel rejected" in lines[0] and "[k=0]" in lines[1]


def test_table_and_csv_show_the_kernel_beside_skv(capsys):
    obj = str(BPFPROGS / "unsafe_off.o")
    assert main(["check", "--kernel", "--no-symbolic", obj]) == 1
    out, err = capsys.readouterr()
    head = out.splitlines()[0].split()
    assert "kernel" in head and "agree" in head
    assert "rejected" in out.splitlines()[2] and out.splitlines()[2].split()[-1] == "yes"
    assert main(["check", "--kernel", "--csv", "--no-symbolic", obj]) == 1
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["Kernel verdict"] == "rejected" and row["Kernel agrees"] == "yes"
    assert int(row["Kernel insns"]) > 0
