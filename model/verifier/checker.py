"""The abstract verifier: explores a program's paths as the kernel verifier does, checking
every instruction's assertions (``model.verifier.assertions``) on the abstract state.

- The kernel's structural checks (``model.cfg.check_structure``: unreachable code, jumps
  out of range, LD_ABS in subprograms...) run first; failing them is a rejection.
- Exploration is depth-first, fall-through first; the other edge of a conditional jump or
  of a static site is pushed and explored later (as the 2023 static-keys patch does).
  Static sites therefore have both edges on every execution: the verdict is M2's.
- At the kernel's prune points (``prune_points``: conditional jumps and their targets,
  ``ja`` targets, after calls, callee entries) a state covered by an already *fully
  explored* state at the same pc is pruned (kernel-style branch counting says when a
  state's subtree is done); registers that are dead there (``model.verifier.liveness``)
  are ignored, and scalars whose values cannot matter (``model.verifier.sensitivity``) are
  compared by type only. A state is remembered as the kernel's checkpoint heuristic says
  (after 2 jumps and 8 instructions since the last one; 20 and 100 inside a loop being
  explored; always after more than 40 jump-history entries, ``model.verifier.history``);
  a state equal to a remembered unfinished one on its own path is an infinite loop.
  ``prune=False`` explores every path in full (loops are still detected): the
  pruning-soundness tests compare its verdicts with the pruned ones.
- Budget: the kernel's 1,000,000 processed instructions (``Processed 1000001 insn``), 8,192
  pending branches, and a wall-clock limit that covers the preparation, the exploration
  (checked every 64 instructions) and the log replay; running out is a verdict, never a
  hang.
"""

from __future__ import annotations

import contextlib
import gc
import time
from typing import Any, Final
from dataclasses import dataclass, field

from model.cfg import check_structure
from model.errors import CfgError
from model.isa import Call, MayGoto, kernel_line
from model.errors import NotModelled
from model.platform.callbacks import is_sync_callback_call
from model.platform.prog_flags import flags_unmodelled, strict_alignment
from model.platform.prototypes import program_sleepable
from model.platform.prog_types import program_unmodelled
from model.platform.tracing_targets import target_refusal
from model.platform.returns import return_range
from model.program import BpfObject, Program
from model.verifier.calls import GPL_COMPATIBLE
from model.verifier.loadtime import load_time_error
from model.verifier.memcheck import Reject
from model.verifier.liveness import live_registers, slot_liveness
from model.verifier.backtrack import Tracker
from model.verifier.marks import carry_marks, compared, every_value, mark_all
from model.verifier.backedges import Visits
from model.verifier.stack_depth import check_stack_depth
from model.verifier.sensitivity import Flow, Late, sensitive_registers
from model.verifier.state import (State, covers, fails_alone_memo, format_state, widen_regs,
                                  widen_slots,
                                  without_singular_ids)
from model.verifier.globals import global_entry_state
from model.verifier.history import HISTORY_LIMIT, jump_points, linked_jump, stack_kind
from model.verifier.step import Stepper
from model.verifier.explore import (Assertions, Node, Path, Steps, evict, is_ancestor, stored_at,
                                    may_goto_hit, path_ended, same_frames,
                                    stacks_may_cover, prune_points)

ALL_REGS: Final = frozenset(range(11))
CALL_CLOBBERED: Final = frozenset(range(6))  # r0-r5
INSN_BUDGET = 1_000_000
JMP_SEQ_LIMIT = 8192
TIME_LIMIT_S = 120.0
LOG_LIMIT = 20_000
#: states stored at one callback call site along one path (iterations of one callback
#: loop) before skv gives up on convergence (the kernel would go on to its budget)
MAX_CALLBACK_STATES = 256
#: states stored at one callback call site on all paths before skv gives up (checking each
#: new state against all of them is quadratic)
MAX_CALLBACK_SITE_STATES = 8192


