"""skv check: the table, the JSON document scripts rely on, exit codes, logs."""

from __future__ import annotations

import json

from conftest import BPFPROGS
from model.cli import main

SAFE = str(BPFPROGS / "talk_unlikely.o")
UNSAFE = str(BPFPROGS / "unsafe_on_uninit.o")


def test_accepted_object_exits_0(capsys):
    assert main(["check", SAFE]) == 0
    out = capsys.readouterr().out
    assert "worker" in out and "accepted" in out


def test_rejected_object_exits_1_with_reason(capsys):
    assert main(["check", SAFE, UNSAFE]) == 1
    out = capsys.readouterr().out
    assert "rejected" in out and "insn 3: R6 !read_ok" in out


def test_json_document(capsys):
    assert main(["check", "--json", SAFE, UNSAFE]) == 1
    doc = json.loads(capsys.readouterr().out)
    rows = {r["object"]: r for r in doc["programs"]}
    ok, bad = rows[SAFE], rows[UNSAFE]
    assert ok["verdict"] == "accepted" and ok["error"] is None and ok["program"] == "worker"
    assert bad["verdict"] == "rejected"
    assert bad["error"] == {"insn": 3, "message": "R6 !read_ok"}
    for r in (ok, bad):
        assert set(r["stats"]) >= {"insns_processed", "states", "peak_states", "time_s", "cpu_s"}
        assert r["stats"]["insns_processed"] > 0


def test_bad_input_is_error_verdict_and_exit_2(capsys, tmp_path):
    bad = tmp_path / "x.o"
    bad.write_text("nope")
    assert main(["check", "--json", str(bad)]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    (row,) = doc["programs"]
    assert row["verdict"] == "error" and "not an ELF file" in row["error"]["message"]
    assert captured.err.startswith("skv: error: ")


def test_log_shows_the_failing_path(capsys):
    assert main(["check", "--log", str(BPFPROGS / "unsafe_off.o")]) == 1
    out = capsys.readouterr().out
    assert "map_value_or_null" in out
    assert "call bpf_map_lookup_elem#1" in out and "processed" in out


def test_budget_option(capsys):
    assert main(["check", "--budget", "3", "--json", str(BPFPROGS / "loop_site.o")]) == 1
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert "too large" in row["error"]["message"]


def test_key_used_as_ordinary_map_is_rejected_by_the_verifier(compile_bpf, capsys):
    """Reading is not judging: `skv info`, `disasm` and `cfg` show such an object; `skv
    check` loads it and the verifier rejects the program at the instruction, as the 2023
    kernel does (`skv run` refuses it: a load error)."""
    path = compile_bpf(r"""
STATIC_KEY(debug_key);
SEC("xdp") int prog(void *ctx) {
    __u32 k = 0;
    __u32 *v = bpf_map_lookup_elem(&debug_key, &k);
    return v ? *v : 0;
}
""", "keymap_check")
    for cmd in (["info"], ["disasm"], ["cfg", "--format", "dot"]):
        assert main(cmd + [path]) == 0, cmd
    assert "debug_key" in capsys.readouterr().out
    assert main(["run", path, "--keys", "debug_key=1"]) == 2
    assert "as an ordinary map" in capsys.readouterr().err
    assert main(["check", "--json", "--no-symbolic", path]) == 1
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert row["verdict"] == "rejected"
    assert "cannot access static keys" in row["error"]["message"]


def test_one_program_failing_keeps_the_others_rows(monkeypatch, capsys):
    """An internal error while checking one program is that program's "error" row (exit 3),
    never the loss of the other programs' rows."""
    import json

    import model.verifier.checker as checker
    from conftest import BPFPROGS
    from model.cli import main

    real = checker.check_program

    def flaky(obj, prog, **kw):
        if prog.name == "prog_b":
            raise RuntimeError("boom")
        return real(obj, prog, **kw)

    monkeypatch.setattr(checker, "check_program", flaky)
    rc = main(["check", "--json", "--no-symbolic", str(BPFPROGS / "st_three_progs.o")])
    captured = capsys.readouterr()
    rows = {r["program"]: r for r in json.loads(captured.out)["programs"]}
    assert rc == 3 and len(rows) == 3
    assert rows["prog_b"]["verdict"] == "error"
    assert rows["prog_b"]["error"]["message"] == "internal error: RuntimeError: boom"
    assert all(r["verdict"] == "accepted" for n, r in rows.items() if n != "prog_b")
    assert captured.err.strip() == "skv: internal error: RuntimeError: boom"
