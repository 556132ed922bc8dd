"""An assembler for the bpf_conformance suite's uBPF-style syntax, into ``model.isa`` types.

One instruction per line; ``#`` starts a comment; ``NAME:`` defines a label (slot index,
an ``lddw`` counts 2). As in the suite's own assembler, a jump or call to ``exit`` that
names no label goes to the first ``exit`` instruction. Registers are ``%r0``..``%r10``.

- ``OP[32|64] %rD, %rS|IMM``: ALU, no suffix = 64-bit; OP is one of add sub mul div sdiv
  or and lsh rsh mod smod xor mov arsh. ``neg[32|64] %rD``: negation.
- ``movsx{8,16,32}{32,64} %rD, %rS``: sign-extending move (``movsx1632``: the low 16 bits
  into a 32-bit register).
- ``le16|32|64``, ``be16|32|64``, ``swap16|32|64`` = ``bswap16|32|64`` ``%rD``: byte swaps.
- ``lddw %rD, IMM64``: ld_imm64.
- ``ldx{b,h,w,dw} %rD, [%rS+OFF]``; ``ldx{b,h,w}sx``: sign-extending loads.
- ``st{b,h,w,dw} [%rD+OFF], IMM``; ``stx{b,h,w,dw} [%rD+OFF], %rS``.
- ``lock [fetch] OP[32] [%rD+OFF], %rS``: atomics, OP in add and or xor xchg cmpxchg
  (``32``: 4 bytes).
- ``ldabs{b,h,w} IMM``, ``ldind{b,h,w} %rS, IMM``: legacy packet loads.
- ``JCC[32] %rD, %rS|IMM, TARGET``: jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle.
- ``ja TARGET`` (``goto``, distance in off), ``ja32 TARGET`` (``gotol``, distance in imm).
- ``call N`` / ``call helper N`` (helper), ``call local TARGET`` (bpf-to-bpf), ``call runtime
  N`` (kfunc), ``call %rN`` / ``callx %rN`` (callx: the helper whose id is in rN), ``exit``.

TARGET is ``+N``/``-N`` (slots after the next instruction) or a label. Immediates are
decimal (32-bit: signed) or ``0x`` hex (up to 0xffffffff, wrapped to signed); lddw takes
any 64-bit value.
Errors are ``AsmError(cause, line=N)``.
"""

from __future__ import annotations

import re
from typing import Callable

from model.errors import AsmError, IsaError
from model.isa import (Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load,
                       LoadAcquire, LoadImm64, Store, StoreRelease)
from model.isa import opcodes as oc
from model.isa.asm import Pending, resolve_labels

SIZES = {"b": 1, "h": 2, "w": 4, "dw": 8}
ALU_OPS = ("add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "smod", "xor",
           "mov", "arsh", "neg")
JCC = ("jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle")
ATOMIC = ("add", "and", "or", "xor", "xchg", "cmpxchg")

_ALU_RX = re.compile(rf"^({'|'.join(ALU_OPS)})(32|64)?$")
_MOVSX_RX = re.compile(r"^movsx(8|16|32)(32|64)$")
_END_RX = re.compile(r"^(le|be|swap|bswap)(16|32|64)$")
_JCC_RX = re.compile(rf"^({'|'.join(JCC)})(32)?$")
_LDX_RX = re.compile(r"^ldx(b|h|w|dw)(sx)?$")
_ST_RX = re.compile(r"^st(x)?(b|h|w|dw)$")
_LEGACY_RX = re.compile(r"^ld(abs|ind)(b|h|w)$")
_LOCK_RX = re.compile(rf"^(fetch\s+)?({'|'.join(ATOMIC)})(32)?\s+(\[[^\]]*\])\s*,\s*(\S+)$")
_MEM_RX = re.compile(r"^\[\s*(%?r\d+)\s*(?:([+-])\s*(0x[0-9a-fA-F]+|\d+))?\s*\]$")
_REG_RX = re.compile(r"^%?r(\d+)$")
_NUM_RX = re.compile(r"^[+-]?(0[xX][0-9a-fA-F]+|\d+)$")
_LABEL_RX = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:")
_IDENT_RX = re.compile(r"^[A-Za-z_.$][\w.$]*$")


