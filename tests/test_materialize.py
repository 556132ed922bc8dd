"""Materialisation (model.materialize), the writer's round trip and ``skv materialize``.

No kernel needed: structure is checked with ``model.cfg.check_structure``; the real kernel's
verdicts are in tests/test_kernel_objects.py.
"""

from __future__ import annotations

import bisect
import glob
import os

import pytest

from model.cfg import check_structure
from model.cli import main
from model.elf.loader import load_image, load_object
from model.elf.reader import parse_elf
from model.elf.writer import ProgSpec, build_object
from model.errors import SkvError
from model.isa import Call, Exit, Jump, LoadImm64, MayGoto, assemble
from model.isa.insn import Alu
from model.materialize import (both_edges, key_assignments, materialize, parse_assignment,
                               removed_pcs, site_assignments)
from model.program import PSEUDO_FUNC, MapDef, MapRef, Program, Site

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBJECTS = sorted(glob.glob(os.path.join(ROOT, "bpfprogs", "*.o")))


def make(text_or_insns, sites=(), subprogs=None, map_refs=None, name="t") -> Program:
    """A program from assembly (or instructions); sites: (pc, target, key, inverse)."""
    insns = assemble(text_or_insns) if isinstance(text_or_insns, str) else list(text_or_insns)
    subprogs = dict(subprogs or {})
    p = Program(name, "socket", insns, subprogs=subprogs,
                map_refs={pc: MapRef(pc, m) for pc, m in (map_refs or {}).items()},
                sites=[Site(n, name, pc, t, k, inv, "2023") for n, (pc, t, k, inv)
                       in enumerate(sites)],
                func_starts={name: 0, **{n: pc for pc, n in subprogs.items()}})
    return p


def branch_target(pc, insn):
    if isinstance(insn, (Jump, MayGoto)):
        return insn.target(pc)
    if (isinstance(insn, Call) and insn.src == 1) or \
            (isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC):
        return pc + 1 + insn.imm
    return None


def check_against_original(prog: Program, out: Program, **assignment) -> None:
    """The result's contract, checked independently of the implementation."""
    assert out.sites == []
    check_structure(out)
    assert out.n_slots <= prog.n_slots
    removed = set(removed_pcs(prog, **assignment))
    old = [(pc, i) for pc, i in prog.iter_pcs() if pc not in removed]
    new = list(out.iter_pcs())
    assert len(old) == len(new)
    kept = [pc for pc, _ in old]
    pos = {o: n for (o, _), (n, _) in zip(old, new)}

    def next_kept(t):
        k = bisect.bisect_left(kept, t)
        return pos[kept[k]] if k < len(kept) else out.n_slots

    for (opc, oi), (npc, ni) in zip(old, new):
        site = prog.site_at(opc)
        if site is not None:  # only jumping sites are kept: now a plain goto
            assert isinstance(ni, Jump) and ni.cond == "ja" and ni.static == 0
            assert ni.target(npc) == next_kept(site.target)
            continue
        t = branch_target(opc, oi)
        if t is None:
            assert ni.encode() == oi.encode(), (opc, oi, ni)
        else:
            assert type(ni) is type(oi)
            assert branch_target(npc, ni) == next_kept(t), (opc, oi, npc, ni)
    for pc, ref in prog.map_refs.items():
        if pc in pos:
            assert out.map_refs[pos[pc]] == MapRef(pos[pc], ref.map, ref.value_offset)
    assert len(out.map_refs) == sum(1 for pc in prog.map_refs if pc in pos)
    for name, pc in out.func_starts.items():
        assert prog.func_starts[name] <= max(kept)
        assert pc == next_kept(prog.func_starts[name])


# --- inline programs -------------------------------------------------------------------
REGION = """
    r0 = 0x0
    if r1 == 0x0 goto out
    goto +0x0
    r0 = 0x1
    goto +0x1
    r0 = 0x2
    r0 += 0x3
out:
    exit
"""


