"""Probe programs for the ordered atomics BPF_LOAD_ACQ / BPF_STORE_REL (model.isa.LoadAcquire
/ StoreRelease), each judged against the running kernel (tests/test_ordered_atomics.py).
Written for skv; the kernel decides every verdict and message."""

from __future__ import annotations

from soundness_probes import Probe

ARRAY = (2, 4, 16, 1, 0)  # an array map: 4-byte key, 16-byte value, one entry
_LOOKUP = ("r1 = 0\n*(u32 *)(r10 - 0x4) = r1\nr2 = r10\nr2 += -4\nld_pseudo r1, 1, 0\n"
           "call 1\nif r0 == 0 goto +{skip}\n")


def _map(name: str, body: str, tail: str = "r0 = 0\nexit") -> Probe:
    n = body.count("\n") + 1
    return Probe(name, "xdp", _LOOKUP.format(skip=n) + body + "\n" + tail, [ARRAY])


_SPILL7 = "r2 = 7\n*(u64 *)(r10 - 0x8) = r2\n"
_PKT = ("r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 16\n"
        "if r4 > r3 goto +2\n")

PROBES = [
    # stack: every size, aligned; a misaligned one (the stack is always strict)
    *[Probe(f"stack load {s}", "xdp", _SPILL7 + f"{'r' if s == 8 else 'w'}0 = load_acquire(({t} *)"
            "(r10 - 0x8))\nexit") for s, t in ((1, "u8"), (2, "u16"), (4, "u32"), (8, "u64"))],
    *[Probe(f"stack store {s}", "xdp", f"r2 = 5\nstore_release(({t} *)(r10 - 0x8), "
            f"{'r' if s == 8 else 'w'}2)\nr0 = 0\nexit")
      for s, t in ((1, "u8"), (2, "u16"), (4, "u32"), (8, "u64"))],
    Probe("stack load misaligned", "xdp", _SPILL7 + "w0 = load_acquire((u32 *)(r10 - 0x6))\n"
          "r0 = 0\nexit"),
    Probe("stack store misaligned", "xdp", "r2 = 1\nstore_release((u16 *)(r10 - 0x3), w2)\n"
          "r0 = 0\nexit"),
    # a pointer spilled by a store-release and filled by a load-acquire stays a pointer
    Probe("spill ctx and fill", "xdp", "store_release((u64 *)(r10 - 0x8), r1)\n"
          "r1 = load_acquire((u64 *)(r10 - 0x8))\nr0 = *(u32 *)(r1 + 0x0)\nr0 = 0\nexit"),
    Probe("narrow pointer spill", "xdp", "store_release((u32 *)(r10 - 0x8), w1)\nr0 = 0\n"
          "exit"),
    Probe("fill is zero-extended", "xdp", "r2 = -1\n*(u64 *)(r10 - 0x8) = r2\n"
          "w0 = load_acquire((u8 *)(r10 - 0x8))\nif r0 > 255 goto +1\nr0 = 0\nr0 = 0\nexit"),
    # refused pointer kinds (atomic_ptr_type_ok), after the plain access checks
    Probe("ctx load", "xdp", "w0 = load_acquire((u32 *)(r1 + 0x0))\nr0 = 0\nexit"),
    Probe("ctx load bad field", "xdp", "r0 = load_acquire((u64 *)(r1 + 0x7ff8))\nr0 = 0\nexit"),
    Probe("ctx store", "sched_cls", "r2 = 0\nstore_release((u32 *)(r1 + 0x8), w2)\nr0 = 0\nexit"),
    Probe("ctx store xdp", "xdp", "r2 = 0\nstore_release((u32 *)(r1 + 0x0), w2)\nr0 = 0\nexit"),
    Probe("packet load", "xdp", _PKT + "w0 = load_acquire((u32 *)(r2 + 0x2))\nr0 = 0\nr0 = 0\n"
          "exit"),
    Probe("packet store", "sched_cls", "r2 = *(u32 *)(r1 + 0x4c)\nr3 = *(u32 *)(r1 + 0x50)\n"
          "r4 = r2\nr4 += 16\nif r4 > r3 goto +3\nr5 = 1\n"
          "store_release((u16 *)(r2 + 0x2), w5)\nr0 = 0\nr0 = 0\nexit"),
    Probe("scalar", "xdp", "r2 = 0\nr0 = load_acquire((u64 *)(r2 + 0x0))\nexit"),
    Probe("uninit src", "xdp", "store_release((u64 *)(r10 - 0x8), r3)\nr0 = 0\nexit"),
    # map values: allowed, strictly aligned, bounds
    _map("map load", "r0 = load_acquire((u64 *)(r0 + 0x8))"),
    _map("map store", "r1 = 3\nstore_release((u32 *)(r0 + 0x4), w1)"),
    _map("map load misaligned", "w0 = load_acquire((u32 *)(r0 + 0x2))"),
    _map("map store misaligned", "r1 = 3\nstore_release((u64 *)(r0 + 0x4), r1)"),
    _map("map load out of bounds", "r0 = load_acquire((u64 *)(r0 + 0x10))"),
    _map("map store pointer", "store_release((u64 *)(r0 + 0x0), r10)"),
]

_RINGBUF = (27, 0, 0, 4096, 0)
_RESERVE = ("ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\ncall 131\nif r0 == 0 goto +5\n{body}\n"
            "r1 = r0\nr2 = 0\ncall 132\nr0 = 0\nexit")

