"""Symbolic state: registers, stack frames and memory regions as Z3 terms.

A value is ``None`` (uninitialised), an ``S`` (a 64-bit scalar bit-vector) or a ``P``: a
pointer = (region, offset) with a Z3 offset (and, into a map, the element's key). Regions
carry the interpreter's base addresses (``model.interp.memory``), so a pointer compared
with a number, truncated or subtracted gives exactly the integer the interpreter computes.

Memory: per stack frame a Z3 array (byte offset -> byte) plus whole-register pointer spills,
the context and the packet as input arrays (the packet length a symbolic input), each map
as an array key -> (offset -> byte) starting from a per-map input array (hash maps: also a
presence array). States at the same pc with the same *shape* (kinds of values, regions,
site / helper execution counts, call stack) are merged with ``If`` on their path guards
(what may merge: ``model.symbolic.merging``).
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from model.interp.dynptrs import SAMPLE_BASE
from model.interp.helpers import KEY_BASE
from model.symbolic.arrays import select
from model.interp.ctx import DEFAULT_CTX, SKB_SIZE, SKB_TYPES, XDP_SIZE
from model.interp.maps import ELEM_STRIDE
from model.interp.memory import (CTX_BASE, FUNC_BASE, MAP_BASE, MAP_PTR_BASE, MAP_STRIDE,
                                 PACKET_BASE, STACK_BASE, STACK_SIZE, STACK_STRIDE)
from model.interp.refs import RINGBUF_BASE, RINGBUF_STRIDE
from model.platform.map_helpers import (MAX_LOADED_ENTRIES, entries_at_least,
                                        entries_set_at_load, is_array_type)

BV64 = z3.BitVecSort(64)
BYTE = z3.BitVecSort(8)
MAX_PACKET = 1500  # packet length inputs are bounded by this (an MTU)
MAX_META = 255  # metadata length inputs are bounded by this


def bv(v: int, w: int = 64):
    return z3.BitVecVal(v & ((1 << w) - 1), w)


def const_of(e) -> int | None:
    e = z3.simplify(e)
    return e.as_long() if z3.is_bv_value(e) else None


def path_constant(e) -> bool:
    """Is the term's value fixed by the path taken alone, as the kernel verifier would know
    it: numerals and operations on them, ``If`` between such values (merged paths), and
    reads of memory that resolve to a numeral (a constant spilled to the stack). A term
    depending on an input (a packet or context byte, a helper's result...) is not, even
    when it simplifies to a constant (``x - x``: the verifier's tnum does not know it)."""
    seen: set[int] = set()
    todo = [e]
    while todo:
        t = todo.pop()
        if t.get_id() in seen or z3.is_bv_value(t):
            continue
        seen.add(t.get_id())
        if z3.is_app_of(t, z3.Z3_OP_ITE):
            todo += [t.arg(1), t.arg(2)]
        elif z3.is_select(t):
            if not z3.is_bv_value(z3.simplify(t)):
                return False
        elif z3.is_const(t) or z3.is_var(t):
            return False
        else:
            todo.extend(t.children())
    return True


@dataclass(frozen=True)
class Region:
    """Identity of a memory region: kind in stack|ctx|packet|pkt_end|map|mapptr|func."""

    kind: str
    name: str = ""
    frame: int = 0  # stack: call depth
    gen: int = 0  # stack: which frame instance (a pointer into a popped frame dangles)
    size: int = 0  # ringbuf (model.symbolic.refs): the reservation's constant size


class S:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


class P:
    __slots__ = ("r", "off", "key")

    def __init__(self, r: Region, off, key=None):
        self.r, self.off, self.key = r, off, key


def shape(v) -> object:
    if v is None:
        return "u"
    if isinstance(v, S):
        return "s"
    return ("p", v.r, v.key is None)


def merge_val(g, a, b):
    """``If(g, a, b)`` for two values of one shape; a term equal on both sides is kept."""
    if a is None:
        return None
    if isinstance(a, S):
        return a if a.v.eq(b.v) else S(z3.If(g, a.v, b.v))
    key = None if a.key is None else _ite(g, a.key, b.key)
    off = _ite(g, a.off, b.off)
    return a if off is a.off and key is a.key else P(a.r, off, key)


def _ite(g, x, y):
    return x if x.eq(y) else z3.If(g, x, y)


class Layout:
    """Per program: map indices (as the interpreter numbers them) and region sizes."""

    def __init__(self, obj, prog_type: str):
        self.maps = obj.maps
        self.index = {name: i for i, name in enumerate(obj.maps)}
        self.ptype = prog_type
        self.attach_type = 0  # the program's expected attach type, set by the engine
        self.plen = z3.BitVec("pkt_len", 64)
        # the metadata area sits just before the packet data (data_meta .. data)
        self.mlen = z3.BitVec("meta_len", 64)
        self.strict_alignment = False  # set by the engine from the load's flags
        self.pkt_in = z3.Array("pkt", BV64, BYTE)
        self.ctx_in = z3.Array("ctx", BV64, BYTE)
        self.map_in = {n: z3.Array(f"map_{n}", z3.BitVecSort(8 * max(m.key_size, 1)),
                                   z3.ArraySort(BV64, BYTE)) for n, m in obj.maps.items()}
        self.present_in = {n: z3.Array(f"present_{n}", z3.BitVecSort(8 * max(m.key_size, 1)),
                                       z3.BoolSort()) for n, m in obj.maps.items()}
        self.hash_slot = {n: z3.Function(f"slot_{n}", z3.BitVecSort(8 * max(m.key_size, 1)),
                                         z3.BitVecSort(20)) for n, m in obj.maps.items()}
        self.lookups: list = []  # (map name, key term) of every lookup (for counterexamples)
        self.reserve_nulls: dict = {}  # (pc, n) -> Bool: that reservation returned NULL
        self.found_socks: dict = {}  # (pc, n) -> (Bool: NULL, address): socket lookups
        # (pc, n) -> [(unknown bytes, first index, size)]: what a call wrote (havoc.py)
        self.helper_outs: dict = {}
        # BTF-typed programs (model.symbolic.typed): the attach target, the license, the
        # kinds of typed pointer met (region name -> btf_access.Typed) and what their
        # addresses are known to satisfy
        self.target, self.gpl, self.section = None, True, ""
        self.typed: dict = {}
        self.sleepable = False  # a sleepable program (set by the engine)
        self.facts: list = []
        self._assumed = None  # (facts counted, the assumptions' term)
        if prog_type == "xdp":
            self.ctx_size = XDP_SIZE
        elif prog_type in SKB_TYPES:
            self.ctx_size = SKB_SIZE
        else:
            self.ctx_size = DEFAULT_CTX.get(prog_type, 64)

    def assumptions(self):
        """What every input satisfies: packet length up to an MTU, metadata up to 255
        bytes (skb metadata length is a u8; XDP allows at most 32), trusted typed pointers
        are not NULL."""
        if self._assumed is None or self._assumed[0] != len(self.facts):
            self._assumed = (len(self.facts), z3.And(
                z3.ULE(self.plen, bv(MAX_PACKET)), z3.ULE(self.mlen, bv(MAX_META)),
                *self.facts))
        return self._assumed[1]

    def is_array(self, name: str) -> bool:
        m = self.maps[name]
        return is_array_type(m.type) or m.origin == "data"

    def entries(self, name: str):
        """The entries of map ``name`` once loaded (64 bits; a ring buffer's: bytes): its
        max_entries, or, for a map its loader sizes (``entries_set_at_load``), the
        variable ``entries_<name>``, from ``entries_at_least`` to MAX_LOADED_ENTRIES (a
        fact): every key (reservation) may then be in range (fit) or not, one size for
        every lookup."""
        m = self.maps[name]
        if not entries_set_at_load(m.type, m.max_entries):
            return bv(m.max_entries)
        n = z3.BitVec(f"entries_{name}", 64)
        fact = z3.And(z3.UGE(n, bv(entries_at_least(m.type, m.max_entries))),
                      z3.ULE(n, bv(MAX_LOADED_ENTRIES)))
        if not any(f.eq(fact) for f in self.facts):
            self.facts.append(fact)
        return n

    def in_range(self, name: str, key):
        """Key ``key`` (a term of any width) is an index of array ``name``."""
        wide = z3.ZeroExt(64 - key.size(), key) if key.size() < 64 else key
        n = self.entries(name)
        if z3.is_bv_value(wide) and z3.is_bv_value(n):
            return z3.BoolVal(wide.as_long() < n.as_long())
        return z3.ULT(wide, n)

    def pkt_len(self, st) -> object:
        """The packet's length in state ``st`` (a helper may have resized the packet)."""
        return self.plen if st is None or st.plen is None else st.plen

    def base(self, p: P):
        r = p.r
        if r.kind == "stack":
            return bv(STACK_BASE + r.frame * STACK_STRIDE)
        if r.kind == "ctx":
            return bv(CTX_BASE)
        if r.kind in ("packet", "pkt_end"):
            return bv(PACKET_BASE)
        if r.kind == "pkt_meta":
            return bv(PACKET_BASE) - self.mlen
        if r.kind == "mapptr" and p.key is not None:  # an inner map (symbolic.inner_maps)
            return p.key
        if r.kind == "mapptr":
            return bv(MAP_PTR_BASE + self.index[r.name] * 0x1000)
        if r.kind == "func":
            return bv(FUNC_BASE)
        if r.kind in ("btf", "sock", "kmem"):  # a kernel pointer: its address is its key
            return p.key
        if r.kind == "ringbuf":  # the k-th reservation, where the interpreter puts it
            return bv(RINGBUF_BASE + r.gen * RINGBUF_STRIDE)
        if r.kind == "map_key":  # a for_each callback's key (model.symbolic.callbacks)
            return bv(KEY_BASE + r.frame * 0x1000)
        if r.kind == "dynptr_ptr":  # a user ring buffer sample's dynptr (symbolic.dynptrs)
            return bv(SAMPLE_BASE + r.frame * 0x1000)
        idx = bv(MAP_BASE + self.index[r.name] * MAP_STRIDE)
        kw = p.key.size()
        if self.is_array(r.name):
            slot = z3.ZeroExt(64 - kw, p.key) if kw < 64 else p.key
        else:
            slot = z3.ZeroExt(44, self.hash_slot[r.name](p.key))  # never wraps to NULL
        return idx + slot * bv(ELEM_STRIDE)

    def addr(self, v):
        """The 64-bit integer a value is in the interpreter (pointers: base + offset)."""
        return v.v if isinstance(v, S) else self.base(v) + v.off

    def size(self, p: P):
        k = p.r.kind
        if k == "stack":
            return bv(STACK_SIZE)
        if k == "ctx":
            return bv(self.ctx_size)
        if k == "packet":
            return self.plen
        if k == "pkt_meta":
            return self.mlen
        if k == "map":
            return bv(self.maps[p.r.name].value_size)
        if k == "ringbuf":
            return bv(p.r.size)
        return bv(0)


class Frame:
    __slots__ = ("regs", "stack", "spills", "callsite", "region")

    def __init__(self, regs, stack, spills, callsite, region):
        self.regs, self.stack, self.spills = regs, stack, spills
        self.callsite, self.region = callsite, region

    def copy(self) -> "Frame":
        return Frame(list(self.regs), self.stack, dict(self.spills), self.callsite, self.region)


class State:
    """One (possibly merged) symbolic state. ``guard``: the path condition (Z3 Bool)."""

    def __init__(self, frames, guard, pc=0):
        self.frames: list[Frame] = frames
        self.guard = guard
        self.pc = pc
        self.ctx = None  # context bytes (writes on top of the input)
        self.pkt = None
        self.plen = None  # packet length, after a helper that resized it (None: lay.plen)
        self.maps: dict = {}  # map name -> array key -> (offset -> byte)
        self.present: dict = {}  # hash maps: key -> present?
        self.site_runs: dict[int, int] = {}  # site id -> executions so far
        self.helper_runs: dict[int, int] = {}  # helper call pc -> calls so far
        self.back_edges = 0
        self.gens = 0  # stack frame instances created so far
        self.dead = False
        #: dynptrs (model.symbolic.dynptrs): their stack slots and what each one holds
        self.dynptrs: dict = {}

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        s = State([f.copy() for f in self.frames], self.guard, self.pc)
        s.ctx, s.pkt, s.plen = self.ctx, self.pkt, self.plen
        s.maps, s.present = dict(self.maps), dict(self.present)
        s.site_runs, s.helper_runs = dict(self.site_runs), dict(self.helper_runs)
        s.back_edges, s.gens = self.back_edges, self.gens
        s.dynptrs = dict(self.dynptrs)
        return s

    def signature(self, inputs=()) -> tuple:
        """The shape states must share to merge. ``inputs``: names of maps whose contents
        a path that never wrote them holds as the map's input (their absence is no
        difference: ``merge`` takes the input)."""
        frames = tuple((f.callsite, f.region, tuple(shape(r) for r in f.regs),
                        tuple(sorted((o, shape(v)) for o, v in f.spills.items())))
                       for f in self.frames)
        return (self.pc, frames, tuple(sorted(self.site_runs.items())),
                tuple(sorted(self.helper_runs.items())), self.back_edges, self.gens,
                tuple(sorted(n for n in self.maps if n not in inputs)),
                tuple(sorted(n for n in self.present if n not in inputs)),
                self.ctx is None, self.pkt is None, self.plen is None,
                tuple(sorted(map(repr, self.dynptrs.items()))))

    def merge(self, other: "State") -> None:
        """Absorb ``other`` (same signature, the same maps written): values become
        ``If(self.guard, mine, its)`` where they differ."""
        g = self.guard
        for fa, fb in zip(self.frames, other.frames):
            fa.regs = [merge_val(g, a, b) for a, b in zip(fa.regs, fb.regs)]
            fa.stack = _ite(g, fa.stack, fb.stack)
            fa.spills = {o: merge_val(g, v, fb.spills[o]) for o, v in fa.spills.items()}
        if self.ctx is not None:
            self.ctx = _ite(g, self.ctx, other.ctx)
        if self.pkt is not None:
            self.pkt = _ite(g, self.pkt, other.pkt)
        if self.plen is not None:
            self.plen = _ite(g, self.plen, other.plen)
        self.maps = {n: _ite(g, a, other.maps[n]) for n, a in self.maps.items()}
        self.present = {n: _ite(g, a, other.present[n]) for n, a in self.present.items()}
        self.guard = z3.Or(g, other.guard)


def new_frame(depth: int, gen: int, callsite: int) -> Frame:
    region = Region("stack", "stack", depth, gen)
    regs = [None] * 11
    regs[10] = P(region, bv(STACK_SIZE))
    return Frame(regs, z3.Array(f"stack_{depth}_{gen}", BV64, BYTE), {}, callsite, region)


def entry_state() -> State:
    st = State([new_frame(0, 0, -1)], z3.BoolVal(True))
    st.cur.regs[1] = P(Region("ctx", "ctx"), bv(0))
    return st


# -- byte-level memory ---------------------------------------------------------------------
def read_bytes(arr, off, size: int):
    """Little-endian ``size`` bytes of ``arr`` at ``off`` (a 64-bit term)."""
    parts = [select(arr, off + bv(i)) for i in range(size)]
    return parts[0] if size == 1 else z3.Concat(*reversed(parts))


def write_bytes(arr, off, value, size: int):
    for i in range(size):
        arr = z3.Store(arr, off + bv(i), z3.Extract(8 * i + 7, 8 * i, value))
    return arr


__all__ = ["BV64", "BYTE", "MAX_PACKET", "Layout", "Region", "S", "P", "State", "Frame",
           "bv", "const_of", "entry_state", "new_frame", "read_bytes", "write_bytes", "shape"]
