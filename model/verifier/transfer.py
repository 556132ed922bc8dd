"""Abstract transfer of ALU instructions and conditional jumps, as the kernel verifier does
them: scalar arithmetic in the ``Scalar`` domain, pointer arithmetic on offsets, null checks
that turn ``*_or_null`` pointers into pointers or zero, packet-range learning from
``data_end`` comparisons, and bound refinement of scalars (and of their linked copies).
"""

from __future__ import annotations

from typing import Final

from model.domains import Scalar, scalar_alu, scalar_branch_taken, scalar_refine
from model.domains.scalar import mark32_known
from model.isa import Alu, Jump
from model.semantics.backend import INT, to_signed
from model.platform.map_helpers import SOCKET_LOOKUP_MAP_TYPES, map_type_name
from model.verifier.memcheck import Reject
from model.verifier.refs import dropped_on_null
from model.verifier.regs import (NULLABLE, PACKET, SOCKETS, Reg, T, is_pointer, known, replace,
                                 scalar, type_str, unknown, unlinked, var_of, with_scalar)
from model.verifier.state import State

OP_TEXT = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "or": "|=", "and": "&=",
           "lsh": "<<=", "rsh": ">>=", "neg": "neg", "mod": "%=", "xor": "^=", "mov": "=",
           "arsh": "s>>=", "sdiv": "s/=", "smod": "s%=", "movsx": "=(sx)"}
MAX_PACKET_OFF = 0xFFFF
#: the kernel's reg_not_null() among the types modelled (ring buffer memory left out: both
#: edges of its test against 0 are explored, which can only reject more)
NOT_NULL = {T.MAP_VALUE, T.MEM, T.MAP_PTR} | SOCKETS


class Ids:
    """Fresh ids for pointers that may be null, packet pointers and linked scalars."""

    def __init__(self) -> None:
        self.n = 0

    def new(self) -> int:
        self.n += 1
        return self.n


def id_before_mov(src: Reg, ids: Ids) -> Reg:
    """assign_scalar_id_before_mov, before a scalar is copied (a register move, a spill):
    a ``rX += const`` link is dropped (one more copy of it is not tracked), and a scalar
    without an id that is not a constant gets a fresh one, which its copy shares."""
    if src.type is not T.SCALAR:
        return src
    if src.delta is not None:
        src = unlinked(src)
    if not src.id and not var_of(src).is_const():
        src = replace(src, id=ids.new())
    return src


def alu(st: State, insn: Alu, ids: Ids) -> None:
    regs = st.cur.regs
    dst = regs[insn.dst]
    src = known(insn.imm) if insn.src is None else regs[insn.src]
    if insn.src is None and not insn.is64:
        src = known(insn.imm & 0xFFFFFFFF)
    op = insn.op
    ss = src.scalar
    if op == "mov" and insn.is64:
        if src.type is T.SCALAR and insn.src is not None:
            got = id_before_mov(src, ids)
            if got is not src:
                src = regs[insn.src] = got
        regs[insn.dst] = src
        return
    if op == "mov" and src.type is T.SCALAR and insn.src is not None \
            and ss is not None and ss.umax < (1 << 32):
        got = id_before_mov(src, ids)  # a 32-bit move of a 32-bit value: the kernel's
        if got is not src:
            src = regs[insn.src] = got
        if src.id:  # (the copy keeps the link)
            regs[insn.dst] = src
            return
    if op in ("mov", "movsx"):
        if is_pointer(src):  # a partial copy of a pointer is just a number (root may)
            regs[insn.dst] = unknown()
            return
        assert ss is not None  # (a scalar: not a pointer, step checked it is initialised)
        regs[insn.dst] = scalar(scalar_alu(INT, insn, Scalar.const(0), ss))
        return
    if op == "neg" and is_pointer(dst):  # root: the pointer becomes a number
        regs[insn.dst] = unknown()
        return
    if is_pointer(dst) or is_pointer(src):
        regs[insn.dst] = _pointer_alu(insn, dst, src, ids)
        return
    ds = dst.scalar
    assert ds is not None and ss is not None
    value = scalar_alu(INT, insn, ds, ss)
    delta = _add_const_link(insn, dst, src)
    regs[insn.dst] = scalar(value) if delta is None else \
        Reg(T.SCALAR, value, id=dst.id, delta=delta)


