"""Pointer arithmetic and range tracking snippets of the rule-surface generator, drawn from
the kernel's rules (adjust_ptr_min_max_vals, adjust_scalar_min_max_vals, the branch
refinements of reg_set_min_max, check_mem_access's bounds), not from what skv models.

``ptr_alu``: a pointer of every kind the snippet can make (ctx, stack, map value checked or
not, packet data/meta/end, socket, map pointer, BTF-id task) moved by an immediate, a known,
unknown or bounded scalar, by 32-bit ALU, by another pointer (sub/add/compare), by
mul/xor/neg/shifts, turned into a scalar and back, pushed near BPF_MAX_VAR_OFF (1 << 29),
then dereferenced, stored, spilled, returned or passed to a helper.

``bounds``: an unknown scalar through 1-3 range operations (masks, signed/unsigned/32-bit
branches, jset, jne/jeq with constants, movsx, bswap/le/be, div/mod by zero, shifts by the
width or more, 32-bit ALU) used as the offset into a map value, the stack or a packet with
an access at the edge of validity.
"""

from __future__ import annotations

from model.isa import Alu, Call, Endian, Load, LoadImm64, Store
from rulegen_args import HID, LOOKUP, PRANDOM

PTR_KINDS = ("ctx", "ctx", "stack", "stack", "map_value", "map_value", "map_value_or_null",
             "pkt", "pkt", "pkt_meta", "pkt_end", "sock", "map_ptr", "btf_id")
PKT_TYPES = ("xdp", "sched_cls", "sched_act", "cgroup_skb", "lwt_in", "lwt_xmit", "sk_skb")
SOCK_TYPES = ("sched_cls", "sched_act", "cgroup_skb", "sk_skb")
BTF_TYPES = ("kprobe", "tracepoint", "raw_tracepoint", "perf_event", "syscall")
#: immediates for pointer arithmetic: small, aligned, negative, near the kernel's limits
PTR_IMMS = (1, 4, 8, 8, 16, -8, -16, -1, 64, 512, -512, 4096, (1 << 29) - 1, 1 << 29,
            -(1 << 29), (1 << 29) + 8, 0x7FFFFFFF, -0x80000000)
SCALARS = ("const", "const", "unknown", "bounded", "bounded", "signed", "ld64", "neg_const")
CONSTS = (0, 1, 4, 8, 16, 48, 511, 512, (1 << 29) - 1, 1 << 29, -(1 << 29), 0x7FFFFFFF)
PTR_OPS = ("add_imm", "add_imm", "sub_imm", "add_reg", "add_reg", "scalar_plus_ptr",
           "sub_reg", "scalar_minus_ptr", "alu32", "ptr_ptr_sub", "ptr_ptr_add", "bitop",
           "neg", "ptr_cmp", "roundtrip", "twice", "ptr_ptr_sub_same")
PTR_USES = ("load", "load", "store", "store_reg", "spill_fill", "ret", "helper_key",
            "null_check", "none")
BITOPS = ("mul", "xor", "or", "and", "lsh", "rsh", "arsh", "div", "mod")
RANGE_OPS = ("and", "and", "jmp", "jmp", "jmp", "jmp32", "jset", "jne", "jeq", "alu32",
             "alu64", "shift", "shift_reg", "movsx", "endian", "divmod", "neg", "ldsx")
JCONDS = ("jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle")


