"""The ``skv`` command line: one sub-command per module in ``model.commands``.

Every user-facing failure is one line on stderr, never a traceback: bad input (an
``SkvError``, an unreadable or unwritable file, a bad argument) is ``skv: error: <message>``
with exit status 2; anything else is an internal error, ``skv: internal error: <what>`` with
exit status 3 (the traceback only with ``--debug``). Exit status 1 is a command's own "no"
(a rejected program, a fault, a counterexample not reproduced).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from model.errors import SkvError
from model.inputs import show

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
    "compare": "Two skv check --json runs side by side (as veristat -C): verdict changes",
}


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage stays in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"skv: error: {self.prog}: {show(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skv", description="A formal model and symbolic verifier for BPF static keys.")
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
        print(f"skv: error: {show(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a file named on the command line that cannot be read or written
        if isinstance(e, BrokenPipeError):
            return _broken_pipe()
        where = f"{show(e.filename)}: " if e.filename else ""
        print(f"skv: error: {where}{show(e.strerror or e)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("skv: error: out of memory (the input is too large for this machine)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skv: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug in skv: one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"skv: internal error: {type(e).__name__}: {show(e)} (at "
              f"{os.path.basename(where.filename)}:{where.lineno}; --debug shows the "
              "traceback)", file=sys.stderr)
        return 3


def _broken_pipe() -> int:
    """e.g. ``skv disasm x.o | head``: stop quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
