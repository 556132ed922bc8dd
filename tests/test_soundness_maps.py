"""Soundness against the kernel's map and packet rules (Linux 6.18): map type x helper
compatibility, BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG, helper memory arguments (NULL with a
size, zero sizes, variable stack offsets, uninitialised stack), and packet pointers after
packet-changing helpers.

Every probe is judged by the kernel (skipped without bpf(2)), our abstract verifier and the
Z3 engine: the verifier's verdict must equal the kernel's (or be a clean "not modelled"
rejection), and the Z3 engine may not call a program the kernel rejects safe.
"""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.helpers import HELPER_NAMES
from model.platform.map_helpers import (HELPER_NEEDS, MAP_ALLOWS, MAP_TYPES, VALUE_MAP_TYPES,
                                        map_helper_check, map_helper_unmodelled)
from model.platform.prototypes import PROTOTYPES, helper_id
from soundness_maps_probes import (FLAG_PROBES, MEM_PROBES, PKT_ARG_PROBES, TAIL_CALL_PROBES,
                                  pkt_probes)
from soundness_probes import MAP_SHAPES, Probe, map_probe

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
UNMODELLED = ("not modelled", "not supported by this model")


def _assert_sound(p: Probe, j) -> None:
    """The kernel's verdict decides: a rejection must be ours too (and not "safe" for Z3);
    an acceptance must be ours unless we said cleanly that we do not model it."""
    kmsg = "" if j.kernel_ok else rejection_reason(j.kernel_log)
    where = f"{p.name} ({p.prog_type}):\n{p.text}\nkernel: {kmsg or 'accept'}\n" \
            f"ours: {j.ours_msg or 'accept'}\nz3: {j.z3_why or 'safe'}"
    if not j.kernel_ok:
        assert not j.ours_ok, "FALSE ACCEPT " + where
        assert not j.z3_safe, "Z3 CALLS IT SAFE " + where
    else:
        assert j.ours_ok or any(u in j.ours_msg for u in UNMODELLED), "false reject " + where
        if j.ours_ok:  # Z3 may leave what only the verifier models to it (unknown)
            assert j.z3_safe or not j.z3_failed and "not modelled" in j.z3_why, \
                "Z3 finds a failure the kernel does not " + where


# -- the table on its own ---------------------------------------------------------------
def test_map_types_cover_the_6_18_enum():
    assert set(MAP_TYPES) == set(range(34))  # BPF_MAP_TYPE_UNSPEC .. BPF_MAP_TYPE_ARENA
    known = {n.removeprefix("bpf_") for n in HELPER_NAMES.values()}
    for t, hs in MAP_ALLOWS.items():
        assert t in MAP_TYPES.values() and hs <= known, t
    for h, ts in HELPER_NEEDS.items():
        assert h in known and ts <= set(MAP_TYPES.values()), h


def test_the_two_switches_agree():
    """A helper that needs a map type must be among the helpers that type allows."""
    for h, ts in HELPER_NEEDS.items():
        for t in ts:
            if t in MAP_ALLOWS and t not in ("sockmap", "sockhash"):
                assert h in MAP_ALLOWS[t], (h, t)


def test_map_helper_check_spot_facts():
    tail, lookup, redirect = helper_id("tail_call"), helper_id("map_lookup_elem"), \
        helper_id("redirect_map")
    assert map_helper_check(3, tail) is None
    assert map_helper_check(2, tail) is not None
    assert map_helper_check(3, lookup) == "cannot pass map_type 3 into func bpf_map_lookup_elem#1"
    assert map_helper_check(27, lookup) is not None and map_helper_check(1, lookup) is None
    assert all(map_helper_check(t, redirect) is None for t in (14, 16, 17, 25))
    assert map_helper_check(1, redirect) is not None
    # sockmap update: only in the program types may_update_sockmap names
    update = helper_id("map_update_elem")
    assert map_helper_check(15, update, "xdp") is None
    assert map_helper_check(15, update, "kprobe") is not None


def test_unmodelled_map_types_are_said_so():
    lookup = helper_id("map_lookup_elem")
    for t in MAP_TYPES:
        why = map_helper_unmodelled(t, lookup)
        # an xskmap's socket: every engine models it (model.symbolic.sockets.in_map)
        assert (why is None) == (MAP_TYPES[t] in VALUE_MAP_TYPES | {"xskmap"}), t
    assert map_helper_unmodelled(40, helper_id("tail_call")).startswith("not modelled")


@pytest.mark.parametrize("mtype", [26, 33, 40])
def test_ld_imm64_of_an_unmodelled_map_type_is_a_clean_rejection(mtype):
    p = Probe("unmodelled", "xdp", "ld_pseudo r1, 1, 0\nr0 = 0\nexit\n",
              [(mtype, 4, 8, 1, 0)])
    obj, prog = p.model()
    from model.symbolic.engine import Engine
    from model.verifier.checker import check_program

    v = check_program(obj, prog)
    assert not v.accepted and v.error.message.startswith("not modelled: map type")
    assert any(f.reason.startswith("not modelled") for f in Engine(obj, prog).run().failures)


