"""Pieces the sub-commands share: loading objects, choosing programs, printing tables."""

from __future__ import annotations

import argparse

from model.errors import SkvError
from model.program import BpfObject, Program


def add_object_args(p: argparse.ArgumentParser, many: bool = True) -> None:
    if many:
        p.add_argument("objects", nargs="+", metavar="OBJ", help="BPF ELF object file(s)")
    else:
        p.add_argument("object", metavar="OBJ", help="BPF ELF object file")
    p.add_argument("--program", "-p", metavar="NAME", help="only this program")


def load(path: str) -> BpfObject:
    from model.elf.loader import load_object

    return load_object(path)


def select_programs(obj: BpfObject, name: str | None) -> list[Program]:
    if name is None:
        return obj.programs
    for p in obj.programs:
        if p.name == name:
            return [p]
    have = ", ".join(p.name for p in obj.programs)
    raise SkvError(f"{obj.path}: no program named {name} (programs: {have})")


def map_ids(obj: BpfObject) -> dict[str, int]:
    """Stable ids for printing ``map[id:N]``: the maps in definition order, from 1."""
    return {name: n + 1 for n, name in enumerate(obj.maps)}


def table(rows: list[list[str]], header: list[str]) -> str:
    cols = [header] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*header).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*map(str, r)).rstrip() for r in rows]
    return "\n".join(lines)


def read_json_object(path: str, what: str = "a JSON object") -> dict:
    """A JSON file holding one object; every problem is a one-line ``SkvError``."""
    import json

    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise SkvError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SkvError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise SkvError(f"{path}: expected {what}")
    return data
