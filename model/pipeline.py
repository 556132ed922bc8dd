"""The life of a static branch through ``BPF_PROG_LOAD``: the load-time rewrites as
transformations over :class:`~model.program.Program` that carry the site table along.

Stages (``run_pipeline``), each returning a new ``Program`` (the input is never changed):

1. ``rewrite_sites``: the 2023 rewrite of a normal site ``JA +0`` -> ``JA +N`` (N = target -
   pc - 1) before verification. Needed because stage 3 deletes every plain ``JA +0``
   (``opt_remove_nops``) and the x86 JIT emits no bytes for one: an unrewritten normal site
   would vanish. Inverse sites and 2024 ``gotol_or_nop``/``nop_or_gotol`` already carry N.
2. ``patch_insn``: one instruction replaced by k (``bpf_patch_insn_data`` ->
   ``bpf_patch_insn_single`` + ``bpf_adj_branches``): every jump, ``gotol``, ``may_goto``,
   bpf-to-bpf call and callback ``ld_imm64`` outside the patch is adjusted by the kernel's
   rule (:func:`adj_off`), the site table, map references and subprogram starts by the
   position rule (:func:`adj_pos`). ``zext_patches`` is the demonstration patch set: an
   explicit zero-extension ``wX = wX`` after every 32-bit ALU op, as the verifier inserts
   on arches whose JIT needs it (``bpf_jit_needs_zext``); it keeps the semantics.
3. ``remove_dead_and_nops``: after verification, ranges no path reaches (sites followed on
   both edges) are removed (``opt_remove_dead_code``), then every plain ``JA +0``
   (``opt_remove_nops``), one :func:`splice` with no new instructions each (the kernel's
   ``bpf_remove_insns`` uses the same ``bpf_adj_branches``). A site inside a removed range
   is dropped from the table.
4. ``split_subprogs``: one ``Program`` per function (``jit_subprogs``), positions, jumps
   and sites relative to the function's start.
5. ``place``: the x86 JIT model (``model.x86.jit``, ``design="fixed"``): BPF pc -> image
   offset, and per site its address, length and target address.

The offset rules are written once over "numbers" (:func:`_if` picks ``z3.If`` for Z3 terms),
so ``proofs/pipeline.py`` proves the very functions this module runs. ``variant`` selects a
deliberately wrong rule (``VARIANTS``) for the proofs' counterexamples.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from model.errors import CfgError, IsaError, SkvError
from model.isa import Alu, Call, Insn, Jump, LoadImm64, MayGoto
from model.materialize import _edges, reachable
from model.program import PSEUDO_FUNC, Program, Site

# deliberately wrong offset rules (proofs/pipeline.py shows each yields a wrong jump)
VARIANTS = {
    None: "the kernel's rule",
    "site_off_by_one": "a site after the patch moves by k instead of k-1",
    "target_off_by_one": "a site target at the patched insn moves to the patch's last insn",
    "patch_end_on_site": "a site right after the patch (patch ends exactly on it) is not moved",
    "no_rewrite": "the 2023 JA +0 -> JA +N rewrite is skipped (nop removal deletes the site)",
}


# --- the rules, for Python ints and Z3 terms alike --------------------------------------------
def _if(c, a, b):
    if isinstance(c, bool):
        return a if c else b
    import z3

    return z3.If(c, a, b)


def _and(a, b):
    if isinstance(a, bool) and isinstance(b, bool):
        return a and b
    import z3

    return z3.And(a, b)


def adj_off(curr, off, pos, end_old, end_new):
    """``bpf_adj_delta_to_off``: the new distance of a jump at *new* position ``curr`` when
    slots ``[pos, end_old)`` became ``[pos, end_new)``."""
    delta = end_new - end_old
    return _if(_and(curr < pos, curr + off + 1 >= end_old), off + delta,
               _if(_and(curr >= end_new, curr + off + 1 < end_new), off - delta, off))


def new_curr(p, pos, end_old, end_new):
    """Where an instruction outside the replaced range moves (p < pos or p >= end_old)."""
    return _if(p >= end_old, p + (end_new - end_old), p)


def adj_pos(p, pos, end_old, end_new, *, role: str = "pos", variant: str | None = None):
    """Our model of the 2023 series' fix-up of a site-table position (``role`` ``site`` or
    ``target``; ``pos`` for map refs and subprogram starts): positions at or after the end
    of the replaced range move by the difference; a position inside it goes to its start
    (the first patch instruction, or for a removal the next kept one)."""
    delta = end_new - end_old
    if role == "site" and variant == "site_off_by_one":
        return _if(p >= end_old, p + delta + 1, p)
    if role == "site" and variant == "patch_end_on_site":
        return _if(p > end_old, p + delta, p)
    if role == "target" and variant == "target_off_by_one":
        return _if(p >= pos, p + delta, p)
    return _if(p >= end_old, p + delta, _if(p >= pos, pos, p))


# --- splice: the one primitive every offset-changing stage uses -------------------------------
def _rel_field(insn: Insn):
    """(distance, setter) of an instruction whose operand is a relative slot distance."""
    if isinstance(insn, (Jump, MayGoto)):
        return insn.delta, insn.with_delta
    if isinstance(insn, Call) and insn.src == 1:
        return insn.imm, lambda d: replace(insn, imm=d)
    if isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
        return insn.imm, lambda d: replace(insn, imm=d)
    return None


def splice(prog: Program, pos: int, new: list[Insn], *, variant: str | None = None,
           keep_site_at_pos: bool = False) -> Program:
    """Replace the instruction at slot ``pos`` by ``new`` (empty: remove it), adjusting every
    relative operand outside it and the site table, map refs and function starts."""
    by_pc = prog.by_pc()
    if pos not in by_pc:
        raise SkvError(f"program {prog.name}: no instruction at slot {pos}")
    end_old = pos + by_pc[pos].slots
    end_new = pos + sum(i.slots for i in new)
    insns: list[Insn] = []
    for pc, insn in prog.iter_pcs():
        if pc == pos:
            insns.extend(new)
            continue
        rel = _rel_field(insn)
        if rel is not None:
            curr = new_curr(pc, pos, end_old, end_new)
            off, setter = rel
            d = adj_off(curr, off, pos, end_old, end_new)
            try:
                insn = setter(d)
            except IsaError:  # the kernel's -ERANGE
                raise SkvError(f"program {prog.name}: after patching slot {pos}, the jump at "
                               f"slot {pc} needs distance {d}, which does not fit") from None
        insns.append(insn)
    sites = []
    for s in prog.sites:
        if s.pc == pos and not (keep_site_at_pos and new):
            continue  # the site's instruction was removed (or replaced)
        sites.append(replace(s, pc=adj_pos(s.pc, pos, end_old, end_new, role="site",
                                           variant=variant),
                             target=adj_pos(s.target, pos, end_old, end_new, role="target",
                                            variant=variant)))
    P = lambda p: adj_pos(p, pos, end_old, end_new)  # noqa: E731
    map_refs = {P(pc): replace(r, pc=P(pc)) for pc, r in prog.map_refs.items() if pc != pos}
    return Program(name=prog.name, section=prog.section, insns=insns,
                   subprogs={P(pc): n for pc, n in prog.subprogs.items()},
                   map_refs=map_refs, sites=sites,
                   func_starts={n: P(pc) for n, pc in prog.func_starts.items()})


# --- stage 1 ---------------------------------------------------------------------------------
def is_nop(insn: Insn) -> bool:
    """The exact instruction ``opt_remove_nops`` deletes: ``JA +0`` (opcode 0x05, off 0)."""
    return isinstance(insn, Jump) and insn.cond == "ja" and not insn.is32 and insn.off == 0 \
        and insn.imm == 0 and insn.static == 0


def rewrite_sites(prog: Program) -> Program:
    """Stage 1: every normal site that is ``JA +0`` becomes ``JA +N`` to its target."""
    by_pc = prog.by_pc()
    new = {}
    for s in prog.sites:
        insn = by_pc[s.pc]
        if s.design == "2023" and (is_nop(insn) == s.inverse):  # the series' EINVAL
            raise SkvError(f"program {prog.name}: site {s.id} at insn {s.pc}: a "
                           + ("normal site must be JA +0" if not s.inverse else
                              "an inverse site must be JA +N"))
        if not s.inverse and is_nop(insn):
            try:
                new[s.pc] = insn.with_delta(s.target - s.pc - 1)
            except IsaError:
                raise SkvError(f"program {prog.name}: site {s.id} at insn {s.pc} jumps "
                               f"{s.target - s.pc - 1}, too far for JA") from None
    insns = [new.get(pc, insn) for pc, insn in prog.iter_pcs()]
    return replace_insns(prog, insns)


def replace_insns(prog: Program, insns: list[Insn]) -> Program:
    return Program(name=prog.name, section=prog.section, insns=insns,
                   subprogs=dict(prog.subprogs), map_refs=dict(prog.map_refs),
                   sites=list(prog.sites), func_starts=dict(prog.func_starts))


def check_site(prog: Program, s: Site) -> str | None:
    """Is the site a JA the kernel accepts, pointing where the table says? (None: yes)."""
    insn = prog.by_pc().get(s.pc)
    if not isinstance(insn, Jump) or insn.cond != "ja" or insn.dst or insn.src:
        return f"site {s.id}: insn {s.pc} is not a JA"
    if insn.off and insn.imm:
        return f"site {s.id}: insn {s.pc} has both off and imm set"
    if not (0 <= s.target < prog.n_slots + 1):
        return f"site {s.id}: target {s.target} outside the program"
    if insn.delta != 0 and insn.target(s.pc) != s.target:
        return f"site {s.id}: JA at {s.pc} goes to {insn.target(s.pc)}, table says {s.target}"
    return None


# --- stage 2 ---------------------------------------------------------------------------------
def patch_insn(prog: Program, pos: int, new: list[Insn], *, variant=None) -> Program:
    """Stage 2 primitive: ``bpf_patch_insn_data(env, pos, new, len(new))``. As in the
    kernel, the patch's own instructions are taken as given: ``bpf_adj_branches`` skips
    ``[pos, pos + len)``, so a relative jump/call inside the patch must already have its
    final distance (copying ``call pc+N`` into a patch unchanged breaks the call)."""
    if not new:
        raise SkvError("patch_insn: a patch has at least one instruction")
    if prog.site_at(pos) is not None:
        raise SkvError(f"patch_insn: slot {pos} is a static site (the kernel never patches one)")
    return splice(prog, pos, new, variant=variant)


def zext_patches(prog: Program) -> list[tuple[int, list[Insn]]]:
    """(pos, patch) for every 32-bit ALU op: ``op; wX = wX`` (explicit zero-extension)."""
    out = []
    for pc, insn in prog.iter_pcs():
        if isinstance(insn, Alu) and not insn.is64 and not (insn.op == "mov" and insn.src ==
                                                           insn.dst):
            out.append((pc, [insn, Alu("mov", False, insn.dst, src=insn.dst)]))
    return out


def apply_patches(prog: Program, patches, *, variant=None) -> Program:
    """Apply patches given at *original* positions, last first (as the kernel's passes walk
    forward with a running delta, the positions agree)."""
    for pos, new in sorted(patches, key=lambda p: -p[0]):
        prog = patch_insn(prog, pos, new, variant=variant)
    return prog


# --- stage 3 ---------------------------------------------------------------------------------
def live_slots(prog: Program) -> set[int]:
    """Slots a path from pc 0 reaches, following both edges of every site."""
    sites = {s.pc: s for s in prog.sites}

    def edges(pc, insn):
        return [pc + 1, sites[pc].target] if pc in sites else _edges(pc, insn)

    return reachable(prog.by_pc(), edges)


def remove_dead_and_nops(prog: Program) -> Program:
    """Stage 3: dead instructions, then every plain ``JA +0`` (site or not: the kernel looks
    at the instruction only), one at a time from the front."""
    while True:
        live = live_slots(prog)
        dead = [pc for pc, _ in prog.iter_pcs() if pc not in live]
        if not dead:
            break
        prog = splice(prog, dead[0], [])
    while True:
        nops = [pc for pc, insn in prog.iter_pcs() if is_nop(insn)]
        if not nops:
            return prog
        prog = splice(prog, nops[0], [])


# --- stage 4 ---------------------------------------------------------------------------------
def split_subprogs(prog: Program) -> list[Program]:
    """Stage 4: one program per function, everything relative to its start. Calls between
    functions keep their (now out-of-range) distance: the JIT resolves them by address."""
    starts = sorted(set(prog.subprogs) | set(prog.func_starts.values()) | {0})
    names = {pc: n for n, pc in prog.func_starts.items()} | dict(prog.subprogs)
    bounds = list(zip(starts, starts[1:] + [prog.n_slots]))
    out = []
    for lo, hi in bounds:
        insns = [i for pc, i in prog.iter_pcs() if lo <= pc < hi]
        sites = []
        for s in prog.sites:
            if lo <= s.pc < hi:
                if not lo <= s.target < hi:
                    raise SkvError(f"site {s.id} at {s.pc} jumps out of its function")
                sites.append(replace(s, pc=s.pc - lo, target=s.target - lo))
        out.append(Program(name=names.get(lo, prog.name), section=prog.section,
                           insns=insns, sites=sites,
                           map_refs={pc - lo: replace(r, pc=pc - lo)
                                     for pc, r in prog.map_refs.items() if lo <= pc < hi},
                           func_starts={names.get(lo, prog.name): 0}))
        out[-1].start = lo  # type: ignore[attr-defined]
    return out


# --- stage 5 ---------------------------------------------------------------------------------
def place(prog: Program, keys: dict[str, bool] | None = None):
    """Stage 5: the x86 JIT model's image of the post-verifier program (``design="fixed"``)."""
    from model.x86 import jit

    return jit(prog, design="fixed", keys=keys or {})


