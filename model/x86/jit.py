"""A model of Linux 6.18's x86-64 BPF JIT (``arch/x86/net/bpf_jit_comp.c``): passes,
jump sizing, jump padding, subprograms and static-branch sites. See ``model/x86/__init__``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from model.isa.insn import Raw
from model.x86 import emit as E
from model.x86.emit import Out, Unsupported, is_imm8, is_imm8_jmp_offset, le32

MAX_PASSES = 20
PADDING_PASSES = MAX_PASSES - 5   # from this pass on, shrinking jumps are padded with NOPs
PROLOGUE_NOP5 = E.X86_NOPS[5]     # patchable nop for trampolines
PROLOGUE_NOP3 = E.X86_NOPS[3]     # tail-call layout pad (eBPF programs without tail calls)
DESIGNS = ("fixed", "patch2023")
RELOC_SIZES = {"helper": 4, "subprog": 4, "ret_thunk": 4, "map": 8, "percpu": 4}
_JCC = {0x10: 0x74, 0x50: 0x75, 0x40: 0x75, 0x20: 0x77, 0xa0: 0x72, 0x30: 0x73, 0xb0: 0x76,
        0x60: 0x7F, 0xc0: 0x7C, 0x70: 0x7D, 0xd0: 0x7E}  # BPF jmp op -> x86 jcc (rel8)
_LD_IMM64, _CALL, _EXIT, _JA, _JA32 = 0x18, 0x85, 0x95, 0x05, 0x06


@dataclass
class SiteInfo:
    """One static-branch site in the image (offsets are image offsets).

    ``address``/``length``: where the poke routine writes and how many bytes.
    ``on_bytes``/``off_bytes``: what it writes for jump / fall-through. ``insn_address`` /
    ``insn_length``: the x86 bytes the JIT emitted for the site's BPF instruction (with any
    padding NOPs); ``jump_address``: where the jump instruction itself starts (after the
    padding), or None if the JIT emitted no jump. ``target_address``: the jump's target.
    """

    bpf_pc: int
    address: int
    length: int
    on_bytes: bytes
    off_bytes: bytes
    target_address: int
    insn_address: int = 0
    insn_length: int = 0
    jump_address: int | None = None
    key: str = ""
    jumps_initially: bool = False

    def issues(self) -> list[str]:
        """What makes this site unsafe to poke with the int3 protocol (empty: fine)."""
        out = []
        if self.length not in (2, 5):
            out.append(f"length {self.length} is not 2 or 5")
        if len(self.on_bytes) != self.length or len(self.off_bytes) != self.length:
            out.append("on/off bytes differ in length from the site")
        if (self.insn_address, self.insn_length) != (self.address, self.length):
            out.append(f"(address, length) = ({self.address}, {self.length}) is not the one "
                       f"instruction the JIT emitted ({self.insn_address}, {self.insn_length})")
        if self.jump_address is not None and self.jump_address != self.address:
            out.append(f"padding NOPs: the jump is at {self.jump_address}, not {self.address}")
        if self.length in (2, 5) and len(self.on_bytes) == self.length:
            disp = (self.on_bytes[1] - 256 * (self.on_bytes[1] > 127) if self.length == 2
                    else struct.unpack("<i", self.on_bytes[1:5])[0])
            if self.address + self.length + disp != self.target_address:
                out.append("the on-state jump does not reach the target")
        if self.off_bytes and self.off_bytes != E.X86_NOPS.get(len(self.off_bytes)):
            out.append("off bytes are not the canonical NOP")
        return out


@dataclass
class JitResult:
    image: bytes
    insn_addrs: dict[int, int]            # bpf pc (slot) -> image offset of its first byte
    sites: list[SiteInfo]
    passes: int                           # do_jit runs for the main function (kernel: pass+1)
    relocs: list[tuple[int, str, object]]  # (image offset of the field, kind, value)
    func_offsets: list[int] = field(default_factory=list)  # image offset of each function
    func_passes: list[int] = field(default_factory=list)
    stack_depths: list[int] = field(default_factory=list)
    padded: bool = False                  # did any pass run with jump padding?

    def masked(self) -> bytes:
        return mask(self.image, self.relocs)


def mask(image: bytes, relocs) -> bytes:
    b = bytearray(image)
    for off, kind, _ in relocs:
        b[off:off + RELOC_SIZES[kind]] = bytes(RELOC_SIZES[kind])
    return bytes(b)


@dataclass
class _SiteSpec:
    target: int        # target slot relative to the function
    jumps: bool        # initial state
    pc: int
    key: str


class _Func:
    def __init__(self, raws: list[Raw], start: int, index: int, *, calls_by_off: bool,
                 func_of: dict[int, int], sites: dict[int, _SiteSpec], stack_depth: int,
                 bmi2: bool, design: str, force_abs: set[int], rethunk: bool = True):
        self.raws, self.start, self.index = raws, start, index
        self.rethunk = rethunk
        self.calls_by_off, self.func_of = calls_by_off, func_of
        self.sites, self.bmi2, self.design = sites, bmi2, design
        self.force_abs = force_abs  # slots (relative) of ld_imm64 holding kernel addresses
        self.stack_depth = stack_depth
        self.regs_used = [any(r.dst == k or r.src == k for r in raws) for k in (6, 7, 8, 9)]
        n = len(raws)
        self.addrs = [64 * (i + 1) for i in range(n + 1)]
        self.cleanup = 64 * (n + 1)
        self.site_len: dict[int, int] = {}
        self.passes = 0

    # -- one do_jit pass ----------------------------------------------------------------
    def do_jit(self, padding: bool, final: bool):
        self.passes += 1
        raws, addrs = self.raws, self.addrs
        img = bytearray()
        relocs: list[tuple[int, str, object]] = []
        sites: list[SiteInfo] = []
        o = Out()
        o.extend(PROLOGUE_NOP5 + PROLOGUE_NOP3)
        o.e(0x55, 0x48, 0x89, 0xE5)                        # push rbp; mov rbp, rsp
        if self.stack_depth:
            o.e(0x48, 0x81, 0xEC)
            o.off32((self.stack_depth + 7) // 8 * 8)       # sub rsp, round_up(depth, 8)
        _push_callee(o, self.regs_used)
        img += o
        proglen = len(o)
        addrs[0] = proglen
        seen_exit = False
        i = 1
        n = len(raws)
        while i <= n:
            r = raws[i - 1]
            slot = i - 1
            o = Out()
            reloc: tuple[int, str, object] | None = None
            code = r.code
            cls = code & 7
            site_rec = None
            if code == _LD_IMM64:
                value = (raws[i].imm & 0xffffffff) << 32 | (r.imm & 0xffffffff)
                at = E.mov_imm64(o, r.dst, value, force_abs=slot in self.force_abs)
                if slot in self.force_abs:
                    reloc = (at, "map", self.start + slot)
                i += 1
            elif code == _CALL:
                if r.src == 1:
                    tgt = slot + 1 + (r.off if self.calls_by_off else r.imm) + self.start
                    o.e(0xE8)
                    reloc = (len(o), "subprog", self.func_of[tgt])
                    o.off32(0)
                elif r.src == 0:
                    if not r.imm:
                        raise Unsupported("call with imm 0")
                    o.e(0xE8)
                    reloc = (len(o), "helper", r.imm)
                    o.off32(0)
                else:
                    raise Unsupported("kfunc call (needs BTF resolution)")
            elif code == _EXIT:
                if seen_exit:
                    self._jmp(o, i, self.cleanup - addrs[i], padding)
                else:
                    seen_exit = True
                    self.cleanup = proglen
                    _pop_callee(o, self.regs_used)
                    o.e(0xC9)                              # leave
                    if self.rethunk:                       # emit_return()
                        o.e(0xE9)                          # jmp x86_return_thunk
                        reloc = (len(o), "ret_thunk", None)
                        o.off32(0)
                    else:
                        o.e(0xC3)                          # ret (no CONFIG_MITIGATION_SLS)
            elif code in (_JA, _JA32) and slot in self.sites:
                site_rec = self._site(o, i, self.sites[slot], padding, proglen)
            elif code in (_JA, _JA32):
                off = r.off if code == _JA else r.imm
                jo = -2 if off == -1 else addrs[i + off] - addrs[i]
                if jo == 0:
                    if padding:
                        nops = (addrs[i] - addrs[i - 1]) - len(o)
                        if nops not in (0, 2, 5):
                            raise Unsupported(f"unexpected nop jump padding: {nops} bytes")
                        o.nops(nops)
                else:
                    self._jmp(o, i, jo, padding)
            elif cls in (E.CLS_JMP, E.CLS_JMP32):
                self._cond(o, i, r, padding)
            else:
                k = E.emit_simple(o, code, r.dst, r.src, r.off, r.imm, bmi2=self.bmi2)
                if k:
                    reloc = (len(o) - 4, k, self.start + slot)
            if final:
                if proglen + len(o) != addrs[i]:
                    raise Unsupported("JIT did not converge (final pass changed a size)")
                if reloc:
                    relocs.append((proglen + reloc[0], reloc[1], reloc[2]))
                if site_rec:
                    sites.append(site_rec)
                img += o
            proglen += len(o)
            addrs[i] = proglen
            i += 1
        return proglen, bytes(img), relocs, sites

    # -- jumps ---------------------------------------------------------------------------
    def _jmp(self, o: Out, i: int, jo: int, padding: bool) -> None:
        if is_imm8_jmp_offset(jo):
            if padding:
                nops = (self.addrs[i] - self.addrs[i - 1]) - len(o) - 2
                if nops not in (0, 3):
                    raise Unsupported(f"unexpected jump padding: {nops} bytes")
                o.nops(nops)
            o.e(0xEB, jo)
        else:
            o.e(0xE9)
            o.off32(jo)

    def _cond(self, o: Out, i: int, r: Raw, padding: bool) -> None:
        code, op = r.code, r.code & 0xf0
        is64 = (code & 7) == E.CLS_JMP
        if op not in _JCC:
            raise Unsupported(f"jump opcode {code:#04x}")
        d, s, imm = r.dst, r.src, r.imm
        if code & E.SRC_X:
            E.maybe_mod(o, d, s, is64)
            o.e(0x85 if op == 0x40 else 0x39, E.add_2reg(0xC0, d, s))   # test / cmp
        elif op == 0x40:
            E.maybe_1mod(o, d, is64)
            o.e(0xF7, E.add_1reg(0xC0, d))                               # test d, imm32
            o.off32(imm)
        elif imm == 0:
            E.maybe_mod(o, d, d, is64)
            o.e(0x85, E.add_2reg(0xC0, d, d))                            # test d, d
        else:
            E.maybe_1mod(o, d, is64)
            if is_imm8(imm):
                o.e(0x83, E.add_1reg(0xF8, d), imm)
            else:
                o.e(0x81, E.add_1reg(0xF8, d))
                o.off32(imm)
        jcc = _JCC[op]
        jo = self.addrs[i + r.off] - self.addrs[i]
        if is_imm8_jmp_offset(jo):
            if padding:
                nops = (self.addrs[i] - self.addrs[i - 1]) - len(o) - 2
                if nops not in (0, 4):
                    raise Unsupported(f"unexpected jmp_cond padding: {nops} bytes")
                o.nops(nops)
            o.e(jcc, jo)
        else:
            o.e(0x0F, jcc + 0x10)
            o.off32(jo)

    def _site(self, o: Out, i: int, sp: _SiteSpec, padding: bool, start: int) -> SiteInfo:
        jo = self.addrs[sp.target] - self.addrs[i]
        tgt = self.addrs[sp.target]
        if self.design == "fixed":
            # one instruction of 2 or 5 bytes in both states; never shrinks once padding
            # is on (a shrunken site would need NOPs in front: not one instruction), never
            # 0 bytes (a jump to the next instruction is `eb 00` / `66 90`).
            n = 2 if is_imm8_jmp_offset(jo) else 5
            if padding:
                n = max(n, self.site_len.get(i, n))
            self.site_len[i] = n
            on = bytes([0xEB, jo & 0xff]) if n == 2 else b"\xE9" + le32(jo)
            off = E.X86_NOPS[n]
            o.extend(on if sp.jumps else off)
            return SiteInfo(sp.pc, start, n, on, off, tgt, start, n, start, sp.key, sp.jumps)
        # patch2023: the JIT sees the site as the BPF instruction of its load-time state
        # (`ja target` when it jumps, `ja +0` otherwise) and emits it like any JA; at
        # emit_jmp it records (ip = image + addrs[i-1], len, jump, nop) with the length
        # chosen by is_imm8 (-128..127), not the JIT's own -128..123 rule.
        if not sp.jumps or jo == 0:
            if padding and sp.jumps:
                o.nops((self.addrs[i] - self.addrs[i - 1]) - len(o))
            return SiteInfo(sp.pc, start, 0, b"", b"", tgt, start, len(o), None, sp.key,
                            sp.jumps)
        self._jmp(o, i, jo, padding)
        n = 2 if is_imm8(jo) else 5
        on = bytes([0xEB, jo & 0xff]) if n == 2 else b"\xE9" + le32(jo)
        jump_at = start + len(o) - (2 if o[-2] == 0xEB else 5)
        return SiteInfo(sp.pc, start, n, on, E.X86_NOPS[n], tgt, start, len(o), jump_at,
                        sp.key, sp.jumps)

    def run(self) -> tuple[bytes, list, list, bool]:
        """The kernel's pass loop: until the size is stable, then one pass into the image."""
        old, padding = 0, False
        for pas in range(MAX_PASSES):
            if not padding and pas >= PADDING_PASSES:
                padding = True
            proglen, *_ = self.do_jit(padding, final=False)
            if proglen == old:
                break
            old = proglen
        else:
            raise Unsupported(f"JIT did not converge in {MAX_PASSES} passes")
        self.padding = padding
        _, image, relocs, sites = self.do_jit(padding, final=True)
        return image, relocs, sites, padding

    def extra_pass(self) -> tuple[bytes, list, list]:
        """jit_subprogs' second compile of every function: padding on, old addrs kept."""
        _, image, relocs, sites = self.do_jit(True, final=True)
        return image, relocs, sites


