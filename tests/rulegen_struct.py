"""Program-structure snippets of the rule-surface generator: dead code, jumps out of range
or into the second slot of an ``ld_imm64``, calls likewise, nested and recursive
subprograms (call depth, combined stack size, callee-saved and argument registers, stack
pointers across frames, LD_ABS in a subprogram), loops, and exits with odd r0.
"""

from __future__ import annotations

from model.isa import Alu, Exit, Jump, Load, LoadImm64, MayGoto, Store

STRUCT_FORMS = ("dead_after_exit", "dead_branch", "jump_out", "jump_into_ldimm", "call_out",
                "call_into_ldimm", "nested", "recursive", "mutual", "deep_stack",
                "callee_regs", "stack_arg", "ret_stack", "sub_ldabs", "loop", "may_goto",
                "fallthrough_end", "ret_value", "exit_in_middle")


class StructSnippets:
    def _structure(self) -> None:
        d, a = self.d, self.a
        form = d.pick(STRUCT_FORMS)
        self.features.append(f"struct:{form}")
        getattr(self, "_st_" + form)()

    def _st_dead_after_exit(self) -> None:
        a, skip = self.a, self.a.label()
        a.goto(skip)
        a.put(Alu("mov", True, 0, imm=1), Exit())      # never reached
        a.at(skip)

    def _st_dead_branch(self) -> None:
        a, skip = self.a, self.a.label()
        a.put(Alu("mov", True, 1, imm=1))
        a.jmp("jeq", 1, skip, imm=1)                   # always taken: dead fall-through
        a.put(Load(8, 2, 1, 0))                        # unsafe, but dead
        a.at(skip)

    def _st_jump_out(self) -> None:
        self.late.append(("jump", self.d.pick((1, 2, 50, -500))))

    def _st_call_out(self) -> None:
        self.late.append(("call", self.d.pick((1, 3, -500))))

    def _st_jump_into_ldimm(self) -> None:
        a, mid = self.a, self.a.label()
        a.put(Alu("mov", True, 1, imm=0))
        a.jmp("jeq", 1, mid, imm=0, skew=1)
        a.at(mid)
        a.put(LoadImm64.from_value(2, 1 << 33))

    def _st_call_into_ldimm(self) -> None:
        a, over, mid = self.a, self.a.label(), self.a.label()
        a.goto(over)
        a.at(mid)
        a.put(LoadImm64.from_value(0, 1 << 33), Exit())
        a.at(over)
        a.call_sub(mid, skew=1)

    def sub(self, body, *, frame: int = 0) -> str:
        """A subprogram with ``body()`` (using ``frame`` bytes of its stack), returning."""
        label = self.a.label()

        def emit():
            if frame:
                self.a.put(Store(8, 10, -frame, imm=0))
            if self.d.int(0, 4) == 0:                  # a static site inside the callee
                skip = self.a.label()
                self.site(skip)
                body()
                self.a.at(skip)
            else:
                body()
            self.a.put(Alu("mov", True, 0, imm=0), Exit())
        self.subs.append((label, emit))
        return label

    def _st_nested(self) -> None:
        depth = self.d.int(2, 10)
        frame = self.d.pick((0, 8, 64, 128))
        label = None
        for _ in range(depth):
            inner = label
            label = self.sub((lambda t=inner: self.a.call_sub(t)) if inner else (lambda: None),
                             frame=frame)
        self.a.call_sub(label)

    def _st_recursive(self) -> None:
        label = self.a.label()

        def emit():
            skip = self.a.label()
            self.a.put(Alu("mov", True, 0, imm=0))
            self.a.jmp("jeq", 1, skip, imm=0)
            self.a.call_sub(label)
            self.a.at(skip)
            self.a.put(Exit())
        self.subs.append((label, emit))
        self.a.put(Alu("mov", True, 1, imm=self.d.pick((0, 1))))
        self.a.call_sub(label)

    def _st_mutual(self) -> None:
        la, lb = self.a.label(), self.a.label()
        self.subs.append((la, lambda: (self.a.call_sub(lb), self.a.put(Exit()))))
        self.subs.append((lb, lambda: (self.a.call_sub(la), self.a.put(Exit()))))
        self.a.call_sub(la)

    def _st_deep_stack(self) -> None:
        d = self.d
        self.a.put(Store(8, 10, -d.pick((256, 384, 512)), imm=0))
        inner = self.sub(lambda: None, frame=d.pick((128, 256, 512)))
        outer = self.sub(lambda: self.a.call_sub(inner), frame=d.pick((64, 256)))
        self.a.call_sub(outer)

    def _st_callee_regs(self) -> None:
        d = self.d
        reg = d.pick((1, 2, 5, 6, 7, 9))
        self.a.put(Alu("mov", True, 7, imm=1))
        label = self.sub(lambda: self.a.put(Alu("mov", True, 0, src=reg),
                                            Alu("mov", True, 3, src=0)))
        self.a.put(Alu("mov", True, 1, imm=5))
        self.a.call_sub(label)
        if d.bool():
            self.a.put(Alu("mov", True, 0, src=d.pick((7, 6, 2, 1))))

    def _st_stack_arg(self) -> None:
        d = self.d
        n = d.pick((8, 16))
        if d.bool():
            self.a.put(Store(8, 10, -16, imm=0), Store(8, 10, -8, imm=0))
        off = d.pick((0, 8, 16, -8))
        label = self.sub(lambda: self.a.put(Load(8, 2, 1, off), Store(8, 1, 0, imm=1)))
        self.a.put(Alu("mov", True, 1, src=10), Alu("add", True, 1, imm=-n))
        self.a.call_sub(label)

    def _st_ret_stack(self) -> None:
        label = self.a.label()

        def emit():
            self.a.put(Store(8, 10, -8, imm=0), Alu("mov", True, 0, src=10),
                       Alu("add", True, 0, imm=-8), Exit())
        self.subs.append((label, emit))
        self.a.call_sub(label)
        if self.d.bool():
            self.a.put(Load(8, 1, 0, 0))

    def _st_sub_ldabs(self) -> None:
        from model.isa import LegacyLoad

        label = self.sub(lambda: self.a.put(Alu("mov", True, 6, src=1),
                                            LegacyLoad(1, "abs", imm=0)))
        self.a.put(Alu("mov", True, 1, src=6))
        self.a.call_sub(label)

    def _st_loop(self) -> None:
        d, a = self.d, self.a
        head, done = a.label(), a.label()
        bound = d.pick((4, 16, None))
        a.put(Alu("mov", True, 1, imm=0))
        a.at(head)
        if bound is not None:
            a.jmp("jge", 1, done, imm=bound)
        a.put(Alu("add", True, 1, imm=d.pick((1, 1, 0))))
        a.goto(head)
        a.at(done)

    def _st_may_goto(self) -> None:
        a, head, done = self.a, self.a.label(), self.a.label()
        a.at(head)
        a.items.append(("jmp", MayGoto(), done, 0))
        a.put(Alu("mov", True, 0, imm=0))
        a.goto(head)
        a.at(done)

    def _st_fallthrough_end(self) -> None:
        self.late.append(("fallthrough", 0))

    def _st_ret_value(self) -> None:
        self.ret = self.d.pick(("uninit", "ptr_ctx", "ptr_fp", 2, -1, 1, 0x100, "unknown"))

    def _st_exit_in_middle(self) -> None:
        a, skip = self.a, self.a.label()
        a.put(Alu("mov", True, 0, imm=0))
        a.jmp("jne", 0, skip, imm=0)
        a.put(Exit())
        a.at(skip)
