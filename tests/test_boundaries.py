"""Boundary programs: each sits exactly on an edge a real bug would move (a stack byte just
above the frame, a pruned state differing only in ``umax``, a 32-bit move of a value with
upper bits set, a helper size at its ``umax``, a return value one above the range, byte
swaps...). Each verdict is the kernel's (checked against bpf(2) when it is available);
bench/mutation.py injects the bugs these programs catch.

The symbolic engine, the key-model witnesses and the x86 model get their own boundaries
below (the Z3 bounds check, an M1 witness's base keys, backward rel8 sites, the fetch-model
list the poke-race proofs cover)."""

from __future__ import annotations

import pytest

from model.isa import Alu, Exit, Jump, encode
from model.verifier.checker import check_program
from test_verifier import _prog

# a path that must stay unreachable: dereferencing a scalar
BAD = "r0 = *(u8 *)({reg} + 0x0)\nexit"

# (name, program text, section, accepted?, message fragment)
VERIFIER = [
    # -- the stack frame's edges
    ("stack read 1 byte above fp", "r0 = *(u8 *)(r10 + 0x0)\nexit", "xdp", False,
     "invalid read from stack"),
    ("stack write 1 byte above fp", "*(u8 *)(r10 + 0x0) = 0x0\nr0 = 0x0\nexit", "xdp", False,
     "invalid write to stack"),
    ("stack read top byte", "r0 = *(u8 *)(r10 - 0x1)\nexit", "xdp", True, None),
    ("stack write lowest byte", "*(u8 *)(r10 - 0x200) = 0x0\nr0 = 0x0\nexit", "xdp", True,
     None),
    ("stack write 1 byte below frame", "*(u8 *)(r10 - 0x201) = 0x0\nr0 = 0x0\nexit", "xdp",
     False, "invalid write to stack"),
    ("variable stack offset up to the top byte",
     "call 0x5\nr0 &= 0x7\nr2 = r10\nr2 += -0x8\nr2 += r0\nr0 = *(u8 *)(r2 + 0x0)\nexit",
     "xdp", True, None),
    ("variable stack offset 1 byte above fp",
     "call 0x5\nr0 &= 0xf\nr2 = r10\nr2 += -0x8\nr2 += r0\nr0 = *(u8 *)(r2 + 0x0)\nexit",
     "xdp", False, "stack"),
    # -- pruning: the first path reaches the join with a state that makes the bad branch
    # impossible; the second path's state differs in exactly one respect and must not be
    # pruned by the first
    ("prune: umax only",  # r1 in [0, 2^63+10] (signed unknown) vs r1 > 2^63+10
     "call 0x5\nr1 = r0\nr2 = 0x800000000000000a ll\nif r1 > r2 goto +0x1\nr0 = 0x0\n"
     "if r1 > r2 goto +0x2\nr0 = 0x0\nexit\n" + BAD.format(reg="r1"), "xdp", False,
     "invalid mem access 'scalar'"),
    ("prune: zero stack bytes vs misc",
     "call 0x5\nif r0 > 0x5 goto +0x2\n*(u32 *)(r10 - 0x4) = 0x0\ngoto +0x1\n"
     "*(u32 *)(r10 - 0x4) = 0x1\nr1 = *(u32 *)(r10 - 0x4)\nif r1 != 0x0 goto +0x2\n"
     "r0 = 0x0\nexit\n" + BAD.format(reg="r1"), "xdp", False, "invalid mem access 'scalar'"),
    ("prune: zero stack bytes vs uninitialised",
     "call 0x5\nif r0 > 0x5 goto +0x2\n*(u32 *)(r10 - 0x4) = 0x0\ngoto +0x0\n"
     "r1 = *(u32 *)(r10 - 0x4)\nif r1 != 0x0 goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", False, "invalid mem access 'scalar'"),
    ("prune: spilled register's value",
     "call 0x5\nr1 = r0\nif r0 > 0x5 goto +0x1\nr1 = 0x0\n*(u64 *)(r10 - 0x8) = r1\n"
     "r1 = 0x0\nr0 = 0x0\ngoto +0x0\nr2 = *(u64 *)(r10 - 0x8)\nif r2 != 0x0 goto +0x2\n"
     "r0 = 0x0\nexit\n" + BAD.format(reg="r2"), "xdp", False,
     "invalid mem access 'scalar'"),
    # -- ALU edges
    ("mov32 of a value with upper bits set zero-extends",
     "call 0x5\nr1 = r0\nr3 = 0x100000000 ll\nr1 |= r3\nw2 = w1\nif r2 < 0x10 goto +0x2\n"
     "r0 = 0x0\nexit\n" + BAD.format(reg="r2"), "xdp", False, "invalid mem access 'scalar'"),
    ("be16 of a byte can exceed 0xff",
     "call 0x5\nr1 = r0\nr1 &= 0xff\nr1 = be16 r1\nif r1 > 0xff goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", False, "invalid mem access 'scalar'"),
    ("be64 of a byte can exceed 0xff",
     "call 0x5\nr1 = r0\nr1 &= 0xff\nr1 = be64 r1\nif r1 > 0xff goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", False, "invalid mem access 'scalar'"),
    ("le16 truncates to 16 bits",
     "call 0x5\nr1 = r0\nr1 = le16 r1\nif r1 > 0xffff goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", True, None),
    ("le32 truncates to 32 bits",
     "call 0x5\nr1 = r0\nr1 = le32 r1\nif r1 > 0xffffffff goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", True, None),
    ("be16 of the constant 1 is 0x100",
     "r1 = 0x1\nr1 = be16 r1\nif r1 != 0x100 goto +0x2\nr0 = 0x0\nexit\n"
     + BAD.format(reg="r1"), "xdp", True, None),
    # -- a helper's size argument is checked at its umax
    ("helper size umax beyond the buffer",
     "call 0x5\nr2 = r0\nr2 &= 0xf\nr2 += 0x1\nr1 = r10\nr1 += -0x8\ncall 0x6\nr0 = 0x0\nexit",
     "xdp", False, "stack"),
    ("helper size umax fills the buffer",
     "call 0x5\nr2 = r0\nr2 &= 0x7\nr2 += 0x1\nr1 = r10\nr1 += -0x8\ncall 0x6\nr0 = 0x0\nexit",
     "xdp", True, None),
    # -- the return range's both ends (cgroup_skb ingress: [0, 1])
    ("return 2 from cgroup_skb", "r0 = 0x2\nexit", "cgroup_skb/ingress", False,
     "should have been in [0, 1]"),
    ("return 1 from cgroup_skb", "r0 = 0x1\nexit", "cgroup_skb/ingress", True, None),
    ("return 0..3 from cgroup_skb", "call 0x5\nr0 &= 0x3\nexit", "cgroup_skb/ingress", False,
     "should have been in [0, 1]"),
    ("return 0..1 from cgroup_skb", "call 0x5\nr0 &= 0x1\nexit", "cgroup_skb/ingress", True,
     None),
    ("return -1 from cgroup_skb", "r0 = -0x1\nexit", "cgroup_skb/ingress", False,
     "should have been in [0, 1]"),
    ("helper constant size one past the buffer",
     "r1 = r10\nr1 += -0x8\nr2 = 0x9\ncall 0x6\nr0 = 0x0\nexit", "xdp", False, "stack"),
    ("helper constant size fills the buffer",
     "r1 = r10\nr1 += -0x8\nr2 = 0x8\ncall 0x6\nr0 = 0x0\nexit", "xdp", True, None),
    ("helper zero size for ARG_CONST_SIZE",
     "r1 = r10\nr1 += -0x8\nr2 = 0x0\ncall 0x6\nr0 = 0x0\nexit", "xdp", False, "zero-sized"),
    ("helper size 0..1 for ARG_CONST_SIZE",
     "call 0x5\nr2 = r0\nr2 &= 0x1\nr1 = r10\nr1 += -0x8\ncall 0x6\nr0 = 0x0\nexit", "xdp",
     False, "zero-sized"),
    # -- packet writes: xdp may, cgroup_skb (read-only direct access) may not
    ("xdp packet write",
     "r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 0x1\n"
     "if r4 > r3 goto +0x1\n*(u8 *)(r2 + 0x0) = 0x0\nr0 = 0x0\nexit", "xdp", True, None),
    ("cgroup_skb packet write",
     "r2 = *(u32 *)(r1 + 0x4c)\nr3 = *(u32 *)(r1 + 0x50)\nr4 = r2\nr4 += 0x1\n"
     "if r4 > r3 goto +0x1\n*(u8 *)(r2 + 0x0) = 0x0\nr0 = 0x0\nexit", "cgroup_skb/ingress",
     False, "cannot write into packet"),
    ("prune: packet range",  # the first path checked 14 bytes, the second none
     "r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr5 = *(u32 *)(r1 + 0xc)\nr4 = r2\n"
     "r4 += 0xe\nif r5 > 0x5 goto +0x1\nif r4 > r3 goto +0x3\nr0 = *(u8 *)(r2 + 0xd)\n"
     "r0 = 0x0\nexit\nr0 = 0x0\nexit", "xdp", False, "invalid access to packet"),
]

