"""Basic blocks and the control-flow graph of a loaded ``Program``.

The graph is a ``networkx.MultiDiGraph`` (not a ``DiGraph``): a ``goto +0`` static site has
two edges to the same next block, and ``if r1 == 0 goto +0`` has a ``true`` and a ``false``
edge to the same block; a multigraph keeps both. Nodes are block start pcs (slot indices)
with node attribute ``block`` (a ``Block``); every edge has attribute ``kind``:

``fallthrough``  the next block, reached by running off the end of this one
``jump``         an unconditional ``ja``/``gotol`` that no ``Site`` names (``goto +0`` too)
``true``/``false``  a conditional jump taken / not taken. ``may_goto`` uses the same two
                 kinds with ``may_goto=True``: ``true`` = the jump (loop budget exhausted),
                 ``false`` = the fall-through
``static``       one of the two edges of a static site: attributes ``state`` ('on'|'off', the
                 key value under which this edge is taken), ``site`` (``Site.id``), ``key``,
                 ``inverse`` and ``taken`` (True for the jump edge, False for fall-through).
                 Normal site: fall-through = off, jump = on; inverse site: jump = off,
                 fall-through = on. The jump edge goes to ``Site.target``.
``call``         block ending in a bpf-to-bpf call -> callee entry
``after_call``   the same call block -> the block after the call
``return``       each exit block of a callee -> every return point of that callee
                 (attribute ``call_site`` = the calling pc)
``callback``     block ending in an ``ld_imm64`` of a subprogram address (src 4,
                 ``BPF_PSEUDO_FUNC``) -> that callback's entry (an extra kind; the helper
                 that calls it is unknown, so a callback's exits get no ``return`` edges)

A JA is a static site only if ``prog.site_at(pc)`` names it; this holds for the 2024 form
(``Jump.static != 0``) too, since the loader creates ``Site`` objects for those. A 2024 JA
without a Site is an ordinary ``jump`` edge.

Unrepresentable targets (out of range, the second slot of an ``ld_imm64``) make
``build_cfg`` raise ``CfgError`` with the kernel's wording; everything else (unreachable
code, falling off the end) is representable and left to ``checks.check_structure``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import networkx as nx

from model.errors import CfgError
from model.isa import Call, Exit, Insn, Jump, LoadImm64, MayGoto
from model.program import PSEUDO_FUNC, Program

CALL_PSEUDO = 1
# edges that stay inside one function (used for loops and back edges)
INTRA_KINDS = frozenset({"fallthrough", "jump", "true", "false", "static", "after_call"})


@dataclass
class Block:
    start: int
    pcs: list[int]
    func: str

    @property
    def last(self) -> int:
        return self.pcs[-1]


def insn_edges(prog: Program, pc: int, insn: Insn) -> list[tuple[str, int, dict]]:
    """The outgoing edges of one instruction: ``(kind, target_pc, attrs)``.

    Non-branching instructions give one ``fallthrough`` (to ``pc + slots``); ``exit`` gives
    none. Targets are not range-checked here.
    """
    site = prog.site_at(pc)
    if site is not None:
        if not (isinstance(insn, Jump) and insn.cond == "ja"):
            raise CfgError(prog.name, f"static branch site {site.id} at insn {pc} is not a JA",
                           insn=pc)
        common = dict(site=site.id, key=site.key, inverse=site.inverse)
        on_jumps = site.jumps(True)
        return [("static", pc + 1, {**common, "taken": False,
                                    "state": "off" if on_jumps else "on"}),
                ("static", site.target, {**common, "taken": True,
                                         "state": "on" if on_jumps else "off"})]
    if isinstance(insn, Jump):
        if insn.cond == "ja":
            return [("jump", insn.target(pc), {})]
        return [("false", pc + 1, {}), ("true", insn.target(pc), {})]
    if isinstance(insn, MayGoto):
        return [("false", pc + 1, {"may_goto": True}), ("true", insn.target(pc), {"may_goto": True})]
    if isinstance(insn, Exit):
        return []
    if isinstance(insn, Call) and insn.src == CALL_PSEUDO:
        return [("after_call", pc + 1, {}), ("call", pc + 1 + insn.imm, {})]
    if isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC:
        return [("fallthrough", pc + 2, {}), ("callback", pc + 1 + insn.imm, {})]
    return [("fallthrough", pc + insn.slots, {})]


def ends_block(prog: Program, pc: int, insn: Insn) -> bool:
    if prog.site_at(pc) is not None:
        return True
    if isinstance(insn, (Jump, MayGoto, Exit)):
        return True
    if isinstance(insn, Call) and insn.src == CALL_PSEUDO:
        return True
    return isinstance(insn, LoadImm64) and insn.src == PSEUDO_FUNC


def func_starts(prog: Program) -> dict[int, str]:
    """Start pc -> name of every function: the entry, ``prog.subprogs``, ``func_starts``,
    and every bpf-to-bpf call / callback target that is an instruction start."""
    by_pc = prog.by_pc()
    starts: dict[int, str] = {0: prog.subprogs.get(0, prog.name)}
    for name, pc in prog.func_starts.items():
        if pc in by_pc:
            starts.setdefault(pc, name)
    for pc, name in prog.subprogs.items():
        if pc in by_pc:
            starts[pc] = name
    for pc, insn in by_pc.items():
        if not isinstance(insn, (Call, LoadImm64)) and prog.site_at(pc) is None:
            continue  # no call or callback edge (insn_edges' other cases)
        for kind, t, _ in insn_edges(prog, pc, insn):
            if kind in ("call", "callback") and t in by_pc:
                starts.setdefault(t, f"subprog_{t}")
    return dict(sorted(starts.items()))


def middle_of_ldimm64(by_pc: dict[int, Insn], t: int) -> bool:
    prev = by_pc.get(t - 1)
    return t not in by_pc and prev is not None and prev.slots == 2


class Cfg:
    """The CFG of one program. ``graph``: MultiDiGraph of block starts (see module doc)."""

    def __init__(self, prog: Program, graph: nx.MultiDiGraph, funcs: dict[int, str]):
        self.prog = prog
        self.graph = graph
        self.funcs = funcs  # function start pc -> name
        self.entry = 0
        self._starts = sorted(graph.nodes)

    # ---- lookup -------------------------------------------------------------------------
    def blocks(self) -> list[Block]:
        return [self.graph.nodes[s]["block"] for s in self._starts]

    def block(self, start: int) -> Block:
        return self.graph.nodes[start]["block"]

    def block_of(self, pc: int) -> Block:
        """The block holding ``pc`` (either slot of an ``ld_imm64``); ``KeyError`` outside."""
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0 or pc >= self.prog.n_slots or pc < 0:
            raise KeyError(pc)
        return self.block(self._starts[i])

    def edges(self, kind: str | None = None) -> list[tuple[int, int, dict]]:
        return [(u, v, d) for u, v, d in self.graph.edges(data=True)
                if kind is None or d["kind"] == kind]

    def static_edges(self) -> list[tuple[int, int, dict]]:
        """Both edges of every static site, ordered by site id, fall-through first."""
        return sorted(self.edges("static"), key=lambda e: (e[2]["site"], e[2]["taken"]))

    # ---- analyses -----------------------------------------------------------------------
    def reachable(self) -> set[int]:
        """Block starts reachable from the entry over every edge kind (static included)."""
        return {self.entry} | nx.descendants(self.graph, self.entry)

    def _intra(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph()
        g.add_nodes_from(self.graph.nodes)
        g.add_edges_from((u, v, k, d) for u, v, k, d in self.graph.edges(keys=True, data=True)
                         if d["kind"] in INTRA_KINDS)
        return g

    def back_edges(self) -> list[tuple[int, int]]:
        """``(u, v)`` block pairs whose edge closes a cycle in a DFS from each function's
        entry (the main entry first). Computed on intraprocedural edges (call/return edges
        excluded: a function called twice is not a loop); sorted, without duplicates."""
        g = self._intra()
        color: dict[int, int] = {}  # 1 on stack, 2 done
        out: set[tuple[int, int]] = set()
        for root in [self.entry] + [s for s in self.funcs if s != self.entry]:
            if root in color or root not in g:
                continue
            color[root] = 1
            stack = [(root, iter(sorted(set(g.successors(root)))))]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    color[node] = 2
                    stack.pop()
                elif color.get(nxt) == 1:
                    out.add((node, nxt))
                elif nxt not in color:
                    color[nxt] = 1
                    stack.append((nxt, iter(sorted(set(g.successors(nxt))))))
        return sorted(out)

    def loops(self) -> list[list[int]]:
        """Non-trivial strongly connected components (intraprocedural edges), each a sorted
        list of block starts; a block with an edge to itself is a loop too."""
        g = self._intra()
        out = [sorted(c) for c in nx.strongly_connected_components(g)
               if len(c) > 1 or g.has_edge(next(iter(c)), next(iter(c)))]
        return sorted(out)


def _check_target(prog: Program, by_pc: dict[int, Insn], n: int, pc: int, kind: str, t: int) -> None:
    if kind in ("call", "callback"):
        if not 0 <= t < n:
            raise CfgError(prog.name, "call to invalid destination", insn=pc)
        if middle_of_ldimm64(by_pc, t):
            raise CfgError(prog.name, f"call into the middle of ldimm64 insn {t - 1}", insn=pc)
        return
    if t == n and kind in ("fallthrough", "after_call", "false", "static"):
        return  # falling off the end: representable, check_structure reports it
    if not 0 <= t < n:
        raise CfgError(prog.name, f"jump out of range from insn {pc} to {t}", insn=pc)
    if middle_of_ldimm64(by_pc, t):
        raise CfgError(prog.name, f"jump into the middle of ldimm64 insn {t - 1}", insn=pc)


def _add_edge(g: nx.MultiDiGraph, u: int, v: int, **attrs) -> None:
    # not g.add_edge(u, v, **attrs): its ``key`` parameter is the multigraph edge key,
    # and static edges carry a data attribute named ``key`` (the static key's name)
    g.add_edges_from([(u, v, None, attrs)])


def build_cfg(prog: Program) -> Cfg:
    """Split ``prog`` into basic blocks and connect them (see the module doc for edges)."""
    by_pc = prog.by_pc()
    n = prog.n_slots
    pcs = sorted(by_pc)
    if not pcs:
        raise CfgError(prog.name, "empty program")
    funcs = func_starts(prog)
    edges_of: dict[int, list[tuple[str, int, dict]]] = {}
    leaders = {0, *funcs}
    for pc in pcs:
        insn = by_pc[pc]
        es = insn_edges(prog, pc, insn)
        for kind, t, _ in es:
            _check_target(prog, by_pc, n, pc, kind, t)
        edges_of[pc] = es
        if ends_block(prog, pc, insn):
            leaders.update(t for kind, t, _ in es if t < n)
            if pc + insn.slots < n:
                leaders.add(pc + insn.slots)
    for s in prog.sites:
        if s.pc in by_pc:
            leaders.add(s.pc)

    func_list = sorted(funcs)
    g = nx.MultiDiGraph()
    blocks: list[Block] = []
    cur: Block | None = None
    fi = 0
    for pc in pcs:
        while fi + 1 < len(func_list) and func_list[fi + 1] <= pc:
            fi += 1
        if pc in leaders or cur is None:
            cur = Block(pc, [], funcs[func_list[fi]])
            blocks.append(cur)
            g.add_node(pc, block=cur)
        cur.pcs.append(pc)

    # return points of each callee: the pc after every call to it
    returns: dict[int, list[tuple[int, int]]] = {}
    for pc in pcs:
        for kind, t, _ in edges_of[pc]:
            if kind == "call" and pc + 1 < n:
                returns.setdefault(t, []).append((pc, pc + 1))
    func_of_block = {b.start: func_list[max(i for i, f in enumerate(func_list) if f <= b.start)]
                     for b in blocks}

    for b in blocks:
        last = b.last
        insn = by_pc[last]
        if not ends_block(prog, last, insn):
            nxt = last + insn.slots
            if nxt < n:
                _add_edge(g, b.start, nxt, kind="fallthrough")
            continue
        for kind, t, attrs in edges_of[last]:
            if t < n:
                _add_edge(g, b.start, t, kind=kind, **attrs)
        if isinstance(insn, Exit):
            for call_pc, ret in returns.get(func_of_block[b.start], ()):
                _add_edge(g, b.start, ret, kind="return", call_site=call_pc)
    return Cfg(prog, g, funcs)
