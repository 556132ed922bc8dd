"""Random bpf_timer and bpf_find_vma programs (tests/test_timers.py,
tests/test_find_vma.py): the probes' pieces (tests/timer_probes.py) drawn at random --
offsets near and off the timer, the right or another map, NULL checks, direct accesses,
callback bodies reading and writing their arguments at random offsets and returning
random values -- so that most draws are refused for one reason or another, and some load.
"""

from __future__ import annotations

import random

from timer_probes import ARRAY, CANCEL, HASH, INIT, LRU_HASH, SET_CB, START, FieldProbe

_TYPES = ("sched_cls", "sched_cls", "xdp", "socket_filter", "kprobe")


def _timer_ptr(rng: random.Random, toff: int, vs: int) -> str:
    """r1 = a pointer meant for the timer (mostly right)."""
    k = rng.random()
    if k < 0.6:
        return f"r1 = r7\nr1 += {toff}\n"
    if k < 0.8:
        return f"r1 = r7\nr1 += {rng.choice([0, 4, 8, 16, toff + 8, toff - 4, vs])}\n"
    if k < 0.9:
        return f"call 7\nr0 &= {rng.choice([8, 16])}\nr1 = r7\nr1 += r0\n"
    return rng.choice(["r1 = r10\nr1 += -16\n", "r1 = 0\n", f"r1 = r8\nr1 += {toff}\n"])


def _access(rng: random.Random, reg: str, size_max: int) -> str:
    off = rng.choice([0, 4, 8, 12, 16, 20, 24, size_max - 4, size_max])
    if rng.random() < 0.5:
        return f"r5 = *(u32 *)({reg} + {off})\n"
    return f"r5 = 1\n*(u32 *)({reg} + {off}) = r5\n"


def _callback(rng: random.Random, toff: int, vs: int) -> str:
    body = ""
    for _ in range(rng.randint(0, 3)):
        k = rng.random()
        if k < 0.4:
            body += _access(rng, "r3", vs)
        elif k < 0.5:
            body += _access(rng, "r2", 4)
        elif k < 0.6:
            body += rng.choice(["r5 = r4\n", "r5 = r6\n", "r5 = *(u64 *)(r10 - 8)\n"])
        elif k < 0.8:
            body += (f"r6 = r1\nr1 = r3\nr1 += {rng.choice([toff, toff, 0])}\nr2 = 10\nr3 = 0\n"
                     f"call {START}\nr1 = r6\n")
        else:
            body += "r6 = r1\nr2 = r10\nr2 += -8\nr3 = 0\n*(u64 *)(r2 + 0) = r3\nr1 = r6\n" \
                    "call 1\n"
            return "cb:\n" + body + rng.choice(["r0 = 0\n", "r0 = 0\n", "r0 = 1\n", ""]) \
                + "exit\n"
    ret = rng.choice(["r0 = 0\n", "r0 = 0\n", "r0 = 0\n", "r0 = 1\n", "r0 = r1\n",
                      "call 7\nr0 &= 1\n", ""])
    return "cb:\n" + body + ret + "exit\n"


def random_timer_probe(seed: int) -> FieldProbe:
    rng = random.Random(seed)
    mtype = rng.choice([HASH, HASH, ARRAY, LRU_HASH])
    vs = rng.choice([16, 24, 32])
    toff = rng.choice([o for o in (0, 8, 16) if o + 16 <= vs])
    fields = rng.choice([{toff: ("bpf_timer", 16)}] * 8 + [None, {}])
    maps = [(mtype, 4, vs, 2, 0)]
    two = rng.random() < 0.3
    if two:
        maps.append((rng.choice([HASH, ARRAY]), 4, vs, 2, 0))
    text = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n"
    text += "if r0 == 0 goto out\n" if rng.random() < 0.9 else ""
    text += "r7 = r0\nr8 = r0\n"
    uses_cb = False
    for _ in range(rng.randint(1, 4)):
        k = rng.random()
        if k < 0.3:
            m = 1 if two and rng.random() < 0.3 else 0
            text += _timer_ptr(rng, toff, vs) + f"ld_pseudo r2, 1, {m}\nr3 = 1\ncall {INIT}\n"
        elif k < 0.55:
            text += _timer_ptr(rng, toff, vs) + f"r2 = func cb\ncall {SET_CB}\n"
            uses_cb = True
        elif k < 0.7:
            text += _timer_ptr(rng, toff, vs) + f"r2 = 1000\nr3 = 0\ncall {START}\n"
        elif k < 0.8:
            text += _timer_ptr(rng, toff, vs) + f"call {CANCEL}\n"
        else:
            text += _access(rng, "r7", vs)
    text += "out:\nr0 = 0\nexit\n"
    if uses_cb:
        text += _callback(rng, toff, vs)
    return FieldProbe(f"timer_rand_{seed}", rng.choice(_TYPES), text, maps,
                      fields=[fields] + ([{toff: ("bpf_timer", 16)}] if two else []))


def random_vma_probe(seed: int) -> FieldProbe:
    rng = random.Random(seed)
    task = rng.choice(["call 158\nr1 = r0\n"] * 6 + [
        "", "r1 = 0\n", "call 158\nr1 = r0\nr1 += 8\n", "call 35\nr1 = r0\n",
        "r1 = r10\nr1 += -8\n"])
    ctx = rng.choice(["r4 = 0\n", "r4 = r10\nr4 += -8\n", "r4 = r10\nr4 += -16\n", "r4 = 7\n"])
    init = "r6 = 0\n*(u64 *)(r10 - 8) = r6\n" if rng.random() < 0.7 else ""
    text = init + task + f"r2 = {rng.choice([0, 4096])}\nr3 = func cb\n{ctx}r5 = 0\n" \
        "call 180\n" + rng.choice(["r0 = 0\n", "r0 = *(u64 *)(r10 - 8)\n"]) + "exit\ncb:\n"
    for _ in range(rng.randint(0, 3)):
        reg = rng.choice(["r1", "r2", "r3", "r3"])
        at = rng.choice(["+ 0", "+ 8", "- 8", "+ 16", "+ 4"])
        if rng.random() < 0.7:
            text += f"r5 = *(u64 *)({reg} {at})\n"
        else:
            text += f"r5 = 0\n*(u64 *)({reg} {at}) = r5\n"
    text += rng.choice(["r0 = 0\n", "r0 = 1\n", "r0 = 2\n", "r0 = r2\n", "call 7\nr0 &= 1\n",
                        "call 7\nr0 &= 3\n", ""]) + "exit\n"
    return FieldProbe(f"vma_rand_{seed}", rng.choice(["kprobe", "kprobe", "xdp"]), text, [])
