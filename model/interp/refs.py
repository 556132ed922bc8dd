"""Helpers that acquire and release references, for the interpreter (the verifier's rules:
model.verifier.refs, model.verifier.locks): a ring buffer reservation is a fresh region of
the reserved size, gone once submitted or discarded; a socket lookup finds no socket (NULL,
as the kernel returns when nothing matches); bpf_spin_lock takes the lock at its address; bpf_kptr_xchg swaps a kptr field (NULLs only).
Releasing a pointer that holds no reference, taking a second lock, unlocking another one,
calling another helper while locked, and a program that ends holding a reference or the
lock, are faults.
"""

from __future__ import annotations

from model.interp.helpers import map_for_helper
from model.interp.memory import MemFault, Region
from model.platform.helpers import TAIL_CALL, helper_id

RINGBUF_BASE = 0x7000_0000_0000
RINGBUF_STRIDE = 1 << 32
SOCK_BASE = 0x7800_0000_0000  # sockets a replayed lookup finds (model.symbolic.sockets)
SOCK_STRIDE = 1 << 32
SOCK_SIZE = 80  # struct bpf_sock: what a program may read of one
RINGBUF_HDR = 8  # BPF_RINGBUF_HDR_SZ: each record's header takes ring space too
RESERVE, SUBMIT, DISCARD = (helper_id(n) for n in ("ringbuf_reserve", "ringbuf_submit",
                                                   "ringbuf_discard"))
SPIN_LOCK, SPIN_UNLOCK = helper_id("spin_lock"), helper_id("spin_unlock")
KPTR_XCHG = helper_id("kptr_xchg")


class Held:
    """The references a run holds: the address each one's pointer had when acquired."""

    def __init__(self) -> None:
        self.regions: dict[int, Region] = {}
        self.next = 0
        self.lock: int | None = None  # the address of the bpf_spin_lock held

    def leak(self) -> str | None:
        if self.lock is not None:
            return f"the program ends holding the bpf_spin_lock at {self.lock:#x}"
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
    st = map_for_helper(m, r1, RESERVE)
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


def sk_found(m, addr: int) -> None:
    """A replayed lookup that found a socket (a counterexample's choice): a socket of
    unknown (zero) fields at ``addr``, holding a reference."""
    region = m.mem.add(Region(f"socket@{addr:#x}", "socket", addr, bytearray(SOCK_SIZE),
                              writable=False))
    _held(m).regions[addr] = region


def sk_release(m, r1, r2, r3, r4, r5):
    _release(m, r1, "socket", "bpf_sk_release")
    return 0


def spin_lock(m, r1, r2, r3, r4, r5):
    h = _held(m)
    m.mem.region_for(r1, 4, "write")
    if h.lock is not None:
        raise MemFault(r1, 0, f"bpf_spin_lock at {r1:#x} while holding {h.lock:#x}")
    h.lock = r1
    return 0


def spin_unlock(m, r1, r2, r3, r4, r5):
    h = _held(m)
    if h.lock != r1:
        held = "no lock" if h.lock is None else f"the lock at {h.lock:#x}"
        raise MemFault(r1, 0, f"bpf_spin_unlock at {r1:#x} while holding {held}")
    h.lock = None
    return 0


def check_call(m, helper: int) -> None:
    """Only bpf_spin_unlock may be called while the lock is held; a tail call leaves the
    program, so it may not hold a reference (check_reference_leak)."""
    h = _held(m)
    if h.lock is not None and helper != SPIN_UNLOCK:
        raise MemFault(0, 0, f"helper #{helper} called while holding the bpf_spin_lock at "
                             f"{h.lock:#x}")
    if helper == TAIL_CALL:
        check_no_refs(m, "tail_call")


def check_no_refs(m, what: str) -> None:
    """``what`` (a tail call, LD_ABS/IND, which may end the program) holds no reference."""
    h = _held(m)
    if h.regions:
        names = ", ".join(r.name for r in h.regions.values())
        raise MemFault(0, 0, f"{what} while holding references ({names}): reference leak")


def release_all(m) -> None:
    """Drop what a run still holds (after its end was judged)."""
    h = _held(m)
    for region in h.regions.values():
        m.mem.remove(region)
    h.regions.clear()
    h.lock = None


def kptr_xchg(m, r1, r2, r3, r4, r5):
    """bpf_kptr_xchg: the map value's kptr field at ``r1`` takes ``r2`` and the old one
    comes back. Only NULLs move here: the interpreter makes no kernel objects (acquiring
    kfuncs are "not modelled"), so a field holding anything else is refused."""
    old = m.mem.load(r1, 8)
    if old or r2:
        raise MemFault(r1, 8, "not modelled: a kernel object in a kptr field")
    m.mem.store(r1, 8, r2)
    return old


REF_HELPERS = {RESERVE: ringbuf_reserve, SUBMIT: ringbuf_submit, DISCARD: ringbuf_discard,
               84: sk_lookup, 85: sk_lookup, 99: sk_lookup, 86: sk_release,
               SPIN_LOCK: spin_lock, SPIN_UNLOCK: spin_unlock, KPTR_XCHG: kptr_xchg}
