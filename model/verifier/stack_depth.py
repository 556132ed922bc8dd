"""The kernel's check_max_stack_depth, run once a program's paths are explored: along every
static call chain (bpf-to-bpf calls and callbacks' ld_imm64, reached or not) the frames'
stack depths, rounded up to 16 bytes, fit in 512 bytes, with no more than 8 frames, and a
tail-calling subprogram's callers hold at most 256 bytes."""

from __future__ import annotations

import functools

from model.cfg.graph import func_starts
from model.isa import Call, LoadImm64
from model.platform.priv_stack import on_private_stack, private_stacks
from model.program import PSEUDO_FUNC, Program
from model.verifier.calls import MAX_CALL_FRAMES, TAIL_CALL

MAX_STACK = 512
TAIL_CALL_STACK = 256  # the most stack a tail-calling subprogram's callers may hold


def check_stack_depth(prog: Program, by_pc: dict, async_seen, depths: dict
                      ) -> tuple[int, str] | None:
    """check_max_stack_depth: along every static call chain, the frames' stack depths
    (rounded up to 16 bytes, as with the JIT) must fit in 512 bytes; a frame on a
    private stack (model.platform.priv_stack) counts in no chain. ``depths``: each frame's
    deepest stack access by call site (-1: the main program, ("cb", entry): a callback),
    ``async_seen``: the async callbacks met (their entries start chains of their own).
    The first failure as (instruction, message), or None."""
    starts = sorted(func_starts(prog))
    per_func: dict[int, int] = {}
    for callsite, d in depths.items():
        if isinstance(callsite, tuple):  # ("cb", entry): a callback's frame
            f = callsite[1]
        else:
            f = 0 if callsite < 0 else _callee(by_pc, callsite)
        per_func[f] = max(per_func.get(f, 0), d)

    def body(f: int) -> list[tuple[int, object]]:
        end = next((s for s in starts if s > f), prog.n_slots)
        return [(pc, i) for pc, i in by_pc.items() if f <= pc < end]

    # async callbacks (bpf_timer's) start call chains of their own: an ld_imm64 of one
    # adds nothing to its caller's chain
    roots = sorted({0} | {t for t, _ in async_seen})

    def calls(f: int) -> list[tuple[int, int]]:
        # bpf-to-bpf calls and ld_imm64 of a callback (the kernel counts both)
        return [(pc, pc + 1 + i.imm)  # (a call's target, as the ld_imm64's)
                for pc, i in body(f)
                if (isinstance(i, Call) and i.src == 1
                    or isinstance(i, LoadImm64) and i.src == PSEUDO_FUNC
                    and pc + 1 + i.imm not in roots)]

    def tail_calls(f: int) -> bool:
        return any(isinstance(i, Call) and i.src == 0 and i.imm == TAIL_CALL
                   for _, i in body(f))

    # private stacks (model.platform.priv_stack): not with a tail call anywhere, nor
    # for a function an async callback's call tree reaches
    priv = private_stacks(prog.prog_type, prog.attach_type,
                          any(tail_calls(f) for f in starts))
    in_async: set[int] = set()
    todo = [r for r in roots if r != 0]
    while priv and todo:
        f = todo.pop()
        if f not in in_async:
            in_async.add(f)
            todo.extend(t for _, t in calls(f))

    @functools.lru_cache(maxsize=None)
    def walk(f: int, total: int, frames: int):
        # every call of every function counts, reached or not (the kernel walks the
        # static call graph): recursion ends at the frame limit
        if f != 0 and total >= TAIL_CALL_STACK and tail_calls(f):
            # a tail call drops only its own frame: its callers' frames must stay small
            return (f, "tail_calls are not allowed when call stack of previous "
                       f"frames is {total} bytes. Too large")
        own = -(-per_func.get(f, 0) // 16) * 16
        if not on_private_stack(priv, f in in_async, own):
            total += own
        if total > MAX_STACK:
            return (f, f"combined stack size of {frames} calls is {total}. Too large")
        for pc, t in calls(f):
            if frames >= MAX_CALL_FRAMES:
                return (pc, f"the call stack of {frames} frames is too deep !")
            bad = walk(t, total, frames + 1)
            if bad:
                return bad
        return None

    # the kernel walks the async callbacks' trees first, the main program's last
    return next((b for b in (walk(r, 0, 1) for r in reversed(roots)) if b), None)


def _callee(by_pc: dict, pc: int) -> int:
    """The function a bpf-to-bpf call at ``pc`` enters."""
    insn = by_pc[pc]
    assert isinstance(insn, Call) and insn.src == 1
    return pc + 1 + insn.imm


__all__ = ["check_stack_depth", "MAX_STACK", "TAIL_CALL_STACK"]
