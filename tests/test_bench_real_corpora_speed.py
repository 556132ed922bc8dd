"""bench/real_corpora_speed.py's summary of skv beside the kernel: only programs both
accept are compared, ratios and the slow programs come from the rows (no corpus needed)."""

from __future__ import annotations

from bench.real_corpora_speed import summarise, table


def _row(name: str, verdict: str, kverdict: str | None, skv_s: float, kus: int,
         insns: int, kinsns: int) -> dict:
    kernel = None if kverdict is None else {"verdict": kverdict, "time_us": kus,
                                            "insns_processed": kinsns}
    return {"object": "/x/o.o", "program": name, "verdict": verdict, "kernel": kernel,
            "stats": {"time_s": skv_s, "insns_processed": insns}}


def test_only_programs_both_accept_are_compared():
    rows = [_row("a", "accepted", "accepted", 0.5, 1000, 300, 200),
            _row("b", "accepted", "accepted", 12.0, 3000, 1000, 1000),
            _row("c", "rejected", "accepted", 1.0, 1000, 10, 10),   # a false reject
            _row("d", "accepted", None, 1.0, 0, 10, 10)]             # no kernel verdict
    s = summarise("corp", rows)
    assert (s["programs"], s["both_accept"]) == (4, 2)
    assert s["max_insns_ratio"] == 1.5 and s["over_1_5x_insns"] == 0
    assert s["median_time_ratio"] == (500.0 + 4000.0) / 2
    assert s["over_10s"] == ["o.o:b"] and s["max_skv_s"] == 12.0
    assert s["skv_insns_per_s"] == round(1300 / 12.5)
    text = table({"time_limit": 60.0, "corpora": [s]})
    assert "| corp | 4 | 2 |" in text and "over 10 s: o.o:b" in text


def test_empty_corpus_summarises():
    s = summarise("none", [])
    assert s["both_accept"] == 0 and s["median_time_ratio"] is None and s["over_10s"] == []


def test_kernel_accepts_skv_not_is_listed_with_its_cause():
    row = _row("c", "rejected", "accepted", 1.0, 1000, 10, 10)
    row["error"] = {"message": "time limit 60 s reached\nmore"}
    s = summarise("corp", [row, _row("a", "accepted", "accepted", 0.5, 1000, 300, 200)])
    assert s["kernel_accepts_skv_not"] == [{"object": "o.o", "program": "c",
                                           "verdict": "rejected",
                                           "cause": ["time limit 60 s reached"]}]
    s["measured"] = {"commit": "abc1234", "compiled": True, "utc": "2026-12-01 12:00",
                     "load": 1.5, "load_after": 2.0}
    text = table({"time_limit": 60.0, "note": "shared machine", "corpora": [s]})
    assert "shared machine" in text
    assert "abc1234 compiled, 2026-12-01 12:00, load 1.5-2.0" in text
    assert "o.o:c (time limit 60 s reached)" in text


def test_a_missing_corpus_is_one_usage_line_not_a_traceback(capsys):
    import pytest

    from bench.real_corpora_speed import main

    with pytest.raises(SystemExit) as e:
        main(["/nonexistent/corpus"])
    assert e.value.code == 2
    assert "not a directory: /nonexistent/corpus" in capsys.readouterr().err
