"""Loose marks expire as the kernel's back-edges do (model.verifier.backedges): a state
pruned at a loop head (a bpf_loop call site, a may_goto) by one still being explored makes
every value of its path count (loose marks) only until the loop's visit is explored in
full; then the back-edges carry the old states' final marks over and the loose marks are
dropped, as Linux 6.17+ compares states by their precision again after
propagate_backedges. Shape: Tetragon's generic_*_process_event (bench/results/
real_corpora_tetragon_insns.md): a second path reaches the loop with a caller slot that
differs but is never used; the kernel prunes it before the loop, skv kept exploring it
(the first path's checkpoints before the loop held loose marks for good). Each program is
judged by the running kernel (verdict and processed instructions) and by full
exploration; each has an unsafe twin where the differing slot does matter."""

from __future__ import annotations

import pytest

from callback_probes import CbProbe, kernel_load
from model.kernel import available
from model.verifier.backedges import Visits, scc_of
from model.verifier.checker import Checker, check_program

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
FULL_BUDGET = 100_000

_START = ("call 7\nr7 = r0\nr1 = 0\n*(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 16) = r1\n"
          "*(u64 *)(r10 - 24) = r1\n")
#: the second path (explored after the first) keeps fp-24 = {late}; the first sets 5
_TWO_PATHS = "if r7 > 1000 goto +2\nr1 = 5\n*(u64 *)(r10 - 24) = r1\n"
_ONE_PATH = _TWO_PATHS.split("\n", 1)[1]  # the first path alone
#: fp-{slot} as a stack index after the loop: out of bounds from 64 on
_USE = "r1 = *(u64 *)(r10 - {slot})\nr2 = r10\nr2 += -64\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n"
_EXIT = "r0 = 0\nexit\n"
#: a callback that copies the caller's fp-24 to its fp-8 on one of two paths
_CB = ("cb:\nr6 = r2\ncall 7\nif r0 > 100 goto +2\nr3 = *(u64 *)(r6 - 8)\n"
       "*(u64 *)(r6 + 8) = r3\n" + _EXIT)
#: the same copy in a may_goto loop
_MAY_GOTO = ("loop:\nmay_goto out\ncall 7\nif r0 > 100 goto +2\nr3 = *(u64 *)(r10 - 24)\n"
             "*(u64 *)(r10 - 8) = r3\ngoto loop\nout:\n")


def _bpf_loop(paths: bool, late: int = 0, use: int | None = None) -> CbProbe:
    text = (_START if late == 0 else _start_late(late)) + (_TWO_PATHS if paths else _ONE_PATH)
    text += "r1 = 3\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n"
    text += (_USE.format(slot=use) if use is not None else "") + _EXIT + _CB
    return CbProbe("backedge_loop", "xdp", text)


def _may_goto(paths: bool, late: int = 0, use: int | None = None) -> CbProbe:
    text = (_START if late == 0 else _start_late(late)) + (_TWO_PATHS if paths else _ONE_PATH)
    text += _MAY_GOTO + (_USE.format(slot=use) if use is not None else "") + _EXIT
    return CbProbe("backedge_may_goto", "xdp", text)


def _start_late(late: int) -> str:
    return _START + f"r1 = {late}\n*(u64 *)(r10 - 24) = r1\n"


def _ours(p: CbProbe):
    obj, prog = p.model()
    return check_program(obj, prog, log=False)


def _check(p: CbProbe, accepted: bool, why: str = "") -> None:
    """skv's verdict, full exploration's (unless out of budget) and the kernel's agree."""
    obj, prog = p.model()
    ours = check_program(obj, prog, log=False)
    assert ours.accepted == accepted, (p.text, ours.error)
    if not accepted:
        assert why in ours.error.message, ours.error
    full = check_program(obj, prog, log=False, prune=False, budget=FULL_BUDGET)
    if full.accepted or "too large" not in full.error.message:
        assert full.accepted == accepted, (p.text, full.error)
    if available()[0]:
        assert kernel_load(obj, prog).ok == accepted


def _second_path_cost(make) -> tuple[int, int]:
    """What the second path costs skv and the kernel: the processed instructions with both
    paths less those with the first alone."""
    both, one = make(True), make(False)
    ours = _ours(both).stats.insns_processed - _ours(one).stats.insns_processed
    theirs = (kernel_load(*both.model()).insns_processed
              - kernel_load(*one.model()).insns_processed)
    return ours, theirs


