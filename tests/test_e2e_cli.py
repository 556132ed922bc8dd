"""``skv check --x86`` and ``skv e2e --save`` / ``--replay`` (issue 7): counterexamples
confirmed on the JIT'd x86 code, saved and replayed with the same CPU 1 schedule."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("unicorn", reason="the unicorn emulator is not installed")
pytest.importorskip("iced_x86", reason="iced-x86 is not installed")

from conftest import BPFPROGS  # noqa: E402
from model.cli import main  # noqa: E402

M1 = str(BPFPROGS / "unsafe_m1.o")
M2 = str(BPFPROGS / "unsafe_m2.o")
OFF = str(BPFPROGS / "unsafe_off.o")
SAFE = str(BPFPROGS / "talk_unlikely.o")


def _check_json(capsys, *argv) -> dict:
    rc = main(["check", "--json", *argv])
    doc = json.loads(capsys.readouterr().out)
    return rc, {r["object"]: r for r in doc["programs"]}


def test_check_x86_adds_the_confirmation_to_every_counterexample(capsys):
    rc, rows = _check_json(capsys, "--x86", M1, M2, OFF, SAFE)
    assert rc == 1                                   # exit status unchanged: some rejected
    for path, model, pc in ((M1, "M1", 16), (M2, "M2", 22), (OFF, "M0", 9)):
        x = rows[path]["counterexample"]["x86"]
        assert x["confirmed"] is True, (path, x)
        assert x["model"] == model and x["bpf_insn"] == pc
        assert isinstance(x["x86_address"], int) and x["x86_insn"]
        assert x["kind"] in ("fault", "poison")
    assert rows[SAFE]["counterexample"] is None


def test_check_without_x86_keeps_the_old_document(capsys):
    _, rows = _check_json(capsys, M1)
    assert "x86" not in rows[M1]["counterexample"]
    assert rows[M1]["counterexample"]["model"] == "M1"


def test_check_x86_text_output(capsys):
    assert main(["check", "--x86", M1, SAFE]) == 1
    out = capsys.readouterr().out
    assert "x86 (M1): CONFIRMED: BPF insn 16 -> x86 0x" in out


@pytest.mark.parametrize("path,via_int3", [(M1, False), (M2, False), (M2, True)],
                         ids=["m1", "m2", "m2-via-int3"])
def test_save_and_replay(capsys, tmp_path, path, via_int3):
    f = tmp_path / "e2e.json"
    argv = ["e2e", path, "--save", str(f)] + (["--via-int3"] if via_int3 else [])
    assert main(argv) == 0
    capsys.readouterr()
    d = json.loads(f.read_text())
    assert d["format"] == "skv-e2e/1" and d["via_int3"] == via_int3
    assert d["model"] in ("M1", "M2") and d["counterexample"]["pc"] == d["expect"]["bpf_insn"]
    assert d["schedule"]["pokes"] and all(len(p["steps"]) == len(p["events"])
                                          for p in d["schedule"]["pokes"])
    assert main(["e2e", "--replay", str(f)]) == 0
    out = capsys.readouterr().out
    assert f"BPF insn {d['expect']['bpf_insn']}: CONFIRMED" in out
    assert f"x86 {d['expect']['x86_address']:#x}: {d['expect']['x86_insn']}" in out
    assert main(["e2e", "--replay", str(f), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["confirmed"] and r["x86_address"] == d["expect"]["x86_address"]
    if via_int3:
        assert any(x["via"] == "int3" for x in r["fetches"])


def test_replay_of_a_schedule_that_comes_too_late_is_not_confirmed(capsys, tmp_path):
    f = tmp_path / "e2e.json"
    assert main(["e2e", M2, "--save", str(f)]) == 0
    d = json.loads(f.read_text())
    for p in d["schedule"]["pokes"]:
        p["steps"] = [10_000] * len(p["steps"])       # CPU 1 pokes after CPU 0 is done
    f.write_text(json.dumps(d))
    capsys.readouterr()
    assert main(["e2e", "--replay", str(f)]) == 1
    assert "NOT confirmed" in capsys.readouterr().out


def _bad(capsys, tmp_path, text: str) -> str:
    f = tmp_path / "bad.json"
    f.write_text(text)
    assert main(["e2e", "--replay", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skv: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_replay_bad_input_is_one_line_exit_2(capsys, tmp_path):
    assert "not JSON" in _bad(capsys, tmp_path, "{nope")
    assert "not an end-to-end counterexample" in _bad(capsys, tmp_path, '{"format": "x"}')
    assert "'object' is a required property" in _bad(capsys, tmp_path, '{"format": "skv-e2e/1"}')
    f = tmp_path / "good.json"
    assert main(["e2e", M1, "--save", str(f)]) == 0
    # junk values and wrong types are refused before use, with the JSON path
    for path, value, msg in [(("model",), "M9", "$.model: 'M9' is not one of"),
                             (("counterexample", "model"), "M9", "$.counterexample.model"),
                             (("schedule", "pokes"), {"a": 1}, "$.schedule.pokes"),
                             (("schedule", "pokes", 0, "steps"), [-1], "$.schedule.pokes[0]"),
                             (("counterexample", "pc"), 2 ** 40, "$.counterexample.pc")]:
        d = json.loads(f.read_text())
        node = d
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        assert msg in _bad(capsys, tmp_path, json.dumps(d))
    d = json.loads(f.read_text())
    d["schedule"]["pokes"][0]["site"] = "pc999"
    assert "no static site pc999" in _bad(capsys, tmp_path, json.dumps(d))
    d = json.loads(f.read_text())
    d["object_sha256"] = "0" * 64
    assert "changed since" in _bad(capsys, tmp_path, json.dumps(d))
    d = json.loads(f.read_text())
    d["object"] = str(tmp_path / "gone.o")
    assert "not found" in _bad(capsys, tmp_path, json.dumps(d))
    assert main(["e2e", "--replay", str(tmp_path / "missing.json")]) == 2
    assert main(["e2e"]) == 2
    capsys.readouterr()


def test_skv_replay_accepts_a_saved_end_to_end_counterexample(tmp_path, capsys):
    """`skv replay` recognises the skv-e2e/1 format and replays it on x86."""
    from conftest import BPFPROGS
    from model.cli import main

    saved = tmp_path / "e2e.json"
    assert main(["e2e", str(BPFPROGS / "unsafe_m2.o"), "--save", str(saved)]) in (0, 1)
    capsys.readouterr()
    assert main(["replay", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "CONFIRMED" in out and "BPF insn 22" in out