S32_MAX = (1 << 31) - 1
S32_MIN = -(1 << 31)


SIGN_FORK_OPS = frozenset({"and", "or"})


def sign_fork(st: State, insn: Alu) -> State | None:
    """maybe_fork_scalars: an ``and``/``or`` with a constant operand on a scalar whose
    signed range is exactly [-1, 0] (LLVM's ``x s>> 63 & K`` for ``x < 0 ? K : 0``) is
    explored as two states. The current one goes on with the scalar -1; the copy
    returned holds 0 and runs the same instruction again (the kernel pushes it at this
    instruction). The 64-bit range is looked at first, then the 32-bit one (only the
    low half made known, as the kernel's __mark_reg32_known). A case split: every value
    is in one of the two states."""
    if insn.op not in SIGN_FORK_OPS:
        return None
    regs = st.cur.regs
    dst = regs[insn.dst]
    if dst.type is not T.SCALAR:
        return None
    if insn.src is not None:
        src = regs[insn.src]
        if src.type is not T.SCALAR or src.scalar is None or not src.scalar.var_off.is_const():
            return None
    v = dst.scalar
    if v is None:
        return None
    if v.smin_s == -1 and v.smax_s == 0:
        minus_one, zero = known(-1), known(0)
    elif v.s32_min_s == -1 and v.s32_max_s == 0:
        # the low half known, the rest as it was (the kernel's __mark_reg32_known)
        minus_one = Reg(T.SCALAR, mark32_known(INT, v, 0xFFFFFFFF))
        zero = Reg(T.SCALAR, mark32_known(INT, v, 0))
    else:
        return None
    other = st.copy()
    other.cur.regs[insn.dst] = zero
    regs[insn.dst] = minus_one
    return other


def _add_const_link(insn: Alu, dst: Reg, src: Reg) -> int | None:
    """adjust_reg_min_max_vals (privileged): ``rX += const`` or ``rX -= const`` (64-bit)
    keeps rX linked to its copies (same id) with the signed constant (negated for a
    subtraction) as its delta, once: a second one, a constant outside the s32 range (or
    S32_MIN subtracted), as every other operation, breaks the link (measured on the
    running 6.18 kernel, whose log prints ``id=N-2`` after ``r1 += -2`` or ``r1 -= 2``;
    it links 32-bit additions too, which skv does not: a link dropped is only a loss).
    The delta, or None: no link."""
    if insn.op not in ("add", "sub") or not insn.is64 or not dst.id or dst.delta is not None:
        return None
    c = src.const()
    if c is None:
        return None
    c = to_signed(c, 64)
    if insn.op == "sub":
        if c == S32_MIN:
            return None
        c = -c
    if not S32_MIN <= c <= S32_MAX:
        return None
    return c


MAX_VAR_OFF: Final = 1 << 29  # BPF_MAX_VAR_OFF
_PTR_TEXT = {T.STACK: "fp"}


def _sane_offset(reg: Reg, ptr_type: T) -> None:
    """check_reg_sane_offset, on the scalar operand and on the pointer (before and after)."""
    name = _PTR_TEXT.get(ptr_type) or ptr_type._value_  # (no Enum property call)
    var = var_of(reg)
    if reg.type is T.SCALAR and var.is_const():
        val = var.smin_s
        if not -MAX_VAR_OFF < val < MAX_VAR_OFF:
            raise Reject(f"math between {name} pointer and {val} is not allowed")
    if not -MAX_VAR_OFF < reg.off < MAX_VAR_OFF:
        raise Reject(f"{name} pointer offset {reg.off} is not allowed")
    if var.smin_s == -(1 << 63):
        raise Reject(f"math between {name} pointer and register with unbounded min value "
                     "is not allowed")
    if not -MAX_VAR_OFF < var.smin_s < MAX_VAR_OFF:
        raise Reject(f"value {var.smin_s} makes {name} pointer be out of bounds")


