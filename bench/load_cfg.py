"""Load + CFG time: the largest bundled object, and a generated object of 40,000
instructions with 200 static sites. Results: bench/results/load_cfg.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.gen import sites_object
from model.cfg import build_cfg, check_structure
from model.elf.loader import load_image
from model.elf.reader import parse_elf

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "load_cfg.json"


def measure(name: str, blob: bytes, repeat: int) -> dict:
    best = {"load_s": 1e9, "check_s": 1e9, "cfg_s": 1e9}
    for _ in range(repeat):
        t0 = time.perf_counter()
        obj = load_image(parse_elf(blob, name))
        t1 = time.perf_counter()
        for p in obj.programs:
            check_structure(p)
        t2 = time.perf_counter()
        cfgs = [build_cfg(p) for p in obj.programs]
        t3 = time.perf_counter()
        for k, v in (("load_s", t1 - t0), ("check_s", t2 - t1), ("cfg_s", t3 - t2)):
            best[k] = min(best[k], v)
    insns = sum(p.n_slots for p in obj.programs)
    sites = sum(len(p.sites) for p in obj.programs)
    blocks = sum(c.graph.number_of_nodes() for c in cfgs)
    total = best["load_s"] + best["check_s"] + best["cfg_s"]
    return {"object": name, "bytes": len(blob), "insns": insns, "sites": sites,
            "blocks": blocks, **{k: round(v, 4) for k, v in best.items()},
            "total_s": round(total, 4), "insns_per_s": int(insns / total)}


def main() -> None:
    from model.elf.loader import load_object

    objs = sorted((ROOT / "bpfprogs").glob("*.o"),
                  key=lambda p: sum(q.n_slots for q in load_object(str(p)).programs))
    rows = []
    if objs:  # the largest bundled object by instruction count
        rows.append(measure(str(objs[-1].relative_to(ROOT)), objs[-1].read_bytes(), 5))
    rows.append(measure("generated-40000-insns-200-sites", sites_object(40_000, 200), 3))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        print(f"{r['object']}: {r['insns']} insns, {r['sites']} sites, {r['blocks']} blocks: "
              f"load {r['load_s']}s, checks {r['check_s']}s, cfg {r['cfg_s']}s "
              f"({r['insns_per_s']} insns/s)")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
