"""The helper prototype table against the running kernel: every helper a modelled program
type may call is loaded with a well-formed call and mis-typed twins (helper_table_probes),
and judged by the kernel, the abstract verifier and the Z3 engine.

* no false accept: a call the kernel rejects is rejected by the verifier and not called
  safe by the Z3 engine;
* a helper whose argument and return kinds the engines model: its well-formed call, which
  the kernel accepts, is accepted too (and the Z3 engine finds no failure);
* a helper using a kind the engines do not model: a clean "not modelled: ..." rejection
  naming it.
False rejects of the mis-typed twins are counted (printed with -s), not failures.
"""

from __future__ import annotations

import pytest

from model.platform.callbacks import callback_spec
from model.platform.proto_kinds import ARG_BTF_STRUCT, CONST_STR_HELPERS, Arg

from helper_table_probes import ORDER, helper_probes, probe_type
from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.proto_rows import VARIANTS
from model.platform.prototypes import (PROTOTYPES, helper_allowed, helper_id,
                                       helper_unmodelled, verifier_unmodelled)
from soundness_probes import Probe

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
REACHABLE = sorted(h for h in PROTOTYPES if probe_type(h) is not None)
MODELLED = [h for h in REACHABLE if helper_unmodelled(probe_type(h), h) is None]
COUNTS = {"loads": 0, "false_accepts": 0, "false_rejects": 0, "agree": 0}


def test_every_modelled_type_has_a_helper_chain():
    """One list of modelled program types (contexts and helpers alike): each has its
    *_func_proto chain, privileged or not."""
    from model.platform.prototypes import MODELLED_PROG_TYPES, _chain

    assert len(MODELLED_PROG_TYPES) >= 27
    for t in MODELLED_PROG_TYPES:
        assert _chain(t, True) and _chain(t, False) is not None, t


def test_table_covers_the_reachable_helpers():
    """Most helpers the modelled program types reach have a row; most rows are modelled."""
    assert len(REACHABLE) >= 120, len(REACHABLE)
    assert len(MODELLED) >= 80, len(MODELLED)


def test_unmodelled_kinds_are_named():
    names = {PROTOTYPES[h].name: helper_unmodelled(probe_type(h), h) for h in REACHABLE}
    assert names["sk_release"].startswith("not modelled: argument kind "
                                          "ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE")
    assert names["sk_lookup_tcp"] == ("not modelled: return kind RET_PTR_TO_SOCKET_OR_NULL "
                                      "(an acquired reference) of helper bpf_sk_lookup_tcp")
    assert "ARG_PTR_TO_TIMER" in names["timer_start"]
    # callbacks: bpf_loop and for_each_map_elem are verified (tests/test_callbacks.py)
    assert names["loop"] is None and names["for_each_map_elem"] is None
    # bpf_find_vma's task pointer and the timers: the abstract verifier alone (typed)
    assert names["find_vma"].startswith("not modelled: argument kind ARG_PTR_TO_BTF_ID")
    typed = {PROTOTYPES[h].name: helper_unmodelled(probe_type(h), h, typed=True)
             for h in REACHABLE}
    for name in ("find_vma", "timer_init", "timer_set_callback", "timer_start",
                 "timer_cancel"):
        assert typed[name] is None, name
    assert typed["user_ringbuf_drain"].startswith("not modelled: dynptrs")
    assert helper_unmodelled(probe_type(209), 209, typed=True, refs=True,
                             dynptrs=True) is None  # the abstract verifier's view
    assert names["ringbuf_reserve"].startswith("not modelled: ")  # reference tracking
    assert names["fib_lookup"] is None and names["check_mtu"] is None
    # the abstract verifier tracks references: acquiring and releasing helpers are modelled
    refs = {PROTOTYPES[h].name: helper_unmodelled(probe_type(h), h, refs=True)
            for h in REACHABLE}
    for name in ("sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "sk_release",
                 "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "sk_fullsock",
                 "tcp_sock", "sk_assign", "spin_lock", "spin_unlock"):
        assert refs[name] is None, name
    # a socket returned by a helper that neither acquires it nor casts its argument: a
    # pointer without a reference (tests/test_sock_helpers.py)
    assert refs["get_listener_sock"] is None
    # bpf_skc_to_*: a typed pointer holding the argument's reference: typed and refs both
    for name in ("skc_to_tcp_sock", "skc_to_unix_sock", "skc_to_mptcp_sock"):
        assert refs[name].startswith("not modelled: "), name
        assert verifier_unmodelled(probe_type(helper_id(name)), helper_id(name)) is None