class _Err(Exception):
    pass


def _num(text: str, lo: int, hi: int, what: str) -> int:
    t = text.strip()
    if not _NUM_RX.match(t):
        raise _Err(f"bad {what} {t!r}")
    v = int(t, 0) if not re.match(r"^[+-]?0\d", t) else int(t, 10)
    if not lo <= v <= hi:
        raise _Err(f"{what} {t} out of range")
    return v


def _imm32(text: str) -> int:
    """Decimal: signed 32-bit; hex: also up to 0xffffffff (wrapped to signed)."""
    hi = (1 << 32) - 1 if "x" in text.lower() else (1 << 31) - 1
    v = _num(text, -(1 << 31), hi, "immediate")
    return v - (1 << 32) if v >= 1 << 31 else v


def _reg(text: str) -> int:
    m = _REG_RX.match(text.strip())
    if not m or int(m.group(1)) > oc.MAX_REG:
        raise _Err(f"invalid register {text.strip()!r} (registers are %r0-%r10)")
    return int(m.group(1))


def _is_reg(text: str) -> bool:
    return bool(_REG_RX.match(text.strip()))


def _mem(text: str) -> tuple[int, int]:
    m = _MEM_RX.match(text.strip())
    if not m:
        raise _Err(f"bad memory operand {text.strip()!r} (expected [%rN+OFF])")
    off = 0
    if m.group(2):
        off = _num(m.group(3), 0, 1 << 15, "offset")
        off = -off if m.group(2) == "-" else off
        if off >= 1 << 15:
            raise _Err(f"offset {m.group(2)}{m.group(3)} out of range")
    return _reg(m.group(1)), off


def _want(ops: list[str], n: int, mnemonic: str) -> None:
    if len(ops) != n:
        raise _Err(f"{mnemonic} takes {n} operand{'s' if n != 1 else ''}, not {len(ops)}")


def _target(text: str, make: Callable[[int], Insn]) -> Insn | Pending:
    t = re.sub(r"\s", "", text)
    if t[:1] in ("+", "-"):
        return make(_num(t, -(1 << 31), (1 << 31) - 1, "jump distance"))
    if not _IDENT_RX.match(t):
        raise _Err(f"bad jump target {t!r} (+N, -N or a label)")
    return Pending(make, t)


def _alu(m: re.Match, ops: list[str], mnemonic: str) -> Insn:
    op, is64 = m.group(1), m.group(2) != "32"
    if op == "neg":
        _want(ops, 1, mnemonic)
        return Alu("neg", is64, _reg(ops[0]))
    _want(ops, 2, mnemonic)
    off = 1 if op in ("sdiv", "smod") else 0
    if _is_reg(ops[1]):
        return Alu(op, is64, _reg(ops[0]), _reg(ops[1]), 0, off)
    return Alu(op, is64, _reg(ops[0]), None, _imm32(ops[1]), off)


def _jcc(m: re.Match, ops: list[str], mnemonic: str) -> Insn | Pending:
    _want(ops, 3, mnemonic)
    cond, is32, dst = m.group(1), bool(m.group(2)), _reg(ops[0])
    if _is_reg(ops[1]):
        src, imm = _reg(ops[1]), 0
    else:
        src, imm = None, _imm32(ops[1])
    return _target(ops[2], lambda d: Jump(cond, is32, dst, src, imm, d))


def _call(rest: str) -> Insn | Pending:
    words = rest.split()
    if len(words) == 1 and _is_reg(words[0]):
        return CallX(_reg(words[0]))
    if len(words) == 1:
        return Call(oc.CALL_HELPER, _imm32(words[0]))
    if len(words) == 2 and words[0] == "helper":
        return Call(oc.CALL_HELPER, _imm32(words[1]))
    if len(words) == 2 and words[0] == "runtime":
        return Call(oc.CALL_KFUNC, _imm32(words[1]))
    if len(words) == 2 and words[0] == "local":
        return _target(words[1], lambda d: Call(oc.CALL_PSEUDO, d))
    raise _Err(f"bad call operands {rest!r} (call N, call local LABEL, call %rN)")


