"""BTF-typed programs (fentry / fexit / fmod_ret / tp_btf / lsm): their typed context and
PTR_TO_BTF_ID, judged by skv's abstract verifier and compared with the running kernel
(loaded with the target's attach_btf_id). Where the running kernel refuses a whole program
kind before verifying it (some kernels answer EPERM to every fentry/lsm load), the probe's
expected verdict from the kernel's sources is asserted instead and the comparison is skipped
with the kernel's reason. The Z3 engine does not model these programs and must never call
one safe; the interpreter refuses them cleanly. Small C programs (vmlinux.h from bpftool)
are checked the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracing_probes import (build, c_object_with_vmlinux, compare, kernel_refusal,
                            kernel_verdict, probes,
                            skv_verdict, z3_safe)

VMLINUX = Path("/sys/kernel/btf/vmlinux")

pytestmark = pytest.mark.skipif(not VMLINUX.exists(),
                                reason="no kernel BTF (/sys/kernel/btf/vmlinux)")

PROBES = probes() if VMLINUX.exists() else []
COUNTS = {"kernel_compared": 0, "agree": 0, "false_accepts": 0, "false_rejects": 0,
          "source_only": 0,
          "same_message": 0}


def _kernel_ok() -> tuple[bool, str]:
    from model.kernel import available

    return available()


@pytest.mark.parametrize("name,section,text,expect,frag", PROBES, ids=[p[0] for p in PROBES])
def test_probe(name, section, text, expect, frag):
    obj, prog = build(text, section)
    ours = skv_verdict(obj, prog)
    z3_ok = z3_safe(obj, prog)  # the Z3 engine follows tracing programs: safe only if
    assert not z3_ok or ours.ok, "the Z3 engine calls a program safe the verifier rejects"
    if frag is not None:
        assert frag in ours.msg, f"{name}: skv says {ours.msg!r}"
    kok, why = _kernel_ok()
    refusal = kernel_refusal(section) if kok else why
    if refusal is None:
        k = compare(name, prog, ours, COUNTS)
        assert not z3_ok or k.ok, f"{name}: the Z3 engine calls safe what the kernel rejects"
        if not k.ok:  # the same reason: each line of skv's message is in the kernel's log
            same = all(line in k.log for line in ours.msg.splitlines())
            COUNTS["same_message"] += same
            assert same, f"{name}: kernel: {k.msg} | skv: {ours.msg}"
        return
    COUNTS["source_only"] += 1
    assert expect is not None, f"{name}: the kernel cannot judge it ({refusal})"
    assert ours.ok == expect, f"{name}: skv says {ours.ok} ({ours.msg})"
    pytest.skip(f"skv's verdict asserted; no kernel comparison: {refusal}")


#: the kernel's words for "this program may not call that helper"
_REFUSED = ("unknown func", "cannot use helper", "not supported", "supported only",
            "not allowed in probe", "might sleep")


@pytest.mark.parametrize("section", ["tp_btf/sched_switch", "fentry/do_unlinkat",
                                     "lsm/file_open", "iter/task", "iter/bpf_map_elem"])
def test_helper_availability_against_kernel(section):
    """tracing_prog_func_proto / bpf_lsm_func_proto: every helper id the kernel lets a
    program of this kind call is one skv's table allows, and the other way round; a helper
    whose call the kernel refuses for its attach point (fn->allowed: bpf_d_path) is at
    least "not modelled" in skv."""
    from model.platform.helpers import HELPER_NAMES
    from model.platform.prototypes import helper_check, helper_unmodelled

    kok, why = _kernel_ok()
    refusal = kernel_refusal(section) if kok else why
    if refusal is not None:
        pytest.skip(refusal)
    mismatches = []
    for hid in sorted(HELPER_NAMES):
        if hid == 0:
            continue
        obj, prog = build(f"call {hid}\nr0 = 0\nexit", section)
        k = kernel_verdict(prog)
        k_allows = not any(w in k.msg for w in _REFUSED)
        ours = helper_check(prog.prog_type, hid, attach_type=prog.attach_type)
        if k_allows == (ours is None):
            continue
        if not k_allows and (helper_unmodelled(prog.prog_type, hid, typed=True) or "")\
                .startswith("not modelled"):
            continue
        mismatches.append((hid, HELPER_NAMES[hid], k.msg, ours))
    assert not mismatches, mismatches


NON_GPL = [("MIT", "r0 = *(u64 *)(r1 + 8)\nr0 = 0\nexit", True),
           ("MIT", "r6 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r6 + 0)\nr0 = 0\nexit", False),
           ("Dual BSD/GPL", "r6 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r6 + 0)\nr0 = 0\nexit",
            True),
           ("MIT", "call 158\nr0 = 0\nexit", False)]


@pytest.mark.parametrize("lic,text,ok", NON_GPL)
def test_non_gpl_struct_access(lic, text, ok):
    """Reading a pointer argument is fine, but "Cannot access kernel 'struct %s' from
    non-GPL compatible program"; bpf_get_current_task_btf is GPL-only."""
    obj, prog = build(text, "tp_btf/sched_switch", license=lic)
    ours = skv_verdict(obj, prog)
    assert ours.ok == ok, ours.msg
    if not ok and "r6" in text:
        assert "from non-GPL compatible program" in ours.msg
    if _kernel_ok()[0]:
        k = kernel_verdict(prog, license=lic)
        COUNTS["kernel_compared"] += 1
        assert k.ok == ours.ok, (k.msg, ours.msg)
        COUNTS["agree"] += 1


