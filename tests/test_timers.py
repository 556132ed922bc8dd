"""bpf_timer_init / set_callback / start / cancel: the abstract verifier against the running
kernel on probe programs (tests/timer_probes.py: a map whose value BTF holds a struct
bpf_timer), the async callback verified as a program of its own, the Z3 engine and the
interpreter refusing these helpers cleanly."""

from __future__ import annotations

import pytest

from conftest import CLANG
from model.kernel import available
from model.verifier.checker import check_program
from timer_probes import TIMER_PROBES, assert_like_kernel

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
#: kernel rejections skv words differently (both reject): the reason
WORDED = {
    # the callback's map value pointer has no id: skv cannot tell whose lock it takes
    "timer_set_cb_leak_lock": "not modelled: bpf_spin_lock through a map value pointer",
    # BPF_MAP_CREATE refuses a timer in a percpu array: skv refuses the program at load
    "timer_percpu_array": "a bpf_timer in a percpu_array map",
    # BPF_MAP_CREATE refuses special fields with BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG
    **{n: "BPF_F_RDONLY_PROG or BPF_F_WRONLY_PROG" for n in (
        "timer_rdonly_prog_map", "timer_wronly_prog_map", "lock_rdonly_prog_map")},
}


#: safe programs skv refuses (the kernel accepts), and skv's reason (none: with two
#: bpf_timers in a value the kernel keeps no special field, value_fields.record_fields)
IMPRECISE: dict[str, str] = {}


def by_name(name: str):
    return next(p for p in TIMER_PROBES if p.name == name)


@needs_kernel
@pytest.mark.parametrize("probe", TIMER_PROBES, ids=lambda p: p.name)
def test_timer_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict and (but for WORDED) the
    kernel's words."""
    assert_like_kernel(probe, WORDED, IMPRECISE)


@pytest.mark.parametrize("name,message", [
    ("timer_wrong_map", "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 "
                        "map_uid=0"),
    ("timer_wrong_offset", "off 4 doesn't point to 'struct bpf_timer' that is at 8"),
    ("timer_variable_offset", "R1 doesn't have constant offset. bpf_timer has to be at the "
                              "constant offset"),
    ("timer_map_without_btf", "map 'm0' has to have BTF in order to use bpf_timer"),
    ("timer_set_cb_ret1", "At async callback return the register R0 has smin=1 smax=1 "
                          "should have been in [0, 0]"),
    ("timer_set_cb_ret_ptr", "At async callback return the register R0 is not a known value "
                             "(map_ptr)"),
    ("timer_set_cb_reads_r4", "R4 !read_ok"),
    ("timer_direct_write", "bpf_timer cannot be accessed directly by load/store"),
    ("timer_kprobe", "tracing progs cannot use bpf_timer yet"),
    ("timer_missing_null_check", "R1 pointer arithmetic on map_value_or_null prohibited, "
                                 "null-check it first"),
    ("timer_all_ok", None),
    ("timer_set_cb_self_ok", None),
])
def test_timer_messages(name, message):
    """The kernel's words (checked against its log by test_timer_probe_against_kernel);
    None: accepted. Runs without the kernel."""
    obj, prog = by_name(name).model()
    v = check_program(obj, prog)
    assert (v.error.message.splitlines()[-1] if v.error else None) == message


@pytest.mark.parametrize("probe", TIMER_PROBES, ids=lambda p: p.name)
def test_timer_pruning_keeps_the_verdict(probe):
    obj, prog = probe.model()
    pruned, full = check_program(obj, prog), check_program(obj, prog, prune=False)
    assert pruned.accepted == full.accepted, (pruned.error, full.error)


def test_async_callback_is_checked_for_each_map():
    """One callback armed on two maps' timers: verified with each map's value (the second
    map's value is 8 bytes smaller, so its read at 28 is out of bounds there only)."""
    ok = by_name("timer_two_maps_ok")
    bad = by_name("timer_two_maps_cb_reads_oob")
    assert check_program(*ok.model()).accepted
    v = check_program(*bad.model())
    assert not v.accepted and "value_size=24 off=28" in v.error.message


def test_z3_follows_timers():
    """The Z3 engine follows bpf_timer_* (model/symbolic/timers.py): these valid programs
    are explored completely and safe (tests/test_symbolic_callbacks.py: every probe)."""
    from model.symbolic import analyse_program

    for name in ("timer_all_ok", "timer_init_ok", "timer_array_ok"):
        obj, prog = by_name(name).model()
        doc = analyse_program(obj, prog)
        assert doc["models"]["M2"]["safe"] is True, doc["exhausted"]
        assert doc["cross_check"] == "agree: safe"


