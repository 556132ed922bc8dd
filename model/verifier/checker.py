"""The abstract verifier: explores a program's paths as the kernel verifier does, checking
every instruction's assertions (``model.verifier.assertions``) on the abstract state.

- The kernel's structural checks (``model.cfg.check_structure``: unreachable code, jumps
  out of range, LD_ABS in subprograms...) run first; failing them is a rejection.
- Exploration is depth-first, fall-through first; the other edge of a conditional jump or
  of a static site is pushed and explored later (as the 2023 static-keys patch does).
  Static sites therefore have both edges on every execution: the verdict is M2's.
- At prune points (block starts) a state covered by an already *fully explored* state at
  the same pc is pruned (kernel-style branch counting says when a state's subtree is done);
  a state equal to an unfinished one on its own path is an infinite loop. ``prune=False``
  explores every path in full (loops are still detected): the pruning-soundness tests
  compare its verdicts with the pruned ones.
- Budget: the kernel's 1,000,000 processed instructions, 8,192 pending branches, and a
  wall-clock limit; running out is a verdict, never a hang.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from model.cfg import build_cfg, check_structure
from model.cfg.graph import func_starts
from model.errors import CfgError
from model.isa import Call, kernel_line
from model.errors import NotModelled
from model.platform.prog_flags import strict_alignment, unmodelled
from model.program import BpfObject, Program
from model.verifier.assertions import assertions
from model.verifier.memcheck import Reject
from model.verifier.sensitivity import sensitive_registers
from model.verifier.state import State, covers, format_state
from model.verifier.step import Stepper

INSN_BUDGET = 1_000_000
JMP_SEQ_LIMIT = 8192
TIME_LIMIT_S = 120.0
LOG_LIMIT = 20_000
MAX_STACK = 512


@dataclass
class Stats:
    insns_processed: int = 0
    states: int = 0
    peak_states: int = 0
    time_s: float = 0.0

    def as_dict(self) -> dict:
        return {"insns_processed": self.insns_processed, "states": self.states,
                "peak_states": self.peak_states, "time_s": round(self.time_s, 6)}


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


class _Node:
    """A stored state; ``branches`` counts the unfinished paths and children below it."""

    __slots__ = ("parent", "branches", "complete")

    def __init__(self, parent: "_Node | None"):
        self.parent = parent
        self.branches = 1
        self.complete = False


def _path_ended(node: _Node | None) -> None:
    while node is not None:
        node.branches -= 1
        if node.branches:
            return
        node.complete = True
        node = node.parent


@dataclass
class _Path:
    state: State
    node: _Node | None
    trail: tuple | None  # (pc, previous trail): the pcs of this path, for the error log


class Checker:
    def __init__(self, obj: BpfObject, prog: Program, *, budget: int = INSN_BUDGET,
                 time_limit: float = TIME_LIMIT_S, log: bool = True, prog_flags: int = 0,
                 prune: bool = True):
        self.obj, self.prog, self.prune = obj, prog, prune
        self.budget, self.time_limit, self.want_log = budget, time_limit, log
        self.by_pc = prog.by_pc()
        self.structure_error = None
        why = unmodelled(prog_flags)
        if why:
            self.structure_error = Failure(0, why)
            return
        try:  # the kernel's structural checks come before any abstract interpretation
            check_structure(prog)
        except CfgError as e:
            self.structure_error = Failure(e.insn if e.insn is not None else 0, e.cause)
            return
        self.prune_points = set(build_cfg(prog).graph.nodes)
        self.stepper = Stepper(obj, prog, strict_alignment(prog_flags))
        self.sensitive = sensitive_registers(prog)
        self.assertions = {pc: assertions(prog, pc, i, prog.prog_type,
                                          in_subprog=False) for pc, i in self.by_pc.items()}

    def run(self) -> Verdict:
        stats = Stats()
        if self.structure_error is not None:
            return Verdict(self.prog.name, "rejected", self.structure_error, stats,
                           [self.structure_error.message])
        t0 = time.perf_counter()
        try:
            failure = self._explore(stats, t0)
        finally:
            stats.time_s = time.perf_counter() - t0
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
        visited: dict[int, list[tuple[State, _Node]]] = {}
        by_fp: dict[int, dict[tuple, list[_Node]]] = {}  # pc -> fingerprint -> stored nodes
        stored = 0
        entry = self.stepper.entry()
        depths = entry.depths  # shared by every state of the run
        stack = [_Path(entry, None, None)]
        while stack:
            path = stack.pop()
            while True:
                st = path.state
                pc = st.pc
                if pc in self.prune_points:
                    seen = visited.setdefault(pc, [])
                    fp = st.fingerprint()
                    same = by_fp.setdefault(pc, {}).setdefault(fp, [])
                    # an identical state still being explored on this very path: a loop
                    # that makes no progress
                    if any(not n.complete and _is_ancestor(n, path.node) for n in same):
                        return (Failure(pc, f"infinite loop detected at insn {pc}"),
                                path.trail)
                    care = self._care(st) if self.prune else None
                    if self.prune and any(node.complete and covers(old, st, care)
                                          for old, node in seen):
                        _path_ended(path.node)
                        break
                    node = _Node(path.node)
                    seen.append((st.copy(), node))
                    same.append(node)
                    path.node = node
                    stored += 1
                    stats.states = stored
                    stats.peak_states = stored  # stored states are never freed here
                stats.insns_processed += 1
                if stats.insns_processed > self.budget:
                    return (Failure(pc, f"BPF program is too large. Processed "
                                        f"{stats.insns_processed} insn"), path.trail)
                if stats.insns_processed % 256 == 0 and time.perf_counter() - t0 > self.time_limit:
                    return (Failure(pc, f"verification time limit of {self.time_limit:.0f} s "
                                        "exhausted"), path.trail)
                insn = self.by_pc.get(pc)
                if insn is None:
                    return Failure(pc, f"invalid insn idx {pc}"), path.trail
                trail = (pc, path.trail)
                try:
                    self.stepper.check(st, pc, insn, self.assertions[pc])
                    succ = self.stepper.step(st, pc, insn)
                except Reject as e:
                    return Failure(pc, e.message, None), trail
                except NotModelled as e:
                    return Failure(pc, str(e), None), trail
                if not succ:  # the program (main frame) exited
                    _path_ended(path.node)
                    break
                for other in succ[1:]:
                    if path.node is not None:
                        path.node.branches += 1
                    stack.append(_Path(other, path.node, trail))
                if len(stack) > JMP_SEQ_LIMIT:
                    return (Failure(pc, f"The sequence of {len(stack)} jumps is too complex."),
                            trail)
                path.state, path.trail = succ[0], trail
        return self._check_stack_depth(depths)

    def _check_stack_depth(self, depths: dict):
        """check_max_stack_depth: along every static call chain, the frames' stack depths
        (rounded up to 16 bytes, as with the JIT) must fit in 512 bytes."""
        starts = sorted(func_starts(self.prog))
        per_func: dict[int, int] = {}
        for callsite, d in depths.items():
            f = 0 if callsite < 0 else self.by_pc[callsite].target(callsite)
            per_func[f] = max(per_func.get(f, 0), d)

        def calls(f: int) -> list[tuple[int, int]]:
            end = next((s for s in starts if s > f), self.prog.n_slots)
            return [(pc, i.target(pc)) for pc, i in self.by_pc.items()
                    if f <= pc < end and isinstance(i, Call) and i.src == 1]

        def walk(f: int, total: int, frames: int, seen: tuple):
            total += -(-per_func.get(f, 0) // 16) * 16
            if total > MAX_STACK:
                return Failure(f, f"combined stack size of {frames} calls is {total}. "
                                  "Too large")
            for pc, t in calls(f):
                if t in seen:
                    continue  # recursion is refused elsewhere (the call stack limit)
                bad = walk(t, total, frames + 1, seen + (t,))
                if bad:
                    return bad
            return None

        bad = walk(0, 0, 1, (0,))
        return (bad, None) if bad else None

    def _care(self, st: State) -> list[frozenset[int]]:
        """Per frame, the registers whose values matter: the current frame's at its pc, a
        caller's at the instruction its call returns to."""
        care = []
        for k, f in enumerate(st.frames):
            at = st.pc if k == len(st.frames) - 1 else st.frames[k + 1].callsite + 1
            care.append(self.sensitive.get(at, frozenset(range(11))))
        return care

    # -- the log of the failing path -----------------------------------------------------
    def _replay(self, trail, fail: Failure) -> list[str]:
        """Re-run the failing path alone, logging each instruction with the state after it."""
        pcs = []
        while trail is not None:
            pcs.append(trail[0])
            trail = trail[1]
        pcs.reverse()
        st = self.stepper.entry()
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
                self.stepper.check(st, pc, insn, self.assertions[pc])
                succ = self.stepper.step(st, pc, insn)
            except Reject:
                out.append(line)
                break
            nxt = pcs[k + 1] if k + 1 < len(pcs) else None
            st = next((s for s in succ if s.pc == nxt), succ[0] if succ else st)
            out.append(f"{line:<40} ; {format_state(st)}")
            if len(out) >= LOG_LIMIT:
                out.append("... (log truncated)")
                break
        return out


def _is_ancestor(node: _Node, of: _Node | None) -> bool:
    while of is not None:
        if of is node:
            return True
        of = of.parent
    return False


def check_program(obj: BpfObject, prog: Program, **kw) -> Verdict:
    return Checker(obj, prog, **kw).run()


__all__ = ["Checker", "Verdict", "Failure", "Stats", "check_program"]
