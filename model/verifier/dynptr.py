"""Dynptrs in the abstract verifier, as Linux 6.18 checks them (kernel/bpf/verifier.c:
process_dynptr_func, dynptr_get_spi, is_dynptr_reg_valid_init / _uninit,
mark_stack_slots_dynptr, unmark_stack_slots_dynptr, destroy_if_dynptr_stack_slot; the
release check of check_func_arg; check_helper_call's bpf_dynptr_from_mem and
bpf_dynptr_data cases).

A ``struct bpf_dynptr`` is 16 bytes on the stack, at a constant offset that is a multiple
of 8 (not fp-8): two slots marked STACK_DYNPTR (``state.DynSlot``: its type, which slot is
the first, its id and the reference it holds). A helper's ``ARG_PTR_TO_DYNPTR |
MEM_UNINIT`` argument writes those 16 bytes (so an unreferenced dynptr there is destroyed,
a referenced one is "cannot overwrite referenced dynptr") and marks them; a ring buffer
dynptr acquires a reference (``State.refs``: a leak is "Unreleased reference"), which only
bpf_ringbuf_submit_dynptr / discard_dynptr release, even when the reservation failed.
Any other argument must be an initialised dynptr. A plain write into either slot destroys
the dynptr (its slices, the memory bpf_dynptr_data returned, become unknown scalars), or
is refused for a referenced one; reading the slots, by a load or through a helper, is
refused. bpf_user_ringbuf_drain's callback gets a read-only local dynptr
(``T.CONST_DYNPTR``) that may only be read through helpers.
"""

from __future__ import annotations

from model.platform.proto_kinds import ArgFlag, dynptr_type
from model.verifier.memcheck import Reject, access
from model.verifier.regs import Reg, T, pointer, type_str, unknown
from model.verifier.state import DYNPTR, STACK_SIZE, DynSlot, Frame, Slot, State

BPF_DYNPTR_SIZE = 16
#: the dynptr types that hold a reference (dynptr_type_refcounted)
REFCOUNTED = frozenset({"ringbuf"})
#: the register types a dynptr argument may be (check_reg_type's dynptr_types)
EXPECTED = "fp, dynptr_ptr"


def _frame(st: State, r: Reg) -> Frame | None:
    return next((f for f in st.frames if f.frameno == r.frame), None)


def _spi(r: Reg) -> int | None:
    """dynptr_get_spi: the slot of the dynptr's first (lowest) 8 bytes, or None (not a
    constant offset, not a multiple of 8, fp-8: no room for two slots). Slots beyond the
    frame count (the kernel's -ERANGE)."""
    if not r.var.is_const():
        return None
    v = r.var.const_value()
    off = r.off + (v - (1 << 64) if v >> 63 else v)
    if off % 8 or off >= -8:
        return None
    return (-off - 1) // 8


def _initialised(st: State, r: Reg) -> DynSlot | None:
    """is_dynptr_reg_valid_init: the dynptr whose first slot ``r`` points to."""
    spi, frame = _spi(r), _frame(st, r)
    if spi is None or frame is None or spi >= STACK_SIZE // 8:
        return None
    first, second = frame.stack.get(spi), frame.stack.get(spi - 1)
    if (first is None or second is None or first.dynptr is None or second.dynptr is None
            or not first.dynptr.first):
        return None
    return first.dynptr


def dynptr_arg(st: State, regno: int, r: Reg, arg, pc: int, ids) -> DynSlot:
    """check_func_arg for an ``ARG_PTR_TO_DYNPTR`` argument (with its release check), then
    process_dynptr_func: the dynptr the helper gets (a new one for MEM_UNINIT, marked on the
    stack, its reference acquired)."""
    if r.type not in (T.STACK, T.CONST_DYNPTR):
        raise Reject(f"R{regno} type={type_str(r)} expected={EXPECTED}")
    release = bool(arg.flags & ArgFlag.OBJ_RELEASE)
    if r.type is T.CONST_DYNPTR:
        _unmoved(regno, r, release)
    if release:
        if r.type is T.CONST_DYNPTR:
            raise Reject("cannot release unowned const bpf_dynptr")
        if not _slot_ref(st, r):
            raise Reject(f"arg {regno} is an unacquired reference")
    if arg.flags & ArgFlag.MEM_UNINIT:
        if r.type is T.CONST_DYNPTR or _spi(r) is None:
            raise Reject("Dynptr has to be an uninitialized dynptr")
        for i in range(0, BPF_DYNPTR_SIZE, 8):  # written 8 bytes at a time
            access(st, {}, "", regno, r, i, 8, write=True)
        return _mark(st, r, dynptr_type(arg), pc, ids)
    if r.type is T.CONST_DYNPTR:
        if not arg.flags & ArgFlag.MEM_RDONLY:
            raise Reject("cannot pass pointer to const bpf_dynptr, the helper mutates it")
        d = DynSlot(r.tag, True, 0)
    else:
        d = _initialised(st, r)
        if d is None:
            raise Reject(f"Expected an initialized dynptr as arg #{regno - 1}")
    want = dynptr_type(arg)
    if want is not None and d.type != want:
        raise Reject(f"Expected a dynptr of type {want} as arg #{regno - 1}")
    return d


