"""CPU 0 runs a program's JIT'd x86 code on unicorn while a writer (CPU 1) pokes its sites.

Layout of CPU 0's address space (everything else is unmapped):

- ``CODE``: the image of ``model.x86.jit(prog, design="fixed")`` with the sites in their
  initial states, in a host buffer the writer stores into (as ``model.x86.executor``);
  relocations patched: helper calls -> ``HELPERS + 8*id``, subprogram calls -> their
  function, ``jmp x86_return_thunk`` -> a ``ret``, map loads -> the interpreter's map
  handle (an unmapped, opaque address) or map-value address;
- ``HELPERS``: never executed: when CPU 0 reaches ``HELPERS + 8*id`` the run calls the
  interpreter's helper model ``id`` (``model.interp.helpers``) with rdi..r8, puts r0 in rax,
  poisons the caller-saved registers and returns to the caller;
- the x86 stack (64 KiB, every byte ``POISON_BYTE``), returning to ``STOP``;
- ctx at the end of a page (the page after it unmapped), packet likewise (``data_end`` is
  the page end); the ctx's packet-pointer fields hold the (32-bit) packet addresses, which is
  what the kernel's ctx rewrite gives the JIT'd loads;
- map values at the interpreter's addresses (``model.interp.maps``), one page each, with a
  hook that turns any access outside the value into a fault.

Registers at entry: rdi = ctx, rsp = stack top (return address ``STOP``), all others
``POISON``. A *poison use* is an instruction of the program body (push/pop/leave of the
JIT's prologue/epilogue excepted) reading a register that holds ``POISON`` (64-bit) or its
low half (32-bit), or a return with rax = ``POISON``. A *fault* is an access to unmapped
memory (NULL+off, a poison address, past ctx/packet/stack) or outside a map value. Faults
and poison uses are mapped to the BPF instruction whose x86 code contains the address.

CPU 0 runs one instruction per ``emu_start``; before its instruction number ``s`` (from 0)
the writer events scheduled at ``s`` are applied: ``write`` stores into the code buffer,
``sync`` flushes CPU 0's translation cache (IPI + serialize), ``publish``/``unpublish`` make
the site's patch visible to the INT3 handler. An INT3 trap at a site with a published patch
is handled as the kernel does (the new instruction is emulated: jump to the target or fall
through); at any other address it is a stray INT3 (an oops).
"""

from __future__ import annotations

import bisect
import ctypes
import random
from dataclasses import dataclass, field

from iced_x86 import (Decoder, Formatter, FormatterSyntax, InstructionInfoFactory, OpAccess,
                      Register, RegisterExt)
from unicorn import (UC_ARCH_X86, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_UNMAPPED,
                     UC_HOOK_MEM_WRITE, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE,
                     UC_MEM_WRITE_UNMAPPED, UC_MODE_64,
                     UC_PROT_ALL, UC_PROT_READ, UC_PROT_EXEC, Uc, UcError)
from unicorn import x86_const as X

from model.interp.ctx import make_context
from model.interp.helpers import LINUX_HELPERS
from model.interp.maps import Maps
from model.interp.memory import PACKET_BASE, MemFault, Memory, Region
from model.program import Program
from model.x86 import jit, raws_of
from model.x86.poke import Ev
from model.x86.sites import INT3, Site, Toggle

PAGE = 4096
CODE = 0x100000
HELPERS = 0x200000
THUNK = 0x201000
STOP = 0x202000
STACK, STACK_SIZE = 0x400000, 0x10000
CTX = 0x600000
PACKET = 0x700000
PACKET_PAGES = 16
POISON_BYTE = 0xBD
POISON = int.from_bytes(bytes([POISON_BYTE]) * 8, "little")
POISON32 = POISON & 0xFFFFFFFF
DEFAULT_BUDGET = 100_000

_GPR = {Register.RAX: X.UC_X86_REG_RAX, Register.RBX: X.UC_X86_REG_RBX,
        Register.RCX: X.UC_X86_REG_RCX, Register.RDX: X.UC_X86_REG_RDX,
        Register.RSI: X.UC_X86_REG_RSI, Register.RDI: X.UC_X86_REG_RDI,
        Register.RBP: X.UC_X86_REG_RBP, Register.R8: X.UC_X86_REG_R8,
        Register.R9: X.UC_X86_REG_R9, Register.R10: X.UC_X86_REG_R10,
        Register.R11: X.UC_X86_REG_R11, Register.R12: X.UC_X86_REG_R12,
        Register.R13: X.UC_X86_REG_R13, Register.R14: X.UC_X86_REG_R14,
        Register.R15: X.UC_X86_REG_R15}
