"""Register liveness, per pc: the registers that may be read before being written from
that instruction on (the role of the kernel's REG_LIVE_READ marks, computed statically).
A dead register cannot influence anything, so pruning ignores it whatever its type.

Calls are summarised: a helper call reads its prototype's argument registers, a
subprogram or kfunc call r1-r5, and all leave r0-r5 written; ``exit`` reads r0; a legacy packet load
reads r6 (the skb) and its index register and clobbers r0-r5. A caller's frame is live
as at the instruction its call returns to.
"""

from __future__ import annotations

from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Jump, LegacyLoad, Load,
                       LoadImm64, Store)
from model.verifier.regs import T
from model.verifier.state import STACK_SIZE, Frame, State
from model.platform.callbacks import is_sync_callback_call
from model.platform.proto_kinds import Arg, ArgFlag
from model.platform.prototypes import helper_proto
from model.program import Program
from model.verifier.sensitivity import ARGS, CALL_CLOBBERED, Flow, call_args


def _uses_defs(insn, prog_type: str) -> tuple[set[int], set[int]]:
    if isinstance(insn, Alu):
        uses = set() if insn.op in ("mov", "movsx") else {insn.dst}
        if insn.src is not None:
            uses.add(insn.src)
        return uses, {insn.dst}
    if isinstance(insn, Endian):
        return {insn.dst}, {insn.dst}
    if isinstance(insn, LoadImm64):
        return set(), {insn.dst}
    if isinstance(insn, Load):
        return {insn.src}, {insn.dst}
    if isinstance(insn, Store):
        return {insn.dst} | ({insn.src} if insn.src is not None else set()), set()
    if isinstance(insn, Atomic):
        uses = {insn.dst, insn.src} | ({0} if insn.op == "cmpxchg" else set())
        defs = {0} if insn.op == "cmpxchg" else ({insn.src} if insn.fetch else set())
        return uses, defs
    if isinstance(insn, Jump):
        if insn.cond == "ja":
            return set(), set()
        return {insn.dst} | ({insn.src} if insn.src is not None else set()), set()
    if isinstance(insn, CallX):
        return set(ARGS) | {insn.dst}, set(CALL_CLOBBERED)
    if isinstance(insn, Call):
        return set(call_args(insn, prog_type)), set(CALL_CLOBBERED)
    if isinstance(insn, LegacyLoad):
        return {6} | ({insn.src} if insn.src is not None else set()), set(CALL_CLOBBERED)
    if isinstance(insn, Exit):
        return {0}, set()
    return set(), set()  # may_goto and anything else: reads and writes no register


def live_registers(prog: Program, flow: Flow | None = None) -> dict[int, frozenset[int]]:
    """pc -> registers that may be read (before a write) from that instruction on."""
    flow = flow or Flow(prog)
    ptype = prog.prog_type
    ud: dict[int, tuple] = {}
    by_insn: dict = {}  # (the same instruction reads and writes the same registers)
    for pc, insn in flow.by_pc.items():
        got = by_insn.get(insn)
        if got is None:
            uses, defs = _uses_defs(insn, ptype)
            got = by_insn[insn] = (frozenset(uses | {10}), frozenset(defs))
        ud[pc] = got

    def transfer(pc, out):
        uses, defs = ud[pc]
        return (out - defs) | uses

    return flow.backward(transfer)