def _unmoved(regno: int, r: Reg, release: bool) -> None:
    """check_func_arg_reg_off (__check_ptr_off_reg) for the callback's dynptr pointer."""
    if release and r.off:
        raise Reject(f"R{regno} must have zero offset when passed to release func or trusted "
                     "arg to kfunc")
    if not r.var.is_const():
        t = r.var.var_off
        raise Reject(f"variable dynptr_ptr access var_off=({t.value:#x}; {t.mask:#x}) "
                     "disallowed")
    if r.off or r.var.const_value():
        raise Reject(f"dereference of modified dynptr_ptr ptr R{regno} off={r.off} disallowed")


def _slot_ref(st: State, r: Reg) -> int:
    """The reference held by the dynptr slot ``r`` points to (0: none, or no dynptr)."""
    spi, frame = _spi(r), _frame(st, r)
    if spi is None or frame is None:
        return 0
    s = frame.stack.get(spi)
    return s.dynptr.ref if s is not None and s.dynptr is not None else 0


def _mark(st: State, r: Reg, dtype: str, pc: int, ids) -> DynSlot:
    """mark_stack_slots_dynptr (the 16 bytes were just written: no dynptr is left there)."""
    spi, frame = _spi(r), _frame(st, r)
    did, ref = ids.new(), 0
    if dtype in REFCOUNTED:
        ref = ids.new()
        st.refs = st.refs + ((ref, pc),)
    d = DynSlot(dtype, True, did, ref)
    frame.stack[spi] = Slot(DYNPTR * 8, None, d)
    frame.stack[spi - 1] = Slot(DYNPTR * 8, None, d._replace(first=False))
    return d


def release_dynptr(st: State, r: Reg, helper: str) -> None:
    """unmark_stack_slots_dynptr after a release helper: the reference is dropped (its
    slices become unknown scalars) and every dynptr holding it is gone."""
    from model.verifier.refs import release

    ref, frame = _slot_ref(st, r), _frame(st, r)
    release(st, ref, helper)
    for k, s in list(frame.stack.items()):
        if s.dynptr is not None and s.dynptr.ref == ref and s.dynptr.first:
            _invalidate(st, frame, k)


def _invalidate(st: State, frame: Frame, first: int) -> None:
    """Both slots of the dynptr whose first slot is ``first`` become invalid bytes, and its
    slices unknown scalars (mark_reg_invalid for a privileged loader)."""
    did = frame.stack[first].dynptr.id
    frame.stack.pop(first, None)
    frame.stack.pop(first - 1, None)
    for f, where, reg in list(st.all_regs()):  # exactly PTR_TO_MEM(_OR_NULL): neither a
        # read-only slice nor one of packet memory (model.verifier.dynptr_kfuncs)
        if reg.dynptr == did and reg.type in (T.MEM, T.MEM_OR_NULL) and not reg.read_only \
                and not reg.tag:
            st.update(f, where, unknown())


def destroy(st: State, frame: Frame, k: int) -> None:
    """destroy_if_dynptr_stack_slot: before a write into slot ``k`` (a dynptr's)."""
    d = frame.stack[k].dynptr
    first = k if d.first else k + 1
    if d.ref:
        raise Reject("cannot overwrite referenced dynptr")
    _invalidate(st, frame, first)


def first_dynptr_byte(frame: Frame, lo: int, hi: int) -> int | None:
    """The lowest stack offset in [lo, hi) that is part of a dynptr, or None."""
    for k in range((-lo - 1) // 8, (-hi) // 8 - 1, -1):  # from the lowest address up
        s = frame.stack.get(k)
        if s is not None and s.dynptr is not None:
            return max(lo, -8 * (k + 1))
    return None


def helper_mem_check(frame: Frame, regno: int, r: Reg, lo: int, hi: int, size: int,
                     raw: bool) -> None:
    """check_stack_range_initialized for a helper's stack memory argument: no byte of a
    dynptr may be written (``raw``: MEM_UNINIT) or read."""
    at = first_dynptr_byte(frame, lo, hi + size)
    if at is None:
        return
    if raw:
        raise Reject(f"potential write to dynptr at off={at} disallowed")
    if lo == hi:
        raise Reject(f"invalid read from stack R{regno} off {lo}+{at - lo} size {size}")
    raise Reject(f"invalid variable-offset read from stack R{regno} (a dynptr at {at})")


def from_mem_check(data: Reg) -> None:
    """check_helper_call: bpf_dynptr_from_mem's data must be a map value."""
    if data.type is not T.MAP_VALUE:
        raise Reject(f"Unsupported reg type {type_str(data)} for bpf_dynptr_from_mem data")


def slice_reg(d: DynSlot, size: int, ids) -> Reg:
    """bpf_dynptr_data's r0: NULL or ``size`` bytes of the dynptr's memory (a slice, holding
    the dynptr's reference if any)."""
    return pointer(T.MEM_OR_NULL, id=ids.new(), range=size, ref=d.ref, dynptr=d.id)


def callback_dynptr() -> Reg:
    """bpf_user_ringbuf_drain's callback r1: a read-only local dynptr."""
    return pointer(T.CONST_DYNPTR, tag="local")


__all__ = ["dynptr_arg", "release_dynptr", "destroy", "first_dynptr_byte", "helper_mem_check",
           "from_mem_check", "slice_reg", "callback_dynptr"]
