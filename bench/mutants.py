"""The mutants of bench/mutation.py: real-bug-shaped textual patches of model/ and proofs/.

Each is ``Mutant(id, area, file, original, replacement, what, equivalent=None)``: the exact
``original`` snippet (it must occur exactly once in ``file``) is replaced. ``area`` picks the
test subset (``bench.mutation.SUBSETS``). ``equivalent`` is the reason a mutant cannot change
any verdict (it is still run, and reported as equivalent only if it survives).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    area: str
    file: str
    original: str
    replacement: str
    what: str
    equivalent: str | None = None


V, D, S, X, R = "verifier", "domains", "symbolic", "x86", "race"
MEM, ST, STEP = "model/verifier/memcheck.py", "model/verifier/state.py", "model/verifier/step.py"
TR, CALLS, CHK = "model/verifier/transfer.py", "model/verifier/calls.py", \
    "model/verifier/checker.py"

MUTANTS = [
    # -- the stack frame's edges
    Mutant("stack-above-fp", V, MEM, "if lo < -STACK_SIZE or hi + size > 0:",
           "if lo < -STACK_SIZE or hi + size > 1:", "a stack access 1 byte above fp accepted"),
    Mutant("stack-below-frame", V, MEM, "if lo < -STACK_SIZE or hi + size > 0:",
           "if lo < -STACK_SIZE - 1 or hi + size > 0:", "1 byte below the 512-byte frame"),
    Mutant("stack-var-off-max", V, MEM,
           "lo, hi = reg.off + off + var.smin_s, reg.off + off + var.smax_s",
           "lo, hi = reg.off + off + var.smin_s, reg.off + off + var.smin_s",
           "variable stack offset checked at its minimum only"),
    # -- pruning
    Mutant("prune-umax", V, ST, "and b.umax <= a.umax and", "and",
           "pruning ignores umax"),
    Mutant("prune-smin", V, ST, "return (a.smin_s <= b.smin_s and", "return (",
           "pruning ignores smin"),
    Mutant("prune-tnum", V, ST, "\n            and a.var_off.includes(b.var_off))", ")",
           "pruning ignores the tnum"),
    Mutant("prune-zero-covers-misc", V, ST, "if ko in (INVALID, MISC, SPILL):",
           "if ko in (INVALID, MISC, SPILL, ZERO):",
           "a ZERO stack byte covers a MISC / uninitialised one"),
    Mutant("prune-spill-value", V, ST,
           "if n_old != n_new or not reg_covers(old.spill, new.spill, ids):",
           "if n_old != n_new:", "pruning forgets a spilled register's value"),
    Mutant("prune-packet-range", V, ST,
           "return new.range >= old.range and _same_id(old.id, new.id, ids)",
           "return _same_id(old.id, new.id, ids)", "pruning ignores a packet range"),
    Mutant("prune-unfinished", V, CHK, "if self.prune and any(node.complete and covers(",
           "if self.prune and any(covers(", "pruning against states not yet fully explored"),
    Mutant("prune-no-care", V, CHK,
           "care.append(self.sensitive.get(at, frozenset(range(11))))",
           "care.append(frozenset())", "every scalar treated as dead when pruning"),
    # -- ALU
    Mutant("mov32-keeps-64", V, TR,
           "and src.scalar.umax < (1 << 32) and not src.scalar.is_const():",
           "and not src.scalar.is_const():",
           "a 32-bit mov keeps the 64-bit value of a source with upper bits set"),
    Mutant("bswap-bounds", V, STEP,
           "Scalar.from_urange(0, width_max) if insn.width < 64",
           "Scalar.from_urange(0, min(width_max, r.scalar.umax)) if insn.width < 64",
           "byte swap keeps the source's magnitude"),
    Mutant("bswap64-identity", V, STEP, 'if insn.kind == "le" and insn.width == 64:',
           'if insn.kind == "le" or insn.width == 64:', "be64 treated as a no-op"),
    Mutant("bswap-const", V, STEP, "return known(endian(INT, insn, c))", "return known(c)",
           "a constant byte swap keeps the constant"),
    Mutant("pkt-range-open", V, TR, "new_range = pkt.off + (1 if open_right else 0)",
           "new_range = pkt.off + 1", "data + n > data_end proves n + 1 bytes"),
    Mutant("null-check-flip", V, TR, 'is_null = (cond == "jeq") == taken',
           'is_null = (cond == "jne") == taken', "null check refines the wrong edge"),
    Mutant("ptr-bitwise", V, TR, 'elif insn.op in ("and", "or", "xor"):',
           'elif insn.op in ("or", "xor"):', "pointer &= allowed"),
    # -- memory
    Mutant("map-value-end", V, MEM, "if lo < 0 or lo + size > limit:",
           "if lo < 0 or lo + size > limit + 1:", "map value access 1 byte past the end"),
    Mutant("map-value-umax", V, MEM, "if reg.off + off + umax + size > limit:",
           "if reg.off + off + umax + size > limit + 1:",
           "variable map value offset: umax off by one"),
    Mutant("packet-end", V, MEM, "if o < 0 or o + size > reg.range:",
           "if o < 0 or o + size > reg.range + 1:", "packet access 1 byte past the range"),
    Mutant("ctx-write-any", V, MEM, "if write and prog_type not in PKT_WRITE_TYPES:",
           "if False:", "packet writes allowed to every program type"),
    # -- calls and exits
    Mutant("helper-size-umin", V, CALLS, "    return s.umax\n", "    return s.umin\n",
           "a helper size argument checked at its umin"),
    Mutant("helper-stack-top", V, CALLS, "if lo < -512 or hi + size > 0:",
           "if lo < -512 or hi + size > 1:", "helper memory 1 byte above fp"),
    Mutant("helper-zero-size", V, CALLS, "if s.umin == 0 and not zero_ok:", "if False:",
           "a zero size passed as ARG_CONST_SIZE"),
    Mutant("return-umax", V, STEP, "if s.umin < lo or s.umax > hi or s.smin_s < lo:",
           "if s.umin < lo or s.smin_s < lo:", "the return range's upper bound not checked"),
    Mutant("return-range-table", V, "model/platform/returns.py",
           "return (0, 3) if attach_type == BPF_CGROUP_INET_EGRESS else (0, 1)",
           "return (0, 3)", "cgroup_skb ingress given the egress range"),
    Mutant("r0-uninit-exit", V, STEP, "if regs[a.reg].type is T.NOT_INIT:",
           "if regs[a.reg].type is T.NOT_INIT and a.reg != 0:", "r0 read uninitialised"),
    Mutant("fp-writable", V, STEP, "if a.reg == 10:", "if a.reg == 11:",
           "r10 writable"),
    # -- domains
    Mutant("add64-smin-overflow", D, "model/domains/scalar_alu.py",
           "ov = B.or_b(B.sadd_overflows(d.smin, s.smin, w), B.sadd_overflows(d.smax, s.smax, w))",
           "ov = B.sadd_overflows(d.smax, s.smax, w)", "64-bit add ignores smin overflow"),
    Mutant("sub64-bounds", D, "model/domains/scalar_alu.py",
           "smin=B.ite(ov, smin_c(B, w), B.sub(d.smin, s.smax, w), w),",
           "smin=B.ite(ov, smin_c(B, w), B.sub(d.smin, s.smin, w), w),",
           "64-bit sub: smin - smin"),
    Mutant("and64-umax", D, "model/domains/scalar_alu.py",
           "lo, hi = v, B.umin(d.umax, s.umax, w)", "lo, hi = v, B.umin(d.umin, s.umax, w)",
           "64-bit and: umax from umin"),
    Mutant("or64-umin", D, "model/domains/scalar_alu.py",
           "lo, hi = B.umax(d.umin, s.umin, w), vm", "lo, hi = B.umax(d.umax, s.umin, w), vm",
           "64-bit or: umin from umax"),
    Mutant("tnum-add-carry", D, "model/domains/tnum.py",
           "chi = B.xor(sigma, sv, w)\n    mu = B.or_(B.or_(chi, a.mask, w), b.mask, w)",
           "chi = B.xor(sigma, sv, w)\n    mu = B.or_(a.mask, b.mask, w)",
           "tnum add forgets carries"),
    Mutant("coerce-same-high", D, "model/domains/scalar.py",
           "umax = B.ite(same, B.and_(s.umax, m, w), m, w)", "umax = B.and_(s.umax, m, w)",
           "a narrowing load keeps the truncated umax even when the high bits differ"),
    Mutant("zext-smax", D, "model/domains/scalar.py",
           "smax=B.ite(pos, B.zext(s.s32_max, h, w), B.const(_mask(h), w), w))",
           "smax=B.zext(s.s32_max, h, w))", "zero-extension keeps a negative s32 max"),
    # -- symbolic engine
    Mutant("z3-bounds-off-by-one", S, "model/symbolic/memory.py",
           "z3.ULE(off, limit - size))", "z3.ULE(off, limit - size + 1))",
           "the Z3 engine's bounds check off by one"),
    Mutant("z3-bounds-wrap", S, "model/symbolic/memory.py",
           "return z3.And(z3.ULE(size, limit), z3.ULE(off, limit - size))",
           "return z3.ULE(off, limit - size)", "limit - size may wrap around"),
    Mutant("m1-base-unconstrained", S, "model/symbolic/models.py",
           "smallest(eng, u1, dev1, z3.And(matches_none(c0, keys), z3.Or(*mixed)))",
           "smallest(eng, u1, dev1, z3.Or(*mixed))",
           "an M1 witness whose base keys are M0-unsafe"),
    Mutant("cube-overgeneralise", S, "model/symbolic/models.py",
           "                if g.check(*trial) == z3.unsat:\n",
           "                if True:\n", "cubes generalised without checking"),
    Mutant("return-range-symbolic", S, "model/symbolic/engine.py",
           "rng = return_range(self.lay.ptype)", "rng = None",
           "the Z3 engine skips the return range"),
    # -- x86: sites, JIT, fetch models
    Mutant("rel8-forward-128", X, "model/x86/sites.py", "if not -128 <= rel <= 127:",
           "if not -128 <= rel <= 128:", "a rel8 of +128 encoded (as -128)"),
    Mutant("rel8-backward-sign", X, "model/x86/sites.py",
           "return bytes([0xEB, rel & 0xFF])", "return bytes([0xEB, abs(rel) & 0xFF])",
           "a backward rel8 site encoded forward"),
    Mutant("jit-site-backward", X, "model/x86/jit.py",
           "on = bytes([0xEB, jo & 0xff]) if n == 2 else b\"\\xE9\" + le32(jo)\n"
           "            off = E.X86_NOPS[n]",
           "on = bytes([0xEB, abs(jo) & 0xff]) if n == 2 else b\"\\xE9\" + le32(jo)\n"
           "            off = E.X86_NOPS[n]",
           "the fixed JIT's backward rel8 site bytes"),
    Mutant("jit-rel8-rule", X, "model/x86/emit.py", "return -128 <= v <= 123",
           "return -128 <= v <= 127", "the JIT's rel8 rule as is_imm8 (problem (a))"),
    Mutant("fetch-models-contained", X, "model/x86/fetch.py",
           "for c in (8, 16, 64)]", "for c in (16, 64)]",
           "a fetch model dropped from the proofs' list"),
    Mutant("fetch-chunks", X, "model/x86/fetch.py", "CHUNKS = (1, 2, 8, 16, 64)",
           "CHUNKS = (1, 8, 16, 64)", "the 2-byte chunk models dropped"),
    Mutant("int3-sync2", R, "model/x86/poke.py", "    if 2 not in drop:\n",
           "    if False:\n", "the int3 protocol without its second sync"),
    Mutant("fetch-spans-sync", R, "model/x86/race.py",
           "S.add(z3.Not(z3.And(tmin < p, p <= tmax)))",
           "S.add(z3.Not(z3.And(tmin < p, p < tmax)))",
           "the Z3 race search lets a fetch end at a sync"),
]
