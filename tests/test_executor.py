"""The unicorn executor: shared page + per-CPU translation caches, INT3 handler emulation,
torn fetches executed from a scratch page (agreeing with the iced-x86 classification), the
``skv replay`` command and the ``skv prove`` summary convention."""

from __future__ import annotations

import itertools
import json

from model.cli import main as skv
from model.x86 import executor as X
from model.x86 import fetch as fx
from model.x86.race import search_fetch
from model.x86.sites import KINDS, Toggle, block_site, build_image
from proofs import runner
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_RSP


def _run_block(ex, cpu, site):
    uc, _ = ex.cpus[cpu]
    uc.reg_write(UC_X86_REG_RSP, X.STACK + 0x8000)
    uc.mem_write(X.STACK + 0x8000, X.STOP.to_bytes(8, "little"))
    uc.emu_start(X.CODE + site.addr - 5, X.STOP)
    return uc.reg_read(UC_X86_REG_EAX)


def test_translation_cache_is_stale_until_sync():
    site = block_site(0, 2, 3)
    ex = X.Executor(build_image([site], [False]), 2)
    assert _run_block(ex, 0, site) == 2 and _run_block(ex, 1, site) == 2
    ex.write(site.addr, site.bytes_for(True))          # host store into the shared page
    assert _run_block(ex, 0, site) == 2                 # both CPUs still run old code
    ex.cpus[0][0].ctl_remove_cache(X.CODE, X.CODE + ex.size)  # sync_core on CPU 0 only
    assert _run_block(ex, 0, site) == 3 and _run_block(ex, 1, site) == 2
    ex.sync()
    assert _run_block(ex, 1, site) == 3


def test_int3_handler_emulates_the_new_instruction():
    for kind, (size, on) in KINDS.items():
        tog = Toggle(block_site(0, size, 5), on)
        ex = X.Executor(build_image([tog.site], [not on]), 1)
        seen = bytes([0xCC]) + tog.old[1:]
        r = ex.run_fetch(0, tog, seen, True)
        assert r.outcome == "INT3" and r.eax == (3 if on else 2), kind
        assert ex.run_fetch(0, tog, seen, False).outcome == "INT3_STRAY"


def test_every_byte_mix_executes_as_decoded():
    """All 2^size mixes of old/new bytes (plus INT3 heads): executor == iced classification."""
    kinds = set()
    for kind, (size, on) in KINDS.items():
        for off in (0, 7, 62):
            tog = Toggle(block_site(0, size, off), on)
            ex = X.Executor(build_image([tog.site], [not on]), 1)
            for mask in itertools.product((0, 1), repeat=size):
                seen = bytes(tog.new[i] if b else tog.old[i] for i, b in enumerate(mask))
                want = fx.classify(tog, seen, True)
                got = ex.run_fetch(0, tog, seen, True)
                assert got.outcome == want, (kind, off, seen.hex(), got)
                kinds.add(want)
    assert {"TORN_INVALID", "TORN_LENGTH", "TORN_TARGET"} <= kinds


def test_replay_cli_exit_codes(tmp_path, capsys):
    r = search_fetch("memcpy-inorder", "nop5->jmp32", fx.FetchModel(1), "torn")
    good = tmp_path / "cex.json"
    good.write_text(json.dumps(r.schedule.to_json()))
    assert skv(["replay", str(good)]) == 0
    assert "CONFIRMED" in capsys.readouterr().out
    d = r.schedule.to_json()
    for f in d["fetches"]:                   # every fetch before the writer: all OLD
        f["t"] = f["u"] = [0] * len(f["t"])
    bad = tmp_path / "nope.json"
    bad.write_text(json.dumps(d))
    assert skv(["replay", str(bad)]) == 1
    assert "NOT REPRODUCED" in capsys.readouterr().out
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert skv(["replay", str(junk)]) == 2
    d["fetches"][0]["t"] = [99] * len(d["fetches"][0]["t"])
    bad.write_text(json.dumps(d))
    assert skv(["replay", str(bad)]) == 2
    assert skv(["replay", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("skv: error: ") for line in err) and len(err) == 3


def test_prove_runner_convention():
    assert {"poke_race", "domain_soundness"} <= set(runner.scripts())
    s = runner.parse_summary('x\nSKV-PROOF-SUMMARY {"script": "a", "ok": true, "claims": '
                             '[{"claim": "c", "result": "PROVED", "ok": true}]}\n')
    assert s["claims"][0]["result"] == "PROVED"
    assert runner.parse_summary("no summary") is None
