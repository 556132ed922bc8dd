"""x86 text-poke races: site encodings, the Z3 table (``proofs/poke_race.py --quick``), every
counterexample confirmed on the unicorn executor, and random schedules on the executor for
every PROVED cell.

Sample sizes: 1,000 random schedules per (protocol, site size) row group of the quick table
(spread over its three fetch models and both toggle directions; each schedule has 2 CPUs x 2
fetches per site and is checked against every property PROVED for its fetch model), and
1,000 random interleavings per PROVED key scenario. ``bench/poke.py`` runs 10,000 per group.
"""

from __future__ import annotations

import glob
import json
import os
import random

import pytest

from model.x86 import executor as X
from model.x86 import fetch as fx
from model.x86.poke import KEY_SCENARIOS, PROTOCOLS, apply_key_schedule
from model.x86.race import KeySchedule
from model.x86.sites import NOP2, NOP5, Site, jump_bytes
from proofs import poke_race

SAMPLES = 1000


def test_site_encodings():
    assert NOP2 == bytes.fromhex("6690") and NOP5 == bytes.fromhex("0f1f440000")
    assert jump_bytes(0x10, 2, 0x18) == bytes.fromhex("eb06")
    assert jump_bytes(0x10, 5, 0x10) == bytes.fromhex("e9fbffffff")
    s = Site(0x40, 5, 0x4b)
    assert s.bytes_for(True) == bytes.fromhex("e906000000") and s.bytes_for(False) == NOP5
    with pytest.raises(ValueError):
        jump_bytes(0, 2, 200)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("cex")
    rows = []
    for pr in PROTOCOLS:
        for sz in poke_race.SIZES:
            for m in poke_race.QUICK_MODELS:
                if poke_race.applicable(sz, m):
                    rows.append(poke_race.run_row((pr, sz, m, 60_000, str(out))))
    return rows, str(out)


def test_quick_table_matches_expectations(table):
    rows, _ = table
    for proto, size, m, cells in rows:
        for prop, (res, _, detail, _) in cells.items():
            assert res == poke_race.expected(proto, size, m, prop), (proto, size, m.name, prop,
                                                                     detail)
    # the headline claims
    got = {(p, s, m.name): c for p, s, m, c in rows}
    for m in poke_race.QUICK_MODELS:
        for s in ("2B", "5B"):
            if (("int3", s, m.name)) in got:
                assert got[("int3", s, m.name)]["torn"][0] == "PROVED"
    assert got[("memcpy-inorder", "5B", "1B/in/coherent")]["torn"][0] == "COUNTEREXAMPLE"


def test_every_counterexample_confirmed_by_executor(table):
    _, out = table
    files = sorted(glob.glob(os.path.join(out, "*.json")))
    assert len(files) >= 30
    for path in files:
        with open(path) as f:
            sc = fx.Schedule.from_json(json.load(f))
        r = X.replay(sc)
        assert r.confirmed, path
        assert r.outcomes == sc.expect["outcomes"], (path, r.outcomes)  # executor == decoder


def test_minimise_keeps_the_violation(table):
    _, out = table
    with open(os.path.join(out, "int3-no-sync2_5B_8B-any-stale_torn.json")) as f:
        sc = fx.Schedule.from_json(json.load(f))
    m = X.minimise(sc)
    assert len(m.fetches) == 1 and X.replay(m).confirmed


def test_key_counterexamples_confirmed():
    from model.x86 import race
    for sc in KEY_SCENARIOS:
        r = race.search_key(sc)
        assert r.status == sc.expect, sc.name
        if r.status == "COUNTEREXAMPLE":
            ks = KeySchedule.from_json(json.loads(json.dumps(r.schedule.to_json())))
            kr = X.replay_key(ks)
            assert kr.confirmed and kr.states == r.schedule.expect["final"], sc.name


@pytest.mark.parametrize("proto", list(PROTOCOLS))
@pytest.mark.parametrize("size", ["2B", "5B"])
def test_proved_cells_sampled_on_executor(proto, size):
    rng = random.Random(hash((proto, size)) & 0xFFFF)
    models = [m for m in poke_race.QUICK_MODELS if poke_race.applicable(size, m)]
    proved = {m: [p for p in fx.PROPERTIES
                  if poke_race.expected(proto, size, m, p) == "PROVED"] for m in models}
    if not any(proved.values()):
        pytest.skip("no PROVED cell")
    for m in models:  # every PROVED cell (protocol, size, fetch model) gets SAMPLES runs
        if not proved[m]:
            continue
        for i in range(SAMPLES):
            kind = poke_race.SIZES[size][i % 2]
            sc = fx.random_schedule(rng, proto, kind, m)
            assert fx.check_legal(sc) is None
            r = X.replay(sc)
            assert r.outcomes == fx.predict(sc)
            for p in proved[m]:
                assert not r.violations[p], (proto, size, m.name, p, sc.to_json())
    assert SAMPLES >= 1000


@pytest.mark.parametrize("sc", [s for s in KEY_SCENARIOS if s.expect == "PROVED"],
                         ids=lambda s: s.name)
def test_proved_key_scenarios_sampled(sc):
    rng = random.Random(7)
    for _ in range(SAMPLES):
        ks = X.random_key_schedule(rng, sc)
        states, _, _ = apply_key_schedule(sc, ks.order, ks.fail)
        r = X.replay_key(ks)
        assert not r.confirmed and len(set(r.states)) == 1 and r.states == states


@pytest.mark.parametrize("edit, msg", [
    (lambda d: d["writer"].append({"kind": "write", "addr": 1 << 40, "data": "cc"}),
     "$.writer[" ),
    (lambda d: d["writer"].append({"kind": "write", "addr": 60000, "data": "cc"}),
     "is outside the"),
    (lambda d: d["fetches"][0].update(cpu=1_000_000_000), "$.fetches[0].cpu"),
    (lambda d: d["fetches"][0].update(site=9), "site 9 does not exist"),
    (lambda d: d["fetches"][0].update(t=[0]), "one time per site byte"),
    (lambda d: d["fetches"][0].update(u=[10 ** 6] * len(d["fetches"][0]["u"])),
     "times must be in"),
    (lambda d: d.update(kind="nop3"), "$.kind"),
    (lambda d: d.update(offsets="0"), "$.offsets"),
    (lambda d: d["writer"].append({"kind": "explode"}), "$.writer["),
])
def test_bad_schedule_is_one_line_exit_2(table, tmp_path, capsys, edit, msg):
    """Damaged poke schedules are refused before the executor sees them: no segfault at a
    wild address, no allocation for a huge CPU number, one line, exit status 2."""
    from model.cli import main

    _, out = table
    with open(os.path.join(out, "int3-no-sync2_5B_8B-any-stale_torn.json")) as f:
        d = json.load(f)
    edit(d)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skv: error:") and msg in err, err
