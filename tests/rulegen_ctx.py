"""Context and packet snippets of the rule-surface generator: ctx reads and writes at every
offset and size of the type's context, through the ctx pointer, a copy of it, or a moved
copy (fixed or variable offset); packet and data_meta pointers with comparisons of every
shape; packet-changing helpers followed by a use of the stale pointers.
"""

from __future__ import annotations

from model.isa import Alu, Atomic, Call, Load, Store
from rulegen_args import HID, PRANDOM
from rulegen_base import CTX_SPAN

PKT_CHANGERS = tuple(HID[n] for n in (
    "xdp_adjust_head", "xdp_adjust_meta", "xdp_adjust_tail", "skb_pull_data",
    "skb_change_head", "skb_change_tail", "skb_vlan_push", "skb_vlan_pop", "skb_change_proto",
    "skb_store_bytes", "l3_csum_replace", "l4_csum_replace", "skb_adjust_room",
    "clone_redirect", "skb_change_type", "xdp_store_bytes", "csum_update"))
CMP_FORMS = ("gt", "ge", "lt_rev", "le_rev", "le_ok") * 3 + (
    "wrong_dir", "jmp32", "none", "vs_data", "eq", "signed")


class CtxSnippets:
    def ctx_ptr(self, r: int) -> str:
        """Put the ctx (or a copy / moved copy) into ``r``; returns how."""
        d, a = self.d, self.a
        how = d.pick(("ctx", "ctx", "ctx", "copy", "chain", "fixed", "fixed", "var"))
        if how == "ctx":
            if r != 6:
                a.put(Alu("mov", True, r, src=6))
        elif how == "copy":
            a.put(Alu("mov", True, 0, src=6), Alu("mov", True, r, src=0))
        elif how == "fixed":
            a.put(Alu("mov", True, r, src=6), Alu("add", True, r, imm=d.pick((4, 8, 16, -4, 76))))
        elif how == "var":
            a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=d.pick((0, 4, 7))),
                  Alu("mov", True, r, src=6), Alu("add", True, r, src=0))
        else:
            a.put(Alu("mov", True, r, src=6), Alu("add", True, r, imm=8),
                  Alu("mov", True, 2, src=r), Alu("sub", True, 2, imm=8),
                  Alu("mov", True, r, src=2))
        return how

    def _ctx(self) -> None:
        """One ctx access at a drawn offset/size, read or write, through a drawn pointer."""
        d, a = self.d, self.a
        span = CTX_SPAN.get(self.ptype, 192)
        r = d.pick((1, 1, 6, 7))
        how = self.ctx_ptr(r) if r != 6 else "ctx"
        size = d.pick((1, 2, 4, 8))
        off = d.int(-1, (span + 8) // size) * size
        if d.int(0, 9) == 0:
            off += d.pick((1, 2, 3))                   # misaligned
        if d.int(0, 19) == 0:
            off = d.pick((4096, 8192, 8200, 32760, 32768 - size))
        op = d.pick(("read",) * 6 + ("write_imm", "write_reg", "write_reg", "write_ptr", "atomic"))
        self.features.append(f"ctx:{how}:{op}:{off}/{size}")
        if op == "read":
            a.put(Load(size, 2, r, off, signed=size < 8 and d.int(0, 5) == 0))
            use = d.int(0, 3)
            if use == 1:
                a.put(Load(1, 3, 2, 0))                # use what was read as a pointer
            elif use == 2:
                a.put(Alu("mov", True, 0, src=2), Alu("add", True, 0, imm=1))
        elif op == "write_imm":
            a.put(Store(size, r, off, imm=d.pick((0, 1, -1))))
        elif op == "write_reg":
            a.put(Alu("mov", True, 2, imm=3), Store(size, r, off, src=2))
        elif op == "write_ptr":
            a.put(Store(size, r, off, src=d.pick((10, 6))))
        else:
            a.put(Alu("mov", True, 2, imm=1),
                  Atomic(d.pick((4, 8)), "add", False, r, 2, off - off % 8))

    # -- packets ---------------------------------------------------------------------------
    def pkt_check(self, p: int, n: int, end: int, skip: str) -> str:
        """Compare ``p + n`` against ``end``; fall through (drawn form) when in bounds."""
        d, a = self.d, self.a
        form = d.pick(CMP_FORMS)
        a.put(Alu("mov", True, 1, src=p), Alu("add", True, 1, imm=n))
        if form == "gt":
            a.jmp("jgt", 1, skip, src=end)
        elif form == "ge":
            a.jmp("jge", 1, skip, src=end)
        elif form == "lt_rev":
            a.jmp("jlt", end, skip, src=1)
        elif form == "le_rev":
            a.jmp("jle", end, skip, src=1)
        elif form == "le_ok":
            ok = a.label()
            a.jmp("jle", 1, ok, src=end)
            a.goto(skip)
            a.at(ok)
        elif form == "wrong_dir":
            a.jmp("jlt", 1, skip, src=end)
        elif form == "jmp32":
            a.jmp("jgt", 1, skip, src=end, is32=True)
        elif form == "vs_data":
            a.jmp("jgt", 1, skip, src=p)
        elif form == "eq":
            a.jmp("jne", 1, skip, src=end)
        elif form == "signed":
            a.jmp("jsgt", 1, skip, src=end)
        return form

    def _packet(self) -> None:
        """data/data_end (or data_meta/data) pointers, a bound check, an access."""
        d, a = self.d, self.a
        data, end, meta = self.pkt_offs()
        a.put(Load(4, 7, 6, data), Load(4, 8, 6, end))
        use_meta = d.int(0, 5) == 0
        if use_meta:
            a.put(Load(4, 9, 6, meta))
        base, limit = (9, 7) if use_meta else (7, 8)
        if d.int(0, 4) == 0:                          # a variable offset first
            a.put(Call(0, PRANDOM), Alu("and", True, 0, imm=d.pick((15, 255, 0xFFFF))),
                  Alu("add", True, base, src=0))
        n = d.pick((1, 4, 8, 14, 20, 64))
        form = self.pkt_check(base, n, limit, self.out)
        size = d.pick((1, 2, 4, 8))
        off = d.pick((0, 0, n - size, n - size, n - size + 1, n, -1)) if n >= size else 0
        self.features.append(f"pkt:{'meta' if use_meta else 'data'}:{form}:{off}/{size}")
        if d.int(0, 3) == 0:
            a.put(Store(size, base, off, imm=0))
        else:
            a.put(Load(size, 0, base, off))
        if d.int(0, 2) == 0:
            self._changer(base, n)

    def _changer(self, base: int, n: int) -> None:
        """A packet-changing helper, then the stale pointer (or a fresh reload)."""
        d, a = self.d, self.a
        hid = d.pick(PKT_CHANGERS)
        self.features.append(f"changer#{hid}")
        a.put(Alu("mov", True, 1, src=6), Alu("mov", True, 2, imm=d.pick((0, 4, 8, -4))),
              Alu("mov", True, 3, imm=0), Alu("mov", True, 4, imm=0), Alu("mov", True, 5, imm=0))
        a.put(Call(0, hid))
        if d.int(0, 3) == 0:                           # reload and recheck: fine
            data, end, _ = self.pkt_offs()
            a.put(Load(4, base, 6, data), Load(4, 8, 6, end))
            self.pkt_check(base, n, 8, self.out)
        a.put(Load(1, 0, base, 0))

    def _ldabs(self) -> None:
        """LD_ABS / LD_IND (r6 must be the ctx; r1-r5 clobbered afterwards)."""
        from model.isa import LegacyLoad

        d, a = self.d, self.a
        size = d.pick((1, 2, 4))
        if d.bool():
            a.put(LegacyLoad(size, "abs", imm=d.pick((0, 12, 14, 0x7FFFFFFF, -1))))
            self.features.append("ld_abs")
        else:
            src = d.pick((2, 2, 0, 10, 6))
            if src == 2:
                a.put(Alu("mov", True, 2, imm=d.pick((0, 4, -8))))
            a.put(LegacyLoad(size, "ind", src=src, imm=d.pick((0, 14))))
            self.features.append(f"ld_ind:r{src}")
        if d.int(0, 7) == 0:
            a.put(Alu("mov", True, 0, src=d.pick((1, 2, 3))))   # clobbered
        if d.int(0, 4) == 0:
            a.put(Alu("mov", True, 6, imm=0))          # r6 no longer the ctx
            a.put(LegacyLoad(1, "abs", imm=0))
            a.put(Alu("mov", True, 6, src=10))         # (never reached safely)
