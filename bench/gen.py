"""Generated programs for benchmarks: many static sites in well-formed straight-line code."""

from __future__ import annotations

from model.elf.writer import ProgSpec, build_object
from model.isa.insn import Alu, Exit, Jump
from model.program import MapDef


def sites_program(n_insns: int, n_sites: int, keys: int = 1, name: str = "gen") -> ProgSpec:
    """About ``n_insns`` instructions in ``n_sites`` segments. Each segment is a normal site
    (``goto +0``, target = its second half), a first half ending in a jump over the second
    half, and the second half; the segments follow each other and the program returns 0."""
    seg = max((n_insns - 11) // n_sites, 6)
    half = (seg - 2) // 2
    insns = [Alu("mov", True, r, imm=r) for r in range(1, 10)]  # every register it uses
    sites = []
    for s in range(n_sites):
        site = len(insns)
        insns.append(Jump("ja", False))
        insns += [Alu("add", True, s % 10 if s % 10 else 1, imm=s + k) for k in range(half)]
        insns.append(Jump("ja", False, off=half))
        target = len(insns)
        insns += [Alu("xor", True, 2, imm=k) for k in range(half)]
        sites.append((site, target, f"key{s % keys}", False))
    insns += [Alu("mov", True, 0, imm=0), Exit()]
    return ProgSpec("xdp", name, insns, sites)


def sites_object(n_insns: int, n_sites: int, keys: int = 1) -> bytes:
    maps = [MapDef(f"key{k}", 2, 4, 4, 1, 1 << 15) for k in range(keys)]
    return build_object([sites_program(n_insns, n_sites, keys)], maps)
