"""A labelled BPF assembler for generated test programs: instructions with symbolic jump
and call targets, map loads (``ld_imm64`` src 1, or src 2 for a direct value), callback
loads (``ld_imm64`` src 4) and static sites, resolved to offsets by ``build()``. Used by
the verifier generator (tests/vergen*.py) and the rule-surface generator (tests/rulegen*.py).
"""

from __future__ import annotations

from model.isa import Call, Insn, Jump, LoadImm64


class LabelledAsm:
    """Instructions with symbolic targets: jumps, bpf-to-bpf calls, map loads, callback
    loads (``ld_imm64`` src 4), static sites (a JA recorded as a :class:`Site`), and raw
    jumps/calls whose distance is ``target label + skew`` (into an ``ld_imm64``, out of
    range)."""

    def __init__(self) -> None:
        self.items: list = []
        self.n = 0

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def at(self, name: str) -> None:
        self.items.append(("label", name))

    def put(self, *insns: Insn) -> None:
        self.items.extend(insns)

    def jmp(self, cond: str, dst: int, target: str, *, src: int | None = None, imm: int = 0,
            is32: bool = False, skew: int = 0) -> None:
        self.items.append(("jmp", Jump(cond, is32, dst=dst, src=src, imm=imm), target, skew))

    def goto(self, target: str, skew: int = 0) -> None:
        self.items.append(("jmp", Jump("ja", False), target, skew))

    def call_sub(self, target: str, skew: int = 0) -> None:
        self.items.append(("call", None, target, skew))

    def ldmap(self, dst: int, name: str, value_off: int | None = None) -> None:
        """``dst = map`` (src 1), or ``dst = &value + value_off`` (src 2, direct access)."""
        insn = LoadImm64(dst, 1, 0, 0) if value_off is None else LoadImm64(dst, 2, 0, value_off)
        self.items.append(("map", insn, name, 0))

    def ldfunc(self, dst: int, target: str) -> None:
        self.items.append(("func", None, target, 0, dst))

    def site(self, target: str, key: str, inverse: bool) -> None:
        self.items.append(("site", Jump("ja", False), target, 0, key, inverse))

    def build(self):
        """(insns, {pc: map name}, [(pc, target, key, inverse)])."""
        pcs, pc = {}, 0
        for it in self.items:
            if isinstance(it, tuple) and it[0] == "label":
                pcs[it[1]] = pc
            elif isinstance(it, tuple):
                pc += 2 if it[0] in ("map", "func") else 1
            else:
                pc += it.slots
        out, refs, sites, pc = [], {}, [], 0
        for it in self.items:
            if not isinstance(it, tuple):
                out.append(it)
            elif it[0] == "label":
                continue
            else:
                kind, insn, target, skew = it[:4]
                delta = pcs[target] + skew - pc - 1 if kind != "map" else 0
                if kind in ("jmp", "site"):
                    out.append(insn.with_delta(delta))
                    if kind == "site":
                        sites.append((pc, pc + 1 + delta, it[4], it[5]))
                elif kind == "call":
                    out.append(Call(1, delta))
                elif kind == "func":
                    out.append(LoadImm64(it[4], 4, delta, 0))
                else:
                    out.append(insn)
                    refs[pc] = target
            pc += out[-1].slots
        return out, refs, sites