def test_lsm_load_refusals():
    """bpf_lsm_verify_prog: GPL only; the disabled hooks (getprocattr...) refused."""
    obj, prog = build("r0 = 0\nexit", "lsm/file_open", license="MIT")
    assert skv_verdict(obj, prog).msg == "LSM programs must have a GPL compatible license"
    obj, prog = build("r0 = 0\nexit", "lsm/getprocattr")
    assert "points to a disabled hook bpf_lsm_getprocattr" in skv_verdict(obj, prog).msg


def test_unmodelled_targets_are_clean_rejections():
    for section in ("fentry/no_such_function_xyz", "tp_btf/no_such_tracepoint", "iter/task_new",
                    "fentry.s/do_unlinkat", "lsm/no_such_hook"):
        obj, prog = build("r0 = 0\nexit", section)
        v = skv_verdict(obj, prog)
        assert not v.ok and v.msg.startswith("not modelled"), (section, v.msg)


CURRENT_TASK = [
    "call 158\nr0 = *(u32 *)(r0 + {pid})\nr0 = 0\nexit",
    "call 158\nr0 = *(u64 *)(r0 + {rp})\nr0 = *(u32 *)(r0 + {pid})\nr0 = 0\nexit",
    "call 158\nr1 = 1\n*(u32 *)(r0 + {pid}) = r1\nr0 = 0\nexit",
    "call 158\nr0 = *(u32 *)(r0 + 20000)\nr0 = 0\nexit",
    "call 158\nr0 += 8\nr0 = *(u64 *)(r0 - 16)\nr0 = 0\nexit",
]


@pytest.mark.parametrize("section", ["xdp", "kprobe/x", "socket", "tc", "syscall"])
def test_current_task_btf_in_other_types(section):
    """bpf_get_current_task_btf reaches every type (bpf_base_func_proto, CAP_PERFMON): its
    trusted task_struct pointer follows the same rules there."""
    from tracing_probes import member_off

    kok, _ = _kernel_ok()
    if not kok:
        pytest.skip("the kernel is not available")
    pid, rp = member_off("task_struct", "pid"), member_off("task_struct", "real_parent")
    for text in CURRENT_TASK:
        text = text.format(pid=pid, rp=rp)
        obj, prog = build(text, section)
        compare(f"{section}: {text}", prog, skv_verdict(obj, prog), COUNTS)


def test_percpu_helper_refuses_a_trusted_pointer():
    """bpf_this_cpu_ptr's ARG_PTR_TO_PERCPU_BTF_ID takes only a per-CPU pointer: a trusted
    task from a tp_btf context is refused with the kernel's words (the per-CPU helpers:
    tests/test_percpu_helpers.py)."""
    obj, prog = build("r1 = *(u64 *)(r1 + 8)\ncall 154\nr0 = 0\nexit", "tp_btf/sched_switch")
    v = skv_verdict(obj, prog)
    assert not v.ok and v.msg == ("R1 type=trusted_ptr_ expected=percpu_ptr_, percpu_rcu_ptr_, "
                                  "percpu_trusted_ptr_"), v.msg


def test_interpreter_refuses():
    from model.errors import NotModelled
    from model.interp.machine import Machine

    obj, prog = build("r0 = *(u64 *)(r1 + 8)\nexit", "tp_btf/sched_switch")
    with pytest.raises(NotModelled, match="not modelled: running tracing programs"):
        Machine(prog, obj.maps).run()


C_SOURCE = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_int, int dfd, struct filename *name)
{
	bpf_printk("dfd %d refcnt %d", dfd, name->refcnt);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(fexit_ret, int dfd, struct filename *name, long ret)
{
	bpf_printk("ret %ld", ret);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_chain, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	int ppid = prev->real_parent->tgid;
	struct task_struct *t = bpf_get_current_task_btf();
	bpf_printk("%d %d %d", prev->pid, ppid, t->tgid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_write, bool preempt, struct task_struct *prev)
{
	prev->pid = 0;
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return file->f_flags & 1 ? -1 : 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_bad_ret, struct file *file)
{
	return 1;
}
"""
#: skv's verdict for each C program (kernel comparison where the kernel can load the kind)
C_EXPECT = {"fentry_int": True, "fexit_ret": True, "tp_chain": True, "tp_write": False,
            "lsm_open": True, "lsm_bad_ret": False}


@pytest.fixture(scope="module")
def c_object(tmp_path_factory):
    return c_object_with_vmlinux(tmp_path_factory.mktemp("tracing"), C_SOURCE)


def test_c_programs(c_object):
    from model.elf.loader import load_object
    from model.verifier.checker import check_program

    obj = load_object(str(c_object))
    kok, _ = _kernel_ok()
    seen = set()
    for prog in obj.programs:
        v = check_program(obj, prog)
        seen.add(prog.name)
        assert v.accepted == C_EXPECT[prog.name], (prog.name, v.error)
        assert not z3_safe(obj, prog) or v.accepted
        if kok and kernel_refusal(prog.section) is None:
            from model.kernel.objload import load_program

            r = load_program(obj, prog)
            r.close()
            COUNTS["kernel_compared"] += 1
            assert not (v.accepted and not r.ok), f"FALSE ACCEPT {prog.name}"
            assert v.accepted == r.ok, (prog.name, v.error, r.log[-300:])
            COUNTS["agree"] += 1
    assert seen == set(C_EXPECT)


def test_zz_counts():
    """The comparison's totals (printed with -s); no false accept."""
    print(f"\nBTF-typed probes: {COUNTS}")
    assert COUNTS["false_accepts"] == 0
