"""The CFG: blocks, static edges, loops, the kernel's structural checks, DOT/SVG output."""

from __future__ import annotations

import shutil

import networkx as nx
import pytest

import model.isa as isa
from model.cfg import build_cfg, check_structure, render, to_dot
from model.errors import CfgError, SkvError
from model.isa import Alu, Call, Exit, Jump, LoadImm64, MayGoto
from model.program import PSEUDO_FUNC, PSEUDO_MAP_FD, MapRef, Program, Site


# ---- tiny instruction builders (typed instructions from model.isa.insn) ---------------

def mov(dst, imm):
    return Alu("mov", True, dst, None, imm)


def add(dst, imm):
    return Alu("add", True, dst, None, imm)


def ja(off):
    return Jump("ja", False, off=off)


def jeq(dst, imm, off):
    return Jump("jeq", False, dst, None, imm, off)


def jlt(dst, imm, off):
    return Jump("jlt", False, dst, None, imm, off)


def call_helper(n):
    return Call(0, n)


def call_sub(rel):
    return Call(1, rel)


def ld64(dst, imm, src=0):
    return LoadImm64(dst, src, imm, 0)


def site(pc, target, key="debug_key", inverse=False, sid=0, prog="p"):
    return Site(id=sid, program=prog, pc=pc, target=target, key=key, inverse=inverse,
                design="2023")


def prog(insns, sites=(), name="p", **kw):
    return Program(name=name, section="xdp", insns=list(insns), sites=list(sites), **kw)


# The talk's program: 0: goto +0 (site -> 3); 1: r0 = 0; 2: exit; 3-4: r1 = map;
# 5: r2 = 18; 6: call 6; 7: goto -7
TALK = [ja(0), mov(0, 0), Exit(), ld64(1, 0, PSEUDO_MAP_FD), mov(2, 18), call_helper(6), ja(-7)]
TALK_ASM = """
    goto +0x0
    r0 = 0x0
    exit
    r1 = 0x0 ll
    r2 = 0x12
    call 0x6
    goto -0x7
"""


def talk(inverse=False, with_site=True):
    insns = list(TALK)
    if inverse:  # likely form: the site already jumps
        insns[0] = ja(2)
    return prog(insns, [site(0, 3, inverse=inverse)] if with_site else [],
                map_refs={3: MapRef(3, "debug_key")})


# ---- the talk's program ------------------------------------------------------------------

def test_talk_blocks():
    cfg = build_cfg(talk())
    assert isinstance(cfg.graph, nx.MultiDiGraph)
    assert [(b.start, b.pcs) for b in cfg.blocks()] == [(0, [0]), (1, [1, 2]), (3, [3, 5, 6, 7])]
    assert {b.func for b in cfg.blocks()} == {"p"}
    assert cfg.block_of(4).start == 3 and cfg.block_of(6).start == 3 and cfg.block_of(2).start == 1
    kinds = sorted((u, v, d["kind"]) for u, v, d in cfg.graph.edges(data=True))
    assert kinds == [(0, 1, "static"), (0, 3, "static"), (3, 1, "jump")]


def test_talk_static_edges_normal_and_inverse():
    (u1, v1, f), (u2, v2, j) = build_cfg(talk()).static_edges()
    assert (u1, v1, f["state"], f["taken"]) == (0, 1, "off", False)
    assert (u2, v2, j["state"], j["taken"]) == (0, 3, "on", True)
    assert f["key"] == j["key"] == "debug_key" and f["site"] == 0 and not f["inverse"]
    (_, v1, f), (_, v2, j) = build_cfg(talk(inverse=True)).static_edges()
    assert (v1, f["state"], v2, j["state"]) == (1, "on", 3, "off")
    assert f["inverse"] and j["inverse"]


def test_talk_reachable_only_through_static_edge():
    cfg = build_cfg(talk())
    assert cfg.reachable() == {0, 1, 3}
    check_structure(talk())  # accepted: static edges count
    g = cfg.graph.copy()
    g.remove_edges_from([(u, v, k) for u, v, k, d in cfg.graph.edges(keys=True, data=True)
                         if d["kind"] == "static" and d["taken"]])
    assert 3 not in nx.descendants(g, 0)


def test_talk_without_site_is_unreachable():
    p = talk(with_site=False)
    cfg = build_cfg(p)
    assert cfg.reachable() == {0, 1}
    assert cfg.static_edges() == []
    assert [(u, v, d["kind"]) for u, v, d in cfg.edges() if u == 0] == [(0, 1, "jump")]
    with pytest.raises(CfgError, match=r"^program p: unreachable insn 3$") as e:
        check_structure(p)
    assert e.value.insn == 3


