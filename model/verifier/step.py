"""One instruction of the abstract verifier: check its assertions on a state, then compute
the successor states (none when the program exits).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from model.domains import Scalar, coerce_to_size
from model.domains.tnum import Tnum
from model.isa import (Alu, Atomic, Call, Endian, Exit, Jump, LegacyLoad, Load, LoadImm64,
                       LoadAcquire, StoreRelease,
                       MayGoto, Store)
from model.platform.callbacks import callback_spec, helper_short_name
from model.platform.ctx_layouts import LD_ABS_TYPES
from model.platform import insn_ptr_types
from model.platform.value_fields import spin_lock_off
from model.platform.returns import check_return, return_range
from model.program import BpfObject, Program
from model.verifier import assertions as A
from model.verifier.calls import (FOR_EACH_TYPE_IDS, GPL_COMPATIBLE, TAIL_CALL, call_helper,
                                  check_callback_return, enter_callback, enter_subprog,
                                  ld_abs_return, leave_subprog, tail_call_return)
from model.verifier.memcheck import Reject, access, check_ctx_pointer, check_ptr_alignment
from model.verifier.ordered import check_atomic_ptr
from model.platform.tracing_targets import btf_target, lsm_return_range
from model.verifier.kfuncs import call_kfunc
from model.verifier.globals import call_global, global_entry_state, is_global_frame
from model.verifier.kptrs import kptr_insn
from model.verifier.loadtime import pseudo_func_error
from model.verifier.locks import check_rcu_unlocked, check_unlocked
from model.verifier.refs import check_leaks
from model.verifier.regs import (NOT_INIT, NULLABLE, Reg, T, is_pointer, known, pointer,
                                 replace, scalar, unknown, unlinked, var_of)
from model.verifier.state import State, entry_state
from model.verifier.timers import async_callback_state
from model.verifier.percpu import ksym_reg
from model.platform.prototypes import program_sleepable
from model.verifier.transfer import SIGN_FORK_OPS, Ids, alu, branch, id_before_mov, sign_fork


#: the steps of ``Stepper.check`` (``Stepper.plan``)
_INITIALIZED: Final = 0
_EXIT: Final = 1
_REFUSE: Final = 2
_SCALAR: Final = 3
_RETURN: Final = 4
_LD_ABS: Final = 5
_CTX_R6: Final = 6


class Stepper:
    def __init__(self, obj: BpfObject, prog: Program, strict_alignment: bool = False):
        self.obj, self.prog = obj, prog
        self.strict = strict_alignment  # the load's BPF_F_STRICT_ALIGNMENT (x86-64)
        self.ptype = prog.prog_type
        self.attach_type = prog.attach_type  # (a property computed from the section)
        self.ids = Ids()
        self.map_ids = {name: n + 1 for n, name in enumerate(obj.maps)}
        self.target = btf_target(prog)  # BTF-typed programs: the attach target
        self.gpl = obj.license in GPL_COMPATIBLE
        #: in_sleepable: outside any RCU read section (syscall programs always sleep)
        self.sleepable = program_sleepable(prog)
        self.lock_maps = frozenset(n for n, m in obj.maps.items()
                                   if spin_lock_off(m.fields) is not None)
        self.async_seen: set[tuple[int, str | None]] = set()  # async callbacks pushed: (pc, map)
        self.global_seen: set[int] = set()  # global functions pushed (verified once)
        #: pc -> pointer types a load/store was verified with (save_aux_ptr_type)
        self.insn_ptr_types: dict[int, set[str]] = {}
        self.targets: dict[int, int] = {}  # pc -> its jump's or call's target (``_target``)

    def _target(self, pc: int, insn) -> int:
        """``insn.target(pc)``, remembered per pc (Python code in ``model.isa``)."""
        got = self.targets.get(pc)
        if got is None:
            got = self.targets[pc] = insn.target(pc)
        return got

    def map_id(self, pc, insn):
        ref = self.prog.map_refs.get(pc)
        return self.map_ids.get(ref.map) if ref else None

    def entry(self) -> State:
        return entry_state(pointer(T.CTX))

    # -- assertions ----------------------------------------------------------------------
    #: the assertion kinds ``check`` decides; the others are the transfer functions'
    CHECKED: ClassVar[frozenset] = frozenset({A.Initialized, A.Writable, A.ScalarOperand, A.ValidReturn,
                         A.PacketAccessAllowed, A.ContextInR6})

    @classmethod
    def decides(cls, a) -> bool:
        """``check`` decides assertion ``a`` and it can fail (``Writable`` fails only for
        r10)."""
        return a.__class__ in cls.CHECKED and not (a.__class__ is A.Writable and a.reg != 10)

    @staticmethod
    def plan(insn, asserts) -> tuple[tuple[int, int, Any], ...]:
        """What ``check`` does at ``insn`` with these assertions (those it decides), in
        order, as (step, register, assertion or message) records: computed once per
        instruction (the loop then reads no assertion's attributes); empty where ``check``
        can refuse no state."""
        out: list[tuple[int, int, Any]] = []
        if insn.__class__ is Exit:
            out.append((_EXIT, 0, None))
        for a in asserts:
            kind = a.__class__  # (the assertion classes have no subclasses)
            if kind is A.Initialized:
                out.append((_INITIALIZED, a.reg, a))
            elif kind is A.Writable:
                if a.reg == 10:
                    out.append((_REFUSE, 0, "frame pointer is read only"))
            elif kind is A.ScalarOperand:
                if not isinstance(insn, (Alu, Endian)):  # alu()/_endian() decide, as
                    out.append((_SCALAR, a.reg, a))  # check_alu_op does for root
            elif kind is A.ValidReturn:
                out.append((_RETURN, 0, a))
            elif kind is A.PacketAccessAllowed:
                out.append((_LD_ABS, 0, a))
            elif kind is A.ContextInR6:
                out.append((_CTX_R6, 6, a))
            # ValidAccess, PointerArithmetic, Comparable and HelperCall are checked by the
            # transfer functions, which need the access's effect anyway.
        if insn.__class__ is Alu and insn.src is None:  # check_alu_op's immediate checks
            if insn.op in ("div", "mod", "sdiv", "smod") and insn.imm == 0:
                out.append((_REFUSE, 0, "div by zero"))
            elif insn.op in ("lsh", "rsh", "arsh") and not 0 <= insn.imm < (
                    64 if insn.is64 else 32):
                out.append((_REFUSE, 0, f"invalid shift {insn.imm}"))
        return tuple(out)

    def check(self, st: State, pc: int, insn, plan: tuple[tuple[int, int, Any], ...]
              ) -> None:
        """Refuse ``st`` before ``insn`` when an assertion ``check`` decides fails
        (``plan``: ``Stepper.plan`` of the instruction's assertions)."""
        regs = st.cur.regs
        for step, reg, a in plan:
            if step == _INITIALIZED:
                if regs[reg].type is T.NOT_INIT and a.applies(len(st.frames)):
                    raise Reject(f"R{reg} !read_ok")
            elif step == _EXIT:
                if len(st.frames) == 1:
                    check_unlocked(st, "BPF_EXIT instruction in main prog")
                    check_leaks(st, "BPF_EXIT instruction in main prog")
                    check_rcu_unlocked(st, "BPF_EXIT instruction in main prog")
            elif step == _REFUSE:
                raise Reject(a)
            elif step == _SCALAR:
                r = regs[reg]
                if is_pointer(r):
                    raise Reject(f"R{reg} must be a scalar ({a.why}), not {r.type.value}")
            elif step == _RETURN:
                self._check_return(st)
            elif step == _LD_ABS:
                if self.ptype not in LD_ABS_TYPES:
                    raise Reject("BPF_LD_[ABS|IND] instructions not allowed for this program "
                                 "type")
                check_unlocked(st, "BPF_LD_[ABS|IND]")
                check_leaks(st, "BPF_LD_[ABS|IND]")
                check_rcu_unlocked(st, "BPF_LD_[ABS|IND]")
            elif step == _CTX_R6:
                if regs[6].type is not T.CTX:
                    raise Reject("at the time of BPF_LD_ABS|IND R6 != pointer to skb")
                check_ctx_pointer(6, regs[6])

    def _check_return(self, st: State) -> None:
        if len(st.frames) == 1 and st.cur.cb_ret is not None:  # an async callback's exit
            return check_callback_return(st.cur.regs[0], st.cur.cb_ret, is_async=True)
        if is_global_frame(st):  # check_return_code for a global subprogram
            r0 = st.cur.regs[0]
            if r0.type is not T.SCALAR:
                raise Reject(f"At subprogram exit the register R0 is not a scalar value "
                             f"({r0.type.value})")
            return
        if len(st.frames) > 1:
            r0 = st.cur.regs[0]
            if r0.type is T.STACK:  # any frame's, as the kernel (conservatively) says
                raise Reject("cannot return stack pointer to the caller")
            if st.cur.cb_ret is not None:
                check_callback_return(r0, st.cur.cb_ret)
            return
        r0 = st.cur.regs[0]
        if self.ptype == "lsm":  # the hook's range, on r0's 32-bit bounds
            assert self.target is not None  # (an lsm program has its hook)
            return _check_lsm_return(r0, lsm_return_range(self.target))
        rng = return_range(self.ptype, self.prog.attach_type)
        if rng is None:
            return
        if r0.type is not T.SCALAR:
            raise Reject(f"At program exit the register R0 is not a known value "
                         f"({r0.type.value})")
        lo, hi = rng
        s = var_of(r0)
        if s.umin < lo or s.umax > hi or s.smin_s < lo:  # the kernel's words (unbounded
            # sides left out: "has unknown scalar value")
            raise Reject(check_return(self.ptype, s.smin_s, s.smax_s,
                                      attach_type=self.attach_type)
                         or f"At program exit the register R0 has smin={s.smin_s} "
                         f"smax={s.smax_s} should have been in [{lo}, {hi}]")

    # -- transfer ------------------------------------------------------------------------
    def step(self, st: State, pc: int, insn) -> list[State]:
        regs = st.cur.regs
        if isinstance(insn, Alu):
            other = sign_fork(st, insn) if insn.op in SIGN_FORK_OPS else None
            alu(st, insn, self.ids)
            if other is not None:
                other.pc = pc  # the 0 side runs this instruction again (the kernel's)
                st.pc = pc + 1
                return [st, other]
            return self._next(st, pc + 1)
        if isinstance(insn, Jump):
            if insn.cond == "ja":
                site = self.prog.site_at(pc)
                if site is None:
                    return self._next(st, self._target(pc, insn))
                jump = st.copy()
                jump.pc = site.target
                st.pc = pc + 1
                return [st, jump]  # both edges of a static site, fall-through first
            out = []
            for taken, s in branch(st, insn, self.obj.maps, self.lock_maps):
                s.pc = self._target(pc, insn) if taken else pc + 1
                out.append(s)
            return out
        if isinstance(insn, Load):
            base = regs[insn.src]
            ordered = insn.__class__ is LoadAcquire  # check_atomic_load: strictly aligned
            got = access(st, self.obj.maps, self.ptype, insn.src, base, insn.off, insn.size,
                         write=False, strict=self.strict or ordered, signed=insn.signed,
                         attach_type=self.attach_type, target=self.target, gpl=self.gpl,
                         in_rcu=st.rcu or st.lock is not None or not self.sleepable)
            assert got is not None  # (a read gives a value)
            self._same_ptr_type(pc, base, not ordered)  # (no trust mismatch)
            if ordered:
                check_atomic_ptr(base, insn.src, True)
            if base.type is T.MAP_VALUE and base.map is not None \
                    and self.obj.maps[base.map].fields:
                got = kptr_insn(st, self.obj.maps, insn, base, self.sleepable) or got
            if got.type in NULLABLE and base.type is not T.STACK:
                got = replace(got, id=self.ids.new())  # a maybe-NULL typed pointer read
                # (a fill from the stack keeps the spilled pointer's id)
            if got.type is T.SCALAR and not (insn.size == 8 and not insn.signed):
                keep = not insn.signed and _width(got) <= 8 * insn.size
                got = scalar(coerce_to_size(var_of(got), insn.size, insn.signed),
                             got.id if keep else 0)  # a narrowing fill breaks the link
            regs[insn.dst] = got  # a pointer: a whole spill, or a ctx pointer field
            return self._next(st, pc + 1)
        if isinstance(insn, Store):
            base = regs[insn.dst]
            ordered = insn.__class__ is StoreRelease  # check_atomic_store: strictly aligned
            if insn.src is None:
                access(st, self.obj.maps, self.ptype, insn.dst, base, insn.off, insn.size,
                       write=True, value=known(insn.imm), strict=self.strict,
                       attach_type=self.attach_type, target=self.target, gpl=self.gpl)
            else:
                value = regs[insn.src]
                if (base.type is T.STACK and value.type is T.SCALAR
                        and var_of(base).is_const()
                        and (base.off + insn.off + var_of(base).smin_s) % 8 == 0
                        and _width(value) <= 8 * insn.size):
                    # assign_scalar_id_before_mov: a spill (at a slot's base, a fixed
                    # offset) keeps the link to its register
                    got = id_before_mov(value, self.ids)
                    if got is not value:
                        value = regs[insn.src] = got
                if value.type is T.SCALAR and _width(value) > 8 * insn.size:
                    # a narrowing spill breaks the link
                    value = unlinked(value)
                access(st, self.obj.maps, self.ptype, insn.dst, base, insn.off, insn.size,
                       write=True, value=value, strict=self.strict or ordered,
                       attach_type=self.attach_type, target=self.target, gpl=self.gpl)
            self._same_ptr_type(pc, base, False)
            if ordered:
                check_atomic_ptr(base, insn.dst, False)
            if base.type is T.MAP_VALUE and base.map is not None \
                    and self.obj.maps[base.map].fields:
                kptr_insn(st, self.obj.maps, insn, base, self.sleepable)
            return self._next(st, pc + 1)
        if isinstance(insn, LoadImm64):
            regs[insn.dst] = self._ld_imm64(pc, insn)
            return self._next(st, pc + 2)
        if isinstance(insn, Call):
            if insn.src == 1:
                callee = self._target(pc, insn)
                if callee in self.prog.global_funcs:  # verified on its own (model.verifier.globals)
                    call_global(st, self.obj, self.prog, callee)
                    st.pc = pc + 1
                    if callee in self.global_seen:
                        return [st]
                    self.global_seen.add(callee)
                    return [st, global_entry_state(st, self.obj, self.prog, pc, callee,
                                                   self.ids)]
                if not enter_subprog(st, pc, pc + 1 + insn.imm):
                    raise Reject(f"the call stack of {len(st.frames) + 1} frames is too deep")
                return [st]
            if insn.src == 2:
                call_kfunc(st, self.obj, self.prog, self.ptype, pc, insn.imm, self.ids)
                st.pc = pc + 1
                return [st]
            spec = callback_spec(helper_short_name(insn.imm))
            before = st.copy() if spec is not None else None
            target = call_helper(st, self.obj, self.prog, self.ptype, insn.imm, self.ids)
            st.from_callback = False
            if target is None:
                returned = tail_call_return(st) if insn.imm == TAIL_CALL else None
                st.pc = pc + 1
                return [st] if returned is None else [returned, st]
            assert spec is not None and before is not None  # (a helper with a callback)
            if spec.is_async:  # verified once per (callback, map), as a program of its own
                st.pc = pc + 1
                key = (target, before.cur.regs[1].map)
                if key in self.async_seen:
                    return [st]
                self.async_seen.add(key)
                return [st, async_callback_state(st, before.cur.regs, self.obj.maps, target,
                                                 spec, FOR_EACH_TYPE_IDS)]
            # zero iterations (continue after the call), or one more: the callback
            done = before.cur.cb_depth
            st.cur.cb_depth = 0
            st.pc = pc + 1
            bound = before.cur.regs[spec.bound_reg] if spec.bound_reg else None
            if bound is not None and bound.type is not T.SCALAR:
                # mark_chain_precision on a pointer: Linux 6.18 fails with "verifier bug:
                # backtracking misuse" (measured: tests/callback_probes.py)
                raise Reject(f"not modelled: bpf_loop with a {bound.type.value} pointer as "
                             "nr_loops (the kernel refuses it)")
            if bound is not None and done >= var_of(bound).umax:
                return [st]  # "bpf_loop iteration limit reached"
            before.cur.cb_depth = done + 1
            enter_callback(before, self.obj, pc, target, spec)
            return [st, before]
        if isinstance(insn, Exit):
            if len(st.frames) == 1:
                return []
            leave_subprog(st)
            return [st]
        if isinstance(insn, Atomic):
            base = regs[insn.dst]
            check_atomic_ptr(base, insn.dst, False)
            if is_pointer(base):  # atomics are always strictly aligned
                check_ptr_alignment(base, insn.off, insn.size, True)
            old = access(st, self.obj.maps, self.ptype, insn.dst, base, insn.off, insn.size,
                         write=False, target=self.target, gpl=self.gpl)
            access(st, self.obj.maps, self.ptype, insn.dst, base, insn.off, insn.size,
                   write=True, value=unknown(), target=self.target, gpl=self.gpl)
            if base.type is T.MAP_VALUE and base.map is not None \
                    and self.obj.maps[base.map].fields:
                kptr_insn(st, self.obj.maps, insn, base, self.sleepable)
            # the old value fetched: a spilled pointer comes back (the kernel's fill);
            # anything else is left an unknown number
            fetched = old if old is not None and is_pointer(old) else \
                Reg(T.SCALAR, coerce_to_size(Scalar.unknown(), insn.size, False))
            if insn.op == "cmpxchg":
                regs[0] = fetched
            elif insn.fetch:
                regs[insn.src] = fetched
            return self._next(st, pc + 1)
        if isinstance(insn, Endian):
            regs[insn.dst] = _endian(regs[insn.dst], insn)
            return self._next(st, pc + 1)
        if isinstance(insn, MayGoto):
            # the kernel goes on with the jump (the loop budget exhausted) and queues the
            # fall-through, one may_goto deeper
            fall = st.copy()
            fall.pc, fall.may_goto_depth = pc + 1, st.may_goto_depth + 1
            st.pc = self._target(pc, insn)
            return [st, fall]
        if isinstance(insn, LegacyLoad):
            regs[0] = Reg(T.SCALAR, coerce_to_size(Scalar.unknown(), insn.size, False))
            for r in range(1, 6):
                regs[r] = NOT_INIT
            returned = ld_abs_return(st)
            st.pc = pc + 1
            return [st] if returned is None else [returned, st]
        raise Reject(f"unknown insn {type(insn).__name__} at {pc}")

    def _same_ptr_type(self, pc: int, base: Reg, load: bool) -> None:
        # (``_value_``: the member's value without the Enum ``value`` property's call)
        name = base.type._value_ if base.type not in (T.BTF_ID, T.BTF_ID_OR_NULL) \
            else f"{base.type._value_}:{base.trust}:{base.tag}"
        seen = self.insn_ptr_types.get(pc)
        if seen is None:
            self.insn_ptr_types[pc] = {name}  # one type so far: nothing to clash with
        elif not (len(seen) == 1 and name in seen) and \
                insn_ptr_types.clash(seen, name, load):
            raise Reject(insn_ptr_types.MESSAGE)

    @staticmethod
    def _next(st: State, pc: int) -> list[State]:
        st.pc = pc
        return [st]

    def _ld_imm64(self, pc: int, insn: LoadImm64) -> Reg:
        if insn.src == 0:
            return known(insn.value)
        if insn.src == 4:
            why = pseudo_func_error(self.prog, pc, insn)
            if why is not None:
                raise Reject(why)
            return pointer(T.FUNC, off=pc + 1 + insn.imm)
        if insn.src == 3:  # a kernel symbol (verifier.loadtime refused the bad ones)
            return ksym_reg(insn.imm, insn.imm2)
        ref = self.prog.map_refs.get(pc)  # BTF ids (__ksym): refused at load (loadtime)
        if ref is None:
            raise Reject(f"ld_imm64 with pseudo source {insn.src} names no map")
        m = self.obj.maps[ref.map]
        if m.is_static_key:  # the 2023 verifier: a key is never an ordinary map
            raise Reject(f"cannot access static keys: map {ref.map} is a static key")
        if insn.src in (1, 5):  # the map's type was checked at load (verifier.loadtime)
            return pointer(T.MAP_PTR, map=ref.map)
        if insn.src in (2, 6):  # the map and offset were checked at load (verifier.loadtime)
            return pointer(T.MAP_VALUE, off=insn.imm2, map=ref.map, read_only=m.frozen_constant)
        raise Reject(f"unsupported ld_imm64 pseudo source {insn.src}")


def _check_lsm_return(r0: Reg, rng) -> None:
    """check_return_code for lsm (BPF_LSM_MAC): no range for void hooks, else a scalar whose
    32-bit signed bounds lie in the hook's range (return_32bit)."""
    if rng is None:
        return
    if r0.type is not T.SCALAR:
        raise Reject(f"At program exit the register R0 is not a known value "
                     f"({r0.type.value})")
    s = var_of(r0)
    lo, hi = rng
    if s.s32_min_s < lo or s.s32_max_s > hi:
        raise Reject(f"At program exit the register R0 has smin={s.s32_min_s} "
                     f"smax={s.s32_max_s} should have been in [{lo}, {hi}]")


def _width(r: Reg) -> int:
    """get_reg_width: the bits of the largest unsigned value."""
    return var_of(r).umax.bit_length()


def _swab(x: int, width: int) -> int:
    return int.from_bytes((x & ((1 << width) - 1)).to_bytes(width // 8, "little"), "big")


def _endian(r: Reg, insn: Endian) -> Reg:
    """scalar_byte_swap (Linux 6.18 stable): on this little-endian machine ``be`` and
    ``bswap`` swap the tnum's bytes and keep no bounds (reg_bounds_sync derives them from
    the tnum), ``le`` swaps nothing; 16 and 32 bits then truncate (coerce_reg_to_size).
    le64 is a no-op; every other form gives a new value (no scalar id)."""
    if is_pointer(r):
        return unknown()
    c = r.const()
    if c is not None:
        from model.semantics import INT, endian

        return known(endian(INT, insn, c))
    if insn.kind == "le" and insn.width == 64:
        return r
    var = var_of(r)
    if insn.kind != "le":
        t = var.var_off
        var = Scalar.from_tnum(Tnum(_swab(t.value, insn.width), _swab(t.mask, insn.width)))
    if insn.width < 64:
        var = coerce_to_size(var, insn.width // 8, False)
    return scalar(var)


__all__ = ["Stepper"]
