"""The verifier rewrites that change what the JIT sees, as far as this model knows them
(measured on Linux 6.18 from the xlated dumps; the JIT input is the rewritten program).

Modelled: ``opt_remove_nops`` (``ja +0`` removed), the division guards of
``do_misc_fixups`` (div/mod by a register: zero guard; sdiv/smod by a register: -1 / 0
guard through BPF_REG_AX; sdiv/smod by the constant -1), and the socket-filter context
conversions of the three ``__sk_buff`` fields ``tests/progen.py`` reads (mark -> u32 at
skb+164, queue_mapping -> u16 at skb+124, priority -> u32 at skb+140: struct sk_buff of
this kernel build).

Not modelled (difference classes when comparing ``jit(xlate(prog))`` with the kernel):
dead-branch hard-wiring and dead-code removal (needs the verifier's reachability: branches
it decides from known values become ``ja``, unreached code goes), other ctx conversions,
helper inlining (map lookups in arrays, per-CPU helpers), may_goto, LD_ABS/IND.
"""

from __future__ import annotations

from model.isa.insn import Raw
from model.x86.emit import AX
from model.x86.jit import second_slots

SKB_FIELDS = {8: (0x61, 164), 12: (0x69, 124), 32: (0x61, 140)}  # off -> (LDX code, skb off)
_NOP = Raw(0x05, 0, 0, 0, 0)


def _guard(r: Raw) -> list[Raw] | None:
    code, op, cls = r.code, r.code & 0xf0, r.code & 7
    if op not in (0x30, 0x90) or cls not in (4, 7):
        return None
    is64, isdiv, signed = cls == 7, op == 0x30, r.off == 1
    alu, jmp = (0x07 if is64 else 0x04), (0x05 if is64 else 0x06)
    if not code & 0x08:                                  # BPF_K
        if signed and r.imm == -1:
            return [Raw(alu | 0x80, r.dst, 0, 0, 0)] if isdiv else [Raw(0xb4, r.dst, 0, 0, 0)]
        return None
    d, s = r.dst, r.src
    if signed and isdiv:
        return [Raw(0xbf, AX, s, 0, 0), Raw(alu, AX, 0, 0, 1), Raw(jmp | 0x20, AX, 0, 4, 1),
                Raw(jmp | 0x10, AX, 0, 1, 0), Raw(alu | 0xb0, d, 0, 0, 0),
                Raw(alu | 0x80, d, 0, 0, 0), Raw(0x05, 0, 0, 1, 0), r]
    if signed:
        out = [Raw(0xbf, AX, s, 0, 0), Raw(alu, AX, 0, 0, 1), Raw(jmp | 0x20, AX, 0, 3, 1),
               Raw(jmp | 0x10, AX, 0, 3 + (not is64), 1), Raw(0xb4, d, 0, 0, 0),
               Raw(0x05, 0, 0, 1, 0), r]
    elif isdiv:
        return [Raw(jmp | 0x50, s, 0, 2, 0), Raw(0xac, d, d, 0, 0), Raw(0x05, 0, 0, 1, 0), r]
    else:
        out = [Raw(jmp | 0x10, s, 0, 1 + (not is64), 0), r]
    if not is64:
        out += [Raw(0x05, 0, 0, 1, 0), Raw(0xbc, d, d, 0, 0)]
    return out


def xlate(raws: list[Raw], prog_type: str = "socket_filter") -> list[Raw]:
    """The modelled part of the verifier's rewrites of one program (raw slots)."""
    second = second_slots(raws)
    groups: list[tuple[int, list[Raw]]] = []            # (original pc, replacement)
    for pc, r in enumerate(raws):
        if pc in second:
            continue
        if r == _NOP:
            groups.append((pc, []))
            continue
        rep = _guard(r)
        if rep is None and prog_type == "socket_filter" and r.code == 0x61 and r.src == 1 \
                and r.off in SKB_FIELDS:
            c, o = SKB_FIELDS[r.off]
            rep = [Raw(c, r.dst, 1, o, 0)]
        if rep is None:
            rep = [r, raws[pc + 1]] if r.code == 0x18 else [r]
        groups.append((pc, rep))
    new_pc, n = {}, 0
    for pc, rep in groups:
        new_pc[pc] = n
        n += len(rep)
    new_pc[len(raws)] = n
    out: list[Raw] = []
    for pc, rep in groups:
        # only a single original instruction can be a jump or call (guards wrap ALU ops)
        out += [_retarget(rep[0], pc, new_pc, len(out))] if len(rep) == 1 else rep
    return out


def _retarget(r: Raw, pc: int, new_pc: dict[int, int], at: int) -> Raw:
    code, cls = r.code, r.code & 7
    if cls in (5, 6) and code not in (0x85, 0x95):
        dist = r.imm if code == 0x06 else r.off
        t = _first_kept(pc + 1 + dist, new_pc)
        nd = t - at - 1
        return r._replace(imm=nd) if code == 0x06 else r._replace(off=nd)
    if code == 0x85 and r.src == 1:
        return r._replace(imm=_first_kept(pc + 1 + r.imm, new_pc) - at - 1)
    return r


def _first_kept(pc: int, new_pc: dict[int, int]) -> int:
    while pc not in new_pc:
        pc += 1
    return new_pc[pc]
