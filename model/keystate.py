"""Key-state models: what state a static site shows each time it executes.

- M0 ``Uniform``: every site of key K shows K's value for the whole run.
- M1 ``PerSite``: each site has its own fixed state for the run (a half-finished toggle).
- M2 ``PerExecution``: each dynamic execution of a site may show either state (toggles
  during the run); given as a schedule: per site, the states of its 1st, 2nd, ... execution.

A model answers ``on(site, n)``: is the site's key "on" at its n-th execution (from 0)?
Whether the site then jumps depends on its polarity (``Site.jumps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.errors import SkvError
from model.program import Program, Site


class KeyState:
    model = "?"

    def on(self, site: Site, n: int) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class Uniform(KeyState):
    keys: dict[str, bool]
    model = "M0"

    def on(self, site: Site, n: int) -> bool:
        if site.key not in self.keys:
            raise SkvError(f"no value for key {site.key} (site #{site.id} at insn {site.pc})")
        return self.keys[site.key]

    def describe(self) -> str:
        return ",".join(f"{k}={int(v)}" for k, v in sorted(self.keys.items())) or "-"


@dataclass
class PerSite(KeyState):
    sites: dict[int, bool]
    default: Uniform | None = None  # sites not named take their key's value
    model = "M1"

    def on(self, site: Site, n: int) -> bool:
        if site.id in self.sites:
            return self.sites[site.id]
        if self.default is not None:
            return self.default.on(site, n)
        raise SkvError(f"no state for site #{site.id} (insn {site.pc}, key {site.key})")

    def describe(self) -> str:
        return ",".join(f"#{s}={int(v)}" for s, v in sorted(self.sites.items()))


@dataclass
class PerExecution(KeyState):
    schedule: dict[int, list[bool]]  # site id -> state at each execution
    default: KeyState | None = None  # after the schedule runs out, or for unnamed sites
    model = "M2"
    seen: dict[int, int] = field(default_factory=dict)

    def on(self, site: Site, n: int) -> bool:
        states = self.schedule.get(site.id, [])
        if n < len(states):
            return states[n]
        if self.default is not None:
            return self.default.on(site, n)
        if states:
            return states[-1]
        raise SkvError(f"no state for execution {n} of site #{site.id} (insn {site.pc})")

    def describe(self) -> str:
        return ",".join(f"#{s}=" + "".join(str(int(x)) for x in v)
                        for s, v in sorted(self.schedule.items()))


def parse_keys(text: str, prog_keys: list[str]) -> dict[str, bool]:
    """``debug=1,trace=0`` -> {debug: True, trace: False}; every name must be a key."""
    out: dict[str, bool] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or value not in ("0", "1", "on", "off", "true", "false"):
            raise SkvError(f"bad key setting {part!r}: use NAME=0 or NAME=1")
        if name not in prog_keys:
            raise SkvError(f"unknown key {name} (keys: {', '.join(prog_keys) or 'none'})")
        out[name] = value in ("1", "on", "true")
    return out


def parse_sites(text: str, prog: Program) -> dict[int, list[bool]]:
    """``3=1,5=0`` (M1) or ``3=0110`` (M2 schedule: one digit per execution)."""
    ids = {s.id for s in prog.sites}
    out: dict[int, list[bool]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        sid, sep, states = part.partition("=")
        sid = sid.lstrip("#")
        if not sep or not sid.isdigit() or not states or set(states) - {"0", "1"}:
            raise SkvError(f"bad site setting {part!r}: use SITE=0, SITE=1 or SITE=0110")
        if int(sid) not in ids:
            raise SkvError(f"program {prog.name} has no site #{sid} "
                           f"(sites: {', '.join(str(i) for i in sorted(ids)) or 'none'})")
        out[int(sid)] = [c == "1" for c in states]
    return out


def all_assignments(keys: list[str]):
    """Every M0 assignment of ``keys``, in binary counting order (first key = high bit)."""
    n = len(keys)
    for bits in range(1 << n):
        yield {k: bool(bits >> (n - 1 - i) & 1) for i, k in enumerate(keys)}