# -- map type x helper, against the kernel ---------------------------------------------
_PRE = "r6 = r1\nr7 = 0\n" + "".join(f"*(u64 *)(r10 - {8 * k})= r7\n" for k in range(1, 10))
_M = "ld_pseudo r1, 1, 0\n"
#: helper -> (program type, call text); r6 = ctx, fp-8.. fp-72 zeroed
MAP_CALLS = {
    "map_lookup_elem": ("xdp", _M + "r2 = r10\nr2 += -8\ncall 1\n"),
    "map_update_elem": ("xdp", _M + "r2 = r10\nr2 += -8\nr3 = r10\nr3 += -72\nr4 = 0\n"
                               "call 2\n"),
    "map_delete_elem": ("xdp", _M + "r2 = r10\nr2 += -8\ncall 3\n"),
    "map_push_elem": ("xdp", _M + "r2 = r10\nr2 += -72\nr3 = 0\ncall 87\n"),
    "tail_call": ("xdp", "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\ncall 12\n"),
    "perf_event_output": ("xdp", "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\nr4 = r10\nr4 += -16\n"
                                 "r5 = 8\ncall 25\n"),
    "get_stackid": ("kprobe", "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\ncall 27\n"),
    "redirect_map": ("xdp", _M + "r2 = 0\nr3 = 0\ncall 51\n"),
    "ringbuf_output": ("xdp", _M + "r2 = r10\nr2 += -16\nr3 = 8\nr4 = 0\ncall 130\n"),
    "ringbuf_query": ("xdp", _M + "r2 = 0\ncall 134\n"),
    "perf_event_read": ("kprobe", _M + "r2 = 0\ncall 22\n"),
    "skb_under_cgroup": ("sched_cls", "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\ncall 33\n"),
    "current_task_under_cgroup": ("kprobe", _M + "r2 = 0\ncall 37\n"),
}


def test_map_calls_have_prototypes():
    assert all(helper_id(h) in PROTOTYPES for h in MAP_CALLS)


@needs_kernel
@pytest.mark.parametrize("helper", sorted(MAP_CALLS))
def test_map_type_helper_matrix_against_kernel(helper):
    """Every kernel-creatable map type passed to the helper: the table says what the
    kernel says, and both engines follow the kernel."""
    ptype, call = MAP_CALLS[helper]
    hid = helper_id(helper)
    for t in MAP_SHAPES:
        p = map_probe(f"{helper}_on_{MAP_TYPES[t]}", ptype, _PRE + call + "r0 = 0\nexit\n", t)
        j = p.judge()
        table = map_helper_check(t, hid, ptype)
        if "cannot pass map_type" in j.kernel_log:
            assert table == rejection_reason(j.kernel_log).split(" (ins")[0], p.name
        if table is not None:
            assert not j.kernel_ok, f"{p.name}: the table refuses what the kernel accepts"
        if j.kernel_ok:
            assert table is None
        _assert_sound(p, j)


# -- access flags, memory arguments, packet pointers --------------------------------------
PROBES = FLAG_PROBES + MEM_PROBES + pkt_probes() + TAIL_CALL_PROBES + PKT_ARG_PROBES


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe_against_kernel(probe):
    j = probe.judge()
    if probe.name.endswith("_ok"):
        assert j.kernel_ok, f"{probe.name}: the kernel rejects a twin meant to be valid:\n" \
                            + rejection_reason(j.kernel_log)
    _assert_sound(probe, j)


@pytest.mark.parametrize("probe", [p for p in PROBES if "stale" in p.name
                                   and not any(s in p.name for s in ("redirect", "ktime",
                                                                     "change_type", "main"))],
                         ids=lambda p: p.name)
def test_stale_packet_pointer_is_rejected_without_kernel(probe):
    """The packet-changing probes, judged without the kernel: both engines refuse."""
    from model.symbolic.engine import Engine
    from model.verifier.checker import check_program

    obj, prog = probe.model()
    v = check_program(obj, prog)
    assert not v.accepted
    assert Engine(obj, prog).run().failures


def test_packet_changing_helpers_are_marked():
    changing = {p.name for p in PROTOTYPES.values() if p.changes_pkt_data}
    assert {"xdp_adjust_head", "xdp_adjust_tail", "xdp_adjust_meta", "skb_pull_data",
            "skb_store_bytes", "l3_csum_replace", "clone_redirect"} <= changing
    assert not changing & {"skb_change_type", "redirect", "tail_call", "csum_diff",
                           "skb_load_bytes"}


def test_interpreter_faults_on_an_incompatible_map():
    from model.interp.machine import Machine

    p = Probe("lookup_prog_array", "xdp", _PRE + MAP_CALLS["map_lookup_elem"][1]
              + "r0 = 0\nexit\n", [(3, 4, 4, 1, 0)])
    obj, prog = p.model()
    res = Machine(prog, obj.maps).run()
    assert res.status == "fault" and "cannot pass map_type 3" in res.fault.reason


def test_interpreter_honours_wronly_and_rdonly_prog():
    from model.interp.machine import Machine

    for flags, body, what in ((1 << 8, "r0 = *(u64 *)(r1 + 0)\n", "write-only"),
                              (1 << 7, "r2 = 1\n*(u64 *)(r1 + 0) = r2\n", "read-only")):
        p = Probe("direct", "xdp", "ld_pseudo r1, 2, 0, 0\n" + body + "r0 = 0\nexit\n",
                  [(2, 4, 8, 1, flags)])
        obj, prog = p.model()
        res = Machine(prog, obj.maps).run()
        assert res.status == "fault" and what in res.fault.reason, res