# -- the engines without the kernel: written memory is havocked -----------------------
#: the helper wrote 8 bytes at fp-16; a non-zero first word is dereferenced (a failure
#: exactly when the engine does not assume the helper left the zeros there)
_DEREF_IF_WRITTEN = "r1 = *(u64 *)(r10 - 16)\nif r1 == 0 goto +1\nr0 = *(u64 *)(r1 + 0)\n" \
    "r0 = 0\nexit\n"
_ZERO = "r7 = 0\n*(u64 *)(r10 - 16) = r7\n*(u64 *)(r10 - 8) = r7\n"
HAVOC_PROBES = [
    # get_current_comm(fp-16, 16): ARG_PTR_TO_UNINIT_MEM
    Probe("comm_written", "kprobe", _ZERO + "r1 = r10\nr1 += -16\nr2 = 16\ncall 16\n"
          + _DEREF_IF_WRITTEN),
    # strtol(fp-8, 8, 0, fp-16): the fixed-size, aligned result argument
    Probe("strtol_written", "kprobe", _ZERO + "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\n"
          "r4 = r10\nr4 += -16\ncall 105\n" + _DEREF_IF_WRITTEN),
    # skb_load_bytes(ctx, 0, fp-16, 8)
    Probe("load_bytes_written", "sched_cls", _ZERO + "r2 = 0\nr3 = r10\nr3 += -16\n"
          "r4 = 8\ncall 26\n" + _DEREF_IF_WRITTEN),
]


@pytest.mark.parametrize("probe", HAVOC_PROBES, ids=lambda p: p.name)
def test_z3_engine_havocs_what_the_helper_writes(probe):
    """The verifier rejects the dereference (the stack word is unknown after the call) and
    the Z3 engine finds the failure: neither assumes the zeros survived the call."""
    from model.symbolic.engine import Engine
    from model.verifier.checker import check_program

    obj, prog = probe.model()
    v = check_program(obj, prog)
    assert not v.accepted and "scalar" in v.error.message, v.error
    assert any("scalar" in f.reason for f in Engine(obj, prog).run().failures)


def test_z3_engine_keeps_what_a_read_only_argument_does_not_write():
    """trace_printk reads its format (MEM_RDONLY): the zeros survive, no failure."""
    from model.symbolic.engine import Engine

    p = Probe("printk_reads", "kprobe", _ZERO + "r1 = r10\nr1 += -16\nr2 = 8\ncall 6\n"
              + _DEREF_IF_WRITTEN)
    obj, prog = p.model()
    assert not Engine(obj, prog).run().failures


def test_interpreter_havocs_within_the_prototype():
    """A helper without its own model runs within its prototype (written memory gets
    random bytes); one with a kind not modelled is a clean fault naming it."""
    from model.interp.machine import Machine

    p = Probe("comm", "kprobe", "r1 = r10\nr1 += -16\nr2 = 16\ncall 16\n"
              "r0 = *(u64 *)(r10 - 16)\nexit\n")
    obj, prog = p.model()
    res = Machine(prog, obj.maps).run(ctx=bytes(256))
    assert res.status == "exit", res.fault
    bad = Probe("fullsock", "sched_cls", "r1 = 0\ncall 95\nr0 = 0\nexit\n")
    obj, prog = bad.model()
    res = Machine(prog, obj.maps).run(ctx=bytes(256))
    assert res.status == "fault" and "bpf_sk_fullsock#95 is not modelled" in res.fault.reason


