"""A model of Linux 6.18's x86-64 BPF JIT, byte for byte, with static-branch sites.

``jit(prog)`` translates a linked :class:`~model.program.Program` to the x86-64 image the
kernel's JIT would produce for it *as the JIT sees it* (the JIT runs after the verifier:
see "Input" below); ``jit_xlated(xlated)`` does the same for the post-verifier program the
kernel reports (``BPF_OBJ_GET_INFO_BY_FD`` ``xlated_prog_insns``), which is exactly the
JIT's input. ``disasm(image)`` lists it with iced-x86.

What is modelled (rules of ``arch/x86/net/bpf_jit_comp.c``, our own code):

* registers r0..r10 -> rax rdi rsi rdx rcx r8 rbx r13 r14 r15 rbp; BPF_REG_AX (11) -> r10,
  JIT scratch AUX -> r11;
* prologue ``0f 1f 44 00 00`` (patchable nop5), ``0f 1f 00`` (the tail-call ``xor rax,
  rax`` slot, a nop3 for eBPF programs without tail calls), ``55 48 89 e5``, ``48 81 ec
  imm32`` = round_up(stack depth, 8) when the function uses stack, then ``push`` of rbx
  r13 r14 r15 for each of r6..r9 that appears as dst or src of any instruction of the
  function; the first ``exit`` pops them, ``c9`` (leave), ``e9 rel32`` to the return
  thunk (``c3``, a plain ret, on a CPU whose kernel does not want the return thunk: the
  ``rethunk`` cpuinfo flag); later exits jump to it;
* every ALU/ALU64 op (imm8/imm32/rax short forms, mov-imm via xor / mov r32 / mov sign-
  extended, movabs), movsx, div/mod via push rax/rdx, r11 for imm or rax/rdx divisors,
  ``xor edx, edx``+div or cqo/cdq+idiv; shifts by a register as BMI2 shlx/shrx/sarx (when
  the CPU has BMI2 and the count is not already in rcx) or the push rcx / cl form; be/le/
  bswap; LDX/LDXS/ST/STX; atomics (lock add/and/or/xor, xadd, xchg, cmpxchg, the cmpxchg
  loop for fetch-and/or/xor, load-acquire/store-release); ``mov rX, percpu`` (verifier's
  inlined per-CPU helpers); calls ``e8 rel32``; JMP/JMP32 compare (``test r, r`` for 0,
  cmp imm8/imm32, ``test`` for jset) + jcc rel8/rel32;
* jump sizing: rel8 when the displacement is in -128..123 (``is_imm8_jmp_offset``) for
  ``ja``, exits-as-jumps and conditional jumps alike; ``ja -1`` -> ``eb fe``; ``ja +0``
  emits nothing;
* the pass loop: addresses start at 64 bytes per slot; passes run until the length is
  stable, then one more pass writes the image (``passes`` counts them, as the kernel's
  ``pass + 1``); from pass 15 (``MAX_PASSES - 5``) on, jump padding: a jump that would
  shrink is preceded by NOPs so the image stops shrinking (3 bytes before ``eb``, 4 before
  ``7x``, 2/5 for a vanished ``ja +0``);
* subprograms: each function is JITed separately (own prologue, stack, callee-saved set),
  then jit_subprogs' extra pass (padding on, addresses kept); the read-back image is the
  functions concatenated.

Not modelled (``Unsupported``): tail calls, kfunc calls, arena, PROBE_MEM, LD_ABS/IND,
indirect jumps, may_goto (the verifier rewrites those), classic-BPF programs, constant
blinding, CFI/IBT preambles (this kernel emits none).

Input. The kernel JITs the program after the verifier's rewrites: helper calls become
call offsets, some helpers are inlined, ctx field accesses are converted, division by a
register gets a zero guard, ``sdiv``/``smod`` by a register a -1 guard, dead branches are
hard-wired and dead code and ``ja +0`` are removed. ``jit(prog)`` takes the program as
given (no rewrites); ``jit_xlated`` takes the kernel's rewritten program. Absolute kernel
addresses (map pointers, helper/thunk/subprogram call targets, ``this_cpu_off``) are put
as zero and listed in ``relocs`` so they can be masked (``JitResult.masked()``).

Static sites (``prog.sites``), two designs:

* ``design="fixed"``: each site is one instruction of exactly 2 or 5 bytes in both states:
  on = ``eb rel8`` / ``e9 rel32`` to the site's target, off = ``66 90`` /
  ``0f 1f 44 00 00``; the length follows the JIT's own -128..123 rule, a site to the next
  instruction is 2 bytes (never 0), and once padding is on a site never shrinks (a 5-byte
  site stays ``e9`` with a small displacement) so no NOPs are ever put in front of it.
  The image holds each site in its initial state (``keys`` / ``site_states``).
* ``design="patch2023"``: the December 2023 proposal on this JIT: the site's BPF
  instruction is ``ja target`` when it initially jumps, ``ja +0`` otherwise, emitted like
  any ``ja`` (0 bytes for ``ja +0``, padding NOPs in front when padding is on); the poke
  record is (``image + addrs[i-1]``, len) with len chosen by ``is_imm8`` (-128..127) and
  the jump/NOP bytes of that length; an instruction with no jump gets no record (length
  0). So: displacement 124..127 -> JIT emitted 5 bytes, record says 2 (problem a); padded
  jump -> record starts at the NOPs (b); ``ja +0``/initially-off site -> 0 bytes (c).
  ``SiteInfo.issues()`` lists what is wrong with a record.
"""