ALL_SLOTS = frozenset(range(STACK_SIZE // 8))
NO_SLOTS: frozenset[int] = frozenset()


def _slots(off: int, size: int) -> frozenset[int]:
    """The 8-byte slots (k: bytes [-8(k+1), -8k)) an ``r10 + off`` access of ``size`` bytes
    touches."""
    return frozenset((-b - 1) // 8 for b in range(off, off + size) if -STACK_SIZE <= b < 0)


def _stack_uses_kills(insn, stackish: frozenset[int], prog_type: str,
                      r10_reads: bool = True):
    """(slots read, slots wholly overwritten), statically: direct ``r10`` accesses exactly
    (``r10_reads``; else those reads are left to be observed, as the kernel's liveness
    knows only the reads of the paths it explored: an instruction never reached, behind a
    branch the values decide, reads nothing); ``ALL_SLOTS`` read by a call that may hand
    a stack pointer to code that runs later (a subprogram, kfunc, indirect call or a
    helper's callback). Reads through any other register, and a plain helper's reads, are
    observed while exploring (``SlotLiveness.record``)."""
    if isinstance(insn, Load):
        return (_slots(insn.off, insn.size) if insn.src == 10 and r10_reads
                else NO_SLOTS), NO_SLOTS
    if isinstance(insn, Store):
        if insn.dst == 10 and insn.size == 8 and insn.off % 8 == 0:
            return NO_SLOTS, _slots(insn.off, 8)
        return NO_SLOTS, NO_SLOTS  # a partial or indirect write reads nothing
    if isinstance(insn, Atomic):
        return (_slots(insn.off, insn.size) if insn.dst == 10 and r10_reads
                else NO_SLOTS), NO_SLOTS
    if isinstance(insn, (Call, CallX)) and not observed_reads(insn, prog_type):
        if isinstance(insn, Call) and insn.src == 0 and helper_proto(prog_type, insn.imm) is None:
            # a helper without a prototype (e.g. libbpf's poisoned call of a failed CO-RE
            # relocation, in code a constant branch skips): reaching it refuses the path
            # (``invalid func``, or not modelled), so it reads nothing
            return NO_SLOTS, NO_SLOTS
        reads = _memory_read_args(insn, prog_type)
        return (ALL_SLOTS if reads & stackish else NO_SLOTS), NO_SLOTS
    return NO_SLOTS, NO_SLOTS


def observed_reads(insn, prog_type: str, r10: bool = False) -> tuple[int, ...]:
    """The registers through which ``insn`` may read the current frame's stack where the
    read is observed on the explored states (not assumed statically): a load's or atomic's
    address register (``r10`` too when ``r10``), a helper's memory arguments (a helper
    without a callback argument: its reads all happen during the call)."""
    if isinstance(insn, Load):
        return (insn.src,) if insn.src != 10 or r10 else ()
    if isinstance(insn, Atomic):
        return (insn.dst,) if insn.dst != 10 or r10 else ()
    if isinstance(insn, Call) and insn.src == 0:
        proto = helper_proto(prog_type, insn.imm)
        if proto is not None and not any(a.base is Arg.PTR_TO_FUNC for a in proto.args):
            return tuple(sorted(_memory_read_args(insn, prog_type)))
    return ()


def _memory_read_args(insn, prog_type: str) -> frozenset[int]:
    """The argument registers through which a call may read memory: every argument but a
    helper's write-only memory (``ARG_PTR_TO_MEM | MEM_UNINIT``, e.g. probe_read's
    destination) and ``ARG_ANYTHING`` (check_func_arg accesses nothing through it: e.g.
    probe_read's source, whose bytes the verifier never reads); all of them for
    subprograms, kfuncs and indirect calls."""
    if isinstance(insn, Call) and insn.src == 0:
        proto = helper_proto(prog_type, insn.imm)
        if proto is not None:
            return frozenset(1 + i for i, a in enumerate(proto.args[:5])
                             if not (a.base is Arg.PTR_TO_MEM and a.flags & ArgFlag.MEM_UNINIT
                                     or a.base is Arg.ANYTHING))
    return call_args(insn, prog_type) | ({insn.dst} if isinstance(insn, CallX) else set())


class SlotLiveness(dict):
    """pc -> the current frame's stack slots that may be read (before being wholly
    overwritten) from that instruction on, by this function or a callee it passes a stack
    pointer to; only the innermost frame's (a callee may read a caller's stack).
    ``untouched``: pc -> the slots that may be read before any byte of them is written by
    an ``r10`` store (a subset: a partial write ends a spilled register too; ``touches``:
    pc -> the slot its ``r10`` store writes some bytes of), for ``covers``.

    The static part (``live_slots``) is exact for ``r10``-based accesses; a read through
    another register, by a helper or a kfunc is added when an explored state makes it
    (``record``: the slots its stack pointer may reach; a subprogram's or callback's read
    of a caller's stack counts at the caller's call), and propagated backward within
    the function. A state is only pruned against a fully explored one, whose subtree's
    reads have all been recorded: a covered state follows the same paths and reads the
    same slots (the role of the kernel's observed stack-use data, liveness.c)."""

    def __init__(self, base: dict[int, frozenset[int]], flow: Flow, kills: dict,
                 observe: dict[int, tuple], maps: dict | None = None,
                 untouched: tuple[dict[int, frozenset[int]], dict] | None = None):
        super().__init__(base)
        self.preds, self.kills = flow.preds, kills
        #: pc -> slots read before any write touches them, and each pc's touched slots
        self.untouched, self.touches = untouched if untouched is not None else (dict(base),
                                                                                  kills)
        #: pc -> (register, offset, size): an int, None (up to the top of the stack) or
        #: how a helper's argument gives it (``_arg_size``)
        self.observe = observe
        self.maps = maps or {}  # map name -> (key_size, value_size)
        self.seen: dict[int, frozenset[int]] = {}

    def record(self, pc: int, st: State, regno: int, off: int, size) -> None:
        frames = st.frames
        frame = frames[-1]
        r = frame.regs[regno]
        if r.type is not T.STACK:
            return
        if r.frame != frame.frameno:
            # a caller's stack, read by a subprogram or a callback it called: read at the
            # call in that caller (``_callee_reads_observed``)
            if not 0 <= r.frame < frame.frameno or frames[r.frame + 1].callsite < 0:
                return  # (no such caller: a stale pointer, refused where it is used)
            pc = frames[r.frame + 1].callsite
        if size.__class__ is tuple:
            size = self._arg_size(frame, size)
        var = r.var
        lo = max(r.off + off + max(var.smin_s, -STACK_SIZE), -STACK_SIZE)
        hi = 0 if size is None else min(r.off + off + min(var.smax_s, STACK_SIZE) + size, 0)
        if lo >= hi:
            return
        got = frozenset(range((-hi) // 8, (-lo - 1) // 8 + 1))
        seen = self.seen.get(pc, NO_SLOTS)
        if got <= seen:
            return
        self.seen[pc] = seen | got
        _add(self, self.kills, self.preds, pc, got)
        _add(self.untouched, self.touches, self.preds, pc, got)

    def _arg_size(self, frame: Frame, spec: tuple) -> int | None:
        """The bytes a helper reads through a memory argument, as check_helper_mem_access
        sizes it: ("reg", k) the size register's largest value, ("key"|"value", k) the
        size of the map in register k; None (up to the top) when not known."""
        kind, k = spec
        r = frame.regs[k]
        if kind == "reg":
            if r.type is not T.SCALAR:
                return None
            return min(r.scalar.umax, STACK_SIZE)
        sizes = self.maps.get(r.map) if r.type is T.MAP_PTR else None
        if sizes is None:
            return None
        return sizes[0] if kind == "key" else sizes[1]


def _add(live: dict[int, frozenset[int]], kills: dict, preds: dict, pc: int,
         new: frozenset[int]) -> None:
    """Slots ``new`` read at ``pc``: live there and backward until killed."""
    work = [(pc, new)]
    while work:
        q, bits = work.pop()
        bits = bits - live.get(q, NO_SLOTS)
        if not bits:
            continue
        live[q] = live.get(q, NO_SLOTS) | bits
        for p in preds.get(q, ()):
            if live.get(p) is ALL_SLOTS:
                continue
            work.append((p, bits - kills[p]))


def slot_liveness(prog: Program, flow: Flow | None = None,
                  maps: dict | None = None) -> SlotLiveness:
    """The static ``live_slots`` with the per-pc reads to observe while exploring (all
    stack reads by loads, ``r10``'s too, and by plain helpers; ``maps``: name -> (key
    size, value size), to size a helper's reads of a map key or value)."""
    flow = flow or Flow(prog)
    ptype, ptrs = prog.prog_type, flow.stack_ptrs
    uk = {pc: (NO_SLOTS, NO_SLOTS) if _callee_reads_observed(prog, pc, insn) else
          _stack_uses_kills(insn, ptrs.get(pc, ALL_REGS), ptype, r10_reads=False)
          for pc, insn in flow.by_pc.items()}
    base = _backward_slots(flow, uk)
    touches = {pc: _touched(insn) | uk[pc][1] for pc, insn in flow.by_pc.items()}
    untouched = _backward_slots(flow, {pc: (uk[pc][0], touches[pc]) for pc in uk})
    observe: dict[int, tuple] = {}
    for pc, insn in flow.by_pc.items():
        if isinstance(insn, Call) and insn.src == 2:  # a kfunc: its memory arguments
            observe[pc] = tuple((r, 0, None) for r in sorted(ARGS))
            continue
        regs = observed_reads(insn, ptype, r10=True)
        if regs and isinstance(insn, Call):
            observe[pc] = tuple((r, 0, _read_size(insn, r, ptype)) for r in regs)
        elif regs and isinstance(insn, (Load, Atomic)):
            observe[pc] = tuple((r, insn.off, insn.size) for r in regs)
    return SlotLiveness(base, flow, {pc: k for pc, (_, k) in uk.items()}, observe, maps,
                        (untouched, touches))


def _touched(insn) -> frozenset[int]:
    """The slot an ``r10`` store of any size writes some bytes of (stack accesses are
    aligned: one slot); a spilled register there is gone after it (a partial write
    leaves plain bytes)."""
    if isinstance(insn, Store) and insn.dst == 10:
        return _slots(insn.off, insn.size)
    return NO_SLOTS


def _callee_reads_observed(prog: Program, pc: int, insn) -> bool:
    """A call whose reads of the caller's stack are all observed while exploring, as the
    kernel's liveness records the accesses of the paths it explored: a kfunc (its memory
    arguments, read during the call: no modelled kfunc runs program code, and a kfunc
    not modelled rejects the path that reaches it), a static subprogram's or a
    synchronous callback's reads through a pointer into this frame (``record`` counts
    them at the call); a global function or an asynchronous callback are not."""
    if not isinstance(insn, Call):
        return False
    if insn.src == 2:
        return True
    if insn.src == 1:
        return insn.target(pc) not in prog.global_funcs
    return insn.src == 0 and is_sync_callback_call(insn)


def _read_size(insn, regno: int, prog_type: str):
    """How many bytes a helper reads through argument register ``regno``: a fixed size, a
    spec ``SlotLiveness._arg_size`` evaluates on the state (the next size register, the
    key or value size of the map argument before it), or None (up to the top)."""
    proto = helper_proto(prog_type, insn.imm)
    assert proto is not None  # (observed_reads: a helper with a prototype)
    args = proto.args
    arg = args[regno - 1]
    if arg.is_fixed_mem:
        return arg.size
    if arg.is_mem and regno < 5 and regno < len(args) and args[regno].is_size:
        return ("reg", regno + 1)
    if arg.base in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
        maps = [k + 1 for k, a in enumerate(args[:regno - 1]) if a.base is Arg.CONST_MAP_PTR]
        if maps:
            return ("key" if arg.base is Arg.PTR_TO_MAP_KEY else "value", maps[-1])
    return None


def live_slots(prog: Program, flow: Flow | None = None) -> dict[int, frozenset[int]]:
    """pc -> the current frame's stack slots read from that instruction on by ``r10``
    accesses and calls that pass a stack pointer on (reads observed while exploring not
    included: ``slot_liveness``)."""
    flow = flow or Flow(prog)
    ptype, ptrs = prog.prog_type, flow.stack_ptrs
    return _backward_slots(flow, {pc: _stack_uses_kills(insn, ptrs.get(pc, ALL_REGS), ptype)
                                  for pc, insn in flow.by_pc.items()})


def _backward_slots(flow: Flow, uk: dict) -> dict[int, frozenset[int]]:
    def transfer(pc, out):
        uses, kills = uk[pc]
        return (out - kills) | uses if uses is not ALL_SLOTS else ALL_SLOTS

    return flow.backward(transfer)


ALL_REGS = frozenset(range(11))

__all__ = ["live_registers", "live_slots", "slot_liveness", "SlotLiveness"]
