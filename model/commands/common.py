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
    add_loader_args(p)


def add_loader_args(p: argparse.ArgumentParser) -> None:
    """What a loader is told beside the object: --prog-type and --btf."""
    from model.elf.core import VMLINUX_BTF

    p.add_argument("--prog-type", metavar="TYPE", type=_prog_type,
                   help="program type of programs whose section names none (iproute2's "
                        "from-netdev or 2/7, functions of .text): xdp, sched_cls, "
                        "socket_filter, kprobe, ...")
    p.add_argument("--btf", metavar="FILE", default=VMLINUX_BTF, type=_btf_file,
                   help=f"kernel BTF to resolve CO-RE relocations against (default {VMLINUX_BTF})")


def _btf_file(text: str) -> str:
    import os

    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no BTF file {text}")
    return text


def _prog_type(text: str) -> str:
    from model.elf.sections import parse_prog_type

    try:
        return parse_prog_type(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def load(path: str, *, reading: bool = False, prog_type: str | None = None,
         btf: str | None = None, maps_only: bool = False) -> BpfObject:
    """The object at ``path``. ``reading``: for commands that only show it (info, disasm,
    cfg), which show every object the loader can read, including one whose static key is
    also used as an ordinary map (judging that is ``check``'s work)."""
    from model.elf.core import VMLINUX_BTF
    from model.elf.loader import load_object

    return load_object(path, keys_as_maps="keep" if reading else "error", prog_type=prog_type,
                       btf=btf or VMLINUX_BTF, maps_only=maps_only)
