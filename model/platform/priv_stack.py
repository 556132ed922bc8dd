"""Private stacks for BPF functions (Linux 6.18, x86-64 JIT: bpf_jit_supports_private_stack).

The kernel's combined-stack check (check_max_stack_depth) sums the frames of every static
call chain and refuses a sum over 512 bytes. For some program types the JIT gives a
function whose own stack (rounded up to 16 bytes) is at least ``PRIV_STACK_MIN_SIZE`` a
per-CPU private stack instead (priv_stack_mode PRIV_STACK_ADAPTIVE): such a frame then
counts in no chain, only on its own (at most 512 bytes). Which programs may use them
(bpf_enable_priv_stack):

- kprobe, tracepoint, perf_event and raw_tracepoint programs (no trampoline);
- tracing programs other than iterators (bpf_prog_check_recur: the trampoline detects
  recursion; fentry / fexit / fmod_ret / tp_btf);
- lsm and struct_ops programs only when the struct_ops asks for it (priv_stack_requested):
  never for the program types skv models.

And never when any function of the program has a ``bpf_tail_call``; nor for a function
reachable from an async callback (a bpf_timer callback's call tree keeps the kernel stack,
even when the main program reaches the same function too).

Measured on Linux 6.18 (tests/test_stack_depth.py): chains over 512 bytes load for the
types above and are refused for xdp, socket_filter, sched_cls...; a frame of 48 bytes
(under 64) still counts in the chain."""

from __future__ import annotations

from model.platform.tracing_targets import BPF_TRACE_ITER

#: a frame (its stack depth rounded up to 16) this big or bigger gets a private stack
PRIV_STACK_MIN_SIZE = 64
#: program types whose functions may have private stacks, attach type aside
PRIV_STACK_TYPES = frozenset({"kprobe", "tracepoint", "perf_event", "raw_tracepoint"})
#: tracing programs (BPF_PROG_TYPE_TRACING) may, but for these attach types
_TRACING_WITHOUT = frozenset({BPF_TRACE_ITER})


def private_stacks(prog_type: str, attach_type: int, has_tail_call: bool) -> bool:
    """bpf_enable_priv_stack (after check_max_stack_depth's tail-call test): whether the
    program's functions may run on private stacks."""
    if has_tail_call:
        return False
    if prog_type in PRIV_STACK_TYPES:
        return True
    return prog_type == "tracing" and attach_type not in _TRACING_WITHOUT


def on_private_stack(allowed: bool, in_async_tree: bool, frame_bytes: int) -> bool:
    """A function's frame of ``frame_bytes`` (rounded) is on a private stack."""
    return allowed and not in_async_tree and frame_bytes >= PRIV_STACK_MIN_SIZE