# map value edges: ``arr`` has 8-byte values; r0 is a value pointer (constant key 0)
MAP_PRELUDE = ("r1 = 0x0\n*(u32 *)(r10 - 0x4) = r1\nr2 = r10\nr2 += -0x4\nr1 = 0x0 ll\n"
               "call 0x1\nr6 = r0\n")
MAP = [
    ("map value last byte", "r0 = *(u8 *)(r6 + 0x7)\nexit", True, None),
    ("map value one past the end", "r0 = *(u8 *)(r6 + 0x8)\nexit", False,
     "invalid access to map value"),
    ("map value variable offset 0..7",
     "call 0x5\nr0 &= 0x7\nr6 += r0\nr0 = *(u8 *)(r6 + 0x0)\nexit", True, None),
    ("map value variable offset 1..8",
     "call 0x5\nr0 &= 0x7\nr0 += 0x1\nr6 += r0\nr0 = *(u8 *)(r6 + 0x0)\nexit", False,
     "max value is outside of the allowed memory range"),
]


@pytest.mark.parametrize("name,text,section,accepted,message", VERIFIER,
                         ids=[c[0] for c in VERIFIER])
def test_verifier_boundary(name, text, section, accepted, message):
    obj, prog = _prog(text, section)
    v = check_program(obj, prog)
    assert v.accepted == accepted, (v.error, v.log[-6:])
    if message:
        assert message in v.error.message, v.error.message
    # the same verdict without pruning: the pruned verdict is no luckier
    assert check_program(obj, prog, prune=False).accepted == accepted