def _pointer_alu(insn: Alu, dst: Reg, src: Reg, ids: Ids) -> Reg:
    """adjust_reg_min_max_vals / adjust_ptr_min_max_vals for a privileged program."""
    text = OP_TEXT.get(insn.op, insn.op)
    if is_pointer(dst) and is_pointer(src):
        if insn.op == "sub":  # root (allow_ptr_leaks): the difference is just a number
            return unknown()
        raise Reject(f"R{insn.dst} pointer {text} pointer prohibited")
    ptr, num = (dst, src) if is_pointer(dst) else (src, dst)
    if not insn.is64:
        if insn.op == "sub":  # root: a meaningless scalar
            return unknown()
        raise Reject(f"R{insn.dst} 32-bit pointer arithmetic prohibited")
    if ptr.type in NULLABLE:
        raise Reject(f"R{insn.dst} pointer arithmetic on {type_str(ptr)} prohibited, "
                     "null-check it first")
    c = num.const()
    if ptr.type is T.MAP_PTR and c == 0 and insn.op == "add":
        pass
    elif ptr.type in (T.PKT_END, T.MAP_PTR) or ptr.type in SOCKETS or \
            ptr.type is T.FLOW_KEYS and c is None:  # flow keys: constant offsets only
        raise Reject(f"R{insn.dst} pointer arithmetic on {ptr.type.value} prohibited")
    if ptr.type is T.FUNC:
        raise Reject(f"R{insn.dst} pointer arithmetic on func is not modelled")
    _sane_offset(num, ptr.type)
    _sane_offset(ptr, ptr.type)
    if insn.op == "sub":
        if not is_pointer(dst):
            raise Reject(f"R{insn.dst} tried to subtract pointer from scalar")
        if ptr.type is T.STACK:
            raise Reject(f"R{insn.dst} subtraction from stack pointer prohibited")
    elif insn.op in ("and", "or", "xor"):
        raise Reject(f"R{insn.dst} bitwise operator {text} on pointer prohibited")
    elif insn.op != "add":
        raise Reject(f"R{insn.dst} pointer arithmetic with {text} operator prohibited")
    if c is not None:
        delta = c - (1 << 64) if c >> 63 else c
        delta = -delta if insn.op == "sub" else delta
        out = replace(ptr, off=ptr.off + delta)
    else:
        op = Alu(insn.op, True, 0, 1)
        out = with_scalar(ptr, scalar_alu(INT, op, var_of(ptr), var_of(num)))
        if ptr.type in PACKET:
            out = replace(out, id=ids.new(), range=0)
    _sane_offset(out, ptr.type)
    return out


# -- conditional jumps ---------------------------------------------------------------------
def branch(st: State, insn: Jump, maps=None, lock_maps=frozenset()
           ) -> list[tuple[bool, State]]:
    """The feasible edges of a conditional jump: (taken?, refined state) pairs, the
    fall-through first. ``maps``: the object's maps (a null-checked lookup in an array or
    hash of maps becomes a pointer to its inner map); ``lock_maps``: the maps whose values
    hold a bpf_spin_lock (a checked pointer into one keeps its id, the lock's identity)."""
    regs = st.cur.regs
    a = regs[insn.dst]
    b = known(insn.imm if insn.is32 is False else insn.imm & 0xFFFFFFFF) \
        if insn.src is None else regs[insn.src]
    if insn.src is None:
        b = known(insn.imm)
    # two scalars whose values decide the jump: the other edge is impossible (_refine's
    # first answer for it, before any change), and the one edge refines st itself
    sa, sb = a.scalar, b.scalar
    decided = scalar_branch_taken(INT, insn.cond, insn.is32, sa, sb) \
        if a.type is T.SCALAR and b.type is T.SCALAR and sa is not None and sb is not None \
        else None
    out = []
    for taken in (False, True):
        if decided is not None and decided != taken:
            continue
        # (the last feasible edge refines st itself)
        new = st.copy() if not taken and decided is None else st
        if _refine(new, insn, a, b, taken, maps or {}, lock_maps):
            out.append((taken, new))
    return out