def test_offsets_fixed_across_removed_region():
    prog = make(REGION, sites=[(2, 5, "k", False)])
    on = materialize(prog, keys={"k": True})
    check_against_original(prog, on, keys={"k": True})
    assert removed_pcs(prog, keys={"k": True}) == [3, 4]
    assert on.insns[1].target(1) == 5 and isinstance(on.insns[5], Exit)  # was +5, now +3
    assert on.insns[1].off == 3
    assert on.insns[2] == Jump("ja", False, off=0)  # the site: goto its target (now pc 3)
    assert on.insns[3] == prog.insns[5]
    off = materialize(prog, keys={"k": False})
    check_against_original(prog, off, keys={"k": False})
    assert removed_pcs(prog, keys={"k": False}) == [2, 5]
    assert [i.encode() for i in off.insns] == [i.encode() for i in assemble(
        "r0 = 0x0\nif r1 == 0x0 goto +0x3\nr0 = 0x1\ngoto +0x0\nr0 += 0x3\nexit")]


def test_jump_to_removed_site_goes_to_next_kept_and_backward_jumps():
    text = """
        r0 = 0x0
    top:
        if r0 > 0x3 goto s
        r0 += 0x1
        goto top
    s:
        goto +0x0
        r0 = 0x7
        exit
    """
    prog = make(text, sites=[(4, 6, "k", False)])
    out = materialize(prog, keys={"k": False})
    check_against_original(prog, out, keys={"k": False})
    assert out.insns[1].target(1) == 4 and out.insns[4] == prog.insns[5]
    assert out.insns[3].target(3) == 1  # the backward jump is unchanged
    inv = make(text, sites=[(4, 6, "k", True)])
    check_against_original(inv, materialize(inv, keys={"k": True}), keys={"k": True})


def test_gotol_and_may_goto_fixed():
    insns = [Alu("mov", True, 0, imm=0), MayGoto(off=4), Jump("ja", False),
             Alu("add", True, 0, imm=1), Alu("add", True, 0, imm=2),
             Jump("ja", True, imm=1), Alu("add", True, 0, imm=3), Exit()]
    # site at 2 (target 5): on skips 3-4; may_goto at 1 jumps to 6; gotol at 5 to 7
    prog = make(insns, sites=[(2, 5, "k", False)])
    out = materialize(prog, keys={"k": True})
    check_against_original(prog, out, keys={"k": True})
    assert isinstance(out.insns[1], MayGoto) and out.insns[1].target(1) == 4
    assert out.insns[3] == Jump("ja", True, imm=1)


SUBPROGS = """
    goto +0x0
    call fa
    goto +0x1
    call fb
    call fc
    exit
fa:
    r0 = 0x1
    exit
fb:
    r0 = 0x2
    exit
fc:
    r0 = 0x3
    call fd
    exit
fd:
    r0 = 0x4
    exit
"""
SUB_STARTS = {6: "fa", 8: "fb", 10: "fc", 13: "fd"}


def callee_name(prog: Program, pc: int) -> str:
    starts = {v: k for k, v in prog.func_starts.items()}
    return starts[pc + 1 + prog.by_pc()[pc].imm]


@pytest.mark.parametrize("on", [False, True])
def test_subprogram_of_removed_block_disappears(on):
    prog = make(SUBPROGS, sites=[(0, 3, "k", False)], subprogs=SUB_STARTS)
    check_structure(prog)
    out = materialize(prog, keys={"k": on})
    check_against_original(prog, out, keys={"k": on})
    calls = [pc for pc, i in out.iter_pcs() if isinstance(i, Call) and i.src == 1]
    names = [callee_name(out, pc) for pc in calls]
    gone = "fa" if on else "fb"
    assert gone not in out.func_starts and gone not in out.subprogs.values()
    assert names == (["fb", "fc", "fd"] if on else ["fa", "fc", "fd"])
    assert set(out.subprogs.values()) == {"fa", "fb", "fc", "fd"} - {gone}
    assert out.n_slots == prog.n_slots - 4  # on: pcs 1-2 and fa; off: pcs 0, 3 and fb


