"""The abstract verifier's exploration bookkeeping (``model.verifier.checker``): stored
states and their branch counts (``Node``), the paths being explored, the per-pc records
the exploration loop reads, the kernel's prune points, and the loop rule at a may_goto."""

from __future__ import annotations

import itertools

from model.isa import (Atomic, Call, CallX, Exit, Jump, Load, LoadAcquire, LoadImm64, MayGoto,
                       Store, StoreRelease)
from model.program import PSEUDO_FUNC, Program
from model.verifier.assertions import assertions
from model.verifier.backtrack import Tracker
from model.verifier.marks import Marks
from model.verifier.state import EMPTY, State, covers, slot_covers
from model.verifier.step import Stepper

_SEQ = itertools.count()
JMP_CLASS = (Jump, Call, CallX, Exit, MayGoto)  # counted as the kernel's jmps_processed
MEMORY = (Load, Store, Atomic, LoadAcquire, StoreRelease)  # (exact classes)


class Node:
    """A stored state; ``branches`` counts the unfinished paths and children below it."""

    __slots__ = ("parent", "branches", "complete", "state", "trail", "marks", "hits",
                 "misses", "failed", "alone", "seq", "evicted")

    def __init__(self, parent: "Node | None", state: State, trail):
        self.seq = next(_SEQ)  # the order states are stored in (the kernel's list order)
        self.parent = parent
        self.branches = 1
        self.complete = False
        self.state = state
        self.trail = trail  # the path's pcs before this state (``precision.Tracker``)
        self.marks = Marks()  # its values found to matter (``model.verifier.backtrack``)
        self.hits = self.misses = 0  # prunings it made / failed (the kernel's eviction)
        self.failed: list = []  # where covers() failed against it (state.fails_alone)
        self.alone: list = []  # fails_alone's last inputs and answer (fails_alone_memo)
        self.evicted = False  # dropped by is_state_visited's eviction (``evict``)


def path_ended(node: Node | None, open_at: dict[int, int]) -> None:
    """One path below ``node`` ended; a node whose subtree is fully explored becomes
    ``complete``: a state that prunes (``open_at``: pc -> the stored states still being
    explored, for the infinite-loop and may_goto lookups)."""
    while node is not None:
        node.branches -= 1
        if node.branches:
            return
        node.complete = True
        if not node.evicted:  # (an evicted one left the count when it was dropped)
            open_at[node.state.pc] -= 1
        node = node.parent


def evict(node: Node, open_at: dict[int, int]) -> None:
    """is_state_visited's eviction of a stored state that keeps failing to prune (the
    caller drops it from its list); still being explored, it leaves the count of open
    states now."""
    node.evicted = True
    if not node.complete:
        open_at[node.state.pc] -= 1


class Path:
    """A path being explored (its own ``__init__``: a dataclass's is interpreted code even
    when this module is compiled, and a path is made at every branch)."""

    state: State
    node: Node | None
    trail: tuple | None  # (pc, previous trail): the pcs of this path, for the error log
    hist: int  # its jump history entries since its last stored state (``history``)

    def __init__(self, state: State, node: Node | None, trail: tuple | None,
                 hist: int = 0) -> None:
        self.state, self.node, self.trail, self.hist = state, node, trail, hist


#: (program type, instruction) -> its assertions ``Stepper.check`` decides, and its
#: ``Steps`` record: both depend on nothing else, so they are computed once per process
#: (a check's first visit of each pc was a tenth of a small program's time); dropped
#: whole at ``_BY_INSN_MAX`` entries
_ASSERTS_BY_INSN: dict = {}
_STEP_BY_INSN: dict = {}
_BY_INSN_MAX = 1 << 16


def _remember(memo: dict, key, value):
    if len(memo) >= _BY_INSN_MAX:
        memo.clear()
    memo[key] = value
    return value


class Assertions(dict):
    """pc -> the instruction's assertions that ``Stepper.check`` decides (the transfer
    functions check the others), computed on first use (once per distinct instruction
    and program type: they depend on nothing else here; the lists are only read)."""

    def __init__(self, prog: Program):
        super().__init__()
        self.prog, self.ptype, self.by_pc = prog, prog.prog_type, prog.by_pc()

    def __missing__(self, pc: int):
        insn = self.by_pc[pc]
        key = (self.ptype, insn)
        got = _ASSERTS_BY_INSN.get(key)
        if got is None:
            got = _remember(_ASSERTS_BY_INSN, key, tuple(
                a for a in assertions(self.prog, pc, insn, self.ptype, in_subprog=False)
                if Stepper.decides(a)))
        self[pc] = got
        return got


