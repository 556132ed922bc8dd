"""``skv run``: output, exit codes, the three key models, counterexample replay, bad input."""

from __future__ import annotations

import json

import pytest

from conftest import BPFPROGS
from model.cli import main
from model.interp.replay import Replay, load_replay, write_replay

XDP_IPV4 = "ffffffffffff02000000000108004500001400004000401100000a0000010a000002"


def skv(capsys, *argv: str) -> tuple[int, list[str], str]:
    rc = main(["run", *argv])
    cap = capsys.readouterr()
    return rc, cap.out.splitlines(), cap.err


def obj(name: str) -> str:
    return str(BPFPROGS / name)


def test_m0_clean_exit(capsys):
    rc, out, err = skv(capsys, obj("st_likely.o"), "--keys", "key=1", "--path")
    assert rc == 0 and err == ""
    assert out == ["program st_likely (socket_filter), M0 keys key=1",
                   "site #0 pc 1 key key execution 0: on, fell through to pc 2",
                   "path: 0-7", "r0 = 0x3 (3)", "status: exit after 7 instructions"]
    rc, out, _ = skv(capsys, obj("st_likely.o"), "--keys", "key=0", "--path")
    assert rc == 0 and "site #0 pc 1 key key execution 0: off, jumped to pc 8" in out
    assert "path: 0-1, 8-9, 2-7" in out and "r0 = 0x4 (4)" in out


def test_trace_and_program_choice(capsys):
    rc, out, _ = skv(capsys, obj("talk_unlikely.o"), "--keys", "debug_key=1")
    assert rc == 0 and 'trace: "__x64_sys_getpgid\\n"' in out
    rc, out, _ = skv(capsys, obj("talk_unlikely.o"), "--keys", "debug_key=0")
    assert rc == 0 and not any(line.startswith("trace:") for line in out)
    rc, out, _ = skv(capsys, obj("st_three_progs.o"), "-p", "prog_c", "--keys", "shared_key=0")
    assert rc == 0 and out[0].startswith("program prog_c") and "r0 = 0x6f (111)" in out


def test_packet(capsys):
    rc, out, _ = skv(capsys, obj("xdp_keys.o"), "--keys", "drop_ipv4=1,count_bytes=0",
                     "--packet", XDP_IPV4)
    assert rc == 0 and out[-2] == "r0 = 0x1 (1)"  # XDP_DROP
    rc, out, _ = skv(capsys, obj("xdp_keys.o"), "--keys", "drop_ipv4=1,count_bytes=0",
                     "--packet", "ffffffffffff0200000000")
    assert rc == 0 and out[-2] == "r0 = 0x0 (0)"  # short frame: XDP_ABORTED


def test_fault_exit_1(capsys):
    rc, out, _ = skv(capsys, obj("unsafe_on_oob.o"), "--keys", "oob_key=1")
    assert rc == 1
    assert "fault at insn 12: w6 = *(u32 *)(r0 + 0x40)" in out
    assert any(line.startswith("  reason: read of 4 bytes at 0x") for line in out)
    assert any(line.startswith("  address: 0x") for line in out)
    assert "  region: none (outside every region)" in out
    assert out[-1] == "status: fault after 10 instructions"
    rc, out, _ = skv(capsys, obj("unsafe_on_uninit.o"), "--keys", "uninit_key=1")
    assert rc == 1 and "  reason: R6 !read_ok (uninitialised)" in out
    assert "fault at insn 3: r0 = r6" in out


def test_budget_exit_1(capsys):
    rc, out, _ = skv(capsys, obj("loop_site.o"), "--keys", "loop_key=0", "--budget", "5")
    assert rc == 1 and out[-1] == "status: budget after 5 instructions"
    assert "budget exhausted: 5 instructions run (--budget 5)" in out


def test_m1_sites(capsys):
    rc, out, _ = skv(capsys, obj("unsafe_m1.o"), "--sites", "0=0,1=1")
    assert rc == 1 and out[0] == "program per_site (socket_filter), M1 sites #0=0,#1=1"
    assert "fault at insn 16: r1 = *(u64 *)(r0 + 0x0)" in out
    # a site not named takes its key's value
    rc, out, _ = skv(capsys, obj("unsafe_m1.o"), "--sites", "0=1", "--keys", "split_key=0")
    assert rc == 0 and out[0].endswith("M1 sites #0=1, keys split_key=0")
    assert "site #1 pc 13 key split_key execution 0: off, fell through to pc 14" in out


def test_m2_schedule(capsys):
    rc, out, _ = skv(capsys, obj("unsafe_m2.o"), "--schedule", "0=01")
    assert rc == 1 and "site #0 pc 6 key loop_key execution 1: on, jumped to pc 13" in out
    assert "fault at insn 22: r6 = *(u64 *)(r0 + 0x0)" in out
    rc, out, _ = skv(capsys, obj("unsafe_m2.o"), "--schedule", "0=1")  # last digit repeats
    assert rc == 0 and out[-2] == "r0 = 0x0 (0)"
    rc, out, _ = skv(capsys, obj("unsafe_m2.o"), "--schedule", "0=0", "--keys", "loop_key=1")
    assert rc == 1  # after the schedule the key's value (on) applies: the witness again


