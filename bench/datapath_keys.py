"""Every M0 key assignment of the datapath (bpfprogs/datapath/), skv against the kernel.

For each program of ``datapath.o`` (and the programs of ``unsafe_datapath.o`` whose code
differs from it) and each assignment of the program's keys, the program is materialised
(``model.materialize``: every site fixed, dead code removed) and judged twice:

* skv: the abstract verifier (``model.verifier.checker.check_program``) on that program;
* the kernel: ``model.kernel.objload.verdict`` (BPF_PROG_LOAD, log level 2).

Both verdicts are compared with each other and with the manifest's answer (unsafe iff the
assignment matches a cube of ``expect.M0.unsafe_when``); the both-edges (M2) form is
judged once per program too. Times: skv's wall time per assignment, the kernel's wall time
per load (map creation, load, close) and its own ``verification_time_us``.

``python -m bench.datapath_keys [--program NAME] [--sample N] [--seed S]``; results in
bench/results/datapath_keys.json and .md (the full run: no --sample). Needs bpf(2).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATAPATH = ROOT / "bpfprogs" / "datapath"
RESULTS = ROOT / "bench" / "results" / "datapath_keys.json"
TABLE = RESULTS.with_suffix(".md")


def manifest() -> list[dict]:
    return json.loads((DATAPATH / "manifest.json").read_text())["programs"]


def unsafe(cubes: list[dict], a: dict) -> bool:
    return any(all(a.get(k) == v for k, v in c.items()) for c in cubes)


def entries() -> list[dict]:
    """datapath.o's programs, and unsafe_datapath.o's whose instructions differ."""
    from model.elf.loader import load_object

    safe = load_object(str(DATAPATH / "datapath.o"), keys_as_maps="keep")
    unsafe_obj = load_object(str(DATAPATH / "unsafe_datapath.o"), keys_as_maps="keep")
    out = []
    for e in manifest():
        if e["object"] == "unsafe_datapath.o":
            p = e["program"]
            if unsafe_obj.program(p).insns == safe.program(p).insns:
                continue
        out.append(e)
    return out


def sample(assignments: list[dict], n: int | None, seed: int) -> list[dict]:
    """All assignments, or: all off, all on, each key alone on, then n random ones."""
    if n is None:
        return assignments
    keys = sorted(assignments[0])
    picks = [{k: False for k in keys}, {k: True for k in keys}]
    picks += [{j: j == k for j in keys} for k in keys]
    picks += random.Random(seed).sample(assignments, min(n, len(assignments)))
    seen, out = set(), []
    for a in picks:
        t = tuple(sorted(a.items()))
        if t not in seen:
            seen.add(t)
            out.append(a)
    return out


def judge(obj, prog, a: dict) -> dict:
    """skv's and the kernel's verdict on ``prog`` materialised for assignment ``a``."""
    from model.kernel import rejection_reason
    from model.kernel.objload import verdict
    from model.materialize import materialize
    from model.verifier.checker import check_program

    t, c = time.perf_counter(), time.process_time()
    v = check_program(obj, materialize(prog, keys=a))
    skv_s, skv_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    ok, res = verdict(obj, prog, a)
    k_s = time.perf_counter() - t
    return {"skv": v.accepted, "skv_s": skv_s, "skv_cpu_s": skv_cpu,
            "skv_error": None if v.error is None else v.error.message,
            "kernel": ok, "kernel_s": k_s, "kernel_verify_us": res.verification_time_us,
            "kernel_insns": res.insns_processed,
            "kernel_error": None if ok else (rejection_reason(res.log) or res.error)}


def run_entry(e: dict, n: int | None, seed: int) -> dict:
    from model.elf.loader import load_object
    from model.kernel.objload import verdict_both_edges
    from model.materialize import key_assignments
    from model.verifier.checker import check_program
    from model.materialize import both_edges

    obj = load_object(str(DATAPATH / e["object"]), keys_as_maps="keep")
    prog = obj.program(e["program"])
    cubes = e["expect"]["M0"]["unsafe_when"]
    rows = []
    for a in sample(key_assignments(prog), n, seed):
        bits = {k: int(v) for k, v in a.items()}
        r = judge(obj, prog, a)
        r["assignment"] = bits
        r["expected"] = not unsafe(cubes, bits)
        rows.append(r)
    t = time.perf_counter()
    m2_skv = check_program(obj, both_edges(prog)).accepted
    m2_skv_s = time.perf_counter() - t
    m2_kernel = verdict_both_edges(obj, prog)[0]
    return {"object": e["object"], "program": e["program"], "keys": len(prog.keys()),
            "sites": len(prog.sites), "insns": len(prog.insns),
            "assignments": len(rows),
            "skv_accepts": sum(r["skv"] for r in rows),
            "kernel_accepts": sum(r["kernel"] for r in rows),
            "agree": sum(r["skv"] == r["kernel"] for r in rows),
            "skv_false_accepts": sum(r["skv"] and not r["kernel"] for r in rows),
            "skv_false_rejects": sum(r["kernel"] and not r["skv"] for r in rows),
            "manifest_mismatches": sum(r["kernel"] != r["expected"] for r in rows),
            "skv_s_total": round(sum(r["skv_s"] for r in rows), 3),
            "skv_cpu_s_total": round(sum(r["skv_cpu_s"] for r in rows), 3),
            "kernel_s_total": round(sum(r["kernel_s"] for r in rows), 3),
            "kernel_verify_s_total": round(sum(r["kernel_verify_us"] or 0 for r in rows) / 1e6, 3),
            "M2": {"skv": m2_skv, "kernel": m2_kernel, "skv_s": round(m2_skv_s, 3)},
            "rows": rows}


ROW_FIELDS = ["assignment", "skv", "kernel", "expected", "skv_ms", "skv_cpu_ms", "kernel_ms",
              "kernel_verify_us", "kernel_insns", "error"]


def compact(p: dict) -> dict:
    """``p`` with its rows as lists (``row_fields`` names them; the assignment as a string of
    bits in the order of ``key_order``), to keep the results file small."""
    if "row_fields" in p:
        return p
    order = sorted(p["rows"][0]["assignment"]) if p["rows"] else []
    rows = [["".join(str(r["assignment"][k]) for k in order), r["skv"], r["kernel"],
             r["expected"], round(1000 * r["skv_s"], 2), round(1000 * r["skv_cpu_s"], 2),
             round(1000 * r["kernel_s"], 2), r["kernel_verify_us"], r["kernel_insns"],
             r["kernel_error"] or r["skv_error"]] for r in p["rows"]]
    return {**p, "key_order": order, "row_fields": ROW_FIELDS, "rows": rows}


def table(doc: dict) -> str:
    head = ["object", "program", "insns", "keys", "sites", "assignments", "kernel accepts",
            "skv accepts", "agree", "skv false accepts", "skv false rejects",
            "manifest mismatches", "skv ms/assignment (CPU)", "kernel ms/load", "kernel verifier ms",
            "M2 skv / kernel"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tot = {k: 0 for k in ("assignments", "kernel_accepts", "skv_accepts", "agree",
                          "skv_false_accepts", "skv_false_rejects", "manifest_mismatches")}
    skv_s = skv_c = k_s = kv_s = 0.0
    for p in doc["programs"]:
        n = p["assignments"]
        for k in tot:
            tot[k] += p[k]
        skv_s += p["skv_s_total"]
        skv_c += p["skv_cpu_s_total"]
        k_s += p["kernel_s_total"]
        kv_s += p["kernel_verify_s_total"]
        m2 = p["M2"]
        lines.append("| " + " | ".join(str(x) for x in [
            p["object"], p["program"], p["insns"], p["keys"], p["sites"], n,
            p["kernel_accepts"], p["skv_accepts"], p["agree"], p["skv_false_accepts"],
            p["skv_false_rejects"], p["manifest_mismatches"],
            f"{1000 * p['skv_s_total'] / n:.1f} ({1000 * p['skv_cpu_s_total'] / n:.1f})",
            f"{1000 * p['kernel_s_total'] / n:.1f}",
            f"{1000 * p['kernel_verify_s_total'] / n:.2f}",
            f"{'accept' if m2['skv'] else 'reject'} / {'accept' if m2['kernel'] else 'reject'}"]) + " |")
    n = tot["assignments"]
    lines.append("| **total** | | | | | " + " | ".join(str(tot[k]) for k in tot) +
                 f" | {1000 * skv_s / n:.1f} ({1000 * skv_c / n:.1f}) | {1000 * k_s / n:.1f} | {1000 * kv_s / n:.2f} | |")
    return "\n".join(lines)


def write_json(path: Path, doc: dict) -> None:
    doc = {**doc, "programs": [compact(p) for p in doc["programs"]]}
    text = json.dumps({k: v for k, v in doc.items() if k != "programs"}, indent=1)[:-2]
    body = ",\n".join("  " + json.dumps(p) for p in doc["programs"])
    path.write_text(text + ',\n "programs": [\n' + body + "\n ]\n}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--program", help="only this program (both objects)")
    ap.add_argument("--sample", type=int, help="random assignments per program (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS), help="JSON results (the .md beside it)")
    args = ap.parse_args(argv)
    from model.kernel import available

    ok, why = available()
    if not ok:
        print(f"skipped: bpf(2) is not usable here: {why}")
        return 0
    t0 = time.perf_counter()
    progs = []
    for e in entries():
        if args.program and e["program"] != args.program:
            continue
        p = run_entry(e, args.sample, args.seed)
        progs.append(p)
        print(f"{p['object']:20} {p['program']:18} {p['assignments']:5} assignments: "
              f"kernel accepts {p['kernel_accepts']}, skv accepts {p['skv_accepts']}, "
              f"agree {p['agree']}, skv {p['skv_s_total']:.1f} s, kernel "
              f"{p['kernel_s_total']:.1f} s", file=sys.stderr, flush=True)
    import os

    doc = {"sample": args.sample, "seed": args.seed, "wall_s": round(time.perf_counter() - t0, 1),
           "load": "1/5/15-min load average %.1f %.1f %.1f on %d cores" % (
               *os.getloadavg(), os.cpu_count() or 0),
           "programs": progs}
    out = Path(args.out)
    write_json(out, doc)
    text = ("# Every M0 assignment of the datapath: skv's verifier against the kernel\n\n"
            f"`python -m bench.datapath_keys` ({'all assignments' if args.sample is None else f'sample {args.sample}, seed {args.seed}'}; "
            f"wall {doc['wall_s']} s). Per program: the kernel's and skv's verdicts on every "
            "materialised assignment, their agreement, the manifest's expectation "
            "(bpfprogs/datapath/manifest.json), mean times per assignment (skv: abstract "
            "verifier, wall and CPU; kernel: wall time of one load incl. map creation, and "
            "the verifier's own verification_time_us), and the both-edges (M2) verdicts. "
            f"Machine load while measuring: {doc['load']}.\n\n"
            + table(doc) + "\n")
    out.with_suffix(".md").write_text(text)
    print(table(doc))
    bad = sum(p["agree"] != p["assignments"] or p["manifest_mismatches"] for p in progs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
