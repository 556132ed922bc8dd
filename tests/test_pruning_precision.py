"""Precision tracking (model.verifier.backtrack.py) keeps verdicts: each program below has
a diamond whose first explored side is safe and whose second side differs only in a value
that matters later through one of the ways a value can flow (an ALU chain, a spill and
fill, a stack pointer copy, a scalar id link, a helper's size argument, a constant map
key, a subprogram's return). The second side reaches the join with the first side's
state stored and fully explored: pruning it there would accept an unsafe program. Each
verdict is compared with full exploration (``prune=False``) and with the kernel when
bpf(2) is usable. The last tests check that a value that does not matter no longer blocks
pruning (the reason for the change), and that the datapath's both-edges programs keep
their verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.kernel import available
from model.verifier.checker import check_program
from vergen_base import Alu, Asm, Call, Exit, Load, MapDef, Store, VerProg

PRANDOM, LOOKUP, SKB_LOAD_BYTES = 7, 1, 26
KERNEL_OK, KERNEL_WHY = available()


def _diamond(a: Asm, lo, hi_) -> None:
    """``lo`` on the first explored side, ``hi_`` on the second (each a list of
    instructions), after enough instructions that both verifiers store a state at the
    join (the checkpoint heuristic: 2 jumps and 8 instructions since the last one)."""
    hi, join = a.label(), a.label()
    a.put(Alu("mov", True, 6, src=1), *[Alu("mov", True, 8, imm=k) for k in range(8)])
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, hi, imm=100)
    a.put(*lo)
    a.goto(join)
    a.at(hi)
    a.put(*hi_)
    a.at(join)


def _r7_unless(a: Asm, reg: int, safe: int) -> None:
    """Reads the uninitialised r7 unless ``reg == safe`` (a jump decided by the value)."""
    ok = a.label()
    a.jmp("jeq", reg, ok, imm=safe)
    a.put(Alu("mov", True, 0, src=7))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())


def _check(vp: VerProg, accepted: bool, why: str = "") -> None:
    obj, prog = vp.model()
    v = check_program(obj, prog, log=False)
    full = check_program(obj, prog, log=False, prune=False)
    assert v.accepted == full.accepted == accepted, (vp.text(), v.error, full.error)
    if not accepted:
        assert why in v.error.message, v.error
    if KERNEL_OK:
        k = vp.kernel_verify()
        assert k.ok == accepted, k.log[-600:]


def _prog(a: Asm, maps=None) -> VerProg:
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, maps or {})


def test_alu_chain_into_a_decided_jump():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
    a.put(Alu("mov", True, 4, src=3), Alu("add", True, 4, imm=5), Alu("mul", True, 4, imm=2),
          Alu("mov", True, 3, imm=0))
    _r7_unless(a, 4, 10)
    _check(_prog(a), False, "R7 !read_ok")


def test_spill_and_fill_into_a_decided_jump():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
    a.put(Store(8, 10, -16, src=3), Alu("mov", True, 3, imm=0), Call(0, PRANDOM),
          Load(8, 4, 10, -16))
    _r7_unless(a, 4, 0)
    _check(_prog(a), False, "R7 !read_ok")


def test_fill_through_a_stack_pointer_copy():
    a = Asm()
    _diamond(a, [Store(8, 10, -16, imm=0)], [Store(8, 10, -16, imm=1000)])
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-16), Load(8, 4, 2, 0))
    _r7_unless(a, 4, 0)
    _check(_prog(a), False, "R7 !read_ok")


def test_linked_scalar_refined_through_its_copy():
    """First side: r7 is a copy of r6 (one id), so ``r6 <= 8`` bounds r7 too; second side:
    r7 is an independent value of the same range. r7 then offsets a stack pointer."""
    a = Asm()
    out = a.label()
    mask = [Alu("and", True, 0, imm=0xFF)]
    _diamond(a, [*mask, Alu("mov", True, 9, src=0), Alu("mov", True, 7, src=0)],
             [*mask, Alu("mov", True, 9, src=0), Call(0, PRANDOM), *mask,
              Alu("mov", True, 7, src=0)])
    a.put(Store(8, 10, -16, imm=0), Store(8, 10, -8, imm=0))
    a.jmp("jgt", 9, out, imm=8)
    a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16), Alu("add", True, 1, src=7),
          Load(1, 0, 1, 0))
    a.at(out)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    _check(_prog(a), False, "stack")


def test_helper_size_argument():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=8)], [Alu("mov", True, 3, imm=1000)])
    a.put(Alu("mov", True, 4, src=3), Alu("mov", True, 1, src=6), Alu("mov", True, 2, imm=0),
          Alu("mov", True, 3, src=10), Alu("add", True, 3, imm=-16),
          Call(0, SKB_LOAD_BYTES), Alu("mov", True, 0, imm=0), Exit())
    _check(_prog(a), False, "")


def test_constant_map_key_on_the_stack():
    """Key 0 of a one-entry array: the lookup never returns NULL; key 1000 may."""
    a = Asm()
    _diamond(a, [Store(4, 10, -8, imm=0)], [Store(4, 10, -8, imm=1000)])
    a.ldmap(1, "arr")
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-8), Call(0, LOOKUP),
          Load(8, 0, 0, 0), Alu("mov", True, 0, imm=0), Exit())
    _check(_prog(a, {"arr": MapDef("arr", 2, 4, 8, 1, origin="legacy")}), False,
           "map_value_or_null")


def test_value_returned_by_a_subprogram():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
    a.put(Alu("mov", True, 1, src=3))
    a.call_sub("sub")
    a.put(Alu("mov", True, 4, src=0))
    _r7_unless(a, 4, 0)
    a.at("sub")
    a.put(Alu("mov", True, 0, src=1), Exit())
    _check(_prog(a), False, "R7 !read_ok")


def test_callee_saved_register_and_slot_across_a_call():
    """r6 and fp-16 hold the value across a subprogram that uses its own r6 and fp-16;
    the caller then decides a jump on each (the walk back keeps them across the call)."""
    for reg_or_slot in ("reg", "slot"):
        a = Asm()
        _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
        a.put(Alu("mov", True, 6, src=3), Store(8, 10, -16, src=3), Alu("mov", True, 3, imm=0))
        a.call_sub("sub")
        if reg_or_slot == "reg":
            a.put(Alu("mov", True, 4, src=6))
        else:
            a.put(Load(8, 4, 10, -16))
        _r7_unless(a, 4, 0)
        a.at("sub")
        a.put(Alu("mov", True, 6, imm=5), Store(8, 10, -16, imm=7), Load(8, 0, 10, -16),
              Exit())
        _check(_prog(a), False, "R7 !read_ok")


def test_argument_decided_inside_the_subprogram():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
    a.put(Alu("mov", True, 1, src=3), Alu("mov", True, 3, imm=0))
    a.call_sub("sub")
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at("sub")
    ok = a.label()
    a.put(Alu("mov", True, 2, src=1), Alu("add", True, 2, imm=1))
    a.jmp("jeq", 2, ok, imm=1)
    a.put(Alu("mov", True, 0, src=7))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    _check(_prog(a), False, "R7 !read_ok")


def test_caller_slot_read_by_the_subprogram_through_its_argument():
    a = Asm()
    _diamond(a, [Alu("mov", True, 3, imm=0)], [Alu("mov", True, 3, imm=1000)])
    a.put(Store(8, 10, -8, src=3), Alu("mov", True, 3, imm=0), Alu("mov", True, 1, src=10),
          Alu("add", True, 1, imm=-8))
    a.call_sub("sub")
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at("sub")
    a.put(Load(8, 4, 1, 0))
    _r7_unless(a, 4, 0)
    _check(_prog(a), False, "R7 !read_ok")


def test_caller_value_used_after_return_reaches_a_pruned_paths_checkpoints():
    """Three paths reach the join J with (r6, r9) = (0, 5), (0, 6), (1000, 6); r9 decides
    a jump and is reset, then a subprogram runs and the caller decides a jump on r6 after
    it. The second path is pruned inside the subprogram by the first one's state there
    (same caller frame): the r6 the first path's subtree depends on must be handed to the
    second path's checkpoint at J, or the third path (r6 = 1000) is pruned there."""
    a = Asm()
    l1, l2, join, bad, ok = (a.label() for _ in range(5))
    pad = [Alu("mov", True, 8, imm=k) for k in range(8)]
    a.put(*pad, Call(0, PRANDOM), Alu("mov", True, 9, imm=5), Alu("mov", True, 6, imm=0))
    a.jmp("jgt", 0, l1, imm=100)
    a.goto(join)
    a.at(l1)
    a.put(Alu("mov", True, 9, imm=6), *pad)
    a.jmp("jgt", 0, l2, imm=200)
    a.goto(join)
    a.at(l2)
    a.put(Alu("mov", True, 6, imm=1000), *pad)
    a.at(join)
    a.jmp("jgt", 9, bad, imm=10)
    a.put(Alu("mov", True, 9, imm=0))
    a.call_sub("sub")
    a.jmp("jeq", 6, ok, imm=0)
    a.at(bad)
    a.put(Alu("mov", True, 0, src=7))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at("sub")
    k2 = a.label()
    a.put(*pad, Call(0, PRANDOM))
    a.jmp("jgt", 0, k2, imm=5)
    a.put(Alu("mov", True, 0, imm=1))
    a.at(k2)
    a.put(Exit())
    _check(_prog(a), False, "R7 !read_ok")


