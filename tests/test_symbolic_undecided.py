"""A Z3 query the engine cannot decide in time is no evidence: it keeps both edges of a
branch explored and exhausts the budget, but records no unsafe execution, so every model
is "unknown" (never "unsafe", and no SOUNDNESS BUG against an accepting verifier).

Seen on bpfprogs/datapath/datapath.o's dp_tc_egress on a loaded machine: with 60 s, an
assertion query timed out, became a "failure", and the row read "M2 unsafe ... SOUNDNESS
BUG" with no counterexample (with 200 s the analysis completes: safe under every model)."""

from __future__ import annotations

import z3

from conftest import BPFPROGS
from model.elf.loader import load_object
from model.symbolic import analyse_program, summary


def test_undecided_queries_give_unknown_not_unsafe(monkeypatch):
    obj = load_object(str(BPFPROGS / "xdp_keys.o"))
    prog = obj.program("xdp_filter")
    monkeypatch.setattr(z3.Solver, "check", lambda self, *a: z3.unknown)
    doc = analyse_program(obj, prog)
    assert "Z3 query timeout" in doc["exhausted"] and not doc["complete"]
    assert all(doc["models"][m]["safe"] is None for m in ("M0", "M1", "M2"))
    assert doc["models"]["M0"]["unsafe_when"] == [] and doc["counterexample"] is None
    assert doc["cross_check"] == "verifier accepts; BOUND REACHED"
    # the verifier accepts the both-edges program: safe by the kernel's rules alone
    assert all(doc["models"][m]["rules_safe"] for m in ("M0", "M1", "M2"))
    assert summary(doc).startswith("M0 safe by the verifier alone; M1 safe by the verifier "
                                   "alone; M2 safe by the verifier alone")


def test_decided_queries_still_find_the_unsafe_execution():
    obj = load_object(str(BPFPROGS / "unsafe_on_oob.o"))
    doc = analyse_program(obj, obj.program("oob_on"))
    assert doc["complete"] and doc["models"]["M2"]["safe"] is False
    assert doc["models"]["M0"]["unsafe_when"] == [{"oob_key": 1}]
    assert doc["counterexample"]["confirmed"]
