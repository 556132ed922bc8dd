"""The static side of pruning (model/verifier/sensitivity.py): a value stored through a
register that may point into a stack stays precise (it can be loaded back), one stored
through any other pointer does not; ALU32 adds do not make their source precise. Each
program is also checked against the kernel when bpf(2) is available."""

from __future__ import annotations

from model.kernel import available
from model.verifier.checker import check_program
from model.verifier.sensitivity import sensitive_registers
from vergen_base import Alu, Asm, Call, Exit, Load, LoadImm64, MapDef, Store, VerProg

PRANDOM = 7


def _warm_up(a: Asm) -> None:
    """Enough instructions that the kernel's checkpoint heuristic (2 jumps, 8 insns since
    the last one) stores a state at the join, so pruning is tried there."""
    a.put(*[Alu("mov", True, 8, imm=k) for k in range(8)])


def _diamond_then(a: Asm, store) -> int:
    """``r3`` is 0 on the first explored path and 1000 on the second; then ``store``;
    returns the pc of the join."""
    hi, join = a.label(), a.label()
    _warm_up(a)
    a.put(Call(0, PRANDOM), Alu("mov", True, 3, imm=0))
    a.jmp("jgt", 0, hi, imm=100)
    a.goto(join)
    a.at(hi)
    a.put(Alu("mov", True, 3, imm=1000))
    a.at(join)
    store(a)


def _spill_through_copy(a: Asm) -> None:
    ok = a.label()
    a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-8),
          Store(8, 2, 0, src=3),                      # through a copy of r10
          Load(8, 4, 10, -8))                         # ... and back
    a.jmp("jne", 4, ok, imm=1000)
    a.put(Alu("mov", True, 0, src=7))                 # R7 !read_ok on the 1000 path only
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())


def _store_to_map(a: Asm) -> None:
    a.ldmap(1, "arr", value_off=0)  # the map value's address
    a.put(Store(8, 1, 0, src=3), Alu("mov", True, 0, imm=0), Exit())


def _prog(store, maps=None) -> VerProg:
    a = Asm()
    _diamond_then(a, store)
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, maps or {})


def test_value_spilled_through_a_stack_pointer_copy_stays_precise():
    _rejects_r7(_prog(_spill_through_copy))


def _rejects_r7(vp: VerProg) -> None:
    """Both verifiers refuse the read of r7 on the r3 == 1000 path."""
    obj, prog = vp.model()
    v = check_program(obj, prog, log=False)
    assert not v.accepted and "R7 !read_ok" in v.error.message
    ok, _ = available()
    if ok:
        k = vp.kernel_verify()
        assert not k.ok and "R7 !read_ok" in k.log


def test_value_stored_to_a_map_does_not_block_pruning():
    vp = _prog(_store_to_map, {"arr": MapDef("arr", 2, 4, 8, 1, origin="legacy")})
    obj, prog = vp.model()
    sens = sensitive_registers(prog)
    store_pc = next(pc for pc, i in prog.by_pc().items() if isinstance(i, Store))
    assert 3 not in sens[store_pc - 2]  # before the ld_imm64 of the map
    full = check_program(obj, prog, log=False, prune=False)
    v = check_program(obj, prog, log=False)
    assert v.accepted and full.accepted
    assert v.stats.insns_processed < full.stats.insns_processed
    ok, why = available()
    if ok:
        assert vp.kernel_verify().ok


def test_alu32_add_source_is_not_precise_but_alu64_is():
    for is64, expect in ((False, False), (True, True)):
        a = Asm()
        a.put(Alu("mov", True, 2, imm=1), Alu("mov", True, 0, imm=0),
              Alu("add", is64, 0, src=2), Alu("mov", True, 0, imm=0), Exit())
        insns, refs = a.build()
        _, prog = VerProg("socket_filter", insns, refs, {}).model()
        assert (2 in sensitive_registers(prog)[2]) is expect


def test_subprogram_arguments_may_point_to_the_stack():
    """A subprogram storing through its argument: the caller's stack slot comes back."""
    a = Asm()
    ok = a.label()
    _diamond_then(a, lambda a: None)
    a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-8),
          Alu("mov", True, 2, src=3))
    a.call_sub("sub")
    a.put(Load(8, 4, 10, -8))
    a.jmp("jne", 4, ok, imm=1000)
    a.put(Alu("mov", True, 0, src=7))
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())
    a.at("sub")
    a.put(Store(8, 1, 0, src=2), Alu("mov", True, 0, imm=0), Exit())
    insns, refs = a.build()
    _rejects_r7(VerProg("socket_filter", insns, refs, {}))