def test_kernel_agrees_on_verifier_boundaries():
    from model.elf.sections import prog_type_of
    from model.kernel import available, rejection_reason, verify

    ok, why = available()
    if not ok:
        pytest.skip(why)
    for name, text, section, accepted, _ in VERIFIER:
        _, prog = _prog(text, section)
        res = verify(encode(prog.insns), prog_type_of(section))
        assert res.ok == accepted, (name, rejection_reason(res.log))


@pytest.mark.parametrize("name,body,accepted,message", MAP, ids=[c[0] for c in MAP])
def test_map_value_boundary(name, body, accepted, message):
    from test_verifier import ARR

    obj, prog = _prog(MAP_PRELUDE + body, "xdp", maps=ARR, refs={4: "arr"})
    v = check_program(obj, prog)
    assert v.accepted == accepted, (v.error, v.log[-6:])
    if message:
        assert message in v.error.message, v.error.message


def test_kernel_agrees_on_map_value_boundaries():
    from model.kernel import available, rejection_reason, verify
    from model.kernel.oracle import array_map
    from test_verifier import ARR

    ok, why = available()
    if not ok:
        pytest.skip(why)
    with array_map(value_size=8, max_entries=4) as m:
        for name, body, accepted, _ in MAP:
            _, prog = _prog(MAP_PRELUDE + body, "xdp", maps=ARR, refs={4: "arr"})
            res = verify(encode(prog.insns), "xdp", maps={4: m})
            assert res.ok == accepted, (name, rejection_reason(res.log))


def test_covers_needs_umax():
    """Two scalars differing only in umax (the signed range unknown): the wider is not
    covered by the narrower."""
    from model.domains import Scalar
    from model.verifier.state import scalar_covers

    narrow = Scalar.from_urange(0, (1 << 63) + 10)
    wide = Scalar.unknown()
    assert (narrow.smin_s, narrow.smax_s) == (wide.smin_s, wide.smax_s)
    assert not scalar_covers(narrow, wide)
    assert scalar_covers(wide, narrow)


# -- the symbolic engine's bounds ---------------------------------------------------------
PKT = ("r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 0xe\n"
       "if r4 > r3 goto +0x2\nr0 = *(u8 *)(r2 + {off:#x})\nexit\nr0 = 0x1\nexit")
