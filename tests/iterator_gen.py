"""Random iter/bpf_map_elem and iter/task programs (tests/test_iterators.py): short
straight-line mixes of the key / value buffers' moves, NULL tests, loads, stores and
helper calls, each judged by the kernel and skv's abstract verifier (the same verdict)."""

from __future__ import annotations

import random

from iterator_probes import HASH, IterProbe
from tracing_probes import member_off


def _buf_ops(rng: random.Random, seq: int) -> list[str]:
    """Instructions on r7 (the key) and r8 (the value); r6 keeps the context."""
    off = rng.choice([-16, -8, -4, -1, 0, 1, 4, 8, 64, 4096])
    at = f"- {-off}" if off < 0 else f"+ {off}"
    reg = rng.choice(["r7", "r8"])
    size = rng.choice(["u8", "u16", "u32", "u64"])
    ops = [
        [f"if {reg} == 0 goto +1", f"r0 = *({size} *)({reg} {at})"],
        [f"if {reg} != 0 goto +1", "r0 = 0"],
        [f"if {reg} == 0 goto +1", f"*({size} *)({reg} {at}) = 1"],
        [f"r0 = *({size} *)({reg} {at})"],
        [f"{reg} += {off}"],
        ["call 7", "r0 &= 15", f"if {reg} == 0 goto +1", f"{reg} += r0"],
        [f"if {reg} == 0 goto +2", "r1 = 1", f"lock *(u64 *)({reg} + {max(off, 0)}) += r1"],
        [f"if {reg} == 0 goto +6", f"r1 = *(u64 *)(r6 + 0)", f"r1 = *(u64 *)(r1 + {seq})",
         f"r2 = {reg}", f"r3 = {rng.choice([0, 1, 8, 100])}", "call 127", "r0 = 0"],
        [f"if {reg} == 0 goto +4", "ld_pseudo r1, 1, 0", f"r2 = {reg}", "call 3"],
        [f"*(u64 *)(r10 - 8) = {reg}", f"{reg} = *(u64 *)(r10 - 8)"],
        [f"if r7 == r8 goto +1", "r0 = 0"],
    ]
    return rng.choice(ops)


def random_programs(n: int, seed: int = 12) -> list[IterProbe]:
    rng = random.Random(seed)
    seq = member_off("bpf_iter_meta", "seq")
    out = []
    for k in range(n):
        body = ["r6 = r1", "r7 = *(u64 *)(r6 + 16)", "r8 = *(u64 *)(r6 + 24)"]
        for _ in range(rng.randint(1, 4)):
            body += _buf_ops(rng, seq)
        body += ["r0 = 0", "exit"]
        out.append(IterProbe(f"gen{k}", "iter/bpf_map_elem", "\n".join(body), True,
                             maps=[HASH]))
    return out
