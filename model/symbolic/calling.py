"""The Z3 engine's calls and legacy packet loads: bpf-to-bpf calls (inlined frames), kfuncs
of the table (``model.symbolic.kfuncs``), helpers (``model.symbolic.memory.call_helper``
and the modules that follow references, callbacks, timers, sockets, locks, kptrs and
per-CPU lookups), the reference-leak check before a tail call or an LD_ABS, and LD_ABS/LD_IND
itself. A mixin of ``model.symbolic.engine.Engine``."""

from __future__ import annotations

import z3

from model.platform.callbacks import is_callback_call
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.kfuncs import KFUNCS, kfunc_name
from model.platform.prototypes import refs_only
from model.symbolic import (callbacks, const_strs, dynptrs, inner_maps, kfuncs, kmem, kptrs,
                            locks, percpu, refs, sock_casts, sockets, timers, typed, vmas)
from model.symbolic.memory import T, call_helper
from model.symbolic.state import S, bv, new_frame
from model.verifier.calls import MAX_CALL_FRAMES, TAIL_CALL


class Calls:
    """The call and LD_ABS steps of ``Engine`` (it provides ``lay``, ``prog``, ``fail``,
    ``check_bad``, ``sat``, ``_go``, ``_exhaust`` and ``_left_to_verifier``)."""

    def _call(self, st, pc, insn):
        if insn.src == 1:
            why = kfuncs.global_call_unfollowed(self.lay, st) \
                if insn.target(pc) in self.prog.global_funcs else None
            if why is not None:  # the verifier's rules decide (model.verifier.globals)
                self._exhaust(f"{VERIFIER_ONLY}: {why} (insn {pc})")
                return []
            if len(st.frames) >= MAX_CALL_FRAMES:
                self.fail(st, pc, "call depth", T, "the call stack is too deep")
                return []
            st.gens += 1
            f = new_frame(len(st.frames), st.gens, pc)
            for r in range(1, 6):
                f.regs[r] = st.cur.regs[r]
            st.frames.append(f)
            return self._go(st, insn.target(pc))
        if insn.src != 0:
            name = kfunc_name(self.prog, pc, insn.imm)
            if name in KFUNCS:  # the verifier's rules (model.symbolic.kfuncs)
                return kfuncs.call(self, st, pc, name)
            self.fail(st, pc, "a modelled call", T, self.prog.kfunc_unmodelled(pc, insn.imm))
            return []
        why = refs_only(self.lay.ptype, insn.imm)
        # the verifier's rules decide (this path is not explored), unless followed here
        if why is not None and not (refs.followed(self.lay.ptype, insn.imm)
                                    or typed.followed(self.lay.ptype, insn.imm)
                                    or timers.followed(self.lay.ptype, insn.imm)
                                    or sockets.followed(self.lay.ptype, insn.imm)
                                    or locks.followed(self.lay.ptype, insn.imm)
                                    or insn.imm == kptrs.XCHG
                                    or percpu.followed(self.lay.ptype, insn.imm)
                                    or vmas.followed(self.lay.ptype, insn.imm)
                                    or dynptrs.followed(self.lay.ptype, insn.imm)
                                    or kmem.followed(self.lay.ptype, insn.imm)
                                    or sock_casts.followed(self.lay.ptype, insn.imm)
                                    or const_strs.followed(self.lay.ptype, insn.imm)):
            self._exhaust(why)
            return []
        before = None
        if is_callback_call(insn):  # model.symbolic.callbacks, or the verifier's alone
            why = inner_maps.callback_unfollowed(st, pc) or \
                callbacks.unfollowed(self, st, pc, insn)
            if why is not None:
                self._exhaust(why)
                return []
            before = st.copy()
        what = f"call to helper #{insn.imm} is allowed with these arguments"
        if insn.imm == TAIL_CALL and not self._holds_nothing(st, pc, "tail_call"):
            return []
        bads, outs = call_helper(self, st, pc, insn.imm, self.obj)
        # the verifier decides (a socket reference from a sockmap), or no engine models the
        # call (bpf_map_delete_elem on a sockmap): unknown, not unsafe
        if self._left_to_verifier(bads, pc, (VERIFIER_ONLY, "not modelled")):
            return []
        if not self.check_bad(st, pc, what, bads):
            return []
        g0 = st.guard
        res = self.outcomes(st, pc, outs)
        if before is not None:  # the callback is called once more, or the call returns
            before.guard = g0
            return callbacks.after_call(self, before, g0, pc, insn, res)
        return res

    def outcomes(self, st, pc: int, outs) -> list:
        """The states after a call at ``pc`` with outcomes ``[(state, r0, extra guard)]``
        (each under ``st``'s guard; r1-r5 clobbered)."""
        res = []
        g0 = st.guard
        for s, r0, extra in outs:
            s.guard = z3.And(g0, extra) if extra is not None else g0
            if extra is not None and not self.sat(s.guard):
                continue
            for r in range(1, 6):
                s.cur.regs[r] = None
            s.cur.regs[0] = r0
            s.pc = pc + 1
            res.append(s)
        return res

    def _holds_nothing(self, st, pc, what: str) -> bool:
        """check_reference_leak before ``what``: False (the path ends) when it holds one."""
        leak = refs.leak_reason(st, what)
        if leak is not None:
            self.fail(st, pc, "no reference is held", T, leak)
        return leak is None

    def _legacy(self, st, pc, insn):
        if not self._holds_nothing(st, pc, "BPF_LD_[ABS|IND]"):
            return []
        regs = st.cur.regs
        # the offset register may hold a pointer (its address is then the offset)
        off = bv(insn.imm) + (self.lay.addr(regs[insn.src]) if insn.src is not None else bv(0))
        off = z3.SignExt(32, z3.Extract(31, 0, off))
        ok = z3.And(off >= bv(0), z3.ULE(off + bv(insn.size), self.lay.pkt_len(st)))
        arr = st.pkt if st.pkt is not None else self.lay.pkt_in
        parts = [z3.Select(arr, off + bv(i)) for i in range(insn.size)]
        val = parts[0] if insn.size == 1 else z3.Concat(*parts)  # big-endian
        out = []
        if self.sat(z3.And(st.guard, ok)):
            s = st.copy()
            s.guard = z3.And(st.guard, ok)
            s.cur.regs[0] = S(z3.ZeroExt(64 - 8 * insn.size, val))
            for r in range(1, 6):
                s.cur.regs[r] = None
            out.append(self._go(s, pc + 1)[0])
        bad = z3.And(st.guard, z3.Not(ok))
        if len(st.frames) > 1 and self.sat(bad):
            # out of bounds in a subprogram: the hidden "r0 = 0; exit" returns to the caller
            s = st.copy()
            s.guard = bad
            callee = s.frames.pop()
            s.cur.regs[0] = S(bv(0))
            for r in range(1, 6):
                s.cur.regs[r] = None
            out.append(self._go(s, callee.callsite + 1)[0])
        return out  # out of bounds in the main program: it ends with r0 = 0 (safe)
