"""Random dynptr programs for ``tests/test_dynptr.py``: a few dynptrs (ring buffer or
local, over the array's value in r6) created, read, written, sliced (the slice in r7),
released, overwritten and read as plain stack at random 8-byte (sometimes 4-byte) offsets,
with forward branches that join paths holding different dynptrs."""

from __future__ import annotations

import random

from dynptr_probes import (ARRAY, DATA, DISCARD, FROM_MEM, READ, RESERVE, RINGBUF, SUBMIT,
                           VALUE, WRITE)
from callback_probes import CbProbe
from soundness_probes import Probe

_OFFS = (-48, -40, -32, -24, -16)


def _off(rng) -> int:
    return rng.choice(_OFFS) + (4 if rng.random() < 0.08 else 0) - (8 if rng.random() < 0.05
                                                                    else 0)


class _Gen:
    """Draws operations, mostly on the dynptrs created so far (``made``: offset -> type)."""

    def __init__(self, rng) -> None:
        self.rng, self.made = rng, {}

    def _at(self) -> int:
        if self.made and self.rng.random() < 0.85:
            return self.rng.choice(sorted(self.made))
        return _off(self.rng)

    def op(self) -> str:
        rng = self.rng
        k = rng.randrange(15)
        if k in (0, 1):
            at = _off(rng) if rng.random() < 0.3 else rng.choice(_OFFS[::2])
            self.made[at] = "ringbuf" if k == 0 else "local"
            if k == 0:
                return (f"ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += {at}\n"
                        f"call {RESERVE}\n")
            return f"r1 = r6\nr2 = 16\nr3 = 0\nr4 = r10\nr4 += {at}\ncall {FROM_MEM}\n"
        at = self._at()
        if k == 2:
            self.made.pop(at, None)
            return f"r1 = r10\nr1 += {at}\nr2 = 0\ncall {rng.choice((SUBMIT, DISCARD))}\n"
        if k == 3:
            dst = rng.choice((-56, -64, -64, _off(rng)))
            return (f"r1 = r10\nr1 += {dst}\nr2 = 8\nr3 = r10\nr3 += {at}\nr4 = 0\nr5 = 0\n"
                    f"call {READ}\n")
        if k == 4:
            return f"r1 = r10\nr1 += {at}\nr2 = 0\nr3 = r6\nr4 = 8\nr5 = 0\ncall {WRITE}\n"
        if k == 5:
            return f"r1 = r10\nr1 += {at}\nr2 = 0\nr3 = 8\ncall {DATA}\nr7 = r0\n"
        if k == 6:
            check = "if r7 == 0 goto +2\n" if rng.random() < 0.85 else "goto +0\ngoto +0\n"
            return check + "r1 = 1\n*(u64 *)(r7 + 0) = r1\n"
        a = rng.choice(_OFFS) + rng.choice((0, 8))
        if k == 7:
            size = rng.choice((8, 8, 4, 1))
            a += rng.choice((0, 4 if size <= 4 else 0, 7 if size == 1 else 0))
            return f"r1 = 0\n*(u{8 * size} *)(r10 - {-a}) = r1\n"
        if k == 8:
            return f"r1 = *(u64 *)(r10 - {-a})\n"
        if k == 9:
            return f"*(u64 *)(r10 - {-a}) = r6\n"
        if k == 11:  # a variable-offset byte write
            return (f"call 7\nr0 &= 8\nr1 = r10\nr1 += {a - 8}\nr1 += r0\nr2 = 0\n"
                    "*(u8 *)(r1 + 0) = r2\n")
        if k == 12:  # a helper reads 8 stack bytes
            return (f"ld_pseudo r1, 1, 0\nr2 = r10\nr2 += {a}\nr3 = 8\nr4 = 0\ncall 130\n")
        if k == 13:
            return "*(u64 *)(r10 - 56) = r7\n"
        if k == 14:
            return "r7 = *(u64 *)(r10 - 56)\n"
        return "call 7\n" + "if r0 > 5 goto +{skip}\n"


def random_program(seed: int, callback: bool = False):
    """A random program (``callback``: its body is a bpf_loop callback called twice, on the
    callback's own stack)."""
    rng = random.Random(seed)
    g = _Gen(rng)
    ops = [g.op() for _ in range(rng.randint(2, 7))]
    if rng.random() < 0.8:  # release what a path may hold
        ops += [f"r1 = r10\nr1 += {a}\nr2 = 0\ncall {DISCARD}\n"
                for a, t in sorted(g.made.items()) if t == "ringbuf"]
    body = []
    for i, op in enumerate(ops):
        if "{skip}" in op:
            rest = sum(_count(o) for o in ops[i + 1:i + 1 + rng.randint(1, 2)])
            op = op.format(skip=rest)
        body.append(op)
    text = ("r7 = 0\n*(u64 *)(r10 - 56) = r7\n" + VALUE + "r6 = r0\n" + "".join(body)
            + "r0 = 0\nexit\n"
            "out:\nr0 = 0\nexit\n")
    if callback:
        return CbProbe(f"cbgen{seed}", "xdp", "r1 = 2\nr2 = func cb\nr3 = 0\nr4 = 0\n"
                       "call 181\nr0 = 0\nexit\ncb:\n" + text, [RINGBUF, ARRAY])
    return Probe(f"gen{seed}", "xdp", text, [RINGBUF, ARRAY])


def _count(op: str) -> int:
    """Instructions in a snippet (ld_pseudo is two)."""
    return sum(2 if ln.startswith("ld_pseudo") else 1 for ln in op.splitlines() if ln)
