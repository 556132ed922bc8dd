"""do_refine_retval_range: the integer bpf_probe_read_{,kernel_,user_}str and
bpf_get_{,task_}stack return is at most their size argument's largest value and at least
-MAX_ERRNO (model.platform.proto_kinds.RET_WITHIN_SIZE). tracee adds it to a buffer
offset (vfs_writev_magic_return's path building: ``buf_off -= sz - 1``): without the bound
skv explored branches the kernel knows are dead. Each probe is judged by the running
kernel; skv's verifier and its Z3 engine must give the kernel's verdict (the Z3 engine
returns a value in the same range: what the helper does at run time)."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.verifier.calls import within_size
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
OUT = "out:\nr0 = 0\nexit\n"


def _str_probe(name: str, size: str, k: int, checked: bool = True, helper: int = 115) -> Probe:
    """r8 = the size (``size``: code); r0 = helper(fp-72, r8, ...); if r0 s< 0 goto out (``checked``); a byte stored at
    fp-72 + r0 + ``k``: within the stack when r0 <= the size's largest value."""
    if helper == 67:  # bpf_get_stack(ctx, buf, size, flags)
        call = "r3 = r8\nr1 = r6\nr2 = r10\nr2 += -72\nr4 = 0\ncall 67\n"
    else:  # bpf_probe_read_*_str(dst, size, unsafe_ptr)
        call = f"r2 = r8\nr1 = r10\nr1 += -72\nr3 = 0\ncall {helper}\n"
    text = ("r6 = r1\n" + size + call + ("if r0 s< 0 goto out\n" if checked else "")
            + f"r2 = r10\nr2 += -72\nr2 += r0\nr1 = 0\n*(u8 *)(r2 + {k}) = r1\n" + OUT)
    return Probe(name, "kprobe", text)


SIZE = "r8 = {n}\n"
VAR_SIZE = "call 7\nr8 = r0\nr8 &= 63\n"
PROBES = [
    _str_probe("kernel_str_64_ok", SIZE.format(n=64), 7),
    _str_probe("kernel_str_65", SIZE.format(n=65), 7),  # the end of the stack: fp+0
    _str_probe("kernel_str_unchecked", SIZE.format(n=64), 7, checked=False),  # r0 < 0
    _str_probe("user_str_64_ok", SIZE.format(n=64), 7, helper=114),
    _str_probe("user_str_65", SIZE.format(n=65), 7, helper=114),
    # a size known by its range: its largest value bounds r0
    _str_probe("kernel_str_var_ok", VAR_SIZE, 8),
    _str_probe("kernel_str_var_past", VAR_SIZE, 9),
    _str_probe("get_stack_64_ok", SIZE.format(n=64), 7, helper=67),
    _str_probe("get_stack_65", SIZE.format(n=65), 7, helper=67),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_refined_return_against_kernel(probe):
    assert_same_verdict(probe)


def test_within_size_is_the_kernels_range():
    s = within_size(31)
    assert (s.smin_s, s.smax_s, s.s32_min_s, s.s32_max_s) == (-4095, 31, -4095, 31)
    assert (s.umin, s.umax) == (0, 2**64 - 1)
