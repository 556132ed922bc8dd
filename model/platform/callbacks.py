"""Helpers that call a BPF function back (``ARG_PTR_TO_FUNC``), as Linux 6.18's verifier
sets them up (kernel/bpf/verifier.c: ``set_*_callback_state``, ``push_callback_call``,
``prepare_func_exit``), and which of them skv models.

A synchronous callback is verified as called zero or more times: at the call the caller
continues (no iteration), and the callback is entered in a new frame whose registers are
``CallbackSpec.regs``; its ``exit`` returns to the call instruction itself (another
iteration, or none; bpf_loop's callback is entered at most nr_loops' umax times on one
path, counted in the caller's frame: the kernel's callback_depth). Its r0 must be a scalar
in ``ret`` ("At callback return the register R0 has ... should have been in [0, 1]").
After the call r1-r5 are clobbered and r0 is the helper's return value (bpf_loop: the
number of iterations, an unknown scalar here).

Register sources in ``CallbackSpec.regs`` (callee r1, r2, ...; r-registers not listed are
not initialised):

* ``"scalar"``: an unknown scalar (bpf_loop's index: ``SCALAR_VALUE`` with no bounds)
* ``"argN"``: a copy of the caller's rN at the call (the ``callback_ctx``, the map pointer,
  bpf_find_vma's task)
* ``"map_ptr"`` / ``"map_key"`` / ``"map_value"``: the map of the caller's r1 (a map
  pointer, or the timer's map value), or a pointer (offset 0) to key_size / value_size bytes
  of it (PTR_TO_MAP_KEY is read-only)
* ``"btf:STRUCT"``: a (plain, not trusted) PTR_TO_BTF_ID to vmlinux's ``struct STRUCT``
  (bpf_find_vma's vma: set_find_vma_callback_state)

* ``"dynptr_local"``: a pointer to a read-only local dynptr the verifier cannot change
  (CONST_PTR_TO_DYNPTR, "dynptr_ptr": bpf_user_ringbuf_drain's sample; only the abstract
  verifier models dynptrs, ``CallbackSpec.dynptr``)

An asynchronous callback (``is_async``: bpf_timer_set_callback's, set_timer_callback_state)
is not called by the helper: the kernel verifies it as a program of its own (push_async_cb:
a fresh state whose only frame is the callback's, no lock, no references, a fresh stack),
whose exit must return r0 in ``ret`` ("At async callback return ..."). Its registers depend
only on the timer's map, so it is verified once per (callback, map).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.platform.helpers import HELPER_NAMES


@dataclass(frozen=True)
class CallbackSpec:
    regs: tuple[str, ...]
    ret: tuple[int, int]  # the callback's r0 range (signed 64-bit, inclusive)
    #: the caller's register whose umax bounds the iterations on one path (bpf_loop's
    #: nr_loops: "bpf_loop iteration limit reached"), or None (no bound)
    bound_reg: int | None = None
    is_async: bool = False  # verified as a program of its own, not called by the helper
    #: the callback is given a dynptr (engines that do not model dynptrs refuse the call)
    dynptr: bool = False


#: helper name (without bpf_) -> how its callback is called
CALLBACKS = {
    "loop": CallbackSpec(("scalar", "arg3"), (0, 1), bound_reg=1),
    "for_each_map_elem": CallbackSpec(("arg1", "map_key", "map_value", "arg3"), (0, 1)),
    "find_vma": CallbackSpec(("arg1", "btf:vm_area_struct", "arg4"), (0, 1)),
    "timer_set_callback": CallbackSpec(("map_ptr", "map_key", "map_value"), (0, 0),
                                       is_async=True),
    # set_user_ringbuf_callback_state: r1 the sample, r2 the ctx
    "user_ringbuf_drain": CallbackSpec(("dynptr_local", "arg3"), (0, 1), dynptr=True),
}
#: map types whose for_each callback skv models (map_set_for_each_callback_args exists for
#: the hash and array families; others are refused by the kernel or not modelled here)
FOR_EACH_MAP_TYPES = frozenset({"hash", "array", "percpu_hash", "percpu_array", "lru_hash",
                                "lru_percpu_hash"})
#: callback helpers skv does not model, with the reason (none left in 6.18's set)
UNMODELLED: dict[str, str] = {}


def callback_spec(helper: str) -> CallbackSpec | None:
    """How the callback of helper ``helper`` (name without bpf_) is called, or None."""
    return CALLBACKS.get(helper)


def helper_short_name(helper_id: int) -> str:
    """A helper's name without ``bpf_`` ("" for an unknown id)."""
    return (HELPER_NAMES.get(helper_id) or "").removeprefix("bpf_")


def is_callback_call(insn) -> bool:
    """A helper call whose callback skv verifies (its call site is a loop head)."""
    from model.isa import Call

    return (isinstance(insn, Call) and insn.src == 0
            and helper_short_name(insn.imm) in CALLBACKS)


def is_sync_callback_call(insn) -> bool:
    """A callback call whose call site is a loop head (the callback returns to it)."""
    return is_callback_call(insn) and not CALLBACKS[helper_short_name(insn.imm)].is_async


def callback_ret_message(smin: int, smax: int, lo: int, hi: int, where: str = "callback"
                         ) -> str:
    """verbose_invalid_scalar's text at a callback's exit (``where``: "async callback")."""
    parts = ""
    if smin > -(1 << 63):
        parts += f" smin={smin}"
    if smax < (1 << 63) - 1:
        parts += f" smax={smax}"
    return (f"At {where} return the register R0 has{parts or ' unknown scalar value'} "
            f"should have been in [{lo}, {hi}]")


__all__ = ["CallbackSpec", "CALLBACKS", "FOR_EACH_MAP_TYPES", "UNMODELLED", "callback_spec",
           "callback_ret_message", "helper_short_name", "is_callback_call",
           "is_sync_callback_call"]