@needs_kernel
@pytest.mark.parametrize("make", [_bpf_loop, _may_goto], ids=["bpf_loop", "may_goto"])
def test_a_second_path_is_pruned_before_a_finished_loop(make):
    """The second path reaches the join before the loop once the first path's loop is
    explored in full: pruned there (fp-24 differs, no value of it matters), at the
    kernel's cost (a few instructions), not explored through the loop again."""
    _check(make(True), True)
    ours, theirs = _second_path_cost(make)
    assert theirs <= 3, theirs  # (the kernel prunes it at once)
    assert ours <= theirs + 2, (ours, theirs)


@pytest.mark.parametrize("make", [_bpf_loop, _may_goto], ids=["bpf_loop", "may_goto"])
def test_the_second_paths_value_used_after_the_loop_is_checked(make):
    """Unsafe twin: fp-24 of the second path (100) indexes the stack after the loop: the
    first path marks it precise, the second is explored and refused."""
    _check(make(True, late=100, use=24), False, "invalid read from stack")


@pytest.mark.parametrize("make", [_bpf_loop, _may_goto], ids=["bpf_loop", "may_goto"])
def test_a_value_the_loop_copies_is_checked_after_it(make):
    """Unsafe twin: the loop copies fp-24 to fp-8 (the callback's ctx + 8, or in the
    may_goto loop's body), fp-8 indexes the stack after the loop: 5 on the first path,
    100 on the second: refused (the precision reaches the join through the loop)."""
    _check(make(True, late=100, use=8), False, "invalid read from stack")


@pytest.mark.parametrize("make", [_bpf_loop, _may_goto], ids=["bpf_loop", "may_goto"])
def test_loose_marks_are_dropped_once_the_loop_is_explored(make):
    """After the run no stored state keeps a loose mark: every visit that received a
    back-edge was closed and its back-edges carried over."""
    obj, prog = make(True).model()
    ch = Checker(obj, prog, log=False)
    assert ch.run().accepted
    assert ch.visits.expired >= 1
    assert not ch.visits.backedges and not ch.visits.hot
    assert not ch.tracker.loose_made


def test_a_callback_call_site_is_a_loop_of_its_own():
    """compute_scc: a bpf_loop call site not in any loop is its own component; a may_goto
    loop's instructions share one; the instructions outside loops have none."""
    obj, prog = _bpf_loop(False).model()
    call = next(pc for pc, i in prog.iter_pcs() if getattr(i, "imm", None) == 181)
    sccs = scc_of(prog, {call})
    assert set(sccs) == {call}
    obj, prog = _may_goto(False).model()
    sccs = scc_of(prog, set())
    assert len(set(sccs.values())) == 1 and len(sccs) == 6  # may_goto .. goto loop
    v = Visits(prog, set(), Checker(obj, prog, log=False).tracker)
    assert v.chain(Checker(obj, prog, log=False).stepper.entry()) is None


# -- a loop body's state takes the marks its loop head gained after the body's back-edge -----
def _late_mark(late: int) -> CbProbe:
    """A may_goto loop whose body splits: the first side (explored first) sets the gate
    fp-32 = 1 and goes back to the loop head, equal to it (a back-edge while the head is
    still being explored); the second side, when the gate is set, indexes the stack with
    fp-24: the loop head gains fp-24's mark only then, after the first side's back-edge.
    The first path into the loop has gate 1 and fp-24 = 5; the second (explored after the
    first path's loop is done) gate 0 and fp-24 = ``late``: only the first side can set
    its gate, so only a state at the first side's checkpoint (after the split) reaches the
    index on a later pass; that checkpoint holds fp-24's mark only through the back-edge
    (the kernel's propagate_backedges)."""
    text = "r1 = 0\n" + "".join(f"*(u64 *)(r10 - {8 * s}) = r1\n" for s in range(1, 9))
    text += f"r1 = {late}\n*(u64 *)(r10 - 24) = r1\n"
    text += ("call 7\nif r0 > 1000 goto +4\nr1 = 1\n*(u64 *)(r10 - 32) = r1\nr1 = 5\n"
             "*(u64 *)(r10 - 24) = r1\n")
    text += "loop:\nmay_goto out\ncall 7\nif r0 > 100 goto gated\n"
    # (enough instructions for both verifiers to store a state at the call after them)
    text += "".join(f"r{3 + k % 3} = {k}\n" for k in range(8))
    text += "call 7\nr1 = 1\n*(u64 *)(r10 - 32) = r1\ngoto loop\n"
    text += ("gated:\nr1 = *(u64 *)(r10 - 32)\nif r1 == 0 goto loop\n" + _USE.format(slot=24)
             + "goto loop\nout:\n" + _EXIT)
    return CbProbe("backedge_late_mark", "xdp", text)