SYMBOLIC = [
    ("r0 = *(u8 *)(r10 + 0x0)\nexit", False),
    ("r0 = *(u8 *)(r10 - 0x1)\nexit", True),
    ("*(u8 *)(r10 - 0x201) = 0x0\nr0 = 0x0\nexit", False),
    ("*(u8 *)(r10 - 0x200) = 0x0\nr0 = 0x0\nexit", True),
    (PKT.format(off=0xd), True),
    (PKT.format(off=0xe), False),
    # 2 bytes checked, 4 read: ``limit - size`` must not wrap around
    ("r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 0x2\n"
     "if r4 > r3 goto +0x2\nr0 = *(u32 *)(r2 + 0x0)\nexit\nr0 = 0x1\nexit", False),
]


@pytest.mark.parametrize("text,safe", SYMBOLIC)
def test_symbolic_bounds_boundary(text, safe):
    from model.symbolic import analyse_program

    obj, prog = _prog(text, "xdp")
    doc = analyse_program(obj, prog)
    assert doc["complete"] and doc["models"]["M2"]["safe"] == safe
    assert check_program(obj, prog).accepted == safe  # both engines agree here


@pytest.mark.parametrize("text,safe", [("r0 = 0x2\nexit", False), ("r0 = 0x1\nexit", True),
                                       ("call 0x5\nr0 &= 0x3\nexit", False),
                                       ("call 0x5\nr0 &= 0x1\nexit", True)])
def test_symbolic_return_range_boundary(text, safe):
    from model.symbolic import analyse_program

    obj, prog = _prog(text, "cgroup_skb/ingress")
    doc = analyse_program(obj, prog)
    assert doc["complete"] and doc["models"]["M2"]["safe"] == safe
    assert check_program(obj, prog).accepted == safe


# -- an M1 witness must start from an M0-safe key assignment --------------------------------
def _m1_program(n_other: int):
    """Key ``a`` has two sites (clobber r7, then restore it): unsafe only when they differ.
    Keys ``b0..`` each guard a clobber that runs when the key is off: M0-unsafe unless
    every ``b`` key is on."""
    from model.elf.loader import load_image
    from model.elf.reader import parse_elf
    from model.elf.writer import ProgSpec, build_object
    from model.isa import assemble
    from model.program import MapDef

    lines = ["r7 = r10", "r1 = 0x0", "*(u64 *)(r10 - 0x8) = r1",
             "goto +0x0", "goto +0x1", "r7 = 0x0", "goto +0x0", "goto +0x1", "r7 = r10"]
    sites = [(3, 5, "a", False), (6, 8, "a", False)]
    for k in range(n_other):
        sites.append((len(lines), len(lines) + 2, f"b{k}", False))
        lines += ["goto +0x0", "r7 = 0x0"]
    lines += ["r0 = *(u64 *)(r7 - 0x8)", "r0 = 0x0", "exit"]
    spec = ProgSpec("socket", "m1base", assemble("\n".join(lines)), sites)
    maps = [MapDef(name, 2, 4, 4, 1, 1 << 15) for name in
            ["a"] + [f"b{k}" for k in range(n_other)]]
    obj = load_image(parse_elf(build_object([spec], maps), "m1base"))
    return obj, obj.programs[0]


@pytest.mark.parametrize("n_other", [1, 2, 3])
def test_m1_witness_base_is_m0_safe(n_other):
    from manifest import unsafe
    from model.symbolic import analyse_program

    obj, prog = _m1_program(n_other)
    doc = analyse_program(obj, prog)
    m0 = doc["models"]["M0"]["unsafe_when"]
    assert sorted(m0, key=str) == sorted(({f"b{k}": 0} for k in range(n_other)), key=str)
    w = doc["models"]["M1"]["beyond_M0"]
    assert w is not None and w["deviating_sites"] == 1 and w["confirmed"]
    assert not unsafe(m0, w["base_keys"]), w
    assert all(w["base_keys"][f"b{k}"] == 1 for k in range(n_other))


