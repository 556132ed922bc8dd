"""An assembler for llvm-objdump syntax (and the printer's lossless extensions).

One instruction per line. ``#`` and ``;`` start comments; ``NAME:`` defines a label usable
as a jump or call target (``goto NAME``, ``call NAME``); a leading ``pc:`` with the hex
bytes objdump prints, objdump's trailing ``<sym+off>`` annotations and its header lines
are ignored. Jump targets are ``+N``/``-N`` (slots, relative to the next instruction) or
a label. ``call N`` is a helper call, ``call pc+N`` / ``call LABEL`` a bpf-to-bpf call,
``call kfunc ID[, OFF]`` a kfunc call, ``callx rN`` a call of the helper whose id is
in rN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from model.errors import AsmError, IsaError
from model.isa import opcodes as oc
from model.isa.insn import (
    Alu, Atomic, Call, CallX, Endian, Exit, Insn, Jump, LegacyLoad, Load, LoadImm64, MayGoto,
    LoadAcquire, StoreRelease,
    Store,
)
from model.isa.llvm_fmt import ALU_STR, ATOMIC_STR, JA_NAMES, JMP_STR

_ALU_BY_STR = {s: op for op, s in ALU_STR.items() if op not in ("movsx",)}
_JMP_BY_STR = {s: c for c, s in JMP_STR.items()}
_JA_BY_NAME = {name: key for key, name in JA_NAMES.items()}
_ATOMIC_BY_STR = {s: op for op, s in ATOMIC_STR.items()}
_SIZE_OF_TYPE = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "s8": 1, "s16": 2, "s32": 4}

_NUM = r"[+-]?\s*(?:0x[0-9a-fA-F]+|\d+)"
_TOKENS = {
    "R": r"([rw]\d+)",  # a register, r or w
    "N": f"({_NUM})",  # a number
    "RN": rf"([rw]\d+|{_NUM})",  # a register or a number
    "T": r"([us]\d+)",  # a load/store type
    "L": r"([+-]\s*(?:0x[0-9a-fA-F]+|\d+)|[A-Za-z_.$][\w.$]*)",  # a jump target
    "MEM": r"\(\s*(r\d+)\s*([+-])\s*(0x[0-9a-fA-F]+|\d+)\s*\)",  # (rN +- off)
    "ADDR": r"(r\d+)\s*([+-])\s*(0x[0-9a-fA-F]+|\d+)",  # rN +- off
    "AOP": r"(\+|\||&|\^)",
    "ALU": r"(s>>=|s/=|s%=|<<=|>>=|\+=|-=|\*=|/=|\|=|&=|%=|\^=|=)",
    "JOP": r"(s>=|s<=|s>|s<|==|!=|>=|<=|>|<|&)",
}


def _rx(template: str) -> re.Pattern:
    """Compile a regex template: a space is optional whitespace, ``{X}`` a token group."""
    body = re.sub(r"\{([A-Z]+)\}", lambda m: _TOKENS[m.group(1)], template.replace(" ", r"\s*"))
    return re.compile("^" + body + "$")


class _Err(Exception):
    pass


def _num(text: str, lo: int, hi: int, what: str) -> int:
    t = re.sub(r"\s", "", text)
    neg = t.startswith("-")
    t = t.lstrip("+-")
    v = int(t, 16) if t.lower().startswith("0x") else int(t, 10)
    v = -v if neg else v
    if not lo <= v <= hi:
        raise _Err(f"{what} {text.strip()} out of range")
    return v


def _imm32(text: str) -> int:
    """A 32-bit immediate: signed, or unsigned up to 0xffffffff (wrapped to signed)."""
    v = _num(text, -(1 << 31), (1 << 32) - 1, "immediate")
    return v - (1 << 32) if v >= 1 << 31 else v


def _off(sign: str, text: str) -> int:
    v = _num(text, 0, 1 << 15, "offset")
    v = -v if sign == "-" else v
    if not -(1 << 15) <= v < 1 << 15:
        raise _Err(f"offset {sign}{text} out of range")
    return v


def _reg(text: str, *, wide: bool | None = None) -> int:
    """Register number; ``wide`` True/False requires an ``r``/``w`` prefix."""
    n = int(text[1:])
    if n > oc.MAX_REG:
        raise _Err(f"invalid register {text} (registers are r0-r10)")
    if wide is True and text[0] != "r":
        raise _Err(f"expected a 64-bit register r{n}, not {text}")
    if wide is False and text[0] != "w":
        raise _Err(f"expected a 32-bit register w{n}, not {text}")
    return n


def _same_width(*regs: str) -> bool:
    if len({r[0] for r in regs}) != 1:
        raise _Err("mixed 32-bit (w) and 64-bit (r) registers: " + ", ".join(regs))
    return regs[0][0] == "r"


@dataclass
class Pending:
    """An instruction whose jump/call target is still a label."""

    make: Callable[[int], Insn]  # delta -> instruction
    label: str
    slots: int = 1


def _target(text: str, make: Callable[[int], Insn]) -> Insn | Pending:
    t = re.sub(r"\s", "", text)
    if t[0] in "+-":
        return make(_num(t, -(1 << 31), (1 << 31) - 1, "jump distance"))
    return Pending(make, t)


def _p_alu(m):
    dst, op, rhs = m.group(1), m.group(2), m.group(3)
    if op not in _ALU_BY_STR:
        raise _Err(f"unknown ALU operator {op}")
    if re.fullmatch(r"[rw]\d+", rhs):
        wide = _same_width(dst, rhs)
        return Alu(_ALU_BY_STR[op], wide, _reg(dst), _reg(rhs), 0,
                   1 if op in ("s/=", "s%=") else 0)
    return Alu(_ALU_BY_STR[op], dst[0] == "r", _reg(dst), None, _imm32(rhs),
               1 if op in ("s/=", "s%=") else 0)


def _p_movsx(m):
    wide = _same_width(m.group(1), m.group(3))
    return Alu("movsx", wide, _reg(m.group(1)), _reg(m.group(3)), 0, int(m.group(2)))


def _p_neg(m):
    wide = _same_width(m.group(1), m.group(2))
    if _reg(m.group(1)) != _reg(m.group(2)):
        raise _Err("neg must use the same register on both sides")
    return Alu("neg", wide, _reg(m.group(1)))


def _p_endian(m):
    if _reg(m.group(1), wide=True) != _reg(m.group(4), wide=True):
        raise _Err("byte swap must use the same register on both sides")
    return Endian(m.group(2), int(m.group(3)), _reg(m.group(1)))


def _p_lddw(m):
    v = _num(m.group(2), -(1 << 63), (1 << 64) - 1, "64-bit immediate")
    return LoadImm64.from_value(_reg(m.group(1), wide=True), v)


def _p_ld_pseudo(m):
    src = _num(m.group(2), 0, 6, "pseudo source")
    imm2 = _imm32(m.group(4)) if m.group(4) else 0
    return LoadImm64(_reg(m.group(1), wide=True), src, _imm32(m.group(3)), imm2)


def _p_load(m):
    typ = m.group(2)
    if typ == "s64":
        raise _Err("there is no sign-extending 64-bit load")
    if m.group(1)[0] == "w" and (typ[0] == "s" or typ == "u64"):
        raise _Err(f"a {typ} load needs a 64-bit destination register")
    return Load(_SIZE_OF_TYPE[typ], _reg(m.group(1)), _reg(m.group(3), wide=True),
                _off(m.group(4), m.group(5)), typ[0] == "s")


def _p_load_acq(m):
    return LoadAcquire(_store_size(m.group(2)), _reg(m.group(1)), _reg(m.group(3), wide=True),
                       _off(m.group(4), m.group(5)))


def _p_store_rel(m):
    return StoreRelease(_store_size(m.group(1)), _reg(m.group(2), wide=True),
                        _off(m.group(3), m.group(4)), _reg(m.group(5)))


def _store_size(typ: str) -> int:
    if typ[0] == "s":
        raise _Err(f"stores take unsigned types, not {typ}")
    return _SIZE_OF_TYPE[typ]


def _p_store(m):
    size, dst = _store_size(m.group(1)), _reg(m.group(2), wide=True)
    off, rhs = _off(m.group(3), m.group(4)), m.group(5)
    if re.fullmatch(r"[rw]\d+", rhs):
        return Store(size, dst, off, _reg(rhs))
    return Store(size, dst, off, None, _imm32(rhs))


def _p_lock(m):
    return Atomic(_store_size(m.group(1)), _ATOMIC_BY_STR[m.group(5) + "="], False,
                  _reg(m.group(2), wide=True), _reg(m.group(6)), _off(m.group(3), m.group(4)))


def _p_fetch(m):
    if _reg(m.group(1)) != _reg(m.group(7)):
        raise _Err("atomic_fetch result and operand must be the same register")
    return Atomic(_store_size(m.group(3)), m.group(2), True, _reg(m.group(4), wide=True),
                  _reg(m.group(7)), _off(m.group(5), m.group(6)))


def _p_xchg(m):
    if _reg(m.group(1)) != _reg(m.group(6)):
        raise _Err("xchg result and operand must be the same register")
    size = 8 if m.group(2) == "xchg_64" else 4
    return Atomic(size, "xchg", True, _reg(m.group(3), wide=True), _reg(m.group(6)),
                  _off(m.group(4), m.group(5)))


def _p_cmpxchg(m):
    if _reg(m.group(1)) != 0 or _reg(m.group(6)) != 0:
        raise _Err("cmpxchg compares and returns r0")
    size = 8 if m.group(2) == "cmpxchg_64" else 4
    return Atomic(size, "cmpxchg", True, _reg(m.group(3), wide=True), _reg(m.group(7)),
                  _off(m.group(4), m.group(5)))


def _p_skb(m):
    if _reg(m.group(1), wide=True) != 0:
        raise _Err("packet loads load into r0")
    size = _store_size(m.group(2))
    if m.group(3):
        return LegacyLoad(size, "ind", _reg(m.group(3), wide=True),
                          _imm32(m.group(4)) if m.group(4) else 0)
    return LegacyLoad(size, "abs", None, _imm32(m.group(5)))


def _p_ja(m):
    is32, static = _JA_BY_NAME[m.group(1)]
    if is32:
        return _target(m.group(2), lambda d: Jump("ja", True, 0, None, d, 0, static))
    return _target(m.group(2), lambda d: Jump("ja", False, 0, None, 0, d, static))


def _p_if(m):
    dst, op, rhs = m.group(1), m.group(2), m.group(3)
    cond = _JMP_BY_STR[op]
    if re.fullmatch(r"[rw]\d+", rhs):
        is32 = not _same_width(dst, rhs)
        src, imm = _reg(rhs), 0
    else:
        is32, src, imm = dst[0] == "w", None, _imm32(rhs)
    d = _reg(dst)
    return _target(m.group(4), lambda off: Jump(cond, is32, d, src, imm, off))


def _p_call(m):
    t = re.sub(r"\s", "", m.group(1))
    if re.fullmatch(r"[+-]?(0x[0-9a-fA-F]+|\d+)", t):
        return Call(oc.CALL_HELPER, _imm32(t))
    return _target(t, lambda d: Call(oc.CALL_PSEUDO, d))


def _p_call_pc(m):
    return _target(m.group(1), lambda d: Call(oc.CALL_PSEUDO, d))


def _p_kfunc(m):
    off = _num(m.group(2), -(1 << 15), (1 << 15) - 1, "kfunc offset") if m.group(2) else 0
    return Call(oc.CALL_KFUNC, _imm32(m.group(1)), off)


_JA_ALT = "|".join(sorted(_JA_BY_NAME, key=len, reverse=True))
_RULES: list[tuple[re.Pattern, Callable]] = [
    (_rx("exit"), lambda m: Exit()),
    (_rx(f"({_JA_ALT}) {{L}}"), _p_ja),
    (_rx("may_goto {L}"), lambda m: _target(m.group(1), lambda d: MayGoto(d))),
    (_rx("callx {R}"), lambda m: CallX(_reg(m.group(1), wide=True))),
    (_rx("call kfunc {N}(?: , {N})?"), _p_kfunc),
    (_rx(r"call pc ([+-] (?:0x[0-9a-fA-F]+|\d+))"), _p_call_pc),
    (_rx("call {L}"), _p_call),
    (_rx("call {N}"), _p_call),
    (_rx("if {R} {JOP} {RN} goto {L}"), _p_if),
    (_rx("ld_pseudo {R} , {N} , {N}(?: , {N})?"), _p_ld_pseudo),
    (_rx("{R} = {N} ll"), _p_lddw),
    (_rx(r"{R} = \*\( {T} \* \) skb\[ (?:{R}(?: \+ {N})?|{N}) \]"), _p_skb),
    (_rx(r"{R} = \*\( {T} \* \) {MEM}"), _p_load),
    (_rx(r"\*\( {T} \* \) {MEM} = {RN}"), _p_store),
    (_rx(r"{R} = load_acquire\( \( {T} \* \) {MEM} \)"), _p_load_acq),
    (_rx(r"store_release\( \( {T} \* \) {MEM} , {R} \)"), _p_store_rel),
    (_rx(r"lock \*\( {T} \* \) {MEM} {AOP}= {R}"), _p_lock),
    (_rx(r"{R} = atomic_fetch_(add|or|and|xor)\( \( {T} \* \) {MEM} , {R} \)"), _p_fetch),
    (_rx(r"{R} = (xchg_64|xchg32_32)\( {ADDR} , {R} \)"), _p_xchg),
    (_rx(r"{R} = (cmpxchg_64|cmpxchg32_32)\( {ADDR} , {R} , {R} \)"), _p_cmpxchg),
    (_rx(r"{R} = (le|be|bswap)(16|32|64) {R}"), _p_endian),
    (_rx("{R} = -{R}"), _p_neg),
    (_rx(r"{R} = \(s(8|16|32)\) {R}"), _p_movsx),
    (_rx("{R} {ALU} {RN}"), _p_alu),
]

_HEADER = re.compile(r"^(?:[0-9a-fA-F]+\s+<[^>]*>:|Disassembly of section .*:|.*file format .*)$")
_PC_BYTES = re.compile(r"^\d+:\s*(?:[0-9a-fA-F]{2}(?:\s+|$))*")
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*)\s*:")
_ANNOT = re.compile(r"\s*<[^<>]*>\s*$")


def _parse(text: str) -> Insn | Pending:
    for rx, build in _RULES:
        m = rx.match(text)
        if m:
            return build(m)
    raise _Err(f"cannot parse instruction {text!r}")


def assemble(text: str) -> list[Insn]:
    """Assemble llvm-objdump syntax into typed instructions (``AsmError`` on bad input)."""
    items: list[tuple[int, Insn | Pending]] = []
    labels: dict[str, int] = {}
    pcs: list[int] = []
    pc = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line or _HEADER.match(line):
            continue
        line = _ANNOT.sub("", _PC_BYTES.sub("", line, count=1)).strip()
        while m := _LABEL.match(line):
            if m.group(1) in labels:
                raise AsmError(f"label {m.group(1)!r} defined twice", line=lineno)
            labels[m.group(1)] = pc
            line = line[m.end():].strip()
        if not line:
            continue
        try:
            item = _parse(line)
        except _Err as e:
            raise AsmError(str(e), line=lineno) from None
        except IsaError as e:
            raise AsmError(e.cause, line=lineno) from None
        items.append((lineno, item))
        pcs.append(pc)
        pc += item.slots
    return resolve_labels([(lineno, at, item) for (lineno, item), at in zip(items, pcs)],
                          labels)


def resolve_labels(items, labels: dict[str, int]) -> list[Insn]:
    """``items``: (line number, pc, instruction or ``Pending``); every ``Pending`` becomes
    its instruction with the distance to its label's pc. Shared by both assemblers."""
    out: list[Insn] = []
    for lineno, at, item in items:
        if isinstance(item, Pending):
            if item.label not in labels:
                raise AsmError(f"undefined label {item.label!r}", line=lineno)
            try:
                item = item.make(labels[item.label] - at - 1)
            except IsaError as e:
                raise AsmError(e.cause, line=lineno) from None
        out.append(item)
    return out
