"""Running the bpf_conformance suite's ``.data`` files on our interpreter.

A file is a sequence of sections, each opened by a line ``-- NAME`` (``#`` lines are
comments):

- ``asm``: the program in the suite's uBPF syntax (``model.conformance_asm``);
- ``raw``: the program as 64-bit little-endian instruction words (``0x5566778800000018``,
  one per line) or as bytes (``18 00 00 ...``); decoded with ``model.isa.decode``. When a file
  has both, ``raw`` is run and the assembled ``asm`` must encode to the same bytes;
- ``mem``: hex bytes of the input memory: at entry r1 points to it and r2 holds its length;
- ``result``: the value r0 must hold at ``exit`` (hex with ``0x``, else decimal), compared
  on all 64 bits;
- ``error``: the file expects the program to be rejected (assembler, decoder or a fault);
- ``c`` and ``no register offset``: ignored, as the suite's own parser ignores them (it
  sets r1/r2 whenever there is memory: ``mem-len.data`` reads r2 under that directive).

The convention the tests assume: registers other than r1/r2/r10 start at 0 and the stack
starts zeroed (the interpreter's non-strict mode); helper 5 is the suite's "unwind" helper
(``CONFORMANCE_HELPERS``); ``call %rN`` calls the helper whose id is in rN.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from model.conformance_asm import assemble_ubpf
from model.errors import SkvError
from model.interp.helpers import CONFORMANCE_HELPERS
from model.interp.machine import DEFAULT_BUDGET, Machine, RunResult
from model.interp.memory import CTX_BASE, Region
from model.isa import Insn, decode, encode
from model.program import Program

SECTIONS = ("asm", "raw", "mem", "result", "error", "c", "no register offset")
MEM_BASE = CTX_BASE  # there is no program context in this convention
U64 = (1 << 64) - 1


@dataclass
class DataFile:
    name: str
    asm: str | None = None  # the asm lines, others blanked (line numbers are the file's)
    raw: bytes | None = None
    mem: bytes = b""
    result: int | None = None
    error: str | None = None
    sections: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    name: str
    status: str  # PASS | FAIL | ERROR
    detail: str = ""
    r0: int | None = None

    def line(self) -> str:
        return f"{self.status} {self.name}" + (f": {self.detail}" if self.detail else "")


def _raw_bytes(lines: list[str]) -> bytes:
    out = bytearray()
    for line in lines:
        toks = line.split()
        if all(len(t) == 2 and all(c in "0123456789abcdefABCDEF" for c in t) for t in toks):
            out += bytes(int(t, 16) for t in toks)
            continue
        for t in toks:
            try:
                v = int(t, 0)
            except ValueError:
                raise SkvError(f"raw: bad instruction word {t!r}") from None
            if not 0 <= v <= U64:
                raise SkvError(f"raw: instruction word {t} does not fit in 64 bits")
            out += struct.pack("<Q", v)
    return bytes(out)


def parse_data(text: str, name: str = "<data>") -> DataFile:
    """Split a ``.data`` file into its sections (``SkvError`` for an unknown one)."""
    df = DataFile(name)
    lines = text.splitlines()
    where: dict[str, list[int]] = {}
    current = None
    for n, line in enumerate(lines):
        if line.startswith("--"):
            current = line[2:].strip()
            if current not in SECTIONS:
                raise SkvError(f"line {n + 1}: unknown section '-- {current}'")
            df.sections.append(current)
            where.setdefault(current, [])
            continue
        if current is not None:
            where[current].append(n)

    def body(sec: str) -> list[str]:
        return [s for s in (lines[i].strip() for i in where.get(sec, [])) if s and s[0] != "#"]

    if "asm" in where:
        keep = set(where["asm"])
        df.asm = "\n".join(line if i in keep else "" for i, line in enumerate(lines))
    if "raw" in where:
        df.raw = _raw_bytes(body("raw"))
    try:
        df.mem = bytes.fromhex(" ".join(body("mem")))
    except ValueError:
        raise SkvError("mem: not hex bytes") from None
    res = body("result")
    if res:
        t = res[0].split()[0]
        try:
            df.result = int(t, 16) & U64 if t.lower().startswith("0x") else int(t) & U64
        except ValueError:
            raise SkvError(f"result: bad value {t!r}") from None
    if "error" in where:
        df.error = " ".join(body("error"))
    if df.asm is None and df.raw is None:
        raise SkvError("no program (neither '-- asm' nor '-- raw')")
    if df.result is None and df.error is None:
        raise SkvError("no '-- result' (or '-- error') section")
    return df


def program_of(df: DataFile) -> list[Insn]:
    """The instructions to run: ``raw`` if present (checked against ``asm``), else ``asm``."""
    asm = assemble_ubpf(df.asm) if df.asm is not None else None
    if df.raw is None:
        return asm
    insns = decode(df.raw)
    if asm is not None and encode(asm) != df.raw:
        mine, theirs = encode(asm), df.raw
        slot = next((i // 8 for i in range(0, min(len(mine), len(theirs)), 8)
                     if mine[i:i + 8] != theirs[i:i + 8]), min(len(mine), len(theirs)) // 8)
        raise SkvError(f"asm and raw differ at slot {slot}")
    return insns


def run_insns(insns: list[Insn], mem: bytes = b"", *, budget: int = DEFAULT_BUDGET,
              helpers=None) -> RunResult:
    """Run with the conformance convention: r1 = memory (r2 its length), other registers
    and the stack zero, the conformance helpers."""
    prog = Program("conformance", "conformance", list(insns))
    m = Machine(prog, {}, helpers=CONFORMANCE_HELPERS if helpers is None else helpers,
                strict=False, budget=budget)
    region = None
    regs = {1: 0, 2: 0}
    if mem:
        region = m.mem.add(Region("mem", "mem", MEM_BASE, bytearray(mem), True))
        regs = {1: region.base, 2: len(mem)}
    try:
        return m.run(regs=regs)
    finally:
        if region is not None:
            m.mem.remove(region)


def check(df: DataFile, *, budget: int = DEFAULT_BUDGET) -> Outcome:
    """Run one parsed file and judge it against its ``result`` (or ``error``)."""
    try:
        insns = program_of(df)
    except SkvError as e:
        if df.error is not None:
            return Outcome(df.name, "PASS", f"rejected: {e}")
        return Outcome(df.name, "ERROR", str(e))
    res = run_insns(insns, df.mem, budget=budget)
    if res.status == "budget":
        trouble = f"instruction budget of {budget} exhausted"
    elif res.status == "fault":
        trouble = f"fault at {res.fault}"
    else:
        trouble = None
    if df.error is not None:
        if trouble:
            return Outcome(df.name, "PASS", f"rejected: {trouble}")
        return Outcome(df.name, "FAIL", f"expected an error ({df.error or 'any'}), "
                                        f"got r0 {res.r0 & U64:#x}", res.r0)
    if trouble:
        return Outcome(df.name, "ERROR", trouble)
    r0 = res.r0 & U64
    if r0 != df.result:
        return Outcome(df.name, "FAIL", f"expected {df.result:#x}, got {r0:#x}", r0)
    return Outcome(df.name, "PASS", r0=r0)


def check_file(path: Path, *, budget: int = DEFAULT_BUDGET) -> Outcome:
    try:
        df = parse_data(path.read_text(), path.name)
    except (OSError, UnicodeDecodeError) as e:
        return Outcome(path.name, "ERROR", f"cannot read: {e}")
    except SkvError as e:
        return Outcome(path.name, "ERROR", str(e))
    return check(df, budget=budget)


def data_files(paths: Iterable[str]) -> list[Path]:
    """Every ``.data`` file named, directories expanded (sorted); ``SkvError`` if none."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.data"))
            if not found:
                raise SkvError(f"{p}: no .data files")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise SkvError(f"{p}: no such file or directory")
    return out


def run_all(paths: Iterable[str], out: TextIO, *, budget: int = DEFAULT_BUDGET,
            quiet: bool = False) -> tuple[int, int]:
    """Check every file, one line each (``quiet``: only the failures), then the summary
    line ``N passed, M failed``; returns (passed, failed) with errors counted as failed."""
    passed = failed = 0
    for path in data_files(paths):
        o = check_file(path, budget=budget)
        if o.status == "PASS":
            passed += 1
        else:
            failed += 1
        if not quiet or o.status != "PASS":
            print(o.line(), file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return passed, failed
