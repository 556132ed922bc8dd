"""The Z3 engine follows socket references and socket pointers (model.symbolic.sockets):
bpf_sk_lookup_tcp / udp, bpf_skc_lookup_tcp, bpf_sk_release, bpf_sk_fullsock,
bpf_tcp_sock, bpf_get_listener_sock, and the context's ``sk`` fields. Plain programs are
judged against the kernel (its verdict, the abstract verifier's words, and "safe" from the
Z3 engine exactly when the kernel accepts); programs with one static site (key ``k``) get
decided M0/M1/M2 answers, unsafe exactly when the key is on, with the kernel rejecting the
materialised unsafe program and the interpreter confirming the counterexample where it
models the feature (a lookup, a release, a leak)."""

from __future__ import annotations

import pytest

from model.program import Site
from model.symbolic import analyse_program
from model.verifier.checker import check_program
from soundness_probes import Probe, assert_same_verdict
from test_symbolic_refs_sites import kernel_accepts

#: a bpf_sk_lookup_tcp of a zeroed IPv4 tuple (pcs 0-10); r0: NULL or a socket
LOOKUP = ("r6 = r1\nr1 = 0\n*(u64 *)(r10 - 16) = r1\n*(u32 *)(r10 - 8) = r1\n"
          "r1 = r6\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = -1\nr5 = 0\ncall {h}\n")
TCP = LOOKUP.format(h=84)

PLAIN = {  # name: (program type, text)
    "lookup_release_ok": ("sched_cls", TCP + "if r0 == 0 goto +3\nr2 = *(u32 *)(r0 + 4)\n"
                       "r1 = r0\ncall 86\nr0 = 0\nexit"),
    "lookup_udp_release_ok": ("sched_cls", LOOKUP.format(h=85) + "if r0 == 0 goto +2\n"
                           "r1 = r0\ncall 86\nr0 = 0\nexit"),
    "skc_lookup_release_ok": ("sched_cls", LOOKUP.format(h=99) + "if r0 == 0 goto +3\n"
                           "r2 = *(u32 *)(r0 + 4)\nr1 = r0\ncall 86\nr0 = 0\nexit"),
    "skc_reads_type": ("sched_cls", LOOKUP.format(h=99) + "if r0 == 0 goto +3\n"
                       "r2 = *(u32 *)(r0 + 8)\nr1 = r0\ncall 86\nr0 = 0\nexit"),
    "leak": ("sched_cls", TCP + "r0 = 0\nexit"),
    "leak_after_check": ("sched_cls", TCP + "if r0 == 0 goto +0\nr0 = 0\nexit"),
    "no_null_check": ("sched_cls", TCP + "r2 = *(u32 *)(r0 + 4)\nr1 = r0\ncall 86\n"
                      "r0 = 0\nexit"),
    "release_null": ("sched_cls", TCP + "r1 = r0\ncall 86\nr0 = 0\nexit"),
    "double_release": ("sched_cls", TCP + "if r0 == 0 goto +5\nr6 = r0\nr1 = r0\n"
                       "call 86\nr1 = r6\ncall 86\nr0 = 0\nexit"),
    "bad_field": ("sched_cls", TCP + "if r0 == 0 goto +3\nr2 = *(u64 *)(r0 + 8)\n"
                  "r1 = r0\ncall 86\nr0 = 0\nexit"),
    "write_sock": ("sched_cls", TCP + "if r0 == 0 goto +4\nr2 = 1\n*(u32 *)(r0 + 4) = r2\n"
                   "r1 = r0\ncall 86\nr0 = 0\nexit"),
    "arith": ("sched_cls", TCP + "if r0 == 0 goto +3\nr0 += 4\nr1 = r0\ncall 86\n"
              "r0 = 0\nexit"),
    "spilled_release_ok": ("sched_cls", TCP + "if r0 == 0 goto +3\n*(u64 *)(r10 - 24) = r0\n"
                        "r1 = *(u64 *)(r10 - 24)\ncall 86\nr0 = 0\nexit"),
    "tail_call_holding": ("sched_cls", TCP + "if r0 == 0 goto +5\nr7 = r0\nr1 = r6\n"
                          "ld_pseudo r2, 1, 0\nr3 = 0\ncall 12\nr1 = r7\ncall 86\n"
                          "r0 = 0\nexit"),
    "fullsock_of_lookup_ok": ("sched_cls", TCP + "if r0 == 0 goto +7\nr6 = r0\nr1 = r0\n"
                           "call 95\nif r0 == 0 goto +1\nr2 = *(u32 *)(r0 + 8)\n"
                           "r1 = r6\ncall 86\nr0 = 0\nexit"),
    "release_tcp_sock_cast_ok": ("sched_cls", TCP + "if r0 == 0 goto +9\nr6 = r0\nr1 = r0\n"
                              "call 96\nif r0 == 0 goto +3\nr1 = r0\ncall 86\ngoto +2\n"
                              "r1 = r6\ncall 86\nr0 = 0\nexit"),
    "cast_use_after_release": ("sched_cls", TCP + "if r0 == 0 goto +7\nr6 = r0\nr1 = r0\n"
                               "call 96\nr7 = r0\nr1 = r6\ncall 86\nr0 = *(u32 *)(r7 + 0)\n"
                               "r0 = 0\nexit"),
    "ctx_sk_fullsock_ok": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto +3\n"
                        "call 95\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 4)\n"
                        "r0 = 1\nexit"),
    "ctx_sk_unchecked": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\ncall 95\n"
                         "r0 = 1\nexit"),
    "ctx_sk_read_unchecked": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\n"
                              "r0 = *(u32 *)(r1 + 4)\nr0 = 1\nexit"),
    "ctx_sk_release": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto +1\n"
                       "call 86\nr0 = 1\nexit"),
    "tcp_sock_read_ok": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto +6\n"
                      "call 95\nif r0 == 0 goto +4\nr1 = r0\ncall 96\nif r0 == 0 goto +1\n"
                      "r0 = *(u32 *)(r0 + 0)\nr0 = 1\nexit"),
    "listener_ok": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto +3\n"
                 "call 98\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 4)\nr0 = 1\nexit"),
}
PROG_ARRAY = [(3, 4, 4, 1, 0)]


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_socket_programs_judged_as_the_kernel_judges_them(name):
    ptype, text = PLAIN[name]
    p = Probe(name, ptype, text, PROG_ARRAY if "ld_pseudo" in text else [])
    if p.kernel() is None:
        pytest.skip("the kernel's bpf(2) is unavailable")
    assert_same_verdict(p)


