"""The symbolic engine (model.symbolic): manifest verdicts under M0/M1/M2, exact M0 (and
M1) unsafe sets as sets of assignments, replayed counterexamples, the skv check fields."""

from __future__ import annotations

import itertools
import json
from functools import lru_cache

import pytest

from conftest import BPFPROGS
from manifest import program_id, programs, unsafe
from model.cli import main
from model.elf.loader import load_object
from model.symbolic import analyse_program
from model.verifier.checker import check_program

PROGS = programs()


@lru_cache(maxsize=None)
def _analysis(obj_name: str, prog_name: str):
    obj = load_object(str(BPFPROGS / obj_name))
    prog = obj.program(prog_name)
    return obj, prog, analyse_program(obj, prog, verifier=check_program(obj, prog))


def _assignments(names):
    for bits in itertools.product((0, 1), repeat=len(names)):
        yield dict(zip(names, bits))


@pytest.mark.parametrize("p", PROGS, ids=program_id)
def test_verdicts_match_manifest(p):
    _, _, doc = _analysis(p["object"], p["program"])
    assert doc["complete"] and not doc["exhausted"]
    for m in ("M0", "M1", "M2"):
        assert doc["models"][m]["safe"] == p["expect"][m]["safe"], m


@pytest.mark.parametrize("p", PROGS, ids=program_id)
def test_unsafe_sets_equal_manifest_cubes(p):
    _, prog, doc = _analysis(p["object"], p["program"])
    ours0, want0 = doc["models"]["M0"]["unsafe_when"], p["expect"]["M0"]["unsafe_when"]
    for a in _assignments(prog.keys()):
        assert unsafe(ours0, a) == unsafe(want0, a), a
    ours1, want1 = doc["models"]["M1"]["unsafe_when"], p["expect"]["M1"]["unsafe_when"]
    for a in _assignments([f"pc{s.pc}" for s in prog.sites]):
        assert unsafe(ours1, a) == unsafe(want1, a), a


@pytest.mark.parametrize("p", PROGS, ids=program_id)
def test_cross_check_and_replay(p):
    _, _, doc = _analysis(p["object"], p["program"])
    assert doc["cross_check"] != "SOUNDNESS BUG"
    cx = doc["counterexample"]
    if p["expect"]["M2"]["safe"]:
        assert cx is None and doc["cross_check"] == "agree: safe"
    else:
        assert cx["confirmed"], cx
        assert cx["status"] == "fault" and cx["fault"].startswith(f"insn {cx['pc']}:")
        assert doc["cross_check"] == "agree: confirmed"


def test_m1_and_m2_witnesses():
    _, _, d1 = _analysis("unsafe_m1.o", "per_site")
    w = d1["models"]["M1"]["beyond_M0"]
    assert w["deviating_sites"] == 1 and w["sites"] == {"pc3": 0, "pc13": 1} and w["confirmed"]
    _, _, d2 = _analysis("unsafe_m2.o", "per_exec")
    w = d2["models"]["M2"]["beyond_M1"]
    want = [next(iter(x.values())) for x in PROGS_BY["unsafe_m2.o"]["expect"]["M2"]["witness"]]
    assert w["schedule"] == {"pc6": want} and w["deviating_executions"] == 1 and w["confirmed"]
    assert "beyond_M1" not in d1["models"]["M2"]  # per_site: M2 adds nothing beyond M1


PROGS_BY = {p["object"]: p for p in PROGS}


def test_check_json_models_and_cex_file(capsys, tmp_path):
    cex = tmp_path / "cx.json"
    path = str(BPFPROGS / "unsafe_off.o")
    assert main(["check", "--json", "--cex", str(cex), path]) == 1
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert row["verdict"] == "rejected"
    assert row["models"]["M0"] == {"safe": False, "unsafe_when": [{"check_key": 0}],
                                   "rules_safe": False}
    assert row["models"]["M1"]["safe"] is False and row["models"]["M2"]["safe"] is False
    assert row["counterexample"]["confirmed"]
    assert main(["run", "--replay", str(cex)]) == 1
    out = capsys.readouterr().out
    assert "fault at insn 9" in out


def test_no_symbolic_flag(capsys):
    assert main(["check", "--json", "--no-symbolic", str(BPFPROGS / "talk_likely.o")]) == 0
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert "models" not in row and row["verdict"] == "accepted"


def test_soundness_bug_is_reported(capsys):
    from model.runner.checking import symbolic_part as _symbolic

    obj = load_object(str(BPFPROGS / "unsafe_on_uninit.o"))
    prog = obj.programs[0]

    class Fake:  # a verifier that (wrongly) accepts
        accepted = True

    row = _symbolic(obj, prog, Fake(), 60)
    assert row["symbolic"]["soundness_bug"] and row["symbolic"]["cross_check"] == "SOUNDNESS BUG"


