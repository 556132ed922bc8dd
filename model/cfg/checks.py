"""The kernel verifier's structural checks, before any abstract interpretation.

``check_structure`` follows Linux's ``kernel/bpf/verifier.c`` (``add_subprog``,
``check_subprogs``, ``check_cfg``) in order, working on slots as the kernel does, and raises
``CfgError(program, cause, insn=pc)`` with the kernel's log wording:

1. subprogram discovery (every bpf-to-bpf call and ``ld_imm64`` of a function address):
   ``call to invalid destination``;
2. per subprogram, every jump must stay inside it: ``jump out of range from insn N to M``;
   its last instruction must be ``exit`` or ``ja``/``gotol``: ``last insn is not an exit or
   jmp`` (this is how the kernel reports falling off the end of the program, too);
3. without BTF func info, no ``LD_ABS``/``LD_IND`` or ``bpf_tail_call`` in a subprogram
   (``check_abnormal_return``: "LD_ABS is not allowed in subprogs without BTF"); with it,
   only in a subprogram whose prototype returns an int or enum (``check_btf_func``);
4. a depth-first walk from insn 0 over every edge (both edges of a conditional jump, of
   ``may_goto`` and of a static site; calls into their callees and on to the next insn);
   then, in pc order, ``unreachable insn N`` and ``jump into the middle of ldimm64 insn N``
   (N is the ``ld_imm64``'s own pc; wording measured on Linux 6.18).

Static sites count as two edges (the 2023 verifier's rule), so code reachable only through
a site's jump edge is reachable. Privileged loading is assumed: loops (back edges) are fine.

Where our wording is our own: a static ``Site`` naming a non-JA insn. A call into the second
slot of an ``ld_imm64`` splits a subprogram there, as the kernel does: the subprogram before
then ends on the ``ld_imm64`` (``last insn is not an exit or jmp``) unless a jump out of it
is reported first.
"""

from __future__ import annotations

from model.errors import CfgError
from model.isa import Call, Exit, Jump, LegacyLoad
from model.platform.helpers import TAIL_CALL
from model.program import Program

from model.cfg.graph import func_starts, insn_edges, middle_of_ldimm64

JUMP_KINDS = ("jump", "true", "static")


def check_structure(prog: Program) -> None:
    """Raise ``CfgError`` for the first structural problem the kernel would report."""
    by_pc = prog.by_pc()
    n = prog.n_slots
    pcs = sorted(by_pc)
    if not pcs:
        raise CfgError(prog.name, "empty program")

    def fail(cause: str, pc: int):
        raise CfgError(prog.name, cause, insn=pc)

    edges = {pc: insn_edges(prog, pc, by_pc[pc]) for pc in pcs}

    # 1. subprogram starts (add_subprog): a call into the second slot of an ld_imm64
    # starts a subprogram there too, so the one before ends on the ld_imm64 (step 2)
    middles = set()
    for pc in pcs:
        for kind, t, _ in edges[pc]:
            if kind in ("call", "callback"):
                if not 0 <= t < n:
                    fail("call to invalid destination", pc)
                if middle_of_ldimm64(by_pc, t):
                    middles.add(t)
    starts = sorted(set(func_starts(prog)) | middles)

    # 2. check_subprogs: jumps stay in their subprogram; each ends in exit or ja
    bounds = list(zip(starts, starts[1:] + [n]))
    for lo, hi in bounds:
        sub = [pc for pc in pcs if lo <= pc < hi]
        for pc in sub:
            for kind, t, attrs in edges[pc]:
                if kind in JUMP_KINDS and (kind != "static" or attrs["taken"]):
                    if not lo <= t < hi:
                        fail(f"jump out of range from insn {pc} to {t}", pc)
        last = sub[-1]
        insn = by_pc[last]
        if not (isinstance(insn, Exit) or (isinstance(insn, Jump) and insn.cond == "ja")):
            fail("last insn is not an exit or jmp", last)
        # a normal site at the end of a subprogram is a JA but still falls through
        for kind, t, attrs in edges[last]:
            if kind == "static" and not attrs["taken"] and t >= hi:
                fail(f"jump out of range from insn {last} to {t}", last)

    # 2b. check_abnormal_return: a program loaded without BTF func info may not use
    # LD_ABS/LD_IND or bpf_tail_call outside its main function (they can end the program
    # from inside a subprogram); with func info (``prog.func_names``) the subprogram must
    # return an int or enum (check_btf_func), and a tail call or a failed LD_ABS there is
    # verified as a return from the subprogram (model.verifier.calls.abnormal_return)
    for lo, hi in bounds[1:]:
        for pc in pcs:
            if lo <= pc < hi and isinstance(by_pc[pc], LegacyLoad):
                if not prog.func_names:
                    fail("LD_ABS is not allowed in subprogs without BTF", pc)
                if lo in prog.nonscalar_funcs:
                    fail("LD_ABS is only allowed in functions that return 'int'.", pc)
        for pc in pcs:
            insn = by_pc[pc]
            if lo <= pc < hi and isinstance(insn, Call) and insn.src == 0 and \
                    insn.imm == TAIL_CALL:
                if not prog.func_names:
                    fail("tail_call is not allowed in subprogs without BTF", pc)
                if lo in prog.nonscalar_funcs:
                    fail("tail_call is only allowed in functions that return 'int'.", pc)

    # 3. check_cfg: DFS over slots, then reachability and ld_imm64 integrity
    seen = [False] * n
    stack = [0]
    seen[0] = True
    while stack:
        t = stack.pop()
        insn = by_pc.get(t)
        if insn is None:  # the second slot of an ld_imm64: the kernel falls through
            succ = [t + 1]
        else:
            succ = [w for _, w, _ in edges[t]]
        for w in succ:
            if not 0 <= w < n:
                fail(f"jump out of range from insn {t} to {w}", t)
            if not seen[w]:
                seen[w] = True
                stack.append(w)
    for pc in pcs:
        if not seen[pc]:
            fail(f"unreachable insn {pc}", pc)
        if by_pc[pc].slots == 2 and seen[pc + 1]:
            fail(f"jump into the middle of ldimm64 insn {pc}", pc)
