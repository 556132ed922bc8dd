"""bpf_find_vma: the abstract verifier against the running kernel on probe programs
(tests/timer_probes.py: a task_struct pointer from bpf_get_current_task_btf, the callback
getting (task, vma, callback_ctx) and returning 0 or 1), and the Z3 engine deciding them
("safe" exactly where the kernel accepts)."""

from __future__ import annotations

import pytest

from conftest import CLANG
from model.kernel import available
from model.verifier.checker import check_program
from timer_probes import FIND_VMA_PROBES, assert_like_kernel

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
#: kernel rejections skv words differently (both reject): skv's reason
WORDED = {
}


def by_name(name: str):
    return next(p for p in FIND_VMA_PROBES if p.name == name)


@needs_kernel
@pytest.mark.parametrize("probe", FIND_VMA_PROBES, ids=lambda p: p.name)
def test_find_vma_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict and (but for WORDED) the
    kernel's words."""
    assert_like_kernel(probe, WORDED)


@pytest.mark.parametrize("name,message", [
    ("vma_ok", None),
    ("vma_ret2", "At callback return the register R0 has smin=2 smax=2 should have been in "
                 "[0, 1]"),
    ("vma_cb_writes_vma", "only read is supported"),
    ("vma_task_scalar", "R1 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_"),
    ("vma_cb_vma_as_task", "R1 is of type vm_area_struct but task_struct is expected"),
    ("vma_ctx_write_oob", "invalid write to stack R3 off=0 size=8"),
])
def test_find_vma_messages(name, message):
    obj, prog = by_name(name).model()
    v = check_program(obj, prog)
    assert (v.error.message.splitlines()[-1] if v.error else None) == message


@pytest.mark.parametrize("probe", FIND_VMA_PROBES, ids=lambda p: p.name)
def test_z3_decides_find_vma_probes(probe):
    """The Z3 engine follows bpf_find_vma (model/symbolic/vmas.py): every probe decided,
    "safe" exactly for those the kernel accepts (the ``_ok`` ones: checked against the
    kernel by test_find_vma_probe_against_kernel), an unsafe execution in each other."""
    from model.symbolic import analyse_program

    obj, prog = probe.model()
    doc = analyse_program(obj, prog)
    assert not doc["exhausted"], doc["exhausted"]
    assert doc["models"]["M2"]["safe"] is probe.name.endswith("_ok")
    assert doc["cross_check"] != "SOUNDNESS BUG"


@needs_kernel
def test_random_find_vma_programs_against_kernel():
    """Random bpf_find_vma programs (tests/timer_gen.py): the kernel's verdict and words."""
    from test_timers import _random_against_kernel
    from timer_gen import random_vma_probe

    _random_against_kernel(random_vma_probe, 500)


# -- a C program through skv check ----------------------------------------------------------
C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct vm_area_struct;
struct ctx { __u64 found; };

static long seen(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct ctx *c = data;
	c->found = 1;
	return 0;
}

static long seen_bad(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	return 2;	/* a find_vma callback returns 0 or 1 */
}

SEC("kprobe/do_nanosleep")
int look(void *regs)
{
	struct ctx c = {};
	struct task_struct *t = bpf_get_current_task_btf();

	bpf_find_vma(t, 0x400000, seen, &c, 0);
	return c.found;
}

SEC("kprobe/do_nanosleep")
int look_bad(void *regs)
{
	struct task_struct *t = bpf_get_current_task_btf();

	bpf_find_vma(t, 0x400000, seen_bad, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_kernel
@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_c_program(tmp_path, capsys):
    """bpf_find_vma from C (kprobe): skv and the kernel accept it, and refuse the twin
    whose callback returns 2."""
    from callback_probes import check_c_program

    rows = check_c_program(tmp_path, capsys, C_SOURCE)
    assert rows["look"]["verdict"] == "accepted"
    assert rows["look_bad"]["verdict"] == "rejected"
    for row in rows.values():
        assert row["kernel"]["verdict"] == row["verdict"], row
        assert row["models"]["M2"]["safe"] is (row["verdict"] == "accepted"), row