from __future__ import annotations

from model.isa.insn import Raw
from model.program import Program
from model.x86.emit import Unsupported, X86_NOPS
from model.x86.jit import (DESIGNS, RELOC_SIZES, JitResult, SiteInfo, _SiteSpec,
                           cpu_has_bmi2, jit_raw, mask, second_slots, stack_depth)


def raws_of(prog: Program) -> list[Raw]:
    return [r for insn in prog.insns for r in insn.raw()]


def jit(prog: Program, *, bmi2: bool | None = None, design: str = "fixed",
        keys: dict[str, bool] | None = None, site_states: dict[int, bool] | None = None,
        stack_depths: dict[int, int] | None = None) -> JitResult:
    """The image of ``prog`` (see the module doc). ``bmi2``: None = this CPU's flag.
    ``keys`` (key -> on, default off) / ``site_states`` (site id -> on) give the sites'
    initial states. ``stack_depths``: function start pc -> verifier stack depth (default:
    the deepest r10-relative access, :func:`model.x86.jit.stack_depth`)."""
    keys = keys or {}
    site_states = site_states or {}
    specs = {}
    for s in prog.sites:
        on = site_states.get(s.id, keys.get(s.key, False))
        specs[s.pc] = _SiteSpec(s.target, s.jumps(bool(on)), s.pc, s.key)
    raws = raws_of(prog)
    second = second_slots(raws)
    maps = set(prog.map_refs) | {pc for pc, r in enumerate(raws) if r.code == 0x18
                                 and r.src in (1, 2, 3, 4, 5, 6) and pc not in second}
    return jit_raw(raws, func_starts=sorted(set(prog.subprogs) | set(prog.func_starts.values())),
                   sites=specs, bmi2=bmi2, design=design, stack_depths=stack_depths,
                   map_slots=maps)


def xlated_raws(xlated: bytes) -> list[Raw]:
    return [Raw.unpack(xlated, k) for k in range(len(xlated) // 8)]


def jit_xlated(xlated: bytes, *, bmi2: bool | None = None) -> JitResult:
    """The image of a kernel xlated dump (pseudo calls: distance in ``off``, callee index
    in ``imm``; map loads: src 1/2 with the map id; helper calls: raw offsets)."""
    return jit_raw(xlated_raws(xlated), calls_by_off=True, bmi2=bmi2)


def disasm(image: bytes, ip: int = 0) -> list[str]:
    """``offset: hex bytes  intel text`` per instruction (iced-x86)."""
    from iced_x86 import Decoder, Formatter, FormatterSyntax

    fmt = Formatter(FormatterSyntax.INTEL)
    out = []
    for ins in Decoder(64, image, ip=ip):
        raw = image[ins.ip - ip:ins.ip - ip + ins.len]
        out.append(f"{ins.ip:5x}: {raw.hex():<24} {fmt.format(ins)}")
    return out


def same_image(ours: JitResult, kernel: bytes) -> bool:
    """Byte-identical after masking our relocated fields in both images."""
    return len(ours.image) == len(kernel) and ours.masked() == mask(kernel, ours.relocs)


def first_difference(ours: JitResult, kernel: bytes) -> int | None:
    a, b = ours.masked(), mask(kernel[:len(ours.image)], [r for r in ours.relocs
                                                          if r[0] + 8 <= len(kernel)])
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return k
    return None if len(a) == len(kernel) else min(len(a), len(kernel))


__all__ = ["DESIGNS", "JitResult", "RELOC_SIZES", "SiteInfo", "Unsupported", "X86_NOPS",
           "cpu_has_bmi2", "disasm", "first_difference", "jit", "jit_raw", "jit_xlated",
           "mask", "raws_of", "same_image", "stack_depth", "xlated_raws"]