def _refine(st: State, insn: Jump, a: Reg, b: Reg, taken: bool, maps,
            lock_maps=frozenset()) -> bool:
    """Refine ``st`` for one edge; False when the edge is impossible."""
    cond = insn.cond
    if (not insn.is32 and insn.src is not None and is_pointer(a) and is_pointer(b)
            and (a.type in NULLABLE) != (b.type in NULLABLE)
            and (cond == "jeq") == taken and cond in ("jeq", "jne")):
        # check_cond_jmp_op: a maybe-NULL pointer equal to one that is not is not NULL
        # either, on the "equal" edge; only that register (mark_ptr_not_null_reg)
        regno = insn.dst if a.type in NULLABLE else insn.src
        st.cur.regs[regno] = not_null(st.cur.regs[regno], maps, lock_maps)
    sa, sb = a.scalar, b.scalar
    if a.type is T.SCALAR and b.type is T.SCALAR and sa is not None and sb is not None:
        verdict = scalar_branch_taken(INT, cond, insn.is32, sa, sb)
        if verdict is not None and bool(verdict) != taken:
            return False
        ra, rb, ok = scalar_refine(INT, cond, insn.is32, sa, sb, taken)
        if not ok:
            return False
        _set_linked(st, insn.dst, with_scalar(a, ra))
        if insn.src is not None:
            _set_linked(st, insn.src, with_scalar(b, rb))
        return True
    if (not insn.is32 and cond in ("jeq", "jne") and insn.src is None and insn.imm == 0
            and a.type in NULLABLE):  # only against the immediate 0, not a register
        is_null = (cond == "jeq") == taken
        _mark_null_check(st, a, is_null, maps, lock_maps)
        return True
    bc = b.const()
    if cond in ("jeq", "jne") and bc is not None \
            and (bc & 0xFFFFFFFF if insn.is32 else bc) == 0 \
            and (a.type in NOT_NULL or a.type is T.BTF_ID and a.trust == "trusted"):
        # the kernel decides a test against 0 (64- or 32-bit) only for pointers it knows
        # are not NULL (reg_not_null: a trusted typed pointer too); stack and ctx pointers
        # (`if r10 == 0`) get both edges, as in the kernel
        return (cond == "jne") == taken
    if a.type in PACKET | {T.PKT_END} and b.type in PACKET | {T.PKT_END} and not insn.is32:
        _packet_compare(st, insn, a, b, taken)
    return True


def _set_linked(st: State, regno: int, new: Reg) -> None:
    """Give a refined scalar to its register and every copy of it (same id): a copy with a
    delta gets the refined value shifted by the difference (sync_linked_regs)."""
    old = st.cur.regs[regno]
    st.cur.regs[regno] = new
    if old.id:
        for frame, where, r in list(st.all_regs()):
            if r.type is T.SCALAR and r.id == old.id and r is not new:
                st.update(frame, where, with_scalar(r, _shifted(new, r)))


def _shifted(known: Reg, r: Reg):
    """``known``'s value plus ``r``'s delta minus ``known``'s (both as s32, then a 64-bit
    and 32-bit addition of that constant, as the kernel does)."""
    if known.delta is None and r.delta is None:
        return known.scalar
    d = to_signed(r.delta or 0, 32) - to_signed(known.delta or 0, 32)
    return scalar_alu(INT, Alu("add", True, 0, imm=0), var_of(known),
                      Scalar.const(d & ((1 << 64) - 1)))



