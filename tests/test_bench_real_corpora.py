"""bench/real_corpora.py's table against the kernel: counts, causes and agreement from
per-program rows (no corpus needed)."""

from __future__ import annotations

from bench.real_corpora import error_class, kernel_table, render


def _p(verdict: str, kernel: str, cls: str | None = None) -> dict:
    row = {"program": f"p{id(cls)}{verdict}{kernel}", "verdict": verdict, "kernel": kernel,
           "internal": False}
    if cls is not None:
        row["class"] = cls
    return row


def test_kernel_table_counts_and_causes():
    progs = [_p("accepted", "accept"), _p("accepted", "accept"),
             _p("rejected", "reject", "x"),
             _p("rejected", "accept", "time limit"), _p("rejected", "accept", "time limit"),
             _p("rejected", "accept", "not modelled: kfunc bpf_foo"),
             _p("accepted", "reject"),
             _p("rejected", "error: EPERM", "y")]  # no kernel verdict: not counted
    t = kernel_table(progs)
    assert (t["kernel_verdicts"], t["kernel_accept"], t["both_accept"], t["both_reject"],
            t["false_accepts"], t["false_rejects"]) == (7, 5, 2, 1, 1, 3)
    assert t["false_reject_causes"] == {"time limit": 2, "not modelled: kfunc bpf_foo": 1}
    assert t["agreement_pct"] == round(100 * 3 / 7, 1)
    assert len(t["false_accept_programs"]) == 1


def test_time_limit_is_one_cause_and_the_table_renders():
    assert error_class("prog: insn 5: verification time limit of 20 s exhausted") == "time limit"
    s = {"corpus": "c", "objects": 1, "loaded": 1, "programs": 1, "accepted": 1,
         "rejected": 0, "error": 0, "internal_errors": 0, "tracebacks": 0, "load_errors": {},
         "reject_classes": {}, "kernel_errors": {}, "agree": 1,
         "skv_accepts_kernel_rejects": 0, **kernel_table([_p("accepted", "accept")]),
         "_progs": [_p("accepted", "accept")]}
    text = render([s])
    assert "| c | 1 | 1 | 1 | 0 | 0 | 0 | 100.0 |" in text
