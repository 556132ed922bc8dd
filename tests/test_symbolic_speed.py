"""The Z3 engine's speed-ups keep its answers exact (model/symbolic/arrays.py, merging.py,
queries.py): resolved memory reads equal the reads they replace, the realistic datapath's
largest programs are decided within the budget, and the deliberate bug of
unsafe_datapath.o is still found under exactly its key states."""

from __future__ import annotations

import z3

from conftest import BPFPROGS
from model.elf.loader import load_object
from model.symbolic import Budget, analyse_program
from model.symbolic.arrays import select
from model.symbolic.engine import Engine
from model.symbolic.state import BV64, BYTE, bv


def _valid(f) -> bool:
    s = z3.Solver()
    s.add(z3.Not(f))
    return s.check() == z3.unsat


def test_resolved_reads_equal_the_reads():
    base = z3.Array("a", BV64, BYTE)
    x, y = z3.BitVec("x", 64), z3.BitVec("y", 64)
    g = z3.Bool("g")
    v = [z3.BitVec(f"v{i}", 8) for i in range(6)]
    arr = z3.Store(z3.Store(base, bv(16), v[1]), x + bv(3), v[0])
    arr = z3.Store(arr, x + bv(5), v[2])
    other = z3.Store(z3.K(BV64, z3.BitVecVal(7, 8)), bv(16), v[3])
    merged = z3.If(g, arr, other)
    top = z3.Store(z3.Store(merged, y, v[4]), bv(17), v[5])
    for a in (arr, other, merged, top):
        for i in (x + bv(3), bv(3) + x, x + bv(4), x + bv(5), bv(16), bv(17), bv(2), y, x):
            assert _valid(select(a, i) == z3.Select(a, i)), (a, i)
    # resolved where certain: a store at the same index, past different constants
    assert select(arr, bv(3) + x).eq(v[0])
    assert select(other, bv(16)).eq(v[3]) and z3.is_bv_value(select(other, bv(2)))
    assert select(top, bv(17)).eq(v[5])
    # left to Z3 where the indexes may alias (x + 5 against 16, y against 16)
    assert z3.is_select(select(arr, bv(16))) and z3.is_select(select(top, bv(16)))


def test_datapath_v4_and_v6_decided_within_the_budget():
    obj = load_object(str(BPFPROGS / "datapath" / "datapath.o"), keys_as_maps="keep")
    for name in ("dp_xdp_v4", "dp_xdp_v6"):
        eng = Engine(obj, obj.program(name), Budget(time_s=120))
        res = eng.run()
        assert res.exhausted == [] and res.failures == [], name
        assert res.merges > 0


def test_unsafe_datapath_bug_kept_exactly():
    obj = load_object(str(BPFPROGS / "datapath" / "unsafe_datapath.o"), keys_as_maps="keep")
    prog = obj.program("dp_xdp_icmp_err")
    doc = analyse_program(obj, prog, budget=Budget(time_s=120))
    assert doc["complete"] and doc["models"]["M2"]["safe"] is False
    assert doc["models"]["M0"]["unsafe_when"] == [
        {"dbg_dump_l4": 1, "dbg_event": 1, "dp_conntrack": 0}]
    assert doc["counterexample"]["confirmed"]