_NAMES = {v: k for k, v in {
    "rax": X.UC_X86_REG_RAX, "rbx": X.UC_X86_REG_RBX, "rcx": X.UC_X86_REG_RCX,
    "rdx": X.UC_X86_REG_RDX, "rsi": X.UC_X86_REG_RSI, "rdi": X.UC_X86_REG_RDI,
    "rbp": X.UC_X86_REG_RBP, "r8": X.UC_X86_REG_R8, "r9": X.UC_X86_REG_R9,
    "r10": X.UC_X86_REG_R10, "r11": X.UC_X86_REG_R11, "r12": X.UC_X86_REG_R12,
    "r13": X.UC_X86_REG_R13, "r14": X.UC_X86_REG_R14, "r15": X.UC_X86_REG_R15}.items()}
_ARGS = [X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_RCX,
         X.UC_X86_REG_R8]
_CALLER_SAVED = _ARGS + [X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11]
_READS = (OpAccess.READ, OpAccess.COND_READ, OpAccess.READ_WRITE, OpAccess.READ_COND_WRITE)


class Unsupported(Exception):
    pass


@dataclass(frozen=True)
class WEv:
    """One writer (CPU 1) event, applied before CPU 0's instruction number ``step``."""
    step: int
    poke: int          # index of the poke (one int3 protocol run on one site)
    ev: Ev


@dataclass
class Poke:
    """CPU 1 runs the int3 protocol (``model.x86.poke.int3``) on one site."""
    site: int          # index into X86Machine.sites
    to_on: bool        # the site's new state (key semantics: on = key on)


@dataclass
class SiteFetch:
    site: int          # BPF site id
    n: int             # which execution of that site (from 0)
    step: int          # CPU 0's instruction number
    bytes: str         # what CPU 0 found at the site (hex)
    via: str           # "bytes" | "int3" (the handler emulated the new instruction)
    jumped: bool
    on: bool


@dataclass
class X86Fault:
    kind: str          # "fault" | "poison" | "stray_int3" | "bounds"
    reason: str
    x86_address: int   # image offset of the instruction
    x86_insn: str
    bpf_pc: int | None
    addr: int | None = None

    def to_json(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "x86_address": self.x86_address,
                "x86_insn": self.x86_insn, "bpf_pc": self.bpf_pc, "addr": self.addr}


@dataclass
class X86Result:
    status: str        # "exit" | "fault" | "budget"
    rax: int | None
    steps: int
    fetches: list[SiteFetch]
    fault: X86Fault | None = None
    log: list[str] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    def observed(self) -> dict[int, list[bool]]:
        out: dict[int, list[bool]] = {}
        for f in self.fetches:
            out.setdefault(f.site, []).append(f.on)
        return out