def _lock(rest: str) -> Insn:
    m = _LOCK_RX.match(rest.strip())
    if not m:
        raise _Err(f"bad atomic operation {rest.strip()!r} "
                   "(lock [fetch] add|and|or|xor|xchg|cmpxchg[32] [%rD+OFF], %rS)")
    op, size = m.group(2), 4 if m.group(3) else 8
    fetch = bool(m.group(1)) or op in oc.ATOMIC_ALWAYS_FETCH
    dst, off = _mem(m.group(4))
    return Atomic(size, op, fetch, dst, _reg(m.group(5)), off)


def _one(mnemonic: str, rest: str) -> Insn | Pending:
    if mnemonic == "lock":
        return _lock(rest)
    if mnemonic == "call":
        return _call(rest)
    ops = [o.strip() for o in rest.split(",")] if rest.strip() else []
    if mnemonic == "exit":
        _want(ops, 0, mnemonic)
        return Exit()
    if mnemonic == "callx":
        _want(ops, 1, mnemonic)
        return CallX(_reg(ops[0]))
    if mnemonic in ("ja", "ja32"):
        _want(ops, 1, mnemonic)
        if mnemonic == "ja":
            return _target(ops[0], lambda d: Jump("ja", False, off=d))
        return _target(ops[0], lambda d: Jump("ja", True, imm=d))
    if mnemonic == "lddw":
        _want(ops, 2, mnemonic)
        return LoadImm64.from_value(_reg(ops[0]),
                                    _num(ops[1], -(1 << 63), (1 << 64) - 1, "64-bit immediate"))
    if m := _ALU_RX.match(mnemonic):
        return _alu(m, ops, mnemonic)
    if m := _MOVSX_RX.match(mnemonic):
        _want(ops, 2, mnemonic)
        return Alu("movsx", m.group(2) == "64", _reg(ops[0]), _reg(ops[1]), 0, int(m.group(1)))
    if m := _END_RX.match(mnemonic):
        _want(ops, 1, mnemonic)
        kind = "bswap" if m.group(1) in ("swap", "bswap") else m.group(1)
        return Endian(kind, int(m.group(2)), _reg(ops[0]))
    if m := _JCC_RX.match(mnemonic):
        return _jcc(m, ops, mnemonic)
    if m := _LDX_RX.match(mnemonic):
        _want(ops, 2, mnemonic)
        src, off = _mem(ops[1])
        return Load(SIZES[m.group(1)], _reg(ops[0]), src, off, bool(m.group(2)))
    if m := _ST_RX.match(mnemonic):
        _want(ops, 2, mnemonic)
        dst, off = _mem(ops[0])
        if m.group(1):
            return Store(SIZES[m.group(2)], dst, off, _reg(ops[1]))
        return Store(SIZES[m.group(2)], dst, off, None, _imm32(ops[1]))
    if m := _LEGACY_RX.match(mnemonic):
        if m.group(1) == "abs":
            _want(ops, 1, mnemonic)
            return LegacyLoad(SIZES[m.group(2)], "abs", None, _imm32(ops[0]))
        _want(ops, 2, mnemonic)
        return LegacyLoad(SIZES[m.group(2)], "ind", _reg(ops[0]), _imm32(ops[1]))
    raise _Err(f"unknown mnemonic {mnemonic!r}")


_SIZE_NAMES = {v: k for k, v in SIZES.items()}


def _off(off: int) -> str:
    return f"{off:+d}" if off else ""


