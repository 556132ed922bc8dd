"""skv against the real kernel on programs drawn from the kernel's whole rule surface
(``tests/rulegen.py``): per feature class, how many were drawn, both accept, both reject,
false accepts (skv accepts, the kernel rejects for a safety reason), false rejects (and
their rate among the programs the kernel accepts), and how often the first line of the
messages agrees when both reject -- for the abstract verifier on every program and for
the Z3 engine (accept = M2 safe) on a seeded sample. False-accept classes are listed with
one example each.

Results: bench/results/rule_surface.json and .md. ``python -m bench.rule_surface [N]
[Z3_N] [SEED] [CLASSES] [NAME]``: CLASSES a comma list of feature classes each program is
drawn first from (default: all), NAME the results file (default rule_surface); skipped
without bpf(2).
"""

from __future__ import annotations

import collections
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "rule_surface"
N_PROGRAMS = 100_000
Z3_PROGRAMS = 5_000
SEED = 11


def _md_table(t: dict, classes) -> list[str]:
    out = ["| class | drawn | both accept | both reject | false accepts | false rejects "
           "| FR rate (of kernel-accepted) | both-reject msg agreement | crashes |",
           "|---|---|---|---|---|---|---|---|---|"]
    for cls in [*classes, "with_sites", "map_flags", "all"]:
        r = t.get(cls)
        if r is None:
            continue
        agree = "-" if r["both_reject_msg_agreement"] is None else \
            f"{r['both_reject_msg_agreement']:.1%}"
        out.append(f"| {cls} | {r['drawn']} | {r['both_accept']} | {r['both_reject']} | "
                   f"{r['false_accept_safety']} | {r['false_reject']} | "
                   f"{r['false_reject_rate']:.1%} | {agree} | {r['crash']} |")
    return out


def main(n: int = N_PROGRAMS, z3_n: int = Z3_PROGRAMS, seed: int = SEED,
         classes: tuple[str, ...] | None = None, name: str = "rule_surface") -> dict | None:
    import os

    from model.kernel import available

    ok, why = available()
    if not ok:
        print(f"skipped: {why}")
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from rulecmp import compare, false_accept_classes, msg_key, table
    from rulegen import CLASSES, random_programs

    z3_at = set(random.Random(seed).sample(range(n), min(z3_n, n)))
    t0 = time.perf_counter()
    results, skipped = [], 0
    results_path = RESULTS.with_name(name)
    load0 = os.getloadavg()
    for i, rp in enumerate(random_programs(seed, n, classes)):
        c = compare(rp, z3=i in z3_at)
        if c is None:
            skipped += 1
        else:
            results.append(c)
        if (i + 1) % 5000 == 0:
            print(f"  {i + 1} programs, {time.perf_counter() - t0:.0f} s", flush=True)
    wall = time.perf_counter() - t0
    load = [round(x, 2) for x in (*load0, *os.getloadavg())]
    z3_results = [c for c in results if c.z3 is not None]
    out: dict = {"seed": seed, "programs": n, "skipped_map_create_failed": skipped,
                 "classes": list(classes or CLASSES),
                 "loadavg_1_5_15_start_end": load,
                 "wall_s": round(wall, 1),
                 "time_s": {"kernel": round(sum(c.kernel.time_s for c in results), 1),
                            "verifier": round(sum(c.ver.time_s for c in results), 1),
                            "z3": round(sum(c.z3.time_s for c in z3_results), 1)},
                 "verifier": {"table": table(results)},
                 "z3": {"programs": len(z3_results), "table": table(z3_results, "z3")}}
    for engine, rs in (("verifier", results), ("z3", z3_results)):
        fa = false_accept_classes(rs, "ver" if engine == "verifier" else "z3")
        out[engine]["false_accept_classes"] = {
            k: {"count": len(v), "classes": sorted({c.prog.cls for c in v}),
                "example": v[0].report("ver" if engine == "verifier" else "z3")}
            for k, v in fa.items()}
        v_of = (lambda c: c.ver) if engine == "verifier" else (lambda c: c.z3)
        out[engine]["false_reject_causes"] = collections.Counter(
            msg_key(v_of(c).msg) for c in rs
            if v_of(c).ok is False and c.kernel.ok).most_common(12)
        crashes = [c for c in rs if (c.ver if engine == "verifier" else c.z3).crash]
        out[engine]["crash_examples"] = [
            (c.ver if engine == "verifier" else c.z3).msg for c in crashes[:5]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results_path.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    md = [f"# skv vs the kernel on the rule surface ({n} programs, seed {seed})", "",
          f"Wall {wall:.0f} s ({n / wall:.0f} programs/s); time in kernel "
          f"{out['time_s']['kernel']} s, verifier {out['time_s']['verifier']} s, Z3 engine "
          f"{out['time_s']['z3']} s on {len(z3_results)} programs. "
          f"{skipped} programs skipped (a map the kernel would not create). Load average "
          f"(1/5/15 min) at the start {load[:3]}, at the end {load[3:]}.", "",
          "False accepts: skv accepts, the kernel rejects for a safety reason (not a "
          "complexity limit). FR rate = false rejects / programs the kernel accepts.", "",
          "## Abstract verifier", "", *_md_table(out["verifier"]["table"], classes or CLASSES),
          "",
          f"## Z3 engine (accept = M2 safe), {len(z3_results)} programs", "",
          "(The Z3 engine's rejections are not kernel-style messages: agreement is not "
          "meaningful there.)", "",
          *_md_table(out["z3"]["table"], classes or CLASSES), ""]
    for engine in ("verifier", "z3"):
        md += [f"## False-accept classes: {engine}", ""]
        for k, v in out[engine]["false_accept_classes"].items():
            md += [f"- x{v['count']} `{k}` (classes {', '.join(v['classes'])})"]
        md += ["", f"## False-reject causes: {engine} (skv's message, numbers dropped)", ""]
        md += [f"- x{n} `{k}`" for k, n in out[engine]["false_reject_causes"]]
        md.append("")
    results_path.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md[:30]))
    print(f"wrote {results_path.relative_to(ROOT)}.json and .md")
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench.rule_surface",
                                 description="skv against the kernel on the rule surface")
    ap.add_argument("n", nargs="?", type=int, default=N_PROGRAMS, help="programs drawn")
    ap.add_argument("z3_n", nargs="?", type=int, default=Z3_PROGRAMS,
                    help="of them, how many the Z3 engine also judges")
    ap.add_argument("seed", nargs="?", type=int, default=SEED)
    ap.add_argument("classes", nargs="?", default=None,
                    help="comma list of feature classes each program is drawn first from")
    ap.add_argument("name", nargs="?", default="rule_surface", help="results file stem")
    a = ap.parse_args()
    main(a.n, a.z3_n, a.seed, tuple(a.classes.split(",")) if a.classes else None, a.name)