class Steps(dict):
    """pc -> what the exploration loop asks of the instruction there, computed on first
    use: (insn, a memory access (its stack access goes on the trail), counted as a jump,
    a conditional jump, may make values precise (``Tracker.may_use``), the plan of the
    assertions ``Stepper.check`` decides (``Stepper.plan``) or None when it can refuse
    nothing there, a jump point
    (``history.jump_points``), a callback call site, a prune point, the stack reads
    observed there (``SlotLiveness.observe``) or None); None: no instruction at pc."""

    def __init__(self, by_pc: dict, asserts: Assertions, jmp_points: frozenset[int],
                 cb_sites: set[int] | None = None, prune_points: set[int] | None = None,
                 observe: dict | None = None):
        super().__init__()
        self.by_pc, self.asserts, self.jmp_points = by_pc, asserts, jmp_points
        self.cb_sites = set() if cb_sites is None else cb_sites
        self.prune_points = set() if prune_points is None else prune_points
        self.observe = {} if observe is None else observe

    def __missing__(self, pc: int):
        insn = self.by_pc.get(pc)
        if insn is None:
            return None
        key = (self.asserts.ptype, insn)
        got = _STEP_BY_INSN.get(key)
        if got is None:
            cls, asserts = insn.__class__, self.asserts[pc]
            got = _remember(_STEP_BY_INSN, key, (
                insn, cls in MEMORY, cls in JMP_CLASS, cls is Jump and insn.cond != "ja",
                Tracker.may_use(insn),
                Stepper.plan(insn, asserts) or None))
        got = self[pc] = got + (pc in self.jmp_points, pc in self.cb_sites,  # (the pc's
                                pc in self.prune_points, self.observe.get(pc))  # own)
        return got


def prune_points(prog: Program) -> set[int]:
    """Where the kernel looks for an equivalent state (its ``mark_prune_point`` calls in
    the CFG walk): conditional jumps (a static site is one, both edges) and their targets,
    ``ja`` targets, the instruction after any call, bpf-to-bpf calls and callee entries,
    ``ld_imm64`` of a callback (with the instruction after it and the callback), and
    callback helper calls themselves (``Checker.cb_sites``)."""
    points = set()
    for pc, insn in prog.by_pc().items():
        if isinstance(insn, (Jump, MayGoto)):
            site = prog.site_at(pc)
            if site is not None:
                points |= {pc, site.target}
            elif isinstance(insn, Jump) and insn.cond == "ja":
                points.add(insn.target(pc))
            else:
                points |= {pc, insn.target(pc)}
        elif isinstance(insn, (Call, CallX)):
            points.add(pc + 1)
            if isinstance(insn, Call) and insn.src == 1:
                points |= {pc, pc + 1 + insn.imm}
        elif isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
            points |= {pc, pc + 2, pc + 1 + insn.imm}
    return points


def stacks_may_cover(old: State, new: State) -> bool:
    """A quick filter before ``covers`` at a callback's call site, where the callers'
    registers are those of the call and only their stacks change: False when a stack slot
    already fails (skipping a node is only a lost pruning)."""
    for fo, fn in zip(old.frames, new.frames):
        for k, sn in fn.stack.items():
            so = fo.stack.get(k, EMPTY)
            if so is not sn and not slot_covers(so, sn, {}):
                return False
    return True


def same_frames(a: State, b: State) -> bool:
    return [(f.callsite, f.cb_func) for f in a.frames] == [(f.callsite, f.cb_func)
                                                            for f in b.frames]


def may_goto_hit(st: State, stored: dict[tuple, dict[tuple, list[Node]]], care, live,
                 slots) -> "Node | None":
    """The kernel's loop rule at a may_goto (is_state_visited): a state covered by one
    remembered at the same may_goto with a different ``may_goto_depth`` (finished or still
    being explored: a loop whose fall-through runs only while the runtime budget lasts) is
    pruned; the same depth is left to the ordinary pruning and infinite-loop check. The
    stack slots' liveness (observed reads) only holds for a state whose subtree was
    explored in full: a state still being explored is compared with every slot (the
    kernel cleans only states without branches)."""
    for alike in stored.values():
        for nodes in alike.values():
            for n in nodes:
                if n.state.may_goto_depth != st.may_goto_depth \
                        and covers(n.state, st, care, live, slots if n.complete else None,
                                   same_kinds=not n.complete):
                    return n
    return None


def stored_at(by_fp: dict[int, dict[tuple, dict[tuple, list[Node]]]],
              unindexed: dict[int, list[tuple[tuple, tuple, Node]]], pc: int
              ) -> dict[tuple, dict[tuple, list[Node]]] | None:
    """The states stored at ``pc`` by regs_key and fingerprint (None: none), once the ones
    not yet indexed are put in ``by_fp`` (in the order they were stored)."""
    new = unindexed.pop(pc, None)
    if new is not None:
        at_pc = by_fp.setdefault(pc, {})
        for rk, fp, node in new:
            at_pc.setdefault(rk, {}).setdefault(fp, []).append(node)
    return by_fp.get(pc)


def is_ancestor(node: Node, of: Node | None) -> bool:
    while of is not None:
        if of is node:
            return True
        of = of.parent
    return False


__all__ = ["Node", "Path", "Assertions", "Steps", "path_ended", "prune_points", "stacks_may_cover",
           "same_frames", "may_goto_hit", "stored_at", "is_ancestor", "JMP_CLASS", "MEMORY"]
