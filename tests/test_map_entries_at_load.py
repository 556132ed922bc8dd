"""An array the object leaves at 0 entries (its loader sets the number, as the linux
samples' xdp_router_ipv4 does for its counters): the kernel creates no array with 0
entries, so a lookup with the constant key 0 is in range whatever the loader sets, and
is never NULL (can_elide_value_nullness); key 1 may be past the end -- or not: the Z3
engine takes the size as unknown (``entries_<map>``, at least 1), so a lookup of key 1
may hit, and a fault behind its NULL check is found and replayed with the size it chose."""

from __future__ import annotations

import pytest

from model.kernel import available
from model.verifier.checker import check_program
from test_pruning_kernel_parity import _lookup
from vergen_base import ARRAY, Alu, Asm, Exit, Load, MapDef, Store, VerProg

from model.errors import SkvError
from model.interp.replay import load_replay, loaded_maps

KERNEL_OK, _ = available()


def _program(key: int, entries: int) -> VerProg:
    """r0 = lookup(m, &key); r0 = *(u64 *)r0 without a NULL check."""
    a = Asm()
    a.put(Alu("mov", True, 1, imm=key), Store(4, 10, -4, src=1))
    _lookup(a, -4)
    a.put(Load(8, 0, 0, 0), Alu("mov", True, 0, imm=0), Exit())
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {"m": MapDef("m", ARRAY, 4, 8, entries)})


@pytest.mark.parametrize("key", [0, 1])
def test_a_constant_key_of_an_array_left_at_0_entries(key):
    obj, prog = _program(key, 0).model()
    ours = check_program(obj, prog, log=False)
    assert ours.accepted == (key == 0), ours.error
    if KERNEL_OK:  # the kernel with the one entry a loader gives it at least
        assert _program(key, 1).kernel_verify().ok == (key == 0)


def _checked(key: int, off: int, entries: int) -> VerProg:
    """r0 = lookup(m, &key); if (r0) r0 = *(u64 *)(r0 + off): out of the 8-byte value
    for off 8."""
    a = Asm()
    a.put(Alu("mov", True, 1, imm=key), Store(4, 10, -4, src=1))
    _lookup(a, -4)
    out = a.label()
    a.jmp("jeq", 0, out, imm=0)
    a.put(Load(8, 0, 0, off))
    a.at(out)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {"m": MapDef("m", ARRAY, 4, 8, entries)})


@pytest.mark.parametrize("key", [0, 1, 5])
def test_the_z3_engine_explores_a_hit_for_any_key_of_a_loader_sized_array(key):
    from model.symbolic import analyse_program

    obj, prog = _checked(key, 8, 0).model()
    doc = analyse_program(obj, prog)
    assert [doc["models"][m]["safe"] for m in ("M0", "M1", "M2")] == [False] * 3, doc
    cx = doc["counterexample"]
    assert cx["entries"]["m"] > key, cx  # the size it chose has the key in range
    assert cx["confirmed"] and cx["pc"] == 8, cx  # the interpreter, with that size, faults
    assert "past m[%d]" % key in cx["fault"], cx["fault"]
    if KERNEL_OK:  # the kernel rejects it whatever the loader sets
        assert not _checked(key, 8, cx["entries"]["m"]).kernel_verify().ok


@pytest.mark.parametrize("key", [1, 5])
def test_an_access_inside_the_value_stays_safe(key):
    from model.symbolic import analyse_program

    obj, prog = _checked(key, 0, 0).model()
    doc = analyse_program(obj, prog)
    assert [doc["models"][m]["safe"] for m in ("M0", "M1", "M2")] == [True] * 3, doc


def test_the_counterexample_file_carries_the_size(tmp_path):
    from model.symbolic import analyse_program, cex

    obj, prog = _checked(1, 8, 0).model()
    cx = analyse_program(obj, prog)["counterexample"]
    path = tmp_path / "cx.json"
    cex.write(str(path), "vergen.o", prog, cx)
    r = load_replay(str(path))
    assert r.entries == cx["entries"]
    assert loaded_maps(obj.maps, r.entries)["m"].max_entries == cx["entries"]["m"]
    assert loaded_maps(obj.maps, {})["m"].max_entries == 1  # the fewest the kernel allows
    sized = _checked(1, 8, 4).model()[0]
    with pytest.raises(SkvError, match="sizes this map"):
        loaded_maps(sized.maps, {"m": 2})


def _ring(entries: int):
    """A reservation of 8 bytes, NULL-checked, written past its end, submitted."""
    from references_probes import RINGBUF, _CHECK, _OUT, _SUBMIT, _reserve
    from soundness_probes import Probe

    return Probe("rb_loader_sized", "xdp", _reserve() + _CHECK + "r1 = 1\n"
                 "*(u64 *)(r0 + 8) = r1\n" + _SUBMIT + _OUT, [RINGBUF[:3] + (entries, 0)])


def test_a_ring_buffer_the_loader_sizes_may_hold_the_reservation():
    """The kernel creates no ring buffer of 0 bytes (nor one under a page): an object's 0
    is its loader's to set, and a reservation may succeed (before: never, so the write
    past it went unexplored and the Z3 engine called the program safe)."""
    from model.symbolic import analyse_program

    obj, prog = _ring(0).model()
    doc = analyse_program(obj, prog)
    assert [doc["models"][m]["safe"] for m in ("M0", "M1", "M2")] == [False] * 3, doc
    cx = doc["counterexample"]
    assert cx["entries"]["m0"] >= 4096 and cx["confirmed"], cx
    if KERNEL_OK:  # the kernel, with the page the loader gives it at least
        assert not _ring(4096).kernel().ok


@pytest.mark.parametrize("kind", ["array", "hash"])
def test_for_each_over_a_loader_sized_map_visits_elements(kind):
    """bpf_for_each_map_elem over a map the object leaves at 0 entries: its callback runs
    (before: never, a callback reading past the value went unexplored)."""
    from callback_probes import _VALUE, ARRAY, HASH, CbProbe
    from model.symbolic import analyse_program

    shape = (ARRAY if kind == "array" else HASH)[:3]
    probe = CbProbe("each_loader_sized", "xdp", _VALUE + "r0 = *(u64 *)(r3 + 8)\nr0 = 0\n"
                    "exit\n", [shape + (0, 0)])
    obj, prog = probe.model()
    doc = analyse_program(obj, prog)
    assert doc["models"]["M0"]["safe"] is False, doc
    assert doc["counterexample"]["entries"]["m0"] >= 1
