"""The ``skv`` command line: one sub-command per module in ``model.commands``.

Every user-facing failure is an ``SkvError``: printed as ``skv: error: <message>`` with exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from model.errors import SkvError

# sub-command -> module in model.commands providing add_arguments(parser) and run(args) -> int
COMMANDS = {
    "info": "Programs, maps, static keys and sites of BPF objects",
    "disasm": "Disassemble the linked programs of an object",
    "cfg": "Draw a program's control-flow graph (dot, svg or png)",
    "check": "Verify programs: both edges of every static site (safe under every key state)",
    "e2e": "Confirm a program's M1/M2 counterexample on JIT'd x86 while another CPU toggles",
    "materialize": "Fix every static site of a program (or make it both-edges) for a stock kernel",
    "run": "Run a program on the interpreter under a key state (M0, M1 or M2)",
    "conformance": "Run bpf_conformance .data files on the interpreter",
    "replay": "Replay an x86 text-poke counterexample on the unicorn executor",
    "prove": "Run every Z3 proof script in proofs/ and print one table",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skv", description="A formal model and symbolic verifier for BPF static keys.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        mod = importlib.import_module(f"model.commands.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except SkvError as e:
        print(f"skv: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `skv disasm x.o | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("skv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
