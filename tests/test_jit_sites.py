"""``proofs/jit_sites.py --quick``: suspected problems (a)-(d) of the 2023 static-key patches
against the JIT model, each claim with its expected result, every counterexample confirmed
(on unicorn, or by the image for (c)), and the Z3 encodings checked against the JIT model
(a deliberately wrong model must make the claim FAILED, not PROVED)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from proofs import jit_sites as J
from proofs.runner import parse_summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXPECTED = {
    "(a) poke sizing, patch2023": "COUNTEREXAMPLE",
    "(a) poke sizing, fixed": "PROVED",
    "(b) padding, patch2023": "COUNTEREXAMPLE",
    "(b) padding, fixed": "PROVED",
    "(c) 2/5 bytes in both states, patch2023": "COUNTEREXAMPLE",
    "(c) 2/5 bytes in both states, fixed": "PROVED",
    "(d) concurrent toggles, no lock": "COUNTEREXAMPLE",
    "(d) concurrent toggles, per-key lock": "PROVED",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("jit_sites_cex")
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "proofs.jit_sites", "--quick", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    return p, time.monotonic() - t0, str(out)


def test_quick_run_succeeds(run):
    p, _, _ = run
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.strip().splitlines()[-1].startswith("SKV-PROOF-SUMMARY ")


def test_every_claim_as_expected_and_confirmed(run):
    p, _, _ = run
    s = parse_summary(p.stdout)
    assert s and s["script"] == "jit_sites" and s["ok"] is True
    got = {c["claim"]: c for c in s["claims"]}
    assert set(got) == set(EXPECTED)
    for name, want in EXPECTED.items():
        c = got[name]
        assert c["result"] == want, (name, c["detail"])
        assert c["expected"] == want and c["ok"] is True, (name, c["detail"])
        assert isinstance(c["seconds"], float)
        if want == "COUNTEREXAMPLE":
            assert c["confirmed"] is True, (name, c["detail"])


def test_counterexample_details(run):
    p, _, out = run
    got = {c["claim"]: c for c in parse_summary(p.stdout)["claims"]}
    # (a): exactly the displacements 124..127
    assert got["(a) poke sizing, patch2023"]["witness"]["displacements"] == [124, 125, 126, 127]
    # (b): the jump starts after NOPs: a rel8 displacement after a 5-byte pass
    w = got["(b) padding, patch2023"]["witness"]
    assert w["prev"] == 5 and -128 <= w["displacement"] <= 123
    assert "bad set = exactly" in got["(b) padding, patch2023"]["detail"]
    # (c): a 0-byte site in talk_unlikely.o
    assert "talk_unlikely.o" in got["(c) 2/5 bytes in both states, patch2023"]["detail"]
    # (d): a replayable key schedule
    path = os.path.join(out, "key_two-togglers-unlocked.json")
    with open(path) as f:
        assert json.load(f)["format"] == "skv-key-schedule/1"
    from model.x86.executor import replay_key
    from model.x86.race import KeySchedule
    with open(path) as f:
        assert replay_key(KeySchedule.from_json(json.load(f))).confirmed


def test_patch2023_poke_damage_concrete():
    # displacement 124: the JIT emits e9 7c 00 00 00; the record is 2 bytes
    r = J.jit(J.site_prog(J.pad_for(124)), design="patch2023", keys={"k": True})
    (s,) = r.sites
    assert r.image[s.address:s.address + 5].hex() == "e97c000000" and s.length == 2
    base, got_off, got_on, off_img, _ = J.roundtrip(r, s)
    assert base == ("ret", 0)
    assert off_img[s.address:s.address + 5].hex() == "6690000000" and got_off[0] == "fault"
    assert got_on == ("ret", 1)   # lands 3 bytes short of the target
    # the fixed design at the same displacement: correct both ways
    f = J.jit(J.site_prog(J.pad_for(124)), design="fixed", keys={"k": True})
    b2, off2, on2, _, _ = J.roundtrip(f, f.sites[0])
    assert b2 == on2 == ("ret", 0) and off2 == ("ret", 31)


def test_encoding_check_catches_a_wrong_model(monkeypatch):
    """If the fixed JIT sized sites with is_imm8 the Z3 size terms no longer match the
    model: the claim must be FAILED, not PROVED."""
    from model.x86 import emit

    monkeypatch.setattr(sys.modules["model.x86.jit"], "is_imm8_jmp_offset", emit.is_imm8)
    c = J.claim_a("fixed", True)
    assert c["result"] == "FAILED" and not c["ok"]
