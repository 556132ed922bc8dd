"""Why the Z3 engine gives up: over the bundled programs (bpfprogs/, bpfprogs/datapath/)
and real corpora (directories of ``.o`` files, as bench/real_corpora.py reads them), run the
Z3 engine's exploration (``model.symbolic.engine.Engine``) on every program and group the
programs by what made it stop short (its exhausted budgets: a feature only the abstract
verifier models, a budget, ...), normalised (instruction numbers dropped).

A program "gives up" when its exploration is incomplete (an exhausted budget): its models'
answers are then "unknown" unless an unsafe execution was found. Both are counted: the
reasons of every incomplete program, and of those with no unsafe execution found (their
M0/M1/M2 answers are "unknown").

``python -m bench.symbolic_follow [--time-limit S] [--out JSON] DIR [DIR...]`` (the bundled
programs are always included; default output bench/results/symbolic_follow.json, figures
only); ``python -m bench.symbolic_follow --table BEFORE.json AFTER.json`` prints the
before/after table of bench/results/symbolic_follow.md.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "symbolic_follow.json"
BUNDLED = [ROOT / "bpfprogs", ROOT / "bpfprogs" / "datapath"]


def reason_class(what: str) -> str:
    """An exhausted budget without its instruction numbers and counts."""
    what = re.sub(r"\s*\(insn \d+\)", "", what)
    what = re.sub(r"helper #\d+", "helper #N", what)
    what = re.sub(r"\(\d+(\.\d+)? s\)", "(S s)", what)
    what = re.sub(r"stopped at \d+", "stopped at N", what)
    what = re.sub(r"attach target \S+ of section \S+ \(not in vmlinux BTF.*",
                  "attach target not in vmlinux BTF (a module's function)", what)
    what = re.sub(r"at insn \d+", "at insn N", what)
    return what[:110]


def measure_program(obj, prog, time_s: float) -> dict:
    from model.errors import SkvError
    from model.symbolic.engine import Budget, Engine

    t0 = time.perf_counter()
    try:
        eng = Engine(obj, prog, Budget(time_s=time_s, states=20_000))
        res = eng.run()
    except SkvError as e:
        return {"prog": prog.name, "error": str(e)[:200], "exhausted": [], "unsafe": False}
    except Exception as e:  # noqa: BLE001 - a crash is counted, not hidden
        return {"prog": prog.name, "error": f"CRASH {type(e).__name__}: {e}"[:200],
                "exhausted": [], "unsafe": False}
    return {"prog": prog.name, "exhausted": [reason_class(x) for x in res.exhausted],
            "unsafe": bool(res.failures), "time_s": round(time.perf_counter() - t0, 2)}


def measure_dir(d: Path, time_s: float) -> list[dict]:
    from model.elf.loader import load_object

    out = []
    for f in sorted(p for p in d.iterdir() if p.suffix in (".o", ".elf")):
        try:
            obj = load_object(str(f), keys_as_maps="keep")
        except Exception as e:  # noqa: BLE001 - skv cannot load it: not the engine's
            out.append({"object": f.name, "load_error": str(e)[:200]})
            continue
        for prog in obj.programs:
            row = measure_program(obj, prog, time_s)
            row["object"] = f.name
            out.append(row)
    return out


def tally(rows: list[dict]) -> dict:
    progs = [r for r in rows if "prog" in r]
    gave_up = Counter()
    unknown = Counter()
    for r in progs:
        if r.get("error"):
            key = "program refused by the engine: " + reason_class(r["error"].split(": ", 1)[-1])
            gave_up[key] += 1
            unknown[key] += 1
            continue
        for why in dict.fromkeys(reason_class(x) for x in r["exhausted"]):
            gave_up[why] += 1
            if not r["unsafe"]:
                unknown[why] += 1
    return {"programs": len(progs),
            "complete": sum(1 for r in progs if not r.get("error") and not r["exhausted"]),
            "unknown_programs": sum(1 for r in progs if r.get("error") or
                                    (r["exhausted"] and not r["unsafe"])),
            "gave_up_by_reason": dict(gave_up.most_common()),
            "unknown_by_reason": dict(unknown.most_common())}


def render(before: dict, after: dict) -> str:
    """A markdown table of the programs left "unknown", by reason, before and after."""
    b, a = (tally([r for c in d["corpora"].values() for r in c["rows"]])
            for d in (before, after))
    lines = ["| reason the Z3 engine gives up (programs with no unsafe execution found) "
             "| before | after |", "|---|---:|---:|"]
    reasons = list(dict.fromkeys(list(b["unknown_by_reason"]) + list(a["unknown_by_reason"])))
    for why in reasons:
        lines.append(f"| {why} | {b['unknown_by_reason'].get(why, 0)} "
                     f"| {a['unknown_by_reason'].get(why, 0)} |")
    lines.append(f"| **programs \"unknown\"** | **{b['unknown_programs']}** "
                 f"| **{a['unknown_programs']}** |")
    lines.append(f"| programs explored completely | {b['complete']} | {a['complete']} |")
    lines.append(f"| programs | {b['programs']} | {a['programs']} |")
    per = ["", "| corpus | programs | unknown before | unknown after |", "|---|---:|---:|---:|"]
    for name, c in after["corpora"].items():
        old = tally(before["corpora"][name]["rows"]) if name in before["corpora"] else {}
        new = tally(c["rows"])
        per.append(f"| {name} | {new['programs']} | {old.get('unknown_programs', '-')} "
                   f"| {new['unknown_programs']} |")
    return "\n".join(lines + per) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == ["--table"]:  # --table BEFORE.json AFTER.json: the markdown table
        print(render(json.loads(Path(args[1]).read_text()),
                     json.loads(Path(args[2]).read_text())), end="")
        return 0
    time_s, out = 10.0, RESULTS
    if "--time-limit" in args:
        k = args.index("--time-limit")
        time_s = float(args[k + 1])
        del args[k:k + 2]
    if "--out" in args:
        k = args.index("--out")
        out = Path(args[k + 1])
        del args[k:k + 2]
    dirs = BUNDLED + [Path(a) for a in args]
    doc: dict = {"time_limit": time_s, "corpora": {}}
    for d in dirs:
        name = str(d.relative_to(ROOT)) if d.is_relative_to(ROOT) else d.name
        rows = measure_dir(d, time_s)
        doc["corpora"][name] = {"summary": tally(rows), "rows": rows}
        print(name, json.dumps(doc["corpora"][name]["summary"], indent=1), flush=True)
    every = [r for c in doc["corpora"].values() for r in c["rows"]]
    doc["total"] = tally(every)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print("TOTAL", json.dumps(doc["total"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