def _with_site(name: str, ptype: str, text: str, pc: int, target: int):
    obj, prog = Probe(name, ptype, text).model()
    prog.sites = [Site(0, prog.name, pc, target, "k", False, "2023")]
    return obj, prog


SITED = {  # name: (type, text, site pc, target, the interpreter's fault or None)
    # 11: NULL check; 12: the site, on: the release skipped
    "leak": ("sched_cls", TCP + "if r0 == 0 goto +3\ngoto +0\nr1 = r0\ncall 86\n"
             "r0 = 0\nexit", 12, 15, "reference leak"),
    # 11: the site, on: the NULL check skipped
    "null_read": ("sched_cls", TCP + "goto +0\nif r0 == 0 goto +3\nr2 = *(u32 *)(r0 + 4)\n"
                  "r1 = r0\ncall 86\nr0 = 0\nexit", 11, 13, ""),
    # 1: the site, on: the ctx sk's NULL check skipped
    "ctx_sk": ("cgroup_skb", "r1 = *(u64 *)(r1 + 168)\ngoto +0\nif r1 == 0 goto +3\n"
               "call 95\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 4)\nr0 = 1\nexit",
               1, 3, None),
}


@pytest.mark.parametrize("name", sorted(SITED))
def test_socket_unsafe_only_when_on(name):
    ptype, text, pc, target, fault = SITED[name]
    obj, prog = _with_site(name, ptype, text, pc, target)
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert not doc["exhausted"] and doc["complete"], doc["exhausted"]
    m = doc["models"]
    assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": 1}], m
    assert m["M1"]["safe"] is False and m["M2"]["safe"] is False
    assert doc["cross_check"] != "SOUNDNESS BUG"
    cx = doc["counterexample"]
    if fault is not None:
        assert cx["confirmed"] and fault in cx["fault"], cx
    on, off = kernel_accepts(obj, prog, True), kernel_accepts(obj, prog, False)
    if on is None:
        pytest.skip("the kernel's bpf(2) is unavailable")
    assert off and not on


