"""The bundled programs in the real kernel: every M0 (and M1) assignment materialised and
loaded, the both-edges (M2) forms, BPF_PROG_TEST_RUN against the manifest's runs.

Skipped, with the reason, when bpf(2) cannot be used here (model.kernel.available()).
"""

from __future__ import annotations

import itertools
import json
import os

import pytest

from model.elf.loader import load_object
from model.elf.reader import read_elf
from model.errors import SkvError
from model.kernel import available, rejection_reason
from model.kernel.objload import (load_program, loaded, verdict, verdict_both_edges,
                                  verdict_sites)
from model.materialize import materialize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPFPROGS = os.path.join(ROOT, "bpfprogs")
MANIFEST = os.path.join(BPFPROGS, "manifest.json")
RUNNABLE = {"socket_filter", "xdp", "sched_cls"}
MIN_PACKET = 14  # BPF_PROG_TEST_RUN refuses shorter frames

_ok, _why = available()
pytestmark = pytest.mark.skipif(not _ok, reason=_why)


def manifest_entries():
    if not os.path.exists(MANIFEST):
        return []
    with open(MANIFEST) as f:
        return json.load(f)["programs"]


ENTRIES = manifest_entries()
IDS = [f"{e['object']}:{e['program']}" for e in ENTRIES]


def matches(cube: dict, assignment: dict) -> bool:
    return all(assignment.get(k) == v for k, v in cube.items())


def unsafe(cubes: list[dict], assignment: dict) -> bool:
    return any(matches(c, assignment) for c in cubes)


class Case:
    """One manifest entry with its loaded program and the name translations."""

    def __init__(self, entry: dict):
        self.entry = entry
        self.obj = load_object(os.path.join(BPFPROGS, entry["object"]))
        self.prog = self.obj.program(entry["program"])
        by_pc = {s.pc: s for s in self.prog.sites}
        self.key_of = {}  # manifest key name -> our key name
        self.site_of = {}  # manifest "pc<N>" -> our site id
        for s in entry["sites"]:
            ours = by_pc.get(s["pc"])
            assert ours is not None, f"manifest site at pc {s['pc']}: no site there"
            self.key_of.setdefault(s["key"], ours.key)
            self.site_of[f"pc{s['pc']}"] = ours.id

    def keys(self, m: dict) -> dict[str, bool]:
        return {self.key_of[k]: bool(v) for k, v in m.items()}

    def why(self, result) -> str:
        return "accepted" if result.ok else rejection_reason(result.log)


@pytest.fixture(scope="module", params=ENTRIES, ids=IDS)
def case(request):
    return Case(request.param)


def test_manifest_is_present():
    assert ENTRIES, f"{MANIFEST} is missing or lists no programs"


def test_manifest_sites_are_the_loaders(case):
    want = sorted((s["pc"], s["target"], s["inverse"]) for s in case.entry["sites"])
    have = sorted((s.pc, s.target, s.inverse) for s in case.prog.sites)
    assert have == want
    assert case.prog.prog_type == case.entry["prog_type"]


def test_m0_every_assignment(case):
    keys = case.entry["keys"]
    cubes = case.entry["expect"]["M0"]["unsafe_when"]
    wrong = []
    for values in itertools.product((0, 1), repeat=len(keys)):
        a = dict(zip(keys, values))
        ok, res = verdict(case.obj, case.prog, case.keys(a))
        if ok == unsafe(cubes, a):
            wrong.append(f"{a}: kernel {case.why(res)}, manifest "
                         f"{'unsafe' if unsafe(cubes, a) else 'safe'}")
    assert not wrong, "\n".join(wrong)
    assert case.entry["expect"]["M0"]["safe"] == (not cubes)


