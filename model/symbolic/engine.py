"""Symbolic exploration of one program over Z3 bit-vectors, with the shared semantics
(``model.semantics`` over ``Z3Backend``) and the shared assertions
(``model.verifier.assertions``).

Every static site execution is a fresh Boolean ``e_<site id>_<n>`` ("the key is on at the
n-th execution of the site"): both edges are explored under the literal that selects them,
so the exploration covers M2 and, by substituting variables, M1 and M0 (``models.py``).

Exploration is a worklist ordered by (back edges taken, call contexts, reverse post-order):
states reaching the same pc with the same shape are merged (``State.merge``), so a chain of
diamonds costs one state per shape instead of one per path. bpf-to-bpf calls are inlined;
loops are unrolled until a state has taken ``Budget.unroll`` back edges (then the state is
dropped and BOUND REACHED is reported). Each failing assertion is recorded as
``guard /\\ bad`` (a Z3 formula over site variables and inputs) when satisfiable.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import z3

from model.cfg.checks import check_structure
from model.cfg.graph import func_starts
from model.errors import CfgError
from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadAcquire, StoreRelease,
                       LoadImm64, MayGoto, Store)
from model.errors import SkvError
from model.platform.ctx_layouts import LD_ABS_TYPES, VERIFIER_ONLY
from model.platform.prog_flags import flags_unmodelled, strict_alignment
from model.platform.prototypes import program_sleepable
from model.platform.prog_types import program_unmodelled
from model.platform.returns import return_range
from model.platform.tracing_targets import target_refusal
from model.semantics import Z3Backend, alu, atomic_result, condition, endian, extend_load, imm64
from model.symbolic import arrays, callbacks, inner_maps, kmem, sockets, timers, typed
from model.symbolic.calling import Calls
from model.symbolic.typed import FOLLOWED_TYPES, target_of
from model.verifier.calls import GPL_COMPATIBLE
from model.symbolic.memory import CTX_VARIABLE, T, load, moved_ctx, store
from model.symbolic.ordered import ordered_ok
from model.symbolic.merging import Merging
from model.symbolic.queries import Queries
from model.symbolic.state import (Layout, P, Region, S, bv, entry_state,
                                  path_constant)
from model.verifier import assertions as A
from model.verifier.loadtime import load_time_error, pseudo_func_error

Z = Z3Backend()


@dataclass
class Budget:
    states: int = 50_000  # states stepped (one instruction each)
    unroll: int = 40  # back edges one state may take
    query_ms: int = 10_000  # Z3 timeout per query
    time_s: float = 120.0  # wall clock for the whole analysis (exploration and listing)
    cubes: int = 4096  # unsafe key/site combinations listed at most, per model


@dataclass
class Failure:
    pc: int
    assertion: str  # the assertion's describe()
    reason: str
    cond: object  # Z3 Bool: guard /\ bad


@dataclass
class Result:
    failures: list[Failure] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)  # budgets that ran out
    steps: int = 0
    merges: int = 0
    queries: int = 0
    time_s: float = 0.0


class Engine(Calls):
    def __init__(self, obj, prog, budget: Budget | None = None, prog_flags: int = 0):
        self.obj, self.prog = obj, prog
        self.budget = budget or Budget()
        why = program_unmodelled(prog, typed=prog.prog_type in FOLLOWED_TYPES + ("kprobe",))
        if why is not None:
            raise SkvError(f"program {prog.name}: {why}")
        self.lay = Layout(obj, prog.prog_type)
        self.lay.target, self.lay.section = target_of(prog), prog.section
        self.lay.gpl = obj.license in GPL_COMPATIBLE
        self.lay.strict_alignment = strict_alignment(prog_flags)
        self.lay.attach_type = prog.attach_type
        self.lay.sleepable = program_sleepable(prog)
        self.by_pc = prog.by_pc()
        self.sites = {s.pc: s for s in prog.sites}
        try:  # the kernel's structural checks: failing them is unsafe under every model
            why = flags_unmodelled(prog_flags, program_sleepable(prog)) or \
                target_refusal(prog, obj.license in GPL_COMPATIBLE)
            if why:
                raise CfgError(prog.name, why, insn=0)
            check_structure(prog)
            self.structure_error = None
        except CfgError as e:
            self.structure_error = e
        ok = self.structure_error is None
        self.asserts = {pc: A.assertions(prog, pc, i, prog.prog_type)
                        for pc, i in self.by_pc.items()} if ok else {}
        self.rpo = self._rpo() if ok else {}
        self.helper_vars: dict = {}
        self.site_vars: dict = {}  # (site id, n) -> Bool
        self.deadline = time.perf_counter() + self.budget.time_s
        self.queries = Queries(self)
        arrays.clear()
        self.res = Result()
        self.edges: set[tuple[int, int]] = set()  # (pc, next pc) transitions explored
        self.merging = Merging(self) if ok else None

    # -- solver --------------------------------------------------------------------------
    def sat(self, f) -> bool:
        """May ``f`` hold? A query Z3 cannot decide in time answers yes (both edges
        of a branch stay explored) and is recorded as an exhausted budget."""
        return self.decide(f) is not False

    def decide(self, f) -> bool | None:
        """True / False: ``f`` is (un)satisfiable; None: Z3 did not decide in time."""
        if z3.is_false(f):
            return False
        if z3.is_true(f):
            return True
        return self.queries.decide(f)

    def query_ms(self) -> int:
        """The timeout of the next Z3 query: the per-query budget, within the deadline."""
        left = int((self.deadline - time.perf_counter()) * 1000)
        return max(1, min(self.budget.query_ms, left))

    def out_of_time(self) -> bool:
        """The whole-analysis deadline passed (recorded as an exhausted budget)."""
        if time.perf_counter() < self.deadline:
            return False
        self._exhaust(f"time budget ({self.budget.time_s:g} s)")
        return True

    def _left_to_verifier(self, bads, pc: int, prefixes: tuple[str, ...]) -> bool:
        """A failure reason starting with one of ``prefixes`` names what this engine does
        not follow: the path ends as an exhausted budget naming it (unknown, never unsafe)."""
        only = next((why for _, why in bads if why.startswith(prefixes)), None)
        if only is not None:
            self._exhaust(f"{only} (insn {pc})")
        return only is not None

    def _exhaust(self, what: str) -> None:
        if what not in self.res.exhausted:
            self.res.exhausted.append(what)

    def site_var(self, site, n: int):
        key = (site.id, n)
        if key not in self.site_vars:
            self.site_vars[key] = z3.Bool(f"e_{site.id}_{n}")
        return self.site_vars[key]

    # -- ordering ------------------------------------------------------------------------
    def _succ(self, pc: int, insn) -> list[int]:
        if isinstance(insn, Exit):
            return []
        if isinstance(insn, Jump):
            if pc in self.sites:
                return [pc + 1, self.sites[pc].target]
            t = insn.target(pc)
            return [t] if insn.cond == "ja" else [pc + 1, t]
        if isinstance(insn, MayGoto):
            return [pc + 1, insn.target(pc)]
        return [pc + insn.slots]

    def _rpo(self) -> dict[int, int]:
        post: list[int] = []
        seen: set[int] = set()
        for start in sorted(func_starts(self.prog)):
            stack = [(start, iter(self._succ(start, self.by_pc[start])))]
            seen.add(start)
            while stack:
                pc, it = stack[-1]
                nxt = next((t for t in it if t in self.by_pc and t not in seen), None)
                if nxt is None:
                    post.append(pc)
                    stack.pop()
                else:
                    seen.add(nxt)
                    stack.append((nxt, iter(self._succ(nxt, self.by_pc[nxt]))))
        n = len(post)
        return {pc: n - i for i, pc in enumerate(post)}

    def _key(self, st) -> tuple:
        ctx = tuple(self.rpo.get(f.callsite, 0) for f in st.frames[1:])
        return (st.back_edges, ctx + (self.rpo.get(st.pc, 1 << 30),))

    # -- exploration ---------------------------------------------------------------------
    def run(self) -> Result:
        t0 = time.perf_counter()
        pending: dict = {}
        heap: list = []
        tick = 0

        def push(st):
            nonlocal tick
            self.merging.forget(st)
            sig = self.merging.signature(st)
            old = pending.get(sig)
            if old is not None:
                self.merging.merge(old, st)
                self.res.merges += 1
                return
            pending[sig] = st
            tick += 1
            heapq.heappush(heap, (self._key(st), tick, sig))

        if self.structure_error is not None:
            e = self.structure_error
            self.res.failures.append(Failure(e.insn if e.insn is not None else 0,
                                             "the program passes the kernel's structural "
                                             "checks", e.cause, z3.BoolVal(True)))
            return self.res
        bad = load_time_error(self.obj, self.prog, typed=True)  # __ksym: model.symbolic.kmem
        if bad is not None and self._left_to_verifier([(None, bad[1])], bad[0],
                                                       (VERIFIER_ONLY,)):
            self.res.time_s = time.perf_counter() - t0  # a __ksym's typed pointer
            return self.res
        if bad is not None:               # refused before any path is walked
            self.fail(entry_state(), bad[0], "the kernel's load-time checks", T, bad[1])
            self.res.time_s = time.perf_counter() - t0
            return self.res
        push(entry_state())
        while heap:
            _, _, sig = heapq.heappop(heap)
            st = pending.pop(sig)
            self.res.steps += 1
            if self.res.steps > self.budget.states:
                self._exhaust(f"state budget ({self.budget.states})")
                break
            if self.res.steps % 16 == 0 and self.out_of_time():
                break
            insn_from, depth = st.pc, len(st.frames)
            for nxt in self.step(st):
                if nxt.dead:
                    continue
                if self.rpo.get(nxt.pc, 0) <= self.rpo.get(insn_from, 0) and \
                        len(nxt.frames) == depth and nxt.pc in self.by_pc:
                    nxt.back_edges += 1
                    if nxt.back_edges > self.budget.unroll:
                        self._exhaust(f"BOUND REACHED (unroll {self.budget.unroll})")
                        continue
                self.edges.add((insn_from, nxt.pc))
                push(nxt)
        self.res.time_s = time.perf_counter() - t0
        return self.res

    # -- assertions ----------------------------------------------------------------------
    def fail(self, st, pc: int, what: str, bad, reason: str) -> None:
        """Record ``guard /\\ bad`` if satisfiable; the state continues under ``not bad``.
        An undecided query records no failure (a failure is an unsafe execution the
        models report as found): the exhausted budget makes every answer "unknown"."""
        bad = z3.simplify(bad)
        if z3.is_false(bad):  # this path cannot fail here
            return
        cond = z3.And(st.guard, bad)
        if self.decide(cond):
            unsure = inner_maps.ambiguous(st)  # the verifier's to judge (unknown)
            if unsure is not None:
                self._exhaust(f"{unsure} (insn {pc})")
            else:
                self.res.failures.append(Failure(pc, what, reason, cond))
        if z3.is_true(bad):
            st.dead = True
        else:
            st.guard = z3.And(st.guard, z3.Not(bad))

    def check_bad(self, st, pc, what, bads) -> bool:
        for bad, why in bads:
            self.fail(st, pc, what, bad, why)
            if st.dead:
                return False
        return True

    def _pre(self, st, pc, insn) -> bool:
        regs = st.cur.regs
        for a in self.asserts[pc]:
            what = a.describe()
            bad = None
            if isinstance(a, A.Initialized) and regs[a.reg] is None \
                    and a.applies(len(st.frames)):
                bad, why = T, f"R{a.reg} !read_ok"
            elif isinstance(a, A.Writable) and a.reg == 10:
                bad, why = T, "frame pointer is read only"
            elif isinstance(a, A.ValidReturn):
                bad, why = self._return_bad(st)
            elif isinstance(a, A.PacketAccessAllowed):
                if self.lay.ptype not in LD_ABS_TYPES:
                    bad, why = T, ("BPF_LD_[ABS|IND] instructions not allowed for this "
                                   "program type")
            elif isinstance(a, A.ContextInR6):
                r6 = regs[6]
                if not (isinstance(r6, P) and r6.r.kind == "ctx"):
                    bad, why = T, "at the time of BPF_LD_ABS|IND R6 != pointer to skb"
                else:
                    moved = moved_ctx(r6, 6)
                    if moved:
                        bad, why = moved[0]
            if bad is not None:
                self.fail(st, pc, what, bad, why)
                if st.dead:
                    return False
        return True

    def _return_bad(self, st):
        r0 = st.cur.regs[0]
        if timers.is_async_frame(st.frames[0]) and len(st.frames) == 1:
            return timers.exit_bad(st)
        if len(st.frames) > 1:
            if isinstance(r0, P) and r0.r.kind == "stack":
                return T, "cannot return stack pointer to the caller"
            if callbacks.is_callback_frame(self, st.cur):
                return callbacks.exit_bad(self, st)
            return None, ""
        if self.lay.ptype == "lsm":
            return typed.lsm_return_bad(self.lay, r0)
        rng = return_range(self.lay.ptype, self.prog.attach_type)
        if rng is None:
            return None, ""
        if not isinstance(r0, S):
            return T, "At program exit the register R0 is not a known value"
        lo, hi = rng
        return (z3.Not(z3.And(r0.v >= bv(lo), r0.v <= bv(hi))),
                f"At program exit R0 should have been in [{lo}, {hi}]")

    # -- one instruction -----------------------------------------------------------------
    def step(self, st) -> list:
        pc = st.pc
        insn = self.by_pc.get(pc)
        if insn is None:
            self.fail(st, pc, "a valid instruction", T, f"no instruction at pc {pc}")
            return []
        if not self._pre(st, pc, insn):
            return []
        regs = st.cur.regs
        if isinstance(insn, Alu):
            v = self._alu(st, pc, insn)
            if st.dead:
                return []
            regs[insn.dst] = v
            return self._go(st, pc + 1)
        if isinstance(insn, Jump):
            return self._jump(st, pc, insn)
        if isinstance(insn, (LoadAcquire, StoreRelease)) and not ordered_ok(self, st, pc, insn):
            return []
        if isinstance(insn, Load):
            bad, v = load(self.lay, st, regs[insn.src], insn.off, insn.size, insn.signed,
                          regno=insn.src)
            if self._left_to_verifier(bad, pc, (VERIFIER_ONLY,)):  # a typed socket pointer
                return []
            if not self.check_bad(st, pc, f"read of {insn.size} bytes at R{insn.src}"
                                  f"{insn.off:+d} is in bounds", bad):
                return []
            if isinstance(v, S):
                raw = z3.Extract(8 * insn.size - 1, 0, v.v) if insn.size < 8 else v.v
                v = S(extend_load(Z, raw, insn.size, insn.signed))
            regs[insn.dst] = v
            return self._go(st, pc + 1)
        if isinstance(insn, Store):
            value = S(imm64(Z, insn.imm)) if insn.src is None else regs[insn.src]
            bad = store(self.lay, st, regs[insn.dst], insn.off, insn.size, value,
                        regno=insn.dst, src=insn.src)
            if self._left_to_verifier(bad, pc, (VERIFIER_ONLY,)):  # a kptr field
                return []
            if not self.check_bad(st, pc, f"write of {insn.size} bytes at R{insn.dst}"
                                  f"{insn.off:+d} is in bounds", bad):
                return []
            return self._go(st, pc + 1)
        if isinstance(insn, LoadImm64):  # the map it names was checked at load (loadtime)
            why = pseudo_func_error(self.prog, pc, insn) if insn.src == 4 else None
            if why is not None:
                self.fail(st, pc, "ld_imm64 of a function", z3.BoolVal(True), why)
                return []
            v = self._ld_imm64(pc, insn)
            if isinstance(v, str):  # a kernel symbol the engine leaves to the verifier
                self._exhaust(f"{v} (insn {pc})")
                return []
            regs[insn.dst] = v
            return self._go(st, pc + 2)
        if isinstance(insn, Call):
            return self._call(st, pc, insn)
        if isinstance(insn, Exit):
            if len(st.frames) == 1:
                self._holds_nothing(st, pc, "BPF_EXIT instruction in main prog")
                return []
            callee = st.frames.pop()
            if callbacks.is_callback_frame(self, callee):
                return callbacks.leave(self, st, callee)
            st.cur.regs[0] = callee.regs[0]
            for r in range(1, 6):
                st.cur.regs[r] = None
            return self._go(st, callee.callsite + 1)
        if isinstance(insn, Endian):
            regs[insn.dst] = S(endian(Z, insn, self.lay.addr(regs[insn.dst])))
            return self._go(st, pc + 1)
        if isinstance(insn, Atomic):
            return self._atomic(st, pc, insn)
        if isinstance(insn, MayGoto):
            other = st.copy()
            other.pc = insn.target(pc)
            return [self._go(st, pc + 1)[0], other]
        if isinstance(insn, LegacyLoad):
            return self._legacy(st, pc, insn)
        what = "a modelled instruction"
        self.fail(st, pc, what, T, f"{type(insn).__name__} is not modelled"
                  if not isinstance(insn, CallX) else "callx is not modelled")
        return []

    @staticmethod
    def _go(st, pc):
        st.pc = pc
        return [st]

    def _alu(self, st, pc, insn):
        regs = st.cur.regs
        src = S(imm64(Z, insn.imm)) if insn.src is None else regs[insn.src]
        dst = S(bv(0)) if insn.op in ("mov", "movsx") else regs[insn.dst]
        op = insn.op
        what = f"{op} on R{insn.dst} is allowed pointer arithmetic"
        if op == "mov" and insn.is64:
            return src
        if isinstance(dst, S) and isinstance(src, S):
            return S(alu(Z, insn, dst.v, src.v))
        addr = self.lay.addr
        if op in ("mov", "movsx", "neg") or (isinstance(dst, P) and isinstance(src, P)
                                             and op == "sub") or \
                (not insn.is64 and op == "sub"):
            return S(alu(Z, insn, addr(dst), addr(src)))  # root: the address as a number
        bad = None
        if isinstance(dst, P) and isinstance(src, P):
            bad = f"R{insn.dst} pointer {op} pointer prohibited"
        elif not insn.is64:
            bad = f"R{insn.dst} 32-bit pointer arithmetic prohibited"
        elif op not in ("add", "sub"):
            bad = f"R{insn.dst} pointer arithmetic with {op} operator prohibited"
        ptr, num = (dst, src) if isinstance(dst, P) else (src, dst)
        if bad is None and op == "sub" and not isinstance(dst, P):
            bad = f"R{insn.dst} tried to subtract pointer from scalar"
        if bad is None and op == "sub" and ptr.r.kind == "stack":
            bad = f"R{insn.dst} subtraction from stack pointer prohibited"
        if bad is None and ptr.r.kind in ("pkt_end", "mapptr", "func"):
            if not (ptr.r.kind == "mapptr" and op == "add" and
                    z3.is_true(z3.simplify(num.v == bv(0)))):
                bad = f"R{insn.dst} pointer arithmetic on {ptr.r.kind} prohibited"
        if bad is None and ptr.r.kind == kmem.KIND and \
                not self.check_bad(st, pc, what, kmem.arith_bad(insn.dst, ptr)):
            return None
        if bad is None and ptr.r.kind == sockets.KIND:  # never: NULL-checked, or not
            self.check_bad(st, pc, what, sockets.arith_bad(insn.dst, ptr))
            return None
        if bad is not None:
            self.fail(st, pc, what, T, bad)
            return None
        if ptr.r.kind == typed.KIND:  # a maybe-NULL typed pointer: checked first
            kind = typed.or_null(self.lay.typed[ptr.r.name])
            why = f"R{insn.dst} pointer arithmetic on {kind} prohibited, null-check it first"
            if not self.check_bad(st, pc, what, typed.null_bad(self.lay, ptr, why)):
                return None
        off = ptr.off + num.v if op == "add" else ptr.off - num.v
        region = ptr.r
        if region.kind == "ctx" and not path_constant(num.v):
            region = CTX_VARIABLE  # the kernel's var_off is no longer a constant
        if region.kind == kmem.KIND:
            region = kmem.moved(ptr, num.v)
        return P(region, off, ptr.key)

    def _jump(self, st, pc, insn):
        site = self.sites.get(pc)
        if site is not None:
            n = st.site_runs.get(site.id, 0)
            st.site_runs[site.id] = n + 1
            on = self.site_var(site, n)
            taken = z3.Not(on) if site.inverse else on
            other = st.copy()
            st.guard = z3.And(st.guard, z3.Not(taken))
            other.guard = z3.And(other.guard, taken)
            other.pc = site.target
            return [self._go(st, pc + 1)[0], other]
        if insn.cond == "ja":
            return self._go(st, insn.target(pc))
        regs = st.cur.regs
        a = regs[insn.dst]
        b = S(imm64(Z, insn.imm)) if insn.src is None else regs[insn.src]
        why = kmem.compare_unfollowed(insn, a, b)
        if why is not None:
            self._exhaust(f"{why} (insn {pc})")
            return []
        c = z3.simplify(condition(Z, insn.cond, insn.is32, self.lay.addr(a), self.lay.addr(b)))
        if z3.is_true(c):
            return self._go(st, insn.target(pc))
        if z3.is_false(c):
            return self._go(st, pc + 1)
        out = []
        checked = kmem.null_check(insn, a, b)  # a maybe-NULL kernel memory pointer
        for edge, to in ((z3.Not(c), pc + 1), (c, insn.target(pc))):
            g = z3.And(st.guard, edge)
            if self.sat(g):
                s = st.copy()
                s.guard, s.pc = g, to
                if checked is not None and (to != pc + 1) == checked[1]:
                    kmem.mark_not_null(s, checked[0])
                out.append(s)
        return out

    def _ld_imm64(self, pc, insn):
        if insn.src == 0:
            return S(bv(insn.value))
        if insn.src == 4:
            return P(Region("func", "func"), bv(pc + 1 + insn.imm))
        if insn.src == 3:  # a __ksym (model.symbolic.kmem)
            return kmem.ksym(self.lay, insn.imm, insn.imm2)
        ref = self.prog.map_refs.get(pc)
        if ref is None:
            return S(bv(insn.value))
        if insn.src in (1, 5):
            return P(Region("mapptr", ref.map), bv(0))
        m = self.obj.maps[ref.map]
        return P(Region("map", ref.map), bv(insn.imm2), z3.BitVecVal(0, 8 * max(m.key_size, 1)))

    def _atomic(self, st, pc, insn):
        regs = st.cur.regs
        what = f"atomic of {insn.size} bytes at R{insn.dst}{insn.off:+d} is in bounds"
        bad, old = load(self.lay, st, regs[insn.dst], insn.off, insn.size)
        if not self.check_bad(st, pc, what, bad) or not isinstance(old, (S, P)):
            if not st.dead:
                self.fail(st, pc, what, T, "atomic on an unreadable value")
            return []
        w = 8 * insn.size
        bits = self.lay.addr(old)  # (a spilled pointer: fetched back whole, its address bits)
        o = z3.Extract(w - 1, 0, bits) if w < 64 else bits
        src = self.lay.addr(regs[insn.src])  # (a pointer operand: its address bits)
        if insn.op == "cmpxchg":
            exp = z3.Extract(w - 1, 0, self.lay.addr(regs[0])) if w < 64 else \
                self.lay.addr(regs[0])
            new = z3.If(o == exp, z3.Extract(w - 1, 0, src) if w < 64 else src, o)
        else:
            new = atomic_result(Z, insn.op, insn.size, o, src)
        new64 = z3.ZeroExt(64 - w, new) if w < 64 else new
        if not self.check_bad(st, pc, what, store(self.lay, st, regs[insn.dst], insn.off,
                                                  insn.size, S(new64), atomic=True,
                                                  regno=insn.dst)):
            return []
        if insn.op == "cmpxchg":
            regs[0] = old
        elif insn.fetch:
            regs[insn.src] = old
        return self._go(st, pc + 1)

__all__ = ["Engine", "Budget", "Failure", "Result"]
