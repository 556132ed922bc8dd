"""Readers: how a CPU fetches a site's bytes while a writer rewrites them.

Time: writer event ``k`` (1-based) happens at time ``k``; memory at time ``t`` is the state
after events ``1..t`` (``t`` in ``0..n``). A fetch of a site reads the aligned chunks that
cover the site's bytes; per site byte ``i`` a schedule gives

- ``t[i]`` -- when the CPU read the chunk holding byte ``i`` (bytes of one chunk share it);
- ``u[i]`` -- which memory state the chunk's bytes come from (bytes of one chunk share it).

A fetch model (``FetchModel``) constrains these:

- ``chunk`` in 1, 2, 8, 16, 64: the aligned unit read atomically;
- ``in_order``: chunk read times are nondecreasing in address order (else any order);
- ``stale``: a CPU may use bytes from any state since it last serialized: ``u`` in
  ``[lastser, t]``, where ``lastser`` is the latest writer sync at or before the fetch's start,
  or the end of an earlier fetch by this CPU that trapped on INT3 (the trap and its IRET
  serialize). Without ``stale``, ``u == t`` (a coherent fetch);
- ``contained``: the site lies inside one chunk (an aligned placement); otherwise the site
  may sit anywhere in its 64-byte line (the race search chooses the offset).

Every model: a fetch never spans a sync (the IPI lands on an instruction boundary and the
writer waits for it), and one CPU's fetches are ordered (each ends before the next starts).

Outcome of a fetch (``classify``): OLD, NEW, INT3 (first byte CC, site published: the
kernel's handler emulates the NEW instruction), INT3_STRAY (CC with no published patch:
the handler finds nothing -- an oops), or TORN_* for any other mix of bytes, classified by
decoding with iced-x86: TORN_INVALID (invalid opcode), TORN_LENGTH (a different length:
execution resumes inside or past the site), TORN_TARGET (a jump to a wrong target),
TORN_OTHER (right length, lands on a legal destination, but the bytes are neither state).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from model.x86.poke import Ev, PROTOCOLS, memory_states, positions, writer
from model.x86.sites import (INT3, KINDS, LINE, Site, Toggle, block_site, build_image)

CHUNKS = (1, 2, 8, 16, 64)


@dataclass(frozen=True)
class FetchModel:
    chunk: int
    in_order: bool = True
    stale: bool = False
    contained: bool = False

    @property
    def name(self) -> str:
        s = f"{self.chunk}B/{'in' if self.in_order else 'any'}/{'stale' if self.stale else 'coherent'}"
        return s + ("/contained" if self.contained else "")

    @staticmethod
    def parse(name: str) -> "FetchModel":
        parts = name.split("/")
        try:
            c = int(parts[0].rstrip("B"))
            if c not in CHUNKS or parts[1] not in ("in", "any") or \
                    parts[2] not in ("stale", "coherent"):
                raise ValueError
            return FetchModel(c, parts[1] == "in", parts[2] == "stale",
                              len(parts) > 3 and parts[3] == "contained")
        except (ValueError, IndexError):
            raise ValueError(f"bad fetch model {name!r} (e.g. 8B/any/stale)") from None


ALL_MODELS = [FetchModel(c, o, s) for c in CHUNKS for o in (True, False) for s in (False, True)] \
    + [FetchModel(c, True, False, True) for c in (8, 16, 64)]


def chunk_ids(site: Site, chunk: int) -> list[int]:
    return [(site.addr + i) // chunk for i in range(site.size)]


def contained(site: Site, chunk: int) -> bool:
    return len(set(chunk_ids(site, chunk))) == 1


# -- outcome classification -------------------------------------------------------------------
OUTCOMES = ("OLD", "NEW", "INT3", "INT3_STRAY", "TORN_INVALID", "TORN_LENGTH", "TORN_TARGET",
            "TORN_OTHER")


def decode(seen: bytes, addr: int, base: int = 0):
    """(valid, length, branch target or None) of the instruction in ``seen`` at ``addr``."""
    import iced_x86 as ix

    d = ix.Decoder(64, seen + b"\x90" * 15, ip=base + addr)
    ins = d.decode()
    if ins.code == ix.Code.INVALID:
        return False, 0, None
    tgt = None
    if ins.flow_control in (ix.FlowControl.UNCONDITIONAL_BRANCH, ix.FlowControl.CONDITIONAL_BRANCH,
                            ix.FlowControl.CALL):
        try:
            tgt = ins.near_branch_target - base
        except Exception:
            tgt = None
    return True, ins.len, tgt


def classify(tog: Toggle, seen: bytes, published: bool) -> str:
    if seen == tog.old:
        return "OLD"
    if seen == tog.new:
        return "NEW"
    if seen[0] == INT3:
        return "INT3" if published else "INT3_STRAY"
    ok, ln, tgt = decode(seen, tog.site.addr)
    if not ok:
        return "TORN_INVALID"
    if ln != tog.site.size:
        return "TORN_LENGTH"
    dests = (tog.site.destination(True), tog.site.destination(False))
    if tgt is not None and tgt not in dests:
        return "TORN_TARGET"
    return "TORN_OTHER"


def torn_kind_from_behaviour(tog: Toggle, size: int | None, rip: int | None,
                             invalid: bool) -> str:
    """The TORN_* class from what the executor saw the mixed bytes do."""
    if invalid:
        return "TORN_INVALID"
    if size != tog.site.size:
        return "TORN_LENGTH"
    if rip not in (tog.site.destination(True), tog.site.destination(False)):
        return "TORN_TARGET"
    return "TORN_OTHER"


# -- schedules --------------------------------------------------------------------------------
@dataclass
class Fetch:
    cpu: int
    site: int
    t: list[int]
    u: list[int]

    @property
    def tmin(self) -> int:
        return min(self.t)

    @property
    def tmax(self) -> int:
        return max(self.t)


@dataclass
class Schedule:
    """One concrete run: a writer (events in their chosen order), site placement, fetches."""
    protocol: str
    kind: str
    model: FetchModel
    offsets: list[int]
    events: list[Ev]
    fetches: list[Fetch]
    prop: str = ""
    expect: dict = field(default_factory=dict)

    @property
    def toggles(self) -> list[Toggle]:
        size, on = KINDS[self.kind]
        return [Toggle(block_site(i, size, off), on) for i, off in enumerate(self.offsets)]

    @property
    def sites(self) -> list[Site]:
        return [t.site for t in self.toggles]

    def image(self) -> bytes:
        return build_image(self.sites, [not t.to_on for t in self.toggles])

    def to_json(self) -> dict:
        return {"format": "skv-poke-schedule/1", "protocol": self.protocol, "kind": self.kind,
                "fetch_model": self.model.name, "offsets": self.offsets,
                "sites": [{"addr": s.addr, "size": s.size, "target": s.target,
                           "to_on": t.to_on} for t, s in zip(self.toggles, self.sites)],
                "writer": [e.to_json() for e in self.events],
                "fetches": [{"cpu": f.cpu, "site": f.site, "t": f.t, "u": f.u}
                            for f in self.fetches],
                "property": self.prop, "expect": self.expect}

    @staticmethod
    def from_json(d: dict) -> "Schedule":
        """A schedule from its JSON form (already checked against :data:`SCHEMA`); raises
        ``ValueError`` for one that cannot run (sites, addresses or times out of range)."""
        if d.get("format") != "skv-poke-schedule/1":
            raise ValueError("not an skv-poke-schedule/1 file")
        if d["kind"] not in KINDS:
            raise ValueError(f"unknown site kind {d['kind']!r}")
        if d["protocol"] not in PROTOCOLS:
            raise ValueError(f"unknown protocol {d['protocol']!r}")
        s = Schedule(d["protocol"], d["kind"], FetchModel.parse(d["fetch_model"]),
                     [int(o) for o in d["offsets"]], [Ev.from_json(e) for e in d["writer"]],
                     [Fetch(int(f["cpu"]), int(f["site"]), [int(x) for x in f["t"]],
                            [int(x) for x in f["u"]]) for f in d["fetches"]],
                     d.get("property", ""), d.get("expect", {}))
        s.check_shape()
        return s

    def check_shape(self) -> None:
        """Every site, CPU, address and time the schedule names exists (``ValueError``)."""
        n_sites, n_events, size = len(self.offsets), len(self.events), len(self.image())
        for k, e in enumerate(self.events):
            if e.kind == "write" and not (0 <= e.addr and e.addr + len(e.data) <= size):
                raise ValueError(f"writer[{k}]: write of {len(e.data)} bytes at {e.addr:#x} "
                                 f"is outside the {size}-byte image")
        site_size = KINDS[self.kind][0]
        for j, f in enumerate(self.fetches):
            if not 0 <= f.site < n_sites:
                raise ValueError(f"fetches[{j}]: site {f.site} does not exist "
                                 f"({n_sites} sites)")
            if not 0 <= f.cpu < MAX_CPUS:
                raise ValueError(f"fetches[{j}]: cpu {f.cpu} is not in 0..{MAX_CPUS - 1}")
            if len(f.t) != site_size or len(f.u) != site_size:
                raise ValueError(f"fetches[{j}]: t and u need one time per site byte "
                                 f"({site_size})")
            if not all(0 <= x <= n_events for x in f.t + f.u):
                raise ValueError(f"fetches[{j}]: times must be in 0..{n_events}")


#: CPUs a schedule may name (the executor emulates one unicorn engine per CPU)
MAX_CPUS = 8
_INT = {"type": "integer"}
#: the ``skv-poke-schedule/1`` file, as ``Schedule.to_json`` writes it
SCHEMA = {
    "type": "object",
    "required": ["format", "protocol", "kind", "fetch_model", "offsets", "writer", "fetches"],
    "properties": {
        "format": {"const": "skv-poke-schedule/1"},
        "protocol": {"enum": sorted(PROTOCOLS)},
        "kind": {"enum": sorted(KINDS)},
        "fetch_model": {"type": "string", "maxLength": 64},
        "offsets": {"type": "array", "minItems": 1, "maxItems": 64,
                    "items": {**_INT, "minimum": 0, "maximum": LINE - 1}},
        "writer": {"type": "array", "maxItems": 4096, "items": {
            "type": "object", "required": ["kind"],
            "properties": {"kind": {"enum": ["write", "sync", "poke", "setkey", "return",
                                             "publish", "unpublish", "lock", "unlock",
                                             "fail"]},
                           "addr": {**_INT, "minimum": 0, "maximum": 1 << 20},
                           "data": {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$",
                                    "maxLength": 128},
                           "site": {**_INT, "minimum": -1, "maximum": 63},
                           "value": {**_INT, "minimum": 0, "maximum": 1}}}},
        "fetches": {"type": "array", "maxItems": 65536, "items": {
            "type": "object", "required": ["cpu", "site", "t", "u"],
            "properties": {"cpu": {**_INT, "minimum": 0, "maximum": MAX_CPUS - 1},
                           "site": {**_INT, "minimum": 0, "maximum": 63},
                           "t": {"type": "array", "maxItems": 8,
                                 "items": {**_INT, "minimum": 0, "maximum": 1 << 20}},
                           "u": {"type": "array", "maxItems": 8,
                                 "items": {**_INT, "minimum": 0, "maximum": 1 << 20}}}}},
        "property": {"type": "string", "maxLength": 64},
        "expect": {"type": "object", "maxProperties": 64},
        "sites": {"type": "array", "maxItems": 64},
    },
}


def lastser_of(sc: Schedule) -> list[int]:
    """Per fetch: the time the CPU last serialized before it (see the module doc)."""
    syncs = positions(sc.events, "sync")
    trap_end = {}
    out = []
    states = memory_states(sc.image(), sc.events)
    for f in sc.fetches:
        ls = max([p for p in syncs if p <= f.tmin] + [trap_end.get(f.cpu, 0)])
        out.append(ls)
        site = sc.sites[f.site]
        if states[f.u[0]][site.addr] == INT3:
            trap_end[f.cpu] = max(trap_end.get(f.cpu, 0), f.tmax)
    return out


def check_legal(sc: Schedule) -> str | None:
    """None when the schedule obeys its fetch model, else the first reason it does not."""
    n = len(sc.events)
    m = sc.model
    syncs = positions(sc.events, "sync")
    last_end = {}
    ls = lastser_of(sc)
    for j, f in enumerate(sc.fetches):
        if not 0 <= f.site < len(sc.offsets):
            return f"fetch {j}: no site {f.site}"
        site = sc.sites[f.site]
        if len(f.t) != site.size or len(f.u) != site.size:
            return f"fetch {j}: needs {site.size} times"
        if any(not 0 <= x <= n for x in f.t + f.u):
            return f"fetch {j}: time out of range 0..{n}"
        ids = chunk_ids(site, m.chunk)
        if m.contained and len(set(ids)) != 1:
            return f"fetch {j}: site not contained in one {m.chunk}-byte chunk"
        for i in range(site.size - 1):
            if ids[i] == ids[i + 1] and (f.t[i] != f.t[i + 1] or f.u[i] != f.u[i + 1]):
                return f"fetch {j}: one chunk read at two times"
            if m.in_order and f.t[i] > f.t[i + 1]:
                return f"fetch {j}: chunks out of order"
        if any(f.tmin < p <= f.tmax for p in syncs):
            return f"fetch {j}: spans a sync"
        if f.tmin < last_end.get(f.cpu, 0):
            return f"fetch {j}: overlaps the CPU's previous fetch"
        last_end[f.cpu] = f.tmax
        for i in range(site.size):
            if m.stale and not ls[j] <= f.u[i] <= f.t[i]:
                return f"fetch {j}: stale view outside [last serialize, read time]"
            if not m.stale and f.u[i] != f.t[i]:
                return f"fetch {j}: coherent fetch with a stale view"
    if sc.protocol == "xray16" and any(s.addr % 2 for s in sc.sites):
        return "xray16 needs even site addresses"
    return None


def seen_bytes(sc: Schedule, states: list[bytes], f: Fetch) -> bytes:
    site = sc.sites[f.site]
    return bytes(states[f.u[i]][site.addr + i] for i in range(site.size))


def published_at(sc: Schedule, t: int) -> bool:
    pub, unpub = positions(sc.events, "publish"), positions(sc.events, "unpublish")
    return bool(pub) and pub[0] <= t and not (unpub and unpub[0] <= t)


def predict(sc: Schedule) -> list[str]:
    """The outcome of every fetch by the model (decoding, no execution)."""
    states = memory_states(sc.image(), sc.events)
    return [classify(sc.toggles[f.site], seen_bytes(sc, states, f), published_at(sc, f.tmax))
            for f in sc.fetches]


PROPERTIES = ("torn", "new-then-old", "old-after-return", "stray-int3")
PROPERTY_TEXT = {
    "torn": "a fetch sees a mix of old and new bytes (not starting with CC)",
    "new-then-old": "one CPU sees a site NEW (or INT3) and later OLD",
    "old-after-return": "a fetch starting after the toggle returned sees OLD or INT3",
    "stray-int3": "a fetch traps on INT3 when no patch is published",
}


def violations(sc: Schedule, outcomes: list[str]) -> dict[str, list[int]]:
    """Per property, the fetches (indices) that witness its violation."""
    ret = positions(sc.events, "return")[0]
    v = {p: [] for p in PROPERTIES}
    seen_new = {}
    for j, (f, o) in enumerate(zip(sc.fetches, outcomes)):
        if o.startswith("TORN"):
            v["torn"].append(j)
        key = (f.cpu, f.site)
        if o in ("NEW", "INT3"):
            seen_new.setdefault(key, j)
        elif o == "OLD" and key in seen_new:
            v["new-then-old"] += [seen_new[key], j]
        if f.tmin >= ret and o in ("OLD", "INT3", "INT3_STRAY"):
            v["old-after-return"].append(j)
        if o == "INT3_STRAY":
            v["stray-int3"].append(j)
    return v


# -- random schedules --------------------------------------------------------------------------
def fetch_order(n_sites: int, per_site: int) -> list[int]:
    """The sites one CPU fetches, in order: it cycles through the sites."""
    return [s for _ in range(per_site) for s in range(n_sites)]


def random_offset(rng: random.Random, size: int, model: FetchModel, even: bool) -> int:
    while True:
        off = rng.randrange(LINE)
        if even and off % 2:
            continue
        if model.contained and (LINE + off) // model.chunk != (LINE + off + size - 1) // model.chunk:
            continue
        return off


def random_schedule(rng: random.Random, protocol: str, kind: str, model: FetchModel,
                    n_cpus: int = 2, per_site: int = 2) -> Schedule:
    """A uniformly-ish random legal schedule of the fetch model (for sampling PROVED cells)."""
    build, n_sites, even = PROTOCOLS[protocol]
    size, on = KINDS[kind]
    offsets = [random_offset(rng, size, model, even) for _ in range(n_sites)]
    toggles = [Toggle(block_site(i, size, o), on) for i, o in enumerate(offsets)]
    evs = build(toggles)
    # any-order groups: shuffle the writes of each group among their own slots
    groups = {}
    for k, e in enumerate(evs):
        if e.group >= 0:
            groups.setdefault(e.group, []).append(k)
    evs = list(evs)
    for ks in groups.values():
        perm = [evs[k] for k in ks]
        rng.shuffle(perm)
        for k, e in zip(ks, perm):
            evs[k] = e
    n = len(evs)
    syncs = positions(evs, "sync")
    sc = Schedule(protocol, kind, model, offsets, evs, [])
    states = memory_states(sc.image(), evs)
    order = fetch_order(n_sites, per_site)
    for cpu in range(n_cpus):
        pts = sorted(rng.randint(0, n) for _ in range(2 * len(order)))
        trap_end = 0
        for j, s in enumerate(order):
            a, b = pts[2 * j], pts[2 * j + 1]
            if rng.random() < 0.3:
                b = a  # a fetch at one instant
            for p in syncs:
                if a < p <= b:
                    b = p - 1
                    break
            site = toggles[s].site
            ids = chunk_ids(site, model.chunk)
            uniq = sorted(set(ids))
            tt = [rng.randint(a, b) for _ in uniq]
            if model.in_order:
                tt.sort()
            if model.stale:
                ls = max([p for p in syncs if p <= min(tt)] + [trap_end])
                uu = [rng.randint(ls, x) if x >= ls else x for x in tt]
            else:
                uu = tt
            t = [tt[uniq.index(c)] for c in ids]
            u = [uu[uniq.index(c)] for c in ids]
            f = Fetch(cpu, s, t, u)
            sc.fetches.append(f)
            if states[u[0]][site.addr] == INT3:
                trap_end = max(trap_end, f.tmax)
    return sc
