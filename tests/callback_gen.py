"""Random callback programs for tests/test_callbacks.py: a caller that fills two stack
slots (constants, a map value pointer, or nothing), calls bpf_loop with fp-16 as the
callback's ctx, then uses a slot (as a pointer, a stack index, a map value offset); a
callback that reads and writes the ctx slots (constants, its index, increments, pointers)
and returns 0, 1, its index or a masked value. The kernel decides what is valid."""

from __future__ import annotations

import random

from callback_probes import ARRAY, CbProbe

_LOOKUP = ("r1 = 0\n*(u64 *)(r10 - 24) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -24\n"
           "call 1\nif r0 == 0 goto out\n")
_INIT = ["r1 = 0\n*(u64 *)(r10 - {s}) = r1\n", "r1 = 3\n*(u64 *)(r10 - {s}) = r1\n",
         "*(u64 *)(r10 - {s}) = r0\n", ""]
_COUNT = ["r1 = 0\n", "r1 = 1\n", "r1 = 3\n", "r1 = 70\n", "r1 = *(u32 *)(r6 + 12)\n",
          "r1 = *(u32 *)(r6 + 12)\nr1 &= 3\n"]
_USE = ["r1 = *(u64 *)(r10 - {s})\nr0 = *(u64 *)(r1 + 0)\n",
        "r1 = *(u64 *)(r10 - {s})\nr2 = r10\nr2 += -40\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n",
        "r1 = *(u64 *)(r10 - {s})\nr1 &= 7\nr2 = r10\nr2 += -40\nr2 += r1\n"
        "r0 = *(u8 *)(r2 + 0)\n",
        ""]
_CB = ["r3 = {c}\n*(u64 *)(r2 + {o}) = r3\n",
       "r3 = *(u64 *)(r2 + {o})\nr3 += 1\n*(u64 *)(r2 + {o}) = r3\n",
       "r3 = r1\nr3 &= {c}\n*(u64 *)(r2 + {o}) = r3\n",
       "r3 = *(u64 *)(r2 + {o})\nr0 = *(u64 *)(r3 + 0)\n",
       "r3 = *(u64 *)(r2 + 0)\n*(u64 *)(r2 + 8) = r3\n",
       "*(u64 *)(r2 + {o}) = r1\n",
       "r3 = *(u64 *)(r2 + {o})\nif r3 > 7 goto +1\n*(u64 *)(r2 + 8) = r3\n"]
_RET = ["r0 = 0\n", "r0 = 1\n", "r0 = r1\nr0 &= 1\n", "r0 = r1\n", "r0 = *(u64 *)(r2 + 8)\n"
        "r0 &= 1\n"]


def random_probe(seed: int) -> CbProbe:
    rnd = random.Random(seed)
    text = "r6 = r1\n" + _LOOKUP
    for s in (8, 16):
        text += rnd.choice(_INIT).format(s=s)
    text += rnd.choice(_COUNT)
    text += "r2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n"
    text += rnd.choice(_USE).format(s=rnd.choice((8, 16)))
    text += "out:\nr0 = 0\nexit\ncb:\n"
    for _ in range(rnd.randint(1, 3)):
        text += rnd.choice(_CB).format(c=rnd.choice((0, 1, 5, 64)), o=rnd.choice((0, 8)))
    text += rnd.choice(_RET) + "exit\n"
    return CbProbe(f"gen{seed}", "xdp", text, [ARRAY])


_EACH_CB = ["r5 = *(u64 *)(r3 + {v})\n*(u64 *)(r4 + {o}) = r5\n",
            "r5 = *(u32 *)(r2 + {k})\n*(u64 *)(r4 + {o}) = r5\n",
            "r5 = *(u64 *)(r4 + {o})\nr5 += 1\n*(u64 *)(r4 + {o}) = r5\n",
            "r5 = {c}\n*(u64 *)(r3 + {v}) = r5\n",
            "r5 = *(u64 *)(r4 + {o})\nr0 = *(u64 *)(r5 + 0)\n",
            "r5 = *(u32 *)(r2 + 0)\nif r5 > 3 goto +3\nr0 = r10\nr0 += -8\nr0 += r5\n",
            "*(u64 *)(r4 + {o}) = r3\n",
            "r5 = *(u64 *)(r3 + 0)\nr5 &= 7\nr0 = r3\nr0 += r5\nr0 = *(u8 *)(r0 + 0)\n"]
_EACH_RET = ["r0 = 0\n", "r0 = 1\n", "r0 = *(u32 *)(r2 + 0)\nr0 &= 1\n",
             "r0 = *(u32 *)(r2 + 0)\n", "r0 = *(u64 *)(r3 + 0)\nr0 &= 1\n"]
EACH_MAPS = [(2, 4, 8, 4, 0), (1, 4, 8, 4, 0), (2, 4, 16, 2, 0), (6, 4, 8, 2, 0),
             (2, 4, 8, 4, 1 << 7)]


def random_each_probe(seed: int) -> CbProbe:
    """A bpf_for_each_map_elem program: the callback reads/writes the key, the value
    (in and out of bounds) and the caller's stack through its ctx (fp-16)."""
    rnd = random.Random(seed)
    text = "r6 = r1\n" + _LOOKUP
    for s in (8, 16):
        text += rnd.choice(_INIT).format(s=s)
    text += "ld_pseudo r1, 1, 1\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 164\n"
    text += rnd.choice(_USE).format(s=rnd.choice((8, 16)))
    text += "out:\nr0 = 0\nexit\ncb:\n"
    for _ in range(rnd.randint(1, 3)):
        text += rnd.choice(_EACH_CB).format(c=rnd.choice((0, 5)), o=rnd.choice((0, 8)),
                                            v=rnd.choice((0, 4, 8)), k=rnd.choice((0, 2)))
    text += rnd.choice(_EACH_RET) + "exit\n"
    return CbProbe(f"each{seed}", "xdp", text, [ARRAY, rnd.choice(EACH_MAPS)])