def _push_callee(o: Out, used: list[bool]) -> None:
    for u, bs in zip(used, ((0x53,), (0x41, 0x55), (0x41, 0x56), (0x41, 0x57))):
        if u:
            o.e(*bs)


def _pop_callee(o: Out, used: list[bool]) -> None:
    for u, bs in zip(reversed(used), ((0x41, 0x5F), (0x41, 0x5E), (0x41, 0x5D), (0x5B,))):
        if u:
            o.e(*bs)


def stack_depth(raws: list[Raw]) -> int:
    """The verifier's stack depth of one function, by a linear scan: the deepest byte any
    r10-relative access (directly or through a register holding r10 + const, incl. helper
    arguments) touches."""
    fp: dict[int, int] = {}
    depth = 0
    i = 0
    while i < len(raws):
        r = raws[i]
        code, cls, op = r.code, r.code & 7, r.code & 0xf0
        base = lambda reg: 0 if reg == 10 else fp.get(reg)  # noqa: E731
        if code == _LD_IMM64:
            fp.pop(r.dst, None)
            i += 2
            continue
        if cls in (E.CLS_ALU, E.CLS_ALU64) and r.dst != 10:
            if cls == E.CLS_ALU64 and op == E.OP_MOV and code & E.SRC_X and r.off == 0 \
                    and base(r.src) is not None:
                fp[r.dst] = base(r.src)
            elif cls == E.CLS_ALU64 and op in (E.OP_ADD, E.OP_SUB) and not code & E.SRC_X \
                    and r.dst in fp:
                fp[r.dst] += r.imm if op == E.OP_ADD else -r.imm
            else:
                fp.pop(r.dst, None)
        elif cls == E.CLS_LDX or (code & 0xe0) == E.MODE_ATOMIC and r.imm == E.LOAD_ACQ:
            if base(r.src) is not None:
                depth = max(depth, -(base(r.src) + r.off))
            fp.pop(r.dst, None)
        elif cls in (E.CLS_ST, E.CLS_STX):
            if base(r.dst) is not None:
                depth = max(depth, -(base(r.dst) + r.off))
            if (code & 0xe0) == E.MODE_ATOMIC and r.imm & E.FETCH:
                fp.pop(r.src, None)
                fp.pop(0, None)
        elif code == _CALL:
            for a in range(1, 6):
                if a in fp:
                    depth = max(depth, -fp[a])
            for a in range(6):
                fp.pop(a, None)
        i += 1
    return max(depth, 0)


