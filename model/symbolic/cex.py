"""Counterexamples: from a Z3 model to concrete inputs and site states, replayed in the
interpreter (``model.interp.Machine`` with ``Uniform`` / ``PerSite`` / ``PerExecution``).

A counterexample carries the site/key states, the context and packet bytes, the initial
contents of every map entry the run looks up (and of writable global data), the results of
helpers whose value is free (ktime, prandom, ...) by (call pc, n-th call) and the bytes such
helpers wrote (bpf_skb_load_bytes, ...), the failing pc and assertion, and the path the
replay took. Only a replay that faults at the failing
instruction is *confirmed*. ``to_replay`` gives the ``skv run --replay`` format
(``model.interp.replay.Replay``); helper results travel in the extra field
``helper_results`` and ``helper_writes`` (``skv run`` ignores them; our replay uses them).
"""

from __future__ import annotations


import z3

from model.errors import NotModelled
from model.interp.replay import Replay, init_maps, loaded_maps, make_keystate, write_replay
from model.interp.ctx import ETH_HLEN, L3_TYPES, PACKET_TYPES
from model.interp.machine import Machine
from model.interp.refs import REF_HELPERS, RESERVE, ringbuf_discard, sk_found, sk_lookup
from model.platform.map_helpers import entries_set_at_load
from model.symbolic.models import key_var, site_var
from model.symbolic.state import bv


class ReplayMachine(Machine):
    """The interpreter, with the free helper results of the counterexample."""

    def __init__(self, *a, results: dict | None = None, writes: dict | None = None, **kw):
        super().__init__(*a, **kw)
        self.results = results or {}
        self.writes = writes or {}  # (pc, n) -> [bytes]: what the call wrote (in order)
        self.calls: dict[int, int] = {}
        self._written: list[bytes] = []

    def helper_bytes(self, size: int) -> bytes:
        """The bytes the counterexample says the call wrote, when it says so."""
        if self._written and len(self._written[0]) == size:
            return self._written.pop(0)
        return super().helper_bytes(size)

    def _helper(self, pc: int, hid: int):
        n = self.calls.get(pc, 0)
        self._written = list(self.writes.get((pc, n), ()))
        nxt = super()._helper(pc, hid)
        self._written = []
        self.calls[pc] = n + 1
        if (pc, n) in self.results:
            if hid == RESERVE and self.regs[0] and not self.results[(pc, n)]:
                ringbuf_discard(self, self.regs[0], 0, 0, 0, 0)  # the ring was full
                self.held.next -= 1  # numbered as the Z3 engine numbers reservations
            self.regs[0] = self.results[(pc, n)]
            if REF_HELPERS.get(hid) is sk_lookup and self.regs[0]:
                sk_found(self, self.regs[0])  # the lookup found a socket
        return nxt


def _val(m, e) -> int:
    return m.eval(e, model_completion=True).as_long()


def _bytes(m, arr, n: int) -> bytes:
    return bytes(_val(m, z3.Select(arr, bv(i))) for i in range(n))


def build(eng, m, model: str, failure=None) -> dict:
    """The counterexample a Z3 model describes (``model``: M0 | M1 | M2)."""
    prog, lay = eng.prog, eng.lay
    keys = {k: z3.is_true(m.eval(key_var(k), model_completion=True)) for k in prog.keys()}
    cx: dict = {"model": model, "keys": {k: int(v) for k, v in keys.items()},
                "sites": {}, "schedule": {}}
    if model == "M1":
        cx["sites"] = {str(s.id): int(z3.is_true(m.eval(site_var(s), model_completion=True)))
                       for s in prog.sites}
    if model == "M2":
        runs: dict[int, int] = {}
        for sid, n in eng.site_vars:
            runs[sid] = max(runs.get(sid, 0), n + 1)
        base = {s.id: z3.is_true(m.eval(site_var(s), model_completion=True))
                for s in prog.sites}
        sched = {}
        for s in prog.sites:
            states = [z3.is_true(m.eval(eng.site_vars[(s.id, n)], model_completion=True))
                      for n in range(runs.get(s.id, 0))]
            sched[str(s.id)] = "".join(str(int(x)) for x in (states or [base[s.id]]))
        cx["schedule"] = sched
    plen = _val(m, lay.plen)
    pkt = _bytes(m, lay.pkt_in, plen)
    if prog.prog_type in L3_TYPES:
        pkt = bytes(ETH_HLEN) + pkt  # the interpreter strips the Ethernet header
    cx["ctx"] = _bytes(m, lay.ctx_in, lay.ctx_size).hex()
    cx["packet"] = pkt.hex() if prog.prog_type in PACKET_TYPES else None
    maps: dict[str, dict[str, str]] = {}
    cx["entries"] = {name: _val(m, lay.entries(name)) for name, md in lay.maps.items()
                     if entries_set_at_load(md.type, md.max_entries)}
    for name, key in lay.lookups:
        md = lay.maps[name]
        k = _val(m, key)
        if lay.is_array(name):
            present = k < _val(m, lay.entries(name))
        else:
            present = z3.is_true(m.eval(z3.Select(lay.present_in[name], key),
                                        model_completion=True))
        if present:
            kb = k.to_bytes(md.key_size, "little")
            vb = _bytes(m, z3.Select(lay.map_in[name], key), md.value_size)
            maps.setdefault(name, {})[kb.hex()] = vb.hex()
    for ref in prog.map_refs.values():
        md = lay.maps[ref.map]
        if md.origin == "data" and not md.frozen_constant:
            key = z3.BitVecVal(0, 8 * md.key_size)
            vb = _bytes(m, z3.Select(lay.map_in[ref.map], key), md.value_size)
            maps.setdefault(ref.map, {})[bytes(md.key_size).hex()] = vb.hex()
    cx["maps"] = maps
    cx["helper_results"] = {f"{pc}:{n}": _val(m, v) for (pc, n), v in eng.helper_vars.items()}
    cx["helper_writes"] = _helper_writes(m, lay)
    for (pc, n), null in lay.reserve_nulls.items():  # a reservation that returned NULL
        if z3.is_true(m.eval(null, model_completion=True)):
            cx["helper_results"][f"{pc}:{n}"] = 0
    for (pc, n), (null, addr) in lay.found_socks.items():  # a lookup that found one
        if not z3.is_true(m.eval(null, model_completion=True)):
            cx["helper_results"][f"{pc}:{n}"] = addr
    if failure is None:
        failure = next((f for f in eng.res.failures
                        if z3.is_true(m.eval(_instantiate(eng, f.cond, model),
                                             model_completion=True))), None)
    if failure is not None:
        cx.update(pc=failure.pc, assertion=failure.assertion, reason=failure.reason)
    return cx


