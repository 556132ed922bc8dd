"""The abstract verifier's shortcuts answer what the full code answers: ``fails_alone``
(a register or slot that alone fails means ``covers`` fails; remembered per stored state,
``fails_alone_memo``, it answers as computed afresh), the precision walk's skip of
instructions that touch no marked register (``_back`` would change nothing), and the
per-pc record that skips ``Stepper.check`` where it can refuse nothing."""

from __future__ import annotations

from pathlib import Path

from model.elf.loader import load_object
from model.isa.insn import Alu, Exit
from model.verifier import checker as C
from model.verifier import state as S
from model.verifier.backtrack import Tracker, _regs_only, _Walk
from model.verifier.memcheck import Reject
from model.verifier.step import _INITIALIZED, _REFUSE, Stepper
from model.verifier.explore import Assertions

DATAPATH = Path(__file__).resolve().parent.parent / "bpfprogs" / "datapath" / "datapath.o"
PROGS = ("dp_xdp_v4", "dp_tc_egress")


def _covers_calls(monkeypatch):
    """Every (old, new, care, live, slots, prec, untouched) ``covers`` is asked while
    checking two of the datapath's programs, with a copy of ``new`` as it was then, and
    the answer."""
    calls = []
    real = S.covers

    def spy(old, new, care=None, live=None, slots=None, prec=None, failed=None,
            untouched=None):
        got = real(old, new, care, live, slots, prec, failed, untouched=untouched)
        calls.append((old, new.copy(), care, live, slots, prec, untouched, got))
        return got

    monkeypatch.setattr(C, "covers", spy)
    _check_progs()
    return calls


def _check_progs() -> None:
    obj = load_object(str(DATAPATH))
    for p in obj.programs:
        if p.name in PROGS:
            assert C.check_program(obj, p, log=False).accepted


def test_a_place_failing_alone_means_covers_fails(monkeypatch):
    calls = _covers_calls(monkeypatch)
    assert len(calls) > 100
    alone = 0
    for old, new, care, live, slots, prec, untouched, got in calls:
        places = [("r", i) for i in range(11)]
        places += [("s", k) for k in old.cur.stack.keys() | new.cur.stack.keys()]
        for at in places:
            if S.fails_alone(old, new, at, care, live, slots, prec, untouched):
                alone += 1
                assert not got, (at, old.pc)
        if not got:  # covers() reports an innermost frame's place, or none
            failed: list = []
            assert not S.covers(old, new, care, live, slots, prec, failed,
                                untouched=untouched)
            assert failed == [] or failed[0][0] in ("r", "s")
    assert alone > 0


def test_the_walk_skips_only_instructions_that_change_nothing():
    obj = load_object(str(DATAPATH))
    prog = next(p for p in obj.programs if p.name == "dp_xdp_v4")
    tracker = Tracker(prog, True)
    seen = 0
    for pc, insn in prog.by_pc().items():
        quiet = _regs_only(insn)
        if quiet is None:
            continue
        seen += 1
        w = _Walk(set(range(11)) - quiet, {0, 3, 7}, 0)
        assert tracker._back((pc, None), w)
        assert (w.regs, w.slots, w.outer) == (set(range(11)) - quiet, {0, 3, 7}, {})
    assert seen > 100


def test_check_is_skipped_only_where_it_refuses_nothing():
    """Where an instruction's plan is empty (the loop skips ``check``) no assertion
    ``check`` decides is there, it is no exit and an immediate divisor or shift is valid;
    elsewhere ``check`` refuses a state with every register unset where the plan reads a
    register (or refuses outright)."""
    obj = load_object(str(DATAPATH))
    prog = next(p for p in obj.programs if p.name == "dp_xdp_v4")
    stepper = Stepper(obj, prog)
    asserts = Assertions(prog)
    skipped = checked = 0
    for pc, insn in prog.by_pc().items():
        plan = Stepper.plan(insn, asserts[pc])
        if not plan:
            skipped += 1
            assert not any(Stepper.decides(a) for a in asserts[pc]), (pc, insn)
            assert not isinstance(insn, Exit), pc
            if isinstance(insn, Alu) and insn.src is None:
                assert insn.op not in ("div", "mod", "sdiv", "smod") or insn.imm != 0
            continue
        checked += 1
        st = stepper.entry()
        st.cur.regs[:] = [S.NOT_INIT] * 11  # every register unset: any read fails
        refuses = any(step == _REFUSE or (step == _INITIALIZED and a.applies(1))
                      for step, _, a in plan)
        try:
            stepper.check(st, pc, insn, plan)
        except Reject:
            continue
        assert not refuses, (pc, insn, plan)
    assert skipped > 50 and checked > 50


def test_the_fails_alone_shortcut_prunes_and_evicts_as_covers(monkeypatch):
    """A stored state skipped by ``fails_alone`` counts a miss exactly when ``covers``
    failing would (only where a state is to be stored): the processed instructions and
    stored states are those of the code without the shortcut (a miss counted on every
    skip evicted useful states: 7,251 -> 21,192 instructions on a real kprobe program)."""
    obj = load_object(str(DATAPATH))
    with_shortcut = {p.name: C.check_program(obj, p, log=False).stats for p in obj.programs}
    monkeypatch.setattr(C, "fails_alone_memo", lambda *a, **k: False)
    for p in obj.programs:
        s = C.check_program(obj, p, log=False).stats
        ref = with_shortcut[p.name]
        assert (s.insns_processed, s.peak_states) == (ref.insns_processed, ref.peak_states), p.name


def test_the_remembered_fails_alone_answers_as_computed_afresh(monkeypatch):
    """``fails_alone_memo`` answers from its memo only what ``fails_alone`` would answer
    on the same inputs (checked on every call while verifying two datapath programs)."""
    real, calls, hits = S.fails_alone_memo, [], []

    def spy(memo, old, new, at, care=None, live=None, slots=None, prec=None,
            untouched=None):
        before = list(memo)
        got = real(memo, old, new, at, care, live, slots, prec, untouched)
        hits.append(before == memo)  # (a hit leaves the memo as it was)
        assert got == S.fails_alone(old, new, at, care, live, slots, prec, untouched), (
            at, old.pc)
        calls.append(got)
        return got

    monkeypatch.setattr(C, "fails_alone_memo", spy)
    _check_progs()
    assert len(calls) > 100 and any(hits) and any(calls)


def test_the_loop_check_keyed_by_registers_finds_what_fingerprints_find(monkeypatch):
    """``State.regs_key`` only spares building fingerprints (equal fingerprints have equal
    registers): with one key for every state, each lookup builds the fingerprint as before
    the key; the verdicts, messages, processed instructions and stored states are the same,
    loops and an infinite loop included."""
    from test_verifier import _prog

    obj = load_object(str(DATAPATH))
    loops = load_object(str(DATAPATH.parent.parent / "loop_site.o"))
    runs = [(obj, p) for p in obj.programs] + [(loops, p) for p in loops.programs] + [
        _prog("r0 = 0x0\nr1 = 0x0\nr0 += r1\nr1 += 0x1\nif r1 < 0xa goto -0x3\nexit"),
        _prog("r0 = 0x0\nif r0 == 0x0 goto -0x1\nexit")]

    def verdicts():
        out = []
        for o, p in runs:
            v = C.check_program(o, p, log=False)
            out.append((p.name, v.verdict, str(v.error), v.stats.insns_processed,
                        v.stats.states))
        return out

    keyed = verdicts()
    assert "infinite loop" in keyed[-1][2]
    monkeypatch.setattr(S.State, "regs_key", lambda self: ())
    assert verdicts() == keyed
