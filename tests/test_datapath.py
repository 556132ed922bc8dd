"""The datapath (bpfprogs/datapath/, a load balancer and firewall with 13 static keys):
its shape, skv's verifier and the kernel on a seeded sample of M0 key assignments (every
assignment: ``python -m bench.datapath_keys``), the deliberate bug of unsafe_datapath.o
found and confirmed by the Z3 engine, and the manifest's runs in the interpreter and in
the kernel (BPF_PROG_TEST_RUN). Site tables: tests/test_bundled.py."""

from __future__ import annotations

import itertools
from functools import lru_cache

import pytest

from bench.datapath_keys import run_entry
from manifest import DATAPATH, datapath_programs, object_path, program_id, unsafe
from model.elf.loader import load_object
from model.interp.machine import Machine
from model.kernel import available
from model.keystate import Uniform

PROGRAMS = datapath_programs()
SAFE_OBJ = "datapath.o"
BUG = ("unsafe_datapath.o", "dp_xdp_icmp_err")
KERNEL_OK, KERNEL_WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) is not usable here: {KERNEL_WHY}")
#: random assignments per program in the kernel sample (besides all off, all on and each
#: key alone on); the programs with the most keys get fewer to keep the suite fast
SAMPLE = {"dp_xdp_v4": 8, "dp_xdp_v6": 8, "dp_tc_egress": 6}
SEED = 13


@lru_cache(maxsize=None)
def obj(name: str):
    return load_object(str(DATAPATH / name), keys_as_maps="keep")


def entry(o: str, p: str) -> dict:
    return next(e for e in PROGRAMS if e["object"] == o and e["program"] == p)


def test_manifest_lists_every_object_and_program():
    assert {p.name for p in DATAPATH.glob("*.o")} == {e["object"] for e in PROGRAMS}
    for name in {e["object"] for e in PROGRAMS}:
        assert {p.name for p in obj(name).programs} == \
            {e["program"] for e in PROGRAMS if e["object"] == name}


def test_size_keys_maps_and_program_types():
    o = obj(SAFE_OBJ)
    assert sum(len(p.insns) for p in o.programs) >= 3000
    keys = set().union(*(p.keys() for p in o.programs))
    assert len(keys) >= 10
    assert {p.prog_type for p in o.programs} == {"xdp", "sched_cls"}
    types = {m.type for m in o.maps.values()}
    # hash, array, prog_array, perf_event_array, percpu_array, lru_hash
    assert {1, 2, 3, 4, 6, 9} <= types
    assert max(len(p.keys()) for p in o.programs) >= 10     # >= 1,024 M0 assignments


def test_unsafe_variant_differs_only_in_the_icmp_error_stage():
    safe, bad = obj(SAFE_OBJ), obj(BUG[0])
    differ = {p.name for p in safe.programs if p.insns != bad.program(p.name).insns}
    assert differ == {BUG[1]}


def test_manifest_expectations():
    """Every program of datapath.o is safe under every model; the bug is the one cube."""
    for e in PROGRAMS:
        bug = (e["object"], e["program"]) == BUG
        assert all(e["expect"][m]["safe"] != bug for m in ("M0", "M1", "M2")), program_id(e)
    cubes = entry(*BUG)["expect"]["M0"]["unsafe_when"]
    assert cubes == [{"dbg_event": 1, "dbg_dump_l4": 1, "dp_conntrack": 0}]


KERNEL_CASES = [e for e in PROGRAMS if e["object"] == SAFE_OBJ] + [entry(*BUG)]


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("e", KERNEL_CASES, ids=program_id)
def test_sampled_m0_assignments_skv_equals_kernel(e):
    """All keys off, all on, each key alone on and a seeded random sample: skv's verifier
    on the materialised program, the kernel's verdict and the manifest agree; so do the
    both-edges (M2) verdicts."""
    r = run_entry(e, SAMPLE.get(e["program"], 32), SEED)
    wrong = [(x["assignment"], x["skv"], x["kernel"], x["kernel_error"]) for x in r["rows"]
             if not (x["skv"] == x["kernel"] == x["expected"])]
    assert not wrong, wrong
    assert r["M2"]["skv"] == r["M2"]["kernel"] == e["expect"]["M2"]["safe"]
    if e["program"] == BUG[1] and e["object"] == BUG[0]:
        assert r["assignments"] == 32 and r["kernel_accepts"] == 28   # 2^5, minus 2^2


def test_z3_finds_and_confirms_the_bug():
    from model.symbolic import analyse_program

    o = obj(BUG[0])
    prog = o.program(BUG[1])
    doc = analyse_program(o, prog)
    want = entry(*BUG)["expect"]
    assert doc["complete"] and doc["models"]["M2"]["safe"] is False
    # the unsafe sets equal the manifest's, under M0 (keys) and M1 (sites)
    for names, m in ((prog.keys(), "M0"), ([f"pc{s.pc}" for s in prog.sites], "M1")):
        for bits in itertools.product((0, 1), repeat=len(names)):
            a = dict(zip(names, bits))
            assert unsafe(doc["models"][m]["unsafe_when"], a) == \
                unsafe(want[m]["unsafe_when"], a), (m, a)
    cx = doc["counterexample"]
    assert cx["confirmed"] and cx["model"] == "M0" and cx["status"] == "fault"
    assert doc["cross_check"] == "agree: confirmed"
    assert {k: int(v) for k, v in cx["keys"].items() if k in want["M0"]["unsafe_when"][0]} \
        == want["M0"]["unsafe_when"][0]
    # the same stage without the bug: safe under every model, and the analysis complete
    ok = analyse_program(obj(SAFE_OBJ), obj(SAFE_OBJ).program(BUG[1]))
    assert ok["complete"] and all(ok["models"][m]["safe"] for m in ("M0", "M1", "M2"))


RUN_CASES = [e for e in PROGRAMS if e["runs"]]


@pytest.mark.parametrize("e", RUN_CASES, ids=program_id)
def test_manifest_runs_in_the_interpreter(e):
    o = obj(e["object"])
    prog = o.program(e["program"])
    for run in e["runs"]:
        m = Machine(prog, o.maps, keys=Uniform({k: bool(v) for k, v in run["keys"].items()}))
        res = m.run(None, bytes.fromhex(run["ctx"]["packet"]))
        assert res.ok and res.r0 & 0xFFFFFFFF == run["r0"], (run["keys"], res.fault)


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("e", RUN_CASES, ids=program_id)
def test_manifest_runs_in_the_kernel(e):
    """A sample of the runs (every 7th) with BPF_PROG_TEST_RUN on the materialised program."""
    from model.kernel.objload import loaded
    from model.materialize import materialize

    o = obj(e["object"])
    prog = o.program(e["program"])
    for run in itertools.islice(e["runs"], 0, None, 7):
        keys = {k: bool(v) for k, v in run["keys"].items()}
        with loaded(o, materialize(prog, keys=keys), log_level=0) as lp:
            assert lp.ok
            got = lp.test_run(bytes.fromhex(run["ctx"]["packet"])).retval
        assert got == run["r0"], (run["keys"], run["ctx"]["packet"])


def test_object_paths_resolve():
    assert all(object_path(e).is_file() for e in PROGRAMS)
