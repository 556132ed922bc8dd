"""A generator of verifier-relevant BPF programs (see tests/vergen_base.py for the
shared pieces and tests/vergen_more.py for the second half of the snippets)."""

from __future__ import annotations

from vergen_base import *  # noqa: F401,F403
from vergen_more import MoreSnippets


class VerGen(MoreSnippets):
    def __init__(self, d: Draw, prog_type: str | None = None, max_snippets: int = 5):
        self.d = d
        self.ptype = prog_type or d.pick(PROG_TYPES)
        self.max_snippets = max_snippets
        self.a = Asm()
        self.maps: dict[str, MapDef] = {}
        self.subs: list = []        # (label, body builder) appended after main
        self.features: list[str] = []

    # -- helpers ---------------------------------------------------------------------------
    def map(self, kind: int | None = None) -> MapDef:
        d = self.d
        kind = kind or d.pick((ARRAY, HASH))
        name = "arr" if kind == ARRAY else "hash"
        if name not in self.maps:
            self.maps[name] = MapDef(name, kind, 4, d.pick(VALUE_SIZES), d.pick((1, 4, 16)),
                                     origin="legacy")
        return self.maps[name]

    def unknown(self, r: int) -> None:
        """An unknown scalar into ``r`` (a ctx field or a helper's result)."""
        d, a = self.d, self.a
        if r != 0 and d.bool():
            a.put(Load(4, r, 6, d.pick(CTX_SCALARS[self.ptype])))
        else:
            a.put(Call(0, d.pick((PRANDOM, KTIME))))
            if r != 0:
                a.put(Alu("mov", True, r, src=0))

    def bound(self, r: int, limit: int, unsafe: bool, skip: str) -> None:
        """Make ``0 <= r <= limit`` (or, unsafe, not quite)."""
        d, a = self.d, self.a
        form = d.int(0, 4)
        if unsafe:
            form = d.int(0, 3)
            if form == 0:
                return  # no bound at all
            if form == 1:
                a.jmp("jsgt", r, skip, imm=limit)  # signed only: may be negative
            elif form == 2:
                a.jmp("jgt", r, skip, imm=limit + d.int(1, 8))  # off by some
            else:
                a.jmp("jgt", r, skip, imm=limit, is32=True)  # 32-bit bound of a 64-bit reg
            return
        if form == 0:
            a.jmp("jgt", r, skip, imm=limit)
        elif form == 1:
            a.jmp("jge", r, skip, imm=limit + 1)
        elif form == 2:
            mask = 1
            while mask * 2 - 1 <= limit:
                mask *= 2
            a.put(Alu("and", True, r, imm=mask // 2 * 2 - 1 if mask > 1 else 0))
        elif form == 3:
            a.put(Alu("mov", False, r, src=r))  # zero-extend, then bound the 32-bit value
            a.jmp("jgt", r, skip, imm=limit, is32=True)
        else:
            ok = self.a.label()
            a.jmp("jle", r, ok, imm=limit)
            a.goto(skip)
            a.at(ok)

    # -- program ---------------------------------------------------------------------------
    def program(self) -> VerProg:
        d, a = self.d, self.a
        a.put(Alu("mov", True, 6, src=1))
        n = d.int(1, self.max_snippets)
        kinds = [d.pick(SNIPPETS) for _ in range(n)]
        bad = d.int(0, n - 1) if d.int(0, 99) < UNSAFE_RATE * 100 else -1
        out = "out"
        for i, k in enumerate(kinds):
            unsafe = i == bad
            self.features.append(("!" if unsafe else "") + k)
            getattr(self, "_" + k)(unsafe, out)
        a.at(out)
        self._ret(bad >= 0 and d.int(0, 9) == 0)
        for label, body in self.subs:
            a.at(label)
            body()
        insns, refs = a.build()
        return VerProg(self.ptype, insns, refs, self.maps, self.features)

    def _ret(self, unsafe: bool) -> None:
        d, a = self.d, self.a
        form = d.int(0, 9)
        if unsafe:
            if form < 5:
                return a.put(Exit())                    # r0 maybe uninitialised
            a.put(Alu("mov", True, 0, src=d.pick((6, 10))))  # a pointer (root may)
        else:
            a.put(Alu("mov", True, 0, imm=d.pick((0, 1, 2))))
        a.put(Exit())

    # -- snippets --------------------------------------------------------------------------
    def _stack(self, unsafe: bool, out: str) -> None:
        """Stores and loads of 1-8 bytes, aligned (or not), initialised (or partly)."""
        d, a = self.d, self.a
        size = d.pick((8, 4, 2, 1))
        off = -8 * d.int(1, 8) + size * d.int(0, 8 // size - 1)
        if unsafe:
            off += d.pick((1, 3, -512, 8 * d.int(1, 3)))  # misaligned, below, above
        if d.bool():
            a.put(Store(size, 10, off, imm=d.pick((0, 1, -1, 0x7F))))
        else:
            self.unknown(1) if d.bool() else a.put(Alu("mov", True, 1, imm=d.pick((0, 7))))
            a.put(Store(size, 10, off, src=1))
        rsize = d.pick((size, 8, 4, 1))
        roff = off - off % rsize if not unsafe else off
        a.put(Load(rsize, 7, 10, roff, signed=rsize < 8 and d.int(0, 3) == 0))
        if d.bool():  # use the loaded value as an index (only precise fills keep it bounded)
            m = self.map(ARRAY)
            self._lookup(m, const_key=0)
            a.jmp("jeq", 0, out, imm=0)
            a.put(Alu("and", True, 7, imm=min(m.value_size, 32) - 1))
            a.put(Alu("add", True, 0, src=7), Load(1, 3, 0, 0))

    def _spill(self, unsafe: bool, out: str) -> None:
        """A pointer or bounded scalar spilled and filled back, then used."""
        d, a = self.d, self.a
        off = -8 * d.int(1, 6)
        what = d.int(0, 3)
        if what == 0:  # ctx pointer
            a.put(Store(8, 10, off, src=6))
        elif what == 1:  # stack pointer
            a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-64),
                  Store(8, 1, 0, imm=5), Store(8, 10, off, src=1))
        else:  # a bounded scalar, spilled with 8 or 4 bytes
            self.unknown(1)
            a.put(Alu("and", True, 1, imm=7))
            spill = d.pick((8, 4, 2))
            a.put(Store(spill, 10, off, src=1))
        if unsafe:
            k = d.int(0, 2)
            if k == 0:
                a.put(Store(4, 10, off + 4 * d.int(0, 1), imm=0))  # clobber half the spill
            elif k == 1:
                a.put(Store(4, 10, off - 8, src=6))  # a 4-byte pointer spill
            else:
                a.put(Load(4, 2, 10, off))  # partial fill
                a.put(Load(4, 3, 2, 0))
                return
        a.put(Load(8 if what < 2 else spill, 7, 10, off))
        if what == 0:
            a.put(Load(4, 3, 7, CTX_SCALARS[self.ptype][0]))
        elif what == 1:
            a.put(Load(8, 3, 7, 0))
        else:
            m = self.map(ARRAY)
            self._lookup(m, const_key=0)
            a.jmp("jeq", 0, out, imm=0)
            a.put(Alu("add", True, 0, src=7), Load(1, 3, 0, 0))

    def _lookup(self, m: MapDef, const_key: int | None = None, unsafe_key: bool = False) -> None:
        """r0 = lookup(m, key); the key is at fp-8 (4 bytes)."""
        d, a = self.d, self.a
        if const_key is None:
            self.unknown(1)
            a.put(Store(4, 10, -8, src=1))
        elif d.bool():
            a.put(Store(4, 10, d.pick((-8, -4)), imm=const_key))
            if a.items[-1].off == -4:
                a.put(Store(4, 10, -8, imm=const_key))
        else:
            a.put(Alu("mov", True, 1, imm=const_key), Store(4, 10, -8, src=1))
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-8 if not unsafe_key
                                               else d.pick((-2, -16 * 40, 0))))
        name = [n for n, v in self.maps.items() if v is m][0]
        a.ldmap(1, name)
        a.put(Call(0, LOOKUP))

    def _map(self, unsafe: bool, out: str) -> None:
        """Lookup, null check, constant-offset access; update/delete sometimes."""
        d, a = self.d, self.a
        m = self.map()
        key = d.pick((0, 1, 3, None))
        k = d.int(0, 4) if unsafe else -1
        self._lookup(m, key, unsafe_key=k == 4)
        skip = a.label()
        if k != 0:
            a.jmp("jeq", 0, skip, imm=0)
        size = d.pick((1, 2, 4, 8))
        off = size * d.int(0, (m.value_size - size) // size)
        if k == 1:
            off = m.value_size - size + d.int(1, size)
        if k == 2:
            off = -size
        if d.bool() or k == 3:
            a.put(Load(size, 3, 0, off))
            if k == 3:
                a.put(Load(4, 3, 3, 0))  # a scalar dereferenced
        else:
            a.put(Store(size, 0, off, imm=1) if d.bool() else Store(size, 0, off, src=6))
        if d.int(0, 3) == 0:  # update or delete with the value as key
            a.put(Alu("mov", True, 2, src=0))
            self._ldmap_of(m)
            if d.bool():
                a.put(Alu("mov", True, 3, src=2), Alu("mov", True, 4, imm=0), Call(0, UPDATE))
            else:
                a.put(Call(0, DELETE))
        a.at(skip)

    def _ldmap_of(self, m: MapDef) -> None:
        self.a.ldmap(1, [n for n, v in self.maps.items() if v is m][0])

    def _map_var(self, unsafe: bool, out: str) -> None:
        """A map value accessed at a variable offset, bounded (or not) first."""
        d, a = self.d, self.a
        m = self.map()
        self._lookup(m, d.pick((0, None)))
        skip = a.label()
        a.jmp("jeq", 0, skip, imm=0)
        a.put(Alu("mov", True, 7, src=0))
        if d.bool():
            a.put(Load(4, 1, 0, 0))   # the index comes from the value itself
        else:
            self.unknown(1)
        size = d.pick((1, 4, 8))
        self.bound(1, m.value_size - size, unsafe, skip)
        if d.bool():
            a.put(Alu("add", True, 7, src=1), Load(size, 3, 7, 0))
        else:  # scalar + pointer
            a.put(Alu("add", True, 1, src=7), Store(size, 1, 0, imm=3))
        a.at(skip)

    def _packet(self, unsafe: bool, out: str) -> None:
        """data + N <= data_end in one of its forms, then accesses below N."""
        d, a = self.d, self.a
        data, end = PKT_OFFS[self.ptype]
        if self.ptype == "socket_filter":
            if unsafe:
                a.put(Load(4, 2, 6, data))  # no direct packet access here
            else:
                a.put(Alu("mov", True, 6, src=6), LegacyLoad(d.pick((1, 2, 4)), "abs",
                                                             imm=d.int(0, 20)))
                self.features[-1] = "ld_abs"
            return
        n = d.pick((1, 8, 14, 34))
        a.put(Load(4, 2, 6, data), Load(4, 3, 6, end))
        a.put(Alu("mov", True, 4, src=2), Alu("add", True, 4, imm=n))
        form, ok = d.int(0, 5), a.label()
        is32 = unsafe and d.int(0, 4) == 0
        if form == 0:
            a.jmp("jgt", 4, out, src=3, is32=is32)
        elif form == 1:
            a.jmp("jlt", 3, out, src=4, is32=is32)
        elif form == 2:
            a.jmp("jle", 4, ok, src=3, is32=is32)
            a.goto(out)
        elif form == 3:
            a.jmp("jge", 3, ok, src=4, is32=is32)
            a.goto(out)
        elif form == 4:  # strict: data + N < data_end gives N+1 bytes (the kernel: N)
            a.jmp("jge", 4, out, src=3, is32=is32)
        else:
            a.jmp("jgt", 3, ok, src=4, is32=is32)
            a.goto(out)
        a.at(ok)
        size = d.pick(tuple(x for x in (1, 2, 4) if x <= n))
        off = d.int(0, n - size)
        if unsafe and not is32:
            off = d.pick((n - size + 1, n, -1))
        if d.bool():
            a.put(Load(size, 5, 2, off))
            if d.bool():  # a variable offset from the packet, bounded then re-checked
                a.put(Alu("and", True, 5, imm=0xF), Alu("add", True, 2, src=5))
                a.put(Alu("mov", True, 4, src=2), Alu("add", True, 4, imm=4))
                if not (unsafe and d.bool()):
                    a.jmp("jgt", 4, out, src=3)
                a.put(Load(4, 5, 2, 0))
        else:
            a.put(Store(size, 2, off, imm=0))

    def _ctx(self, unsafe: bool, out: str) -> None:
        d, a = self.d, self.a
        if not unsafe:
            off, size, write = d.pick(CTX_SCALARS[self.ptype]), d.pick((4, 4, 2, 1)), False
            if self.ptype != "xdp" and d.int(0, 2) == 0:
                off, size, write = 48 + 4 * d.int(0, 4), 4, True  # cb[]
            off += 0 if size == 4 or self.ptype == "xdp" else size * d.int(0, 4 // size - 1)
            size = 4 if self.ptype == "xdp" else size
        else:
            off = d.pick((CTX_SIZE[self.ptype], -4, 2, CTX_SCALARS[self.ptype][0] + 1,
                          d.int(0, CTX_SIZE[self.ptype] - 1)))
            size, write = d.pick((1, 2, 4, 8)), d.bool()
        if write:
            a.put(Store(size, 6, off, src=d.pick((6, 10))) if unsafe and d.bool() else
                  Store(size, 6, off, imm=1))
        else:
            a.put(Load(size, 2, 6, off))

    def _helper(self, unsafe: bool, out: str) -> None:
        d, a = self.d, self.a
        k = d.int(0, 2)
        if k == 0:
            a.put(Call(0, d.pick((KTIME, PRANDOM))))
            if unsafe:
                a.put(Load(4, 0, 1, 0))  # r1 is clobbered by the call
        elif k == 1:  # trace_printk("%d\n") from the stack
            a.put(Store(4, 10, -16, imm=0x0A6425))
            a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16))
            if unsafe:
                self.unknown(2) if d.bool() else a.put(Alu("mov", True, 2, imm=d.pick((0, 17))))
            else:
                a.put(Alu("mov", True, 2, imm=d.pick((4, 8, 16))))
            a.put(Alu("mov", True, 3, imm=7), Call(0, PRINTK))
        else:  # probe_read_kernel(fp-N, size, ptr)
            n = 8 * d.int(1, 4)
            a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-n))
            size = d.int(1, n) if not unsafe else d.pick((n + 8, 0, -1))
            if unsafe and size == -1:
                self.unknown(2)
            else:
                a.put(Alu("mov", True, 2, imm=size))
            a.put(Alu("mov", True, 3, src=6), Call(0, PROBE_READ_KERNEL))
            a.put(Load(8, 2, 10, -n))

    def _branch(self, unsafe: bool, out: str) -> None:
        """A branch on an unknown scalar; one side uses it as a stack index."""
        d, a = self.d, self.a
        self.unknown(7)
        cond, is32 = d.pick(("jgt", "jge", "jlt", "jle", "jsgt", "jslt", "jeq", "jset")), \
            d.bool()
        k = d.pick((0, 7, 8, 15, 0x100000007))
        skip = a.label()
        if k > 0x7FFFFFFF:
            a.put(LoadImm64.from_value(1, k))
            a.jmp(cond, 7, skip, src=1, is32=is32)
        else:
            a.jmp(cond, 7, skip, imm=k, is32=is32)
        if not unsafe:
            a.put(Alu("and", True, 7, imm=15))
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16),
              Alu("add", True, 1, src=7), Store(1, 1, 0, imm=1))
        a.at(skip)

    def _loop(self, unsafe: bool, out: str) -> None:
        d, a = self.d, self.a
        top = a.label()
        n = d.int(1, 6)
        a.put(Alu("mov", True, 7, imm=0))
        a.at(top)
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-8 * n - 8),
              Alu("add", True, 1, src=7), Store(1, 1, 0, imm=1))
        if unsafe and d.bool():
            a.jmp("jlt", 7, top, imm=n)  # no progress: an infinite loop
            return
        a.put(Alu("add", True, 7, imm=1))
        a.jmp(d.pick(("jlt", "jne")), 7, top, imm=n + (d.int(1, 20) if unsafe else 0),
              is32=d.bool())

    def _subprog(self, unsafe: bool, out: str) -> None:
        d, a = self.d, self.a
        label = a.label()
        k = d.int(0, 3)
        deep = d.int(0, 3) == 0  # a deep callee stack: the combined depth may exceed 512
        if deep:
            a.put(Store(8, 10, -8 * d.int(20, 64), imm=0))
        a.put(Store(8, 10, -24, imm=3), Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-24))
        a.call_sub(label)
        if k == 0 and unsafe and not deep:
            a.put(Load(8, 2, 1, 0))  # r1 does not survive the call

        def body():
            a.put(Load(8, 2, 1, 0), Alu("mov", True, 0, src=2))
            if deep:
                a.put(Store(8, 10, -8 * (d.int(16, 36) if not unsafe else d.int(37, 64)),
                            imm=0))
            if unsafe and k == 1 and not deep:
                a.put(Alu("mov", True, 0, src=1))  # a pointer returned
            elif unsafe and k == 2:
                a.put(Alu("mov", True, 0, src=10), Alu("add", True, 0, imm=-8))
            elif unsafe and k == 3:
                a.put(Load(8, 0, 1, 24))  # above the caller's frame
            a.put(Exit())
        self.subs.append((label, body))


def generate(d: Draw, prog_type: str | None = None, **kw) -> VerProg:
    return VerGen(d, prog_type, **kw).program()


@st.composite
def programs(draw, prog_type: str | None = None, **kw) -> VerProg:
    return generate(HypothesisDraw(draw), prog_type, **kw)


def random_programs(seed: int, n: int, **kw):
    d = RandomDraw(random.Random(seed))
    for _ in range(n):
        yield generate(d, **kw)


__all__ = ["Asm", "VerGen", "VerProg", "generate", "programs", "random_programs",
           "UNSAFE_RATE", "SNIPPETS"]