def test_replay(tmp_path, capsys):
    path = tmp_path / "cx.json"
    write_replay(str(path), Replay(obj("unsafe_m1.o"), "per_site", "M1",
                                   sites={"pc3": False, "pc13": True}))
    data = json.loads(path.read_text())
    assert data["model"] == "M1" and data["sites"] == {"pc3": 0, "pc13": 1}
    rc, out, _ = skv(capsys, "--replay", str(path), "--path")
    assert rc == 1 and "fault at insn 16: r1 = *(u64 *)(r0 + 0x0)" in out
    assert any(line.startswith("path: ") for line in out)
    # relative object path, M2 schedule as a list, initial map contents, packet
    (tmp_path / "objs").mkdir()
    (tmp_path / "objs" / "x.o").write_bytes((BPFPROGS / "xdp_keys.o").read_bytes())
    path.write_text(json.dumps({
        "object": "objs/x.o", "program": "xdp_filter", "model": "M2",
        "keys": {"drop_ipv4": 0}, "schedule": {"0": [1]}, "ctx": None, "packet": XDP_IPV4,
        "maps": {".bss": {"00000000": "0a00000000000000"}}}))
    r = load_replay(str(path))
    assert r.schedule == {"0": [True]} and r.packet == bytes.fromhex(XDP_IPV4)
    rc, out, _ = skv(capsys, "--replay", str(path))
    assert rc == 0 and out[0].endswith("M2 schedule #0=1, keys drop_ipv4=0")
    assert out[-2] == "r0 = 0x2 (2)"


@pytest.mark.parametrize("argv, msg", [
    (["st_likely.o", "--keys", "nokey=1"], "unknown key nokey (keys: key)"),
    (["st_likely.o"], "missing value for key key: give --keys key=0|1"),
    (["st_three_keys.o", "--keys", "key0=1"], "missing value for keys key1, key2"),
    (["st_likely.o", "--keys", "key=2"], "bad key setting 'key=2'"),
    (["st_likely.o", "--keys", "key=1", "--ctx", "zz"], "--ctx: bad hex 'zz'"),
    (["st_likely.o", "--keys", "key=1", "--packet", "abc"], "--packet: bad hex 'abc'"),
    (["st_likely.o", "--sites", "9=1"], "program st_likely has no site #9 (sites: 0)"),
    (["st_likely.o", "--sites", "x=1"], "bad site setting 'x=1'"),
    (["st_likely.o", "--sites", "0=10"], "--sites takes one state per site"),
    (["st_likely.o", "--schedule", "0=012"], "bad site setting '0=012'"),
    (["st_likely.o", "--sites", "0=1", "--schedule", "0=1"], "exclude each other"),
    (["st_likely.o", "--keys", "key=1", "-p", "nope"], "no program named nope"),
    (["st_three_progs.o", "--keys", "shared_key=1"], "choose one with --program"),
    (["st_likely.o", "--keys", "key=1", "--budget", "0"], "--budget must be at least 1"),
    (["missing.o"], "missing.o"),
    ([], "give an object file (or --replay FILE)"),
])
def test_bad_input_one_line_exit_2(capsys, argv, msg):
    argv = [obj(a) if a.endswith(".o") else a for a in argv]
    rc, out, err = skv(capsys, *argv)
    assert rc == 2 and out == []
    assert err.count("\n") == 1 and err.startswith("skv: error: ") and msg in err, err


@pytest.mark.parametrize("content, msg", [
    ("not json", "not JSON"),
    ("[]", "expected a counterexample object"),
    ('{"program": "p"}', "$: 'object' is a required property"),
    ('{"object": "st_likely.o", "program": "st_likely", "model": "M3"}',
     "$.model: 'M3' is not one of ['M0', 'M1', 'M2']"),
    ('{"object": "st_likely.o", "program": "st_likely", "model": "M1", "sites": [1]}',
     "$.sites: [1] is not of type 'object'"),
    ('{"object": "st_likely.o", "program": "st_likely", "seed": ' + "9" * 5000 + "}",
     "not acceptable JSON"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"object": "st_likely.o", "program": "st_likely", "model": "M1"}', 'M1 needs "sites"'),
    ('{"object": "st_likely.o", "program": "st_likely", "keys": {"key": 5}}',
     "$.keys.key: 5 is not one of"),
    ('{"object": "st_likely.o", "program": "st_likely", "model": "M1", "sites": {"pc9": 1}}',
     "has no site pc9"),
    ('{"object": "st_likely.o", "program": "st_likely", "keys": {"key": 1}, "ctx": "zz"}',
     "ctx: bad hex"),
    ('{"object": "st_likely.o", "program": "st_likely", "keys": {"key": 1}, '
     '"maps": {"nomap": {}}}', "no map named nomap"),
    ('{"object": "st_likely.o", "program": "st_likely", "keys": {"key": 1}, '
     '"maps": {".bss": {"00": "00"}}}', "must be 4/8 bytes"),
])
def test_bad_replay_exit_2(tmp_path, capsys, content, msg):
    path = tmp_path / "cx.json"
    path.write_text(content.replace("st_likely.o", obj("st_likely.o")))
    rc, out, err = skv(capsys, "--replay", str(path))
    assert rc == 2 and err.count("\n") == 1 and msg in err, err
    rc, _, err = skv(capsys, "--replay", str(path), obj("st_likely.o"))
    assert rc == 2 and "--replay takes the run from the file; drop OBJ" in err
