"""skv's abstract verifier and the kernel's, side by side in one run: per program both
verdicts, both times, both processed-instruction counts and the ratios.

Programs: the bundled objects (``bpfprogs/*.o``; skv explores both edges of every static
site, the kernel gets the both-edges form, ``model.materialize.both_edges``), generated
programs (``tests/vergen.py``) and large synthetic ones (``bench/verifier_synth.py``:
a long straight line, bounded loops, many sequential branches, an infinite loop).

Results: bench/results/verifier_speed.json and .md (median time ratio, worst cases,
insns/s). ``python -m bench.verifier_speed [--quick] [--time-limit S]``; without bpf(2)
the kernel columns are empty.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "verifier_speed"
SEED = 14
N_GENERATED = 150
KERNEL_LOG_LEVEL = 1  # the failing path only (plus stats): level 2 would time printing


def _kernel(insns, prog_type: str, maps: dict, map_refs: dict) -> dict:
    """The kernel's verdict, processed insns and verification time for raw instructions
    (maps created fresh and closed again)."""
    from model.isa import encode
    from model.kernel import map_create, rejection_reason, verify

    made = {}
    try:
        for name, m in maps.items():
            made[name] = map_create("hash" if m.type == 1 else "array", m.key_size, m.value_size, m.max_entries)
        r = verify(encode(insns), prog_type, log_level=KERNEL_LOG_LEVEL,
                   maps={pc: made[n] for pc, n in map_refs.items()})
    finally:
        for m in made.values():
            m.close()
    return {"ok": r.ok, "insns": r.insns_processed, "time_s": (r.verification_time_us or 0) / 1e6,
            "msg": "" if r.ok else rejection_reason(r.log)}


def _kernel_object(obj, prog) -> dict:
    from model.kernel import rejection_reason
    from model.kernel.objload import verdict_both_edges

    ok, r = verdict_both_edges(obj, prog, log_level=KERNEL_LOG_LEVEL)
    return {"ok": ok, "insns": r.insns_processed, "time_s": (r.verification_time_us or 0) / 1e6,
            "msg": "" if ok else rejection_reason(r.log)}


def _ours(obj, prog, time_limit: float) -> dict:
    from model.verifier.checker import check_program

    gc.collect()  # the previous program's garbage is not this one's time
    t0, c0 = time.perf_counter(), time.process_time()
    v = check_program(obj, prog, log=False, time_limit=time_limit)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # time_s: CPU time (the machine is shared; the kernel's figure is its own run time)
    return {"ok": v.accepted, "insns": v.stats.insns_processed, "time_s": cpu, "wall_s": wall,
            "states": v.stats.states, "msg": v.error.message if v.error else ""}


def programs(quick: bool):
    """(group, name, obj, prog, kernel thunk) for every benchmarked program."""
    from model.elf.loader import load_object

    for path in sorted(glob.glob(str(ROOT / "bpfprogs" / "*.o"))):
        obj = load_object(path)
        for prog in obj.programs:
            yield ("bundled", f"{Path(path).name}:{prog.name}", obj, prog,
                   lambda obj=obj, prog=prog: _kernel_object(obj, prog))
    sys.path.insert(0, str(ROOT / "tests"))
    from vergen import random_programs

    for k, vp in enumerate(random_programs(SEED, N_GENERATED // (5 if quick else 1))):
        obj, prog = vp.model()
        yield ("generated", f"vergen{k}", obj, prog,
               lambda vp=vp: _kernel(vp.insns, vp.prog_type, vp.maps, vp.map_refs))
    from bench.verifier_synth import synthetic

    for name, vp in synthetic(quick):
        obj, prog = vp.model()
        yield ("synthetic", name, obj, prog,
               lambda vp=vp: _kernel(vp.insns, vp.prog_type, vp.maps, vp.map_refs))


def _best(run, n: int) -> dict:
    """The fastest of ``n`` runs; every run must give the same verdict and counts."""
    runs = [run() for _ in range(max(1, n))]
    key = lambda r: (r["ok"], r["insns"], r["msg"])  # noqa: E731
    assert all(key(r) == key(runs[0]) for r in runs), f"runs differ: {runs}"
    return min(runs, key=lambda r: r["time_s"])


def _row(group, name, ours, kern) -> dict:
    row = {"group": group, "program": name, "ours": ours, "kernel": kern}
    if kern and kern["time_s"]:
        row["time_ratio"] = round(ours["time_s"] / kern["time_s"], 2)
    if kern and kern["insns"]:
        row["insns_ratio"] = round(ours["insns"] / kern["insns"], 3)
    return row


def summarise(rows: list[dict]) -> dict:
    def agg(sel):
        both = [r for r in sel if r["kernel"] and r["ours"]["ok"] and r["kernel"]["ok"]]
        tr = [r["time_ratio"] for r in both if "time_ratio" in r]
        ir = [r["insns_ratio"] for r in both if "insns_ratio" in r]
        o_t = sum(r["ours"]["time_s"] for r in sel)
        o_i = sum(r["ours"]["insns"] for r in sel)
        big = [r for r in sel if r["ours"]["insns"] >= 10_000]
        b_t = sum(r["ours"]["time_s"] for r in big)
        b_i = sum(r["ours"]["insns"] for r in big)
        return {
            "programs": len(sel), "both_accept": len(both),
            "median_time_ratio": round(statistics.median(tr), 2) if tr else None,
            "median_insns_ratio": round(statistics.median(ir), 3) if ir else None,
            "max_insns_ratio": max(ir) if ir else None,
            "ours_insns_per_s": round(o_i / o_t) if o_t else None,
            "ours_insns_per_s_large": round(b_i / b_t) if b_t else None,
            "verdict_mismatches": [r["program"] for r in sel if r["kernel"]
                                   and r["ours"]["ok"] != r["kernel"]["ok"]],
        }
    out = {"all": agg(rows)}
    for g in ("bundled", "generated", "synthetic"):
        out[g] = agg([r for r in rows if r["group"] == g])
    timed = [r for r in rows if "time_ratio" in r]
    out["worst_time_ratio"] = [(r["program"], r["time_ratio"]) for r in
                               sorted(timed, key=lambda r: -r["time_ratio"])[:8]]
    out["worst_insns_ratio"] = [(r["program"], r["insns_ratio"]) for r in
                                sorted((r for r in rows if "insns_ratio" in r),
                                       key=lambda r: -r["insns_ratio"])[:8]]
    return out


def markdown(res: dict) -> str:
    s = res["summary"]
    lines = [f"# Verifier speed: skv against the kernel ({res['label']})", "",
             "skv's time is its CPU time (the machine is shared), the kernel's its reported "
             "verification time; ratios are skv / kernel over programs both accept; "
             f"time limit {res['time_limit_s']} s (wall); each time the fastest of "
             f"{res.get('repeat', 1)} run(s). {res.get('note', '')}", "",
             "| group | programs | both accept | median time ratio | median insns ratio | "
             "max insns ratio | skv insns/s | skv insns/s (>=10k insns) | verdict mismatches |",
             "|---|---|---|---|---|---|---|---|---|"]
    for g in ("all", "bundled", "generated", "synthetic"):
        a = s[g]
        lines.append(f"| {g} | {a['programs']} | {a['both_accept']} | {a['median_time_ratio']} | "
                     f"{a['median_insns_ratio']} | {a['max_insns_ratio']} | "
                     f"{a['ours_insns_per_s']} | {a['ours_insns_per_s_large']} | "
                     f"{len(a['verdict_mismatches'])} |")
    lines += ["", "Worst time ratios: " + ", ".join(f"{p} {r}x" for p, r in
                                                   s["worst_time_ratio"]),
              "", "Worst processed-insn ratios: " + ", ".join(f"{p} {r}x" for p, r in
                                                             s["worst_insns_ratio"]),
              "", "| program | skv | kernel | skv s | kernel s | skv insns | kernel insns |",
              "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        if r["group"] == "generated":
            continue
        o, k = r["ours"], r["kernel"] or {}
        lines.append(f"| {r['program']} | {'ok' if o['ok'] else o['msg'][:50]} | "
                     f"{'ok' if k.get('ok') else (k.get('msg') or '')[:50]} | "
                     f"{o['time_s']:.3f} | {k.get('time_s', 0):.4f} | {o['insns']} | "
                     f"{k.get('insns')} |")
    return "\n".join(lines) + "\n"


def compare(before: dict, after: dict) -> str:
    """A before/after table of two result documents (same programs)."""
    lines = [f"# Verifier speed: {before['label']} against {after['label']}", "",
             f"Time limits: {before['time_limit_s']} s and {after['time_limit_s']} s (wall; "
             "a run that hits it counts only what it processed). skv times are CPU seconds, "
             f"the fastest of {before.get('repeat', 1)} and {after.get('repeat', 1)} runs. "
             f"Before: {before.get('note', '')} After: {after.get('note', '')}", "",
             "| group | median time ratio | median insns ratio | max insns ratio | skv insns/s "
             "| skv insns/s (>=10k insns) |", "|---|---|---|---|---|---|"]
    for g in ("all", "bundled", "generated", "synthetic"):
        b, a = before["summary"][g], after["summary"][g]
        cells = [f"{b[k]} -> {a[k]}" for k in ("median_time_ratio", "median_insns_ratio",
                                               "max_insns_ratio", "ours_insns_per_s",
                                               "ours_insns_per_s_large")]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    lines += ["", "| program | skv s before | skv s after | insns before | insns after | "
              "kernel insns | kernel s |", "|---|---|---|---|---|---|---|"]
    old = {r["program"]: r for r in before["rows"]}
    for r in after["rows"]:
        o = old.get(r["program"])
        if o is None or r["group"] == "generated":
            continue
        k = r["kernel"] or {}
        lines.append(f"| {r['program']} | {o['ours']['time_s']:.3f} | {r['ours']['time_s']:.3f}"
                     f" | {o['ours']['insns']} | {r['ours']['insns']} | {k.get('insns')} | "
                     f"{k.get('time_s', 0):.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    from model.kernel import available

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--label", default="current")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each program N times on both sides and keep the fastest run "
                         "(the machine is shared)")
    ap.add_argument("--note", default="", help="a line for the report (e.g. the load)")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                    help="write BEFORE/AFTER .json as a comparison table (.md) and stop")
    a = ap.parse_args(argv)
    if a.compare:
        before, after = (json.loads(Path(f).read_text()) for f in a.compare)
        out = Path(a.compare[1]).with_name("verifier_speed_compare.md")
        out.write_text(compare(before, after))
        print(f"wrote {out}")
        return {}
    have_kernel, why = available()
    if not have_kernel:
        print(f"kernel columns empty: {why}")
    rows = []
    for group, name, obj, prog, kthunk in programs(a.quick):
        ours = _best(lambda: _ours(obj, prog, a.time_limit), a.repeat)
        kern = _best(kthunk, a.repeat) if have_kernel else None
        rows.append(_row(group, name, ours, kern))
        if group != "generated":
            print(f"{name:40} skv {ours['time_s']:8.3f}s {ours['insns']:8} insns "
                  f"{'ok' if ours['ok'] else 'rej'} | kernel "
                  + (f"{kern['time_s']:.4f}s {kern['insns']} insns "
                     f"{'ok' if kern['ok'] else 'rej'}" if kern else "-"), flush=True)
    res = {"label": a.label, "time_limit_s": a.time_limit, "quick": a.quick,
           "repeat": a.repeat, "note": a.note,
           "summary": summarise(rows), "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(json.dumps({k: v for k, v in res["summary"].items()}, indent=1))
    return res


if __name__ == "__main__":
    main()
