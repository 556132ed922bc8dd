"""Loop and bpf-to-bpf call snippets of the rule-surface generator, drawn from the kernel's
rules (bounded loops through state equivalence, may_goto, bpf_loop callbacks, argument and
return passing across frames, MAX_CALL_FRAMES, the 512-byte combined stack, tail calls
from subprograms), not from what skv models.

Loops: counting up or down (converging or not), with 32-bit compares, an unknown bound,
may_goto, bpf_loop; each body touching the stack or a map value at the counter.
Calls: the caller's stack pointer (initialised or not) read or written by the callee at
drawn offsets, the ctx, a scalar used as an offset into the callee's stack, a callee
returning a pointer (ctx, its own stack, the caller's stack, a map value), call chains
near MAX_CALL_FRAMES with frames near the combined limit, a tail call inside a
subprogram, caller-saved registers read after a call.
"""

from __future__ import annotations

from model.isa import Alu, Call, Exit, Load, Store
from rulegen_args import HID, PRANDOM

#: bpf_loop's callback (ld_imm64 src 4) and a tail call in a subprogram need BTF func_info
#: (these programs have none): drawn rarely, the kernel rejects them before their rules
LOOP_FORMS = ("count_up", "count_up", "count_down", "jmp32", "unknown_bound", "may_goto",
              "may_goto")
CALL_FORMS = ("stack_ptr", "stack_ptr", "ctx_arg", "scalar_arg", "ret_ptr", "ret_ptr",
              "deep", "deep", "clobbered", "callee_writes", "callee_writes")
RARE_FORMS = ("bpf_loop", "tail_in_sub")
FRAMES = (0, 8, 32, 64, 128, 192, 256, 320, 384, 504, 512)