def test_interpreter_refuses_timers_cleanly():
    """The interpreter has no bpf_timer: a run reaching bpf_timer_init faults, naming it."""
    from model.interp.machine import Machine

    obj, prog = by_name("timer_array_ok").model()
    res = Machine(prog, obj.maps).run(packet=bytes(64))
    assert res.status == "fault", (res.status, res.fault)
    assert res.fault.reason == "helper bpf_timer_init#169 is not modelled", res.fault


def test_timer_in_an_inner_map_is_not_modelled():
    """Two lookups in an array of maps give two inner maps the kernel tells apart (map_uid);
    skv names only the template, so a timer in one is a clean "not modelled", even when
    bpf_timer_init gets the timer's own inner map."""
    from model.program import MapDef
    from timer_probes import HASH, TIMER, VALUE, FieldProbe

    text = ("r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
            "call 1\nif r0 == 0 goto out\nr8 = r0\nr1 = r0\nr2 = r10\nr2 += -4\ncall 1\n"
            "if r0 == 0 goto out\nr1 = r0\nr1 += 8\nr2 = r8\nr3 = 1\ncall 169\n"
            "out:\nr0 = 0\nexit\n")
    obj, prog = FieldProbe("inner", "sched_cls", text, [(12, 4, 4, 1, 0)]).model()
    obj.maps["m0"].inner = "m0.inner"
    obj.maps["m0.inner"] = MapDef("m0.inner", HASH, 4, VALUE, 4, 0, origin="inner")
    obj.maps["m0.inner"].fields = tuple((n, off, size) for off, (n, size) in TIMER.items())
    v = check_program(obj, prog)
    assert not v.accepted and v.error.message.startswith("not modelled: a bpf_timer in inner "
                                                         "map m0.inner"), v.error


@needs_kernel
def test_random_timer_programs_against_kernel():
    """Random timer programs (tests/timer_gen.py): the kernel's verdict and words on each."""
    from timer_gen import random_timer_probe

    _random_against_kernel(random_timer_probe, 500)


def _random_against_kernel(make, n: int) -> None:
    from timer_probes import judge

    diffs, kernel_ok = [], 0
    for seed in range(n):
        p = make(seed)
        j = judge(p)
        kernel_ok += j.kernel_ok
        if j.ours_ok != j.kernel_ok or j.ours_msg != j.kernel_msg:
            diffs.append((seed, j.kernel_msg, j.ours_msg, p.text))
    assert not [d for d in diffs if d[2] == "accept"], "FALSE ACCEPT " + str(diffs[0])
    assert not diffs, diffs[0]
    assert kernel_ok >= n // 20, kernel_ok  # the generator still reaches accepted programs


# -- a C program through skv check ----------------------------------------------------------
C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MONOTONIC 1

struct elem {
	__u64 hits;
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct elem);
	__uint(max_entries, 1);
} timers SEC(".maps");

static int fire(void *map, __u32 *key, struct elem *e)
{
	e->hits++;
	return 0;
}

static int fire_bad(void *map, __u32 *key, struct elem *e)
{
	e->hits++;
	return 1;	/* an async callback must return 0 */
}

SEC("tc")
int arm(struct __sk_buff *skb)
{
	__u32 k = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &k);

	if (!e)
		return 0;
	bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, fire);
	bpf_timer_start(&e->t, 1000, 0);
	return 0;
}

SEC("tc")
int arm_bad(struct __sk_buff *skb)
{
	__u32 k = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &k);

	if (!e)
		return 0;
	bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, fire_bad);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_kernel
@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_c_program(tmp_path, capsys):
    """A libbpf-style C program arming a timer in an array map's value (its BTF from the
    object): skv and the kernel accept it, and refuse the twin whose callback returns 1."""
    from callback_probes import check_c_program

    rows = check_c_program(tmp_path, capsys, C_SOURCE)
    assert rows["arm"]["verdict"] == "accepted"
    assert rows["arm_bad"]["verdict"] == "rejected"
    for row in rows.values():
        assert row["kernel"]["verdict"] == row["verdict"], row
        # the Z3 engine follows timers: decided, as the kernel decides
        assert row["models"]["M2"]["safe"] is (row["kernel"]["verdict"] == "accepted"), row
