"""The load pipeline keeps every static site (model/pipeline.py), proved with Z3.

Run ``python -m proofs.pipeline [--quick]``.

Symbolic programs: ``n`` slots (n <= NMAX), ``kind(i)`` (plain / jump / site / exit) and
``off(i)`` (relative distance) uninterpreted functions, so one query covers every program of
up to NMAX slots; one site-table entry (``spc``, ``stgt``) and one other jump ``i`` are free,
so UNSAT covers every site and every jump. Patch position ``pos`` and length ``k``
(1 <= k <= KMAX), removed range ``[pos, pos + c)`` are symbolic. Original distances fit in 16
bits, and a new distance that does not is the kernel's -ERANGE (a refused load, not a wrong
jump), so it is excluded. The offset rules queried are the functions model/pipeline.py runs
(``adj_off``, ``new_curr``, ``adj_pos``), evaluated on Z3 terms.

Claims (expected result in brackets):
- (1) rewrite: a rewritten normal site jumps to its table target, fits in 16 bits, is a
  nop only if both edges coincide; no other jump changes [PROVED];
- (2) patch: every jump outside the patch keeps its logical target; every site entry still
  names the site's JA, its target the same logical instruction, and the JA goes there
  [PROVED]; variants off-by-one at the site, at the target, patch ending exactly on a site
  [COUNTEREXAMPLE each, replayed: the concrete program from the Z3 model, transformed by
  model.pipeline.splice with the variant, runs a different path/r0 in the interpreter];
- (3) removal of dead ranges and ``JA +0``: jumps and sites keep their logical targets, and
  a rewritten site is never a nop unless its edges coincide [PROVED]; the variant without
  the stage-1 rewrite [COUNTEREXAMPLE, replayed];
- (4) subprogram split: relative offsets still reach the target inside the function [PROVED];
- every bundled program: the stage-2 and stage-3 outputs (zext patches, and seeded random
  patch sets of JA +0 padding), materialised per M0 assignment and run on generated inputs,
  have the input's status, r0 and trace; the raw outputs run with the keys too; stage 4 site offsets are consistent; stage 5 (x86 JIT model) puts every site at its
  instruction's address, 2 or 5 bytes long, jumping to the target instruction's address.

Last line: ``SKV-PROOF-SUMMARY <json>`` (proofs/runner.py); exit status 1 when a claim is not
the expected result.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import z3

from model.elf.loader import load_object
from model.interp.machine import Machine
from model.isa import Alu, Call, Exit, Jump
from model.keystate import Uniform
from model.materialize import key_assignments, materialize
from model.pipeline import (adj_off, adj_pos, check_site, new_curr, remove_dead_and_nops,
                            run_pipeline, splice)
from model.program import MapDef, Program, Site
from proofs.runner import ClaimLog

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"
PLAIN, JUMP, SITE, EXIT = 0, 1, 2, 3
S16 = (-(1 << 15), (1 << 15) - 1)


class Sym:
    """A symbolic program and one site-table entry."""

    def __init__(self, nmax: int):
        self.n = z3.Int("n")
        self.kind = z3.Function("kind", z3.IntSort(), z3.IntSort())
        self.off = z3.Function("off", z3.IntSort(), z3.IntSort())
        self.spc, self.stgt = z3.Ints("spc stgt")
        self.i = z3.Int("i")
        self.base = [self.n >= 2, self.n <= nmax]

    def fits(self, d):
        return z3.And(d >= S16[0], d <= S16[1])

    def jump(self, i):
        """i is a jump (or site) of the program, in range, to an instruction."""
        t = i + self.off(i) + 1
        return z3.And(i >= 0, i < self.n, z3.Or(self.kind(i) == JUMP, self.kind(i) == SITE),
                      self.fits(self.off(i)), t >= 0, t < self.n)

    def site(self):
        return z3.And(self.spc >= 0, self.spc < self.n, self.kind(self.spc) == SITE,
                      self.stgt >= 0, self.stgt < self.n, self.stgt != self.spc,
                      self.fits(self.stgt - self.spc - 1))


def _check(cons, timeout_ms=60_000):
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(*cons)
    r = s.check()
    return r, (s.model() if r == z3.sat else None)


def _val(m, e):
    return m.eval(e, model_completion=True).as_long()


# --- concrete replay of a counterexample ------------------------------------------------------
def concrete(n: int, spc: int, stgt: int, rewritten: bool = True) -> Program:
    """slot i: ``r0 += 1 << i`` (so r0 records the path), the site at spc (normal, key k),
    exit at n - 1."""
    insns = []
    for i in range(n):
        if i == n - 1:
            insns.append(Exit())
        elif i == spc:
            insns.append(Jump("ja", False).with_delta(stgt - spc - 1 if rewritten else 0))
        else:
            insns.append(Alu("add", True, 0, imm=1 << i))
    return Program("cex", "socket", insns,
                   sites=[Site(0, "cex", spc, stgt, "k", False, "2023")])


KEYMAP = {"k": MapDef("k", 2, 4, 4, 1, 1 << 15)}


def run(prog: Program, on: bool):
    r = Machine(prog, KEYMAP, keys=Uniform({"k": on}), strict=False).run(None, bytes(64))
    return r.status, r.r0


def replay(orig: Program, new: Program) -> tuple[bool, str]:
    """Does some key state make the transformed program behave differently?"""
    for on in (False, True):
        a, b = run(orig, on), run(new, on)
        if a != b:
            return True, f"key {'on' if on else 'off'}: r0 {a[1]:#x} -> {b[1]:#x} ({b[0]})"
    return False, "no difference in the interpreter"


# --- the claims -------------------------------------------------------------------------------
def claim_rewrite(nmax):
    S = Sym(nmax)
    new_off = S.stgt - S.spc - 1   # what rewrite_sites writes
    bad = z3.Or(S.spc + new_off + 1 != S.stgt, z3.Not(S.fits(new_off)),
                z3.And(new_off == 0, S.stgt != S.spc + 1))
    r, _ = _check(S.base + [S.site(), S.off(S.spc) == 0, bad])
    # other jumps: the rewrite writes only slot spc
    r2, _ = _check(S.base + [S.site(), S.jump(S.i), S.i != S.spc,
                             z3.If(S.i == S.spc, new_off, S.off(S.i)) != S.off(S.i)])
    ok = r == z3.unsat and r2 == z3.unsat
    return ("PROVED" if ok else "COUNTEREXAMPLE"), f"n <= {nmax}"


def _logical(t, pos, k):
    return z3.If(t < pos, t, z3.If(t == pos, pos, t + k - 1))


def _new_kind(S, p, pos, k):
    return z3.If(p < pos, S.kind(p), z3.If(p < pos + k, PLAIN, S.kind(p - (k - 1))))


def patch_query(nmax, kmax, variant, which):
    S = Sym(nmax)
    pos, k = z3.Ints("pos k")
    end_old, end_new = pos + 1, pos + k
    pre = S.base + [pos >= 0, pos < S.n, k >= 1, k <= kmax,
                    z3.And(S.kind(pos) != JUMP, S.kind(pos) != SITE)]
    if which == "jumps":
        t = S.i + S.off(S.i) + 1
        c = new_curr(S.i, pos, end_old, end_new)
        d = adj_off(c, S.off(S.i), pos, end_old, end_new)
        return S, pos, k, pre + [S.jump(S.i), S.i != pos, S.fits(d)], \
            c + d + 1 != _logical(t, pos, k)
    # the site entry (rewritten: its JA goes to stgt)
    pre += [S.site(), S.spc != pos, S.off(S.spc) == S.stgt - S.spc - 1]
    sp = adj_pos(S.spc, pos, end_old, end_new, role="site", variant=variant)
    st = adj_pos(S.stgt, pos, end_old, end_new, role="target", variant=variant)
    c = new_curr(S.spc, pos, end_old, end_new)
    d = adj_off(c, S.off(S.spc), pos, end_old, end_new)
    bad = z3.Or(sp != c, _new_kind(S, sp, pos, k) != SITE, st != _logical(S.stgt, pos, k),
                c + d + 1 != st)
    return S, pos, k, pre + [S.fits(d)], bad


def claim_patch(nmax, kmax, variant=None, which="sites"):
    S, pos, k, pre, bad = patch_query(nmax, kmax, variant, which)
    if _check(pre)[0] != z3.sat:
        return "FAILED", "vacuous: the preconditions have no model"
    cons = pre + [bad]
    r, m = _check(cons)
    if r == z3.unsat:
        return "PROVED", f"n <= {nmax}, 1 <= k <= {kmax}"
    if r != z3.sat:
        return "BOUND REACHED", str(r)
    if variant is None:
        return "COUNTEREXAMPLE", f"unexpected: {m}"
    # a small, forward, replayable instance of the same bug
    small = cons + [S.n <= 12, S.spc + 2 <= S.stgt, S.stgt <= S.n - 2, pos <= S.n - 2,
                    k <= 4]
    r, m = _check(small)
    if r != z3.sat:
        return "COUNTEREXAMPLE", "found, but no small forward instance to replay"
    n, p, kk, spc, stgt = (_val(m, x) for x in (S.n, pos, k, S.spc, S.stgt))
    orig = concrete(n, spc, stgt)
    bit = orig.insns[p]
    new = splice(orig, p, [bit] + [Alu("add", True, 0, imm=0)] * (kk - 1), variant=variant)
    diff, how = replay(orig, new)
    res = "COUNTEREXAMPLE" if diff else "FAILED"
    s2 = new.sites[0] if new.sites else None
    return res, (f"n={n} site {spc}->{stgt}, patch at {p} with k={kk}: table says "
                 f"{s2.pc}->{s2.target} " if s2 else "site lost; ") + f"replayed: {how}"


def claim_remove(nmax, cmax, variant=None, which="sites"):
    S = Sym(nmax)
    pos, c = z3.Ints("pos c")
    end_old, end_new = pos + c, pos
    nop = z3.And(c == 1, z3.Or(S.kind(pos) == JUMP, S.kind(pos) == SITE), S.off(pos) == 0)
    pre = S.base + [pos >= 0, pos + c <= S.n, c >= 1, c <= cmax]

    def logical(t):  # a jump into the removed nop goes to the next kept instruction
        return z3.If(t < pos, t, z3.If(t >= pos + c, t - c, pos))

    def into_ok(t):  # only a nop is jumped into; a dead range is not reached by any jump
        return z3.Or(nop, z3.Or(t < pos, t >= pos + c))

    if which == "jumps":
        t = S.i + S.off(S.i) + 1
        cu = new_curr(S.i, pos, end_old, end_new)
        d = adj_off(cu, S.off(S.i), pos, end_old, end_new)
        pj = pre + [S.jump(S.i), z3.Or(S.i < pos, S.i >= pos + c), into_ok(t), S.fits(d)]
        if _check(pj)[0] != z3.sat:
            return "FAILED", "vacuous: the preconditions have no model"
        r, m = _check(pj + [cu + d + 1 != logical(t)])
        return ("PROVED" if r == z3.unsat else "COUNTEREXAMPLE"), f"n <= {nmax}, c <= {cmax}"
    # the site: live (not in a dead range), target reachable; rewritten unless variant
    sdist = S.stgt - S.spc - 1
    pre += [S.site(), S.stgt != S.spc + 1, into_ok(S.stgt),
            S.off(S.spc) == (0 if variant == "no_rewrite" else sdist)]
    # removal only takes dead code (never a live site) or a nop
    pre += [z3.Or(nop, z3.Or(S.spc < pos, S.spc >= pos + c))]
    lost = z3.And(S.spc >= pos, S.spc < pos + c)
    sp = adj_pos(S.spc, pos, end_old, end_new, role="site")
    st = adj_pos(S.stgt, pos, end_old, end_new, role="target")
    cu = new_curr(S.spc, pos, end_old, end_new)
    d = adj_off(cu, S.off(S.spc), pos, end_old, end_new)
    bad = z3.Or(lost, sp != cu, st != logical(S.stgt), cu + d + 1 != st)
    if _check(pre + [S.fits(d)])[0] != z3.sat:
        return "FAILED", "vacuous: the preconditions have no model"
    r, m = _check(pre + [S.fits(d), bad])
    if r == z3.unsat:
        return "PROVED", f"n <= {nmax}, 1 <= c <= {cmax}"
    if variant is None:
        return "COUNTEREXAMPLE", f"unexpected: {m}"
    r, m = _check(pre + [S.fits(d), bad, S.n <= 12, S.spc + 2 <= S.stgt, S.stgt <= S.n - 2])
    if r != z3.sat:
        return "COUNTEREXAMPLE", "found, but no small forward instance to replay"
    n, spc, stgt = (_val(m, x) for x in (S.n, S.spc, S.stgt))
    orig = concrete(n, spc, stgt, rewritten=False)
    new = remove_dead_and_nops(orig)   # the real stage 3, no stage 1
    diff, how = replay(orig, new)
    return ("COUNTEREXAMPLE" if diff else "FAILED"), \
        f"n={n} site {spc}->{stgt} is JA +0: removed as a nop, {len(new.sites)} sites left; " \
        f"replayed: {how}"


def claim_split(nmax):
    S = Sym(nmax)
    lo, hi = z3.Ints("lo hi")
    t = S.i + S.off(S.i) + 1
    r, _ = _check(S.base + [S.jump(S.i), lo >= 0, lo <= S.i, S.i < hi, hi <= S.n,
                            lo <= t, t < hi,  # the verifier keeps jumps inside a function
                            z3.Or((S.i - lo) + S.off(S.i) + 1 != t - lo, t - lo < 0,
                                  t - lo >= hi - lo)])
    return ("PROVED" if r == z3.unsat else "COUNTEREXAMPLE"), f"n <= {nmax}"


# --- the bundled programs ---------------------------------------------------------------------
def _inputs(quick):
    rnd = random.Random(8)
    yield bytes(64)
    for _ in range(1 if quick else 4):
        yield bytes(rnd.randrange(256) for _ in range(64))


def _obs(prog, maps, ks, ctx):
    r = Machine(prog, maps, keys=ks).run(ctx, bytes(64))
    return r.status, r.r0, list(r.trace)


def bundled(o, pn, quick):
    obj = load_object(str(BPFPROGS / o))
    prog = obj.program(pn)
    stages = run_pipeline(prog)
    out = stages[3].prog
    for s in out.sites:
        bad = check_site(out, s)
        if bad:
            return "FAILED", bad
    for part in stages[4].parts:
        for s in part.sites:
            insn = part.by_pc()[s.pc]
            if insn.target(s.pc) != s.target:
                return "FAILED", f"stage 4: {part.name} site {s.id} relative offset wrong"
    runs = 0
    # the zext patch set, then seeded random patch sets: k-1 JA +0 after a non-jump
    # instruction (stage 2 keeps them, stage 3 removes them again)
    rnd = random.Random(f"{o}:{pn}")
    by_pc = prog.by_pc()
    # not a jump, call or callback load: bpf_adj_branches skips the patch itself, so a
    # relative operand copied into a patch is the patch builder's job (as in the kernel)
    cand = [pc for pc, i in prog.iter_pcs() if i.slots == 1 and not isinstance(i, Jump)
            and not (isinstance(i, Call) and i.src == 1)]
    variants = [(None, stages)]
    for _ in range(2 if quick else 10):
        pick = rnd.sample(cand, min(len(cand), rnd.randint(1, 4)))
        pats = [(pc, [by_pc[pc]] + [Jump("ja", False)] * rnd.randint(0, 5)) for pc in pick]
        variants.append((pats, run_pipeline(prog, patches=pats, jit=False)))
    for pats, st in variants:
        for outp in (st[2].prog, st[3].prog):
            for a in key_assignments(prog):
                m_in, m_out = materialize(prog, keys=a), materialize(outp, keys=a)
                for ctx in _inputs(quick):
                    x, y = _obs(m_in, obj.maps, None, ctx), _obs(m_out, obj.maps, None, ctx)
                    z = _obs(outp, obj.maps, Uniform(a), ctx)
                    runs += 1
                    if not (x == y == z):
                        return "FAILED", (f"patches {pats} keys {a}: input {x[:2]} output "
                                          f"{y[:2]} raw {z[:2]}")
    j = stages[5].jit
    by = {si.bpf_pc: si for si in j.sites}
    for s in out.sites:
        si = by.get(s.pc)
        if si is None or si.length not in (2, 5) or si.address != j.insn_addrs[s.pc] or \
                si.target_address != j.insn_addrs[s.target]:
            return "FAILED", f"stage 5: site {s.id} placed wrongly ({si})"
    return "PROVED", (f"{prog.n_slots}->{out.n_slots} slots, {len(out.sites)} sites, "
                      f"{len(variants)} patch sets, {runs} runs x3 equal, JIT sites ok")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    nmax = 4096 if a.quick else 1_000_000   # BPF_MAXINSNS / BPF_COMPLEXITY_LIMIT_INSNS
    kmax = 32 if a.quick else 4096
    claim = ClaimLog("pipeline", width=60)

    claim("(1) rewrite JA +0 -> JA +N keeps the site", lambda: claim_rewrite(nmax))
    claim("(2) patch: other jumps keep their targets",
          lambda: claim_patch(nmax, kmax, None, "jumps"))
    claim("(2) patch: sites keep insn, JA and target", lambda: claim_patch(nmax, kmax))
    for v in ("site_off_by_one", "target_off_by_one", "patch_end_on_site"):
        claim(f"(2) patch, wrong rule {v}", lambda v=v: claim_patch(nmax, kmax, v),
              "COUNTEREXAMPLE")
    claim("(3) removal: other jumps keep their targets",
          lambda: claim_remove(nmax, kmax, None, "jumps"))
    claim("(3) removal: rewritten sites survive, targets kept", lambda: claim_remove(nmax, kmax))
    claim("(3) removal without the stage-1 rewrite", lambda: claim_remove(nmax, kmax, "no_rewrite"),
          "COUNTEREXAMPLE")
    claim("(4) split: relative offsets reach the target", lambda: claim_split(nmax))
    manifest = json.loads((BPFPROGS / "manifest.json").read_text())
    for p in manifest["programs"]:
        claim(f"pipeline behaves like input: {p['object']}:{p['program']}",
              lambda p=p: bundled(p["object"], p["program"], a.quick))
    return claim.finish()


if __name__ == "__main__":
    sys.exit(main())
