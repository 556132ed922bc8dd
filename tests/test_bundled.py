"""The bundled programs load into exactly the sites, keys and structure the manifest says."""

from __future__ import annotations

import pytest

from conftest import bundled_objects
from manifest import datapath_programs, object_path, program_id, programs
from model.cfg import build_cfg, check_structure
from model.elf.loader import load_object

PROGRAMS = programs()


def test_every_object_is_in_the_manifest():
    named = {p["object"] for p in PROGRAMS}
    on_disk = {p.name for p in bundled_objects()}
    assert on_disk == named
    assert len(PROGRAMS) >= 14


def test_manifest_covers_every_program_of_every_object():
    for path in bundled_objects():
        obj = load_object(str(path))
        listed = {p["program"] for p in PROGRAMS if p["object"] == path.name}
        assert {p.name for p in obj.programs} == listed, path.name


@pytest.mark.parametrize("entry", PROGRAMS + datapath_programs(), ids=program_id)
def test_sites_keys_and_cfg_match_manifest(entry):
    obj = load_object(str(object_path(entry)))
    prog = obj.program(entry["program"])
    assert prog.section == entry["section"]
    assert prog.prog_type == entry["prog_type"]
    assert prog.keys() == sorted(entry["keys"])
    got = [(s.pc, s.key, s.inverse, s.target, s.design) for s in prog.sites]
    want = [(s["pc"], s["key"], s["inverse"], s["target"], entry["design"])
            for s in sorted(entry["sites"], key=lambda s: s["pc"])]
    assert got == want
    check_structure(prog)
    cfg = build_cfg(prog)
    static = cfg.static_edges()
    assert len(static) == 2 * len(prog.sites)
    for s in prog.sites:
        states = {d["state"] for u, v, d in static if d["site"] == s.id}
        assert states == {"on", "off"}


def test_models_in_manifest_are_consistent():
    """M0-unsafe implies M1-unsafe implies M2-unsafe (the models form a hierarchy)."""
    for p in PROGRAMS + datapath_programs():
        e = p["expect"]
        if not e["M0"]["safe"]:
            assert not e["M1"]["safe"], program_id(p)
        if not e["M1"]["safe"]:
            assert not e["M2"]["safe"], program_id(p)
        assert e["M0"]["safe"] == (e["M0"]["unsafe_when"] == []), program_id(p)