# -- x86: backward rel8 sites ---------------------------------------------------------------
def test_backward_site_encodings():
    from model.x86.fetch import Toggle, classify, decode
    from model.x86.sites import Site, jump_bytes

    assert jump_bytes(0x100, 2, 0x102 - 128) == bytes.fromhex("eb80")
    assert jump_bytes(0x100, 2, 0x100) == bytes.fromhex("ebfe")
    for far in (0x102 - 129, 0x102 + 128):
        with pytest.raises(ValueError):
            jump_bytes(0x100, 2, far)
    assert jump_bytes(0x100, 2, 0x102 + 127) == bytes.fromhex("eb7f")
    assert jump_bytes(0x100, 5, 0x100) == bytes.fromhex("e9fbffffff")
    s = Site(0x100, 2, 0x90)
    assert s.bytes_for(True) == bytes.fromhex("eb8e")
    assert decode(s.bytes_for(True), s.addr) == (True, 2, 0x90)
    tog = Toggle(s, True)
    assert classify(tog, tog.new, False) == "NEW" and classify(tog, tog.old, False) == "OLD"
    # a torn mix: EB from the new bytes, 90 from the NOP: a backward jump elsewhere
    assert decode(bytes.fromhex("eb90"), s.addr) == (True, 2, 0x102 - 0x70)
    assert classify(tog, bytes.fromhex("eb90"), False) == "TORN_TARGET"


def _backward_site_prog(n_pad: int, design: str):
    """``r0 = 0; goto S; L: r0 += 1 (x n_pad); exit; S: <site: goto L>; r0 = 7; exit``."""
    from model.program import Program, Site

    insns = [Alu("mov", True, 0, imm=0), Jump("ja", False, off=n_pad + 1)]
    insns += [Alu("add", True, 0, imm=1)] * n_pad + [Exit()]
    at = len(insns)
    insns += [Jump("ja", False, off=0), Alu("mov", True, 0, imm=7), Exit()]
    return Program("t", "socket", insns, sites=[Site(0, "t", at, 2, "k", False, design)])


@pytest.mark.parametrize("n_pad", [1, 29, 30])
@pytest.mark.parametrize("on", [False, True])
def test_backward_site_jit_pokes_and_runs(n_pad, on):
    """A static site jumping backward (rel8 down to -128, else rel32): its on bytes jump to
    the target, poking either state's bytes gives the other state's JIT image, and the
    image runs the edge of its state."""
    from model.x86 import jit
    from model.x86.fetch import decode
    from proofs.jit_sites import poke, run_image

    r = jit(_backward_site_prog(n_pad, "fixed"), keys={"k": on})
    other = jit(_backward_site_prog(n_pad, "fixed"), keys={"k": not on})
    (s,) = r.sites
    assert s.length in (2, 5) and not s.issues()
    assert s.on_bytes[0] == (0xEB if s.length == 2 else 0xE9)
    assert s.target_address < s.address
    assert decode(s.on_bytes, s.address) == (True, s.length, s.target_address)
    assert poke(r.image, s.address, s.off_bytes if on else s.on_bytes) == other.image
    assert run_image(r) == ("ret", n_pad if on else 7)
    assert run_image(other) == ("ret", 7 if on else n_pad)


def test_backward_site_patch2023_record():
    from model.x86 import jit
    from model.x86.fetch import decode

    r = jit(_backward_site_prog(1, "2023"), design="patch2023", keys={"k": True})
    (s,) = r.sites
    assert s.length == 2 and decode(s.on_bytes, s.address) == (True, 2, s.target_address)


# -- x86: the fetch models the poke-race proofs cover ----------------------------------------
def test_fetch_model_list_is_pinned():
    from model.x86 import fetch as fx
    from proofs import poke_race

    names = [m.name for m in fx.ALL_MODELS]
    want = [f"{c}B/{o}/{s}" for c in (1, 2, 8, 16, 64) for o in ("in", "any")
            for s in ("coherent", "stale")] + \
        [f"{c}B/in/coherent/contained" for c in (8, 16, 64)]
    assert names == want
    assert len(set(names)) == 23
    assert all(fx.FetchModel.parse(n) == m for n, m in zip(names, fx.ALL_MODELS))
    assert fx.CHUNKS == (1, 2, 8, 16, 64)
    assert [m.name for m in poke_race.QUICK_MODELS] == \
        ["1B/in/coherent", "8B/any/stale", "64B/in/coherent/contained"]
    assert set(poke_race.QUICK_MODELS) <= set(fx.ALL_MODELS)