PROBES += [
    Probe("flow keys load", "flow_dissector", "r2 = *(u64 *)(r1 + 0x90)\n"
          "w0 = load_acquire((u16 *)(r2 + 0x0))\nr0 = 0\nexit"),
    Probe("ringbuf store", "xdp", _RESERVE.format(body="r1 = 1\nstore_release((u64 *)(r0 + 0x0)"
          ", r1)"), [_RINGBUF]),
    Probe("ringbuf load misaligned", "xdp", _RESERVE.format(
        body="r1 = r0\nw1 = load_acquire((u32 *)(r1 + 0x2))"), [_RINGBUF]),
    # a constant filled by a load-acquire keeps its value (a map offset it bounds)
    _map("filled constant offset", "r1 = 8\nstore_release((u64 *)(r10 - 0x10), r1)\n"
         "r1 = load_acquire((u64 *)(r10 - 0x10))\nr0 += r1\nr0 = load_acquire((u64 *)(r0 + 0x0))"),
    _map("filled constant too far", "r1 = 12\nstore_release((u64 *)(r10 - 0x10), r1)\n"
         "r1 = load_acquire((u64 *)(r10 - 0x10))\nr0 += r1\nw0 = load_acquire((u32 *)(r0 + 0x4))"),
]
PROBES += [
    Probe("socket load", "sched_cls", "r2 = *(u64 *)(r1 + 0xa8)\nif r2 == 0 goto +1\n"
          "w0 = load_acquire((u32 *)(r2 + 0x4))\nr0 = 0\nexit"),
    Probe("socket store", "sched_cls", "r2 = *(u64 *)(r1 + 0xa8)\nif r2 == 0 goto +2\n"
          "r3 = 0\nstore_release((u32 *)(r2 + 0x4), w3)\nr0 = 0\nexit"),
]

# the read-modify-write atomics take a pointer operand from a privileged loader ("leaks addr
# into mem" is the unprivileged rule); the fetched old value of a spilled pointer is left a
# number here (a false reject, the kernel fills the pointer back)
PROBES += [
    Probe("xchg ctx into stack", "xdp", "r2 = 0\n*(u64 *)(r10 - 0x8) = r2\n"
          "r1 = xchg_64(r10 - 0x8, r1)\nr0 = 0\nexit"),
    Probe("add fp into stack", "xdp", "r2 = 0\n*(u64 *)(r10 - 0x8) = r2\nr3 = r10\n"
          "lock *(u64 *)(r10 - 0x8) += r3\nr0 = *(u64 *)(r10 - 0x8)\nexit"),
    Probe("fetch or fp into stack", "xdp", "r2 = 0\n*(u64 *)(r10 - 0x8) = r2\nr3 = r10\n"
          "r3 = atomic_fetch_or((u64 *)(r10 - 0x8), r3)\nr0 = r3\nexit"),
    _map("xchg fp into map", "r1 = r10\nr1 = xchg_64(r0 + 0x0, r1)"),
    _map("add fp into map, 32 bits", "r1 = r10\nlock *(u32 *)(r0 + 0x4) += w1"),
    Probe("cmpxchg pointer r0", "xdp", "r2 = 0\n*(u64 *)(r10 - 0x8) = r2\nr0 = r1\nr3 = 0\n"
          "r0 = cmpxchg_64(r10 - 0x8, r0, r3)\nr0 = 0\nexit"),
    Probe("xchg pointer into ctx", "xdp", "r2 = r10\nr2 = xchg_64(r1 + 0x0, r2)\nr0 = 0\n"
          "exit"),
]
PROBES += [
    Probe("fetch a spilled pointer", "xdp", "*(u64 *)(r10 - 0x8) = r1\nr2 = 0\n"
          "r2 = xchg_64(r10 - 0x8, r2)\nr0 = *(u32 *)(r2 + 0x0)\nr0 = 0\nexit"),
    Probe("fetch a spilled pointer, slot overwritten", "xdp", "*(u64 *)(r10 - 0x8) = r1\n"
          "r2 = 0\nr2 = xchg_64(r10 - 0x8, r2)\nr3 = *(u64 *)(r10 - 0x8)\n"
          "r0 = *(u32 *)(r3 + 0x0)\nr0 = 0\nexit"),
    Probe("cmpxchg a spilled pointer", "xdp", "*(u64 *)(r10 - 0x8) = r1\nr0 = 0\nr2 = 0\n"
          "r0 = cmpxchg_64(r10 - 0x8, r0, r2)\nr0 = *(u32 *)(r0 + 0x0)\nr0 = 0\nexit"),
    Probe("narrow fetch of a spilled pointer", "xdp", "*(u64 *)(r10 - 0x8) = r1\nr2 = 0\n"
          "w2 = atomic_fetch_add((u32 *)(r10 - 0x8), w2)\nr0 = 0\nexit"),
]

# precision through a spill / fill by a stack pointer other than r10 (the trail's stack
# access): the two branches differ only in the spilled offset; the join must not be pruned
_PRECISE = ("r6 = r10\nr6 += -16\ncall 7\nr1 = {off}\nif r0 > 7 goto +1\nr1 = 0\n"
            "store_release((u64 *)(r6 + 0x0), r1)\nr1 = 0\n*(u32 *)(r10 - 0x4) = r1\n"
            "r2 = r10\nr2 += -4\nld_pseudo r1, 1, 0\ncall 1\nif r0 == 0 goto +3\n"
            "r2 = load_acquire((u64 *)(r6 + 0x0))\nr0 += r2\nr0 = *(u64 *)(r0 + 0x0)\n"
            "r0 = 0\nexit")
PROBES += [Probe(f"precise through a stack pointer, offset {off}", "xdp",
                 _PRECISE.format(off=off), [ARRAY]) for off in (8, 64)]
