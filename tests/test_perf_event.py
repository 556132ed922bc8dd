"""perf_event programs: the context is ``struct bpf_perf_event_data`` (pt_regs, then
sample_period and addr), read-only; the helpers are pe_prog_func_proto's (the tracing set,
get_stackid / get_stack on the context, perf_prog_read_value, read_branch_records). The
context sweeps of tests/test_soundness_ctx.py and the helper matrix of
tests/test_helper_table.py cover the type too; these probes run whole programs."""

from __future__ import annotations

import pytest

from model.kernel import available
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
END = "r0 = 0\nexit\n"
STACK_TRACE = (7, 4, 64, 4, 0)
PERF_ARRAY = (4, 4, 4, 1, 0)


def _pe(name: str, text: str, maps=()) -> Probe:
    return Probe(name, "perf_event", text + END, list(maps))


PROBES = [
    _pe("ip_ok", "r2 = *(u64 *)(r1 + 128)\n"),
    _pe("ip_narrow", "r2 = *(u32 *)(r1 + 128)\n"),
    _pe("sample_period_narrow_ok", "r2 = *(u32 *)(r1 + 172)\nr3 = *(u8 *)(r1 + 183)\n"),
    _pe("past_addr", "r2 = *(u64 *)(r1 + 184)\n"),
    _pe("write_addr", "r2 = 0\n*(u64 *)(r1 + 176) = r2\n"),
    _pe("stackid_ok", "ld_pseudo r2, 1, 0\nr3 = 0\ncall 27\n", [STACK_TRACE]),
    _pe("get_stack_ok", "r2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall 67\n"),
    _pe("read_value_ok", "r2 = r10\nr2 += -24\nr3 = 24\ncall 56\n"),
    _pe("read_value_past_frame", "r2 = r10\nr2 += -16\nr3 = 24\ncall 56\n"),
    _pe("branch_records_null_ok", "r2 = 0\nr3 = 0\nr4 = 1\ncall 119\n"),
    _pe("output_ok", "r6 = r1\n*(u64 *)(r10 - 8) = r6\nr1 = r6\nld_pseudo r2, 1, 0\n"
        "r3 = 0xffffffff ll\nr4 = r10\nr4 += -8\nr5 = 8\ncall 25\n", [PERF_ARRAY]),
    _pe("func_ip", "call 173\n"),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_perf_event_probe_against_kernel(probe):
    assert_same_verdict(probe)
