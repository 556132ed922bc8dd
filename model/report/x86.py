"""x86 confirmation of any counterexample (M0 too) and saved end-to-end counterexamples.

``confirm_any(obj, prog, cx)``: M1/M2 go to ``model.e2e.confirm``; an M0 counterexample
needs no concurrent toggle: the image is JIT'd with every site in its key's state and CPU 0
runs once. Never raises for a program the JIT model does not support: the result then has
``confirmed: False`` and ``error``.

Saved files (``skv e2e OBJ --save FILE``, ``skv e2e --replay FILE``), format ``skv-e2e/1``::

  {"format": "skv-e2e/1", "object": ABS PATH, "object_sha256": HEX, "program": NAME,
   "model": "M0"|"M1"|"M2", "via_int3": BOOL,
   "counterexample": {... model.symbolic's counterexample: keys, sites, schedule (site
                      states per execution), ctx, packet, maps, helper_results, pc, path},
   "schedule": {"initial": {"pcN": 0|1}, "pokes": [{"site": "pcN", "to": 0|1,
                "steps": [CPU 0 instruction numbers], "events": [protocol event kinds]}]},
   "expect": {"bpf_insn": N, "x86_address": N, "x86_insn": TEXT, "kind": "fault"|...}}

Replay rebuilds the machine from ``schedule.initial``, CPU 1's pokes from ``schedule.pokes``
(each poke's events are the int3 protocol's, placed at the saved steps), runs CPU 0 with the
saved inputs and confirms like ``confirm``: CPU 0 observed the counterexample's site states
and faulted (or used poison) at the x86 code of BPF instruction ``pc``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from model.inputs import read_json_object, show, validate
from model.interp.replay import SCHEMA as REPLAY_SCHEMA
from model.e2e.confirm import x86_result
from model.errors import SkvError

FORMAT = "skv-e2e/1"


def _jit_errors() -> tuple:
    from model.e2e.machine import Unsupported
    try:
        from model.x86.emit import Unsupported as U2
    except ImportError:  # pragma: no cover
        return (Unsupported,)
    return (Unsupported, U2)


def _states_ok(prog, cx: dict, obs: dict[int, list[bool]]) -> bool:
    if cx["model"] == "M2":
        want2 = {int(k): [c == "1" for c in v] for k, v in cx["schedule"].items()}
        keyv = {k: bool(v) for k, v in cx["keys"].items()}
        key_of = {s.id: s.key for s in prog.sites}
        return all(xs == (want2.get(s) or [keyv.get(key_of[s], False)] * len(xs))[:len(xs)]
                   for s, xs in obs.items())
    if cx["model"] == "M1":
        want = {int(k): bool(v) for k, v in cx["sites"].items()}
    else:
        keyv = {k: bool(v) for k, v in cx["keys"].items()}
        want = {s.id: keyv.get(s.key, False) for s in prog.sites}
    return all(all(x == want.get(s, x) for x in xs) for s, xs in obs.items())


def confirm_m0(obj, prog, cx: dict) -> dict:
    from model.e2e.confirm import _inputs
    from model.e2e.machine import X86Machine

    t0 = time.perf_counter()
    keyv = {k: bool(v) for k, v in cx["keys"].items()}
    initial = {s.id: keyv.get(s.key, False) for s in prog.sites}
    m = X86Machine(obj, prog, initial)
    res = m.run(**_inputs(cx), verbose=True)
    sched = {"model": "M0", "initial": {f"pc{s.pc}": int(initial[s.id]) for s in prog.sites},
             "pokes": [], "story": ["no toggle: every site in its key's state "
                                    + ", ".join(f"{k}={int(v)}" for k, v in keyv.items())]}
    return x86_result(m, cx, res, sched, t0, _states_ok(prog, cx, res.observed()))


def confirm_any(obj, prog, cx: dict, *, via_int3: bool = False) -> dict:
    from model.e2e import confirm

    try:
        if cx["model"] in ("M1", "M2"):
            return confirm(obj, prog, cx, via_int3=via_int3)
        return confirm_m0(obj, prog, cx)
    except _jit_errors() as e:
        return {"confirmed": False, "model": cx["model"], "bpf_insn": cx.get("pc"),
                "x86_address": None, "error": f"the JIT model does not support "
                f"{prog.name}: {e}"}


# -- saved end-to-end counterexamples ---------------------------------------------------------
def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def save(path: str, obj_path: str, prog, cx: dict, result: dict, via_int3: bool) -> None:
    sc = result.get("schedule") or {}
    doc = {"format": FORMAT, "object": os.path.abspath(obj_path),
           "object_sha256": _sha(obj_path), "program": prog.name, "model": cx["model"],
           "via_int3": via_int3, "counterexample": cx,
           "schedule": {"initial": sc.get("initial", {}), "pokes": sc.get("pokes", []),
                        "story": sc.get("story", [])},
           "expect": {"bpf_insn": result.get("bpf_insn"),
                      "x86_address": result.get("x86_address"),
                      "x86_insn": result.get("x86_insn"), "kind": result.get("kind")}}
    try:
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    except OSError as e:
        raise SkvError(f"{path}: cannot write: {e.strerror or e}") from None


_BIT = {"enum": [0, 1, False, True]}
_STEPS = {"type": "array", "maxItems": 1 << 16,
          "items": {"type": "integer", "minimum": 0, "maximum": 1 << 24}}
#: a saved end-to-end counterexample (``save`` writes it); its ``counterexample`` is the
#: symbolic engine's, with the replay file's fields (``model.interp.replay.SCHEMA``)
SCHEMA = {
    "type": "object",
    "required": ["format", "object", "program", "counterexample", "schedule"],
    "properties": {
        "format": {"const": FORMAT},
        "object": {"type": "string", "minLength": 1, "maxLength": 4096},
        "object_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "program": {"type": "string", "minLength": 1, "maxLength": 4096},
        "model": {"enum": ["M0", "M1", "M2"]},
        "via_int3": {"type": "boolean"},
        "counterexample": {
            "type": "object", "required": ["model", "keys", "sites", "schedule"],
            "properties": {**{k: v for k, v in REPLAY_SCHEMA["properties"].items()
                              if k not in ("object", "program")},
                           # the symbolic engine's counterexamples name sites by id
                           "sites": {"type": "object", "maxProperties": 4096,
                                     "propertyNames": {"pattern": "^[0-9]{1,9}$"},
                                     "additionalProperties": _BIT},
                           "schedule": {"type": "object", "maxProperties": 4096,
                                        "propertyNames": {"pattern": "^[0-9]{1,9}$"},
                                        "additionalProperties": {
                                            "type": "string", "pattern": "^[01]*$",
                                            "maxLength": 1 << 16}},
                           "pc": {"type": ["integer", "null"], "minimum": 0,
                                  "maximum": 1 << 20}}},
        "schedule": {
            "type": "object", "required": ["initial", "pokes"],
            "properties": {
                "initial": {"type": "object", "maxProperties": 4096,
                            "additionalProperties": _BIT},
                "pokes": {"type": "array", "maxItems": 4096, "items": {
                    "type": "object", "required": ["site", "to", "steps"],
                    "properties": {"site": {"type": "string", "maxLength": 64},
                                   "to": _BIT, "steps": _STEPS,
                                   "events": {"type": "array", "maxItems": 64,
                                              "items": {"type": "string",
                                                        "maxLength": 32}}}}},
                "story": {"type": "array", "maxItems": 1 << 16}}},
        "expect": {"type": "object"},
    },
}


def load_saved(path: str) -> dict:
    d = read_json_object(path, "an end-to-end counterexample object")
    if d.get("format") != FORMAT:
        raise SkvError(f"{show(path)}: not an end-to-end counterexample (format {FORMAT!r})")
    validate(d, SCHEMA, show(path))
    return d


def replay(path: str) -> dict:
    """Replay a saved end-to-end counterexample; the result is ``confirm``'s dict."""
    from model.elf.loader import load_object as load
    from model.program import select_programs
    from model.e2e.confirm import Schedule, _index, _inputs, protocol
    from model.e2e.machine import Poke, WEv, X86Machine

    d = load_saved(path)
    obj_path = d["object"]
    if not os.path.exists(obj_path):
        alt = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(obj_path))
        if not os.path.exists(alt):
            raise SkvError(f"{path}: object {obj_path} not found")
        obj_path = alt
    if d.get("object_sha256") and _sha(obj_path) != d["object_sha256"]:
        raise SkvError(f"{path}: {obj_path} changed since the counterexample was saved")
    obj = load(obj_path)
    prog = select_programs(obj, d["program"])[0]
    cx = d["counterexample"]
    t0 = time.perf_counter()
    try:
        sid = {f"pc{s.pc}": s.id for s in prog.sites}
        sc = d["schedule"]
        names = list(sc.get("initial", {})) + [p["site"] for p in sc.get("pokes", [])]
        unknown = [n for n in names if n not in sid]
        if unknown:
            raise ValueError(f"{prog.name} has no static site {unknown[0]}")
        initial = {sid[k]: bool(v) for k, v in sc["initial"].items()}
        for s in prog.sites:
            initial.setdefault(s.id, False)
        m = X86Machine(obj, prog, initial)
        pokes, events = [], []
        for k, p in enumerate(sc["pokes"]):
            pk = Poke(_index(m, sid[p["site"]]), bool(p["to"]))
            evs = protocol(m, pk)
            if len(evs) != len(p["steps"]) or (
                    p.get("events") and [e.kind for e in evs] != list(p["events"])):
                raise ValueError(f"poke {k} ({p['site']}): the saved events do not match "
                                 "the int3 protocol for this site")
            pokes.append(pk)
            events += [WEv(int(s), k, e) for s, e in zip(p["steps"], evs)]
        events.sort(key=lambda w: w.step)          # stable: keeps CPU 1's program order
        res = m.run(**_inputs(cx), pokes=pokes, events=events, verbose=True)
        sched = Schedule(d.get("model") or cx["model"], initial, pokes, events,
                         list(sc.get("story", []))).to_json(m)
    except _jit_errors() as e:
        raise SkvError(f"{path}: the JIT model does not support {prog.name}: {e}") from None
    except (KeyError, TypeError, ValueError, StopIteration) as e:
        raise SkvError(f"{path}: bad end-to-end counterexample: {e}") from None
    out = x86_result(m, cx, res, sched, t0, _states_ok(prog, cx, res.observed()))
    out["program"] = prog.name
    out["object"] = obj_path
    return out