class AluSnippets:
    # -- pointers --------------------------------------------------------------------------
    def lookup_into(self, r: int, check: bool = True, value_size: int | None = None) -> int:
        """``r`` = a map value of a fresh array/hash map (NULL-checked unless ``check`` is
        false); returns the value size."""
        d, a = self.d, self.a
        m = self.pick_map(("array", "hash", "percpu_array", "lru_hash"))
        if value_size is not None and m.value_size != value_size:
            m.value_size = value_size
        a.put(Store(8, 10, -8, imm=0))
        a.ldmap(1, m.name)
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-8), Call(0, LOOKUP))
        if check:
            a.jmp("jeq", 0, self.out, imm=0)
        a.put(Alu("mov", True, r, src=0))
        return m.value_size

    def ptr_into(self, r: int, kind: str | None = None) -> str:
        """A pointer of ``kind`` (drawn) into ``r`` (r7-r9); may clobber r0-r5."""
        d, a = self.d, self.a
        kind = kind or d.pick(PTR_KINDS)
        if kind.startswith("pkt") and self.ptype not in PKT_TYPES:
            kind = "ctx"
        if kind == "sock" and self.ptype not in SOCK_TYPES:
            kind = "ctx"
        if kind == "btf_id" and self.ptype not in BTF_TYPES:
            kind = "stack"
        if kind == "ctx":
            a.put(Alu("mov", True, r, src=6))
        elif kind == "stack":
            off = d.pick((0, -8, -16, -64))
            for o in range(-64, 0, 8):
                a.put(Store(8, 10, o, imm=0))
            a.put(Alu("mov", True, r, src=10))
            if off:
                a.put(Alu("add", True, r, imm=off))
        elif kind in ("map_value", "map_value_or_null"):
            self.lookup_into(r, check=kind == "map_value")
        elif kind.startswith("pkt"):
            data, end, meta = self.pkt_offs()
            off = {"pkt": data, "pkt_end": end, "pkt_meta": meta}[kind]
            a.put(Load(4, r, 6, off))
            if kind != "pkt_end" and d.int(0, 2):         # a bound check of n bytes
                n = d.pick((8, 16, 64))
                a.put(Load(4, 5, 6, end if kind == "pkt" else data),
                      Alu("mov", True, 4, src=r), Alu("add", True, 4, imm=n))
                a.jmp("jgt", 4, self.out, src=5)
        elif kind == "sock":
            a.put(Load(8, r, 6, 168))
            if d.int(0, 3):
                a.jmp("jeq", r, self.out, imm=0)
        elif kind == "map_ptr":
            a.ldmap(r, self.pick_map().name)
        elif kind == "btf_id":
            a.put(Call(0, HID["get_current_task_btf"]), Alu("mov", True, r, src=0))
        return kind

    def scalar_into(self, r: int, kind: str | None = None) -> str:
        """A scalar of ``kind`` (drawn) into ``r``; may clobber r0-r5."""
        d, a = self.d, self.a
        kind = kind or d.pick(SCALARS)
        if kind == "const":
            a.put(Alu("mov", True, r, imm=d.pick(CONSTS)))
        elif kind == "neg_const":
            a.put(Alu("mov", True, r, imm=d.pick((-1, -8, -64, -512))))
        elif kind == "ld64":
            a.put(LoadImm64.from_value(r, d.pick((1 << 32, 1 << 40, -(1 << 31), 1 << 63))))
        else:
            a.put(Call(0, PRANDOM), Alu("mov", True, r, src=0))
            if kind == "bounded":
                a.put(Alu("and", True, r, imm=d.pick((7, 15, 63, 255, 0xFFFF))))
            elif kind == "signed":
                a.jmp("jsgt", r, self.out, imm=d.pick((8, 64)))
                a.jmp("jslt", r, self.out, imm=d.pick((-8, -64, 0)))
        return kind

    def _ptr_alu(self) -> None:
        d, a = self.d, self.a
        kind = self.ptr_into(7)
        op = d.pick(PTR_OPS)
        sk = ""
        if op in ("add_reg", "scalar_plus_ptr", "sub_reg", "scalar_minus_ptr", "roundtrip"):
            sk = self.scalar_into(8)
        elif op in ("ptr_ptr_sub", "ptr_ptr_add", "ptr_cmp"):
            sk = self.ptr_into(9)
        elif op == "ptr_ptr_sub_same":
            sk = self.ptr_into(9, kind)
        self.features.append(f"ptr_alu:{kind}:{op}:{sk}")
        if op == "add_imm":
            a.put(Alu("add", True, 7, imm=d.pick(PTR_IMMS)))
        elif op == "sub_imm":
            a.put(Alu("sub", True, 7, imm=d.pick(PTR_IMMS)))
        elif op == "twice":
            c = d.pick(PTR_IMMS)
            a.put(Alu("add", True, 7, imm=c), Alu("add", True, 7, imm=d.pick((c, min(-c, (1 << 31) - 1), 8))))
        elif op == "add_reg":
            a.put(Alu("add", True, 7, src=8))
        elif op == "scalar_plus_ptr":
            a.put(Alu("add", True, 8, src=7), Alu("mov", True, 7, src=8))
        elif op == "sub_reg":
            a.put(Alu("sub", True, 7, src=8))
        elif op == "scalar_minus_ptr":
            a.put(Alu("sub", True, 8, src=7), Alu("mov", True, 7, src=8))
        elif op == "alu32":
            o = d.pick(("add", "sub", "mov", "and"))
            a.put(Alu(o, False, 7, imm=d.pick((0, 8))) if o != "mov" or d.bool()
                  else Alu("mov", False, 7, src=7))
        elif op in ("ptr_ptr_sub", "ptr_ptr_sub_same"):
            a.put(Alu("sub", True, 7, src=9))
            if d.bool():                                   # the difference as an offset
                a.put(Alu("mov", True, 1, src=7), Alu("mov", True, 7, src=9),
                      Alu("add", True, 7, src=1))
        elif op == "ptr_ptr_add":
            a.put(Alu("add", True, 7, src=9))
        elif op == "bitop":
            o = d.pick(BITOPS)
            imm = d.pick((1, 2, 3)) if o in ("lsh", "rsh", "arsh") else d.pick((1, 2, 0xFF, -1))
            a.put(Alu(o, True, 7, imm=imm))
        elif op == "neg":
            a.put(Alu("neg", True, 7))
            if d.bool():
                a.put(Alu("neg", True, 7))
        elif op == "ptr_cmp":
            skip = a.label()
            a.jmp(d.pick(("jeq", "jne", "jgt", "jsgt", "jle")), 7, skip, src=9)
            a.put(Alu("mov", True, 7, src=9))
            a.at(skip)
        elif op == "roundtrip":                            # to a scalar and back
            a.put(Alu("mov", True, 1, src=7), Alu("sub", True, 1, src=d.pick((10, 6, 7))))
            a.put(Alu("add", True, 1, src=8) if d.bool() else Alu("add", True, 1, imm=8))
            base = d.pick((6, 10, 7))
            a.put(Alu("mov", True, 7, src=base), Alu("add", True, 7, src=1))
        self.ptr_use(7)

    def ptr_use(self, r: int) -> None:
        d, a = self.d, self.a
        use = d.pick(PTR_USES)
        size = d.pick((1, 2, 4, 8))
        off = d.pick((0, 0, 0, -8, 4, 8, -1, 16))
        self.features.append(f"use:{use}")
        if use == "load":
            a.put(Load(size, 0, r, off))
        elif use == "store":
            a.put(Store(size, r, off, imm=d.pick((0, 1))))
        elif use == "store_reg":
            a.put(Store(8, r, off, src=d.pick((6, 10, 1))))
        elif use == "spill_fill":
            a.put(Store(8, 10, -8, src=r), Load(8, 1, 10, -8), Load(size, 0, 1, off))
        elif use == "ret":
            self.ret = "r7"
        elif use == "helper_key":
            m = self.pick_map(("array", "hash"))
            a.ldmap(1, m.name)
            a.put(Alu("mov", True, 2, src=r), Call(0, LOOKUP))
        elif use == "null_check":
            a.jmp("jne", r, self.out, imm=0)
            a.put(Load(1, 0, r, 0))

    # -- range tracking --------------------------------------------------------------------
    def range_op(self, r: int) -> str:
        """One range-changing operation on scalar ``r`` (r9 is clobbered)."""
        d, a = self.d, self.a
        op = d.pick(RANGE_OPS)
        k = d.pick((0, 1, 3, 4, 7, 8, 15, 16, 47, 48, 63, 255, 511, 0x7FFFFFFF, -1, -8))
        if op == "and":
            a.put(Alu("and", d.int(0, 3) > 0, r, imm=d.pick((1, 7, 15, 63, 255, -8, 0xFFFF))))
        elif op in ("jmp", "jmp32"):
            cond = d.pick(JCONDS)
            a.jmp(cond, r, self.out, imm=k, is32=op == "jmp32")
        elif op == "jset":
            a.jmp("jset", r, self.out, imm=d.pick((~7, ~15, -0x80000000, -256)),
                  is32=d.int(0, 3) == 0)
        elif op in ("jne", "jeq"):
            a.jmp(op, r, self.out, imm=k, is32=d.int(0, 3) == 0)
        elif op == "alu32":
            o = d.pick(("mov", "add", "sub", "mul", "lsh", "rsh", "arsh", "and"))
            if o == "mov":
                a.put(Alu("mov", False, r, src=r))
            else:
                a.put(Alu(o, False, r, imm=d.pick((1, 4, 31, 32)) if o.endswith("sh")
                          else d.pick((1, 8, -1, 0x7FFFFFFF))))
        elif op == "alu64":
            o = d.pick(("add", "sub", "mul", "or", "xor"))
            a.put(Alu(o, True, r, imm=d.pick((1, 8, -8, 0x10000, -1))))
        elif op == "shift":
            o, is64 = d.pick(("lsh", "rsh", "arsh")), d.bool()
            a.put(Alu(o, is64, r, imm=d.pick((1, 3, 31, 32, 63, 64) if is64 else (1, 3, 31, 32))))
        elif op == "shift_reg":
            a.put(Alu("mov", True, 9, imm=d.pick((1, 31, 32, 63, 64, 65))),
                  Alu(d.pick(("lsh", "rsh", "arsh")), d.bool(), r, src=9))
        elif op == "movsx":
            is64 = d.bool()
            a.put(Alu("movsx", is64, r, src=r, off=d.pick((8, 16, 32) if is64 else (8, 16))))
        elif op == "endian":
            kind = d.pick(("bswap", "le", "be"))
            a.put(Endian(kind, d.pick((16, 32, 64)), r))
        elif op == "divmod":
            o = d.pick(("div", "mod", "sdiv", "smod"))
            off = 1 if o.startswith("s") else 0
            if d.bool():
                a.put(Alu(o, d.bool(), r, imm=d.pick((0, 1, 3, 8, -1)), off=off))
            else:
                a.put(Alu("mov", True, 9, imm=d.pick((0, 0, 2, -1))) if d.bool() else
                      Alu("and", True, 9, imm=3))
                a.put(Alu(o, d.bool(), r, src=9, off=off))
        elif op == "neg":
            a.put(Alu("neg", d.bool(), r))
        elif op == "ldsx":                       # a sign-extending re-read through the stack
            size = d.pick((1, 2, 4))
            a.put(Store(8, 10, -8, src=r), Load(size, r, 10, -8 + d.pick((0, 8 - size)),
                                                signed=True))
        return op

    def _bounds(self) -> None:
        d, a = self.d, self.a
        base = d.pick(("map_value", "map_value", "stack", "pkt"))
        if base == "pkt" and self.ptype not in PKT_TYPES:
            base = "stack"
        src = d.pick(("prandom", "prandom", "map_load", "ctx_load"))
        if src == "map_load":
            self.lookup_into(8)
            a.put(Load(d.pick((1, 4, 8)), 8, 8, 0))
        elif src == "ctx_load" and self.ptype in PKT_TYPES:
            a.put(Load(4, 8, 6, 0))
        else:
            a.put(Call(0, PRANDOM), Alu("mov", True, 8, src=0))
        ops = [self.range_op(8) for _ in range(d.pick((1, 1, 2, 2, 3)))]
        size = d.pick((1, 2, 4, 8))
        if base == "map_value":
            limit = self.lookup_into(7, value_size=d.pick((8, 16, 48, 64, 256)))
        elif base == "stack":
            limit = d.pick((64, 256, 512))
            for o in range(-limit, 0, 8):
                if len(self.a.items) < 600 and (o >= -64 or d.int(0, 3) == 0):
                    a.put(Store(8, 10, o, imm=0))
            a.put(Alu("mov", True, 7, src=10), Alu("add", True, 7, imm=-limit))
        else:
            data, end, _ = self.pkt_offs()
            limit = d.pick((8, 14, 64))
            a.put(Load(4, 7, 6, data), Load(4, 5, 6, end), Alu("mov", True, 4, src=7),
                  Alu("add", True, 4, imm=limit))
            a.jmp("jgt", 4, self.out, src=5)
        off = d.pick((0, 0, limit - size, -size, limit - 2 * size, 1))
        self.features.append(f"bounds:{base}:{'+'.join(ops)}:{off}/{size}")
        a.put(Alu("add", True, 7, src=8) if d.int(0, 5) else Alu("sub", True, 7, src=8))
        if d.int(0, 3):
            a.put(Load(size, 0, 7, off))
        else:
            a.put(Store(size, 7, off, imm=1))


__all__ = ["AluSnippets", "PKT_TYPES"]
