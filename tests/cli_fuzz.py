"""A fuzzing campaign against the ``skv`` command line, in-process: damaged objects through
``info``, ``disasm``, ``cfg``, ``info --pipeline`` and ``check``, and damaged JSON files
through every reader (``run --replay``, ``e2e --replay``, ``replay`` for poke and key
schedules). Shared by ``tests/test_fuzz_cli.py`` (a few thousand per CI run) and
``bench/fuzz.py`` (100,000).

Each input is classified by what ``model.cli.main`` did with it: exit 0/1 (an answer),
2 (bad input: stderr must be one line starting ``skv: error:``), 3 (an internal error: a
bug), an exception escaping ``main`` (a bug), or running past ``HANG_S`` (a hang).
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import random
import resource
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from model.cli import main

HANG_S = 30.0
SH_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8),
             (56, 8)]
HOSTILE = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 40, (1 << 63) - 1,
           (1 << 64) - 1]


class Hang(Exception):
    pass


@dataclass
class Outcome:
    counts: collections.Counter = field(default_factory=collections.Counter)
    bugs: list = field(default_factory=list)        # (what, argv, message)
    slowest_s: float = 0.0

    def add(self, kind: str, argv: list[str], rc, err: str, dt: float) -> None:
        self.slowest_s = max(self.slowest_s, dt)
        self.counts[f"{kind}:exit {rc}"] += 1
        lines = err.strip().splitlines()
        if rc == 2 and (len(lines) != 1 or not lines[0].startswith("skv: error:")):
            self.bugs.append(("not one line", argv, err[:500]))
        elif rc not in (0, 1, 2):
            self.bugs.append((f"exit {rc}", argv, err[:500]))


def run_cli(argv: list[str]) -> tuple[object, str, str, float]:
    """``main(argv)`` with output captured and a wall-clock alarm (a hang raises Hang)."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except Hang:
        rc = "hang"
    except SystemExit as e:  # argparse
        rc = e.code
    except BaseException as e:  # noqa: BLE001 - escaping main is the bug being looked for
        rc = f"exception {type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - t0


# -- objects -----------------------------------------------------------------------------------
def _shdrs(blob: bytes) -> tuple[int, int, int]:
    shoff, = struct.unpack_from("<Q", blob, 0x28)
    entsize, num = struct.unpack_from("<HH", blob, 0x3A)
    return shoff, entsize or 64, num


def _sections(blob: bytes) -> list[tuple[int, int, int]]:
    """(header offset, data offset, data size) of each section header that fits."""
    shoff, entsize, num = _shdrs(blob)
    out = []
    for i in range(1, num):
        h = shoff + i * entsize
        if h + 64 <= len(blob):
            off, size = struct.unpack_from("<QQ", blob, h + 24)
            out.append((h, off, size))
    return out


def damage_object(blob: bytes, rng: random.Random) -> bytes:
    b = bytearray(blob)
    kind = rng.choice(["flip", "truncate", "shfield", "section", "section", "reloc", "symbol",
                       "header", "run"])
    secs = _sections(blob)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[:rng.randrange(len(b))]
    elif kind == "shfield" and secs:
        h, _, _ = rng.choice(secs)
        f, w = rng.choice(SH_FIELDS)
        v = rng.choice(HOSTILE + [len(blob), len(blob) + 1])
        b[h + f:h + f + w] = (v & ((1 << 8 * w) - 1)).to_bytes(w, "little")
    elif kind in ("section", "reloc", "symbol") and secs:
        # damage inside one section's data: any section, or one of relocations/symbols
        _, off, size = rng.choice(secs)
        if size and off + size <= len(b):
            for _ in range(rng.randint(1, 4)):
                pos = off + rng.randrange(size)
                width = rng.choice((1, 2, 4, 8))
                v = rng.choice(HOSTILE + [rng.getrandbits(64)])
                chunk = (v & ((1 << 8 * width) - 1)).to_bytes(width, "little")
                b[pos:pos + width] = chunk[:max(0, len(b) - pos)]
    elif kind == "header":
        b[rng.randint(16, 63)] = rng.randrange(256)
    else:
        pos = rng.randrange(len(b))
        run = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        b[pos:pos + len(run)] = run
    return bytes(b)


def object_commands(path: str, rng: random.Random, full: bool) -> list[list[str]]:
    cmds = [["info", path], ["check", "--json", "--no-symbolic", "--time-limit", "5", path]]
    if full:
        cmds += [["disasm", path], ["cfg", path, "--format", "dot"], ["info", "--pipeline", path],
                 ["check", "--json", "--time-limit", "5", path],
                 ["e2e", "--json", "--random", "2", "--time-limit", "5", path]]
    return cmds


def fuzz_objects(seeds: list[Path], n: int, seed: int, tmp: Path, full_every: int = 10,
                 out: Outcome | None = None) -> Outcome:
    out = out or Outcome()
    rng = random.Random(seed)
    blobs = [p.read_bytes() for p in seeds]
    for i in range(n):
        path = tmp / f"m{i % 16}.o"
        path.write_bytes(damage_object(rng.choice(blobs), rng))
        for argv in object_commands(str(path), rng, full=i % full_every == 0):
            rc, stdout, err, dt = run_cli(argv)
            out.add("object " + argv[0], argv, rc, err, dt)
            if argv[0] == "check" and rc in (0, 1, 2) and stdout:
                try:
                    rows = json.loads(stdout)["programs"]
                    assert rows and all("verdict" in r for r in rows)
                except (ValueError, KeyError, AssertionError):
                    out.bugs.append(("check --json without a row per program", argv,
                                     stdout[:300]))
    return out


# -- JSON files --------------------------------------------------------------------------------
JUNK = [None, True, -1, 0, 1, 2 ** 40, -(2 ** 70), 10 ** 30, 1.5, "", "M9", "zz", "0" * 5000,
        [], [1, 2], {}, {"a": 1}, "\u0000\u001b[2J"]


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:8]):
            yield from _paths(v, prefix + (i,))


def damage_json(doc, rng: random.Random) -> str:
    d = json.loads(json.dumps(doc))
    kind = rng.choice(["set", "set", "set", "delete", "nest", "text"])
    if kind == "text":
        text = json.dumps(d)
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + rng.choice(["", "}", "]]", "\"", "9" * 5000, "\x00"])
    if kind == "nest":
        depth = rng.choice((70, 1000, 100_000))
        return json.dumps(d)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    paths = [p for p in _paths(d) if p]
    if not paths:
        return json.dumps(d)
    path = rng.choice(paths)
    node = d
    for k in path[:-1]:
        node = node[k]
    if kind == "delete" and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = rng.choice(JUNK)
    return json.dumps(d)


def fuzz_json(docs: dict[str, dict], n: int, seed: int, tmp: Path,
              out: Outcome | None = None) -> Outcome:
    """``docs``: reader command ("run", "e2e", "replay") -> a valid document it reads."""
    out = out or Outcome()
    rng = random.Random(seed)
    names = sorted(docs)
    for i in range(n):
        which = names[i % len(names)]
        path = tmp / f"j{i % 16}.json"
        path.write_text(damage_json(docs[which], rng))
        argv = {"run": ["run", "--replay", str(path)],
                "e2e": ["e2e", "--replay", str(path)]}.get(which, ["replay", str(path)])
        rc, _, err, dt = run_cli(argv)
        out.add("json " + which, argv, rc, err, dt)
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