#: helpers with a callback need BTF func info and a function: tests/test_callbacks.py;
#: a timer argument needs a map whose value BTF holds a bpf_timer: tests/test_timers.py;
#: a typed pointer argument (ARG_BTF_STRUCT: a task, a seq_file) one read from a typed
#: context: tests/test_iterators.py, tests/test_typed_helpers.py; a constant string a frozen
#: .rodata map: tests/test_typed_helpers.py; a per-CPU kernel variable (which a kernel without
#: CONFIG_KALLSYMS_ALL cannot give): tests/test_percpu_helpers.py
GENERIC = [h for h in REACHABLE if callback_spec(PROTOTYPES[h].name) is None
           and not {Arg.PTR_TO_TIMER, Arg.PTR_TO_PERCPU_BTF_ID} & {a.base for a in
                                                                   PROTOTYPES[h].args}
           and PROTOTYPES[h].name not in ARG_BTF_STRUCT
           and PROTOTYPES[h].name not in CONST_STR_HELPERS]


@needs_kernel
@pytest.mark.parametrize("hid", GENERIC, ids=lambda h: PROTOTYPES[h].name)
def test_helper_calls_against_kernel(hid):
    unmodelled = helper_unmodelled(probe_type(hid), hid, typed=True)  # all but references
    # the Z3 engine does not model typed pointers (bpf_get_current_task_btf): "not modelled"
    z3_unmodelled = helper_unmodelled(probe_type(hid), hid)
    probes = helper_probes(hid)
    assert probes and probes[0].name.endswith("_ok")
    false_rejects = []
    for k, p in enumerate(probes):
        j = p.judge()
        COUNTS["loads"] += 1
        kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
        where = f"{p.name} ({p.prog_type}):\n{p.text}\nkernel: {kmsg}\n" \
                f"ours: {j.ours_msg or 'accept'}\nz3: {j.z3_why or 'safe'}"
        if not j.kernel_ok:
            COUNTS["false_accepts"] += j.ours_ok or j.z3_safe
            assert not j.ours_ok, "FALSE ACCEPT " + where
            assert not j.z3_safe, "Z3 CALLS IT SAFE " + where
        elif not j.ours_ok:
            false_rejects.append(p.name)
        if unmodelled is not None:
            ours = verifier_unmodelled(probe_type(hid), hid)
            if ours is None:
                continue  # only the verifier tracks references: tests/test_references.py
            # the "not modelled" rejection, unless a load-time refusal the kernel makes too
            # comes first (a sleepable program's map type)
            assert not j.ours_ok and j.ours_msg in (ours, kmsg), where
            continue
        if k == 0:
            assert j.kernel_ok, "the well-formed call is refused by the kernel:\n" + where
            assert j.ours_ok, "false reject of the well-formed call " + where
            assert j.z3_safe or j.z3_why == z3_unmodelled, \
                "Z3 finds a failure in the well-formed call " + where
        if j.ours_ok and j.kernel_ok:
            assert j.z3_safe or j.z3_why == z3_unmodelled, \
                "Z3 finds a failure the kernel does not " + where
    COUNTS["false_rejects"] += len(false_rejects)
    COUNTS["agree"] += len(probes) - len(false_rejects)
    if false_rejects:
        print(f"\n{PROTOTYPES[hid].name}: false rejects {false_rejects}")


VARIANT_CASES = [(helper_id(n), t) for n in VARIANTS for t in ORDER
                 if helper_allowed(t, helper_id(n))]


@needs_kernel
@pytest.mark.parametrize("hid,ptype", VARIANT_CASES,
                         ids=lambda x: PROTOTYPES[x].name if isinstance(x, int) else x)
def test_per_type_variants_against_kernel(hid, ptype):
    """A helper whose proto differs between program types: each type's calls agree."""
    for p in helper_probes(hid, ptype):
        j = p.judge()
        where = f"{p.name} ({ptype}): kernel {j.kernel_ok} ours {j.ours_msg or 'accept'}"
        assert j.kernel_ok == j.ours_ok or j.ours_msg.startswith("not modelled"), where
        assert j.kernel_ok or not j.z3_safe, where


@needs_kernel
def test_zz_report_counts():
    """Printed with -s: loads, agreements, false rejects (false accepts fail above)."""
    print(f"\nhelper table vs kernel: {COUNTS}")
    assert COUNTS["false_accepts"] == 0