def test_soundness_bug_rejects_and_exits_nonzero(monkeypatch, capsys):
    """A verifier that wrongly accepts cannot make skv check exit 0: the symbolic engine's
    unsafe execution rejects the program (the verifier's own verdict is kept)."""
    import model.verifier.checker as checker
    from model.cli import main

    real = checker.check_program

    def accepting(obj, prog, **kw):
        v = real(obj, prog, **kw)
        v.verdict, v.error = "accepted", None  # the wrong accept
        return v

    monkeypatch.setattr(checker, "check_program", accepting)
    assert main(["check", "--json", str(BPFPROGS / "unsafe_on_uninit.o")]) == 1
    captured = capsys.readouterr()
    row = json.loads(captured.out)["programs"][0]
    assert row["verifier_verdict"] == "accepted" and row["verdict"] == "rejected"
    assert row["error"]["message"].startswith("unsafe execution found by the symbolic engine")
    assert row["error"]["insn"] is not None
    assert "SOUNDNESS BUG" in captured.err


def test_unroll_bound_is_reported_not_proved():
    from model.symbolic import Budget

    obj = load_object(str(BPFPROGS / "loop_site.o"))
    doc = analyse_program(obj, obj.programs[0], budget=Budget(unroll=2))
    assert not doc["complete"] and any("BOUND REACHED" in e for e in doc["exhausted"])


def test_generated_program_cubes_are_exact():
    """bench/symbolic.py's generator, small: the cubes equal the abstract verifier's verdict
    on every materialised assignment."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.symbolic import generate
    from model.materialize import materialize

    obj, prog, _ = generate(seed=3, keys=4, sites=20)
    doc = analyse_program(obj, prog)
    assert doc["complete"]
    cubes = doc["models"]["M0"]["unsafe_when"]
    for a in _assignments(prog.keys()):
        v = check_program(obj, materialize(prog, keys={k: bool(x) for k, x in a.items()}))
        assert v.accepted != unsafe(cubes, a), a


def test_skv_prove_reads_these_scripts_summaries(capsys):
    """skv prove runs both_edges and key_models and reads their summary lines: every claim
    appears with its solver result, none flagged unexpected."""
    from model.cli import main

    rc = main(["prove", "--quick", "--only", "both_edges"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "UNEXPECTED" not in out
    assert "both-edges unsafe_m1.o:per_site" in out and "COUNTEREXAMPLE" in out
    assert "both-edges talk_unlikely.o:worker" in out and "PROVED" in out


def _gen_keys_program(keys: int):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.symbolic import generate

    obj, prog, _ = generate(keys=keys)
    return obj, prog


def test_cube_listing_limit_is_said():
    """A listing cut by its budget is incomplete and says so (in --json and the summary)."""
    from model.symbolic import Budget, summary

    obj, prog = _gen_keys_program(6)
    full = analyse_program(obj, prog)
    assert full["complete"] and len(full["models"]["M0"]["unsafe_when"]) > 2
    cut = analyse_program(obj, prog, budget=Budget(cubes=2))
    assert len(cut["models"]["M0"]["unsafe_when"]) == 2 and not cut["complete"]
    assert "M0 unsafe key assignments: listing stopped at 2" in cut["exhausted"]
    assert "listing stopped at 2" in summary(cut)


def test_time_budget_covers_the_listing():
    """The deadline is for the whole analysis: an expired one stops exploration and the
    listing, and is reported (never a silent 'safe')."""
    from model.symbolic import Budget

    obj, prog = _gen_keys_program(20)
    doc = analyse_program(obj, prog, budget=Budget(time_s=0.0))
    assert not doc["complete"]
    assert any(e.startswith("time budget") for e in doc["exhausted"])


def test_summary_shows_a_bounded_number_of_cubes():
    from model.symbolic.check import SUMMARY_CUBES, summary

    cubes = [{f"k{i}": 1} for i in range(100)]
    doc = {"models": {"M0": {"unsafe_when": cubes}, "M1": {"safe": False},
                      "M2": {"safe": False}}, "counterexample": None, "exhausted": []}
    line = summary(doc)
    assert line.count("=1") == SUMMARY_CUBES and f"{100 - SUMMARY_CUBES} more" in line


def test_safe_needs_the_kernel_rules_too():
    """Z3 finding no unsafe execution is not enough for "safe": when the verifier (the
    kernel's rules) rejects the both-edges program, M2 is unknown (None), and M0/M1 are
    safe only because the verifier accepts each materialised assignment."""

    class Rejecting:  # a verifier verdict that rejects the both-edges form
        accepted = False

    obj = load_object(str(BPFPROGS / "talk_likely.o"))
    prog = obj.programs[0]
    doc = analyse_program(obj, prog, verifier=Rejecting())
    assert doc["models"]["M2"]["safe"] is None and not doc["models"]["M2"]["rules_safe"]
    assert doc["models"]["M0"]["safe"] is True and doc["models"]["M1"]["safe"] is True
    from model.symbolic import summary

    assert "M2 unknown" in summary(doc)
