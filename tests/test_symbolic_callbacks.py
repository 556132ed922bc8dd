"""The Z3 engine executes callbacks (model/symbolic/callbacks.py: bpf_loop, bpf_for_each_map_elem
over an array or a hash map; model/symbolic/timers.py: bpf_timer_* and the asynchronous
timer callback).

Small programs with one static site (key ``k``) inside the callback, safe under one key
state and unsafe under the other: the M0/M1/M2 answers are decided, the unsafe assignment
is exactly the unsafe one, the kernel rejects the program materialised under it (and
accepts it under the other), and the counterexample replays in the interpreter (timers: the
interpreter does not run them). Over every callback and timer probe: the engine says "safe"
only where the abstract verifier (and the kernel) accept."""

from __future__ import annotations

import pytest

from callback_probes import ARRAY, HASH, PROBES, CbProbe, kernel_load
from model.isa import Jump
from model.kernel import available
from model.materialize import materialize
from model.program import Site
from model.symbolic import analyse_program
from model.verifier.checker import check_program
from timer_probes import TIMER_PROBES, _CB0, _INIT, _SET, _tp

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
#: the site: ``goto +0`` (off: the next instruction, which skips the one after it; on:
#: that one instruction)
SITE = "goto +0\ngoto +1\n"


def _with_site(probe):
    obj, prog = probe.model()
    pc = next(pc for pc, i in prog.iter_pcs() if isinstance(i, Jump) and i.cond == "ja"
              and i.off == 0)
    prog.sites = [Site(0, prog.name, pc, pc + 2, "k", False, "2023")]
    return obj, prog


def _analyse(obj, prog):
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert not doc["exhausted"] and doc["complete"], doc["exhausted"]
    return v, doc


def _kernel_per_key_state(obj, prog):
    """The kernel's verdicts on the program materialised with k off and with k on."""
    out = []
    for on in (False, True):
        p = materialize(prog, keys={"k": on})
        p.func_names = prog.func_names
        out.append(kernel_load(obj, p).ok)
    return out


_LOOP_CTX = ("r1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = 2\nr2 = func cb\nr3 = r10\nr3 += -8\n"
             "r4 = 0\ncall 181\nr0 = 0\nexit\ncb:\n")
_EACH = ("r1 = 0\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\nr2 = func cb\nr3 = r10\n"
         "r3 += -8\nr4 = 0\ncall 164\nr0 = 0\nexit\ncb:\n")
#: callback programs unsafe with the key on only, and the interpreter's fault
UNSAFE_WHEN_ON = [
    # bpf_loop's callback reads its ctx (fp-8 of the caller) 8 bytes further: past the stack
    (CbProbe("loop_site", "xdp", _LOOP_CTX + "r3 = 0\n" + SITE + "r3 = 8\nr2 += r3\n"
             "r0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n"), "stack"),
    # the second iteration only (its index is 1) reads past the ctx
    (CbProbe("loop_second_iteration", "xdp", _LOOP_CTX + "r3 = 0\n" + SITE + "r3 = r1\n"
             "r3 <<= 3\nr2 += r3\nr0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n"), "stack"),
    # for_each over an array: the value (8 bytes) read at 8
    (CbProbe("each_site", "xdp", _EACH + "r0 = 0\n" + SITE + "r0 = 8\nr3 += r0\n"
             "r0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit\n", [ARRAY]), "m0"),
    # for_each: the key (4 bytes) read as 8
    (CbProbe("each_key_site", "xdp", _EACH + "r0 = *(u32 *)(r2 + 0)\n" + SITE +
             "r0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n", [ARRAY]), "for_each key"),
    # for_each over a hash map: its value read at 8, its key as 8 bytes
    (CbProbe("each_hash_site", "xdp", _EACH + "r0 = 0\n" + SITE + "r0 = 8\nr3 += r0\n"
             "r0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit\n", [HASH]), "m0"),
    (CbProbe("each_hash_key_site", "xdp", _EACH + "r0 = *(u32 *)(r2 + 0)\n" + SITE +
             "r0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n", [HASH]), "for_each key"),
]


def unsafe_under_one_key_state(probe, on: bool = True) -> dict:
    """The probe's analysis: unsafe exactly with ``k`` ``on`` (M0, M1, M2 unsafe), the
    kernel agreeing on both key states (when it is available)."""
    obj, prog = _with_site(probe)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    m = doc["models"]
    assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": int(on)}]
    assert m["M1"]["safe"] is False and m["M2"]["safe"] is False
    if available()[0]:
        assert _kernel_per_key_state(obj, prog) == [on, not on]
    return doc


@pytest.mark.parametrize("probe, fault", UNSAFE_WHEN_ON, ids=lambda p: getattr(p, "name", ""))
def test_callback_unsafe_under_one_key_state_replays(probe, fault):
    doc = unsafe_under_one_key_state(probe)
    cx = doc["counterexample"]
    assert cx["confirmed"] and fault in cx["fault"], cx
    assert doc["cross_check"] == "agree: confirmed"