def test_m1_every_assignment(case):
    names = sorted(case.site_of)
    if len(names) > 8:
        pytest.skip("more than 8 sites")
    cubes = case.entry["expect"]["M1"]["unsafe_when"]
    wrong = []
    for values in itertools.product((0, 1), repeat=len(names)):
        a = dict(zip(names, values))
        ok, res = verdict_sites(case.obj, case.prog,
                                {case.site_of[n]: bool(v) for n, v in a.items()})
        if ok == unsafe(cubes, a):
            wrong.append(f"{a}: kernel {case.why(res)}, manifest "
                         f"{'unsafe' if unsafe(cubes, a) else 'safe'}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("how", ["r10", "may_goto"])
def test_m2_both_edges(case, how):
    ok, res = verdict_both_edges(case.obj, case.prog, how)
    assert ok == case.entry["expect"]["M2"]["safe"], case.why(res)


def bss_globals(path: str) -> dict[str, tuple[int, int]]:
    """``.bss`` variable -> (offset, size), from the object's symbols."""
    image = read_elf(path)
    sec = image.section(".bss")
    if sec is None:
        return {}
    return {s.name: (s.value, s.size) for s in image.symbols_in(sec.index) if s.name}


def test_runs_match_manifest(case):
    e = case.entry
    if e["prog_type"] not in RUNNABLE:
        pytest.skip(f"{e['prog_type']} programs cannot be test-run")
    runs = [r for r in e.get("runs", []) if "r0" in r]
    if not runs:
        pytest.skip("the manifest gives no runs")
    variables = bss_globals(os.path.join(BPFPROGS, e["object"]))
    wrong, done = [], 0
    for run in runs:
        packet = bytes.fromhex((run.get("ctx") or {}).get("packet") or "") or bytes(MIN_PACKET)
        if len(packet) < MIN_PACKET:
            continue
        prog = materialize(case.prog, keys=case.keys(run["keys"]))
        with loaded(case.obj, prog, log_level=0) as lp:
            assert lp.ok, f"{run['keys']}: rejected"
            got = lp.test_run(packet).retval
            done += 1
            if got != run["r0"] & 0xFFFFFFFF:
                wrong.append(f"{run['keys']} packet {packet.hex()}: r0 {got} != {run['r0']}")
            for name, want in (run.get("globals") or {}).items():
                if ".bss" not in lp.maps or name not in variables:
                    continue
                off, size = variables[name]
                val = int.from_bytes(lp.map_value(".bss")[off:off + size], "little")
                if val != want:
                    wrong.append(f"{run['keys']}: global {name} = {val}, manifest {want}")
    assert not wrong, "\n".join(wrong)
    if not done:
        pytest.skip("no run with a frame the kernel accepts")


def test_sequences_share_maps():
    with open(MANIFEST) as f:
        seqs = json.load(f).get("sequences", [])
    if not seqs:
        pytest.skip("no sequences")
    for seq in seqs:
        obj = load_object(os.path.join(BPFPROGS, seq["object"]))
        variables = bss_globals(os.path.join(BPFPROGS, seq["object"]))
        shared, opened = {}, []
        try:
            for step in seq["steps"]:
                prog = obj.program(step["program"])
                keys = {k: bool(v) for k, v in seq["keys"].items() if k in prog.keys()}
                lp = loaded(obj, materialize(prog, keys=keys), log_level=0, maps=shared)
                opened.append(lp)
                shared.update(lp.maps)
                assert lp.ok
                assert lp.test_run(bytes(MIN_PACKET)).retval == step["r0"] & 0xFFFFFFFF, \
                    (seq["name"], step)
            for name, want in seq.get("globals_after", {}).items():
                off, size = variables[name]
                val = int.from_bytes(shared[".bss"].lookup(bytes(4))[off:off + size], "little")
                assert val == want, (seq["name"], name)
        finally:
            for lp in opened:
                lp.close()


def test_program_with_sites_is_refused():
    for e in ENTRIES:
        obj = load_object(os.path.join(BPFPROGS, e["object"]))
        prog = obj.program(e["program"])
        if prog.sites:
            with pytest.raises(SkvError, match="materialise it first"):
                load_program(obj, prog)
            return
    pytest.skip("no program with sites")


def test_key_maps_not_created_and_rodata_frozen():
    from model.kernel.objload import create_maps

    for e in ENTRIES:
        obj = load_object(os.path.join(BPFPROGS, e["object"]))
        prog = obj.program(e["program"])
        maps = create_maps(obj, prog)
        try:
            assert not set(maps) & set(obj.keys())
            if ".rodata" in maps:
                with pytest.raises(SkvError):  # frozen: EPERM for the syscall side
                    maps[".rodata"].update(bytes(4), bytes(maps[".rodata"].value_size))
        finally:
            for m in maps.values():
                m.close()
