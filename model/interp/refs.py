"""Helpers that acquire and release references, for the interpreter (the verifier's rules:
model.verifier.refs): a ring buffer reservation is a fresh region of the reserved size, gone
once submitted or discarded; a socket lookup finds no socket (NULL, as the kernel returns
when nothing matches). Releasing a pointer that holds no reference, and a program that
ends holding one, are faults.
"""

from __future__ import annotations

from model.interp.helpers import _map
from model.interp.memory import MemFault, Region

RINGBUF_BASE = 0x7000_0000_0000
RINGBUF_STRIDE = 1 << 32
RINGBUF_HDR = 8  # BPF_RINGBUF_HDR_SZ: each record's header takes ring space too
RESERVE, SUBMIT, DISCARD = 131, 132, 133


class Held:
    """The references a run holds: the address each one's pointer had when acquired."""

    def __init__(self) -> None:
        self.regions: dict[int, Region] = {}
        self.next = 0

    def leak(self) -> str | None:
        if not self.regions:
            return None
        names = ", ".join(r.name for r in self.regions.values())
        return f"the program ends holding references ({names}): reference leak"


def _held(m) -> Held:
    h = getattr(m, "held", None)
    if h is None:
        h = m.held = Held()
    return h


def ringbuf_reserve(m, r1, r2, r3, r4, r5):
    st = _map(m, r1, RESERVE)
    h = _held(m)
    size = r2 & ((1 << 64) - 1)
    used = sum(r.size + RINGBUF_HDR for r in h.regions.values() if r.kind == "ringbuf")
    if r3 or size + RINGBUF_HDR + used > st.defn.max_entries:
        return 0  # bad flags, or no room left in the ring: NULL
    base = RINGBUF_BASE + h.next * RINGBUF_STRIDE
    h.next += 1
    region = m.mem.add(Region(f"{st.name}.reservation#{h.next}", "ringbuf", base,
                              bytearray(size)))
    h.regions[base] = region
    return base


def _release(m, ptr: int, kind: str, helper: str) -> None:
    h = _held(m)
    region = h.regions.get(ptr)
    if region is None or region.kind != kind:
        raise MemFault(ptr, 0, f"{helper}: {ptr:#x} holds no {kind} reference")
    del h.regions[ptr]
    m.mem.remove(region)


def ringbuf_submit(m, r1, r2, r3, r4, r5):
    _release(m, r1, "ringbuf", "bpf_ringbuf_submit")
    return 0


def ringbuf_discard(m, r1, r2, r3, r4, r5):
    _release(m, r1, "ringbuf", "bpf_ringbuf_discard")
    return 0


def sk_lookup(m, r1, r2, r3, r4, r5):
    m.mem.load_bytes(r2, r3 & 0xFFFFFFFF)  # the tuple is read
    return 0  # no socket matches in the interpreter's world


def sk_release(m, r1, r2, r3, r4, r5):
    _release(m, r1, "socket", "bpf_sk_release")
    return 0


def release_all(m) -> None:
    """Drop what a run still holds (after its end was judged)."""
    h = _held(m)
    for region in h.regions.values():
        m.mem.remove(region)
    h.regions.clear()


REF_HELPERS = {RESERVE: ringbuf_reserve, SUBMIT: ringbuf_submit, DISCARD: ringbuf_discard,
               84: sk_lookup, 85: sk_lookup, 99: sk_lookup, 86: sk_release}