# --- the whole pipeline -----------------------------------------------------------------------
@dataclass
class Stage:
    n: int
    name: str
    prog: Program
    note: str = ""
    parts: list[Program] = field(default_factory=list)  # stage 4
    jit: object = None  # stage 5


def run_pipeline(prog: Program, *, patches=None, variant=None, jit: bool = True) -> list[Stage]:
    """Stages 0 (as loaded) .. 5. ``patches`` (default: ``zext_patches``) at stage 2.
    ``variant="no_rewrite"`` skips stage 1; other variants go to stage 2's rule."""
    from model.cfg import check_structure

    out = [Stage(0, "branch info -> prog->aux->static_branches", prog, "as loaded")]
    try:
        check_structure(prog)
    except CfgError as e:  # the kernel's check_cfg refuses it before any rewrite
        out[0].note = f"as loaded; the verifier rejects it here: {e.cause}"
        return out
    p1 = prog if variant == "no_rewrite" else rewrite_sites(prog)
    out.append(Stage(1, "rewrite normal sites JA +0 -> JA +N", p1,
                     "skipped" if variant == "no_rewrite" else ""))
    pats = zext_patches(p1) if patches is None else patches
    p2 = apply_patches(p1, pats, variant=None if variant == "no_rewrite" else variant)
    out.append(Stage(2, "bpf_patch_insn_data(): offsets updated", p2,
                     f"{len(pats)} patches (zext after 32-bit ALU)" if patches is None else
                     f"{len(pats)} patches"))
    p3 = remove_dead_and_nops(p2)
    out.append(Stage(3, "dead code + JA +0 removal", p3,
                     f"{p2.n_slots - p3.n_slots} slots removed"))
    out.append(Stage(4, "jit_subprogs(): per-function offsets", p3,
                     parts=split_subprogs(p3)))
    if jit:
        from model.x86 import Unsupported

        try:
            out.append(Stage(5, "x86 JIT placement", p3, jit=place(p3)))
        except (Unsupported, SkvError) as e:
            out.append(Stage(5, "x86 JIT placement", p3, f"not modelled: {e}"))
    return out


