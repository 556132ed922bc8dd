"""BPF iterator programs (``iter/TARGET``: program type tracing, expected_attach_type
BPF_TRACE_ITER): the target's typed context (model/platform/iter_targets.py), the map
element's key / value buffers (PTR_TO_BUF, sizes checked at attach), the seq_* helpers
and the return range [0, 1], judged by skv's abstract verifier and compared with the
running kernel (loaded with the target's attach_btf_id). The Z3 engine and the interpreter
do not model them: a clean "not modelled", never "safe", never a crash. A small C iterator
object is checked with ``skv check --kernel both-edges``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iterator_probes import IterProbe, kernel_load, probes
from tracing_probes import c_object_with_vmlinux
from model.errors import SkvError
from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.verifier.checker import check_program

VMLINUX = Path("/sys/kernel/btf/vmlinux")
pytestmark = pytest.mark.skipif(not VMLINUX.exists(),
                                reason="no kernel BTF (/sys/kernel/btf/vmlinux)")
KERNEL, WHY = available()
N_RANDOM = 200
PROBES = probes() if VMLINUX.exists() else []
COUNTS = {"probes": 0, "kernel_compared": 0, "kernel_accepts": 0, "agree": 0,
          "same_message": 0, "false_accepts": 0, "false_rejects": 0}


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe(probe: IterProbe):
    obj, prog = probe.model()
    v = check_program(obj, prog)
    msg = v.error.message if v.error else ""
    COUNTS["probes"] += 1
    assert v.accepted == probe.ok, f"{probe.name}: skv {v.accepted} ({msg})"
    if probe.frag is not None:
        assert probe.frag in msg, f"{probe.name}: skv says {msg!r}"
    if not KERNEL:
        pytest.skip(f"skv's verdict asserted; kernel oracle unavailable: {WHY}")
    r = kernel_load(obj, prog)
    COUNTS["kernel_compared"] += 1
    COUNTS["kernel_accepts"] += r.ok
    assert not (v.accepted and not r.ok), f"FALSE ACCEPT {probe.name}: {r.log[-300:]}"
    if v.accepted != r.ok:
        COUNTS["false_rejects"] += 1
    assert v.accepted == r.ok, f"{probe.name}: kernel {r.ok} ({rejection_reason(r.log)}), skv {msg}"
    COUNTS["agree"] += 1
    if not r.ok:  # the same reason: the probe's words are in the kernel's log too
        assert probe.frag is None or probe.frag in r.log, (probe.name, rejection_reason(r.log))
        COUNTS["same_message"] += msg.splitlines()[-1] in r.log


def _slot_probes() -> list[IterProbe]:
    """For every modelled target and context slot: a read through the slot's pointer
    without and with a NULL check (the verdict and the logged type are the kernel's)."""
    from model.elf import btf as B
    from model.platform.iter_targets import ITER_TARGETS
    from model.platform.tracing_targets import vmlinux_btf

    out = []
    for target in sorted(ITER_TARGETS):
        f = vmlinux_btf().find(f"bpf_iter_{target}", B.FUNC)
        for i, m in enumerate(vmlinux_btf().type(f.type).members):
            load = f"r2 = *(u64 *)(r1 + {8 * i})\n"
            read = "r0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit"
            out.append(IterProbe(f"{target} {m.name} unchecked", f"iter/{target}",
                                 load + read, False))
            out.append(IterProbe(f"{target} {m.name} checked", f"iter/{target}",
                                 load + "if r2 == 0 goto +1\n" + read, True))
    return out


SLOTS = _slot_probes() if VMLINUX.exists() else []


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
@pytest.mark.parametrize("probe", SLOTS, ids=lambda p: p.name)
def test_context_slots_against_kernel(probe: IterProbe):
    """Each target's ctx_arg_info (model/platform/iter_targets.py) is the kernel's: the
    same verdict and, for a rejection, the same message (the pointer's logged type)."""
    obj, prog = probe.model()
    v = check_program(obj, prog)
    r = kernel_load(obj, prog)
    msg = v.error.message if v.error else ""
    COUNTS["slots"] = COUNTS.get("slots", 0) + 1
    assert not (v.accepted and not r.ok), f"FALSE ACCEPT {probe.name}: {r.log[-300:]}"
    assert v.accepted == r.ok, (probe.name, rejection_reason(r.log), msg)
    assert r.ok or msg.splitlines()[-1] in r.log, (probe.name, rejection_reason(r.log), msg)
    COUNTS["slots_agree"] = COUNTS.get("slots_agree", 0) + 1


@pytest.mark.parametrize("probe", [p for p in PROBES if p.ok][:6], ids=lambda p: p.name)
def test_other_engines_on_iterators(probe: IterProbe):
    """The Z3 engine follows iterators (model.symbolic.typed): on these accepted programs it
    finds no unsafe execution (safe, or unknown where it leaves a read to the verifier);
    the interpreter refuses them cleanly."""
    from model.interp.ctx import runnable
    from model.symbolic import analyse_program

    obj, prog = probe.model()
    assert check_program(obj, prog).accepted
    assert analyse_program(obj, prog)["models"]["M2"]["safe"] is not False
    with pytest.raises(SkvError, match="not modelled"):
        runnable(prog)


@pytest.mark.parametrize("section", ["iter/task_new", "iter/bpf_iter_task", "iter/",
                                     "iter/nf_conntrack"])
def test_unmodelled_iterators_are_clean_rejections(section):
    obj, prog = IterProbe("t", section, "r0 = 0\nexit", False).model()
    v = check_program(obj, prog)
    assert not v.accepted and v.error.message.startswith("not modelled"), v.error


C_SOURCE = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct pkey { __u32 a, b; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct pkey);
	__type(value, __u64);
} ts SEC(".maps");

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "    tgid      pid\n");
	BPF_SEQ_PRINTF(seq, "%8d %8d\n", task->tgid, task->pid);
	return 0;
}

