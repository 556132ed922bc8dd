"""Callbacks (bpf_loop, bpf_for_each_map_elem): the abstract verifier against the running
kernel on probe programs (tests/callback_probes.py), the Z3 engine never calling a program
with callbacks safe, the interpreter's runs against BPF_PROG_TEST_RUN, and a C program
using bpf_loop through ``skv check --kernel``."""

from __future__ import annotations

import subprocess

import pytest

from callback_probes import ARRAY, PROBES, CbProbe, kernel_load
from conftest import CLANG
from model.kernel import available
from model.kernel.oracle import rejection_reason

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
IDS = [p.name for p in PROBES]


def _ours(p: CbProbe):
    from model.verifier.checker import check_program

    obj, prog = p.model()
    return check_program(obj, prog)


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=IDS)
def test_verifier_against_kernel(probe):
    """Never accept what the kernel refuses; the valid twins (``_ok``) load in both."""
    obj, prog = probe.model()
    k = kernel_load(obj, prog)
    v = _ours(probe)
    where = f"{probe.name}\nkernel: {'accept' if k.ok else rejection_reason(k.log)}\n" \
            f"ours: {v.error.message if v.error else 'accept'}"
    assert k.ok == probe.name.endswith("_ok"), where
    assert v.accepted == k.ok, where


@needs_kernel
@pytest.mark.parametrize("kind", ["loop", "each"])
def test_random_callback_programs_against_kernel(kind):
    """Random bpf_loop / bpf_for_each_map_elem programs (tests/callback_gen.py): no false
    accept, and the kernel's accepts are (nearly all) ours too."""
    from callback_gen import random_each_probe, random_probe
    from model.verifier.checker import check_program

    make = random_probe if kind == "loop" else random_each_probe
    false_accepts, kernel_ok, agree_ok = [], 0, 0
    for seed in range(100):
        p = make(seed)
        obj, prog = p.model()
        k = kernel_load(obj, prog)
        v = check_program(obj, prog, time_limit=20)
        if v.accepted and not k.ok:
            false_accepts.append((seed, rejection_reason(k.log), p.text))
        kernel_ok += k.ok
        agree_ok += k.ok and v.accepted
    assert not false_accepts, false_accepts[0]
    assert kernel_ok >= 10 and agree_ok >= 0.85 * kernel_ok, (kernel_ok, agree_ok)


@pytest.mark.parametrize("name,message", [
    ("loop_ret2", "At callback return the register R0 has smin=2 smax=2 should have been "
                  "in [0, 1]"),
    ("loop_ret_index", "At callback return the register R0 has unknown scalar value should "
                       "have been in [0, 1]"),
    ("loop_ret_null_ctx_ok", None),
    ("loop_r2_scalar", "R2 type=scalar expected=func"),
    ("loop_r3_ctx", "R3 type=ctx expected=fp"),
    ("each_write_key", "write to change key R2 not allowed"),
    ("ctx_spill_callee_stack_ptr", "cannot spill pointers to stack into stack frame of the "
                                   "caller"),
    ("depth_9_frames", "the call stack of 9 frames is too deep"),
    ("combined_stack_too_large", "combined stack size of 2 calls is 576. Too large"),
    ("no_func_info", "missing btf func_info"),
])
def test_kernel_messages(name, message):
    """The kernel's own words (checked against its log in test_verifier_against_kernel's
    runs); None: accepted (the callback returns the ctx pointer the caller passed: a
    scalar 0, as bpf_loop's ctx is NULL here)."""
    v = _ours(next(p for p in PROBES if p.name == name))
    assert (v.error.message if v.error else None) == message


def test_every_callback_helper_is_modelled():
    """Every helper taking a callback (ARG_PTR_TO_FUNC) has its CallbackSpec: bpf_loop,
    bpf_for_each_map_elem (here), bpf_find_vma (tests/test_find_vma.py),
    bpf_timer_set_callback (tests/test_timers.py), bpf_user_ringbuf_drain
    (tests/test_dynptr.py); none is left "not modelled"."""
    from model.platform.callbacks import CALLBACKS, UNMODELLED
    from model.platform.prototypes import PROTOTYPES, Arg

    takes_func = {p.name for p in PROTOTYPES.values()
                  if any(a.base is Arg.PTR_TO_FUNC for a in p.args)}
    assert takes_func == set(CALLBACKS) and not UNMODELLED


@pytest.mark.parametrize("probe", [p for p in PROBES if p.btf][:12] +
                         [p for p in PROBES if p.name.startswith("each_")][:4],
                         ids=lambda p: p.name)
def test_z3_calls_callbacks_safe_only_when_accepted(probe):
    """The Z3 engine executes callbacks (model/symbolic/callbacks.py): "safe" only where
    the verifier accepts, never a soundness bug."""
    from model.symbolic import analyse_program

    obj, prog = probe.model()
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is not True or _ours(probe).accepted
    assert doc["cross_check"] != "SOUNDNESS BUG"