def render(stages: list[Stage]) -> str:
    """The site table after each stage, in the style of the talk's slide."""
    from model.text import table
    from model.isa import format_kernel

    lines = []
    for st in stages:
        lines.append(f"({st.n}) {st.name}" + (f"  [{st.note}]" if st.note else ""))
        p = st.prog
        if st.n == 4:
            rows = [[s.id, q.name, getattr(q, "start", 0), s.key, _flags(s), s.pc, s.target,
                     format_kernel(q.by_pc()[s.pc], s.pc)] for q in st.parts for s in q.sites]
            lines.append(table(rows, ["site", "function", "func start", "key", "flags",
                                      "insn (rel)", "target (rel)", "insn"]))
        elif st.n == 5 and st.jit is None:
            lines.append("(the x86 JIT model does not translate this program)")
        elif st.n == 5:
            j = st.jit
            by = {si.bpf_pc: si for si in j.sites}
            rows = []
            for s in p.sites:
                si = by.get(s.pc)
                rows.append([s.id, s.key, _flags(s), s.pc, f"{si.address:#x}", si.length,
                             f"{si.target_address:#x}",
                             f"{j.insn_addrs.get(s.target, -1):#x}"] if si else
                            [s.id, s.key, _flags(s), s.pc, "-", "-", "-", "-"])
            lines.append(table(rows, ["site", "key", "flags", "bpf insn", "x86 addr", "len",
                                      "x86 target", "addr of bpf target"]))
        else:
            by_pc = p.by_pc()
            rows = [[s.id, s.key, _flags(s), s.pc, s.target,
                     format_kernel(by_pc[s.pc], s.pc) if s.pc in by_pc else "(removed)"]
                    for s in p.sites]
            lines.append(table(rows, ["site", "key", "flags", "insn", "target",
                                      "instruction"]) if rows else "(no sites)")
            lines.append(f"    {p.n_slots} slots")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _flags(s: Site) -> str:
    return f"{int(s.inverse)}" + (" inverse" if s.inverse else "")


__all__ = ["VARIANTS", "Stage", "adj_off", "adj_pos", "new_curr", "splice", "rewrite_sites",
           "patch_insn", "zext_patches", "apply_patches", "remove_dead_and_nops",
           "split_subprogs", "place", "run_pipeline", "render", "check_site", "is_nop",
           "live_slots"]