@dataclass
class Stats:
    insns_processed: int = 0
    states: int = 0
    peak_states: int = 0
    time_s: float = 0.0  # wall clock, preparation included (what the time limit counts)
    cpu_s: float = 0.0  # this thread's CPU time over the same span (robust to machine load)

    def as_dict(self) -> dict:
        return {"insns_processed": self.insns_processed, "states": self.states,
                "peak_states": self.peak_states, "time_s": round(self.time_s, 6),
                "cpu_s": round(self.cpu_s, 6)}


@dataclass
class Failure:
    insn: int
    message: str
    assertion: str | None = None


@dataclass
class Verdict:
    program: str
    verdict: str  # accepted | rejected
    error: Failure | None
    stats: Stats
    log: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"


class Checker:
    visits: Visits  # the run's loop visits and back-edges (``model.verifier.backedges``)

    def __init__(self, obj: BpfObject, prog: Program, *, budget: int = INSN_BUDGET,
                 time_limit: float = TIME_LIMIT_S, log: bool = True, prog_flags: int = 0,
                 prune: bool = True):
        self.t0 = time.perf_counter()  # the time limit covers the preparation too
        self.c0 = time.thread_time()
        self.obj, self.prog, self.prune = obj, prog, prune
        self.budget, self.time_limit, self.want_log = budget, time_limit, log
        self.by_pc = prog.by_pc()
        self.structure_error = None
        #: a node stored at a callback call site -> the states stored there on its path
        self.cb_chain: dict[Node, int] = {}
        why = (program_unmodelled(prog, typed=True) or flags_unmodelled(prog_flags, program_sleepable(prog))
               or target_refusal(prog, obj.license in GPL_COMPATIBLE))
        if why:
            self.structure_error = Failure(0, why)
            return
        try:  # the kernel's structural checks come before any abstract interpretation
            check_structure(prog)
        except CfgError as e:
            self.structure_error = Failure(e.insn if e.insn is not None else 0, e.cause)
            return
        if self._late():
            return
        self.prune_points = prune_points(prog)
        #: callback call sites: loop heads (the callback returns to the call)
        self.cb_sites = {pc for pc, i in self.by_pc.items() if is_sync_callback_call(i)}
        self.may_goto_pcs = {pc for pc, i in self.by_pc.items() if isinstance(i, MayGoto)}
        self.stepper = Stepper(obj, prog, strict_alignment(prog_flags))
        flow = Flow(prog, deadline=self.t0 + time_limit)
        try:
            self.sensitive = sensitive_registers(prog, flow)
            self.live = live_registers(prog, flow)
            self.care_at: dict = {}  # pc -> _care's answer for a state of one frame
            self.slots = slot_liveness(prog, flow, {n: (m.key_size, m.value_size)
                                                    for n, m in obj.maps.items()})
        except Late:
            self._late()
            return
        self.assertions = Assertions(prog)  # per pc, when first reached
        self.tracker = Tracker(prog, return_range(prog.prog_type, prog.attach_type) is not None,
                               obj.maps)

    def _late(self) -> bool:
        """The time limit ran out while preparing: that is the verdict."""
        if time.perf_counter() - self.t0 <= self.time_limit:
            return False
        self.structure_error = Failure(0, f"verification time limit of {self.time_limit:.0f} "
                                          "s exhausted")
        return True

    def run(self) -> Verdict:
        stats = Stats()
        if self.structure_error is not None:
            return Verdict(self.prog.name, "rejected", self.structure_error, stats,
                           [self.structure_error.message])
        bad = load_time_error(self.obj, self.prog, typed=True)
        if bad is not None:
            return Verdict(self.prog.name, "rejected", Failure(*bad), stats, [bad[1]])
        t0 = self.t0
        try:
            failure = self._explore(stats, t0)
        finally:
            stats.time_s = time.perf_counter() - t0
            stats.cpu_s = time.thread_time() - self.c0
        if failure is None:
            return Verdict(self.prog.name, "accepted", None, stats,
                           [f"processed {stats.insns_processed} insns (limit {self.budget}) "
                            f"max_states_per_insn ? total_states {stats.states} "
                            f"peak_states {stats.peak_states}"])
        fail, trail = failure
        log = self._replay(trail, fail) if self.want_log and trail is not None else []
        log.append(fail.message)
        log.append(f"processed {stats.insns_processed} insns (limit {self.budget}) "
                   f"total_states {stats.states} peak_states {stats.peak_states}")
        return Verdict(self.prog.name, "rejected", fail, stats, log)

    # -- exploration ---------------------------------------------------------------------
    def _explore(self, stats: Stats, t0: float):
        open_at: dict[int, int] = {}  # pc -> stored states not fully explored yet
        # pc -> regs_key -> fingerprint -> stored nodes (a state's fingerprint is built only
        # when a stored state there has its regs_key)
        by_fp: dict[int, dict[tuple, dict[tuple, list[Node]]]] = {}
        # pc -> (regs_key, fingerprint, node) stored there and not yet put in ``by_fp``
        # (hashing them waits for the first lookup at that pc: most pcs have none)
        unindexed: dict[int, list[tuple[tuple, tuple, Node]]] = {}
        care: list[frozenset[int]] | None
        live: list[frozenset[int]] | None
        at_cb: dict[int, list[Node]] = {}  # callback call site -> stored nodes
        # pc -> the nodes stored there by the checkpoint heuristic and not dropped, in the
        # order stored (is_state_visited's list, walked newest first)
        stored_here: dict[int, list[Node]] = {}
        self.cb_chain = {}
        stored = jmps = prev_jmps = prev_insns = 0
        self.stepper.async_seen = set()  # async callbacks pushed in this run
        self.stepper.global_seen = set()
        entry = self.stepper.entry()
        depths = entry.depths  # shared by every state of the run
        stack = [Path(entry, None, None)]
        # the loop's attributes as locals (it runs once per processed instruction)
        prune_points, budget, cb_sites = self.prune_points, self.budget, self.cb_sites
        stepper = self.stepper  # (its methods called on it: native calls when compiled)
        slots = self.slots
        steps = Steps(self.by_pc, self.assertions, jump_points(self.prog, cb_sites), cb_sites,
                      prune_points, slots.observe)
        tracker = self.tracker  # (its methods called on it: native calls when compiled)
        visits = self.visits = Visits(self.prog, cb_sites, tracker)
        while stack:
            visits.settle()  # (a path ended: maybe a loop's visit too)
            path = stack.pop()
            while True:
                st = path.state
                pc = st.pc
                # counted before the search for an equivalent state, as the kernel's
                # do_check: a pruned state's instruction is processed too, and the
                # checkpoint heuristic below sees this instruction
                stats.insns_processed += 1
                if stats.insns_processed > budget:
                    return (Failure(pc, f"BPF program is too large. Processed "
                                        f"{stats.insns_processed} insn"), path.trail)
                if stats.insns_processed % 64 == 0 and time.perf_counter() - t0 > self.time_limit:
                    return (Failure(pc, f"verification time limit of {self.time_limit:.0f} s "
                                        "exhausted"), None)  # no replay: the limit holds
                # (the per-pc record; its None, no instruction at pc, is refused below)
                at: tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any] | None = steps[pc]
                if at is not None:
                    cb_site, prune_point = at[7], at[8]
                else:
                    cb_site, prune_point = pc in cb_sites, pc in prune_points
                if cb_site:
                    try:
                        if self._callback_site(path, at_cb.setdefault(pc, []), open_at):
                            break
                    except Reject as e:
                        return Failure(pc, e.message), path.trail
                    # a forced checkpoint, stored as any other: the heuristic counts from it
                    prev_jmps, prev_insns = jmps, stats.insns_processed
                    stored += 1
                    stats.states = stats.peak_states = stored
                    path.hist = 0
                elif prune_point:
                    at_pc = None
                    if open_at.get(pc) or pc in self.may_goto_pcs:  # (the two lookups)
                        at_pc = stored_at(by_fp, unindexed, pc)
                    fp = rk = same = None
                    if at_pc is not None and open_at.get(pc):
                        rk = st.regs_key()
                        alike = at_pc.get(rk)
                        if alike is not None:
                            fp = st.fingerprint()
                            same = alike.get(fp)
                    # an identical state still being explored (open) on this very path: a
                    # loop that makes no progress
                    if same and any(not n.complete and is_ancestor(n, path.node)
                                    for n in same):
                        return (Failure(pc, f"infinite loop detected at insn {pc}"),
                                path.trail)
                    looping = pc in self.may_goto_pcs
                    # is_state_visited's walk over the states stored at this insn and
                    # innermost call site, newest first (the others neither prune nor
                    # miss). The checkpoint heuristic: remember a state only after at least
                    # 2 jumps and 8 instructions since the last one (always at a may_goto,
                    # a forced checkpoint, and on a path with a long jump history:
                    # ``history``); reaching a state still being explored (a loop) in the
                    # walk turns that off unless 20 jumps or 100 instructions passed. A
                    # state passed over while a state is to be stored counts a miss,
                    # explored in full or not; one that misses more than 3 times its hits
                    # plus 3 (64 for a forced checkpoint's state still being explored) is
                    # dropped: it prunes no more (only a lost pruning)
                    d_j, d_i = jmps - prev_jmps, stats.insns_processed - prev_insns
                    force = looping or path.hist > HISTORY_LIMIT
                    add_new = force or (d_j >= 2 and d_i >= 8)
                    listed = stored_here.get(pc)
                    old = None
                    if listed:
                        site = st.frames[-1].callsite
                        care = live = alive = fresh = None
                        evicted = False
                        for o in reversed(listed):
                            if o.state.frames[-1].callsite != site:
                                continue
                            if not o.complete:
                                if not force and d_j < 20 and d_i < 100:
                                    add_new = False
                            elif self.prune:
                                if care is None:
                                    care, live = self._care(st)
                                    alive = slots.get(pc)
                                    fresh = slots.untouched.get(pc)
                                prec = compared(o.state, o.marks)
                                failed = o.failed
                                # (fails_alone first: quicker than covers when it says no)
                                if not (failed and fails_alone_memo(
                                        o.alone, o.state, st, failed[-1], care, live, alive,
                                        prec, fresh)) and covers(o.state, st, care, live, alive,
                                                                 prec, failed, untouched=fresh):
                                    old = o
                                    o.hits += 1
                                    break
                            o.misses += add_new
                            limit = 64 if looping and not o.complete else 3
                            if o.misses > limit * o.hits + limit:
                                evict(o, open_at)
                                evicted = True
                        if evicted:
                            listed[:] = [o for o in listed if not o.evicted]
                    if old is not None:  # the old state's marks hold here too
                        carry_marks(tracker, old, st, path.node, path.trail, live, alive, pc)
                        if old.marks.loose is not None:  # its marks not final yet
                            visits.backedge(old, st, path.node, path.trail, live, alive, pc)
                        path_ended(path.node, open_at)
                        break
                    if looping and at_pc:
                        care, live = self._care(st) if self.prune else (None, None)
                        alive = slots.get(pc) if self.prune else None
                        hit = may_goto_hit(st, at_pc, care, live, alive)
                        if hit is not None:
                            # compared without precision marks: every value matters, as
                            # loose marks, till the loop's back-edges are carried over
                            live = live or [ALL_REGS] * len(st.frames)
                            alive = alive if hit.complete else None
                            carry_marks(tracker, hit, st, path.node, path.trail, live, alive,
                                        pc)
                            mark_all(path.node, tracker.loose_made)
                            visits.backedge(hit, st, path.node, path.trail, live, alive, pc)
                            path_ended(path.node, open_at)
                            break
                    if add_new:
                        prev_jmps, prev_insns = jmps, stats.insns_processed
                        if rk is None:
                            rk = st.regs_key()
                        if fp is None:
                            fp = st.fingerprint()
                        node = Node(path.node, without_singular_ids(st.copy()), path.trail)
                        visits.stored(node)
                        open_at[pc] = open_at.get(pc, 0) + 1
                        unindexed.setdefault(pc, []).append((rk, fp, node))
                        stored_here.setdefault(pc, []).append(node)
                        path.node = node
                        path.hist = 0
                        stored += 1
                        stats.states = stored
                        stats.peak_states = stored  # stored states are never freed here
                if at is None:
                    return Failure(pc, f"invalid insn idx {pc}"), path.trail
                # (unpacked as a tuple, not by iteration, when compiled)
                insn, memory, jumping, cond_jump, may_use, asserts, jmp_point, _, _, reads = at
                kind = stack_kind(st, insn) if memory else None
                if jmp_point or kind or (cond_jump and linked_jump(st, insn)):
                    path.hist += 1
                # a stack access of plain bytes (``kind`` False) carries no precision
                trail = (pc, path.trail) if not memory else \
                    (pc, path.trail, tracker.stack_access(st, insn)) if kind is not False else \
                    (pc, path.trail, tracker.stack_access(st, insn), False)
                if jumping:
                    jmps += 1
                if reads is not None:  # stack reads not known statically: as they happen
                    for regno, off, size in reads:
                        slots.record(pc, st, regno, off, size)
                if may_use:
                    used = tracker.uses(st, pc, insn)
                    if used is not None:
                        tracker.mark(path.node, path.trail, used[0], used[1],
                                     len(st.frames) - 1, None, pc)
                if cond_jump:
                    cond = tracker.decided(st, insn)
                try:
                    if asserts is not None:
                        stepper.check(st, pc, insn, asserts)
                    succ = stepper.step(st, pc, insn)
                except Reject as e:
                    return Failure(pc, e.message, None), trail
                except NotModelled as e:
                    return Failure(pc, str(e), None), trail
                if not succ:  # the program (main frame) exited
                    path_ended(path.node, open_at)
                    break
                if insn.__class__ is MayGoto and len(succ) == 2:
                    self._widen_fall(path.node, succ[1], pc)
                if cond_jump and len(succ) == 1 \
                        and cond is not None:  # one edge, decided by the values
                    tracker.mark(path.node, path.trail, cond, (), len(st.frames) - 1, None, pc)
                if len(succ) > 1:
                    for other in succ[1:]:
                        if insn.__class__ is Call and insn.src == 1:
                            # a global function, verified on its own: no caller's path
                            stack.append(Path(other, None, None))
                            continue
                        if path.node is not None:
                            path.node.branches += 1
                        stack.append(Path(other, path.node, trail, path.hist))
                    if len(stack) > JMP_SEQ_LIMIT:
                        return (Failure(pc, f"The sequence of {len(stack)} jumps is too "
                                            "complex."), trail)
                path.state, path.trail = succ[0], trail
        bad = check_stack_depth(self.prog, self.by_pc, self.stepper.async_seen, depths)
        return (Failure(*bad), None) if bad else None

    def _callback_site(self, path: Path, nodes: list, open_at: dict[int, int]) -> bool:
        """At a callback's call site (is_state_visited for calls_callback insns): a state
        covered by any state stored there, explored in full or not, is pruned (the
        iterations converged); no infinite-loop check. A state back from the callback is
        first widened against the latest state of this site on its path (the kernel's
        widen_imprecise_scalars), sparing the slots marked precise in that state so far
        (``model.verifier.backtrack``). Else the state is stored (always: a forced
        checkpoint). True: pruned."""
        st = path.state
        prev = _latest_at(path.node, st.pc, st)
        if st.from_callback:
            if prev is not None:
                widen_slots(prev.state, st, self._keep(prev, True))
            st.from_callback = False
        visits = self.visits
        old = final = None
        for n in nodes:
            if not stacks_may_cover(n.state, st):
                continue
            # an old state explored in full whose marks are final is compared by its
            # marks, as at any other instruction (the kernel's NOT_EXACT); any other
            # exactly (RANGE_WITHIN)
            prec = compared(n.state, n.marks) if visits.final(n) else None
            if covers(n.state, st, prec=prec, same_kinds=not n.complete):
                old, final = n, prec is not None or n.marks.all
                break
        if old is not None and final:
            carry_marks(self.tracker, old, st, path.node, path.trail,
                        [ALL_REGS] * len(st.frames), None, st.pc)
            path_ended(path.node, open_at)
            return True
        if old is not None:
            # compared exactly: the kernel carries the old state's precision over (and
            # later, by the loop's back-edges, what that state gains); here every value
            # of this state matters, as a loose mark (``Marks.loose``)
            live = [ALL_REGS] * len(st.frames)
            carry_marks(self.tracker, old, st, path.node, path.trail, live, None, st.pc)
            regs, slots, outer = every_value(st, live, None)
            self.tracker.mark(path.node, path.trail, regs, slots, len(st.frames) - 1, outer,
                              at=st.pc, loose=True)
            visits.backedge(old, st, path.node, path.trail, live, None, st.pc)
            path_ended(path.node, open_at)
            return True
        chain = self.cb_chain
        n = chain.get(prev, 0) + 1 if prev is not None else 1  # this path's states here
        if n > MAX_CALLBACK_STATES or len(nodes) >= MAX_CALLBACK_SITE_STATES:
            raise Reject(f"not modelled: callback iterations at insn {st.pc} did not "
                         f"converge in {MAX_CALLBACK_STATES if n > MAX_CALLBACK_STATES else len(nodes)} states")
        node = Node(path.node, st.copy(), path.trail)
        self.visits.stored(node)
        chain[node] = n
        open_at[st.pc] = open_at.get(st.pc, 0) + 1
        nodes.append(node)
        path.node = node
        return False

    def _widen_fall(self, node: Node | None, fall: State, pc: int) -> None:
        """A may_goto's fall-through (one may_goto deeper) widened against the previous
        state at this may_goto on the path, before the one stored for this visit
        (find_prev_entry, dfs_depth below the current checkpoint's): its scalars, in
        registers and spilled, not marked precise there that differ become unknown
        (widen_imprecise_scalars)."""
        if node is not None and node.state.pc == pc:
            node = node.parent  # (this very visit's checkpoint)
        node = _latest_at(node, pc, fall)
        if node is None:
            return
        widen_slots(node.state, fall, self._keep(node, True))
        widen_regs(node.state, fall, self._keep(node, False))

    @staticmethod
    def _keep(prev: Node, slots: bool):
        """keep(frame index, slot or register): the slot's (``slots``) or the register's
        value in ``prev`` (the earlier state at the call site or may_goto) is marked precise
        so far (its ``Marks``; the kernel's rold->precise; the current state's own flags
        are cleared at every checkpoint, as mark_all_scalars_imprecise does)."""
        m = prev.marks
        if m.all:
            return lambda k, i: True
        last = len(prev.state.frames) - 1
        which = 1 if slots else 0
        own = m.slots if slots else m.regs
        marked = {k: (own if k == last else m.outer.get(k, ((), ()))[which])
                  for k in range(last + 1)}
        return lambda k, i: i in marked[k]

    def _care(self, st: State) -> tuple[list[frozenset[int]], list[frozenset[int]]]:
        """Per frame, the registers whose values matter and those that are live: the
        current frame's at its pc, a caller's at the instruction its call returns to."""
        if len(st.frames) == 1:  # (the lists are only read)
            got = self.care_at.get(st.pc)
            if got is None:
                got = self.care_at[st.pc] = ([self.sensitive.get(st.pc, ALL_REGS)],
                                             [self.live.get(st.pc, ALL_REGS)])
            return got
        care, live = [], []
        for k, f in enumerate(st.frames):
            if k == len(st.frames) - 1:
                at = st.pc
            else:  # a callback returns to its call (whose arguments are read again)
                above = st.frames[k + 1]
                at = above.callsite + (above.cb_ret is None)
            if k < len(st.frames) - 1 and above.cb_ret is None:
                # a subprogram's return writes the caller's r0 (its value) and r1-r5
                # (scratched) before the caller reads any register again
                care.append(self.sensitive.get(at, ALL_REGS) - CALL_CLOBBERED)
                live.append(self.live.get(at, ALL_REGS) - CALL_CLOBBERED)
                continue
            care.append(self.sensitive.get(at, ALL_REGS))
            live.append(self.live.get(at, ALL_REGS))
        return care, live

    # -- the log of the failing path -----------------------------------------------------
    def _replay(self, trail, fail: Failure) -> list[str]:
        """Re-run the failing path alone, logging each instruction with the state after it."""
        pcs = []
        while trail is not None:
            pcs.append(trail[0])
            trail = trail[1]
        pcs.reverse()
        self.stepper.async_seen = set()  # the path may enter an async callback again
        self.stepper.global_seen = set()
        st = self.stepper.entry()
        if pcs and pcs[0] != 0 and pcs[0] in self.prog.global_funcs:  # a global function's path
            st = global_entry_state(st, self.obj, self.prog, pcs[0], pcs[0], self.stepper.ids)
        ids = self.stepper.map_id
        out = []
        shown = None  # the line-info record printed last (the kernel's prev_linfo)
        for k, pc in enumerate(pcs):
            insn = self.by_pc[pc]
            src = self.prog.line_for(pc)
            if src is not None and src[0] != shown:
                out.append(f"; {src[1].kernel_text()}")
                shown = src[0]
            line = kernel_line(pc, insn, map_id=ids)
            if pc == fail.insn and k == len(pcs) - 1:
                out.append(line)
                break
            try:
                self.stepper.check(st, pc, insn, Stepper.plan(insn, self.assertions[pc]))
                succ = self.stepper.step(st, pc, insn)
            except Reject:
                out.append(line)
                break
            if k % 64 == 0 and time.perf_counter() - self.t0 > self.time_limit + 0.5:
                out.append("... (log cut: the time limit)")
                break
            nxt = pcs[k + 1] if k + 1 < len(pcs) else None
            st = next((s for s in succ if s.pc == nxt), succ[0] if succ else st)
            out.append(f"{line:<40} ; {format_state(st)}")
            if len(out) >= LOG_LIMIT:
                out.append("... (log truncated)")
                break
        return out


def check_program(obj: BpfObject, prog: Program, **kw) -> Verdict:
    with _gc_paused():
        return Checker(obj, prog, **kw).run()


@contextlib.contextmanager
def _gc_paused():
    """The cyclic garbage collector off while one program is checked: the run allocates
    millions of short-lived, acyclic states, and the collector's passes over them cost a
    third of the time; whatever cyclic garbage the run leaves is collected afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _latest_at(node: Node | None, pc: int, st: State) -> Node | None:
    """The newest stored state at or above ``node`` (on the path) at ``pc`` with ``st``'s
    call chain: what a callback's or a may_goto's widening compares against."""
    while node is not None and not (node.state.pc == pc and same_frames(node.state, st)):
        node = node.parent
    return node


__all__ = ["Checker", "Verdict", "Failure", "Stats", "check_program"]
