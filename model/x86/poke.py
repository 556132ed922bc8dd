"""Writers: the ways a site can be rewritten, each a list of events.

Events (``Ev``) of one writer thread, in program order:

- ``write``     store ``data`` at ``addr``; one event = one atomic store (1 byte, or an
                aligned 2-byte store for the XRay-style writer). Writes sharing a ``group``
                may happen in any order (the solver / sampler picks one);
- ``sync``      IPI + serialize on every CPU (``text_poke_sync``): returns once every CPU
                has serialized, so no fetch spans it and no CPU runs pre-sync code after it;
- ``publish`` / ``unpublish``  the patch array becomes visible to / is withdrawn from the
                INT3 handler (per-CPU refcount published; drained = no CPU left in the
                handler, then withdrawn);
- ``return``    the toggle returns to its caller.

Key-level writers (two togglers, the 2025 loop) use ``lock``/``unlock`` (the per-key mutex),
``setkey`` (the key's value) and ``poke`` (one whole site poke, atomic with respect to other
pokes because every text poke holds ``text_mutex``; the byte-level protocol of one poke is
checked separately). A ``poke`` may carry ``may_fail``: the 2025 RFC loop stops at the first
failing poke and returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.x86.sites import INT3, Toggle


@dataclass(frozen=True)
class Ev:
    kind: str
    addr: int = 0
    data: bytes = b""
    group: int = -1
    site: int = -1
    value: int = 0
    may_fail: bool = False

    def to_json(self) -> dict:
        d = {"kind": self.kind}
        if self.kind == "write":
            d.update(addr=self.addr, data=self.data.hex())
        if self.kind in ("poke", "setkey"):
            d.update(site=self.site, value=self.value)
        return d

    @staticmethod
    def from_json(d: dict) -> "Ev":
        return Ev(d["kind"], d.get("addr", 0), bytes.fromhex(d.get("data", "")),
                  site=d.get("site", -1), value=d.get("value", 0))


def _w(addr: int, data: bytes, group: int = -1) -> Ev:
    return Ev("write", addr, bytes(data), group)


# -- byte-level writers (one thread) ----------------------------------------------------------
def memcpy(toggles: list[Toggle], any_order: bool = False) -> list[Ev]:
    """Naive byte-wise memcpy of each site's new bytes; no sync at all."""
    ev = []
    for i, t in enumerate(toggles):
        for k, b in enumerate(t.new):
            ev.append(_w(t.site.addr + k, bytes([b]), i if any_order else -1))
    return ev + [Ev("return")]


def xray16(toggles: list[Toggle]) -> list[Ev]:
    """LLVM XRay style: tail bytes (index >= 2) with plain byte stores, then the first two
    bytes with one aligned 16-bit store. Needs an even site address."""
    ev = []
    for t in toggles:
        if t.site.addr % 2:
            raise ValueError("xray16 needs a 2-byte aligned site")
        for k in range(2, t.site.size):
            ev.append(_w(t.site.addr + k, t.new[k:k + 1]))
        ev.append(_w(t.site.addr, t.new[:2]))
    return ev + [Ev("return")]


def int3(toggles: list[Toggle], drop: tuple[int, ...] = ()) -> list[Ev]:
    """The kernel's text-poke protocol (``smp_text_poke_batch_finish``) over one or several
    sites: publish; INT3 on every first byte; sync1; every tail; sync2; every new first
    byte; sync3; drain; return. ``drop`` lists syncs (1, 2, 3) to leave out."""
    ev = [Ev("publish")]
    ev += [_w(t.site.addr, bytes([INT3])) for t in toggles]
    if 1 not in drop:
        ev.append(Ev("sync"))
    for t in toggles:
        ev += [_w(t.site.addr + k, t.new[k:k + 1]) for k in range(1, t.site.size)]
    if 2 not in drop:
        ev.append(Ev("sync"))
    ev += [_w(t.site.addr, t.new[:1]) for t in toggles]
    if 3 not in drop:
        ev.append(Ev("sync"))
    return ev + [Ev("unpublish"), Ev("return")]


# protocol name -> (builder(toggles) -> events, number of sites, needs an even address)
PROTOCOLS = {
    "memcpy-inorder": (lambda ts: memcpy(ts), 1, False),
    "memcpy-anyorder": (lambda ts: memcpy(ts, any_order=True), 1, False),
    "xray16": (xray16, 1, True),
    "int3": (int3, 1, False),
    "int3-no-sync1": (lambda ts: int3(ts, (1,)), 1, False),
    "int3-no-sync2": (lambda ts: int3(ts, (2,)), 1, False),
    "int3-no-sync3": (lambda ts: int3(ts, (3,)), 1, False),
    "int3-batch2": (int3, 2, False),
}


