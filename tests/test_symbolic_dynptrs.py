"""The Z3 engine follows dynptrs (model/symbolic/dynptrs.py) and bpf_user_ringbuf_drain's
callback (model/symbolic/callbacks.py).

Programs with one static site (key ``k``), safe under one key state and unsafe under the
other: the M0 answer names the unsafe assignment, the kernel rejects the program
materialised under it (and accepts the other), and a ring buffer dynptr's counterexample
replays in the interpreter. The user ring buffer probes: decided where a callback stops the
drain or an unsafe execution exists, "unknown" (BOUND REACHED: any number of samples)
otherwise, never "safe" where the kernel refuses (the ``_ok`` names are checked against the
kernel in tests/test_dynptr.py)."""

from __future__ import annotations

import pytest

from dynptr_probes import (ARRAY, DRAIN_PROBES, OUT, RINGBUF, VALUE, data, from_mem,
                           release, reserve)
from model.symbolic import analyse_program
from model.verifier.checker import check_program
from soundness_probes import Probe
from test_symbolic_callbacks import SITE, unsafe_under_one_key_state

#: a write 8 bytes into an 8-byte slice with the key on
_SLICE_PAST_END = ("if r0 == 0 goto s\nr2 = 0\n" + SITE + "r2 = 8\nr0 += r2\nr1 = 7\n"
                   "*(u64 *)(r0 + 0) = r1\ns:\n")


@pytest.mark.parametrize("probe, confirmed", [
    # a ring buffer dynptr's slice written past its 8 bytes: past the reservation too
    (Probe("rd_slice_site", "xdp", reserve() + data() + _SLICE_PAST_END + release() + OUT,
           [RINGBUF, ARRAY]), True),
    # a local dynptr over a 16-byte map value, its 8-byte slice written at 8: the kernel's
    # slice rule (the value's bytes are there: no fault to replay)
    (Probe("ld_slice_site", "xdp", VALUE + from_mem() + data(-32)
           + _SLICE_PAST_END.replace("goto s", "goto out").replace("s:\n", "") + OUT,
           [RINGBUF, ARRAY]), False),
], ids=lambda p: getattr(p, "name", ""))
def test_dynptr_slice_unsafe_under_one_key_state(probe, confirmed):
    doc = unsafe_under_one_key_state(probe)
    assert doc["counterexample"]["confirmed"] is confirmed
    assert "mem_size=8" in doc["counterexample"]["reason"]


def test_dynptr_leak_when_the_key_is_off():
    """The submit is skipped with the key off: the reservation leaks (replayed)."""
    probe = Probe("rd_leak_site", "xdp", reserve() + SITE.replace("goto +1", "goto +4")
                  + release() + OUT, [RINGBUF, ARRAY])
    doc = unsafe_under_one_key_state(probe, on=False)
    assert doc["counterexample"]["confirmed"], doc["counterexample"]


@pytest.mark.parametrize("probe", DRAIN_PROBES, ids=lambda p: p.name)
def test_user_ringbuf_drain(probe):
    obj, prog = probe.model()
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    ok = probe.name.endswith("_ok")
    assert doc["cross_check"] != "SOUNDNESS BUG"
    safe = doc["models"]["M2"]["safe"]
    assert safe is not (not ok), (safe, doc["exhausted"])  # True only if ok, False only if not
    if safe is None:
        assert any("BOUND REACHED" in e for e in doc["exhausted"]), doc["exhausted"]


def test_drain_count_past_the_samples_explored():
    """A callback that leaves its caller as it was: the samples after the first need not be
    explored, and the helper may return any count up to BPF_MAX_USER_RINGBUF_SAMPLES --
    here past 1000, which the program turns into a read past its stack (real: a ring of
    1001 samples); with a callback counting into the caller's stack, no sample repeats the
    state: past the unroll bound, "unknown"."""
    from dynptr_probes import USER_RINGBUF, _DRAIN
    from callback_probes import CbProbe
    from model.symbolic.engine import Engine

    big = _DRAIN.replace("r0 = 0\nexit\ncb:\n", "if r0 < 1000 goto +2\nr1 = r10\n"
                         "r0 = *(u64 *)(r1 + 8)\nr0 = 0\nexit\ncb:\n")
    res = Engine(*CbProbe("drain_count", "xdp", big + "r0 = 0\nexit\n",
                          [USER_RINGBUF]).model()).run()
    assert any("stack" in f.reason for f in res.failures), (res.failures, res.exhausted)
    counting = _DRAIN.replace("r3 = 0\n", "r1 = 0\n*(u64 *)(r10 - 8) = r1\nr3 = r10\n"
                              "r3 += -8\nld_pseudo r1, 1, 0\n").replace("ld_pseudo r1, 1, 0\n",
                                                                       "", 1)
    doc = analyse_program(*CbProbe("drain_counting", "xdp", counting
                                   + "r1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\n"
                                   "r0 = 0\nexit\n", [USER_RINGBUF]).model())
    assert doc["models"]["M2"]["safe"] is None
    assert any("BOUND REACHED" in e for e in doc["exhausted"]), doc["exhausted"]
