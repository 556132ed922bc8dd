"""Dynptrs against the Linux 6.18 kernel (model/verifier/dynptr.py): bpf_dynptr_from_mem,
bpf_ringbuf_reserve_dynptr -> bpf_ringbuf_submit_dynptr / discard_dynptr,
bpf_dynptr_read / write / data and bpf_user_ringbuf_drain's callback.

Every probe (tests/dynptr_probes.py) is judged by the kernel (skipped without bpf(2)) and
the abstract verifier: the verdict must be the kernel's, with the kernel's last message
line. The Z3 engine follows them (model/symbolic/dynptrs.py; bpf_user_ringbuf_drain is left
to the verifier: "unknown", never "safe"); the interpreter runs them (model/interp/dynptrs.py).
"""

from __future__ import annotations

import pytest

from callback_probes import CbProbe, kernel_load
from dynptr_gen import random_program
from dynptr_probes import (ALL_PROBES, DYNPTR_C, LOCAL_PROBES, LOOP_PROBES, PROBES,
                           RINGBUF_PROBES)
from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.verifier.checker import check_program
from model.verifier.state import DYNPTR, DynSlot, Slot, covers, entry_state
from model.verifier.regs import T, pointer

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
COUNTS = {"probes": 0, "kernel_accepts": 0, "agree": 0, "same_message": 0,
          "false_accepts": 0, "false_rejects": 0}
GEN = {"programs": 0, "kernel_accepts": 0, "agree": 0, "same_message": 0}
N_RANDOM = 240


def _kernel(probe):
    if isinstance(probe, CbProbe):
        return kernel_load(*probe.model())
    return probe.kernel()


@needs_kernel
@pytest.mark.parametrize("probe", ALL_PROBES, ids=lambda p: p.name)
def test_probe_against_kernel(probe):
    res = _kernel(probe)
    obj, prog = probe.model()
    v = check_program(obj, prog)
    kmsg = "accept" if res.ok else rejection_reason(res.log).splitlines()[-1]
    ours = "accept" if v.accepted else v.error.message
    where = f"{probe.name}:\n{probe.text}\nkernel: {kmsg}\nours: {ours}"
    COUNTS["probes"] += 1
    COUNTS["kernel_accepts"] += bool(res.ok)
    COUNTS["agree"] += v.accepted == bool(res.ok)
    if not res.ok:
        COUNTS["false_accepts"] += v.accepted
        assert not v.accepted, "FALSE ACCEPT " + where
        COUNTS["same_message"] += ours.splitlines()[-1] == kmsg
        assert ours.splitlines()[-1] == kmsg, where
    else:
        COUNTS["false_rejects"] += not v.accepted
        assert v.accepted, "false reject " + where
    assert probe.name.endswith("_ok") == bool(res.ok), "probe named against its verdict " + where


@pytest.mark.parametrize("probe", ALL_PROBES, ids=lambda p: p.name)
def test_pruning_keeps_the_verdict(probe):
    """Pruning compares dynptr slots: the verdict with pruning is the one without it."""
    obj, prog = probe.model()
    pruned, full = check_program(obj, prog), check_program(obj, prog, prune=False)
    assert pruned.accepted == full.accepted, (pruned.error, full.error)
    assert pruned.accepted == probe.name.endswith("_ok"), pruned.error


@needs_kernel
@pytest.mark.parametrize("callback", [False, True], ids=["main", "in_bpf_loop_callback"])
def test_random_dynptr_programs_against_kernel(callback):
    """Random programs (tests/dynptr_gen.py), as the main program or as a bpf_loop
    callback: the verifier's verdict is the kernel's on every one, with the kernel's last
    message line on all but a few."""
    wrong = []
    for seed in range(N_RANDOM):
        p = random_program(seed, callback)
        res = _kernel(p)
        obj, prog = p.model()
        v = check_program(obj, prog)
        GEN["programs"] += 1
        GEN["kernel_accepts"] += bool(res.ok)
        GEN["agree"] += v.accepted == bool(res.ok)
        if v.accepted != bool(res.ok):
            wrong.append((seed, "accept" if res.ok else rejection_reason(res.log),
                          v.error.message if v.error else "accept"))
        elif not res.ok:
            GEN["same_message"] += (v.error.message.splitlines()[-1]
                                    == rejection_reason(res.log).splitlines()[-1])
    assert not wrong, wrong
    assert GEN["kernel_accepts"] >= GEN["programs"] // 10  # the generator reaches accepted programs
    assert GEN["same_message"] >= 0.95 * (GEN["programs"] - GEN["kernel_accepts"])


