"""The Z3 engine follows what only the abstract verifier modelled before: ring buffer
reservations (model.symbolic.refs) and BTF-typed tracing programs (model.symbolic.typed).
Small programs with one static site (key ``k``), safe under one key state and unsafe under
the other: the engine's M0/M1/M2 answers are decided (never "unknown"), its unsafe key
assignments are exactly the unsafe one, and its counterexamples replay in the interpreter
(tracing programs: the interpreter does not run them, the replay says so)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.program import Site
from model.symbolic import analyse_program
from model.verifier.checker import check_program
from soundness_probes import Probe
from tracing_probes import build, member_off

RINGBUF = (27, 0, 0, 4096, 0)
_RESERVE = "r6 = r1\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\ncall 131\n"  # pcs 0-5


def _with_site(obj, prog, pc: int, target: int):
    prog.sites = [Site(0, prog.name, pc, target, "k", False, "2023")]
    return obj, prog


def _ringbuf(name: str, body: str, pc: int, target: int):
    return _with_site(*Probe(name, "xdp", _RESERVE + body, [RINGBUF]).model(), pc, target)


def _analyse(obj, prog):
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert not doc["exhausted"] and doc["complete"], doc["exhausted"]
    return v, doc


def _unsafe_only_when_on(doc):
    m = doc["models"]
    assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": 1}]
    assert m["M1"]["safe"] is False and m["M2"]["safe"] is False
    assert doc["cross_check"] != "SOUNDNESS BUG"


# -- ring buffer reservations -------------------------------------------------------------
#: pc 6: the NULL check; pc 7: the site
LEAK = ("if r0 == 0 goto +4\n"          # 6 -> 11
        "goto +0\n"                     # 7: the site, on: to 11 (the submit skipped)
        "r1 = r0\nr2 = 0\ncall 132\n"   # 8-10
        "r0 = 0\nexit\n")               # 11-12
PAST_SIZE = ("if r0 == 0 goto +11\n"                  # 6 -> 18
             "r7 = 0\n"                               # 7
             "goto +0\n"                              # 8: the site, on: to 10
             "goto +1\n"                              # 9 -> 11
             "r7 = 8\n"                               # 10
             "r1 = r0\nr1 += r7\nr2 = 1\n*(u64 *)(r1 + 0) = r2\n"   # 11-14
             "r1 = r0\nr2 = 0\ncall 132\n"            # 15-17
             "r0 = 0\nexit\n")                        # 18-19
SUBMIT_OR_DISCARD = ("if r0 == 0 goto +6\n"                   # 6 -> 13
                     "r1 = r0\nr2 = 0\n"                      # 7-8
                     "goto +0\n"                              # 9: the site, on: to 12
                     "call 132\n"                             # 10
                     "goto +1\n"                              # 11 -> 13
                     "call 133\n"                             # 12
                     "r0 = 0\nexit\n")                        # 13-14


@pytest.mark.parametrize("name, body, pc, target, fault", [
    ("leak", LEAK, 7, 11, "reference leak"),
    ("past_size", PAST_SIZE, 8, 10, "reservation"),
])
def test_ringbuf_unsafe_under_one_key_state_replays(name, body, pc, target, fault):
    obj, prog = _ringbuf(name, body, pc, target)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    _unsafe_only_when_on(doc)
    cx = doc["counterexample"]
    assert cx["confirmed"] and fault in cx["fault"], cx
    assert doc["cross_check"] == "agree: confirmed"


def test_ringbuf_safe_under_every_key_state():
    obj, prog = _ringbuf("either", SUBMIT_OR_DISCARD, 9, 12)
    v, doc = _analyse(obj, prog)
    assert v.accepted
    assert all(doc["models"][m]["safe"] is True for m in ("M0", "M1", "M2"))
    assert doc["cross_check"] == "agree: safe" and doc["counterexample"] is None


def test_ringbuf_null_outcome_replays():
    """A reservation the program does not check: the counterexample's NULL outcome travels
    to the interpreter (which would have reserved: its ring is empty)."""
    obj, prog = Probe("unchecked", "xdp", _RESERVE + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n"
                      "r1 = r0\nr2 = 0\ncall 132\nr0 = 0\nexit\n", [RINGBUF]).model()
    _, doc = _analyse(obj, prog)
    cx = doc["counterexample"]
    assert doc["models"]["M2"]["safe"] is False and cx["confirmed"], cx
    assert cx["helper_results"] == {"5:0": 0}


# -- BTF-typed tracing programs ------------------------------------------------------------
VMLINUX = Path("/sys/kernel/btf/vmlinux")
needs_btf = pytest.mark.skipif(not VMLINUX.exists(), reason="no vmlinux BTF")
TP = "tp_btf/sched_switch"  # (bool preempt, task_struct *prev, task_struct *next, ...)


@needs_btf
def test_tracing_missing_argument_under_one_key_state():
    pid = member_off("task_struct", "pid")
    obj, prog = _with_site(*build("r6 = *(u64 *)(r1 + 8)\n"   # 0: prev
                                  "goto +0\n"                 # 1: the site, on: to 4
                                  f"r0 = *(u32 *)(r6 + {pid})\n"
                                  "goto +1\n"                 # 3 -> 5
                                  "r0 = *(u64 *)(r1 + 32)\n"  # 4: no 5-th argument
                                  "r0 = 0\nexit", TP), 1, 4)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    _unsafe_only_when_on(doc)
    cx = doc["counterexample"]  # the interpreter does not run tracing programs
    assert cx["status"] == "not modelled" and not cx["confirmed"]
    assert "doesn't have 5-th argument" in cx["reason"]


@needs_btf
def test_tracing_null_check_skipped_under_one_key_state():
    pid = member_off("task_struct", "pid")
    obj, prog = _with_site(*build("r6 = *(u64 *)(r1 + 8)\n"   # pi_task: may be NULL
                                  "goto +0\n"                 # 1: the site, on: to 3
                                  "if r6 == 0 goto +1\n"      # 2 -> 4
                                  f"r0 = *(u32 *)(r6 + {pid})\n"
                                  "r0 = 0\nexit", "tp_btf/sched_pi_setprio"), 1, 3)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    _unsafe_only_when_on(doc)
    assert "trusted_ptr_or_null_" in doc["counterexample"]["reason"]


@needs_btf
@pytest.mark.parametrize("section, text", [
    (TP, "r6 = *(u64 *)(r1 + 8)\ngoto +0\nr6 = *(u64 *)(r6 + {parent})\n"
         "r0 = *(u32 *)(r6 + {tgid})\nr0 = 0\nexit"),
    (TP, "call 158\ngoto +0\nr0 = *(u32 *)(r0 + {pid})\nr0 = 0\nexit"),
    ("fentry/do_unlinkat", "r6 = *(u64 *)(r1 + 8)\ngoto +0\nif r6 == 0 goto +1\n"
                           "r0 = *(u32 *)(r6 + {refcnt})\nr0 = 0\nexit"),
])
def test_tracing_safe_under_every_key_state(section, text):
    offs = {"pid": member_off("task_struct", "pid"),
            "parent": member_off("task_struct", "real_parent"),
            "tgid": member_off("task_struct", "tgid"),
            "refcnt": member_off("filename", "refcnt")}
    n = len(text.format(**offs).splitlines())
    obj, prog = _with_site(*build(text.format(**offs), section), 1, n - 2)
    v, doc = _analyse(obj, prog)
    assert v.accepted
    assert all(doc["models"][m]["safe"] is True for m in ("M0", "M1", "M2"))
    assert doc["cross_check"] == "agree: safe"


@needs_btf
@pytest.mark.parametrize("name, text", [
    ("cast_checked_ok", "r1 = *(u64 *)(r1 + 0)\ncall 137\nif r0 == 0 goto +1\n"
                        "r0 = *(u32 *)(r0 + {srtt})\nr0 = 0\nexit"),
    ("cast_unchecked", "r1 = *(u64 *)(r1 + 0)\ncall 137\nr0 = *(u32 *)(r0 + {srtt})\n"
                       "r0 = 0\nexit"),
    ("cast_of_task", "call 158\nr1 = r0\ncall 137\nr0 = 0\nexit"),
    ("cookie_ok", "r1 = *(u64 *)(r1 + 0)\ncall 46\nr0 = 0\nexit"),
    ("cookie_of_sock_plus_8", "r1 = *(u64 *)(r1 + 0)\nr1 += 8\ncall 46\nr0 = 0\nexit"),
])
def test_typed_socket_helpers_against_the_kernel(name, text):
    """bpf_skc_to_tcp_sock / bpf_get_socket_cookie on a tp_btf socket: the Z3 engine alone
    (no verifier behind it) says safe exactly when the kernel accepts."""
    from model.kernel import available
    from model.symbolic.engine import Engine
    from tracing_probes import kernel_verdict

    obj, prog = build(text.format(srtt=member_off("tcp_sock", "srtt_us")),
                      "tp_btf/tcp_destroy_sock")
    r = Engine(obj, prog).run()
    assert not r.exhausted, r.exhausted
    assert (not r.failures) == name.endswith("_ok"), [f.reason for f in r.failures]
    assert check_program(obj, prog).accepted == name.endswith("_ok")
    if available()[0]:
        assert kernel_verdict(prog).ok == name.endswith("_ok")


@needs_btf
def test_lsm_return_range_under_one_key_state():
    """lsm/file_open returns within [-4095, 0]: 1 under the key's on state only."""
    obj, prog = _with_site(*build("r0 = 0\ngoto +0\nexit\nr0 = 1\nexit", "lsm/file_open"),
                           1, 3)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    _unsafe_only_when_on(doc)
    assert "[-4095, 0]" in doc["counterexample"]["reason"]
