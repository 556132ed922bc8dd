"""The both-edges claim on every bundled program, by the symbolic engine (model.symbolic).

For each program of bpfprogs/manifest.json: when the manifest says it is safe under M2, the
claim "following both edges of every site on every execution finds no unsafe execution" is
PROVED (complete exploration, no budget exhausted); when it is unsafe, the engine must
produce the right COUNTEREXAMPLE: M0 unsafe cubes equal to the manifest's (as sets of
assignments), M1/M2 safety equal, and a counterexample the interpreter replays to the
failing instruction. Anything else is FAILED (exit status 1).

Last line: ``SKV-PROOF-SUMMARY {"claims": [{"claim", "result", "time_s"}, ...]}``.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from model.elf.loader import load_object
from model.symbolic import analyse_program
from model.verifier.checker import check_program

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"


def same_set(ours: list[dict], want: list[dict], names: list[str]) -> bool:
    def hit(cubes, a):
        return any(all(a.get(k) == v for k, v in c.items()) for c in cubes)
    return all(hit(ours, a) == hit(want, a)
               for a in (dict(zip(names, b)) for b in itertools.product((0, 1),
                                                                          repeat=len(names))))


def check_one(p: dict) -> tuple[str, str, str]:
    obj = load_object(str(BPFPROGS / p["object"]))
    prog = obj.program(p["program"])
    doc = analyse_program(obj, prog, verifier=check_program(obj, prog))
    exp, mo = p["expect"], doc["models"]
    name = f"both-edges {p['object']}:{p['program']}"
    if not doc["complete"]:
        return name, "BOUND REACHED", ", ".join(doc["exhausted"])
    problems = []
    for m in ("M0", "M1", "M2"):
        if mo[m]["safe"] != exp[m]["safe"]:
            problems.append(f"{m} safe={mo[m]['safe']}, manifest {exp[m]['safe']}")
    if not same_set(mo["M0"]["unsafe_when"], exp["M0"]["unsafe_when"], prog.keys()):
        problems.append(f"M0 cubes {mo['M0']['unsafe_when']} != {exp['M0']['unsafe_when']}")
    if not same_set(mo["M1"]["unsafe_when"], exp["M1"]["unsafe_when"],
                    [f"pc{s.pc}" for s in prog.sites]):
        problems.append(f"M1 cubes {mo['M1']['unsafe_when']} != {exp['M1']['unsafe_when']}")
    if doc["cross_check"] == "SOUNDNESS BUG":
        problems.append("SOUNDNESS BUG: the verifier accepts an unsafe program")
    cx = doc["counterexample"]
    if not exp["M2"]["safe"] and not (cx and cx.get("confirmed")):
        problems.append("no confirmed counterexample")
    if problems:
        return name, "FAILED", "; ".join(problems)
    if exp["M2"]["safe"]:
        return name, "PROVED", f"no unsafe execution ({doc['stats']['steps']} steps)"
    detail = (f"{cx['model']} at insn {cx['pc']}: {cx['reason']}; M0 unsafe when "
              f"{mo['M0']['unsafe_when']}; replayed: {cx['fault']}")
    return name, "COUNTEREXAMPLE", detail


def main(argv=None) -> int:
    manifest = json.loads((BPFPROGS / "manifest.json").read_text())
    claims, failed = [], 0
    for p in manifest["programs"]:
        t0 = time.perf_counter()
        try:
            name, result, detail = check_one(p)
        except Exception as e:  # report, keep going
            name, result, detail = f"both-edges {p['object']}:{p['program']}", "FAILED", \
                f"{type(e).__name__}: {e}"
        dt = time.perf_counter() - t0
        expected = "PROVED" if p["expect"]["M2"]["safe"] else "COUNTEREXAMPLE"
        bad = result != expected
        failed += bad
        print(f"{result:14} {name:45} {dt:6.2f}s  {detail}" + ("  <-- UNEXPECTED" if bad else ""))
        claims.append({"claim": name, "result": result, "time_s": round(dt, 3)})
    print(f"{len(claims)} claims, {failed} unexpected")
    print("SKV-PROOF-SUMMARY " + json.dumps({"claims": claims}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
