"""The abstract verifier: bundled programs get the manifest's M2 verdict, and small programs
written inline are accepted or rejected for the kernel's reasons — each such case is also
loaded into the real kernel (when bpf(2) is available) to check that it agrees."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import BPFPROGS
from manifest import program_id, programs
from model.elf.loader import load_object
from model.isa import assemble, encode
from model.program import BpfObject, MapDef, MapRef, Program
from model.verifier.checker import check_program

PROGRAMS = programs()


@pytest.mark.parametrize("entry", PROGRAMS, ids=program_id)
def test_bundled_m2_verdict_matches_manifest(entry):
    obj = load_object(str(BPFPROGS / entry["object"]))
    v = check_program(obj, obj.program(entry["program"]))
    assert v.accepted == entry["expect"]["M2"]["safe"], (v.error, v.log[-5:])
    if not v.accepted:
        assert v.error.insn is not None and v.log, v


def _prog(text: str, section: str = "xdp", maps: dict | None = None,
          refs: dict | None = None) -> tuple[BpfObject, Program]:
    insns = assemble(text)
    slots = {}
    pc = 0
    for k, insn in enumerate(insns):
        slots[pc] = k
        pc += insn.slots
    for pc, name in (refs or {}).items():  # as the loader relocates a map reference
        insns[slots[pc]] = replace(insns[slots[pc]], src=1)
    prog = Program("t", section, insns)
    for pc, name in (refs or {}).items():
        prog.map_refs[pc] = MapRef(pc, name)
    obj = BpfObject("inline", "GPL", maps or {}, [prog])
    return obj, prog


ARR = {"arr": MapDef("arr", 2, 4, 8, 4)}

# (name, program text, section, accepted?, message fragment)
CASES = [
    ("return constant", "r0 = 0x0\nexit", "xdp", True, None),
    ("uninitialised register", "r0 = r2\nexit", "xdp", False, "R2 !read_ok"),
    ("uninitialised r0 at exit", "exit", "xdp", False, "R0 !read_ok"),
    ("write r10", "r10 = 0x0\nr0 = 0x0\nexit", "xdp", False, "frame pointer is read only"),
    ("stack in bounds", "r1 = 0x1\n*(u64 *)(r10 - 0x8) = r1\nr0 = *(u64 *)(r10 - 0x8)\nexit",
     "xdp", True, None),
    ("stack below frame", "r1 = 0x1\n*(u64 *)(r10 - 0x208) = r1\nr0 = 0x0\nexit", "xdp", False,
     "invalid write to stack"),
    ("stack above frame", "r0 = *(u64 *)(r10 + 0x0)\nexit", "xdp", False,
     "invalid read from stack"),
    ("xdp packet read unchecked",
     "r2 = *(u32 *)(r1 + 0x0)\nr0 = *(u8 *)(r2 + 0x0)\nexit", "xdp", False,
     "invalid access to packet"),
    ("xdp packet read checked",
     "r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 0xe\n"
     "if r4 > r3 goto +0x2\nr0 = *(u8 *)(r2 + 0xd)\nexit\nr0 = 0x1\nexit", "xdp", True, None),
    ("xdp packet read one past check",
     "r2 = *(u32 *)(r1 + 0x0)\nr3 = *(u32 *)(r1 + 0x4)\nr4 = r2\nr4 += 0xe\n"
     "if r4 > r3 goto +0x2\nr0 = *(u8 *)(r2 + 0xe)\nexit\nr0 = 0x1\nexit", "xdp", False,
     "invalid access to packet"),
    ("ctx read out of range", "r0 = *(u32 *)(r1 + 0x400)\nexit", "xdp", False,
     "invalid bpf_context access"),
    ("bounded loop",
     "r0 = 0x0\nr1 = 0x0\nr0 += r1\nr1 += 0x1\nif r1 < 0xa goto -0x3\nexit", "xdp", True,
     None),
    ("infinite loop", "r0 = 0x0\nif r0 == 0x0 goto -0x1\nexit", "xdp", False, "infinite loop"),
    ("pointer arithmetic on ctx with and", "r1 &= 0xff\nr0 = 0x0\nexit", "xdp", False,
     "on pointer prohibited"),
    ("unknown helper", "call 0x7fff\nr0 = 0x0\nexit", "xdp", False, "invalid func"),
]


@pytest.mark.parametrize("name,text,section,accepted,message", CASES,
                         ids=[c[0] for c in CASES])
def test_inline_programs(name, text, section, accepted, message):
    obj, prog = _prog(text, section)
    v = check_program(obj, prog)
    assert v.accepted == accepted, (v.error, v.log[-6:])
    if message:
        assert message in v.error.message


MAP_TEXT = """
r1 = 0x0
*(u32 *)(r10 - 0x4) = r1
r2 = r10
r2 += -0x4
r1 = 0x0 ll
call 0x1
{body}
"""


@pytest.mark.parametrize("body,accepted,message", [
    ("r0 = *(u64 *)(r0 + 0x0)\nexit", True, None),  # constant in-range key: never NULL
    ("r0 = *(u64 *)(r0 + 0x8)\nexit", False, "invalid access to map value"),
    ("r0 = *(u32 *)(r0 + 0x4)\nexit", True, None),
])
def test_map_lookup_constant_key(body, accepted, message):
    obj, prog = _prog(MAP_TEXT.format(body=body), maps=ARR, refs={4: "arr"})
    v = check_program(obj, prog)
    assert v.accepted == accepted, (v.error, v.log[-6:])
    if message:
        assert message in v.error.message


def test_null_check_required_for_unknown_key():
    text = ("r1 = *(u32 *)(r1 + 0xc)\n*(u32 *)(r10 - 0x4) = r1\nr2 = r10\nr2 += -0x4\n"
            "r1 = 0x0 ll\ncall 0x1\n{check}r0 = *(u64 *)(r0 + 0x0)\nexit")
    obj, prog = _prog(text.format(check=""), maps=ARR, refs={4: "arr"})
    v = check_program(obj, prog)
    assert not v.accepted and "map_value_or_null" in v.error.message
    obj, prog = _prog(text.format(check="if r0 == 0x0 goto +0x1\n"), maps=ARR,
                      refs={4: "arr"})
    # after the check the dereference is safe; the null edge returns r0 = 0
    v = check_program(obj, prog)
    assert v.accepted, (v.error, v.log[-6:])


def test_budget_is_a_verdict():
    text = "r0 = 0x0\nr1 = 0x0\nr1 += 0x1\nif r1 < 0x186a0 goto -0x2\nexit"
    obj, prog = _prog(text)
    v = check_program(obj, prog, budget=1500)
    assert not v.accepted and "too large" in v.error.message
    assert v.stats.insns_processed == 1501


def test_kernel_agrees_on_inline_cases():
    from model.kernel import available, verify

    ok, why = available()
    if not ok:
        pytest.skip(why)
    for name, text, section, accepted, _ in CASES:
        if name in ("unknown helper",):
            continue
        obj, prog = _prog(text, section)
        res = verify(encode(prog.insns), section)
        assert res.ok == accepted, (name, res.log[-400:])


@pytest.mark.parametrize("entry", PROGRAMS, ids=program_id)
def test_every_m0_assignment_matches_manifest(entry):
    """Each key assignment materialised into an ordinary program: our verdict is the
    manifest's, which the real kernel confirms (tests/test_kernel_objects.py)."""
    from manifest import unsafe
    from model.keystate import all_assignments
    from model.materialize import materialize

    obj = load_object(str(BPFPROGS / entry["object"]))
    prog = obj.program(entry["program"])
    for keys in all_assignments(prog.keys()):
        m = materialize(prog, keys=keys)
        v = check_program(obj, m)
        bits = {k: int(b) for k, b in keys.items()}
        assert v.accepted == (not unsafe(entry["expect"]["M0"]["unsafe_when"], bits)), \
            (bits, v.error)


def test_both_edges_form_gives_the_m2_verdict():
    """The materialised both-edges program (sites as `if r10 == 0`) gets the same verdict as
    the program with its static sites."""
    from model.materialize import both_edges

    for entry in PROGRAMS:
        obj = load_object(str(BPFPROGS / entry["object"]))
        prog = obj.program(entry["program"])
        assert check_program(obj, both_edges(prog)).accepted == \
            check_program(obj, prog).accepted, program_id(entry)