def test_dead_registers_do_not_block_pruning():
    """r3/r4 are written on one side of each diamond only and never read: the kernel
    prunes the other side at the join (no read mark), and so do we (liveness)."""
    from bench.verifier_synth import branches
    from model.verifier.liveness import live_registers

    _, vp = branches(6)
    obj, prog = vp.model()
    live = live_registers(prog)
    assert all(3 not in live[pc] and 4 not in live[pc] for pc in live)
    assert 6 in live[1] and 0 in live[max(live)] and 6 not in live[max(live)]
    v = check_program(obj, prog, log=False)
    full = check_program(obj, prog, log=False, prune=False)
    assert v.accepted and full.accepted
    ok, _ = available()
    if ok:
        k = vp.kernel_verify()
        assert k.ok and v.stats.insns_processed <= k.insns_processed


def test_a_live_register_read_on_one_path_only_still_blocks_pruning():
    """r7 is set on the first explored path only and read after the join: the second
    path (r7 uninitialised) must not be pruned."""
    a = Asm()
    hi, join = a.label(), a.label()
    _warm_up(a)
    a.put(Call(0, PRANDOM))
    a.jmp("jgt", 0, hi, imm=100)
    a.put(Alu("mov", True, 7, imm=1))
    a.goto(join)
    a.at(hi)
    a.put(Alu("mov", True, 1, imm=2))
    a.at(join)
    a.put(Alu("mov", True, 0, src=7), Exit())
    insns, refs = a.build()
    _rejects_r7(VerProg("socket_filter", insns, refs, {}))


def test_helper_calls_read_only_their_prototype_arguments():
    """bpf_get_prandom_u32 takes no argument: r3 (1 or 2 on the two sides of each diamond)
    is dead at the next call, so the kernel prunes there, and so do we."""
    from bench.verifier_synth import helper_branches
    from model.verifier.liveness import live_registers
    from model.verifier.sensitivity import call_args

    _, vp = helper_branches(5)
    obj, prog = vp.model()
    assert call_args(Call(0, PRANDOM), "socket_filter") == frozenset()
    assert call_args(Call(1, 3), "socket_filter") == frozenset(range(1, 6))  # bpf-to-bpf
    assert all(3 not in s for s in live_registers(prog).values())
    v = check_program(obj, prog, log=False)
    ok, _ = available()
    if ok:
        k = vp.kernel_verify()
        assert k.ok and v.accepted and v.stats.insns_processed <= k.insns_processed


def _slot_diamond(read) -> VerProg:
    """fp-16 holds 0 on the first explored path and 1000 on the second; then ``read``."""
    a = Asm()
    hi, join = a.label(), a.label()
    _warm_up(a)
    a.put(Call(0, PRANDOM), Store(8, 10, -16, imm=0), Store(8, 10, -24, imm=0))
    a.jmp("jgt", 0, hi, imm=100)
    a.goto(join)
    a.at(hi)
    a.put(Store(8, 10, -16, imm=1000))
    a.at(join)
    read(a)
    insns, refs = a.build()
    return VerProg("socket_filter", insns, refs, {})


def _use_r4(a: Asm) -> None:
    ok = a.label()
    a.jmp("jne", 4, ok, imm=1000)
    a.put(Alu("mov", True, 0, src=7))  # R7 !read_ok when r4 == 1000
    a.at(ok)
    a.put(Alu("mov", True, 0, imm=0), Exit())


def test_a_stack_slot_read_through_a_pointer_copy_stays_live():
    def read(a):
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-16), Load(8, 4, 2, 0))
        _use_r4(a)
    _rejects_r7(_slot_diamond(read))


def test_a_stack_slot_read_directly_stays_live():
    def read(a):
        a.put(Load(8, 4, 10, -16))
        _use_r4(a)
    _rejects_r7(_slot_diamond(read))


def test_dead_stack_slots_do_not_block_pruning():
    from model.verifier.liveness import live_slots

    def read(a):  # reads the other slot (0 on both paths)
        a.put(Load(8, 4, 10, -24))
        _use_r4(a)
    vp = _slot_diamond(read)
    obj, prog = vp.model()
    slots = live_slots(prog)
    join = next(pc for pc, i in prog.by_pc().items() if isinstance(i, Load))
    assert slots[join] == frozenset({2})  # fp-24 (slot 2) only; fp-16 (slot 1) is dead
    v = check_program(obj, prog, log=False)
    full = check_program(obj, prog, log=False, prune=False)
    assert v.accepted and full.accepted
    assert v.stats.insns_processed < full.stats.insns_processed
    ok, _ = available()
    if ok:
        assert vp.kernel_verify().ok


def test_write_only_helper_memory_is_not_a_stack_read():
    """probe_read_kernel's destination (ARG_PTR_TO_UNINIT_MEM) is written, not read: a
    stack pointer there does not make every slot live; a map key pointer does."""
    from model.verifier.liveness import _memory_read_args

    assert 1 not in _memory_read_args(Call(0, 113), "socket_filter")
    assert _memory_read_args(Call(0, 1), "socket_filter") == frozenset({1, 2})
    assert _memory_read_args(Call(1, 3), "socket_filter") == frozenset(range(1, 6))
