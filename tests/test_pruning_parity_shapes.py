"""Pruning as the kernel's, continued (tests/test_pruning_kernel_parity.py): programs in
the shape of real code (linux samples, tetragon) where skv once processed far more
instructions than Linux 6.18, one per cause found, each with an unsafe twin where the
difference that pruning now ignores does matter."""

from __future__ import annotations

from model.isa import LegacyLoad
from model.verifier.checker import check_program
from test_pruning_kernel_parity import KERNEL_OK, MAX_RATIO, PRANDOM, _check, _pad, _prog
from vergen_base import Alu, Asm, Call, Exit, Load, Store, VerProg


# -- LD_IND's offset register is not precise (check_ld_abs only checks it is set) ----------
def _ld_ind_program(unsafe: bool) -> VerProg:
    """sockex2's header walk: four stages, each adding a header's length to the offset
    in r7 (one of two lengths, on the two sides of a random test), then reading the packet
    at it with LD_IND. The offset's value matters to no check (the load's bounds are
    checked when it runs), so the states at each join are equivalent. ``unsafe``: the
    offset also indexes the stack at the end, out of bounds on one side."""
    a = Asm()
    a.put(Alu("mov", True, 6, src=1), Alu("mov", True, 7, imm=0))
    for stage in range(4):
        other, join = a.label(), a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, other, imm=7)
        a.put(Alu("add", True, 7, imm=-16))
        a.jmp("ja", 0, join)
        a.at(other)
        a.put(Alu("add", True, 7, imm=80 if unsafe and stage == 3 else -8))
        a.at(join)
        _pad(a)
        a.put(LegacyLoad(2, "ind", 7, 0))
    if unsafe:
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, src=7), Load(1, 0, 2, 0))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_an_ld_ind_offset_does_not_stop_pruning():
    _check(_ld_ind_program(False), True)


def test_an_ld_ind_offset_used_later_as_a_stack_index_is_compared():
    _check(_ld_ind_program(True), False, "invalid")


# -- a copy of a "rX += const" scalar drops the link (assign_scalar_id_before_mov) --------
def _spilled_add_const_program(unsafe: bool) -> VerProg:
    """tetragon's filter loops: ``r2 = r3; r2 += 8`` (r2 linked to r3 plus 8), r2 spilled,
    then six diamonds on random values, then the spilled value indexes the stack (so it
    is precise). The kernel gives the spilled copy a fresh id without the ``+8`` link, so
    the stored states at the joins (whose lone ids are dropped) cover the later ones.
    ``unsafe``: one side of the third diamond spills 200 there instead, out of bounds."""
    a = Asm()
    a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=63), Alu("mov", True, 3, src=0),
          Alu("mov", True, 2, src=3), Alu("add", True, 2, imm=8), Store(8, 10, -16, src=2))
    for k in range(6):
        skip = a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=7)
        a.put(Alu("mov", True, 1, imm=200 if unsafe and k == 2 else 1))
        if unsafe and k == 2:
            a.put(Store(8, 10, -16, src=1))
        a.at(skip)
        _pad(a)
    a.put(Load(8, 1, 10, -16), Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-128),
          Alu("add", True, 2, src=1), Store(1, 2, 0, imm=0))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_spilled_copy_of_an_add_const_scalar_does_not_stop_pruning():
    _check(_spilled_add_const_program(False), True)


def test_an_out_of_bounds_spilled_value_is_compared():
    _check(_spilled_add_const_program(True), False, "invalid")


# -- a callee's reads of its caller's stack make the slots live at the call ------------------
LOOP = 181  # bpf_loop


def _callee_reads_program(via: str, unsafe: bool) -> VerProg:
    """tetragon's filters (bpf_loop, subprograms): fp-16 = 0 and fp-8 = 8, six diamonds
    spilling other values to fp-8 on one side, then a call (``via`` "subprog" or
    "bpf_loop") whose callee reads the caller's stack through the pointer fp-16 it is
    given. The safe callee reads only fp-16, so fp-8 is dead at the joins; ``unsafe``:
    it reads fp-8 too and indexes its own stack with it, out of bounds for the 200 one
    diamond spills."""
    a = Asm()
    callee = a.label()
    a.put(Alu("mov", True, 6, imm=0), Store(8, 10, -16, src=6), Alu("mov", True, 6, imm=8),
          Store(8, 10, -8, src=6))
    for k in range(6):
        skip = a.label()
        a.put(Call(0, PRANDOM))
        a.jmp("jgt", 0, skip, imm=7)
        a.put(Alu("mov", True, 1, imm=200 if unsafe and k == 2 else 16 + 8 * k),
              Store(8, 10, -8, src=1))
        a.at(skip)
        _pad(a)
    if via == "subprog":
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16))
        a.call_sub(callee)
        a.put(Alu("mov", True, 0, imm=0), Exit())
    else:
        a.put(Alu("mov", True, 1, imm=2))
        a.ldfunc(2, callee)
        a.put(Alu("mov", True, 3, src=10), Alu("add", True, 3, imm=-16),
              Alu("mov", True, 4, imm=0), Call(0, LOOP), Alu("mov", True, 0, imm=0), Exit())
    ctx = 1 if via == "subprog" else 2  # the register holding fp-16 in the callee
    a.at(callee)
    a.put(Load(8, 0, ctx, 0))
    if unsafe:
        a.put(Load(8, 3, ctx, 8), Alu("mov", True, 4, src=10), Alu("add", True, 4, imm=-64),
              Alu("add", True, 4, src=3), Store(1, 4, 0, imm=0))
    a.put(Alu("mov", True, 0, imm=0), Exit())
    return _prog(a)


def test_a_caller_slot_no_subprogram_reads_does_not_stop_pruning():
    _check(_callee_reads_program("subprog", False), True)


def test_a_caller_slot_a_subprogram_reads_is_compared():
    _check(_callee_reads_program("subprog", True), False, "invalid")


def _with_func_info(vp: VerProg):
    """The program with BTF func info (one FUNC per function: bpf_loop's callback needs
    it), and the kernel's LoadResult for it (None without a kernel)."""
    from model.cfg.graph import func_starts
    from model.kernel.objload import load_program

    obj, prog = vp.model()
    prog.func_names = {pc: f"f{pc}" for pc in func_starts(prog)}
    if not KERNEL_OK:
        return obj, prog, None
    res = load_program(obj, prog)
    res.close()
    return obj, prog, res


def test_a_caller_slot_a_loop_callback_reads_is_compared():
    for unsafe in (False, True):
        obj, prog, k = _with_func_info(_callee_reads_program("bpf_loop", unsafe))
        ours = check_program(obj, prog, log=False)
        full = check_program(obj, prog, log=False, prune=False)
        assert ours.accepted == full.accepted == (not unsafe), (ours.error, full.error)
        if k is not None:
            assert k.ok == (not unsafe), k.log[-600:]
            if not unsafe:
                assert ours.stats.insns_processed <= MAX_RATIO * k.insns_processed, (
                    ours.stats.insns_processed, k.insns_processed)
