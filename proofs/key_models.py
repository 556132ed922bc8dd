"""M0 ⊊ M1 ⊊ M2, with witnesses, and coverage of M0/M1 by the both-edges exploration.

Claims:
- inclusion on the bundled programs: every M0-unsafe key assignment, as a uniform site
  assignment, is M1-unsafe, and every M1-unsafe site assignment, as a constant schedule,
  is M2-unsafe (Z3 queries on the engine's unsafe formulas);
- strictness: unsafe_m1.o (M0 safe, M1 unsafe) and unsafe_m2.o (M1 safe, M2 unsafe), each
  witness minimal (fewest deviating sites / executions) and replayed in the interpreter;
- a small Z3-driven search over a BPF fragment (one key, two sites, each guarding one of
  a few instructions) finds M0-safe/M1-unsafe programs on its own, replayed too;
- coverage: for every bundled program, every concrete run under every M0 and every M1
  assignment (zero inputs; with and without map entries) takes only transitions the
  both-edges exploration explored.

Last line: ``SKV-PROOF-SUMMARY {"claims": [...]}``; exit status 1 when a claim fails.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import z3

from model.elf.loader import load_image, load_object
from model.elf.reader import parse_elf
from model.elf.writer import ProgSpec, build_object
from model.interp.machine import Machine
from model.isa import Alu, Exit, Jump, Load, Store
from model.keystate import PerSite, Uniform
from model.program import MapDef
from model.symbolic import analyse_program
from model.symbolic.engine import Engine
from model.symbolic.models import analyse, unsafe_formula, _solver
from proofs.runner import ClaimLog

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"


def _hit(cubes, a):
    return any(all(a.get(k) == v for k, v in c.items()) for c in cubes)


def inclusion(obj, prog) -> str | None:
    eng = Engine(obj, prog)
    eng.run()
    a = analyse(eng)
    c0, c1 = a["M0"]["unsafe_when"], a["M1"]["unsafe_when"]
    names = [f"pc{s.pc}" for s in prog.sites]
    for bits in itertools.product((0, 1), repeat=len(prog.keys())):
        k = dict(zip(prog.keys(), bits))
        if _hit(c0, k) and not _hit(c1, {f"pc{s.pc}": k[s.key] for s in prog.sites}):
            return f"M0-unsafe {k} is M1-safe"
    u2 = unsafe_formula(eng, "M2")
    by_id = {s.id: s for s in prog.sites}
    for bits in itertools.product((0, 1), repeat=len(names)):
        sa = dict(zip(names, bits))
        if not _hit(c1, sa):
            continue
        s = _solver(eng)
        s.add(u2)
        for (sid, n), e in eng.site_vars.items():
            s.add(e == bool(sa[f"pc{by_id[sid].pc}"]))
        if s.check() != z3.sat:
            return f"M1-unsafe {sa} is M2-safe"
    return None


def _runs(obj, prog, ks):
    for fill in (False, True):
        m = Machine(prog, obj.maps, keys=ks)
        if fill:
            for st in m.maps.by_name.values():
                if not st.defn.is_static_key and st.defn.origin != "data":
                    st.update(bytes(st.defn.key_size), bytes(st.defn.value_size), 0)
        yield m.run(None, bytes(64))


def coverage(obj, prog) -> tuple[str | None, int]:
    eng = Engine(obj, prog)
    eng.run()
    states = [Uniform({k: bool(b) for k, b in zip(prog.keys(), bits)})
              for bits in itertools.product((0, 1), repeat=len(prog.keys()))]
    states += [PerSite({s.id: bool(b) for s, b in zip(prog.sites, bits)})
               for bits in itertools.product((0, 1), repeat=len(prog.sites))]
    n = 0
    for ks in states:
        for res in _runs(obj, prog, ks):
            n += 1
            for a, b in zip(res.path, res.path[1:]):
                if (a, b) not in eng.edges:
                    return f"{ks.describe()}: transition {a}->{b} not explored", n
    return None, n


def witness(obj_name: str, prog_name: str, which: str) -> tuple[str, str]:
    obj = load_object(str(BPFPROGS / obj_name))
    doc = analyse_program(obj, obj.program(prog_name))
    mo = doc["models"]
    if which == "M1":
        w = mo["M1"].get("beyond_M0")
        ok = mo["M0"]["safe"] and not mo["M1"]["safe"] and w and w["confirmed"]
        return ("PROVED" if ok else "FAILED"), f"sites {w and w['sites']} (deviating " \
            f"{w and w['deviating_sites']}), replay confirmed {w and w['confirmed']}"
    w = mo["M2"].get("beyond_M1")
    ok = mo["M1"]["safe"] and not mo["M2"]["safe"] and w and w["confirmed"]
    return ("PROVED" if ok else "FAILED"), f"schedule {w and w['schedule']} (deviating " \
        f"{w and w['deviating_executions']}), replay confirmed {w and w['confirmed']}"


# -- a tiny search: prologue r6 = 0, fp-8 = 0; site A guards X, site B guards Y, r0 = 0 ----
CHOICES = {"r6 = r10": Alu("mov", True, 6, src=10), "r6 = 0": Alu("mov", True, 6, imm=0),
           "r7 = *(u64 *)(r6 - 8)": Load(8, 7, 6, -8)}


def tiny(x: str, y: str, on_a: bool, on_b: bool):
    insns = [Alu("mov", True, 6, imm=0), Store(8, 10, -8, imm=0)]
    sites = []
    for what, on in ((x, on_a), (y, on_b)):
        p = len(insns)  # p: site; p+1: goto p+3 (skip); p+2: the guarded insn
        insns += [Jump("ja", False), Jump("ja", False, off=1), CHOICES[what]]
        sites.append((p, p + 2, "k", False) if on else (p, p + 1, "k", False))
        if not on:  # the guarded insn runs when the key is off: fall through to it
            insns[p + 1] = Jump("ja", False, off=0)
            sites[-1] = (p, p + 3, "k", False)
    insns += [Alu("mov", True, 0, imm=0), Exit()]
    blob = build_object([ProgSpec("socket", "tiny", insns, sites)],
                        [MapDef("k", 2, 4, 4, 1, 1 << 15)])
    obj = load_image(parse_elf(blob, "tiny"))
    return obj, obj.programs[0]


def search() -> tuple[str, str]:
    found = []
    for x, y in itertools.product(CHOICES, repeat=2):
        for on_a, on_b in itertools.product((True, False), repeat=2):
            obj, prog = tiny(x, y, on_a, on_b)
            doc = analyse_program(obj, prog)
            w = doc["models"]["M1"].get("beyond_M0")
            if doc["models"]["M0"]["safe"] and w and w["confirmed"]:
                found.append(f"[{'on' if on_a else 'off'}: {x}; {'on' if on_b else 'off'}: "
                             f"{y}] sites {w['sites']}")
    return ("PROVED" if found else "FAILED"), f"{len(found)} programs of 36, e.g. " + \
        (found[0] if found else "-")


def main(argv=None) -> int:
    claim = ClaimLog("key_models", width=55)

    manifest = json.loads((BPFPROGS / "manifest.json").read_text())
    progs = [(p["object"], p["program"]) for p in manifest["programs"]]

    def incl():
        for o, p in progs:
            obj = load_object(str(BPFPROGS / o))
            bad = inclusion(obj, obj.program(p))
            if bad:
                return "COUNTEREXAMPLE", f"{o}:{p}: {bad}"
        return "PROVED", f"{len(progs)} programs"

    claim("M0 ⊆ M1 ⊆ M2 (unsafe sets, bundled programs)", incl)
    claim("M0 ⊊ M1: witness unsafe_m1.o:per_site", lambda: witness("unsafe_m1.o", "per_site",
                                                                    "M1"))
    claim("M1 ⊊ M2: witness unsafe_m2.o:per_exec", lambda: witness("unsafe_m2.o", "per_exec",
                                                                    "M2"))
    claim("M0 ⊊ M1: Z3 search over a 2-site fragment", search)
    for o, p in progs:
        def cov(o=o, p=p):
            obj = load_object(str(BPFPROGS / o))
            bad, n = coverage(obj, obj.program(p))
            return ("COUNTEREXAMPLE", bad) if bad else ("PROVED", f"{n} concrete runs covered")
        claim(f"both-edges covers M0 and M1: {o}:{p}", cov)
    return claim.finish()


if __name__ == "__main__":
    sys.exit(main())