#: bytes of one call's writes a counterexample carries (the rest the replay makes up)
MAX_WRITTEN = 4096


def _helper_writes(m, lay) -> dict[str, list[str]]:
    """What each call the Z3 engine leaves unknown wrote (model.symbolic.havoc), by
    (call pc, n-th call): one hex string per memory argument written."""
    out = {}
    for (pc, n), areas in lay.helper_outs.items():
        got = []
        for junk, lo, size in areas:
            k = min(_val(m, size), MAX_WRITTEN)
            got.append(bytes(_val(m, z3.Select(junk, lo + bv(i))) for i in range(k)).hex())
        out[f"{pc}:{n}"] = got
    return out


def _instantiate(eng, cond, model: str):
    from model.symbolic.models import substitution

    if model == "M2":
        return cond
    sub = substitution(eng, model)
    return z3.substitute(cond, *sub) if sub else cond


def to_replay(obj_path: str, prog, cx: dict) -> Replay:
    return Replay(obj_path, prog.name, cx["model"],
                  {k: bool(v) for k, v in cx["keys"].items()},
                  {k: bool(v) for k, v in cx["sites"].items()},
                  {k: [c == "1" for c in v] for k, v in cx["schedule"].items()},
                  bytes.fromhex(cx["ctx"]) if cx.get("ctx") is not None else None,
                  bytes.fromhex(cx["packet"]) if cx.get("packet") is not None else None,
                  cx.get("maps") or {}, entries=cx.get("entries") or {})


#: instructions of a replayed path kept in a counterexample (``path_truncated`` says more ran)
MAX_PATH = 2000


def replay(obj, prog, cx: dict) -> dict:
    """Run the counterexample; sets ``confirmed`` (a fault at the failing pc), ``fault``,
    ``status`` and ``path`` in ``cx`` and returns it."""
    keys = {k: bool(v) for k, v in cx["keys"].items()}
    sites = {int(k): bool(v) for k, v in cx["sites"].items()} if cx["model"] == "M1" else None
    sched = ({int(k): [c == "1" for c in v] for k, v in cx["schedule"].items()}
             if cx["model"] == "M2" else None)
    ks = make_keystate(prog, keys, sites, sched)
    results = {tuple(int(x) for x in k.split(":")): v
               for k, v in cx.get("helper_results", {}).items()}
    writes = {tuple(int(x) for x in k.split(":")): [bytes.fromhex(h) for h in v]
              for k, v in cx.get("helper_writes", {}).items()}
    mach = ReplayMachine(prog, loaded_maps(obj.maps, cx.get("entries") or {}), keys=ks,
                         results=results, writes=writes)
    init_maps(mach, cx.get("maps") or {})
    ctx = bytes.fromhex(cx["ctx"]) if cx.get("ctx") is not None else None
    pkt = bytes.fromhex(cx["packet"]) if cx.get("packet") is not None else None
    try:
        res = mach.run(ctx, pkt)
    except NotModelled as e:  # a context the interpreter does not build (sk_msg, ...)
        cx.update(status="not modelled", path=[], path_truncated=False, fault=str(e),
                  confirmed=False)
        return cx
    cx["status"] = res.status
    cx["path"] = res.path[:MAX_PATH]
    cx["path_truncated"] = len(res.path) > MAX_PATH
    cx["fault"] = str(res.fault) if res.fault else None
    cx["confirmed"] = res.status == "fault" and res.fault.pc == cx.get("pc")
    return cx


def write(path: str, obj_path: str, prog, cx: dict) -> None:
    """``cx`` as a ``skv run --replay`` file (plus the helpers' results and writes and the
    failure)."""
    extra = {k: cx[k] for k in ("helper_results", "helper_writes", "pc", "assertion",
                                "reason", "confirmed", "fault") if cx.get(k) is not None}
    write_replay(path, to_replay(obj_path, prog, cx), extra)


__all__ = ["build", "replay", "to_replay", "write", "ReplayMachine"]