class CallSnippets:
    def _loops_calls(self) -> None:
        d = self.d
        form = d.pick(RARE_FORMS if d.int(0, 19) == 0 else LOOP_FORMS + CALL_FORMS)
        self.features.append(f"lc:{form}")
        getattr(self, "_lc_" + form)()

    # -- loops -----------------------------------------------------------------------------
    def loop_body(self, i: int, summing: bool = True) -> None:
        """Touch the stack or a map value at counter ``i`` (or nothing, or sum it)."""
        d, a = self.d, self.a
        body = d.pick(("stack", "map", "none", "sum") if summing else ("stack", "map", "none"))
        if body == "stack":
            a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-64),
                  Alu("add", True, 2, src=i), Load(1, 3, 2, d.pick((0, 0, 7, -1))))
        elif body == "map":
            a.put(Alu("mov", True, 2, src=7), Alu("add", True, 2, src=i),
                  Load(1, 3, 2, d.pick((0, 0, 8))))
        elif body == "sum":
            a.put(Alu("add", True, 9, src=i))

    def loop_prelude(self) -> None:
        d, a = self.d, self.a
        for o in range(-64, 0, 8):
            if d.int(0, 5):
                a.put(Store(8, 10, o, imm=0))
        self.lookup_into(7, value_size=d.pick((16, 64, 256)))
        a.put(Alu("mov", True, 9, imm=0))

    def _lc_count_up(self, is32: bool = False) -> None:
        d, a = self.d, self.a
        self.loop_prelude()
        head, done = a.label(), a.label()
        # a loop reaching the kernel's 1M-insn limit costs it up to a minute: not drawn; a
        # long (1000) or non-converging one (step 0: "infinite loop detected") rarely
        rare = d.int(0, 19) == 0
        bound = d.pick((1000, 5000) if rare else (4, 8, 16, 64, 65))
        a.put(Alu("mov", True, 8, imm=d.pick((0, 0, 1, -1))))
        a.at(head)
        a.jmp(d.pick(("jge", "jge", "jgt", "jsge", "jeq") if rare else ("jge", "jgt", "jsge")),
              8, done, imm=bound, is32=is32)
        self.loop_body(8)
        a.put(Alu("add", not is32, 8, imm=d.pick((0, 1) if rare else (1, 1, 2))))
        a.goto(head)
        a.at(done)

    def _lc_jmp32(self) -> None:
        self._lc_count_up(is32=True)

    def _lc_count_down(self) -> None:
        d, a = self.d, self.a
        self.loop_prelude()
        head = a.label()
        a.put(Alu("mov", True, 8, imm=d.pick((8, 16, 64))))
        a.at(head)
        a.put(Alu("sub", True, 8, imm=1))
        self.loop_body(8)
        a.jmp(d.pick(("jne", "jsgt", "jgt")), 8, head, imm=0)

    def _lc_unknown_bound(self) -> None:
        d, a = self.d, self.a
        self.loop_prelude()
        a.put(Call(0, PRANDOM), Alu("mov", True, 5, src=0))
        if d.int(0, 3):
            a.put(Alu("and", True, 5, imm=d.pick((7, 63, 255))))
        a.put(Store(8, 10, -72, src=5))
        head, done = a.label(), a.label()
        a.put(Alu("mov", True, 8, imm=0))
        a.at(head)
        a.put(Load(8, 5, 10, -72))
        a.jmp("jge", 8, done, src=5)
        self.loop_body(8)
        a.put(Alu("add", True, 8, imm=1))
        a.goto(head)
        a.at(done)

    def _lc_may_goto(self) -> None:
        from model.isa import MayGoto

        d, a = self.d, self.a
        self.loop_prelude()
        head, done = a.label(), a.label()
        a.put(Alu("mov", True, 8, imm=0))
        a.at(head)
        a.items.append(("jmp", MayGoto(), done, 0))
        # a counter kept precise (an unmasked one used as an offset) runs the kernel into
        # its 1M-insn limit (about a minute); masked, the states converge
        a.put(Alu("and", True, 8, imm=d.pick((7, 15))))
        self.loop_body(8, summing=False)
        a.put(Alu("add", True, 8, imm=1))
        a.goto(head)
        a.at(done)

    def _lc_bpf_loop(self) -> None:
        d, a = self.d, self.a
        label, ret = a.label(), d.pick((0, 0, 1, 2, -1))
        acc = d.pick((0, 0, 8, -8))

        def body():
            a.put(Load(8, 3, 2, acc), Alu("add", True, 3, src=1), Store(8, 2, acc, src=3),
                  Alu("mov", True, 0, imm=ret), Exit())
        self.subs.append((label, body))
        a.put(Store(8, 10, -8, imm=0))
        n = d.pick((1, 16, 1 << 23, (1 << 23) + 1))
        if d.int(0, 3):
            a.put(Alu("mov", True, 1, imm=n))
        else:
            a.put(Call(0, PRANDOM), Alu("mov", True, 1, src=0))
        a.ldfunc(2, label)
        a.put(Alu("mov", True, 3, src=10), Alu("add", True, 3, imm=-8),
              Alu("mov", True, 4, imm=d.pick((0, 0, 1))), Call(0, HID["loop"]))

    # -- calls -----------------------------------------------------------------------------
    def raw_sub(self, body) -> str:
        """A subprogram whose ``body()`` ends with its own exit."""
        label = self.a.label()
        self.subs.append((label, body))
        return label

    def _lc_stack_ptr(self) -> None:
        d, a = self.d, self.a
        n = d.pick((8, 16, 64))
        if d.int(0, 3):
            for o in range(-n, 0, 8):
                a.put(Store(8, 10, o, imm=0))
        size, off = d.pick((1, 4, 8)), d.pick((0, 0, 8, n - 8, n, -8, 4))
        write = d.bool()

        def body():
            if d.int(0, 3) == 0:                      # through the callee's own stack
                a.put(Store(8, 10, -8, src=1), Load(8, 1, 10, -8))
            a.put(Store(size, 1, off, imm=1) if write else Load(size, 0, 1, off))
            a.put(Alu("mov", True, 0, imm=0), Exit())
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-n))
        a.call_sub(self.raw_sub(body))

    def _lc_callee_writes(self) -> None:
        d, a = self.d, self.a
        size = d.pick((1, 4, 8))

        def body():
            a.put(Store(size, 1, 0, imm=7), Alu("mov", True, 0, imm=0), Exit())
        a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-8))
        a.call_sub(self.raw_sub(body))
        a.put(Load(d.pick((1, 4, 8)), 2, 10, -8), Alu("mov", True, 0, src=2))

    def _lc_ctx_arg(self) -> None:
        d, a = self.d, self.a
        off = d.pick((0, 4, 8, 16, 76, 80))

        def body():
            a.put(Load(4, 0, 1, off), Alu("mov", True, 0, imm=0), Exit())
        a.put(Alu("mov", True, 1, src=d.pick((6, 6, 10))))
        a.call_sub(self.raw_sub(body))

    def _lc_scalar_arg(self) -> None:
        d, a = self.d, self.a
        mask = d.pick((7, 56, 63, 64, 511))

        def body():
            for o in range(-64, 0, 8):
                a.put(Store(8, 10, o, imm=0))
            a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-64),
                  Alu("add", True, 2, src=1), Load(1, 0, 2, 0), Exit())
        a.put(Call(0, PRANDOM), Alu("mov", True, 1, src=0), Alu("and", True, 1, imm=mask))
        a.call_sub(self.raw_sub(body))

    def _lc_ret_ptr(self) -> None:
        d, a = self.d, self.a
        what = d.pick(("ctx", "own_stack", "caller_stack", "map_value", "scalar"))

        def body():
            if what == "ctx":
                a.put(Alu("mov", True, 0, src=1))
            elif what == "own_stack":
                a.put(Store(8, 10, -8, imm=0), Alu("mov", True, 0, src=10),
                      Alu("add", True, 0, imm=-8))
            elif what == "caller_stack":
                a.put(Alu("mov", True, 0, src=2))
            elif what == "map_value":
                m = self.pick_map(("array", "hash"))
                a.put(Store(8, 10, -8, imm=0))
                a.ldmap(1, m.name)
                a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-8), Call(0, 1))
            else:
                a.put(Alu("mov", True, 0, imm=8))
            a.put(Exit())
        a.put(Store(8, 10, -8, imm=0), Alu("mov", True, 1, src=6), Alu("mov", True, 2, src=10),
              Alu("add", True, 2, imm=-8))
        a.call_sub(self.raw_sub(body))
        if what == "map_value" and d.int(0, 2):
            a.jmp("jeq", 0, self.out, imm=0)
        a.put(Load(d.pick((1, 4, 8)), 1, 0, d.pick((0, 0, 4))))
        self.features.append(f"ret:{what}")

    def _lc_deep(self) -> None:
        d, a = self.d, self.a
        depth = d.pick((6, 7, 7, 8, 9))
        frames = [d.pick(FRAMES[:6]) for _ in range(depth)]
        if d.bool():
            frames[d.int(0, depth - 1)] = d.pick((128, 256, 320))
        label = None
        for f in frames:
            inner = label

            def body(inner=inner, f=f):
                if f:
                    a.put(Store(8, 10, -f, imm=0))
                if inner:
                    a.call_sub(inner)
                a.put(Alu("mov", True, 0, imm=0), Exit())
            label = self.raw_sub(body)
        own = d.pick(FRAMES)
        if own:
            a.put(Store(8, 10, -own, imm=0))
        a.call_sub(label)
        self.features.append(f"deep:{depth}:{own}+{sum(frames)}")

    def _lc_tail_in_sub(self) -> None:
        d, a = self.d, self.a
        m = self.new_map("prog_array")
        own, sub_frame = d.pick(FRAMES), d.pick((0, 8, 64, 256))

        def body():
            if sub_frame:
                a.put(Store(8, 10, -sub_frame, imm=0))
            a.ldmap(2, m.name)
            a.put(Alu("mov", True, 3, imm=d.pick((0, 1))), Call(0, HID["tail_call"]),
                  Alu("mov", True, 0, imm=0), Exit())
        if own:
            a.put(Store(8, 10, -own, imm=0))
        a.put(Alu("mov", True, 1, src=d.pick((6, 6, 10))))
        a.call_sub(self.raw_sub(body))
        self.features.append(f"tail_in_sub:{own}+{sub_frame}")

    def _lc_clobbered(self) -> None:
        d, a = self.d, self.a
        r = d.pick((1, 2, 3, 4, 5, 7))
        a.put(Alu("mov", True, r, imm=1))

        def body():
            a.put(Alu("mov", True, 0, imm=0), Exit())
        a.call_sub(self.raw_sub(body))
        a.put(Alu("mov", True, 0, src=r))


__all__ = ["CallSnippets"]