def test_callback_ld_imm64_fixed_and_dropped():
    # 0: site (on skips 1); 1: ld_imm64 of cb1 (pc 7); 3: ld_imm64 of cb2 (pc 9)
    insns = [Jump("ja", False), LoadImm64(2, PSEUDO_FUNC, 5, 0), LoadImm64(3, PSEUDO_FUNC, 5, 0)]
    insns += assemble("r0 = 0x0\nexit\nr0 = 0x1\nexit\nr0 = 0x2\nexit")
    prog = make(insns, sites=[(0, 3, "k", False)], subprogs={7: "cb1", 9: "cb2"})
    check_structure(prog)
    out = materialize(prog, keys={"k": True})
    check_against_original(prog, out, keys={"k": True})
    assert out.func_starts == {"t": 0, "cb2": 5} and out.subprogs == {5: "cb2"}
    assert out.insns[1] == LoadImm64(3, PSEUDO_FUNC, 3, 0)
    both = materialize(prog, keys={"k": False})
    assert both.func_starts == {"t": 0, "cb1": 6, "cb2": 8}
    assert both.insns[0] == LoadImm64(2, PSEUDO_FUNC, 5, 0)


def test_long_goto_becomes_gotol():
    n = 40000
    insns = [Jump("ja", False)] + [Alu("add", True, 0, imm=1)] * n + [Exit()]
    prog = make(insns, sites=[(0, n + 1, "k", False)])
    out = materialize(prog, keys={"k": True})
    assert out.insns[0] == Jump("ja", True, imm=0) and len(out.insns) == 2
    check_structure(out)
    short = materialize(prog, keys={"k": False})
    assert short.n_slots == n + 1


def test_m1_sites_override_keys_and_errors():
    prog = make(SUBPROGS, sites=[(0, 3, "k", False)], subprogs=SUB_STARTS)
    a = materialize(prog, keys={"k": True}, sites={0: False})
    assert a.insns == materialize(prog, keys={"k": False}).insns
    with pytest.raises(SkvError, match="site 0 at insn 0 .*key k"):
        materialize(prog, keys={})
    with pytest.raises(SkvError, match="no site uses key j"):
        materialize(prog, keys={"k": True, "j": False})
    with pytest.raises(SkvError, match="no site with id 5"):
        materialize(prog, sites={5: True})
    assert parse_assignment("k=1, j=off") == {"k": True, "j": False}
    assert parse_assignment("0=1,3=0", "sites") == {0: True, 3: False}
    for bad in ("k", "k=2", "k=1,k=0"):
        with pytest.raises(SkvError):
            parse_assignment(bad)


def test_both_edges_inline():
    prog = make(REGION, sites=[(2, 5, "k", False)])
    r10 = both_edges(prog)
    assert r10.sites == [] and r10.n_slots == prog.n_slots
    assert r10.insns[2] == Jump("jeq", False, dst=10, imm=0, off=2)
    assert r10.insns[:2] + r10.insns[3:] == prog.insns[:2] + prog.insns[3:]
    check_structure(r10)
    mg = both_edges(prog, "may_goto")
    assert mg.insns[2] == MayGoto(off=2) and mg.insns[2].opcode == 0xE5
    with pytest.raises(SkvError):
        both_edges(prog, "nope")


# --- bundled objects -------------------------------------------------------------------
def bundled():
    out = []
    for path in OBJECTS:
        obj = load_object(path)  # a bundled object our loader cannot read is a failure
        out += [(obj, p) for p in obj.programs]
    return out


@pytest.fixture(scope="module")
def programs():
    return bundled()


def test_there_are_bundled_programs(programs):
    assert OBJECTS and programs


def test_every_m0_assignment_of_every_bundled_program(programs):
    n = 0
    for obj, prog in programs:
        for a in key_assignments(prog):
            check_against_original(prog, materialize(prog, keys=a), keys=a)
            n += 1
    assert n >= len(programs) * 2


def test_every_m1_assignment_of_every_bundled_program(programs):
    for obj, prog in programs:
        for a in site_assignments(prog)[:64]:
            check_against_original(prog, materialize(prog, sites=a), sites=a)


@pytest.mark.parametrize("how", ["r10", "may_goto"])
def test_both_edges_of_every_bundled_program(programs, how):
    for obj, prog in programs:
        out = both_edges(prog, how)
        check_structure(out)
        assert out.sites == [] and out.n_slots == prog.n_slots and out.map_refs == prog.map_refs
        sites = {s.pc: s for s in prog.sites}
        for (pc, old), (_, new) in zip(prog.iter_pcs(), out.iter_pcs()):
            if pc in sites:
                want = Jump("jeq", False, dst=10, imm=0) if how == "r10" else MayGoto()
                assert new == want.with_delta(sites[pc].target - pc - 1)
            else:
                assert new == old


