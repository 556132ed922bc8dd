"""Error types shared by every layer.

Every error skv reports to a user is an ``SkvError``: the CLI prints ``skv: error: <str>``
and exits 2. Nothing else may escape to the user as a traceback.
"""

from __future__ import annotations


class SkvError(Exception):
    """Base of every error skv reports to a user (one line, no traceback)."""


class IsaError(SkvError):
    """An instruction that is not valid BPF (unknown opcode, reserved field set, ...).

    ``index`` is the instruction slot (8-byte unit) where decoding failed, when known.
    """

    def __init__(self, cause: str, index: int | None = None):
        self.cause = cause
        self.index = index
        super().__init__(cause if index is None else f"insn {index}: {cause}")


class AsmError(SkvError):
    """Text that the assembler cannot turn into instructions; ``line`` is 1-based."""

    def __init__(self, cause: str, line: int | None = None):
        self.cause = cause
        self.line = line
        super().__init__(cause if line is None else f"line {line}: {cause}")


class LoadError(SkvError):
    """An object file that cannot be loaded: names the file and the cause."""

    def __init__(self, path: str, cause: str):
        self.path = path
        self.cause = cause
        super().__init__(f"{path}: {cause}")


class CfgError(SkvError):
    """A program whose control flow the kernel would reject (unreachable code, ...)."""

    def __init__(self, program: str, cause: str, insn: int | None = None):
        self.program = program
        self.cause = cause
        self.insn = insn
        super().__init__(f"program {program}: {cause}")


class NotModelled(SkvError):
    """A kernel feature skv does not model (a program type's context, a helper, a map
    type...). The verifier turns it into a rejection "not modelled: ...", never "safe"."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(f"not modelled: {what}")