def jit_raw(raws: list[Raw], *, func_starts: list[int] | None = None,
            calls_by_off: bool = False, sites: dict[int, _SiteSpec] | None = None,
            bmi2: bool | None = None, design: str = "fixed",
            stack_depths: dict[int, int] | None = None,
            map_slots: set[int] | None = None, rethunk: bool | None = None) -> JitResult:
    """JIT raw BPF slots (the kernel's view). ``func_starts``: slots where functions start
    (default: 0 and every bpf-to-bpf call target); ``calls_by_off``: pseudo calls carry
    their distance in ``off`` (kernel xlated dump) rather than ``imm``; ``map_slots``:
    ld_imm64 slots whose value is a kernel address (default: src_reg 1-4); ``rethunk``:
    returns jump to ``x86_return_thunk`` (None: as this machine's kernel does)."""
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    if bmi2 is None:
        bmi2 = cpu_has_bmi2()
    if rethunk is None:
        rethunk = cpu_wants_rethunk()
    sites = sites or {}
    second = second_slots(raws)
    if map_slots is None:
        map_slots = {s for s, r in enumerate(raws) if r.code == _LD_IMM64
                     and r.src in (1, 2, 3, 4) and s not in second}
    starts = {0} | set(func_starts or [])
    for s, r in enumerate(raws):
        if r.code == _CALL and r.src == 1 and s not in second:
            starts.add(s + 1 + (r.off if calls_by_off else r.imm))
    starts_l = sorted(starts)
    func_of = {s: k for k, s in enumerate(starts_l)}
    funcs: list[_Func] = []
    for k, s in enumerate(starts_l):
        e = starts_l[k + 1] if k + 1 < len(starts_l) else len(raws)
        body = raws[s:e]
        sd = (stack_depths or {}).get(s)
        fsites = {p - s: sp for p, sp in sites.items() if s <= p < e}
        for sp in fsites.values():
            sp.target -= s
        funcs.append(_Func(body, s, k, calls_by_off=calls_by_off, func_of=func_of,
                           sites=fsites, stack_depth=stack_depth(body) if sd is None else sd,
                           bmi2=bmi2, design=design, rethunk=rethunk,
                           force_abs={p - s for p in map_slots if s <= p < e}))
    outs = [f.run() for f in funcs]
    padded = any(o[3] for o in outs)
    if len(funcs) > 1:
        outs = [f.extra_pass() + (True,) for f in funcs]
    image = bytearray()
    relocs, all_sites, insn_addrs, offsets = [], [], {}, []
    for f, (img, rel, sts, _) in zip(funcs, outs):
        base = len(image)
        offsets.append(base)
        image += img
        relocs += [(base + o, k, v) for o, k, v in rel]
        for st in sts:
            for a in ("address", "target_address", "insn_address"):
                setattr(st, a, getattr(st, a) + base)
            if st.jump_address is not None:
                st.jump_address += base
            all_sites.append(st)
        for j in range(len(f.raws)):
            if f.start + j not in second:
                insn_addrs[f.start + j] = base + f.addrs[j]
    return JitResult(bytes(image), insn_addrs, all_sites, funcs[0].passes, relocs, offsets,
                     [f.passes for f in funcs], [f.stack_depth for f in funcs], padded)


