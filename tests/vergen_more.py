"""Snippets of the verifier-relevant program generator (tests/vergen.py), second half:
pointer arithmetic, variable stack offsets, atomics, spilled packet pointers, null
checks through copies, linked scalars, map helpers, immediate checks."""

from __future__ import annotations

from vergen_base import *  # noqa: F401,F403


class MoreSnippets:
    def _ptr_arith(self, unsafe: bool, out: str) -> None:
        d, a = self.d, self.a
        base = d.pick((6, 10))
        a.put(Alu("mov", True, 1, src=base))
        if not unsafe:
            k = d.int(0, 3)
            if k == 0:
                a.put(Alu("add", True, 1, imm=-16))
                if base == 6:
                    a.put(Alu("sub", True, 1, imm=-8))
            elif k == 1:
                a.put(Alu("sub", True, 1, src=10))  # pointer - pointer: a number (root)
            elif k == 2:
                a.put(Alu("neg", True, 1))  # a number (root)
            else:
                a.put(Alu("mov", False, 1, src=base))  # a partial copy: a number (root)
            a.put(Alu("mov", True, 2, src=1))
            return
        op = d.pick(("mul", "and", "or", "lsh", "add32", "ptrptr", "scalsub", "div", "fpsub"))
        if op == "fpsub":
            a.put(Alu("mov", True, 1, src=10), Alu("sub", True, 1, imm=8))
        elif op == "add32":
            a.put(Alu("add", False, 1, imm=8))
        elif op == "ptrptr":
            a.put(Alu("add", True, 1, src=6))
        elif op == "scalsub":
            a.put(Alu("mov", True, 2, imm=8), Alu("sub", True, 2, src=1))
        else:
            a.put(Alu(op, True, 1, imm=2))
        a.put(Load(1, 2, 1, 0))

    def _var_stack(self, unsafe: bool, out: str) -> None:
        """A variable-offset stack write and read."""
        d, a = self.d, self.a
        self.unknown(7)
        size = d.pick((1, 8))
        mask = (7 if size == 1 else 8) if not unsafe else d.pick((7, 15, 0x1FF, -1))
        a.put(Alu("and", True, 7, imm=mask))
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-16), Alu("add", True, 1,
                                                                               src=7))
        a.put(Store(size, 1, 0, imm=0), Load(size, 2, 1, 0))


    def _atomic(self, unsafe: bool, out: str) -> None:
        """Atomic add/xchg/cmpxchg on the stack or a map value (always strictly aligned)."""
        d, a = self.d, self.a
        size = d.pick((4, 8))
        op = d.pick(("add", "or", "xchg", "cmpxchg"))
        off = -8 * d.int(1, 4) + (d.pick((1, 2, 4)) if unsafe else 0)
        a.put(Store(8, 10, -40, imm=0), Alu("mov", True, 0, imm=0), Alu("mov", True, 1, imm=1))
        if d.bool():
            a.put(Store(8, 10, off - off % 8, imm=0))
            a.put(Atomic(size, op, op in ("xchg", "cmpxchg") or d.bool(), 10, 1, off))
            return
        m = self.map()
        skip = a.label()
        self._lookup(m, d.pick((0, None)))
        a.jmp("jeq", 0, skip, imm=0)
        a.put(Alu("mov", True, 1, imm=1), Alu("mov", True, 2, src=0), Alu("mov", True, 0, imm=0))
        a.put(Atomic(size, op, op in ("xchg", "cmpxchg") or d.bool(), 2, 1,
                     off + 8 * 5 if unsafe else 0))
        a.at(skip)

    def _pkt_spill(self, unsafe: bool, out: str) -> None:
        """A checked packet pointer spilled, a helper called, filled and dereferenced; or a
        data_meta <= data check (xdp, tc)."""
        d, a = self.d, self.a
        if self.ptype == "socket_filter":
            return self._spill(unsafe, out)
        data, end = PKT_OFFS[self.ptype]
        if d.int(0, 2) == 0:  # data_meta + 4 <= data
            meta = 8 if self.ptype == "xdp" else 140
            a.put(Load(4, 2, 6, meta), Load(4, 3, 6, data), Alu("mov", True, 4, src=2),
                  Alu("add", True, 4, imm=4))
            a.jmp("jgt", 4, out, src=3)
            a.put(Load(4, 5, 2, 4 if unsafe else 0))
            return
        a.put(Load(4, 2, 6, data), Load(4, 3, 6, end), Alu("mov", True, 4, src=2),
              Alu("add", True, 4, imm=8))
        a.jmp("jgt", 4, out, src=3)
        a.put(Store(8, 10, -16, src=2), Call(0, KTIME))
        a.put(Load(8, 7, 10, -16), Load(4, 0, 7, 8 if unsafe else 4))

    def _null_copy(self, unsafe: bool, out: str) -> None:
        """A copy of a maybe-NULL pointer, checked through the original (or the copy)."""
        d, a = self.d, self.a
        m = self.map(HASH if d.bool() else None)
        self._lookup(m, None)
        skip = a.label()
        a.put(Alu("mov", True, 7, src=0))
        if d.bool():
            a.put(Store(8, 10, -24, src=0), Load(8, 8, 10, -24))
        else:
            a.put(Alu("mov", True, 8, src=0))
        cond = d.pick(("jeq", "jne"))
        chk = d.pick((0, 7, 8))
        if cond == "jeq":
            a.jmp("jeq", chk, skip, imm=0 if not unsafe else 1)
        else:
            ok = a.label()
            a.jmp("jne", chk, ok, imm=0 if not unsafe else 1)
            a.goto(skip)
            a.at(ok)
        a.put(Load(4, 3, d.pick((0, 7, 8)), 0))
        a.at(skip)

    def _linked(self, unsafe: bool, out: str) -> None:
        """A scalar copied (or spilled), the copy bounds-checked, the original used."""
        d, a = self.d, self.a
        m = self.map(ARRAY)
        self._lookup(m, 0)
        skip = a.label()
        a.jmp("jeq", 0, skip, imm=0)
        a.put(Load(4, 8, 0, 0), Alu("mov", True, 7, src=0))
        how = d.int(0, 2)
        if how == 0:
            a.put(Alu("mov", True, 9, src=8))
        elif how == 1:
            a.put(Store(8, 10, -32, src=8), Load(8, 9, 10, -32))
        else:
            a.put(Store(4, 10, -32, src=8), Load(4, 9, 10, -32))
        if unsafe:
            a.put(Alu("add", True, 9, imm=0) if d.bool() else Alu("mov", True, 9, src=9))
            a.put(Alu("add", True, 8, imm=1))
        cond, is32 = d.pick(("jgt", "jge")), d.int(0, 3) == 0
        a.jmp(cond, 9, skip, imm=m.value_size - 4 + (cond == "jge"), is32=is32)
        a.put(Alu("add", True, 7, src=8), Load(4, 3, 7, 0))
        a.at(skip)

    def _map_helper(self, unsafe: bool, out: str) -> None:
        """update with a value on the stack, probe_read into a map value, a value as key;
        or legacy packet loads mixed with a bpf-to-bpf call."""
        d, a = self.d, self.a
        m = self.map()
        k = d.int(0, 3)
        if k == 0:  # update(map, fp-8, fp-V', 0)
            v = m.value_size + (8 if unsafe else 0)
            a.put(Store(4, 10, -8, imm=1), Alu("mov", True, 2, src=10),
                  Alu("add", True, 2, imm=-8), Alu("mov", True, 3, src=10),
                  Alu("add", True, 3, imm=-8 - v - (8 if unsafe and v > 496 else 0)))
            if -8 - v < -512:
                a.items[-1] = Alu("add", True, 3, imm=-512)
            self._ldmap_of(m)
            a.put(Alu("mov", True, 4, imm=0), Call(0, UPDATE))
            return
        if k == 3 and self.ptype != "xdp":
            a.put(LegacyLoad(1, "abs", imm=0))
            self._subprog(unsafe=False, out=out)
            self.features[-1] += "+ld_abs"
            return
        skip = a.label()
        self._lookup(m, d.pick((0, 1, None)))
        a.jmp("jeq", 0, skip, imm=0)
        if k == 1:  # probe_read_kernel(value, size, ctx)
            a.put(Alu("mov", True, 1, src=0), Alu("mov", True, 2,
                                                  imm=m.value_size + (1 if unsafe else 0)))
            a.put(Alu("mov", True, 3, src=6), Call(0, PROBE_READ_KERNEL))
        else:  # the value as the key of another lookup
            a.put(Alu("mov", True, 2, src=0))
            if unsafe:
                a.put(Alu("add", True, 2, imm=m.value_size - 2))
            self._ldmap_of(self.map(HASH))
            a.put(Call(0, LOOKUP))
        a.at(skip)


    def _alu_imm(self, unsafe: bool, out: str) -> None:
        """Divisions and shifts by immediates (zero divisors and too wide shifts are
        refused), on an unknown value; or an atomic on the ctx."""
        d, a = self.d, self.a
        self.unknown(7)
        op, is64 = d.pick(("div", "mod", "sdiv", "smod", "lsh", "rsh", "arsh")), d.bool()
        w = 64 if is64 else 32
        if op in ("lsh", "rsh", "arsh"):
            imm = d.int(0, w - 1) if not unsafe else d.pick((w, -1, 64, 100))
        else:
            imm = d.pick((1, 3, -1, 7)) if not unsafe else 0
        if unsafe and d.int(0, 4) == 0:
            a.put(Alu("mov", True, 1, imm=1), Atomic(4, "add", False, 6, 1, 48))
            return
        a.put(Alu(op, is64, 7, imm=imm, off=1 if op in ("sdiv", "smod") else 0))
