"""A unicorn executor for poke schedules: several CPUs over one shared code page.

Every CPU is its own ``Uc`` (so its own translation cache) and maps the *same* host buffer
with ``mem_map_ptr`` at ``CODE``; the writer stores into that buffer directly. ``sync`` is
IPI + serialize: ``ctl_remove_cache`` over the code on every CPU (unicorn does not see host
stores in code it has already translated -- a test shows that this is exactly stale code
until sync_core).

A schedule says which memory state each chunk of a fetch came from (``fetch.Fetch.u``), so
the executor replays it on a timeline: before writer event ``k+1`` it captures (reads from
the shared page through that CPU's ``Uc``) every chunk whose view time is ``k``, and runs
every fetch whose last chunk is read at ``k``. Unicorn reads an instruction's bytes at once,
so a fetch is *executed* like this: run the block's first instruction (``mov eax, 1``) from
the shared page; then, if the captured bytes equal the live bytes, run the site instruction
in place; otherwise write the captured bytes into a private scratch page of that CPU at the
same page offset (the live bytes around them, so a longer torn instruction reads what
follows the site) and run that one instruction there (``count=1``). A relative jump computed
in the scratch page is mapped back by subtracting the scratch base. Then the executor
classifies what the instruction did (invalid opcode / its length from a code hook / where
it went) and runs the rest of the block from the shared page to its ``ret``.

INT3 (interrupt 3): the kernel's handler is emulated -- if a patch is published for the
site, the *new* instruction is emulated (JMP -> target, NOP -> after the site), else the
trap is a stray INT3 (an oops in the kernel).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field

from unicorn import (UC_ARCH_X86, UC_ERR_INSN_INVALID, UC_HOOK_CODE, UC_HOOK_INTR, UC_MODE_64,
                     UC_PROT_ALL, Uc, UcError)
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_RIP, UC_X86_REG_RSP

from model.x86 import fetch as fx
from model.x86.poke import Ev, int3, memory_states, positions
from model.x86.sites import (EAX_OFF, EAX_ON, INT3, Site, Toggle, block_entry, build_image)

CODE = 0x100000
STOP = 0x300000
STACK = 0x400000
SCRATCH = 0x800000
PAGE = 4096


@dataclass
class FetchRun:
    outcome: str
    eax: int | None
    where: str          # "in place" | "scratch"
    detail: str = ""


class Executor:
    _pool: dict = {}

    @classmethod
    def get(cls, image: bytes, n_cpus: int = 2) -> "Executor":
        """A pooled executor (creating ``Uc`` instances is the slow part) reset to ``image``:
        buffer rewritten, every CPU's translation cache flushed, nothing published."""
        key = ((len(image) + PAGE - 1) // PAGE, n_cpus)
        ex = cls._pool.get(key)
        if ex is None:
            ex = cls._pool[key] = cls(image, n_cpus)
            return ex
        ctypes.memset(ex.buf, 0, ex.size)
        ctypes.memmove(ex.buf, image, len(image))
        ex.sync()
        for uc, _ in ex.cpus:
            uc.ctl_remove_cache(SCRATCH, SCRATCH + ex.size)
        ex.steps, ex.published = 0, False
        return ex

    def __init__(self, image: bytes, n_cpus: int = 2):
        self.size = max(PAGE, (len(image) + PAGE - 1) // PAGE * PAGE)
        self.buf = ctypes.create_string_buffer(self.size)
        ctypes.memmove(self.buf, image, len(image))
        self.cpus = []
        self.steps = 0     # instructions executed (all CPUs)
        self.published = False
        for _ in range(n_cpus):
            uc = Uc(UC_ARCH_X86, UC_MODE_64)
            uc.mem_map_ptr(CODE, self.size, UC_PROT_ALL, ctypes.addressof(self.buf))
            uc.mem_map(SCRATCH, self.size)
            uc.mem_map(STOP, PAGE)
            uc.mem_map(STACK, 0x10000)
            st = {"trap": None, "last": None}
            uc.hook_add(UC_HOOK_INTR, self._intr, st)
            uc.hook_add(UC_HOOK_CODE, self._code, st)
            self.cpus.append((uc, st))

    @staticmethod
    def _intr(uc, intno, st):
        st["trap"] = intno
        uc.emu_stop()

    def _code(self, uc, addr, size, st):
        st["last"] = (addr, size)
        self.steps += 1

    # -- the writer side ------------------------------------------------------------------
    def write(self, addr: int, data: bytes) -> None:
        ctypes.memmove(ctypes.addressof(self.buf) + addr, data, len(data))

    def sync(self) -> None:
        for uc, _ in self.cpus:
            uc.ctl_remove_cache(CODE, CODE + self.size)

    def apply(self, e: Ev) -> None:
        if e.kind == "write":
            self.write(e.addr, e.data)
        elif e.kind == "sync":
            self.sync()
        elif e.kind == "publish":
            self.published = True
        elif e.kind == "unpublish":
            self.published = False

    def live(self, addr: int, n: int) -> bytes:
        return bytes(self.buf[addr:addr + n])

    def capture(self, cpu: int, addr: int, n: int) -> bytes:
        """A CPU reads code bytes from the shared page (through its own mapping)."""
        return bytes(self.cpus[cpu][0].mem_read(CODE + addr, n))

    # -- one fetch + execution of a site --------------------------------------------------
    def run_fetch(self, cpu: int, tog: Toggle, seen: bytes, published: bool) -> FetchRun:
        uc, st = self.cpus[cpu]
        site = tog.site
        uc.reg_write(UC_X86_REG_RSP, STACK + 0x8000)
        uc.mem_write(STACK + 0x8000, STOP.to_bytes(8, "little"))
        uc.reg_write(UC_X86_REG_EAX, 0)
        uc.emu_start(CODE + block_entry(site), STOP, count=1)  # mov eax, 1 (shared page)
        if uc.reg_read(UC_X86_REG_RIP) != CODE + site.addr:
            return FetchRun("ERROR", None, "", "block entry did not reach the site")
        if seen == self.live(site.addr, site.size):
            base, where = CODE, "in place"
            uc.ctl_remove_cache(CODE + site.addr, CODE + site.addr + site.size)
        else:
            base, where = SCRATCH, "scratch"
            lo, hi = max(0, site.addr - 16), min(self.size, site.addr + 32)
            win = bytearray(self.live(lo, hi - lo))
            win[site.addr - lo:site.addr - lo + site.size] = seen
            uc.mem_write(SCRATCH + lo, bytes(win))
            uc.ctl_remove_cache(SCRATCH + lo, SCRATCH + hi)
        st["trap"], st["last"] = None, None
        invalid, err = False, ""
        try:
            uc.emu_start(base + site.addr, STOP, count=1)
        except UcError as e:
            invalid = e.errno == UC_ERR_INSN_INVALID
            err = str(e)
        rip = uc.reg_read(UC_X86_REG_RIP) - base
        if st["trap"] is not None:
            if st["trap"] != 3 or seen[0] != INT3:
                return FetchRun("ERROR", None, where, f"interrupt {st['trap']}")
            if not published:
                return FetchRun("INT3_STRAY", None, where, "INT3 with no published patch")
            rip = site.destination(tog.to_on)   # the handler emulates the new instruction
            outcome = "INT3"
        elif seen in (tog.old, tog.new):
            on = seen == site.bytes_for(True)
            outcome = "OLD" if seen == tog.old else "NEW"
            if rip != site.destination(on) or err:
                return FetchRun("ERROR", None, where, f"{outcome} bytes went to {rip:#x} {err}")
        else:
            size = st["last"][1] if st["last"] else None
            outcome = fx.torn_kind_from_behaviour(tog, size, rip, invalid)
            if outcome != "TORN_OTHER":
                return FetchRun(outcome, None, where,
                                err or f"length {size}, continues at +{rip - site.addr}")
        try:
            uc.emu_start(CODE + rip, STOP, count=64)
        except UcError as e:
            return FetchRun(outcome, None, where, f"continuation: {e}")
        eax = uc.reg_read(UC_X86_REG_EAX) if uc.reg_read(UC_X86_REG_RIP) == STOP else None
        if outcome in ("OLD", "NEW", "INT3"):
            on = (outcome == "OLD") != tog.to_on
            if eax != (EAX_ON if on else EAX_OFF):
                return FetchRun("ERROR", eax, where, "the block returned the wrong value")
        return FetchRun(outcome, eax, where)


# -- replaying schedules ----------------------------------------------------------------------
@dataclass
class Replay:
    outcomes: list[str]
    runs: list[FetchRun]
    violations: dict
    confirmed: bool
    steps: int
    lines: list[str] = field(default_factory=list)


def replay(sc: fx.Schedule, verbose: bool = False) -> Replay:
    bad = fx.check_legal(sc)
    if bad:
        raise ValueError(f"schedule breaks its fetch model: {bad}")
    n_cpus = max((f.cpu for f in sc.fetches), default=0) + 1
    ex = Executor.get(sc.image(), n_cpus)
    toggles = sc.toggles
    n = len(sc.events)
    cap = [dict() for _ in sc.fetches]     # fetch -> byte index -> captured byte
    runs: list[FetchRun | None] = [None] * len(sc.fetches)
    lines = []
    done_upto = {}
    for t in range(n + 1):
        for j, f in enumerate(sc.fetches):
            site = toggles[f.site].site
            for i in range(site.size):
                if f.u[i] == t:
                    cap[j][i] = ex.capture(f.cpu, site.addr + i, 1)[0]
        for j, f in enumerate(sc.fetches):
            if f.tmax == t and runs[j] is None:
                seen = bytes(cap[j][i] for i in range(len(f.t)))
                runs[j] = ex.run_fetch(f.cpu, toggles[f.site], seen, ex.published)
                done_upto[f.cpu] = j
                lines.append(f"  t={t:<3} cpu{f.cpu} fetch site{f.site} bytes {seen.hex(' ')}"
                             f" -> {runs[j].outcome}" + (f" (eax={runs[j].eax})" if runs[j].eax
                                                         is not None else "")
                             + f" [{runs[j].where}{', ' + runs[j].detail if runs[j].detail else ''}]")
        if t < n:
            e = sc.events[t]
            ex.apply(e)
            desc = f"write {e.data.hex(' ')} @+{e.addr:#x}" if e.kind == "write" else e.kind
            lines.append(f"  t={t + 1:<3} writer {desc}")
    outcomes = [r.outcome for r in runs]
    v = fx.violations(sc, outcomes)
    confirmed = bool(sc.prop) and bool(v.get(sc.prop))
    return Replay(outcomes, runs, v, confirmed, ex.steps, lines)


def minimise(sc: fx.Schedule) -> fx.Schedule:
    """Drop fetches, then writer events after the last fetch (not ``return``), while the
    violation of ``sc.prop`` still reproduces on the executor. Earlier writer events are kept:
    dropping them would turn the schedule into another protocol."""
    def ok(c):
        if fx.check_legal(c):
            return False
        try:
            return replay(c).confirmed
        except Exception:
            return False

    cur = sc
    j = 0
    while j < len(cur.fetches):
        c = fx.Schedule(cur.protocol, cur.kind, cur.model, cur.offsets, cur.events,
                        cur.fetches[:j] + cur.fetches[j + 1:], cur.prop, cur.expect)
        if ok(c):
            cur = c
        else:
            j += 1
    k = 0
    while k < len(cur.events):
        # only events after every fetch (and never ``return``): dropping an earlier event
        # would turn the schedule into a different protocol
        if cur.events[k].kind == "return" or k < max((f.tmax for f in cur.fetches), default=0):
            k += 1
            continue
        sh = lambda x: x - 1 if x > k else x  # noqa: E731  (state k+1.. -> k..)
        c = fx.Schedule(cur.protocol, cur.kind, cur.model, cur.offsets,
                        cur.events[:k] + cur.events[k + 1:],
                        [fx.Fetch(f.cpu, f.site, [sh(x) for x in f.t], [sh(x) for x in f.u])
                         for f in cur.fetches], cur.prop, cur.expect)
        if ok(c):
            cur = c
        else:
            k += 1
    return cur


# -- key schedules ----------------------------------------------------------------------------
KEY_SITE_KIND = (5, 7)   # key images: 5-byte sites at line offset 7 (straddling 8-byte chunks)


def key_sites(n: int) -> list[Site]:
    from model.x86.sites import block_site
    return [block_site(i, KEY_SITE_KIND[0], KEY_SITE_KIND[1]) for i in range(n)]


@dataclass
class KeyReplay:
    states: list[int]      # observed by executing every site on every CPU
    confirmed: bool
    steps: int
    lines: list[str]


def replay_key(ks, n_cpus: int = 2) -> KeyReplay:
    """Run the togglers' events in order; each effective poke is the kernel's int3 protocol
    on the shared page; then every CPU runs every site's block and reports its state."""
    from model.x86.poke import apply_key_schedule, check_lock_order

    sc = ks.scenario
    if not check_lock_order(sc, ks.order):
        raise ValueError("the order breaks program order or the per-key mutex")
    sites = key_sites(sc.n_sites)
    states = [sc.initial] * sc.n_sites
    ex = Executor.get(build_image(sites, [bool(s) for s in states]), n_cpus)
    _, _, done = apply_key_schedule(sc, ks.order, ks.fail)
    lines = []
    for th, e in done:
        lines.append(f"  toggler{th} {e.kind}" + (f" site{e.site} -> {e.value}"
                                                   if e.kind in ("poke", "fail") else
                                                   f" {e.value}" if e.kind == "setkey" else ""))
        if e.kind == "poke" and states[e.site] != e.value:
            for w in int3([Toggle(sites[e.site], bool(e.value))]):
                ex.apply(w)
            states[e.site] = e.value
    seen = []
    for cpu in range(n_cpus):
        row = []
        for s, site in enumerate(sites):
            cur = ex.live(site.addr, site.size)
            on = site.state_of(cur)
            r = ex.run_fetch(cpu, Toggle(site, not on), cur, False)  # cur is the toggle's OLD
            row.append(1 if r.eax == EAX_ON else 0 if r.eax == EAX_OFF else -1)
        lines.append(f"  cpu{cpu} runs every site: states {row}")
        seen.append(row)
    obs = seen[0]
    confirmed = all(r == obs for r in seen) and len(set(obs)) > 1
    return KeyReplay(obs, confirmed, ex.steps, lines)


def random_key_schedule(rng, sc, p_fail: float = 0.3):
    """A random interleaving that keeps program order and the mutex, random 2025 failures."""
    from model.x86.race import KeySchedule

    evs = [t.events() for t in sc.togglers]
    nxt = [0] * len(evs)
    holder = None
    order = []
    while any(n < len(e) for n, e in zip(nxt, evs)):
        ready = []
        for th, e in enumerate(evs):
            if nxt[th] < len(e):
                k = e[nxt[th]].kind
                if k == "lock" and holder is not None:
                    continue
                ready.append(th)
        th = rng.choice(ready)
        k = evs[th][nxt[th]].kind
        if k == "lock":
            holder = th
        elif k == "unlock":
            holder = None
        order.append((th, nxt[th]))
        nxt[th] += 1
    fail = {(th, i) for th, i in order
            if evs[th][i].kind == "poke" and evs[th][i].may_fail and rng.random() < p_fail}
    return KeySchedule(sc, order, fail, {})