def second_slots(raws: list[Raw]) -> set[int]:
    """The slots that are the second half of an ld_imm64."""
    out, i = set(), 0
    while i < len(raws):
        if raws[i].code == _LD_IMM64:
            out.add(i + 1)
            i += 2
        else:
            i += 1
    return out


_FLAGS: set[str] | None = None


def _cpu_flags() -> set[str]:
    """This machine's CPU feature flags as /proc/cpuinfo lists them (empty if unreadable)."""
    global _FLAGS
    if _FLAGS is None:
        _FLAGS = set()
        try:
            with open("/proc/cpuinfo") as f:
                line = next((x for x in f if x.startswith("flags")), "")
            _FLAGS = set(line.partition(":")[2].split())
        except OSError:
            pass
    return _FLAGS


def cpu_has_bmi2() -> bool:
    """Does this machine's CPU have BMI2 (``boot_cpu_has(X86_FEATURE_BMI2)``)?"""
    return "bmi2" in _cpu_flags()


def cpu_wants_rethunk() -> bool:
    """Does this machine's kernel return through ``x86_return_thunk``
    (``cpu_wants_rethunk()``: X86_FEATURE_RETHUNK, set by the retbleed/SRSO/ITS
    mitigations and shown as the ``rethunk`` cpuinfo flag)? A CPU not affected returns
    with a plain ``ret``."""
    return "rethunk" in _cpu_flags()