def test_timer_callback_unsafe_under_one_key_state():
    """The async callback returns 1 with the key on ("At async callback return ... [0, 0]");
    the interpreter has no timers (the replay is not confirmed)."""
    probe = _tp("timer_site", _INIT + _SET, cb="cb:\nr0 = 0\n" + SITE + "r0 = 1\nexit\n")
    obj, prog = _with_site(probe)
    v, doc = _analyse(obj, prog)
    assert not v.accepted
    m = doc["models"]
    assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": 1}]
    assert m["M2"]["safe"] is False
    assert "At async callback return" in doc["counterexample"]["reason"]
    if available()[0]:
        assert _kernel_per_key_state(obj, prog) == [True, False]


@pytest.mark.parametrize("probe", [
    CbProbe("loop_either_ok", "xdp", _LOOP_CTX + "r0 = 0\n" + SITE + "r0 = 1\nexit\n"),
    CbProbe("each_either_ok", "xdp", _EACH + "r0 = *(u64 *)(r3 + 0)\n" + SITE +
            "r0 = *(u32 *)(r3 + 4)\nr0 = 0\nexit\n", [ARRAY]),
    _tp("timer_either_ok", _INIT + _SET, cb="cb:\nr0 = 0\n" + SITE + "r0 = *(u32 *)(r3 + 0)\n"
        "r0 = 0\nexit\n"),
], ids=lambda p: p.name)
def test_callback_safe_under_every_key_state(probe):
    obj, prog = _with_site(probe)
    v, doc = _analyse(obj, prog)
    assert v.accepted
    assert all(doc["models"][m]["safe"] is True for m in ("M0", "M1", "M2"))
    assert doc["cross_check"] == "agree: safe"
    if available()[0]:
        assert _kernel_per_key_state(obj, prog) == [True, True]


def test_loop_past_the_unroll_bound_is_unknown():
    """bpf_loop with a count from the packet: iterations past the budget are not explored,
    the answers are "unknown" (never "safe")."""
    obj, prog = CbProbe("loop_many", "xdp", "r1 = 1000\nr2 = func cb\nr3 = 0\nr4 = 0\n"
                        "call 181\nr0 = 0\nexit\n" + _CB0).model()
    doc = analyse_program(obj, prog)
    assert any("BOUND REACHED" in e for e in doc["exhausted"]), doc["exhausted"]
    assert doc["models"]["M2"]["safe"] is None


def test_for_each_over_a_hash_map_past_the_unroll_bound_is_unknown():
    """A hash map of more elements than the unroll bound: "unknown", never "safe"."""
    big = (1, 4, 8, 1000, 0)
    obj, prog = CbProbe("each_hash", "xdp", _EACH + "r0 = 0\nexit\n", [big]).model()
    doc = analyse_program(obj, prog)
    assert any("BOUND REACHED" in e for e in doc["exhausted"]), doc["exhausted"]
    assert doc["models"]["M2"]["safe"] is None


def _z3_verdicts(probes):
    out = {}
    for p in probes:
        obj, prog = p.model()
        v = check_program(obj, prog)
        doc = analyse_program(obj, prog, verifier=v)
        assert doc["cross_check"] != "SOUNDNESS BUG", p.name
        out[p.name] = (v.accepted, doc["models"]["M2"]["safe"], obj, prog)
    return out


@pytest.mark.parametrize("probes", [PROBES, TIMER_PROBES], ids=["callbacks", "timers"])
def test_probes_safe_only_where_accepted(probes):
    """Every probe: M2 "safe" only where the verifier accepts, "unsafe" only where it rejects
    (no soundness bug), and most programs decided; the kernel accepts every program the
    engine calls safe."""
    got = _z3_verdicts(probes)
    assert all(ok for ok, m2, _, _ in got.values() if m2 is True)
    assert not [n for n, (ok, m2, _, _) in got.items() if m2 is False and ok]
    decided = sum(m2 is not None for _, m2, _, _ in got.values())
    assert decided >= 0.8 * len(got), decided
    if available()[0]:
        safe = [(n, obj, prog) for n, (_, m2, obj, prog) in got.items() if m2 is True]
        refused = [n for n, obj, prog in safe if not kernel_load(obj, prog).ok]
        assert not refused, refused


def test_random_callback_programs_unsafe_only_where_rejected():
    """Random bpf_loop / for_each / timer programs (tests/callback_gen.py, timer_gen.py): an
    unsafe execution the engine finds is never in a program the verifier accepts, and the
    engine decides most of them."""
    from callback_gen import random_each_probe, random_probe
    from model.symbolic.engine import Budget, Engine
    from timer_gen import random_timer_probe

    decided = total = 0
    for make in (random_probe, random_each_probe, random_timer_probe):
        for seed in range(40):
            obj, prog = make(seed).model()
            r = Engine(obj, prog, Budget(time_s=10)).run()
            total += 1
            decided += bool(r.failures or not r.exhausted)
            if r.failures:
                assert not check_program(obj, prog).accepted, (make.__name__, seed)
    assert decided >= 0.8 * total, decided