def format_ubpf(insn: Insn) -> str | None:
    """``insn`` in the suite's syntax (what ``assemble_ubpf`` reads back to the same
    instruction), or None for the instructions the format has no mnemonic for: ``may_goto``,
    ``ld_imm64`` of a pseudo source (map fd, map value, BTF id, function...), and ``gotol``
    with the static-branch flags."""
    r = lambda n: f"%r{n}"  # noqa: E731
    if isinstance(insn, Alu):
        w = "" if insn.is64 else "32"
        if insn.op == "neg":
            return f"neg{w} {r(insn.dst)}"
        if insn.op == "movsx":
            return f"movsx{insn.off}{'64' if insn.is64 else '32'} {r(insn.dst)}, {r(insn.src)}"
        src = r(insn.src) if insn.src is not None else str(insn.imm)
        return f"{insn.op}{w} {r(insn.dst)}, {src}"
    if isinstance(insn, Endian):
        return f"{insn.kind}{insn.width} {r(insn.dst)}"
    if isinstance(insn, LoadImm64):
        return f"lddw {r(insn.dst)}, {insn.value:#x}" if insn.src == 0 else None
    if isinstance(insn, (LoadAcquire, StoreRelease)):
        return None  # (no conformance-suite text)
    if isinstance(insn, Load):
        return (f"ldx{_SIZE_NAMES[insn.size]}{'sx' if insn.signed else ''} {r(insn.dst)}, "
                f"[{r(insn.src)}{_off(insn.off)}]")
    if isinstance(insn, Store):
        src = r(insn.src) if insn.src is not None else str(insn.imm)
        return (f"st{'x' if insn.src is not None else ''}{_SIZE_NAMES[insn.size]} "
                f"[{r(insn.dst)}{_off(insn.off)}], {src}")
    if isinstance(insn, Atomic):
        fetch = "fetch " if insn.fetch and insn.op not in oc.ATOMIC_ALWAYS_FETCH else ""
        return (f"lock {fetch}{insn.op}{'32' if insn.size == 4 else ''} "
                f"[{r(insn.dst)}{_off(insn.off)}], {r(insn.src)}")
    if isinstance(insn, LegacyLoad):
        if insn.mode == "abs":
            return f"ldabs{_SIZE_NAMES[insn.size]} {insn.imm}"
        return f"ldind{_SIZE_NAMES[insn.size]} {r(insn.src)}, {insn.imm}"
    if isinstance(insn, Jump):
        if insn.cond == "ja":
            if insn.static:
                return None
            return f"ja32 {insn.imm:+d}" if insn.is32 else f"ja {insn.off:+d}"
        src = r(insn.src) if insn.src is not None else str(insn.imm)
        return f"{insn.cond}{'32' if insn.is32 else ''} {r(insn.dst)}, {src}, {insn.off:+d}"
    if isinstance(insn, Call):
        return {oc.CALL_HELPER: f"call {insn.imm}", oc.CALL_PSEUDO: f"call local {insn.imm:+d}",
                oc.CALL_KFUNC: f"call runtime {insn.imm}"}.get(insn.src)
    if isinstance(insn, CallX):
        return f"callx {r(insn.dst)}"
    if isinstance(insn, Exit):
        return "exit"
    return None


def assemble_ubpf(text: str) -> list[Insn]:
    """Assemble uBPF/bpf_conformance syntax; ``AsmError(cause, line=N)`` on bad input."""
    items: list[tuple[int, int, Insn | Pending]] = []  # (line, pc, item)
    labels: dict[str, int] = {}
    first_exit: int | None = None
    pc = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        while m := _LABEL_RX.match(line):
            if m.group(1) in labels:
                raise AsmError(f"label {m.group(1)!r} defined twice", line=lineno)
            labels[m.group(1)] = pc
            line = line[m.end():].strip()
        if not line:
            continue
        mnemonic, _, rest = re.sub(r"\s+", " ", line).partition(" ")
        try:
            item = _one(mnemonic.lower(), rest)
        except _Err as e:
            raise AsmError(str(e), line=lineno) from None
        except IsaError as e:
            raise AsmError(e.cause, line=lineno) from None
        if isinstance(item, Exit) and first_exit is None:
            first_exit = pc
        items.append((lineno, pc, item))
        pc += item.slots
    if first_exit is not None:
        labels.setdefault("exit", first_exit)
    out = resolve_labels(items, labels)
    if not out:
        raise AsmError("no instructions")
    return out