class _UcMem:
    """The interpreter's ``Memory`` interface over CPU 0's unicorn memory (for the helper
    models and ``Maps``): regions are mapped page-wise; reads and writes go to unicorn."""

    def __init__(self, m: "X86Machine"):
        self.m = m
        self.regions: list[Region] = []

    def add(self, region: Region) -> Region:
        self.m._map_region(region)
        self.regions.append(region)
        return region

    def remove(self, region: Region) -> None:
        self.regions.remove(region)
        self.m._unmap_region(region)

    def find(self, addr: int) -> Region | None:
        return next((r for r in self.regions if r.base <= addr < r.end), None)

    region_of = find

    def load_bytes(self, addr: int, size: int) -> bytes:
        if size == 0:
            return b""
        try:
            return bytes(self.m.uc.mem_read(addr, size))
        except UcError:
            raise MemFault(addr, size, f"read of {size} bytes at {addr:#x}: unmapped") from None

    def load(self, addr: int, size: int, *, kind_ok=None) -> int:
        return int.from_bytes(self.load_bytes(addr, size), "little")

    def store_bytes(self, addr: int, data: bytes) -> None:
        r = self.find(addr)
        if r is not None and not r.writable:
            raise MemFault(addr, len(data), f"write to read-only {r.name}", r.name)
        try:
            self.m.uc.mem_write(addr, bytes(data))
        except UcError:
            raise MemFault(addr, len(data), f"write at {addr:#x}: unmapped") from None

    def store(self, addr: int, size: int, value: int) -> None:
        self.store_bytes(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


class _Host:
    """What a helper model sees as the machine (``m.mem``, ``m.maps``, ``m.trace``...)."""

    def __init__(self, mem, maps, prog: Program, seed: int = 0):
        self.mem, self.maps, self.prog = mem, maps, prog
        self.trace: list[str] = []
        self.rng = random.Random(seed)
        self.clock_ns = 1_000_000_000
        self.cpu, self.pid, self.tgid = 0, 4242, 4242


class X86Machine:
    """One program JIT'd with the sites in ``initial`` (site id -> on; default: key off)."""

    def __init__(self, obj, prog: Program, initial: dict[int, bool] | None = None, *,
                 budget: int = DEFAULT_BUDGET):
        self.obj, self.prog, self.budget = obj, prog, budget
        self.prog_type = prog.prog_type
        self.initial = {s.id: bool((initial or {}).get(s.id, False)) for s in prog.sites}
        self.jr = jit(prog, design="fixed", site_states=self.initial)
        self.by_pc_site = {s.pc: s for s in prog.sites}
        self.sites = []          # (bpf Site, x86 Site) in address order
        for si in sorted(self.jr.sites, key=lambda s: s.address):
            site = Site(si.address, si.length, si.target_address)
            if site.bytes_for(True) != si.on_bytes or site.bytes_for(False) != si.off_bytes:
                raise Unsupported(f"site at pc {si.bpf_pc}: on/off bytes are not canonical")
            self.sites.append((self.by_pc_site[si.bpf_pc], site))
        self.site_at = {x.addr: k for k, (_, x) in enumerate(self.sites)}
        self._pcs = sorted((a, pc) for pc, a in self.jr.insn_addrs.items())
        self._addrs = [a for a, _ in self._pcs]
        self.image = self._patched()
        self.size = max(PAGE, (len(self.image) + PAGE - 1) // PAGE * PAGE)
        self.buf = ctypes.create_string_buffer(self.size)
        self.decoded = self._decode(self.image)
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        uc = self.uc
        uc.mem_map_ptr(CODE, self.size, UC_PROT_ALL, ctypes.addressof(self.buf))
        uc.mem_map(HELPERS, PAGE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(THUNK, PAGE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_map(STOP, PAGE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(THUNK, b"\xC3" * PAGE)
        uc.mem_map(STACK, STACK_SIZE)
        uc.mem_map(CTX, PAGE)
        uc.mem_map(PACKET, PACKET_PAGES * PAGE)
        uc.hook_add(UC_HOOK_INTR, self._intr)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._unmapped)
        self._mapped: dict[int, int] = {}     # page -> hook handle (map values)
        self._regions_by_page: dict[int, list[Region]] = {}

    # -- image -------------------------------------------------------------------------
    def _patched(self) -> bytes:
        img = bytearray(self.jr.image)
        raws = raws_of(self.prog)
        probe = Maps(Memory(), self.obj.maps)   # addresses are deterministic per run
        for off, kind, val in self.jr.relocs:
            if kind == "helper":
                tgt = HELPERS + 8 * int(val)
            elif kind == "subprog":
                tgt = CODE + self.jr.func_offsets[int(val)]
            elif kind == "ret_thunk":
                tgt = THUNK
            elif kind == "map":
                r, ref = raws[val], self.prog.map_refs.get(val)
                if ref is None:
                    raise Unsupported(f"ld_imm64 at insn {val} names no map")
                st = probe[ref.map]
                v = st.ptr if r.src in (1, 5) else st.value_address(raws[val + 1].imm)
                img[off:off + 8] = v.to_bytes(8, "little")
                continue
            else:
                raise Unsupported(f"relocation {kind} is not modelled")
            rel = tgt - (CODE + off + 4)
            img[off:off + 4] = (rel & 0xFFFFFFFF).to_bytes(4, "little")
        return bytes(img)

    def _decode(self, image: bytes) -> dict[int, tuple[str, list[tuple[int, int]], bool]]:
        fmt = Formatter(FormatterSyntax.INTEL)
        info = InstructionInfoFactory()
        out = {}
        for ins in Decoder(64, image, ip=0):
            reads = []
            for u in info.info(ins).used_registers():
                full = RegisterExt.full_register(u.register)
                if u.access in _READS and full in _GPR and full != Register.RSP:
                    reads.append((_GPR[full], RegisterExt.size(u.register)))
            skip = fmt.format_mnemonic(ins) in ("push", "pop", "leave")
            out[ins.ip] = (fmt.format(ins), reads, skip)
        return out

    def insn_text(self, off: int) -> str:
        d = self.decoded.get(off)
        if d is not None:
            return d[0]
        try:
            ins = next(iter(Decoder(64, bytes(self.buf[off:off + 15]), ip=off)))
            return Formatter(FormatterSyntax.INTEL).format(ins)
        except Exception:  # noqa: BLE001
            return "?"

    def bpf_pc(self, off: int) -> int | None:
        """The BPF instruction whose x86 code contains image offset ``off``."""
        k = bisect.bisect_right(self._addrs, off) - 1
        return self._pcs[k][1] if k >= 0 else None

    # -- memory --------------------------------------------------------------------------
    def _map_region(self, r: Region) -> None:
        lo = r.base // PAGE * PAGE
        hi = (r.end + PAGE - 1) // PAGE * PAGE
        for p in range(lo, hi, PAGE):
            if p not in self._mapped:
                self.uc.mem_map(p, PAGE, UC_PROT_ALL if r.writable else UC_PROT_READ)
                self._mapped[p] = self.uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                                                   self._bounds, begin=p, end=p + PAGE - 1)
            self._regions_by_page.setdefault(p, []).append(r)
        self.uc.mem_write(r.base, bytes(r.data))

    def _unmap_region(self, r: Region) -> None:
        for p, rs in list(self._regions_by_page.items()):
            if r in rs:
                rs.remove(r)
                if not rs:
                    self.uc.hook_del(self._mapped.pop(p))
                    self.uc.mem_unmap(p, PAGE)
                    del self._regions_by_page[p]

    def _bounds(self, uc, access, addr, size, value, _):
        p = addr // PAGE * PAGE
        if not any(r.base <= addr and addr + size <= r.end
                   for r in self._regions_by_page.get(p, ())):
            self._bad = ("bounds", f"{'write' if access == UC_MEM_WRITE else 'read'} of "
                         f"{size} bytes at {addr:#x} is outside every map value", addr)
            uc.emu_stop()

    def _unmapped(self, uc, access, addr, size, value, _):
        what = {UC_MEM_WRITE_UNMAPPED: "write", UC_MEM_READ_UNMAPPED: "read"}.get(access,
                                                                                  "fetch")
        self._bad = ("fault", f"{what} of {size} bytes at {addr:#x}: unmapped "
                     f"({classify(addr)})", addr)
        return False

    def _intr(self, uc, intno, _):
        self._trap = intno
        uc.emu_stop()

    # -- running --------------------------------------------------------------------------
    def _reset(self, ctx: bytes | None, packet: bytes | None, maps_init: dict | None):
        uc = self.uc
        ctypes.memset(self.buf, 0, self.size)
        ctypes.memmove(self.buf, self.image, len(self.image))
        uc.ctl_remove_cache(CODE, CODE + self.size)
        for p in list(self._mapped):
            uc.hook_del(self._mapped.pop(p))
            uc.mem_unmap(p, PAGE)
        self._regions_by_page.clear()
        uc.mem_write(STACK, bytes([POISON_BYTE]) * STACK_SIZE)
        uc.mem_write(CTX, bytes(PAGE))
        uc.mem_write(PACKET, bytes(PACKET_PAGES * PAGE))
        c = make_context(Memory(), self.prog_type, ctx, packet)
        cbytes = bytearray(c.region.data)
        ctx_addr = CTX + PAGE - (len(cbytes) + 7) // 8 * 8
        pkt_addr = None
        if c.packet is not None:
            pdata = bytes(c.packet.data)
            if len(pdata) > PACKET_PAGES * PAGE:
                raise Unsupported("packet too large")
            pkt_addr = PACKET + PACKET_PAGES * PAGE - len(pdata)
            uc.mem_write(pkt_addr, pdata)
            for off, a in c.pointer_fields.items():
                cbytes[off:off + 4] = (pkt_addr + (a - PACKET_BASE)).to_bytes(4, "little")
        uc.mem_write(ctx_addr, bytes(cbytes))
        mem = _UcMem(self)
        maps = Maps(mem, self.obj.maps)
        for name, entries in (maps_init or {}).items():
            st = maps[name]
            for k, v in entries.items():
                st.update(bytes.fromhex(k), bytes.fromhex(v), 0)
        self._flush_regions(mem)
        self.host = _Host(mem, maps, self.prog)
        for reg in _GPR.values():
            uc.reg_write(reg, POISON)
        sp = STACK + STACK_SIZE - 0x100
        uc.mem_write(sp, STOP.to_bytes(8, "little"))
        uc.reg_write(X.UC_X86_REG_RSP, sp)
        uc.reg_write(X.UC_X86_REG_RDI, ctx_addr)
        uc.reg_write(X.UC_X86_REG_RIP, CODE)
        return ctx_addr, pkt_addr

    def _flush_regions(self, mem: _UcMem) -> None:
        for r in mem.regions:
            self.uc.mem_write(r.base, bytes(r.data))

    def _pull_regions(self, mem: _UcMem) -> None:
        for r in mem.regions:
            r.data[:] = self.uc.mem_read(r.base, r.size)

    def run(self, *, ctx: bytes | None = None, packet: bytes | None = None,
            maps: dict | None = None, pokes: list[Poke] | None = None,
            events: list[WEv] | None = None, helper_results: dict | None = None,
            on_fetch=None, verbose: bool = False) -> X86Result:
        """Run CPU 0 once. ``events`` (sorted by step, CPU 1's program order) are the
        writer's, their ``poke`` indexing ``pokes``. ``on_fetch(result, fetch)`` may return
        extra events to apply right after a site fetch (used to derive schedules)."""
        uc = self.uc
        pokes = [] if pokes is None else pokes
        events = list(events or [])
        ctx_addr, pkt_addr = self._reset(ctx, packet, maps)
        res = X86Result("budget", None, 0, [])
        log = res.log
        published: dict[int, Toggle] = {}
        runs: dict[int, int] = {}
        calls: dict[int, int] = {}
        results = helper_results or {}
        ei = 0
        steps = 0

        def apply(w: WEv):
            pk = pokes[w.poke]
            bsite, xsite = self.sites[pk.site]
            e = w.ev
            if e.kind == "write":
                ctypes.memmove(ctypes.addressof(self.buf) + e.addr, e.data, len(e.data))
                desc = f"write {e.data.hex()} @{e.addr:#x}"
            elif e.kind == "sync":
                uc.ctl_remove_cache(CODE, CODE + self.size)
                desc = "sync (IPI + serialize)"
            elif e.kind == "publish":
                published[xsite.addr] = Toggle(xsite, bsite.jumps(pk.to_on))
                desc = "publish patch"
            elif e.kind == "unpublish":
                published.pop(xsite.addr, None)
                desc = "unpublish (drain)"
            else:
                desc = e.kind
            if verbose:
                log.append(f"  before cpu0 step {steps:<4} cpu1 poke#{w.poke} site pc "
                           f"{bsite.pc} -> {'on' if pk.to_on else 'off'}: {desc}")

        def fail(kind, reason, off, addr=None):
            res.status = "fault"
            res.fault = X86Fault(kind, reason, off, self.insn_text(off), self.bpf_pc(off), addr)

        while True:
            while ei < len(events) and events[ei].step <= steps:
                apply(events[ei])
                ei += 1
            rip = uc.reg_read(X.UC_X86_REG_RIP)
            if rip == STOP:
                res.status = "exit"
                res.rax = uc.reg_read(X.UC_X86_REG_RAX)
                if res.rax == POISON:
                    exits = [a for a, pc in self._pcs if pc in self._exit_pcs()]
                    fail("poison", "r0 (rax) holds poison at exit", exits[0] if exits else 0)
                break
            if steps >= self.budget:
                break
            if HELPERS <= rip < HELPERS + PAGE:
                if not self._helper(rip, res, calls, results, fail):
                    break
                steps += 1
                continue
            off = rip - CODE
            if THUNK <= rip < THUNK + PAGE:      # x86_return_thunk: `ret`
                off = None
            elif not 0 <= off < self.size:
                fail("fault", f"rip {rip:#x} left the code", 0, rip)
                break
            d = self.decoded.get(off) if off is not None else None
            if d is not None and not d[2] and off not in self.site_at:
                for reg, size in d[1]:
                    v = uc.reg_read(reg)
                    if v == POISON or (size == 4 and v & 0xFFFFFFFF == POISON32):
                        fail("poison", f"reads {_NAMES[reg]} = {v:#x} (poison: uninitialised)",
                             off)
                        break
                if res.fault:
                    break
            k = self.site_at.get(off) if off is not None else None
            seen = bytes(self.buf[off:off + self.sites[k][1].size]) if k is not None else b""
            self._trap, self._bad = None, None
            try:
                uc.emu_start(rip, 0, count=1)
            except UcError as e:
                kind, reason, addr = self._bad or ("fault", str(e), None)
                fail(kind, reason, off if off is not None else 0, addr)
                break
            steps += 1
            if self._bad:
                fail(*self._bad[:2], off if off is not None else 0, self._bad[2])
                break
            via = "bytes"
            if self._trap is not None:
                if self._trap != 3 or k is None or off not in published:
                    fail("stray_int3", f"interrupt {self._trap} with no published patch", off)
                    break
                tog = published[off]
                uc.reg_write(X.UC_X86_REG_RIP, CODE + tog.site.destination(tog.to_on))
                via = "int3"
            if k is not None:
                bsite, xsite = self.sites[k]
                nrip = uc.reg_read(X.UC_X86_REG_RIP) - CODE
                if nrip not in (xsite.target, xsite.fallthrough):
                    fail("fault", f"site went to {nrip:#x}", off)
                    break
                jumped = nrip == xsite.target and xsite.target != xsite.fallthrough
                on = jumped != bsite.inverse
                n = runs.get(bsite.id, 0)
                runs[bsite.id] = n + 1
                f = SiteFetch(bsite.id, n, steps - 1, seen.hex(), via, jumped, on)
                res.fetches.append(f)
                if verbose:
                    log.append(f"  cpu0 step {steps - 1:<4} fetches site pc {bsite.pc} "
                               f"(execution {n}): bytes {seen.hex(' ')} via {via} -> "
                               f"{'jump' if jumped else 'fall through'} ({'on' if on else 'off'})")
                if on_fetch is not None:
                    for w in on_fetch(res, f) or ():
                        apply(WEv(steps, w.poke, w.ev))
        res.steps = steps
        res.trace = self.host.trace
        if res.fault and verbose:
            f = res.fault
            log.append(f"  cpu0 {f.kind} at x86 {f.x86_address:#x} `{f.x86_insn}` "
                       f"(BPF insn {f.bpf_pc}): {f.reason}")
        return res

    def _exit_pcs(self) -> set[int]:
        from model.isa import Exit
        return {pc for pc, insn in self.prog.by_pc().items() if isinstance(insn, Exit)}

    def _helper(self, rip, res, calls, results, fail) -> bool:
        uc = self.uc
        hid = (rip - HELPERS) // 8
        sp = uc.reg_read(X.UC_X86_REG_RSP)
        ret = int.from_bytes(uc.mem_read(sp, 8), "little")
        call_off = ret - CODE - 5
        pc = self.bpf_pc(call_off)
        fn = LINUX_HELPERS.get(hid)
        if fn is None:
            fail("fault", f"helper #{hid} is not modelled", call_off)
            return False
        args = [uc.reg_read(r) for r in _ARGS]
        mem = self.host.mem
        self._pull_regions(mem)
        try:
            r0 = fn(self.host, *args)
        except MemFault as e:
            poison = " (poison)" if e.addr is not None and is_poison(e.addr) else ""
            fail("fault", f"helper #{hid}: {e.reason}{poison}", call_off, e.addr)
            return False
        n = calls.get(pc, 0)
        calls[pc] = n + 1
        if (pc, n) in results:
            r0 = results[(pc, n)]
        self._flush_regions(mem)
        uc.reg_write(X.UC_X86_REG_RAX, r0 & (2**64 - 1))
        for r in _CALLER_SAVED:
            uc.reg_write(r, POISON)
        uc.reg_write(X.UC_X86_REG_RSP, sp + 8)
        uc.reg_write(X.UC_X86_REG_RIP, ret)
        return True


def is_poison(addr: int) -> bool:
    a = addr & 0xFFFF_FFFF_FFFF
    return abs(a - (POISON & 0xFFFF_FFFF_FFFF)) < 1 << 20 or abs(addr - POISON32) < 1 << 20


def classify(addr: int) -> str:
    if addr < PAGE:
        return "NULL pointer + small offset"
    if is_poison(addr):
        return "poison pointer: uninitialised"
    return "outside every region"


__all__ = ["X86Machine", "X86Result", "X86Fault", "SiteFetch", "Poke", "WEv", "POISON",
           "Unsupported", "INT3"]