def roundtrip(prog: Program, maps: list[MapDef], license="GPL") -> Program:
    data = build_object([ProgSpec.from_program(prog)], maps, license)
    (back,) = load_image(parse_elf(data, "<roundtrip>")).programs
    return back


def same(a: Program, b: Program) -> None:
    assert [i.encode() for i in a.insns] == [i.encode() for i in b.insns]
    assert a.map_refs == b.map_refs and a.func_starts == b.func_starts
    assert a.subprogs == b.subprogs
    assert [(s.pc, s.target, s.key, s.inverse) for s in a.sites] == \
        [(s.pc, s.target, s.key, s.inverse) for s in b.sites]


def test_roundtrip_of_bundled_and_materialised_programs(programs):
    for obj, prog in programs:
        used = {r.map for r in prog.map_refs.values()} | set(prog.keys())
        maps = [m for n, m in obj.maps.items() if n in used]
        if all(s.design == "2023" for s in prog.sites):
            same(prog, roundtrip(prog, maps, obj.license))
        for a in key_assignments(prog):
            out = materialize(prog, keys=a)
            same(out, roundtrip(out, [m for m in maps if not m.is_static_key]))
        out = both_edges(prog)
        same(out, roundtrip(out, [m for m in maps if not m.is_static_key]))


def test_roundtrip_keeps_global_data_and_subprograms():
    text = "r1 = 0x0 ll\nr0 = *(u32 *)(r1 + 0x0)\ncall fa\nexit\nfa:\nr0 = 0x1\nexit"
    insns = assemble(text)
    insns[0] = LoadImm64(1, 2, 0, 4)  # into .rodata at offset 4
    prog = make(insns, subprogs={5: "fa"}, map_refs={0: ".rodata"})
    prog.map_refs[0] = MapRef(0, ".rodata", 4)
    rodata = MapDef(".rodata", 2, 4, 8, 1, origin="data", section=".rodata",
                    initial=b"\1\2\3\4\5\6\7\x08")
    data = build_object([ProgSpec.from_program(prog)], [rodata])
    obj = load_image(parse_elf(data, "<rt>"))
    same(prog, obj.programs[0])
    assert obj.maps[".rodata"].initial == rodata.initial


# --- the command -----------------------------------------------------------------------
def obj_path(name):
    path = os.path.join(ROOT, "bpfprogs", name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not bundled")
    return path


def test_cli_materialize_prints_and_writes(tmp_path, capsys):
    src = obj_path("st_subprog.o")
    out = tmp_path / "m.o"
    assert main(["materialize", src, "--keys", "key1=1,key2=0", "-o", str(out), "--print"]) == 0
    text = capsys.readouterr().out
    assert "(85) call pc+" in text and "goto pc+" in text and f"wrote {out}" in text
    back = load_object(str(out)).programs[0]
    prog = load_object(src).programs[0]
    same(materialize(prog, keys={"key1": True, "key2": False}), back)
    assert main(["materialize", src, "--both-edges"]) == 0
    assert "if r10 == 0x0 goto pc+" in capsys.readouterr().out
    assert main(["materialize", src, "--both-edges", "may_goto"]) == 0
    assert "may_goto pc+" in capsys.readouterr().out


@pytest.mark.parametrize("args, msg", [
    (["--keys", "key1=1"], "no state for site"),
    (["--keys", "key1=1,key2=2"], "not NAME=0|1"),
    (["--sites", "9=1"], "no site with id 9"),
    ([], "give --keys"),
    (["--keys", "key1=1,key2=1", "--both-edges"], "cannot be combined"),
    (["--program", "nope", "--keys", "key1=1"], "no program named nope"),
])
def test_cli_materialize_errors(capsys, args, msg):
    assert main(["materialize", obj_path("st_subprog.o")] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("skv: error: ") and msg in err and err.count("\n") == 1
