"""Fuzzing the command line in-process (``tests/cli_fuzz.py``): damaged objects through every
reading command and ``check``, damaged JSON through every file reader. No traceback, no
internal error, no hang, one-line errors, a row per program in ``check --json``, bounded
memory. ``bench/fuzz.py`` runs the same campaign at 100,000 inputs.
"""

from __future__ import annotations

import json

import pytest

from cli_fuzz import fuzz_json, fuzz_objects, peak_rss_mib, run_cli
from conftest import BPFPROGS, bundled_objects

N_OBJECTS = 2000
N_JSON = 3000
SEED = 160


def _report(out) -> str:
    return "\n".join(f"{what}: {' '.join(argv)}\n  {msg}" for what, argv, msg in out.bugs[:8])


def test_damaged_objects_never_crash(tmp_path):
    seeds = bundled_objects()
    if not seeds:
        pytest.skip("no bundled objects in bpfprogs/ (run make -C bpfprogs)")
    out = fuzz_objects(seeds, N_OBJECTS, SEED, tmp_path)
    print(f"\n{N_OBJECTS} damaged objects: {dict(out.counts)}; slowest {out.slowest_s:.1f} s; "
          f"peak RSS {peak_rss_mib():.0f} MiB")
    assert not out.bugs, _report(out)
    # the campaign reaches both outcomes: clean loads and load errors
    assert out.counts["object info:exit 0"] > N_OBJECTS // 20
    assert out.counts["object info:exit 2"] > N_OBJECTS // 20
    assert peak_rss_mib() < 2048


def valid_documents(tmp_path) -> dict:
    """One valid file of each format, made by skv itself."""
    from model.x86 import race
    from model.x86.poke import KEY_SCENARIOS
    from proofs import poke_race

    docs = {}
    cex = tmp_path / "cex.json"
    rc, *_ = run_cli(["check", "--cex", str(cex), str(BPFPROGS / "unsafe_m2.o")])
    assert rc == 1
    docs["run"] = json.loads(cex.read_text())
    e2e = tmp_path / "e2e.json"
    rc, *_ = run_cli(["e2e", str(BPFPROGS / "unsafe_m1.o"), "--save", str(e2e)])
    assert rc == 0
    docs["e2e"] = json.loads(e2e.read_text())
    cells = tmp_path / "cells"
    cells.mkdir()
    m = next(m for m in poke_race.QUICK_MODELS if poke_race.applicable("5B", m))
    poke_race.run_row(("memcpy-inorder", "5B", m, 60_000, str(cells)))
    docs["replay"] = json.loads(next(cells.glob("*.json")).read_text())
    r = race.search_key(next(s for s in KEY_SCENARIOS if s.expect != "PROVED"))
    docs["replay-key"] = r.schedule.to_json()
    return docs


def test_damaged_json_files_never_crash(tmp_path):
    if not bundled_objects():
        pytest.skip("no bundled objects in bpfprogs/ (run make -C bpfprogs)")
    docs = valid_documents(tmp_path)
    for which, doc in docs.items():  # the undamaged files are read and replayed
        path = tmp_path / f"valid-{which}.json"
        path.write_text(json.dumps(doc))
        argv = {"run": ["run", "--replay", str(path)],
                "e2e": ["e2e", "--replay", str(path)]}.get(which, ["replay", str(path)])
        rc, _, err, _ = run_cli(argv)
        assert rc in (0, 1), (which, rc, err)
    out = fuzz_json(docs, N_JSON, SEED, tmp_path)
    print(f"\n{N_JSON} damaged JSON files: {dict(out.counts)}; slowest {out.slowest_s:.1f} s")
    assert not out.bugs, _report(out)
    for which in docs:
        assert out.counts[f"json {which}:exit 2"] > N_JSON // (5 * len(docs)), which