def test_a_body_state_takes_a_mark_its_loop_head_gained_later():
    _check(_late_mark(3), True)
    if available()[0]:
        theirs = kernel_load(*_late_mark(3).model()).insns_processed
        assert _ours(_late_mark(3)).stats.insns_processed * 1.5 >= theirs


def test_a_late_mark_missed_would_accept_an_unsafe_loop(monkeypatch):
    """Unsafe twin: the second path's fp-24 (100) is out of bounds. Refused; with the
    loose marks dropped but the back-edges not carried over, the second path's state at
    the first side's checkpoint would be pruned there and the program accepted."""
    _check(_late_mark(100), False, "invalid read from stack")
    import model.verifier.backedges as backedges

    monkeypatch.setattr(backedges, "carry_marks", lambda *a, **k: None)
    assert _ours(_late_mark(100)).accepted  # (what the back-edges prevent)


def _late_mark_callback(late: int) -> CbProbe:
    """``_late_mark`` with bpf_loop: the callback's first side sets the caller's gate
    (fp-32, the ctx's -16), the second, when it is set, indexes the caller's stack with
    the caller's fp-24 (the ctx's -8) through the ctx pointer."""
    text = "r1 = 0\n" + "".join(f"*(u64 *)(r10 - {8 * s}) = r1\n" for s in range(1, 9))
    text += f"r1 = {late}\n*(u64 *)(r10 - 24) = r1\n"
    text += ("call 7\nif r0 > 1000 goto +4\nr1 = 1\n*(u64 *)(r10 - 32) = r1\nr1 = 5\n"
             "*(u64 *)(r10 - 24) = r1\n")
    text += "r1 = 3\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n" + _EXIT
    text += "cb:\nr6 = r2\ncall 7\nif r0 > 100 goto gated\n"
    text += "".join(f"r{3 + k % 3} = {k}\n" for k in range(8))
    text += "call 7\nr1 = 1\n*(u64 *)(r6 - 16) = r1\n" + _EXIT
    text += ("gated:\nr1 = *(u64 *)(r6 - 16)\nif r1 == 0 goto ret\nr1 = *(u64 *)(r6 - 8)\n"
             "r2 = r6\nr2 += -48\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nret:\n" + _EXIT)
    return CbProbe("backedge_late_mark_cb", "xdp", text)


def test_a_callback_body_state_takes_a_mark_its_call_site_gained_later(monkeypatch):
    """The same in a bpf_loop callback: the second path's fp-24 (100) read out of the
    caller's stack on a later iteration is refused, as full exploration refuses it. (Linux
    6.18 accepts this program, 78 instructions: it prunes the second path at the callback's
    second call 7, its checkpoint there without fp-24's mark; skv refuses it on purpose.)
    With the back-edges not carried over skv would accept it too."""
    obj, prog = _late_mark_callback(100).model()
    ours = check_program(obj, prog, log=False)
    assert not ours.accepted and "invalid read from stack" in ours.error.message
    full = check_program(obj, prog, log=False, prune=False, budget=FULL_BUDGET)
    assert not full.accepted and "invalid read from stack" in full.error.message
    assert _ours(_late_mark_callback(3)).accepted
    if available()[0]:  # the kernel's prune (its log: "safe" inside the callback)
        k = kernel_load(*_late_mark_callback(100).model())
        assert k.ok and "safe" in k.log, k.log[-600:]
    import model.verifier.backedges as backedges

    monkeypatch.setattr(backedges, "carry_marks", lambda *a, **k: None)
    assert _ours(_late_mark_callback(100)).accepted  # (what the back-edges prevent)
