"""Design alternatives the review discussed, judged with Z3 (counterexamples where unsound).

Run ``python -m proofs.design_alternatives [--quick]``.

Designs (how the verifier treats a site, and what the toggling side must guarantee):

- ``frozen-map``: the key as a read-only frozen map value (``BPF_F_RDONLY_PROG`` + freeze):
  the verifier sees a constant and explores only the current state. Z3 query on the
  symbolic engine's M0 unsafe formula of each bundled program: a current value that is safe
  and a later value that is not. Witness replayed in the interpreter (no fault now, fault
  after the toggle). Unsound under M0 (once toggled), hence M1 and M2.
- ``shared-state``: all sites of one key followed as one state (the M0 assumption). Sound
  under M0 by construction; unsound under per-instruction poking: witness unsafe_m1.o
  (M0 safe, an M1 site assignment unsafe, replayed; as a constant schedule it is M2 too).
- ``both-edges`` (the 2023 series): every execution of a site may take either edge.
- ``mov+jcc``: a patchable ``mov rX, imm32`` plus ``if rX != 0 goto T``. Z3 proves that,
  with the immediate unknown to the verifier, the successors of the pair are exactly the
  site's two edges on each execution, so the verdict is the both-edges verdict; checked on
  every bundled program by the symbolic engine run on the mov form with each immediate a
  fresh unknown per execution (same M2 verdict as the manifest), and per M0 assignment in
  the interpreter (the toggler's immediates: same status, r0 and trace). Cost from the x86 JIT model:
  one more BPF instruction and a compare + conditional branch per site (bytes counted on
  each bundled program's image, versus the 2/5-byte site).
- ``2024-flags`` and ``2025-insn-set``: the same both-edges safety argument (the symbolic
  engine on design2024.o / design2025.o: complete, verdict as in the manifest). What the
  toggler needs: Z3 key-schedule search (model/x86/race.py ``search_key``): without a
  per-key lock, or with the 2025 loop's part-way return on error, two sites of one key end
  in different states (M1 is reachable, so M0 verification would be unsound there); with a
  per-key lock and no errors, no split. 2024 toggles one instruction at a time, with no key
  in the kernel at all: every site is independent (M1 by design).

Table: design, sound under M0/M1/M2, witness. Last line: ``SKV-PROOF-SUMMARY <json>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import z3

from model.elf.loader import load_object
from model.interp.machine import Machine
from model.isa import Alu, Jump
from model.keystate import Uniform
from model.pipeline import splice
from model.program import Program
from model.symbolic import analyse_program
from model.symbolic.engine import Engine
from model.symbolic.models import key_var, unsafe_formula
from proofs.runner import ClaimLog

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"


def _manifest():
    return json.loads((BPFPROGS / "manifest.json").read_text())["programs"]


def _run(obj, prog, keys):
    return Machine(prog, obj.maps, keys=Uniform(keys)).run(None, bytes(64))


# --- frozen read-only map --------------------------------------------------------------------
def frozen(progs):
    """Z3: current key values safe, later values unsafe (M0 formula, two copies)."""
    for o, pn in progs:
        obj = load_object(str(BPFPROGS / o))
        prog = obj.program(pn)
        eng = Engine(obj, prog)
        eng.run()
        u = unsafe_formula(eng, "M0")
        ks = prog.keys()
        cur = {k: z3.Bool(f"cur_{k}") for k in ks}
        later = {k: z3.Bool(f"later_{k}") for k in ks}
        s = z3.Solver()
        s.add(z3.Not(z3.substitute(u, *[(key_var(k), cur[k]) for k in ks])))
        s.add(z3.substitute(u, *[(key_var(k), later[k]) for k in ks]))
        if s.check() != z3.sat:
            continue
        m = s.model()
        a = {k: z3.is_true(m.eval(cur[k], model_completion=True)) for k in ks}
        b = {k: z3.is_true(m.eval(later[k], model_completion=True)) for k in ks}
        r0, r1 = _run(obj, prog, a), _run(obj, prog, b)
        if r0.status != "fault" and r1.status == "fault":
            return "COUNTEREXAMPLE", (f"{o}:{pn}: verified at {_kv(a)} (safe: {r0.status}), "
                                      f"toggled to {_kv(b)}: {r1.fault}")
    return "PROVED", "no bundled program is safe now and unsafe after a toggle"


def _kv(a):
    return ",".join(f"{k}={int(v)}" for k, v in sorted(a.items()))


# --- shared state (M0) -----------------------------------------------------------------------
def shared_state():
    obj = load_object(str(BPFPROGS / "unsafe_m1.o"))
    doc = analyse_program(obj, obj.program("per_site"))
    mo = doc["models"]
    w = mo["M1"].get("beyond_M0")
    if mo["M0"]["safe"] and w and w["confirmed"] and not mo["M2"]["safe"]:
        return "COUNTEREXAMPLE", (f"unsafe_m1.o:per_site: M0 safe; sites {w['sites']} "
                                  f"(keys {w['base_keys']}, {w['deviating_sites']} deviating) "
                                  f"unsafe, replayed: confirmed")
    return "FAILED", f"no confirmed M1 witness: {mo}"


# --- mov + jcc -------------------------------------------------------------------------------
def mov_jcc_edges():
    """For an unknown imm32: successor of ``mov rX, imm; if rX != 0 goto T`` is in {fall, T},
    and each is taken for some imm (so, per execution, exactly the site's two edges)."""
    imm = z3.BitVec("imm", 32)
    fall, tgt = z3.Ints("fall tgt")
    rx = z3.ZeroExt(32, imm)                   # mov32 zero-extends
    succ = z3.If(rx != 0, tgt, fall)
    s = z3.Solver()
    s.add(fall != tgt, z3.And(succ != fall, succ != tgt))
    only = s.check() == z3.unsat
    both = all(_sat(z3.And(fall != tgt, succ == e)) for e in (fall, tgt))
    # the toggler's two values: on = 1 -> T (normal site), off = 0 -> fall
    on_off = not _sat(z3.Or(z3.If(z3.BitVecVal(1, 64) != 0, tgt, fall) != tgt,
                            z3.If(z3.BitVecVal(0, 64) != 0, tgt, fall) != fall))
    ok = only and both and on_off
    return ("PROVED" if ok else "COUNTEREXAMPLE"), \
        "successors = {fall-through, target} per execution, both reachable: the both-edges " \
        "verdict"


def _sat(f):
    s = z3.Solver()
    s.add(f)
    return s.check() == z3.sat


def free_reg(prog: Program) -> int | None:
    used = set()
    for _, i in prog.iter_pcs():
        for f in ("dst", "src"):
            v = getattr(i, f, None)
            if isinstance(v, int):
                used.add(v)
    return next((r for r in (9, 8, 7, 6) if r not in used), None)


def mov_form(prog: Program, reg: int) -> Program:
    """Each site -> ``wR = 1; if wR != 0 goto T`` (normal) / ``== 0`` (inverse), via the
    pipeline's splice (so offsets follow the kernel's rule)."""
    from model.pipeline import rewrite_sites

    p = rewrite_sites(prog)
    for sid in [s.id for s in sorted(p.sites, key=lambda s: -s.pc)]:
        s = next(x for x in p.sites if x.id == sid)  # current positions
        t = s.target
        cond = "jeq" if s.inverse else "jne"
        # after the splice the jcc sits at s.pc + 1; its target t moves to t + 1 if t > s.pc
        new_t = t + 1 if t > s.pc else t
        jcc = Jump(cond, True, dst=reg, imm=0).with_delta(new_t - (s.pc + 1) - 1)
        p = splice(p, s.pc, [Alu("mov", False, reg, imm=1), jcc])
    return p


class MovEngine(Engine):
    """The symbolic engine with the patchable ``mov``s' immediates unknown: a fresh 32-bit
    value at every execution (the toggler may rewrite it between any two)."""

    def __init__(self, obj, prog, patchable: set[int]):
        super().__init__(obj, prog)
        self.patchable, self.fresh = patchable, 0

    def _alu(self, st, pc, insn):
        if pc in self.patchable:
            from model.symbolic.state import S

            self.fresh += 1
            return S(z3.ZeroExt(32, z3.BitVec(f"imm_{pc}_{self.fresh}", 32)))
        return super()._alu(st, pc, insn)


def mov_jcc_verdict(progs, expect):
    """The symbolic engine on the mov form (immediates unknown) gives each bundled program
    the both-edges (M2) verdict of the manifest."""
    n = 0
    for o, pn in progs:
        obj = load_object(str(BPFPROGS / o))
        prog = obj.program(pn)
        reg = free_reg(prog)
        if reg is None or not prog.sites:
            continue
        mp = mov_form(prog, reg)
        pcs = {pc for pc, i in mp.iter_pcs() if isinstance(i, Alu) and i.dst == reg}
        eng = MovEngine(obj, mp, pcs)
        r = eng.run()
        if r.exhausted:
            return "BOUND REACHED", f"{o}:{pn}: {r.exhausted}"
        if (not r.failures) != expect[(o, pn)]:
            return "COUNTEREXAMPLE", f"{o}:{pn}: mov form safe={not r.failures}, " \
                f"both-edges safe={expect[(o, pn)]}"
        n += 1
    return "PROVED", f"{n} programs: same verdict (complete exploration)"


def mov_jcc_cost(progs):
    from model.x86 import jit

    rows, extra_b, extra_i, n_sites, skipped = [], 0, 0, 0, []
    for o, pn in progs:
        obj = load_object(str(BPFPROGS / o))
        prog = obj.program(pn)
        reg = free_reg(prog)
        if reg is None or not prog.sites:
            skipped.append(f"{o}:{pn}")
            continue
        mp = mov_form(prog, reg)
        # same edges: the mov form's CFG successor set of each site pair = {fall, target}
        base = jit(prog, design="fixed")
        mj = jit(mp)
        d_bytes = len(mj.image) - len(base.image)
        site_bytes = sum(si.length for si in base.sites)
        extra_b += d_bytes
        extra_i += mp.n_slots - prog.n_slots
        n_sites += len(prog.sites)
        rows.append(f"{o}:{pn} {len(prog.sites)} sites: {site_bytes} B of sites -> "
                    f"+{d_bytes} B image")
    return "PROVED", (f"{n_sites} sites in {len(rows)} programs: +{extra_i} BPF insns "
                      f"(1/site), +{extra_b} x86 bytes in all "
                      f"({extra_b / max(n_sites, 1):.1f} B/site), 1 conditional branch per site "
                      f"execution (skipped, no free register: {len(skipped)})")


def mov_jcc_same_verdict(progs):
    """Behaviour of the mov form with the toggler's values = the site program's, per M0
    assignment (the both-edges verdict then carries over, edge for edge)."""
    from model.materialize import key_assignments

    n = 0
    for o, pn in progs:
        obj = load_object(str(BPFPROGS / o))
        prog = obj.program(pn)
        reg = free_reg(prog)
        if reg is None or not prog.sites:
            continue
        mp = mov_form(prog, reg)
        for a in key_assignments(prog):
            # the toggler writes imm 1/0 per key value (normal: on = 1 -> jump)
            p2 = _set_imms(mp, prog, a, reg)
            r1 = _run(obj, prog, a)
            r2 = Machine(p2, obj.maps).run(None, bytes(64))
            n += 1
            if (r1.status, r1.r0, r1.trace) != (r2.status, r2.r0, r2.trace):
                return "COUNTEREXAMPLE", f"{o}:{pn} {a}: {r1.status}/{r1.r0} vs {r2.status}/{r2.r0}"
    return "PROVED", f"{n} (program, assignment) runs equal"


def _set_imms(mp: Program, prog: Program, a, reg) -> Program:
    from dataclasses import replace as rep

    from model.pipeline import replace_insns

    # the k-th site (by pc) of prog is the k-th mov rReg, 1 of mp (in order)
    sites = sorted(prog.sites, key=lambda s: s.pc)
    insns, k = [], 0
    for pc, i in mp.iter_pcs():
        if isinstance(i, Alu) and i.op == "mov" and i.dst == reg and not i.is64 and \
                i.src is None and k < len(sites):
            i = rep(i, imm=int(a[sites[k].key]))
            k += 1
        insns.append(i)
    p = replace_insns(mp, insns)
    p.sites = []
    return p


# --- 2024 / 2025 -----------------------------------------------------------------------------
def later_design(o, pn, want_safe):
    obj = load_object(str(BPFPROGS / o))
    doc = analyse_program(obj, obj.program(pn))
    safe = doc["models"]["M2"]["safe"]
    ok = doc["complete"] and safe == want_safe
    return ("PROVED" if ok else "FAILED"), \
        f"{o}:{pn}: both-edges exploration complete, M2 safe={safe} (manifest {want_safe})"


def toggler(name):
    from model.x86.poke import KEY_SCENARIOS
    from model.x86.race import search_key

    sc = {s.name: s for s in KEY_SCENARIOS}[name]
    r = search_key(sc)
    det = ""
    if r.schedule is not None:
        det = f"final site states {r.schedule.expect['final']}"
    return r.status, (sc.note or name) + (f": {det}" if det else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.parse_args(argv)
    man = _manifest()
    progs = [(p["object"], p["program"]) for p in man]
    unsafe0 = [(p["object"], p["program"]) for p in man if not p["expect"]["M0"]["safe"]]
    exp = {(p["object"], p["program"]): p["expect"]["M2"]["safe"] for p in man}
    claim = ClaimLog("design_alternatives", width=58)

    _, w_frozen = claim("frozen-map: safe now, unsafe after a toggle", lambda: frozen(unsafe0),
                        "COUNTEREXAMPLE")
    _, w_shared = claim("shared-state (M0): unsound under per-site poking", shared_state,
                        "COUNTEREXAMPLE")
    claim("mov+jcc: successors = both edges per execution", mov_jcc_edges, "PROVED")
    claim("mov+jcc: engine verdict = both-edges verdict (bundled)",
          lambda: mov_jcc_verdict(progs, exp), "PROVED")
    claim("mov+jcc: same behaviour per assignment (bundled)",
          lambda: mov_jcc_same_verdict(progs), "PROVED")
    _, cost = claim("mov+jcc: cost from the x86 JIT model", lambda: mov_jcc_cost(progs),
                    "PROVED")
    claim("2024 flags: both-edges verdict", lambda: later_design(
        "design2024.o", "keys2024", exp[("design2024.o", "keys2024")]), "PROVED")
    claim("2025 insn set: both-edges verdict", lambda: later_design(
        "design2025.o", "keys2025", exp[("design2025.o", "keys2025")]), "PROVED")
    for name, e in (("two-togglers-locked", "PROVED"), ("two-togglers-unlocked", "COUNTEREXAMPLE"),
                    ("loop2025-one-toggler", "COUNTEREXAMPLE"), ("loop2025-no-errors", "PROVED"),
                    ("loop2025-two-togglers-locked", "COUNTEREXAMPLE")):
        claim(f"toggler {name}: key left split", lambda n=name: toggler(n), e)

    res = {c["claim"]: (c["result"], c["detail"]) for c in claim.claims}

    def yn(name, sound_when):
        return "yes" if res.get(name, ("FAILED",))[0] == sound_when else "no"

    fz = "frozen-map: safe now, unsafe after a toggle"
    sh = "shared-state (M0): unsound under per-site poking"
    mv = [n for n in res if n.startswith("mov+jcc")]
    mv_ok = "yes" if all(res[n][0] == "PROVED" for n in mv) else "no"
    be = [yn("2024 flags: both-edges verdict", "PROVED"),
          yn("2025 insn set: both-edges verdict", "PROVED")]
    import re

    m = re.search(r"([\d.]+ B/site)", cost)
    per_site = f"+{m.group(1)} x86" if m else "?"
    lock = res.get("toggler two-togglers-unlocked: key left split", ("?",))[0]
    part = res.get("toggler loop2025-one-toggler: key left split", ("?",))[0]
    table = [
        ("frozen read-only map", yn(fz, "PROVED"), yn(fz, "PROVED"), yn(fz, "PROVED"),
         w_frozen.split(": verified")[0]),
        ("shared state per key (M0)", "yes", yn(sh, "PROVED"), yn(sh, "PROVED"),
         w_shared.split(":")[0] + ":per_site" if res[sh][0] != "PROVED" else "-"),
        ("both edges (2023 series)", "yes", "yes", "yes", "- (proofs/both_edges.py)"),
        ("patchable mov + jcc", mv_ok, mv_ok, mv_ok,
         f"- (cost: +1 insn, {per_site}, +1 jcc per site)"),
        ("2024 per-insn flags", be[0], be[0], be[0],
         "- (toggler: one insn per call, no key: M1 by design)"),
        ("2025 per-key insn set", be[1], be[1], be[1],
         f"- (toggler: no lock {lock}, part-way error {part}: needs a per-key lock "
         "and a rollback)"),
    ]
    print()
    print(f"{'design':28} {'M0':4} {'M1':4} {'M2':4} witness")
    for d, a, b, c, w in table:
        print(f"{d:28} {a:4} {b:4} {c:4} {w}")
    return claim.finish()


if __name__ == "__main__":
    sys.exit(main())