def writer(protocol: str, toggles: list[Toggle]) -> list[Ev]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    return PROTOCOLS[protocol][0](toggles)


def memory_states(image: bytes, events: list[Ev]) -> list[bytes]:
    """Memory after 0, 1, ..., n events (events in their final, concrete order)."""
    mem = bytearray(image)
    out = [bytes(mem)]
    for e in events:
        if e.kind == "write":
            mem[e.addr:e.addr + len(e.data)] = e.data
        out.append(bytes(mem))
    return out


def positions(events: list[Ev], kind: str) -> list[int]:
    """1-based positions (times) of the events of a kind: event k happens at time k."""
    return [k + 1 for k, e in enumerate(events) if e.kind == kind]


# -- key-level writers (threads) ---------------------------------------------------------------
@dataclass(frozen=True)
class Toggler:
    """One thread toggling a key with ``n_sites`` sites to ``value``."""
    value: int
    n_sites: int
    locked: bool = True
    loop2025: bool = False  # each poke may fail; the loop returns at the first failure

    def events(self) -> list[Ev]:
        ev = [Ev("lock")] if self.locked else []
        ev.append(Ev("setkey", value=self.value))
        ev += [Ev("poke", site=s, value=self.value, may_fail=self.loop2025)
               for s in range(self.n_sites)]
        ev += [Ev("unlock")] if self.locked else []
        return ev + [Ev("return")]


@dataclass(frozen=True)
class KeyScenario:
    name: str
    togglers: tuple[Toggler, ...]
    initial: int = 0
    n_sites: int = 2
    expect: str = "PROVED"
    note: str = ""


KEY_SCENARIOS = [
    KeyScenario("two-togglers-locked", (Toggler(1, 2), Toggler(0, 2)), expect="PROVED",
                note="per-key mutex: toggles serialize"),
    KeyScenario("two-togglers-unlocked", (Toggler(1, 2, False), Toggler(0, 2, False)),
                expect="COUNTEREXAMPLE", note="suspected problem (d)"),
    KeyScenario("loop2025-one-toggler", (Toggler(1, 2, True, True),), expect="COUNTEREXAMPLE",
                note="returns part-way on error"),
    KeyScenario("loop2025-no-errors", (Toggler(1, 2, True, False),), expect="PROVED"),
    KeyScenario("loop2025-two-togglers-locked", (Toggler(1, 2, True, True), Toggler(0, 2, True, True)),
                expect="COUNTEREXAMPLE", note="an error part-way leaves the key split"),
    KeyScenario("three-sites-locked", (Toggler(1, 3), Toggler(0, 3), Toggler(1, 3)),
                n_sites=3, expect="PROVED"),
]


def apply_key_schedule(sc: KeyScenario, order: list[tuple[int, int]],
                       fail: set[tuple[int, int]]) -> tuple[list[int], int, list[tuple]]:
    """Run the togglers' events in ``order`` (pairs (thread, index into its events));
    pokes in ``fail`` fail (2025: that thread stops, skipping to its unlock/return).
    Returns (final site states, final key value, executed events as (thread, Ev))."""
    states = [sc.initial] * sc.n_sites
    key = sc.initial
    evs = [t.events() for t in sc.togglers]
    stopped = [False] * len(evs)
    done = []
    for th, i in order:
        e = evs[th][i]
        if stopped[th] and e.kind in ("poke", "setkey"):
            continue
        if e.kind == "poke" and (th, i) in fail:
            stopped[th] = True
            done.append((th, Ev("fail", site=e.site, value=e.value)))
            continue
        if e.kind == "poke":
            states[e.site] = e.value
        elif e.kind == "setkey":
            key = e.value
        done.append((th, e))
    return states, key, done


def check_lock_order(sc: KeyScenario, order: list[tuple[int, int]]) -> bool:
    """True when ``order`` keeps each thread's program order and the per-key mutex."""
    evs = [t.events() for t in sc.togglers]
    nxt = [0] * len(evs)
    holder = None
    for th, i in order:
        if i != nxt[th]:
            return False
        nxt[th] += 1
        k = evs[th][i].kind
        if k == "lock":
            if holder is not None:
                return False
            holder = th
        elif k == "unlock":
            holder = None
        elif k in ("poke", "setkey") and sc.togglers[th].locked and holder != th:
            return False
    return all(n == len(e) for n, e in zip(nxt, evs))
