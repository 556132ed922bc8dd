"""The load pipeline (model.pipeline), its proofs (proofs/pipeline.py,
proofs/design_alternatives.py) and ``skv info --pipeline``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, bundled_objects
from model.cli import main
from model.elf.loader import load_object
from model.errors import SkvError
from model.isa import Alu, Call, Exit, Jump
from model.pipeline import (adj_off, apply_patches, check_site, is_nop, patch_insn,
                            remove_dead_and_nops, rewrite_sites, run_pipeline, split_subprogs)
from model.program import Program, Site
from proofs import pipeline as P

OBJECTS = bundled_objects()


def _prog(insns, sites):
    return Program("t", "socket", insns, sites=[Site(i, "t", pc, t, "k", inv, "2023")
                                                for i, (pc, t, inv) in enumerate(sites)])


def test_rewrite_then_removal_keeps_normal_site():
    # 0: r0 = 0; 1: site (JA +0, target 3); 2: r0 = 1; 3: exit
    p = _prog([Alu("mov", True, 0, imm=0), Jump("ja", False), Alu("mov", True, 0, imm=1),
               Exit()], [(1, 3, False)])
    r = rewrite_sites(p)
    assert r.insns[1].off == 1 and check_site(r, r.sites[0]) is None
    assert len(remove_dead_and_nops(r).sites) == 1
    # without the rewrite, nop removal deletes the site
    gone = remove_dead_and_nops(p)
    assert gone.sites == [] and gone.n_slots == 3


def test_patch_adjusts_jumps_and_sites_by_kernel_rule():
    # 0: site -> 2 (rewritten), 1: r0 = 1, 2: r0 += 2, 3: goto -3 (to 1)... keep it acyclic:
    insns = [Jump("ja", False, off=1), Alu("mov", True, 0, imm=1), Alu("add", True, 0, imm=2),
             Jump("jeq", False, dst=0, imm=5, off=-3), Exit()]
    p = _prog(insns, [(0, 2, False)])
    q = patch_insn(p, 2, [Alu("add", True, 0, imm=2), Alu("mov", False, 0, src=0),
                          Alu("add", True, 0, imm=0)])
    assert q.sites[0].pc == 0 and q.sites[0].target == 2   # target = start of the patch
    assert q.insns[0].target(0) == 2
    assert q.insns[5].target(5) == 1                       # backward jump over the patch
    with pytest.raises(SkvError):
        patch_insn(p, 0, [Alu("mov", True, 0, imm=0)])     # never patch a site


def test_adj_off_matches_remap():
    # exhaustive: small programs, every jump, patch position and length
    for n in range(2, 9):
        for pos in range(n):
            for k in range(0, 4):   # 0: a removal
                for i in range(n):
                    if i == pos:
                        continue
                    for t in range(n):
                        end_old, end_new = pos + 1, pos + k
                        curr = i if i < pos else i + k - 1
                        d = adj_off(curr, t - i - 1, pos, end_old, end_new)
                        want = t if t < pos else (pos if t == pos else t + k - 1)
                        assert curr + d + 1 == want, (n, pos, k, i, t)


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_pipeline_every_object(path):
    obj = load_object(str(path))
    for prog in obj.programs:
        st = run_pipeline(prog)
        assert [s.n for s in st] == [0, 1, 2, 3, 4, 5]
        out = st[3].prog
        assert len(out.sites) == len(prog.sites)
        assert not any(is_nop(out.by_pc()[s.pc]) for s in out.sites)
        for s in out.sites:
            assert check_site(out, s) is None
        assert sum(len(q.sites) for q in st[4].parts) == len(prog.sites)


def test_split_relative_offsets():
    obj = load_object(str(ROOT / "bpfprogs" / "st_subprog.o"))
    prog = rewrite_sites(obj.program("st_subprog"))
    parts = split_subprogs(prog)
    assert [q.name for q in parts] == ["st_subprog", "sub"]
    assert [(s.pc, s.target) for s in parts[1].sites] == [(1, 3), (3, 5)]


def test_proof_claims_quick():
    for fn, args, want in [(P.claim_rewrite, (4096,), "PROVED"),
                           (P.claim_patch, (4096, 32), "PROVED"),
                           (P.claim_patch, (4096, 32, None, "jumps"), "PROVED"),
                           (P.claim_patch, (4096, 32, "target_off_by_one"), "COUNTEREXAMPLE"),
                           (P.claim_remove, (4096, 32), "PROVED"),
                           (P.claim_remove, (4096, 32, "no_rewrite"), "COUNTEREXAMPLE"),
                           (P.claim_split, (4096,), "PROVED")]:
        assert fn(*args)[0] == want, (fn.__name__, args)


def test_proof_catches_a_wrong_jump_rule(monkeypatch):
    right = P.adj_off

    def wrong(curr, off, pos, end_old, end_new):  # > instead of >= at end_old
        return right(curr, off, pos, end_old + 1, end_new + 1)
    monkeypatch.setattr(P, "adj_off", wrong)
    assert P.claim_patch(4096, 32, None, "jumps")[0] == "COUNTEREXAMPLE"


@pytest.mark.parametrize("script,n", [("pipeline", 30), ("design_alternatives", 13)])
def test_proof_scripts_quick(script, n):
    p = subprocess.run([sys.executable, "-m", f"proofs.{script}", "--quick"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("SKV-PROOF-SUMMARY ")
    d = json.loads(last[len("SKV-PROOF-SUMMARY "):])
    assert d["ok"] and len(d["claims"]) == n and all(c["ok"] for c in d["claims"])
    if script == "design_alternatives":
        assert "unsafe_m1.o:per_site" in p.stdout and "frozen read-only map" in p.stdout


def test_info_pipeline(capsys):
    rc = main(["info", "--pipeline", str(ROOT / "bpfprogs" / "st_subprog.o")])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "static key" in out                      # what info printed before
    for head in ("(0) branch info", "(1) rewrite normal sites", "(2) bpf_patch_insn_data()",
                 "(3) dead code", "(4) jit_subprogs()", "(5) x86 JIT placement"):
        assert head in out
    stage1 = out.split("(1) rewrite")[1].split("(2)")[0]
    assert "goto pc+6" in stage1                     # site 1: JA +0 -> JA +6
    assert "x86 addr" in out and "sub" in out.split("(4)")[1]


def test_info_without_pipeline_unchanged(capsys):
    main(["info", str(ROOT / "bpfprogs" / "talk_likely.o")])
    assert "(0) branch info" not in capsys.readouterr()[0]


def test_relative_call_copied_into_a_patch_is_not_adjusted():
    # bpf_adj_branches skips the patch: a `call pc+N` copied unchanged into a longer patch
    # now lands N slots after the patch start, not on the callee (the builder's job)
    from model.interp.machine import Machine
    from model.keystate import Uniform

    obj = load_object(str(ROOT / "bpfprogs" / "subprog_twice.o"))
    prog = obj.program("subprog_twice")
    pc, call = next((pc, i) for pc, i in prog.iter_pcs() if isinstance(i, Call) and i.src == 1)
    bad = apply_patches(rewrite_sites(prog), [(pc, [call, Jump("ja", False)])])
    good = apply_patches(rewrite_sites(prog), [(pc, [call])])  # k = 1: nothing moves
    ks = Uniform({k: False for k in prog.keys()})
    want = Machine(prog, obj.maps, keys=ks).run(None, bytes(64))
    assert Machine(good, obj.maps, keys=ks).run(None, bytes(64)).r0 == want.r0
    got = Machine(bad, obj.maps, keys=ks).run(None, bytes(64))
    assert (got.status, got.r0) != (want.status, want.r0)


def test_pipeline_of_a_program_the_kernel_refuses(tmp_path, capsys):
    """A jump out of range stops the pipeline at stage 0 with the kernel's reason (the JIT
    model never sees it)."""
    from model.cli import main
    from model.elf.writer import ProgSpec, build_object
    from model.isa import Alu, Exit, Jump

    path = tmp_path / "oor.o"
    path.write_bytes(build_object([ProgSpec("socket", "oor", [
        Alu("mov", True, 0, imm=0), Jump("ja", False, off=5), Exit()], [], {})], []))
    assert main(["info", "--pipeline", str(path)]) == 0
    out = capsys.readouterr().out
    assert "the verifier rejects it here: jump out of range from insn 1 to 7" in out
    assert "(1) rewrite" not in out
