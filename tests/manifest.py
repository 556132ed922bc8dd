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


def program_id(p: dict) -> str:
    return f"{p['object']}:{p['program']}"


def unsafe(cubes: list[dict], assignment: dict[str, int]) -> bool:
    """An assignment is unsafe iff it matches at least one cube."""
    return any(all(assignment.get(k) == v for k, v in c.items()) for c in cubes)
