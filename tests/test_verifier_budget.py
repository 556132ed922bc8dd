"""The verifier's budgets: the time limit holds within a second (preparation and the log
replay included) and the processed-instruction budget is counted as the kernel counts it
(``BPF program is too large. Processed N+1 insn``)."""

from __future__ import annotations

import re
import time

from bench.verifier_synth import infinite_loop, straight_line
from model.kernel import available
from model.verifier.checker import check_program


def test_time_limit_holds_within_a_second():
    for _, vp in (infinite_loop(), straight_line(60_000)):
        obj, prog = vp.model()
        for log in (False, True):
            t0 = time.perf_counter()
            v = check_program(obj, prog, log=log, time_limit=1.0)
            took = time.perf_counter() - t0
            assert took < 2.0, took
            if not v.accepted:
                assert "time limit" in v.error.message


def test_insn_budget_as_the_kernel_counts():
    _, vp = infinite_loop()
    obj, prog = vp.model()
    v = check_program(obj, prog, log=True, budget=20_000)
    assert not v.accepted
    assert v.error.message == "BPF program is too large. Processed 20001 insn"
    assert v.stats.insns_processed == 20_001
    ok, _ = available()
    if ok:  # the kernel's wording and count at its own budget of 1M
        k = vp.kernel_verify()
        assert not k.ok
        assert re.search(r"BPF program is too large. Processed 1000001 insn", k.log)
