"""The ground truth of bpfprogs/manifest.json, for tests."""

from __future__ import annotations

import json
from functools import lru_cache

from conftest import BPFPROGS


@lru_cache(maxsize=None)
def manifest() -> dict:
    return json.loads((BPFPROGS / "manifest.json").read_text())


def programs() -> list[dict]:
    return manifest()["programs"]


#: the datapath (bpfprogs/datapath/) has a manifest of its own: its programs are too large
#: for the exhaustive per-assignment tests over programs(); tests/test_datapath.py covers it
DATAPATH = BPFPROGS / "datapath"


@lru_cache(maxsize=None)
def datapath_programs() -> list[dict]:
    """The datapath manifest's entries, each with ``"dir": "datapath"`` added."""
    doc = json.loads((DATAPATH / "manifest.json").read_text())
    return [{**p, "dir": "datapath"} for p in doc["programs"]]


def object_path(p: dict):
    """The object file of a manifest entry (of either manifest)."""
    return BPFPROGS / p.get("dir", "") / p["object"]


def program_id(p: dict) -> str:
    return f"{p.get('dir', '') and p['dir'] + '/'}{p['object']}:{p['program']}"


def unsafe(cubes: list[dict], assignment: dict[str, int]) -> bool:
    """An assignment is unsafe iff it matches at least one cube."""
    return any(all(assignment.get(k) == v for k, v in c.items()) for c in cubes)
