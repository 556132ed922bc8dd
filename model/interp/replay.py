"""The counterexample file of ``skv run --replay`` (format documented in
``model.commands.run``): the :class:`Replay` record, its JSON schema, reading (validated,
one-line errors) and writing, and the key state a replay describes.

It sits with the interpreter because the interpreter is what replays it; the symbolic
engine (``model.symbolic.cex``) and the x86 end-to-end runs write and read it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from model.errors import SkvError
from model.inputs import read_json_object, write_json
from model.interp.machine import Machine
from model.keystate import KeyState, PerExecution, PerSite, Uniform
from model.platform.map_helpers import (MAX_LOADED_ENTRIES, entries_at_least,
                                        entries_set_at_load)
from model.program import MapDef, Program, Site

MODELS = ("M0", "M1", "M2")

_BIT = {"enum": [0, 1, "0", "1"]}
_HEX = {"type": ["string", "null"], "maxLength": 1 << 20}
_NAMES = {"type": "object", "maxProperties": 4096}
#: what ``load_replay`` accepts (checked before any field is used)
SCHEMA = {
    "type": "object",
    "required": ["object", "program"],
    "properties": {
        "object": {"type": "string", "minLength": 1, "maxLength": 4096},
        "program": {"type": "string", "minLength": 1, "maxLength": 4096},
        "model": {"enum": list(MODELS)},
        "keys": {**_NAMES, "additionalProperties": _BIT},
        "sites": {**_NAMES, "additionalProperties": _BIT},
        "schedule": {**_NAMES, "additionalProperties": {
            "oneOf": [{"type": "string", "pattern": "^[01]+$", "maxLength": 1 << 16},
                      {"type": "array", "items": _BIT, "minItems": 1, "maxItems": 1 << 16}]}},
        "ctx": _HEX,
        "packet": _HEX,
        "maps": {**_NAMES, "additionalProperties": {
            "type": "object", "maxProperties": 1 << 16,
            "additionalProperties": {"type": "string", "maxLength": 1 << 16}}},
        "entries": {**_NAMES, "additionalProperties": {
            "type": "integer", "minimum": 1, "maximum": MAX_LOADED_ENTRIES}},
        "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": (1 << 64) - 1},
        "budget": {"type": ["integer", "null"], "minimum": 1, "maximum": 1 << 40},
        "helper_results": {**_NAMES, "additionalProperties": {
            "type": "integer", "minimum": -(1 << 63), "maximum": (1 << 64) - 1}},
        "helper_writes": {**_NAMES, "additionalProperties": {
            "type": "array", "maxItems": 8, "items": {"type": "string", "maxLength": 1 << 16}}},
    },
}


@dataclass
class Replay:
    object: str
    program: str
    model: str = "M0"
    keys: dict[str, bool] = field(default_factory=dict)
    sites: dict[str, bool] = field(default_factory=dict)  # site ref ("3", "#3", "pc13")
    schedule: dict[str, list[bool]] = field(default_factory=dict)
    ctx: bytes | None = None
    packet: bytes | None = None
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    seed: int | None = None
    budget: int | None = None
    #: map name -> its max_entries as loaded, for an array the object leaves at 0
    #: (``loaded_maps``)
    entries: dict[str, int] = field(default_factory=dict)


def _hex(text, what: str) -> bytes | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise SkvError(f"{what} must be a hex string")
    try:
        return bytes.fromhex(text.replace(" ", "").replace(":", ""))
    except ValueError:
        raise SkvError(f"{what}: bad hex {text!r}") from None


def _bit(v, what: str) -> bool:
    if v in (0, 1, "0", "1") and not isinstance(v, float):
        return v in (1, "1")
    raise SkvError(f"{what}: expected 0 or 1, not {v!r}")


def _digits(v, what: str) -> list[bool]:
    seq = list(v) if isinstance(v, (str, list)) else None
    if not seq:
        raise SkvError(f"{what}: expected a non-empty string of 0/1 digits or a list of 0/1")
    return [_bit(x, what) for x in seq]


def load_replay(path: str) -> Replay:
    data = read_json_object(path, "a counterexample object", SCHEMA)
    model = data.get("model", "M0")
    obj = data["object"]
    if not os.path.isabs(obj):
        obj = os.path.join(os.path.dirname(os.path.abspath(path)), obj)
    maps = data.get("maps") or {}
    r = Replay(obj, data["program"], model,
               {k: _bit(v, f"keys.{k}") for k, v in (data.get("keys") or {}).items()},
               {k: _bit(v, f"sites.{k}") for k, v in (data.get("sites") or {}).items()},
               {k: _digits(v, f"schedule.{k}") for k, v in (data.get("schedule") or {}).items()},
               _hex(data.get("ctx"), "ctx"), _hex(data.get("packet"), "packet"), maps,
               data.get("seed"), data.get("budget"), dict(data.get("entries") or {}))
    if model == "M1" and not r.sites:
        raise SkvError(f"{path}: model M1 needs \"sites\"")
    if model == "M2" and not r.schedule:
        raise SkvError(f"{path}: model M2 needs \"schedule\"")
    return r


def write_replay(path: str, r: Replay, extra: dict | None = None) -> None:
    """Write ``r`` in the format ``load_replay`` reads (for tools that find counterexamples),
    with ``extra`` fields (a failure's pc and reason, helper results) added."""
    data = {"object": r.object, "program": r.program, "model": r.model,
            "keys": {k: int(v) for k, v in r.keys.items()},
            "sites": {k: int(v) for k, v in r.sites.items()},
            "schedule": {k: "".join(str(int(x)) for x in v) for k, v in r.schedule.items()},
            "ctx": r.ctx.hex() if r.ctx is not None else None,
            "packet": r.packet.hex() if r.packet is not None else None}
    if r.maps:
        data["maps"] = r.maps
    if r.seed is not None:
        data["seed"] = r.seed
    if r.budget is not None:
        data["budget"] = r.budget
    if r.entries:
        data["entries"] = r.entries
    data.update(extra or {})
    write_json(path, data)


def loaded_maps(defs: dict[str, MapDef], entries: dict[str, int]) -> dict[str, MapDef]:
    """The maps as loaded: an array the object leaves at 0 entries (``entries_set_at_load``)
    gets the number ``entries`` gives, else the fewest the kernel allows
    (``entries_at_least``)."""
    out = dict(defs)
    for name in entries:
        if name not in defs:
            raise SkvError(f"entries: no map named {name} (maps: {', '.join(defs)})")
    for name, m in defs.items():
        if entries_set_at_load(m.type, m.max_entries):
            out[name] = replace(m, max_entries=entries.get(
                name, entries_at_least(m.type, m.max_entries)))
        elif name in entries and entries[name] != m.max_entries:
            raise SkvError(f"entries.{name}: the object sizes this map ({m.max_entries})")
    return out


def resolve_site(prog: Program, ref: str) -> Site:
    """A site by id (``3``, ``#3``) or by pc (``pc13``)."""
    ref = ref.strip()
    if ref.startswith("pc") and ref[2:].isdigit():
        site = prog.site_at(int(ref[2:]))
    elif ref.lstrip("#").isdigit():
        site = next((s for s in prog.sites if s.id == int(ref.lstrip("#"))), None)
    else:
        raise SkvError(f"bad site {ref!r}: use a site id (3) or a pc (pc13)")
    if site is None:
        have = ", ".join(f"#{s.id} (pc{s.pc})" for s in prog.sites) or "none"
        raise SkvError(f"program {prog.name} has no site {ref} (sites: {have})")
    return site


class _AfterSchedule(KeyState):
    """M2 fallback: the key's value if given, else the site's last scheduled state."""

    model = "M2"

    def __init__(self, keys: dict[str, bool], schedule: dict[int, list[bool]]):
        self.keys, self.schedule = keys, schedule

    def on(self, site: Site, n: int) -> bool:
        if site.key in self.keys:
            return self.keys[site.key]
        return self.schedule[site.id][-1]


def make_keystate(prog: Program, keys: dict[str, bool], sites: dict[int, bool] | None = None,
                  schedule: dict[int, list[bool]] | None = None) -> KeyState:
    """M0 (neither), M1 (``sites``) or M2 (``schedule``); every site must get a state."""
    named = set(sites or {}) | set(schedule or {})
    missing = sorted({s.key for s in prog.sites if s.id not in named and s.key not in keys})
    if missing:
        how = "" if not named else " (or name all their sites)"
        raise SkvError(f"missing value for key{'s' if len(missing) > 1 else ''} "
                       f"{', '.join(missing)}: give --keys "
                       + ",".join(f"{k}=0|1" for k in missing) + how)
    if sites is not None:
        return PerSite(dict(sites), Uniform(dict(keys)))
    if schedule is not None:
        return PerExecution(dict(schedule), _AfterSchedule(keys, schedule))
    return Uniform(dict(keys))


def init_maps(m: Machine, maps: dict[str, dict[str, str]]) -> None:
    for name, entries in maps.items():
        if name not in m.maps.by_name:
            raise SkvError(f"maps: no map named {name} (maps: {', '.join(m.maps.by_name)})")
        st = m.maps[name]
        for k, v in entries.items():
            key, value = _hex(k, f"maps.{name} key"), _hex(v, f"maps.{name}.{k}")
            if len(key) != st.defn.key_size or len(value) != st.defn.value_size:
                raise SkvError(f"maps.{name}: key/value must be {st.defn.key_size}/"
                               f"{st.defn.value_size} bytes, not {len(key)}/{len(value)}")
            rc = st.update(key, value, 0)
            if rc:
                raise SkvError(f"maps.{name}: cannot store key {k} (error {rc})")
