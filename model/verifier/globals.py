"""Calls of global functions in the abstract verifier (Linux 6.18's check_func_call for a
global subprogram): the arguments are checked against the function's BTF prototype
(``model.platform.global_funcs``), the call returns an unknown scalar, and the function
is verified once, on its own, from a fresh frame built from that prototype
(do_check_subprogs) -- never with the caller's values."""

from __future__ import annotations

from model.cfg.graph import func_starts
from model.isa import Call
from model.platform.global_funcs import prototype
from model.platform.helpers import helper_name
from model.platform.proto_rows import CHANGES_PKT_DATA
from model.verifier.calls import TAIL_CALL, _mem_arg, invalidate_packet_pointers, unmoved_ctx
from model.verifier.memcheck import MISC, Reject, _set_byte, stack_bounds
from model.verifier.regs import NOT_INIT, NULLABLE, Reg, T, pointer, replace, unknown
from model.verifier.state import Frame, State


#: the pointers whose fixed offset the memory checks below take into account
_OFFSET_OK = frozenset({T.STACK, T.MAP_VALUE, T.PKT, T.PKT_META, T.MEM, T.RINGBUF_MEM})


def _func_no(prog, target: int) -> int:
    return sorted(func_starts(prog)).index(target)


def _refuse(prog, target: int, name: str, why: str) -> Reject:
    return Reject(f"{why}\nCaller passes invalid args into func#{_func_no(prog, target)} "
                  f"('{name}')")


def _unmodelled_at_call(st: State, name: str) -> None:
    """A call of a global function, which the kernel verifies on its own from its BTF
    prototype (the caller's typed pointers are no arguments it takes; no RCU section
    inside it): what skv does not model at such a call (a typed pointer argument, an
    RCU read section held)."""
    if st.rcu:
        raise Reject(f"not modelled: a call of global function {name} inside an RCU read "
                     "section")
    for regno in range(1, 6):
        if st.cur.regs[regno].type in (T.BTF_ID, T.BTF_ID_OR_NULL):
            raise Reject(f"not modelled: a typed pointer (R{regno}) passed to global "
                         f"function {name}")


def call_global(st: State, obj, prog, target: int) -> None:
    """btf_check_subprog_call and the global branch of check_func_call, on ``st`` at the
    call: each argument register against the prototype; then r0 an unknown scalar, r1-r5
    unreadable, memory passed possibly written (stack bytes: misc)."""
    _unmodelled_at_call(st, prog.subprogs.get(target, f"#{target}"))
    p = prototype(obj, prog, target)
    if p.unmodelled:
        raise Reject(p.unmodelled)
    if p.error:
        raise _refuse(prog, target, p.name, p.error)
    if st.lock is not None:
        raise Reject("global function calls are not allowed while holding a lock,\n"
                     "use static function instead")
    regs = st.cur.regs
    stack_written = []
    for i, arg in enumerate(p.args):
        regno = i + 1
        r = regs[regno]
        if arg[0] == "scalar":
            if r.type is not T.SCALAR:
                raise _refuse(prog, target, p.name, f"R{regno} is not a scalar")
        elif arg[0] == "ctx":
            if r.type is not T.CTX:
                raise _refuse(prog, target, p.name, f"arg#{i} expects pointer to ctx")
            unmoved_ctx(regno, r)
        else:
            _, size, nullable = arg
            if r.type is T.SCALAR and r.scalar.is_const() and r.scalar.const_value() == 0:
                continue  # check_mem_reg: NULL is fine (for a non-NULL argument too)
            if r.type in NULLABLE:
                if not nullable:
                    raise _refuse(prog, target, p.name, f"arg#{i} is expected to be non-NULL")
                r = replace(r, type=NULLABLE[r.type])
            if r.off and r.type not in _OFFSET_OK:
                raise Reject(f"not modelled: a moved {r.type.value} pointer (R{regno}) "
                             f"passed to global function {p.name}")
            try:
                if r.type is T.STACK:
                    _mem_arg(st, obj, prog.prog_type, regno, r, size, write=False)  # read
                    stack_written.append((r, stack_bounds(regno, r, 0, size, True), size))
                else:
                    _mem_arg(st, obj, prog.prog_type, regno, r, size, write=True,
                             kernel_write=True)
            except Reject as e:
                raise _refuse(prog, target, p.name, str(e)) from None
    for r, (lo, hi), size in stack_written:  # check_stack_range_initialized's clobber
        frame = next(f for f in st.frames if f.frameno == r.frame)
        for a in range(lo, hi + size):
            _set_byte(frame, a, MISC)
    changers = prog.__dict__.setdefault("_pkt_changers", {})  # per function, once
    if target not in changers:
        changers[target] = _changes_pkt_data(prog, target)
    if changers[target]:
        invalidate_packet_pointers(st)
    regs[0] = unknown()
    for r in range(1, 6):
        regs[r] = NOT_INIT


def _changes_pkt_data(prog, target: int) -> bool:
    """The function, or one it calls, may move the packet (a helper that changes packet
    data, a tail call, a kfunc: counted conservatively)."""
    starts = sorted(func_starts(prog))
    by_pc = prog.by_pc()
    seen, todo = set(), [target]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        end = next((s for s in starts if s > f), prog.n_slots)
        for pc in range(f, end):
            i = by_pc.get(pc)
            if not isinstance(i, Call):
                continue
            if i.src == 1:
                todo.append(i.target(pc))
            elif i.src == 2 or i.imm == TAIL_CALL or \
                    (helper_name(i.imm) or "").removeprefix("bpf_") in CHANGES_PKT_DATA:
                return True
    return False


def global_entry_state(st: State, obj, prog, callsite: int, target: int, ids) -> State:
    """The global function at ``target`` as the kernel verifies it (do_check_common for a
    subprogram): one frame, a fresh stack, no lock, references or RCU section; each
    argument from the prototype (scalar: unknown; ctx: the context; memory: NULL or
    ``size`` bytes, a PTR_TO_MEM). The frame's call site is ``callsite`` (its stack depth
    counts on the caller's chain); frame 0 with a call site is a global function's."""
    p = prototype(obj, prog, target)
    regs = [NOT_INIT] * 11
    for i, arg in enumerate(p.args):
        if arg[0] == "scalar":
            regs[i + 1] = unknown()
        elif arg[0] == "ctx":
            regs[i + 1] = pointer(T.CTX)
        elif arg[2]:
            regs[i + 1] = pointer(T.MEM_OR_NULL, id=ids.new(), range=arg[1])
        else:
            regs[i + 1] = pointer(T.MEM, range=arg[1])
    regs[10] = Reg(T.STACK, None, off=0, frame=0)
    return State([Frame(regs, {}, callsite, 0)], target, st.depths)


def is_global_frame(st: State) -> bool:
    f = st.frames[0]
    return len(st.frames) == 1 and f.callsite >= 0 and f.cb_ret is None


__all__ = ["call_global", "global_entry_state", "is_global_frame"]