def test_clang_object(compile_bpf):
    """A clang-built object: ring buffer and local dynptrs, slices, a user ring buffer
    drain; the verdicts as the names say, and the kernel's (with its last message line)."""
    from model.elf.loader import load_object

    obj = load_object(compile_bpf(DYNPTR_C, "dynptr"))
    assert len(obj.programs) == 6
    for p in obj.programs:
        v = check_program(obj, p)
        assert v.accepted == p.name.endswith("_ok"), (p.name, v.error)
        if KERNEL:
            from model.kernel.objload import load_program

            res = load_program(obj, p)
            if res.ok:
                res.close()
            assert res.ok == v.accepted, (p.name, res.log[-300:])
            if not res.ok:
                assert (v.error.message.splitlines()[-1]
                        == rejection_reason(res.log).splitlines()[-1])


@pytest.mark.parametrize("start", range(0, 400, 100))
def test_random_programs_pruning_keeps_the_verdict(start):
    for seed in range(start, start + 100):
        obj, prog = random_program(seed).model()
        pruned, full = check_program(obj, prog), check_program(obj, prog, prune=False)
        assert pruned.accepted == full.accepted, (seed, pruned.error, full.error)


def _with_slots(*slots):
    st = entry_state(pointer(T.CTX))
    for k, s in slots:
        st.cur.stack[k] = s
    return st


def test_dynptr_slots_are_part_of_the_state():
    """A state with a dynptr is neither covered by nor covers one without it, nor one with
    a dynptr of another type or at another offset; the same dynptr covers itself."""
    def dyn(t="local", at=3, ref=0):
        d = DynSlot(t, True, 7, ref)
        return [(at, Slot(DYNPTR * 8, None, d)), (at - 1, Slot(DYNPTR * 8, None,
                                                              d._replace(first=False)))]
    base = _with_slots(*dyn())
    assert covers(base, _with_slots(*dyn()))
    for other in (_with_slots(), _with_slots(*dyn("ringbuf")), _with_slots(*dyn(at=4)),
                  _with_slots((3, Slot("mmmmmmmm")), (2, Slot("mmmmmmmm")))):
        assert not covers(base, other) and not covers(other, base)
    # even where no later instruction reads the slots (a write there destroys both)
    assert not covers(_with_slots(), base, slots=frozenset())


@pytest.mark.parametrize("probe", PROBES + LOOP_PROBES, ids=lambda p: p.name)
def test_symbolic_engine_judges_dynptrs(probe):
    """The Z3 engine follows the dynptr helpers (model/symbolic/dynptrs.py, the verifier's
    own rules on its dynptr slots): "safe" exactly where the kernel accepts (the ``_ok``
    probes: test_probe_against_kernel checks the names against the kernel), an unsafe
    execution only where it refuses; "unknown" only with a reason naming what the engine
    leaves to the verifier."""
    from model.symbolic import analyse_program

    obj, prog = probe.model()
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    ok = probe.name.endswith("_ok")
    assert doc["cross_check"] != "SOUNDNESS BUG"
    assert doc["models"]["M2"]["safe"] is not False or not ok, doc["counterexample"]
    if doc["exhausted"]:
        assert all("not modelled" in e for e in doc["exhausted"]), doc["exhausted"]
    elif v.accepted:
        assert doc["models"]["M2"]["safe"] is ok


@needs_kernel
def test_symbolic_engine_on_random_dynptr_programs():
    """Random dynptr programs (tests/dynptr_gen.py) through the Z3 engine and the kernel:
    an unsafe execution only where the kernel refuses, and nearly all decided."""
    from model.symbolic.engine import Budget, Engine

    decided, n = 0, 60
    for seed in range(n):
        p = random_program(seed, callback=seed % 3 == 0)
        obj, prog = p.model()
        res = Engine(obj, prog, Budget(time_s=10)).run()
        k = _kernel(p)
        assert not (res.failures and k.ok), f"unsafe where the kernel accepts:\n{p.text}"
        decided += bool(res.failures) or not res.exhausted
    assert decided >= 0.9 * n, decided


@pytest.mark.parametrize("probe", [p for p in ALL_PROBES if p.name.endswith("_ok")],
                         ids=lambda p: p.name)
def test_interpreter_runs_accepted_programs(probe):
    """What the verifier accepts runs to its end in the interpreter (model.interp.dynptrs),
    seed after seed (user ring buffer samples differ)."""
    from model.interp.machine import Machine

    obj, prog = probe.model()
    assert check_program(obj, prog).accepted
    for seed in range(3):
        res = Machine(prog, obj.maps, seed=seed).run()
        assert res.status == "exit", res.fault


