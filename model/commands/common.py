"""Pieces the sub-commands share: loading objects, choosing programs, printing tables."""

from __future__ import annotations

import argparse

from model.program import BpfObject, select_programs  # noqa: F401
from model.report.listing import map_ids  # noqa: F401
from model.text import table  # noqa: F401


def add_object_args(p: argparse.ArgumentParser, many: bool = True) -> None:
    if many:
        p.add_argument("objects", nargs="+", metavar="OBJ", help="BPF ELF object file(s)")
    else:
        p.add_argument("object", metavar="OBJ", help="BPF ELF object file")
    p.add_argument("--program", "-p", metavar="NAME", help="only this program")


def load(path: str, *, reading: bool = False) -> BpfObject:
    """The object at ``path``. ``reading``: for commands that only show it (info, disasm,
    cfg), which show every object the loader can read, including one whose static key is
    also used as an ordinary map (judging that is ``check``'s work)."""
    from model.elf.loader import load_object

    return load_object(path, keys_as_maps="keep" if reading else "error")
