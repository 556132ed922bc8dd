"""The BPF interpreter: runs a linked program over concrete memory, reading each static
site's state from a key-state model, with the shared semantics (``model.semantics``) over
Python ints.

Illegal behaviour stops the run with a ``Fault`` naming the instruction, the address, the
region and the reason: an uninitialised register or stack read, an access outside every
region or across a region's end, a write to read-only memory, a call too deep. Every run
has an instruction budget; exhausting it is a result, not a hang.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from model.errors import SkvError
from model.interp.ctx import Context, make_context, moved_ctx_fault
from model.interp.helpers import LINUX_HELPERS, Unwind, havoc_for, map_for_helper
from model.interp.dynptrs import DYNPTR_HELPERS
from model.interp.refs import REF_HELPERS, Held, check_call, check_no_refs, release_all
from model.interp.maps import Maps
from model.interp.percpu import PERCPU_HELPERS, ksym_address, possible_cpus
from model.interp.vmas import VMA_HELPERS
from model.interp.memory import FUNC_BASE, MemFault, Memory, check_stack_alignment, new_stack
from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadImm64, MayGoto, Store)
from model.keystate import KeyState
from model.platform.map_fields import MapFieldError, map_field_read, map_struct_image
from model.platform.helpers import TAIL_CALL, helper_name
from model.program import MapDef, Program
from model.semantics import INT, alu, atomic_result, condition, endian, extend_load, imm64

MAX_CALL_FRAMES = 8
MAX_TAIL_CALL_CNT = 33  # tail calls one run may make; the next ones fail
MAY_GOTO_BUDGET = 1 << 23  # BPF_MAX_LOOPS
DEFAULT_BUDGET = 1_000_000


@dataclass
class Fault:
    pc: int
    reason: str
    addr: int | None = None
    region: str | None = None

    def __str__(self) -> str:
        where = f" (address {self.addr:#x}" + (f", region {self.region})" if self.region else ")") \
            if self.addr is not None else ""
        return f"insn {self.pc}: {self.reason}{where}"


@dataclass(frozen=True)
class SiteVisit:
    site: int
    pc: int
    n: int  # which execution of this site (from 0)
    on: bool
    jumped: bool


@dataclass
class RunResult:
    status: str  # "exit" | "fault" | "budget"
    r0: int | None
    steps: int
    trace: list[str] = field(default_factory=list)
    path: list[int] = field(default_factory=list)
    sites: list[SiteVisit] = field(default_factory=list)
    fault: Fault | None = None
    maps: Maps | None = None

    @property
    def ok(self) -> bool:
        return self.status == "exit"


class _Budget(Exception):
    """The instruction budget ran out inside a callback."""


class _Uninit(Exception):
    def __init__(self, reg: int):
        self.reg = reg


@dataclass
class _Frame:
    return_pc: int
    saved: list  # r6..r9 of the caller
    stack: object
    prog: Program | None = None  # the caller's program (a tail call may change it)


class Machine:
    """One program with its maps; ``run`` may be called repeatedly (maps persist)."""

    def __init__(self, prog: Program, maps: dict[str, MapDef] | None = None, *,
                 keys: KeyState | None = None, helpers=None, strict: bool = True,
                 budget: int = DEFAULT_BUDGET, seed: int = 0, path_limit: int = 100_000,
                 shared: "Machine | None" = None, uninit_stack: str = "allow"):
        """``uninit_stack``: "allow" (the kernel's rule for a privileged loader, which the
        verifier and the symbolic engine follow: unwritten stack reads as zeros here, as
        arbitrary bytes on a real machine) or "fault" (report the read)."""
        if uninit_stack not in ("allow", "fault"):
            raise ValueError(f"uninit_stack must be 'allow' or 'fault', not {uninit_stack!r}")
        self.track_stack = strict and uninit_stack == "fault"
        self.entry_prog = self.prog = prog
        self.by_pc = prog.by_pc()
        self.keys = keys
        self.helpers = LINUX_HELPERS if helpers is None else helpers
        self.strict = strict
        self.budget = budget
        self.path_limit = path_limit
        if shared is not None:  # several programs of one object share its maps
            self.mem, self.maps = shared.mem, shared.maps
        else:
            self.mem = Memory()
            self.maps = Maps(self.mem, maps or {})
        self.rng = random.Random(seed)
        self.clock_ns = 1_000_000_000
        self.cpu, self.pid, self.tgid = 0, 4242, 4242
        self.nr_cpus = possible_cpus()  # nr_cpu_ids (bpf_per_cpu_ptr, percpu_elem lookups)
        self.trace: list[str] = []

    # -- registers -----------------------------------------------------------------------
    def _get(self, r: int) -> int:
        v = self.regs[r]
        if v is None:
            raise _Uninit(r)
        return v

    def _set(self, r: int, v: int) -> None:
        if r == 10:
            raise MemFault(0, 0, "r10 (the frame pointer) is read-only")
        self.regs[r] = v

    def _clobber_args(self) -> None:
        for r in range(1, 6):
            self.regs[r] = None if self.strict else self.regs[r]

    # -- running -------------------------------------------------------------------------
    def run(self, ctx: bytes | None = None, packet: bytes | None = None, *,
            regs: dict[int, int] | None = None, prog_type: str | None = None,
            test_run_checks: bool = False) -> RunResult:
        """``test_run_checks``: refuse a context BPF_PROG_TEST_RUN refuses (a ``SkvError``
        naming the field), as ``skv run --ctx`` does; otherwise its other bytes are kept."""
        self.trace = []
        self._switch(self.entry_prog)
        self.tail_calls = 0
        self.regs: list[int | None] = [None] * 11 if self.strict else [0] * 11
        stack = new_stack(self.mem, 0, zeroed=not self.track_stack)
        self.frames: list[_Frame] = []
        self.stacks = [stack]
        self.site_runs: dict[int, int] = {}
        self.may_goto_left = MAY_GOTO_BUDGET
        context: Context | None = None
        if regs is None:
            context = make_context(self.mem, prog_type or self.prog.prog_type, ctx, packet,
                                   checks=test_run_checks)
            self.regs[1] = context.address
        else:
            for r, v in regs.items():
                self.regs[r] = v
        self.context = context
        self.held = Held()
        self.regs[10] = stack.end
        result = RunResult("budget", None, 0, maps=self.maps)
        try:
            self._loop(result)
        finally:
            release_all(self)
            for s in self.stacks:
                self.mem.remove(s)
            if context is not None:
                self.mem.remove(context.region)
                if context.packet is not None:
                    self.mem.remove(context.packet)
        result.trace = self.trace
        return result

    def _loop(self, res: RunResult) -> None:
        self._res = res
        try:
            self._run_from(0, res)
        except _Budget:
            res.status = "budget"

    def _run_from(self, pc: int, res: RunResult) -> None:
        while res.steps < self.budget:
            insn = self.by_pc.get(pc)
            if insn is None:
                res.status, res.fault = "fault", Fault(pc, f"no instruction at pc {pc}")
                return
            res.steps += 1
            if len(res.path) < self.path_limit:
                res.path.append(pc)
            try:
                nxt = self._step(pc, insn, res)
            except _Uninit as e:
                res.status, res.fault = "fault", Fault(pc, f"R{e.reg} !read_ok (uninitialised)")
                return
            except MemFault as e:
                res.status = "fault"
                at = getattr(e, "pc", None)  # inside a callback: its instruction
                res.fault = Fault(pc if at is None else at, e.reason,
                                  e.addr if e.size else None, e.region)
                return
            except Unwind as u:
                res.status, res.r0 = "exit", u.value
                return
            except SkvError as e:
                res.status, res.fault = "fault", Fault(pc, str(e))
                return
            if nxt is None:
                leak = self.held.leak()
                if leak is not None:
                    res.status, res.fault = "fault", Fault(pc, leak)
                    return
                res.status, res.r0 = "exit", self.regs[0]
                return
            pc = nxt

    def call_back(self, entry: int, args: list[int]) -> int:
        """Run the BPF function at pc ``entry`` with r1.. = ``args`` in a new frame (a
        helper's callback) until it returns; its r0. The caller's registers are kept."""
        if len(self.frames) + 1 >= MAX_CALL_FRAMES:
            raise MemFault(0, 0, f"call depth over {MAX_CALL_FRAMES} frames")
        if entry not in self.by_pc:
            raise MemFault(0, 0, f"callback at pc {entry}: no instruction there")
        saved = list(self.regs)
        stack = new_stack(self.mem, len(self.frames) + 1, zeroed=not self.track_stack)
        self.stacks.append(stack)
        self.frames.append(_Frame(-1, self.regs[6:10], stack))
        self.regs = [None] * 11 if self.strict else [0] * 11
        for r, v in enumerate(args, start=1):
            self.regs[r] = v
        self.regs[10] = stack.end
        res, pc = self._res, entry
        while True:
            if res.steps >= self.budget:
                raise _Budget()
            res.steps += 1
            if len(res.path) < self.path_limit:
                res.path.append(pc)
            try:
                nxt = self._step(pc, self.by_pc[pc], res)
            except _Uninit as e:  # reported at the instruction of the callback
                fault = MemFault(0, 0, f"R{e.reg} !read_ok (uninitialised) in the callback "
                                       f"at insn {pc}")
                fault.pc = pc
                raise fault from None
            except MemFault as e:  # reported at the faulting instruction of the callback
                if getattr(e, "pc", None) is None:
                    e.pc = pc
                raise
            if nxt == -1:  # the callback's frame returned
                break
            pc = nxt
        r0 = self.regs[0]
        self.regs = saved
        return r0

    def _step(self, pc: int, insn, res: RunResult) -> int | None:
        B = INT
        if isinstance(insn, Alu):
            src = imm64(B, insn.imm) if insn.src is None else self._get(insn.src)
            dst = 0 if insn.op in ("mov", "movsx") else self._get(insn.dst)
            self._set(insn.dst, alu(B, insn, dst, src))
            return pc + 1
        if isinstance(insn, Jump):
            return self._jump(pc, insn, res)
        if isinstance(insn, Load):
            base = self._get(insn.src)
            st = self.maps.at(base)
            if st is not None:  # a map pointer: its kernel structure
                raw = self._map_field(st, insn.src, insn.off, insn.size)
                self._set(insn.dst, extend_load(B, raw, insn.size, insn.signed))
                return pc + 1
            addr = (base + insn.off) & (2**64 - 1)
            self._stack_aligned(addr, insn.size)
            self._ctx_unmoved(insn.src, base, addr, insn.size)
            ptr = self._ctx_pointer(addr, insn.size)
            if ptr is not None:  # the kernel rewrites this load into a pointer load
                self._set(insn.dst, ptr)
            else:
                self._set(insn.dst, extend_load(B, self.mem.load(addr, insn.size), insn.size,
                                                insn.signed))
            return pc + 1
        if isinstance(insn, Store):
            base = self._get(insn.dst)
            addr = (base + insn.off) & (2**64 - 1)
            value = imm64(B, insn.imm) if insn.src is None else self._get(insn.src)
            self._stack_aligned(addr, insn.size)
            self._ctx_unmoved(insn.dst, base, addr, insn.size)
            self._store(addr, insn.size, value)
            return pc + 1
        if isinstance(insn, LoadImm64):
            self._set(insn.dst, self._ld_imm64(pc, insn))
            return pc + 2
        if isinstance(insn, Call):
            return self._call(pc, insn)
        if isinstance(insn, CallX):  # the helper whose id is in the register
            return self._helper(pc, self._get(insn.dst) & 0xFFFFFFFF)
        if isinstance(insn, Exit):
            return self._exit()
        if isinstance(insn, Endian):
            self._set(insn.dst, endian(B, insn, self._get(insn.dst)))
            return pc + 1
        if isinstance(insn, Atomic):
            self._atomic(insn)
            return pc + 1
        if isinstance(insn, MayGoto):
            self.may_goto_left -= 1
            return insn.target(pc) if self.may_goto_left <= 0 else pc + 1
        if isinstance(insn, LegacyLoad):
            return self._legacy_load(pc, insn)
        raise SkvError(f"no semantics for {type(insn).__name__}")

    def _jump(self, pc: int, insn: Jump, res: RunResult) -> int:
        if insn.cond == "ja":
            site = self.prog.site_at(pc)
            if site is None:
                return insn.target(pc)
            if self.keys is None:
                raise SkvError(f"static site #{site.id} (key {site.key}) needs a key state")
            k = self.site_runs.get(site.id, 0)
            self.site_runs[site.id] = k + 1
            on = self.keys.on(site, k)
            jumped = site.jumps(on)
            res.sites.append(SiteVisit(site.id, pc, k, on, jumped))
            return site.target if jumped else pc + 1
        a = self._get(insn.dst)
        b = imm64(INT, insn.imm) if insn.src is None else self._get(insn.src)
        return insn.target(pc) if condition(INT, insn.cond, insn.is32, a, b) else pc + 1

    # -- memory --------------------------------------------------------------------------
    def _ctx_pointer(self, addr: int, size: int) -> int | None:
        """The packet pointer a load of a ctx pointer field yields, else None."""
        ctx = self.context
        if ctx is None or not ctx.region.base <= addr < ctx.region.end:
            return None
        off = addr - ctx.region.base
        ptr = ctx.pointer_at(off)
        if ptr is not None and size != ctx.pointer_size(off):
            raise MemFault(addr, size, f"ctx pointer field at offset {off} must be read "
                                       f"with {ctx.pointer_size(off)} bytes, not {size}", "ctx")
        return ptr

    def helper_bytes(self, size: int) -> bytes:
        """What a helper without its own model writes into memory: random bytes."""
        return self.rng.randbytes(size)

    def _ctx_unmoved(self, regno: int, base: int, addr: int, size: int) -> None:
        """Linux refuses a context access through a moved context pointer."""
        if self.helpers is LINUX_HELPERS:
            fault = moved_ctx_fault(self.context, regno, base, addr, size)
            if fault is not None:
                raise fault

    @staticmethod
    def _map_field(st, regno: int, off: int, size: int) -> int:
        """A read through a map pointer (model.platform.map_fields): the field's value from
        the map's definition (fields not from it read as 0)."""
        try:
            why = map_field_read(st.defn.type, regno, off, size, False)
        except MapFieldError as e:
            raise MemFault(st.ptr + off, size, str(e), st.name) from None
        image = map_struct_image(st.defn) if why is None else None
        if image is None:
            raise SkvError(why or f"not modelled: the structure of map {st.name}")
        return int.from_bytes(image[off:off + size], "little")

    def _stack_aligned(self, addr: int, size: int) -> None:
        """Linux's stack accesses are aligned (the conformance suite's ISA has no such rule)."""
        if self.helpers is LINUX_HELPERS:
            check_stack_alignment(addr, size)

    def _store(self, addr: int, size: int, value: int) -> None:
        ctx = self.context
        if ctx is not None and ctx.region.base <= addr < ctx.region.end:
            off = addr - ctx.region.base
            if any(o < off + size and off < o + ctx.pointer_size(o) for o in ctx.pointer_fields):
                raise MemFault(addr, size, f"write to ctx pointer field at offset {off}", "ctx")
        self.mem.store(addr, size, value)

    def _atomic(self, insn: Atomic) -> None:
        addr = (self._get(insn.dst) + insn.off) & (2**64 - 1)
        w = 8 * insn.size
        self._stack_aligned(addr, insn.size)
        old = self.mem.load(addr, insn.size)
        src = self._get(insn.src)
        if insn.op == "cmpxchg":
            expect = self._get(0) & ((1 << w) - 1)
            if old == expect:
                self.mem.store(addr, insn.size, src)
            self.regs[0] = old
            return
        self.mem.store(addr, insn.size, atomic_result(INT, insn.op, insn.size, old, src))
        if insn.fetch:
            self._set(insn.src, old)

    def _ld_imm64(self, pc: int, insn: LoadImm64) -> int:
        if insn.src == 0:
            return insn.value
        if insn.src == 4:
            return FUNC_BASE + pc + 1 + insn.imm
        if insn.src == 3:  # a kernel symbol (model.interp.percpu)
            return ksym_address(self, insn.imm, insn.imm2)
        ref = self.prog.map_refs.get(pc)
        if ref is None:
            raise SkvError(f"ld_imm64 with pseudo source {insn.src} at insn {pc} names no map")
        st = self.maps[ref.map]
        if insn.src in (1, 5):
            return st.ptr
        if insn.src in (2, 6):
            return st.value_address(insn.imm2)
        raise SkvError(f"ld_imm64 pseudo source {insn.src} is not modelled")

    def _legacy_load(self, pc: int, insn: LegacyLoad) -> int | None:
        """LD ABS/IND: a big-endian packet load into r0; out of bounds is the kernel's
        hidden ``r0 = 0; exit``: the program ends with 0, a subprogram returns 0."""
        check_no_refs(self, "BPF_LD_[ABS|IND]")
        pkt = self.context.packet if self.context else None
        if pkt is None:
            raise SkvError("legacy packet load in a program without a packet")
        off = insn.imm + (self._get(insn.src) if insn.src is not None else 0)
        off = INT.sext(off & 0xFFFFFFFF, 32, 64) if off >= 0 else off
        if off < 0 or off + insn.size > pkt.size:
            self.regs[0] = 0
            return self._exit()
        self.regs[0] = int.from_bytes(pkt.data[off:off + insn.size], "big")
        self._clobber_args()
        return pc + 1

    # -- calls ---------------------------------------------------------------------------
    def _call(self, pc: int, insn: Call) -> int:
        if insn.src == 1:
            if len(self.frames) + 1 >= MAX_CALL_FRAMES:
                raise MemFault(0, 0, f"call depth over {MAX_CALL_FRAMES} frames")
            stack = new_stack(self.mem, len(self.frames) + 1, zeroed=not self.track_stack)
            self.stacks.append(stack)
            self.frames.append(_Frame(pc + 1, self.regs[6:10], stack, self.prog))
            self.regs[10] = stack.end
            return insn.target(pc)
        if insn.src == 2:
            return self._kfunc(pc, insn.imm)
        return self._helper(pc, insn.imm)

    def _kfunc(self, pc: int, btf_id: int) -> int:
        """A kfunc call: an RCU read section's bounds do nothing a run can see (r0 is not
        set: they return void); skb / xdp dynptrs: model.interp.skb_dynptrs; any other
        kfunc is refused ("not modelled")."""
        from model.interp.skb_dynptrs import KFUNC_MODELS
        from model.platform.kfuncs import RCU_LOCK, RCU_UNLOCK, kfunc_name

        name = kfunc_name(self.prog, pc, btf_id)
        fn = KFUNC_MODELS.get(name or "")
        if fn is not None:  # skb / xdp dynptrs
            args = [self.regs[r] if self.regs[r] is not None else 0 for r in range(1, 6)]
            r0 = fn(self, *args) & (2**64 - 1)
            self._clobber_args()
            self.regs[0] = r0
            return pc + 1
        if name not in (RCU_LOCK, RCU_UNLOCK):
            raise SkvError(self.prog.kfunc_unmodelled(pc, btf_id))
        self.regs[0] = None if self.strict else 0
        self._clobber_args()
        return pc + 1

    def _helper(self, pc: int, hid: int) -> int:
        check_call(self, hid)
        if hid == TAIL_CALL and self.helpers is LINUX_HELPERS:
            return self._tail_call(pc)
        fn = self.helpers.get(hid)
        if fn is None and self.helpers is LINUX_HELPERS:
            fn = (REF_HELPERS.get(hid) or DYNPTR_HELPERS.get(hid) or PERCPU_HELPERS.get(hid)
                  or VMA_HELPERS.get(hid)
                  or havoc_for(self.prog.prog_type, hid))
        if fn is None:
            raise SkvError(f"helper {helper_name(hid)}#{hid} is not modelled")
        args = [self.regs[r] if self.regs[r] is not None else 0 for r in range(1, 6)]
        r0 = fn(self, *args)
        self.regs[0] = r0 & (2**64 - 1)
        self._clobber_args()
        return pc + 1

    def _switch(self, prog: Program) -> None:
        if prog is not self.prog:
            self.prog, self.by_pc = prog, prog.by_pc()

    def _tail_call(self, pc: int) -> int:
        """bpf_tail_call(ctx, prog_array, index): the program in that slot (of this object,
        ``MapState.set_prog``) replaces the current one in its frame, with only r1 (the
        context) and r10 set; an index out of range, an empty slot or a run past
        MAX_TAIL_CALL_CNT tail calls fails and the program goes on."""
        st = map_for_helper(self, self.regs[2] if self.regs[2] is not None else 0, TAIL_CALL)
        index = (self.regs[3] or 0) & 0xFFFFFFFF
        target = st.progs.get(index) if index < st.defn.max_entries else None
        if target is None or self.tail_calls >= MAX_TAIL_CALL_CNT:
            self._clobber_args()
            self.regs[0] = None if self.strict else 0
            return pc + 1
        self.tail_calls += 1
        ctx = self._get(1)
        self._switch(target)
        fp = self.regs[10]
        self.regs = [None] * 11 if self.strict else [0] * 11
        self.regs[1], self.regs[10] = ctx, fp
        return 0

    def _exit(self) -> int | None:
        # r0 must be set where the program ends and where a callback returns (return_pc
        # -1: Machine.call_back); a called function hands it back as it is
        if self.strict and self.regs[0] is None and (not self.frames
                                                     or self.frames[-1].return_pc == -1):
            raise _Uninit(0)
        if not self.frames:
            return None
        frame = self.frames.pop()
        stack = self.stacks.pop()
        self.mem.remove(stack)
        self.regs[6:10] = frame.saved
        self.regs[10] = self.stacks[-1].end
        if frame.prog is not None:
            self._switch(frame.prog)
        self._clobber_args()
        return frame.return_pc