@pytest.mark.parametrize("name, fault", [("rd_leak", "reference leak"),
                                         ("rd_submit_one_path_only", "reference leak"),
                                         ("rd_data_after_submit", "no region"),
                                         ("ld_read_len_too_big", "crosses the end")])
def test_interpreter_faults_where_the_kernel_rejects(name, fault):
    from model.interp.machine import Machine

    obj, prog = next(p for p in PROBES if p.name == name).model()
    res = Machine(prog, obj.maps).run()
    assert res.status == "fault" and fault in res.fault.reason, res.fault


_RUN_HEAD = ("r1 = 0x55\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -32\nr2 = 8\nr3 = r10\n"
             "r3 += -8\nr4 = 8\nr5 = 0\ncall 202\n")  # dynptr_write(d, 8, &0x55, 8)
#: (name, program after VALUE + from_mem at fp-32 + _RUN_HEAD, r0)
RUNS = [
    ("read_back", "r1 = r10\nr1 += -16\nr2 = 8\nr3 = r10\nr3 += -32\nr4 = 8\nr5 = 0\n"
     "call 201\nr0 = *(u64 *)(r10 - 16)\nexit\n", 0x55),
    ("read_past_end", "r1 = r10\nr1 += -16\nr2 = 8\nr3 = r10\nr3 += -32\nr4 = 12\nr5 = 0\n"
     "call 201\nexit\n", -7),
    ("read_flags", "r1 = r10\nr1 += -16\nr2 = 8\nr3 = r10\nr3 += -32\nr4 = 0\nr5 = 1\n"
     "call 201\nexit\n", -22),
    ("slice", "r1 = r10\nr1 += -32\nr2 = 8\nr3 = 8\ncall 203\nif r0 == 0 goto out\n"
     "r0 = *(u64 *)(r0 + 0)\nexit\n", 0x55),
    ("slice_out_of_range", "r1 = r10\nr1 += -32\nr2 = 9\nr3 = 8\ncall 203\nexit\n", 0),
    ("ringbuf_too_big", "ld_pseudo r1, 1, 0\nr2 = 8192\nr3 = 0\nr4 = r10\nr4 += -48\n"
     "call 198\nr6 = r0\nr1 = r10\nr1 += -48\nr2 = 0\nr3 = 8\ncall 203\nr7 = r0\n"
     "r1 = r10\nr1 += -48\nr2 = 0\ncall 200\nr0 = r6\nr0 += r7\nexit\n", None),
    ("ringbuf_ok", "ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -48\n"
     "call 198\nr6 = r0\nr1 = r10\nr1 += -48\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\n"
     "r5 = 0\ncall 202\nr6 += r0\nr1 = r10\nr1 += -48\nr2 = 0\ncall 199\nr0 = r6\n"
     "exit\n", 0),
]


@pytest.mark.parametrize("name, tail, r0", RUNS, ids=[r[0] for r in RUNS])
def test_interpreter_values(name, tail, r0):
    """The interpreter's results, and BPF_PROG_TEST_RUN's on the kernel (when there)."""
    from dynptr_probes import OUT, VALUE, from_mem
    from model.interp.machine import Machine
    from soundness_probes import Probe

    text = VALUE + from_mem() + _RUN_HEAD + tail + OUT
    obj, prog = Probe(name, "xdp", text, [(27, 0, 0, 4096, 0), (2, 4, 16, 1, 0)]).model()
    assert check_program(obj, prog).accepted
    res = Machine(prog, obj.maps).run(packet=bytes(64))
    assert res.status == "exit", res.fault
    if r0 is not None:
        assert res.r0 == r0 & (2**64 - 1)
    if KERNEL:
        from model.kernel.objload import loaded

        with loaded(obj, prog) as lp:
            assert lp.ok, lp.result.log[-500:]
            assert lp.test_run(bytes(64)).retval == res.r0 & 0xFFFFFFFF


def test_probe_set():
    """Both kinds of dynptr, the callback, and both verdicts are covered."""
    assert len(RINGBUF_PROBES) >= 40 and len(LOCAL_PROBES) >= 25
    assert sum(p.name.endswith("_ok") for p in ALL_PROBES) >= 30
    assert len(ALL_PROBES) - sum(p.name.endswith("_ok") for p in ALL_PROBES) >= 50


def test_counts_report():
    """Printed with -s: how many probes were judged and how they compare."""
    print(f"\ndynptr probes vs kernel: {COUNTS}\nrandom dynptr programs: {GEN}")
    assert COUNTS["false_accepts"] == 0
