"""Materialisation: turn a program with static sites into the plain program one assignment
of site states makes it, or into the form the real verifier explores both edges of.

``materialize(prog, keys=..., sites=...)`` fixes every site (M0: by its key's value; M1:
per site id, overriding the key): a site that jumps becomes ``goto`` its target, a site that
falls through is removed; then everything unreachable from pc 0 is removed (whole
subprograms too) and every jump, ``gotol``, ``may_goto``, bpf-to-bpf call, callback
``ld_imm64`` (src 4), ``map_refs`` pc, ``subprogs`` and ``func_starts`` is shifted to the
new positions. A jump to a removed instruction goes to the next kept one. Every other
instruction is kept byte for byte. The result has no sites and passes
``model.cfg.check_structure`` (the real kernel rejects unreachable code, so a plain
"patch the sites" program would not load).

``both_edges(prog, how)`` keeps every instruction and turns each site into a branch the
real verifier cannot decide (``if r10 == 0x0 goto T`` or ``may_goto T``), so that loading it
asks the kernel the per-execution (M2) question.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from model.errors import IsaError, SkvError
from model.isa import Call, Exit, Insn, Jump, LoadImm64, MayGoto
from model.program import PSEUDO_FUNC, MapRef, Program, Site

BOTH_EDGES_HOW = ("r10", "may_goto")


# --- choosing site states ----------------------------------------------------------------
def site_states(prog: Program, keys: dict[str, bool] | None = None,
                sites: dict[int, bool] | None = None) -> dict[int, bool]:
    """``{site pc: jumps?}`` for every site; ``SkvError`` naming what is missing/unknown."""
    keys = dict(keys or {})
    sites = dict(sites or {})
    ids = {s.id for s in prog.sites}
    unknown_sites = sorted(set(sites) - ids)
    if unknown_sites:
        have = ", ".join(str(i) for i in sorted(ids)) or "none"
        raise SkvError(f"program {prog.name}: no site with id {unknown_sites[0]} "
                       f"(site ids: {have})")
    unknown_keys = sorted(set(keys) - set(prog.keys()))
    if unknown_keys:
        have = ", ".join(prog.keys()) or "none"
        raise SkvError(f"program {prog.name}: no site uses key {unknown_keys[0]} "
                       f"(keys: {have})")
    out: dict[int, bool] = {}
    for s in prog.sites:
        if s.id in sites:
            on = bool(sites[s.id])
        elif s.key in keys:
            on = bool(keys[s.key])
        else:
            raise SkvError(f"program {prog.name}: no state for site {s.id} at insn {s.pc} "
                           f"(key {s.key}): give the key's value or the site's state")
        out[s.pc] = s.jumps(on)
    return out


# --- materialise -------------------------------------------------------------------------
def _goto(delta: int) -> Jump:
    """``goto`` with this distance: ``ja`` when it fits in 16 bits, else ``gotol``."""
    try:
        return Jump("ja", False).with_delta(delta)
    except IsaError:
        return Jump("ja", True).with_delta(delta)


def _edges(pc: int, insn: Insn) -> list[int]:
    """Successor pcs of an instruction of a program without sites (calls included)."""
    if isinstance(insn, Jump):
        t = insn.target(pc)
        return [t] if insn.cond == "ja" else [pc + 1, t]
    if isinstance(insn, MayGoto):
        return [pc + 1, insn.target(pc)]
    if isinstance(insn, Call) and insn.src == 1:
        return [pc + 1, insn.target(pc)]
    if isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
        return [pc + 2, pc + 1 + insn.imm]
    if isinstance(insn, Exit):
        return []
    return [pc + insn.slots]


def reachable(by_pc: dict[int, Insn], edges=None) -> set[int]:
    """The pcs reachable from pc 0; ``edges(pc, insn)`` gives successors (default: the
    instruction's own control flow)."""
    edges = edges or _edges
    seen: set[int] = set()
    stack = [0]
    while stack:
        pc = stack.pop()
        if pc in seen or pc not in by_pc:
            continue
        seen.add(pc)
        stack.extend(edges(pc, by_pc[pc]))
    return seen


def _plan(prog: Program, keys, sites) -> tuple[dict[int, Insn], set[int], set[int]]:
    """(instructions with sites resolved, pcs reachable from 0, pcs to remove)."""
    jumps = site_states(prog, keys, sites)
    # a jumping site becomes goto target; a falling-through one goto +0 (removed later)
    resolved = {pc: (_goto(prog.site_at(pc).target - pc - 1 if jumps[pc] else 0)
                     if pc in jumps else insn) for pc, insn in prog.by_pc().items()}
    live = reachable(resolved)
    removed = {pc for pc in resolved if pc not in live or (pc in jumps and not jumps[pc])}
    return resolved, live, removed


def materialize(prog: Program, *, keys: dict[str, bool] | None = None,
                sites: dict[int, bool] | None = None) -> Program:
    """The plain program one assignment of site states makes (see the module doc)."""
    resolved, live, removed = _plan(prog, keys, sites)
    kept = sorted(live - removed)
    if not kept:
        raise SkvError(f"program {prog.name}: nothing is left after materialising")
    # 2. new positions: old pc -> new pc of the first kept instruction at or after it
    new_pc: dict[int, int] = {}
    q = 0
    for pc in kept:
        new_pc[pc] = q
        q += resolved[pc].slots
    total = q

    def remap(old: int, where: int) -> int:
        k = bisect.bisect_left(kept, old)
        if k == len(kept):
            if old == prog.n_slots or old >= kept[-1] + resolved[kept[-1]].slots:
                return total
            raise SkvError(f"program {prog.name}: insn {where} refers to insn {old}, "
                           "which is not an instruction")
        return new_pc[kept[k]]

    # 3. rewrite the kept instructions
    insns: list[Insn] = []
    for pc in kept:
        insn, q = resolved[pc], new_pc[pc]
        if isinstance(insn, (Jump, MayGoto)):
            delta = remap(insn.target(pc), pc) - q - 1
            try:
                insn = insn.with_delta(delta)
            except IsaError:
                if isinstance(insn, Jump) and insn.cond == "ja" and insn.static == 0:
                    insn = _goto(delta)
                else:
                    raise SkvError(f"program {prog.name}: after materialising, the jump at "
                                   f"insn {pc} (now {q}) needs distance {delta}, which does "
                                   "not fit in 16 bits") from None
        elif (isinstance(insn, Call) and insn.src == 1) or \
                (isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC):
            insn = replace(insn, imm=remap(pc + 1 + insn.imm, pc) - q - 1)
        insns.append(insn)
    # 4. maps and functions
    map_refs = {new_pc[pc]: replace(ref, pc=new_pc[pc])
                for pc, ref in prog.map_refs.items() if pc in new_pc}
    subprogs = {remap(pc, pc): name for pc, name in prog.subprogs.items() if pc in live}
    func_starts = {name: remap(pc, pc) for name, pc in prog.func_starts.items() if pc in live}
    out = Program(name=prog.name, section=prog.section, insns=insns, subprogs=subprogs,
                  map_refs=map_refs, sites=[], func_starts=func_starts)
    # what a kernel load takes along: BTF func/line info (a line of a removed instruction
    # moves to the next kept one unless that has its own), __ksym references, --prog-type
    out.btf_funcs = {remap(pc, pc): t for pc, t in prog.btf_funcs.items() if pc in live}
    out.global_funcs = {remap(pc, pc) for pc in prog.global_funcs if pc in live}
    for pc in sorted(prog.btf_lines):
        if pc in live and remap(pc, pc) < total:
            out.btf_lines[remap(pc, pc)] = prog.btf_lines[pc]
    out.ksyms = {new_pc[pc]: n for pc, n in prog.ksyms.items() if pc in new_pc}
    out.type_override = prog.type_override
    return out


def removed_pcs(prog: Program, *, keys: dict[str, bool] | None = None,
                sites: dict[int, bool] | None = None) -> list[int]:
    """The pcs of ``prog`` that ``materialize`` with these arguments removes."""
    return sorted(_plan(prog, keys, sites)[2])


# --- both edges --------------------------------------------------------------------------
def both_edges(prog: Program, how: str = "r10") -> Program:
    """Every site becomes a branch the verifier explores both edges of (M2); no removal."""
    if how not in BOTH_EDGES_HOW:
        raise SkvError(f"both_edges: unknown form {how!r} (choose r10 or may_goto)")
    by_site = {s.pc: s for s in prog.sites}
    insns: list[Insn] = []
    for pc, insn in prog.iter_pcs():
        site = by_site.get(pc)
        if site is not None:
            delta = site.target - pc - 1
            try:
                insn = (Jump("jeq", False, dst=10, imm=0) if how == "r10"
                        else MayGoto()).with_delta(delta)
            except IsaError:
                raise SkvError(f"program {prog.name}: site {site.id} at insn {pc} jumps "
                               f"{delta}, too far for a conditional jump") from None
        insns.append(insn)
    return Program(name=prog.name, section=prog.section, insns=insns,
                   subprogs=dict(prog.subprogs), map_refs=dict(prog.map_refs), sites=[],
                   func_starts=dict(prog.func_starts), type_override=prog.type_override,
                   btf_funcs=dict(prog.btf_funcs), btf_lines=dict(prog.btf_lines),
                   ksyms=dict(prog.ksyms), global_funcs=set(prog.global_funcs))


# --- assignments -------------------------------------------------------------------------
def key_assignments(prog: Program) -> list[dict[str, bool]]:
    """Every M0 assignment of the program's keys (2^k, in binary order, first key high)."""
    ks = prog.keys()
    return [{k: bool((n >> (len(ks) - 1 - i)) & 1) for i, k in enumerate(ks)}
            for n in range(1 << len(ks))]


def site_assignments(prog: Program) -> list[dict[int, bool]]:
    """Every M1 assignment of site states by site id."""
    ids = [s.id for s in prog.sites]
    return [{i: bool((n >> (len(ids) - 1 - j)) & 1) for j, i in enumerate(ids)}
            for n in range(1 << len(ids))]


def parse_assignment(text: str, what: str = "keys") -> dict:
    """``"k=1,j=0"`` -> ``{"k": True, "j": False}`` (site ids as ints for ``what="sites"``)."""
    out: dict = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, val = part.partition("=")
        name, val = name.strip(), val.strip().lower()
        if not sep or not name or val not in ("0", "1", "on", "off", "true", "false"):
            raise SkvError(f"--{what}: {part!r} is not NAME=0|1")
        if what == "sites":
            try:
                name = int(name)
            except ValueError:
                raise SkvError(f"--sites: {name!r} is not a site id") from None
        if name in out:
            raise SkvError(f"--{what}: {name} is given twice")
        out[name] = val in ("1", "on", "true")
    return out


__all__ = ["materialize", "both_edges", "site_states", "removed_pcs", "key_assignments",
           "site_assignments", "parse_assignment", "BOTH_EDGES_HOW", "MapRef", "Site"]