def test_socket_safe_under_every_key_state():
    """Released on one edge, released after a fullsock cast on the other."""
    text = (TCP + "if r0 == 0 goto +7\nr6 = r0\ngoto +0\nr1 = r6\ncall 86\ngoto +2\n"
            "r1 = r6\ncall 86\nr0 = 0\nexit")
    obj, prog = _with_site("either", "sched_cls", text, 13, 17)
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert v.accepted and doc["complete"]
    assert all(doc["models"][m]["safe"] is True for m in ("M0", "M1", "M2"))
    if kernel_accepts(obj, prog, True) is not None:
        assert kernel_accepts(obj, prog, True) and kernel_accepts(obj, prog, False)


# -- bpf_sk_storage_get / delete on a looked-up socket (r6) -------------------------------
SK_STORAGE = (24, 4, 8, 0, 1)  # BPF_MAP_TYPE_SK_STORAGE, BPF_F_NO_PREALLOC
_GET = "ld_pseudo r1, 1, 0\nr2 = r6\nr3 = 0\nr4 = 1\ncall 107\n"
_REL = "r1 = r6\ncall 86\n"
STORAGE = {  # name: the body after the lookup, between "r6 = r0" and the release
    "storage_ok": _GET + "if r0 == 0 goto +2\nr1 = 1\n*(u64 *)(r0 + 0) = r1\n",
    "storage_unchecked": _GET + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n",
    "storage_past_value": _GET + "if r0 == 0 goto +2\nr1 = 1\n*(u64 *)(r0 + 4) = r1\n",
    "storage_delete_ok": "ld_pseudo r1, 1, 0\nr2 = r6\ncall 108\n",
    "storage_scalar_sk": "ld_pseudo r1, 1, 0\nr2 = 0\nr3 = 0\nr4 = 1\ncall 107\n",
    "storage_init_value_ok": "r1 = 7\n*(u64 *)(r10 - 24) = r1\nld_pseudo r1, 1, 0\n"
                             "r2 = r6\nr3 = r10\nr3 += -24\nr4 = 1\ncall 107\n",
}


@pytest.mark.parametrize("name", sorted(STORAGE))
def test_sk_storage_as_the_kernel_judges_it(name):
    from model.symbolic.engine import Engine
    from timer_probes import FieldProbe, judge

    body = STORAGE[name]
    text = TCP + "if r0 == 0 goto out\nr6 = r0\n" + body + _REL + "out:\nr0 = 0\nexit"
    p = FieldProbe(name, "sched_cls", text, [SK_STORAGE])
    j = judge(p)
    obj, prog = p.model()
    r = Engine(obj, prog).run()
    assert not r.exhausted, r.exhausted
    assert j.kernel_ok is None or j.kernel_ok == name.endswith("_ok"), j
    assert (not r.failures) == name.endswith("_ok"), [f.reason for f in r.failures]
    assert j.ours_ok == name.endswith("_ok"), j


def test_spin_lock_held_at_exit_only_when_on():
    """bpf_spin_lock (model.symbolic.locks): the site skips the unlock; the interpreter
    confirms the counterexample (it ends holding the lock), the kernel rejects the
    materialised program with the key on."""
    from spin_lock_probes import _LOCK, _LOOKUP, _UNLOCK, FIELDS, SHAPE, LockProbe

    head = _LOOKUP + _LOCK
    def slots(text):
        return sum(i.slots for i in LockProbe("x", "sched_cls", text).insns())

    pc = slots(head + "out:\nexit") - 1  # the site
    n = slots(_UNLOCK + "exit") - 1
    text = head + "goto +0\n" + _UNLOCK + "out:\nr0 = 0\nexit\n"
    maps, fields = [(1, *SHAPE, 0)], [FIELDS]
    obj, prog = LockProbe("lock_site", "sched_cls", text, maps, fields).model()
    prog.sites = [Site(0, prog.name, pc, pc + 1 + n, "k", False, "2023")]
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert not doc["exhausted"] and doc["complete"], doc["exhausted"]
    m = doc["models"]
    assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": 1}], m
    cx = doc["counterexample"]
    assert cx["confirmed"] and "bpf_spin_lock" in cx["fault"], cx
    on, off = kernel_accepts(obj, prog, True), kernel_accepts(obj, prog, False)
    if on is None:
        pytest.skip("the kernel's bpf(2) is unavailable")
    assert off and not on