def test_a_value_that_does_not_matter_no_longer_blocks_pruning():
    """r3 differs between the sides and is then compared in jumps that neither side can
    decide, and stored to the stack: the kernel prunes the second side at the join, and
    so does skv now (with the same verdict as full exploration)."""
    a = Asm()
    _diamond(a, [Alu("and", True, 0, imm=0xF), Alu("mov", True, 3, src=0)],
             [Alu("and", True, 0, imm=0xFF), Alu("mov", True, 3, src=0)])
    a.put(Store(8, 10, -8, src=3))
    for k in range(4):
        nxt = a.label()
        a.jmp("jset", 3, nxt, imm=1 << k)  # one bit each: never decided
        a.put(Alu("add", True, 8, imm=1))
        a.at(nxt)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    vp = _prog(a)
    obj, prog = vp.model()
    v = check_program(obj, prog, log=False)
    full = check_program(obj, prog, log=False, prune=False)
    assert v.accepted and full.accepted
    assert v.stats.insns_processed < full.stats.insns_processed * 0.7
    if KERNEL_OK:
        k = vp.kernel_verify()
        assert k.ok and v.stats.insns_processed <= 1.5 * k.insns_processed


DATAPATH = Path(__file__).resolve().parent.parent / "bpfprogs" / "datapath" / "datapath.o"


@pytest.mark.skipif(not DATAPATH.exists(), reason="bpfprogs/datapath/datapath.o is not on "
                    "this branch (it comes with the datapath branch)")
@pytest.mark.parametrize("name", ["dp_xdp_v4", "dp_tc_egress"])
def test_datapath_both_edges_keeps_its_verdict(name):
    from model.elf.loader import load_object

    obj = load_object(str(DATAPATH), keys_as_maps="keep")
    prog = obj.program(name)
    v = check_program(obj, prog, log=False)
    assert v.accepted
    if KERNEL_OK:
        from model.kernel.objload import verdict_both_edges

        ok, r = verdict_both_edges(obj, prog, log_level=1)
        assert ok and v.stats.insns_processed <= 1.5 * r.insns_processed