SEC("iter/bpf_map_elem")
int cleanup(struct bpf_iter__bpf_map_elem *ctx)
{
	struct pkey local;
	struct pkey *k = ctx->key;
	__u64 *v = ctx->value;

	if (!k || !v)
		return 0;
	__builtin_memcpy(&local, k, sizeof(local));
	if (*v < 1000)
		bpf_map_delete_elem(&ts, &local);
	else
		*v = 0;
	return 0;
}

SEC("iter/bpf_map_elem")
int bad_key_write(struct bpf_iter__bpf_map_elem *ctx)
{
	struct pkey *k = ctx->key;

	if (k)
		k->a = 1;
	return 0;
}

SEC("iter/task")
int bad_no_null_check(struct bpf_iter__task *ctx)
{
	return ctx->task->pid & 1;
}
"""
C_EXPECT = {"dump_task": True, "cleanup": True, "bad_key_write": False,
            "bad_no_null_check": False}


@pytest.fixture(scope="module")
def c_object(tmp_path_factory):
    return c_object_with_vmlinux(tmp_path_factory.mktemp("iter"), C_SOURCE)


def test_c_iterators(c_object):
    from model.elf.loader import load_object

    obj = load_object(str(c_object))
    assert {p.name for p in obj.programs} == set(C_EXPECT)
    for prog in obj.programs:
        v = check_program(obj, prog)
        assert v.accepted == C_EXPECT[prog.name], (prog.name, v.error)


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
def test_c_iterators_check_kernel_both_edges(c_object):
    """``skv check --kernel both-edges``: every program's verdict is the kernel's."""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "model.cli", "check", str(c_object),
                        "--kernel", "both-edges", "--json"], capture_output=True, text=True,
                       cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode in (0, 1), r.stderr[-2000:]
    out = json.loads(r.stdout)
    got = {p["program"]: p for p in out["programs"]}
    assert set(got) == set(C_EXPECT)
    for name, p in got.items():
        assert (p["verdict"] == "accepted") == C_EXPECT[name], (name, p["error"])
        assert p["kernel"]["agrees"], (name, p["kernel"])
        COUNTS["c_kernel_agree"] = COUNTS.get("c_kernel_agree", 0) + 1


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
def test_random_programs_against_kernel():
    """Random mixes of moves, NULL tests, loads, stores, atomics and helper calls on the
    key / value buffers (tests/iterator_gen.py): the kernel's verdict and message."""
    from iterator_gen import random_programs

    for p in random_programs(N_RANDOM):
        obj, prog = p.model()
        v = check_program(obj, prog)
        msg = v.error.message if v.error else ""
        r = kernel_load(obj, prog)
        COUNTS["random"] = COUNTS.get("random", 0) + 1
        assert not (v.accepted and not r.ok), f"FALSE ACCEPT {p.text}\n{r.log[-300:]}"
        assert v.accepted == r.ok, (p.text, rejection_reason(r.log), msg)
        assert r.ok or msg.splitlines()[-1] in r.log, (p.text, rejection_reason(r.log), msg)
        COUNTS["random_kernel_accepts"] = COUNTS.get("random_kernel_accepts", 0) + r.ok


def test_zz_counts():
    """The comparison's totals (printed with -s); no false accept."""
    print(f"\niterator probes: {COUNTS}")
    assert COUNTS["false_accepts"] == 0 and COUNTS["false_rejects"] == 0


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_z3_judges_iterators_as_the_kernel(probe: IterProbe):
    """The Z3 engine on every probe (model.symbolic.kmem: the buffers of bpf_map_elem, the
    typed helper arguments; sock_casts: bpf_setsockopt on a typed socket): an unsafe
    execution only where the kernel rejects (``probe.ok``, checked against the kernel by
    test_probe_against_kernel), "safe" only where it accepts; what it leaves to the verifier
    (a variable buffer offset, a comparison other than the NULL check) is unknown."""
    from model.symbolic.engine import Engine

    obj, prog = probe.model()
    try:
        r = Engine(obj, prog).run()
    except SkvError as e:  # a program type or target the engine refuses
        assert "not modelled" in str(e) or not probe.ok, e
        return
    assert not (r.failures and probe.ok), [f.reason for f in r.failures]
    assert r.failures or r.exhausted or probe.ok
    assert all(e.startswith("not modelled") for e in r.exhausted), r.exhausted
