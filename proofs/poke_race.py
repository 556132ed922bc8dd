"""Text-poke races: writer protocols x fetch models, searched with Z3 (``model.x86.race``).

Run ``python -m proofs.poke_race [--quick] [--out DIR] [--jobs N] [--timeout S]``.

Rows: protocol (``model.x86.poke.PROTOCOLS``) x site size (2B: ``nop2->jmp8`` and
``jmp8->nop2``; 5B: ``nop5->jmp32`` and ``jmp32->nop5``) x fetch model (``model.x86.fetch``).
Columns, each PROVED (no schedule of the model violates it, for any site placement in its
64-byte line and any number of CPUs/fetches -- see ``race`` for the bound) or COUNTEREXAMPLE:

- torn              a fetch sees a mix of old and new bytes not starting with CC;
- new-then-old      one CPU sees a site NEW (or INT3 = NEW emulated) and later OLD;
- old-after-return  a fetch that starts after the toggle returned sees OLD or INT3;
- stray-int3        a CPU traps on INT3 when no patch is published (the drain is done).

Then key claims (``poke.KEY_SCENARIOS``): two sites of one key in different states after
every toggler returned.

Expectations (``expected()``; any other result is UNEXPECTED and the exit status is 1):
- int3 (and int3-batch2): every claim PROVED under every fetch model.
- memcpy (in order or any order): torn COUNTEREXAMPLE everywhere (e.g. 1-byte chunks);
  new-then-old and old-after-return COUNTEREXAMPLE exactly for stale models (no sync at all).
- xray16: 2B torn COUNTEREXAMPLE only with 1-byte chunks (one aligned 16-bit store is atomic
  for any larger chunk); 5B torn COUNTEREXAMPLE everywhere (the tail is live code); the rest
  as memcpy.
- int3-no-sync1: torn COUNTEREXAMPLE unless the site is contained in one chunk.
- int3-no-sync2: torn COUNTEREXAMPLE unless contained or (in-order chunks and coherent).
- int3-no-sync3: stray-int3 COUNTEREXAMPLE unless one coherent chunk (a one-instant fetch
  traps before the drain; the model executes a fetch when its last chunk arrives),
  old-after-return COUNTEREXAMPLE for stale models.
- keys: per-key lock PROVED; no lock, or the 2025 loop with errors, COUNTEREXAMPLE.

Every COUNTEREXAMPLE is written to ``--out`` (default ``out/poke_cex``) as a JSON schedule
``skv replay`` (``model.x86.executor``) runs. The last line is the ``SKV-PROOF-SUMMARY``
(``proofs/runner.py``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

from model.x86 import fetch as fx
from model.x86 import race
from model.x86.poke import KEY_SCENARIOS, PROTOCOLS

SIZES = {"2B": ("nop2->jmp8", "jmp8->nop2"), "5B": ("nop5->jmp32", "jmp32->nop5")}
QUICK_MODELS = [fx.FetchModel(1, True, False), fx.FetchModel(8, False, True),
                fx.FetchModel(64, True, False, True)]
CEX, PROVED = "COUNTEREXAMPLE", "PROVED"


def expected(proto: str, size: str, m: fx.FetchModel, prop: str) -> str:
    memlike = proto.startswith("memcpy") or proto == "xray16"
    if prop == "stray-int3":
        # a contained coherent fetch is one instant: it traps before the drain
        return CEX if proto == "int3-no-sync3" and not (m.contained and not m.stale) else PROVED
    if prop == "new-then-old":
        return CEX if memlike and m.stale else PROVED
    if prop == "old-after-return":
        return CEX if (memlike or proto == "int3-no-sync3") and m.stale else PROVED
    # torn
    if proto.startswith("memcpy"):
        return CEX
    if proto == "xray16":
        return CEX if size == "5B" or m.chunk == 1 else PROVED
    if proto == "int3-no-sync1":
        return PROVED if m.contained else CEX
    if proto == "int3-no-sync2":
        return PROVED if m.contained or (m.in_order and not m.stale) else CEX
    return PROVED


def applicable(size: str, m: fx.FetchModel) -> bool:
    n = 2 if size == "2B" else 5
    return not m.contained or m.chunk >= n


def cell_name(proto, size, m, prop, kind=""):
    s = f"{proto}_{size}_{m.name}_{prop}" + (f"_{kind}" if kind else "")
    return s.replace("/", "-").replace(">", "").replace(" ", "")


def run_row(args):
    proto, size, m, timeout_ms, out = args
    cells = {}
    for prop in fx.PROPERTIES:
        t0 = time.monotonic()
        res, detail, path = PROVED, "", None
        for kind in SIZES[size]:
            try:
                r = race.search_fetch(proto, kind, m, prop, timeout_ms=timeout_ms)
            except Exception as e:  # report, don't lose the other cells
                res, detail = "FAILED", f"{type(e).__name__}: {e}"
                break
            if r.status == "COUNTEREXAMPLE":
                res = CEX
                sc = r.schedule
                kinds = [sc.expect["outcomes"][w] for w in sc.expect["witnesses"]]
                detail = f"{kind} off={sc.offsets[0]}: " + ",".join(dict.fromkeys(kinds))
                if out:
                    path = os.path.join(out, cell_name(proto, size, m, prop) + ".json")
                    with open(path, "w") as f:
                        json.dump(sc.to_json(), f, indent=1)
                break
            if r.status != PROVED:
                res, detail = ("BOUND REACHED" if r.status == "BOUND REACHED" else "FAILED"), r.detail
                break
        cells[prop] = (res, time.monotonic() - t0, detail, path)
    return proto, size, m, cells


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="three fetch models (used by the tests)")
    p.add_argument("--out", default="out/poke_cex", help="directory for counterexample JSON")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--timeout", type=int, default=60, help="seconds per Z3 query")
    p.add_argument("--only", default=None, help="protocols whose name contains this text")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    models = QUICK_MODELS if a.quick else fx.ALL_MODELS
    protos = [x for x in PROTOCOLS if not a.only or a.only in x]
    jobs = [(pr, sz, m, a.timeout * 1000, a.out) for pr in protos for sz in SIZES
            for m in models if applicable(sz, m)]
    t0 = time.monotonic()
    print(f"{'protocol':15} {'size':4} {'fetch model':24} " +
          " ".join(f"{x:>16}" for x in fx.PROPERTIES) + "   time")
    pool = mp.get_context("fork").Pool(a.jobs) if a.jobs > 1 else None
    results = pool.imap(run_row, jobs) if pool else map(run_row, jobs)
    claims = {}  # (proto, size, prop) -> aggregated
    cexes, unexpected = [], []
    for proto, size, m, cells in results:
        row = []
        for prop in fx.PROPERTIES:
            res, dt, detail, path = cells[prop]
            exp = expected(proto, size, m, prop)
            ok = res == exp
            row.append(("CEX" if res == CEX else res) + ("" if ok else "!"))
            c = claims.setdefault((proto, size, prop), {"n": 0, "cex": 0, "bad": [], "s": 0.0,
                                                         "bound": 0, "failed": 0})
            c["n"] += 1
            c["cex"] += res == CEX
            c["bound"] += res == "BOUND REACHED"
            c["failed"] += res == "FAILED"
            c["s"] += dt
            if not ok:
                c["bad"].append(m.name)
                unexpected.append(f"{proto} {size} {m.name} {prop}: {res}, expected {exp} {detail}")
            if path:
                cexes.append(f"{proto} {size} {m.name} {prop}: {detail} -> {path}")
        tt = sum(cells[x][1] for x in fx.PROPERTIES)
        print(f"{proto:15} {size:4} {m.name:24} " + " ".join(f"{x:>16}" for x in row)
              + f" {tt:6.2f}s")
        sys.stdout.flush()
    if pool:
        pool.close()
    print("\n(! = not the expected result; CEX = COUNTEREXAMPLE)")
    print(f"\ncounterexamples ({len(cexes)}, JSON schedules for `skv replay`):")
    for c in cexes:
        print("  " + c)
    print(f"\n{'key claim (sites agree after all toggles)':42} {'result':15} {'time':>7}")
    summary = []
    for sc in KEY_SCENARIOS:
        r = race.search_key(sc, timeout_ms=a.timeout * 1000)
        path = ""
        if r.status == CEX:
            path = os.path.join(a.out, f"key_{sc.name}.json")
            with open(path, "w") as f:
                json.dump(r.schedule.to_json(), f, indent=1)
        ok = r.status == sc.expect
        if not ok:
            unexpected.append(f"key {sc.name}: {r.status}, expected {sc.expect}")
        print(f"{sc.name:42} {r.status:15} {r.seconds:6.2f}s  {sc.note}"
              + (f" -> {path}" if path else "") + ("" if ok else "  <-- UNEXPECTED"))
        summary.append({"claim": f"key {sc.name}", "result": r.status, "expected": sc.expect,
                        "ok": ok, "seconds": round(r.seconds, 3), "detail": path})
    for (proto, size, prop), c in claims.items():
        res = ("FAILED" if c["failed"] else "BOUND REACHED" if c["bound"] else
               CEX if c["cex"] else PROVED)
        ok = not c["bad"]
        summary.append({"claim": f"{proto} {size} {prop}", "result": res, "ok": ok,
                        "expected": "as tabled", "seconds": round(c["s"], 3),
                        "detail": f"counterexample under {c['cex']}/{c['n']} fetch models"
                        + ("" if ok else f"; UNEXPECTED under {','.join(c['bad'])}")})
    if unexpected:
        print("\nUNEXPECTED:")
        for u in unexpected:
            print("  " + u)
    allok = not unexpected
    print(f"\n{sum(c['n'] for c in claims.values())} cells, {len(unexpected)} unexpected, "
          f"{time.monotonic() - t0:.0f}s wall")
    print("SKV-PROOF-SUMMARY " + json.dumps({"script": "poke_race", "ok": allok,
                                             "claims": summary}))
    return 0 if allok else 1


if __name__ == "__main__":
    sys.exit(main())