@pytest.mark.skipif(not hasattr(isa, "assemble"), reason="model.isa.assemble not implemented yet")
def test_talk_from_assembler():
    insns = isa.assemble(TALK_ASM)
    assert isa.encode(insns) == isa.encode([ja(0), mov(0, 0), Exit(), ld64(1, 0), mov(2, 18),
                                            call_helper(6), ja(-7)])
    cfg = build_cfg(prog(insns, [site(0, 3)]))
    assert sorted(cfg.graph.nodes) == [0, 1, 3]


# ---- edges -------------------------------------------------------------------------------

def test_goto0_site_and_conditional_to_next_keep_parallel_edges():
    p = prog([mov(0, 0), ja(0), jeq(1, 0, 0), Exit()], [site(1, 2)])
    cfg = build_cfg(p)
    assert len(cfg.graph.get_edge_data(1, 2)) == 2  # two static edges, same blocks
    assert sorted(d["kind"] for d in cfg.graph.get_edge_data(2, 3).values()) == ["false", "true"]
    check_structure(p)


def test_plain_goto0_is_a_jump():
    cfg = build_cfg(prog([ja(0), Exit()]))
    assert [(u, v, d["kind"]) for u, v, d in cfg.edges()] == [(0, 1, "jump")]


def test_conditional_and_may_goto():
    p = prog([mov(0, 0), jeq(1, 0, 1), mov(0, 1), MayGoto(1), mov(0, 2), Exit()])
    cfg = build_cfg(p)
    e = sorted((u, v, d["kind"], d.get("may_goto", False)) for u, v, d in cfg.edges())
    assert e == [(0, 2, "false", False), (0, 3, "true", False), (2, 3, "fallthrough", False),
                 (3, 4, "false", True), (3, 5, "true", True), (4, 5, "fallthrough", False)]
    check_structure(p)


def test_subprogram_call_and_return_edges():
    # 0: call +3 (-> 4); 1: call +2 (-> 4); 2: r0 = 0; 3: exit; 4: r0 = 1; 5: if r0 == 0 goto +1; 6: exit; 7: exit
    p = prog([call_sub(3), call_sub(2), mov(0, 0), Exit(), mov(0, 1), jeq(0, 0, 1), Exit(), Exit()],
             subprogs={4: "helper_fn"})
    cfg = build_cfg(p)
    assert cfg.funcs == {0: "p", 4: "helper_fn"}
    assert cfg.block(4).func == "helper_fn" and cfg.block(0).func == "p"
    e = {(u, v, d["kind"]) for u, v, d in cfg.edges()}
    assert {(0, 4, "call"), (0, 1, "after_call"), (1, 4, "call"), (1, 2, "after_call")} <= e
    for exit_block in (6, 7):
        assert {(exit_block, 1, "return"), (exit_block, 2, "return")} <= e
    assert (2, 1, "return") not in e  # main's exit returns nowhere
    assert cfg.loops() == []  # a function called twice is not a loop
    check_structure(p)


def test_callback_edge():
    # r2 = &cb (ld_imm64 src 4, cb at 0 + 1 + 3 = 4); call 1; exit; cb: r0 = 0; exit
    p = prog([LoadImm64(2, PSEUDO_FUNC, 3, 0), call_helper(181), Exit(), mov(0, 0), Exit()])
    cfg = build_cfg(p)
    assert (0, 4, "callback") in {(u, v, d["kind"]) for u, v, d in cfg.edges()}
    assert cfg.reachable() == {0, 2, 4}
    check_structure(p)


def test_loop_detected():
    p = prog([mov(0, 0), add(0, 1), jlt(0, 10, -2), Exit()])
    cfg = build_cfg(p)
    assert cfg.loops() == [[1]]  # the self-loop block
    assert cfg.back_edges() == [(1, 1)]
    p2 = prog([mov(0, 0), add(0, 1), mov(1, 2), jlt(0, 10, 1), Exit(), ja(-5)])
    cfg2 = build_cfg(p2)
    assert cfg2.loops() == [[1, 5]]
    assert cfg2.back_edges() == [(5, 1)]
    check_structure(p2)


def test_loop_through_static_site():
    # 0: r0 = 0; 1: goto +0 (site, jump to 0); 2: exit
    p = prog([mov(0, 0), ja(0), Exit()], [site(1, 0)])
    cfg = build_cfg(p)
    assert sorted(cfg.graph.nodes) == [0, 1, 2]  # a site is always a block of its own
    assert cfg.loops() == [[0, 1]]
    assert cfg.back_edges() == [(1, 0)]
    check_structure(p)


# ---- structural errors, kernel wording --------------------------------------------------