# -- the interpreter against BPF_PROG_TEST_RUN ------------------------------------------------
_COUNT = """r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = {n}
r2 = func cb
r3 = r10
r3 += -8
r4 = {flags}
call 181
r0 *= 100
r1 = *(u64 *)(r10 - 8)
r0 += r1
exit
cb:
r3 = *(u64 *)(r2 + 0)
r3 += 1
*(u64 *)(r2 + 0) = r3
r0 = 0
if r1 != {stop} goto +1
r0 = 1
exit
"""
_EACH = """r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 1, 0
r2 = func cb
r3 = r10
r3 += -8
r4 = 0
call 164
r0 *= 100
r1 = *(u64 *)(r10 - 8)
r0 |= r1
exit
cb:
r5 = *(u64 *)(r4 + 0)
r5 += 1
*(u64 *)(r4 + 0) = r5
r0 = {ret}
exit
"""
_NESTED = _COUNT.split("cb:")[0].format(n=3, flags=0) + """cb:
r3 = r2
r1 = 2
r2 = func cb2
r4 = 0
call 181
r0 = 0
exit
cb2:
r3 = *(u64 *)(r2 + 0)
r3 += 1
*(u64 *)(r2 + 0) = r3
r0 = 0
exit
"""
RUNS = [
    CbProbe("nested_3x2_ok", "xdp", _NESTED),
    CbProbe("count_5_ok", "xdp", _COUNT.format(n=5, flags=0, stop=99)),
    CbProbe("stop_at_2_ok", "xdp", _COUNT.format(n=5, flags=0, stop=2)),
    CbProbe("zero_loops_ok", "xdp", _COUNT.format(n=0, flags=0, stop=99)),
    CbProbe("flags_einval_ok", "xdp", _COUNT.format(n=5, flags=1, stop=99)),
    CbProbe("each_all_ok", "xdp", _EACH.format(ret=0), [ARRAY]),
    CbProbe("each_stop_ok", "xdp", _EACH.format(ret=1), [ARRAY]),
]


@needs_kernel
@pytest.mark.parametrize("probe", RUNS, ids=lambda p: p.name)
def test_interpreter_matches_test_run(probe):
    from model.interp.machine import Machine
    from model.kernel.objload import loaded

    obj, prog = probe.model()
    assert _ours(probe).accepted
    with loaded(obj, prog) as lp:
        assert lp.ok, lp.result.log[-500:]
        kernel = lp.test_run(bytes(64)).retval
    res = Machine(prog, obj.maps).run(packet=bytes(64))
    assert res.status == "exit", res.fault
    assert res.r0 & 0xFFFFFFFF == kernel


def test_interpreter_values():
    """Without the kernel: the expected results (iterations * 100 + the ctx counter)."""
    from model.interp.machine import Machine

    want = {"count_5_ok": 505, "stop_at_2_ok": 303, "zero_loops_ok": 0,
            "flags_einval_ok": (-22 * 100) & (2**64 - 1), "each_all_ok": 404,
            "each_stop_ok": 101, "nested_3x2_ok": 306}
    for p in RUNS:
        obj, prog = p.model()
        res = Machine(prog, obj.maps).run(packet=bytes(64))
        assert res.status == "exit" and res.r0 == want[p.name], (p.name, res.r0, res.fault)


# -- a C program through skv check ----------------------------------------------------------
C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} vals SEC(".maps");

struct ctx { __u64 sum; __u32 n; };

static long add_one(__u32 i, void *data)
{
	struct ctx *c = data;
	__u32 k = i & 7;
	__u64 *v = bpf_map_lookup_elem(&vals, &k);

	if (v)
		c->sum += *v;
	c->n++;
	return 0;
}

SEC("xdp")
int sum_loop(struct xdp_md *xdp)
{
	struct ctx c = {};

	bpf_loop(8, add_one, &c, 0);
	return c.sum > 100 ? XDP_DROP : XDP_PASS;
}

static long bad_cb(__u32 i, void *data)
{
	char *buf = data;

	buf[i] = 1;	/* i is not bounded: out of the caller's stack */
	return 0;
}

SEC("xdp")
int bad_loop(struct xdp_md *xdp)
{
	char buf[16] = {};

	bpf_loop(8, bad_cb, buf, 0);
	return buf[0] ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_kernel
@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_c_program_with_bpf_loop(tmp_path, capsys):
    from callback_probes import check_c_program

    rows = check_c_program(tmp_path, capsys, C_SOURCE)
    assert rows["sum_loop"]["verdict"] == "accepted"
    assert rows["bad_loop"]["verdict"] == "rejected"
    for row in rows.values():
        assert row["kernel"]["verdict"] == row["verdict"], row
        assert not row["symbolic"]["soundness_bug"]
    # the Z3 engine runs bpf_loop's 8 iterations: sum_loop is safe; bad_loop's buf[i] stays
    # inside buf on every execution (i < 8), the kernel refuses it for an unbounded i: no
    # unsafe execution, and not "safe" either (the kernel's rules refuse it)
    assert rows["sum_loop"]["models"]["M2"]["safe"] is True
    assert rows["bad_loop"]["models"]["M2"]["safe"] is None


@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_global_callback_is_refused(tmp_path):
    """A callback whose BTF FUNC is global: libbpf loads it with that linkage and Linux
    6.18 refuses "callback function not static" (checked with bpftool prog loadall)."""
    from model.elf.loader import load_object
    from model.verifier.checker import check_program

    src, obj = tmp_path / "glob.c", tmp_path / "glob.o"
    src.write_text(C_SOURCE.replace("static long add_one", "long add_one"))
    r = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I",
                        "/usr/include/x86_64-linux-gnu", "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    o = load_object(str(obj))
    v = check_program(o, o.program("sum_loop"))
    assert not v.accepted and v.error.message == "callback function not static"
    assert check_program(o, o.program("bad_loop")).error.message != \
        "callback function not static"