def _mark_null_check(st: State, reg: Reg, is_null: bool, maps, lock_maps=frozenset()
                     ) -> None:
    """mark_ptr_or_null_regs: every copy becomes 0 or the pointer (:func:`not_null`)."""
    if is_null:
        dropped_on_null(st, reg)
    for frame, where, r in list(st.all_regs()):
        if r.type is reg.type and r.id == reg.id:
            if is_null:
                st.update(frame, where, known(0))
            else:
                st.update(frame, where, not_null(r, maps, lock_maps))


def not_null(r: Reg, maps, lock_maps=frozenset()) -> Reg:
    """mark_ptr_not_null_reg: the pointer without its "maybe NULL"; a value of an array or
    hash of maps is a pointer to a map with the inner map's template (CONST_PTR_TO_MAP); a
    map value pointer keeps its id only when the value holds a spin lock (regsafe compares
    ids)."""
    if r.type is T.MAP_VALUE_OR_NULL and r.map in maps and maps[r.map].inner is not None:
        return Reg(T.MAP_PTR, Scalar.const(0), map=maps[r.map].inner)
    if r.type is T.MAP_VALUE_OR_NULL and r.map in maps \
            and SOCKET_LOOKUP_MAP_TYPES.get(map_type_name(maps[r.map].type)) == "xdp_sock":
        return Reg(T.XDP_SOCK, Scalar.const(0))
    if r.type is T.MAP_VALUE_OR_NULL and r.ref:  # a sockmap / sockhash lookup
        return replace(r, type=T.SOCKET, id=0, map=None)
    keep = r.type is not T.MAP_VALUE_OR_NULL or r.map in lock_maps
    return replace(r, type=NULLABLE[r.type], id=r.id if keep else 0)


# (cond, pkt is the left operand) -> the edge on which "pkt + off <= pkt_end" is known,
# and whether the bound is strict (range one larger)
_PKT_EDGE = {
    ("jgt", True): (False, False), ("jge", True): (False, True),
    ("jlt", True): (True, True), ("jle", True): (True, False),
    ("jgt", False): (True, True), ("jge", False): (True, False),
    ("jlt", False): (False, False), ("jle", False): (False, True),
}


def _init_pkt(r: Reg) -> bool:
    """reg_is_init_pkt_pointer: packet start itself (no fixed or variable offset)."""
    return r.type is T.PKT and r.off == 0 and var_of(r).is_const() and var_of(r).const_value() == 0


def _packet_compare(st: State, insn: Jump, a: Reg, b: Reg, taken: bool) -> None:
    """try_match_pkt_pointers: only ``data' <op> data_end`` bounds packet pointers, and only
    ``meta' <op> data`` (data unmoved) bounds metadata pointers; ``meta' <op> data_end``
    or a comparison with a moved ``data`` proves nothing."""
    if a.type is T.PKT and b.type is T.PKT_END:
        pkt, pkt_left = a, True
    elif b.type is T.PKT and a.type is T.PKT_END:
        pkt, pkt_left = b, False
    elif a.type is T.PKT_META and _init_pkt(b):
        pkt, pkt_left = a, True
    elif b.type is T.PKT_META and _init_pkt(a):
        pkt, pkt_left = b, False
    else:
        return
    edge = _PKT_EDGE.get((insn.cond, pkt_left))
    if edge is None or edge[0] != taken:
        return
    open_right = edge[1]  # pkt' < end: one byte more than pkt' <= end
    if pkt.off < 0 or (pkt.off == 0 and open_right):  # the kernel's rule, kept exactly
        return
    if var_of(pkt).umax > MAX_PACKET_OFF or var_of(pkt).umax + pkt.off > MAX_PACKET_OFF:
        return
    new_range = pkt.off + (1 if open_right else 0)
    for frame, where, r in list(st.all_regs()):
        if r.type is pkt.type and r.id == pkt.id:
            st.update(frame, where, replace(r, range=max(r.range, new_range)))
