"""Stack spill/fill and atomic snippets of the rule-surface generator, drawn from the
kernel's rules (check_stack_write_fixed_off/var_off, check_stack_read_*, the scalar ids
of find_equal_scalars through spills, mark_chain_precision across the stack,
check_atomic and its load-acquire/store-release forms), not from what skv models.

``spill``: 1-4 stack writes (scalars known/unknown/bounded, pointers, immediates, at every
size and alignment, partial overwrites, variable offsets) then 1-2 reads (fills of spilled
registers, STACK_MISC/STACK_ZERO/uninitialised bytes, variable-offset reads) whose value is
used as a pointer or as the offset into a map value -- including a bound check on the
original register after the spill (the filled copy must share its bounds only when the
kernel says it does).

``atomic``: every BPF_ATOMIC operation (add/or/and/xor with and without FETCH, xchg,
cmpxchg, load-acquire, store-release) at sizes 1/2/4/8 on the stack (initialised or not),
a map value (maybe read-only), the ctx, a packet, a spilled pointer's slot, with a scalar,
pointer or uninitialised source, then a use of the fetched value. Encodings skv's decoder
does not know go in as :class:`RawInsn` and are decoded the way the ELF loader decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.isa import Alu, Atomic, Call, Load, Store
from model.isa.insn import Insn, Raw
from rulegen_alu import PKT_TYPES
from rulegen_args import PRANDOM


@dataclass(frozen=True)
class RawInsn(Insn):
    """One raw instruction slot (an encoding the typed instructions cannot express)."""

    code: int
    dst: int
    src: int
    off: int
    imm: int

    def raw(self):
        return (Raw(self.code, self.dst, self.src, self.off, self.imm),)


SLOTS = (-8, -16, -24, -32, -8, -16, -24, -32, -4, -12, -2, -1, -7, -40, -64, -256, -512,
         -513, 0)
WRITES = ("scalar", "scalar", "unknown", "bounded", "ptr", "ptr", "imm", "imm", "partial",
          "var_write", "ptr32")
READS = ("fill", "fill", "fill", "small_fill", "uninit", "var_read", "ids", "ids",
         "precise")
STX, ATOMIC_MODE, SIZE_BITS = 0x03, 0xc0, {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}
ATOMIC_IMMS = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xa0, "xchg": 0xe1,
               "cmpxchg": 0xf1, "load_acq": 0x100, "store_rel": 0x110}
ATOMIC_TARGETS = ("stack", "stack", "stack_uninit", "map_value", "map_value", "ctx", "pkt",
                  "spilled_ptr", "fp_unaligned")


class Mem2Snippets:
    # -- spills and fills ------------------------------------------------------------------
    def _spill(self) -> None:
        d, a = self.d, self.a
        writes = [self.stack_write() for _ in range(d.pick((1, 1, 2, 3, 4)))]
        reads = [self.stack_read() for _ in range(d.pick((1, 1, 2)))]
        self.features.append(f"spill:{','.join(writes)}:{','.join(reads)}")

    def stack_write(self) -> str:
        d, a = self.d, self.a
        what = d.pick(WRITES)
        off, size = d.pick(SLOTS), d.pick((8, 8, 4, 2, 1))
        if d.int(0, 4):
            off -= off % size                         # aligned (the kernel insists)
        if what in ("scalar", "unknown", "bounded"):
            if what == "scalar":
                a.put(Alu("mov", True, 1, imm=d.pick((0, 1, 8, -1, 0x7FFFFFFF))))
            else:
                a.put(Call(0, PRANDOM), Alu("mov", True, 1, src=0))
                if what == "bounded":
                    a.put(Alu("and", True, 1, imm=d.pick((7, 63, 255))))
            a.put(Store(size, 10, off, src=1))
        elif what in ("ptr", "ptr32"):
            r = d.pick((6, 10, 6))
            if d.int(0, 3) == 0 and self.ptype in PKT_TYPES:
                a.put(Load(4, 1, 6, self.pkt_offs()[0]))
                r = 1
            a.put(Store(8 if what == "ptr" else d.pick((4, 2, 1)), 10, off, src=r))
        elif what == "imm":
            a.put(Store(size, 10, off, imm=d.pick((0, 0, 1, -1))))
        elif what == "partial":                      # a spill, then one byte of it rewritten
            a.put(Store(8, 10, -8, src=d.pick((6, 10, 1))),
                  Store(d.pick((1, 2, 4)), 10, -8 + d.pick((0, 1, 4, 7)), imm=0))
        else:                                        # through a variable-offset pointer
            self.var_fp(2)
            a.put(Store(size, 2, 0, src=d.pick((1, 6))) if d.bool()
                  else Store(size, 2, 0, imm=0))
        return what

    def var_fp(self, r: int) -> None:
        """``r = fp - c + (unknown & mask)`` (a variable-offset stack pointer; clobbers r0)."""
        d, a = self.d, self.a
        a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=d.pick((0, 7, 8, 0x38, 0x1F8))),
              Alu("mov", True, r, src=10), Alu("add", True, r, imm=d.pick((-16, -64, -8, -512))),
              Alu("add", True, r, src=0))

    def stack_read(self) -> str:
        d, a = self.d, self.a
        how = d.pick(READS)
        off = d.pick(SLOTS[:8])
        if how in ("fill", "small_fill"):
            size = 8 if how == "fill" else d.pick((1, 2, 4))
            a.put(Load(size, 2, 10, off - off % size if d.int(0, 4) else off))
            self.use_filled(2)
        elif how == "uninit":
            a.put(Load(d.pick((1, 8)), 2, 10, d.pick((-72, -128, -480))), Alu("mov", True, 0,
                                                                              src=2))
        elif how == "var_read":
            self.var_fp(3)
            a.put(Load(d.pick((1, 4, 8)), 2, 3, 0))
            self.use_filled(2)
        else:                                         # ids/precision through a spill
            value = self.lookup_into(7, value_size=64)
            a.put(Call(0, PRANDOM), Alu("mov", True, 1, src=0))
            if how == "precise":
                a.put(Alu("mov", True, 1, imm=d.pick((4, 8, 60, 64))))
            size = d.pick((8, 8, 8, 4))
            a.put(Store(size, 10, -8, src=1))
            if d.int(0, 3) == 0:
                a.put(Store(1, 10, -8 + d.pick((0, 7)), imm=0))   # break the spill
            a.put(Load(size, 2, 10, -8))
            lim = d.pick((8, 56, 60, 64))
            if how == "ids":
                checked = d.pick((1, 2))
                a.jmp(d.pick(("jgt", "jge", "jsgt")), checked, self.out, imm=lim)
                if d.bool():
                    a.jmp("jslt", checked, self.out, imm=0)
            a.put(Alu("add", True, 7, src=d.pick((2, 1))), Load(d.pick((1, 4, 8)), 0, 7,
                                                              d.pick((0, 0, value - 8))))
        return how

    def use_filled(self, r: int) -> None:
        d, a = self.d, self.a
        use = d.pick(("deref", "deref", "offset", "ret", "none"))
        if use == "deref":
            a.put(Load(d.pick((1, 8)), 0, r, d.pick((0, 8))))
        elif use == "offset":
            a.put(Alu("mov", True, 8, src=r))
            self.lookup_into(7)
            a.put(Alu("add", True, 7, src=8), Load(1, 0, 7, 0))
        elif use == "ret":
            a.put(Alu("mov", True, 0, src=r))

    # -- atomics ---------------------------------------------------------------------------
    def atomic_insn(self, size: int, op: str, fetch: bool, dst: int, src: int, off: int):
        typed = size in (4, 8) and op not in ("load_acq", "store_rel")
        if typed and not (op in ("xchg", "cmpxchg") and not fetch):
            return Atomic(size, op, fetch or op in ("xchg", "cmpxchg"), dst, src, off)
        imm = ATOMIC_IMMS[op] | (1 if fetch and op in ("add", "or", "and", "xor") else 0)
        if op == "load_acq":                     # dst = load_acquire(src + off)
            dst, src = src, dst
        return RawInsn(STX | ATOMIC_MODE | SIZE_BITS[size], dst, src, off, imm)

    def _atomic(self) -> None:
        d, a = self.d, self.a
        target = d.pick(ATOMIC_TARGETS)
        if target == "pkt" and self.ptype not in PKT_TYPES:
            target = "stack"
        op = d.pick(tuple(ATOMIC_IMMS) + ("add", "cmpxchg", "xchg"))
        fetch = d.int(0, 2) > 0
        size = d.pick((8, 8, 4, 4, 2, 1) if op in ("load_acq", "store_rel") or
                      d.int(0, 7) == 0 else (8, 8, 4))
        off = d.pick((0, 0, 0, 0, 8, 8, -8, 4, 1))
        dst = 7
        if target in ("stack", "stack_uninit", "spilled_ptr", "fp_unaligned"):
            if target == "stack":
                a.put(Store(8, 10, -16, imm=0), Store(8, 10, -8, imm=0))
            elif target == "spilled_ptr":
                a.put(Store(8, 10, -16, src=d.pick((6, 10))), Store(8, 10, -8, imm=0))
            a.put(Alu("mov", True, 7, src=10),
                  Alu("add", True, 7, imm=-16 if target != "fp_unaligned" else -13))
        elif target == "map_value":
            self.lookup_into(7)
            if d.int(0, 3) == 0:
                for m in self.maps.values():              # maybe read-only to the program
                    m.flags |= 1 << 7 if d.bool() else 0
        elif target == "ctx":
            dst, off = 6, d.pick((0, 8, 16, 48, 76))
        else:
            data, end, _ = self.pkt_offs()
            a.put(Load(4, 7, 6, data), Load(4, 5, 6, end), Alu("mov", True, 4, src=7),
                  Alu("add", True, 4, imm=16))
            a.jmp("jgt", 4, self.out, src=5)
        src_kind = d.pick(("const", "const", "const", "unknown", "unknown", "ptr", "uninit"))
        if src_kind == "const":
            a.put(Alu("mov", True, 1, imm=d.pick((1, 0, -1))))
        elif src_kind == "unknown":
            a.put(Call(0, PRANDOM), Alu("mov", True, 1, src=0))
        elif src_kind == "ptr":
            a.put(Alu("mov", True, 1, src=d.pick((6, 10))))
        else:
            a.put(Call(0, PRANDOM), Alu("mov", True, 8 if dst == 7 else 7, src=0))
            src_kind = "clobbered"                        # r1 is not readable after a call
        if op == "cmpxchg" and d.int(0, 3):
            a.put(Alu("mov", True, 0, imm=d.pick((0, 1))))
        self.features.append(f"atomic:{target}:{op}{'_fetch' if fetch else ''}:{size}:"
                             f"{off}:{src_kind}")
        a.put(self.atomic_insn(size, op, fetch, dst, 1, off))
        if d.bool():                                      # use what was fetched/loaded
            r = 0 if op == "cmpxchg" else 1
            a.put(Load(1, 2, r, 0) if d.bool() else Alu("mov", True, 0, src=r))


__all__ = ["Mem2Snippets", "RawInsn"]