@pytest.mark.parametrize("insns, sites, msg, at", [
    ([mov(0, 0), ja(5), Exit()], [], "jump out of range from insn 1 to 7", 1),
    ([mov(0, 0), jeq(1, 0, -3), Exit()], [], "jump out of range from insn 1 to -1", 1),
    ([mov(0, 0), ja(0), Exit()], [site(1, 9)], "jump out of range from insn 1 to 9", 1),
    ([mov(0, 0), jeq(1, 0, 1), ld64(0, 1), Exit()], [], "jump into the middle of ldimm64 insn 2", 2),
    ([mov(0, 0), ld64(0, 1), jeq(1, 0, -2), Exit()], [], "jump into the middle of ldimm64 insn 1", 1),
    ([mov(0, 0)], [], "last insn is not an exit or jmp", 0),
    ([mov(0, 0), Exit(), Exit()], [], "unreachable insn 2", 2),
    ([mov(0, 0), ja(-1), Exit()], [], "unreachable insn 2", 2),
    ([mov(0, 0), call_sub(10), Exit()], [], "call to invalid destination", 1),
    # a call into an ld_imm64's second slot splits a subprogram there (measured on 6.18)
    ([mov(0, 0), call_sub(2), Exit(), ld64(1, 5), Exit()], [],
     "last insn is not an exit or jmp", 3),
    # jump from the main program into a subprogram
    ([mov(0, 0), call_sub(2), ja(1), Exit(), mov(0, 0), Exit()], [],
     "jump out of range from insn 2 to 4", 2),
    # a subprogram that falls off the end
    ([mov(0, 0), call_sub(1), Exit(), mov(0, 0)], [], "last insn is not an exit or jmp", 3),
    ([mov(0, 0), mov(1, 0), Exit()], [site(1, 2)], "static branch site 0 at insn 1 is not a JA", 1),
])
def test_structural_errors(insns, sites, msg, at):
    with pytest.raises(CfgError) as e:
        check_structure(prog(insns, sites))
    assert e.value.cause == msg
    assert str(e.value) == f"program p: {msg}"
    assert e.value.insn == at


def test_build_cfg_rejects_unrepresentable_targets():
    with pytest.raises(CfgError, match="jump out of range from insn 1 to 7"):
        build_cfg(prog([mov(0, 0), ja(5), Exit()]))
    with pytest.raises(CfgError, match="jump into the middle of ldimm64 insn 2"):
        build_cfg(prog([mov(0, 0), jeq(1, 0, 1), ld64(0, 1), Exit()]))
    cfg = build_cfg(prog([mov(0, 0), Exit(), Exit()]))  # unreachable: representable
    assert cfg.reachable() == {0}


# ---- rendering -----------------------------------------------------------------------------

def test_dot_has_static_edges_and_kernel_text():
    p = talk()
    dot = to_dot(build_cfg(p), p, title="talk")
    assert dot.startswith("digraph cfg {")
    assert 'label="talk"' in dot
    assert "; debug_key" in dot  # the map a ld_imm64 refers to
    assert "0: (05) goto pc+0" in dot and "6: (85) call bpf_trace_printk#6" in dot
    line_on = next(ln for ln in dot.splitlines() if ln.strip().startswith("b0 -> b3"))
    assert 'style="dashed"' in line_on and 'color="red"' in line_on and "debug_key on" in line_on
    line_off = next(ln for ln in dot.splitlines() if ln.strip().startswith("b0 -> b1"))
    assert 'style="dashed"' in line_off and 'color="blue"' in line_off and "debug_key off" in line_off
    inv = to_dot(build_cfg(talk(inverse=True)), p)
    assert "debug_key off (likely)" in inv


def test_dot_conditional_and_call_edges():
    p = prog([call_sub(2), jeq(0, 0, 0), Exit(), mov(0, 1), Exit()])
    dot = to_dot(build_cfg(p), p)
    assert 'label="T"' in dot and 'label="F"' in dot
    assert any("b0 -> b3" in ln and 'style="dotted"' in ln for ln in dot.splitlines())
    assert any("b3 -> b1" in ln and 'label="return"' in ln and 'style="dotted"' in ln
               for ln in dot.splitlines())


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")
def test_render_svg(tmp_path):
    p = talk()
    out = render(to_dot(build_cfg(p), p), "svg", tmp_path / "talk.svg")
    head = out.read_text()[:200].lstrip()
    assert head.startswith("<?xml") or head.startswith("<svg")


def test_render_errors(tmp_path, monkeypatch):
    with pytest.raises(SkvError, match="unsupported graph format"):
        render("digraph {}", "pdf", tmp_path / "x.pdf")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SkvError, match=r"graphviz 'dot' not found: apt-get install graphviz"):
        render("digraph {}", "svg", tmp_path / "x.svg")


def test_cfg_error_names_the_file(tmp_path, capsys):
    from model.cli import main
    from model.elf.writer import ProgSpec, build_object
    from model.isa import Alu, Exit, Jump

    path = tmp_path / "oor.o"
    path.write_bytes(build_object([ProgSpec("socket", "oor", [
        Alu("mov", True, 0, imm=0), Jump("ja", False, off=5), Exit()], [], {})], []))
    assert main(["cfg", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"skv: error: {path}: program oor: jump out of range from insn 1 to 7\n"
