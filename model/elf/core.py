"""CO-RE: resolve a program's ``.BTF.ext`` relocations against a kernel's BTF and patch
the instructions as libbpf does before loading (``bpf_core_calc_relo_insn`` /
``bpf_core_patch_insn``).

A relocation names a local type (in the object's ``.BTF``) and an access path (``"0:1:2"``:
an array index on the root, then member or array indices). The target candidates are the
kernel's types of the same kind whose name equals the local one up to a ``___flavor``
suffix; a field is matched by name (through anonymous members) with compatible types.
Every candidate that matches must give the same value. The instruction's value must be
the local (compile-time) one; it becomes the target's. A relocation no candidate satisfies
is 0 for the ``*_exists`` kinds and otherwise poisons the instruction (a call to helper
0xbad2310, which the verifier refuses if it is reached), as libbpf does.

Type-based relocations (``type_exists``, ``type_matches``, ``type_size``, the target type id)
are 0 when no candidate matches, as libbpf's; ``type_matches`` uses libbpf's stricter
relation (``_types_match``) where the others use ``bpf_core_types_are_compat``.

What this module does not resolve stays in ``Program.core_relos``, and the program is a
clean "not modelled" rejection (``model.platform.prog_types``): a relocation on an
instruction that carries no such value or whose size libbpf would refuse to change, and
any object when no kernel BTF is available.
"""

from __future__ import annotations

import functools

import os
from dataclasses import dataclass, replace

from model.elf.btf import (ARRAY, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, MODIFIERS, PTR,
                           STRUCT, UNION, Btf, BtfError, parse_btf)
from model.elf.btf_ext import CoreRelo
from model.isa import Alu, Call, LoadImm64, Load, Store

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
POISON_HELPER = 0xBAD2310  # libbpf's poisoned-instruction helper id
(FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT, FIELD_RSHIFT,
 TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS, ENUMVAL_VALUE,
 TYPE_MATCHES) = range(13)
_FIELD = {FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT,
          FIELD_RSHIFT}
_TYPE = {TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES}
_ENUMVAL = {ENUMVAL_EXISTS, ENUMVAL_VALUE}
_EXISTS = {FIELD_EXISTS, TYPE_EXISTS, ENUMVAL_EXISTS}


class Unresolved(Exception):
    """This relocation stays unapplied (the program is then not modelled)."""


@functools.lru_cache(maxsize=4)
def target_btf(path: str = VMLINUX_BTF) -> Btf | None:
    """The kernel BTF relocations resolve against (None when it cannot be read); parsed
    once per path (the running kernel's, ``VMLINUX_BTF``, is what every engine reads:
    attach targets, typed contexts, map structures)."""
    try:
        with open(path, "rb") as f:
            return parse_btf(f.read())
    except (OSError, BtfError):
        return None


def essential(name: str) -> str:
    """``task_struct___old`` -> ``task_struct`` (libbpf's flavor convention)."""
    for i in range(len(name) - 5, -1, -1):
        s = name[i:i + 5]
        if s[0] != "_" and s[1:4] == "___" and s[4] != "_":
            return name[:i + 1]
    return name


def _skip(btf: Btf, tid: int):
    t = btf.type(tid)
    while t.kind in MODIFIERS:
        t = btf.type(t.type)
    return t


def _composite(t) -> bool:
    return t.kind in (STRUCT, UNION)


def _compat(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = 0) -> bool:
    """bpf_core_fields_are_compat."""
    lt, tt = _skip(lb, lid), _skip(tb, tid)
    if _composite(lt) and _composite(tt):
        return True
    if {lt.kind, tt.kind} <= {ENUM, ENUM64}:
        return True
    if lt.kind != tt.kind:
        return False
    if lt.kind in (PTR, FLOAT):
        return True
    if lt.kind == FWD:
        return essential(lt.name) == essential(tt.name)
    if lt.kind == INT:
        return lt.int_offset == 0 and tt.int_offset == 0
    if lt.kind == ARRAY and depth < 8:
        return _compat(lb, lt.array.type, tb, tt.array.type, depth + 1)
    return False


def _kinds_compat(a, b) -> bool:
    return a.kind == b.kind or {a.kind, b.kind} <= {ENUM, ENUM64}


_DEPTH = 32  # libbpf's recursion limits (both relations): deeper is an error


def _types_compat(lb: Btf, lid: int, tb: Btf, tid: int, level: int = _DEPTH) -> bool:
    """bpf_core_types_are_compat: the relation of type-based relocations (the caller
    matched the root names): same kinds through pointers, arrays and function prototypes;
    integers other than the deprecated bitfield-like ones are all compatible."""
    if level <= 0:
        raise Unresolved("type relation nested too deep")
    for _ in range(_DEPTH):
        lt, tt = _skip(lb, lid), _skip(tb, tid)
        if not _kinds_compat(lt, tt):
            return False
        if lt.kind in (0, STRUCT, UNION, ENUM, FWD, ENUM64):
            return True
        if lt.kind == INT:
            return lt.int_offset == 0 and tt.int_offset == 0
        if lt.kind == PTR:
            lid, tid = lt.type, tt.type
        elif lt.kind == ARRAY:
            lid, tid = lt.array.type, tt.array.type
        elif lt.kind == FUNC_PROTO:
            if not _params(lt, tt, lambda a, b: _types_compat(lb, a, tb, b, level - 1)):
                return False
            lid, tid = lt.type, tt.type
        else:
            return False
    raise Unresolved("type relation nested too deep")


def _params(lt, tt, related) -> bool:
    """Two function prototypes of equal arity whose parameters are related pairwise (the
    return types are the caller's next step)."""
    return len(lt.members) == len(tt.members) and all(
        related(a.type, b.type) for a, b in zip(lt.members, tt.members))


def _names_match(ln: str, tn: str) -> bool:
    return essential(ln) == essential(tn) if tn else not ln


def _types_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool = False,
                 level: int = _DEPTH) -> bool:
    """libbpf's ``__bpf_core_types_match`` (``bpf_core_type_matches()``): modifiers and
    typedefs stripped; names equal up to a flavor; kinds equal (enum ~ enum64; behind a
    pointer a struct/union also matches a forward declaration of its kind); integers of
    equal size and signedness; arrays of equal length; every local member found by name
    in the target with a matching type; every local enumerator found by name, enums of
    equal size; function prototypes of equal arity, parameters and return matching."""
    if level <= 0:
        raise Unresolved("type relation nested too deep")
    for _ in range(_DEPTH):
        lt, tt = _skip(lb, lid), _skip(tb, tid)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == 0:
            return tk == 0
        if lk == FWD:
            if behind_ptr and lk != tk:
                return tk == (UNION if lt.kind_flag else STRUCT)
            return lk == tk and lt.kind_flag == tt.kind_flag
        if lk in (ENUM, ENUM64):
            return tk in (ENUM, ENUM64) and lt.size == tt.size \
                and len(lt.members) <= len(tt.members) \
                and all(any(_names_match(e.name, f.name) for f in tt.members)
                        for e in lt.members)
        if lk in (STRUCT, UNION):
            if behind_ptr:
                return lk == tk or (tk == FWD and tt.kind_flag == (lk == UNION))
            return lk == tk and len(lt.members) <= len(tt.members) and all(
                any(_names_match(m.name, n.name)
                    and _types_match(lb, m.type, tb, n.type, behind_ptr, level - 1)
                    for n in tt.members) for m in lt.members)
        if lk != tk:
            return False
        if lk == INT:
            return lt.int_bits == tt.int_bits and lt.int_encoding & 1 == tt.int_encoding & 1
        if lk == PTR:
            behind_ptr, lid, tid = True, lt.type, tt.type
        elif lk == ARRAY:
            if lt.array.nelems != tt.array.nelems:
                return False
            lid, tid = lt.array.type, tt.array.type
        elif lk == FUNC_PROTO:
            ptr = behind_ptr
            if not _params(lt, tt, lambda a, b: _types_match(lb, a, tb, b, ptr, level - 1)):
                return False
            lid, tid = lt.type, tt.type
        else:
            return False
    raise Unresolved("type relation nested too deep")


@dataclass(frozen=True)
class _Field:
    """Where an access path lands: bit offset, the field's type id, its bitfield size (0:
    not a bitfield)."""

    bit: int
    tid: int
    bitsz: int = 0


def _bitsz(t, m) -> int:
    return m.offset >> 24 if t.kind_flag else 0


def _local_spec(btf: Btf, relo: CoreRelo) -> tuple[list, _Field]:
    """(accesses, field): accesses are (index, member name or None)."""
    try:
        idx = [int(x) for x in relo.access.split(":")]
    except ValueError:
        raise Unresolved(f"bad access string {relo.access!r}") from None
    bit = idx[0] * btf.size_of(relo.type_id) * 8
    acc, tid, bitsz = [(idx[0], None)], relo.type_id, 0
    for i in idx[1:]:
        t = _skip(btf, tid)
        if _composite(t):
            if i >= len(t.members):
                raise Unresolved(f"member {i} of {t} does not exist")
            m = t.members[i]
            bit += m.bit_offset(t.kind_flag)
            bitsz = _bitsz(t, m)
            if m.name:
                acc.append((i, m.name))
            tid = m.type
        elif t.kind == ARRAY:
            bit += i * btf.size_of(t.array.type) * 8
            acc.append((i, None))
            tid, bitsz = t.array.type, 0
        else:
            raise Unresolved(f"access {relo.access} goes through {t}")
    return acc, _Field(bit, tid, bitsz)


def _match_member(lb, lname, lmt, tb, tid, depth=0) -> _Field | None:
    """Member ``lname`` of composite ``tid`` (offset relative to it), looking through
    anonymous members (bpf_core_match_member); None when absent or incompatible."""
    t = _skip(tb, tid)
    if not _composite(t) or depth > 16:
        return None
    for m in t.members:
        off = m.bit_offset(t.kind_flag)
        if not m.name:
            got = _match_member(lb, lname, lmt, tb, m.type, depth + 1)
            if got is not None:
                return _Field(off + got.bit, got.tid, got.bitsz)
        elif m.name == lname:
            return _Field(off, m.type, _bitsz(t, m)) if _compat(lb, lmt, tb, m.type) else None
    return None


def _target_field(lb: Btf, relo: CoreRelo, acc: list, tb: Btf, cand: int) -> _Field | None:
    """Where the access path lands in candidate ``cand``, or None."""
    bit = acc[0][0] * tb.size_of(cand) * 8
    tid, lt_tid, bitsz = cand, relo.type_id, 0
    for k, (i, name) in enumerate(acc[1:], 1):
        if name is not None:
            lmt = _local_member_type(lb, lt_tid, name)
            got = _match_member(lb, name, lmt, tb, tid)
            if got is None:
                return None
            bit += got.bit
            tid, lt_tid, bitsz = got.tid, lmt, got.bitsz
        else:
            t = _skip(tb, tid)
            if t.kind != ARRAY:
                return None
            last = k == len(acc) - 1
            if i >= t.array.nelems and not (t.array.nelems == 0 and last):
                return None
            bit += i * tb.size_of(t.array.type) * 8
            tid, bitsz = t.array.type, 0
            lt_tid = _skip(lb, lt_tid).array.type
    return _Field(bit, tid, bitsz)


def _local_member_type(btf: Btf, tid: int, name: str, depth: int = 0) -> int:
    t = _skip(btf, tid)
    for m in t.members:
        if m.name == name:
            return m.type
        if not m.name and _composite(_skip(btf, m.type)) and depth < 16:
            try:
                return _local_member_type(btf, m.type, name, depth + 1)
            except Unresolved:
                pass
    raise Unresolved(f"member {name} not found in {t}")


def _field_value(kind: int, btf: Btf, f: _Field) -> tuple[int, int]:
    """(value, load size) as bpf_core_calc_field_relo computes them: a bitfield is read
    with the smallest aligned load that covers it."""
    mt = _skip(btf, f.tid)
    if f.bitsz:
        size = mt.size
        off = f.bit // 8 // size * size
        while f.bit + f.bitsz - off * 8 > size * 8:
            if size >= 8:
                raise Unresolved("a bitfield no 64-bit load covers")
            size *= 2
            off = f.bit // 8 // size * size
        bits = f.bitsz
    else:
        size, off, bits = btf.size_of(f.tid), f.bit // 8, btf.size_of(f.tid) * 8
    if kind == FIELD_BYTE_OFFSET:
        return off, size
    if kind == FIELD_BYTE_SIZE:
        return size, size
    if kind == FIELD_EXISTS:
        return 1, size
    if kind == FIELD_SIGNED:
        if mt.kind == INT:
            return int(bool(mt.int_encoding & 1)), size
        return int(mt.kind in (ENUM, ENUM64) and mt.kind_flag), size
    if kind == FIELD_LSHIFT:
        return 64 - (f.bit + bits - off * 8), size
    return 64 - bits, size  # FIELD_RSHIFT


def _size_adjustable(lb: Btf, lf: _Field, tb: Btf, tf: _Field) -> bool:
    """libbpf lets a load/store change size only for pointers and unsigned integers."""
    lt, tt = lb.type(lf.tid), tb.type(tf.tid)
    if lt.kind == PTR and tt.kind == PTR:
        return True
    return (lt.kind == INT and tt.kind == INT and not lt.int_encoding & 1
            and not tt.int_encoding & 1)


def _candidates(lb: Btf, tb: Btf, tid: int) -> list[int]:
    """The target types of the local type's kind and essential name."""
    lt = lb.type(tid)
    name = essential(lt.name)
    if not name:
        raise Unresolved(f"{lt} has no name")
    return [c for c in tb.names.get(name, ())
            if tb.types[c].kind == lt.kind or {tb.types[c].kind, lt.kind} <= {ENUM, ENUM64}]


@dataclass(frozen=True)
class Resolution:
    """A relocation's local (compile-time) value and its target value (None: no candidate
    satisfies it); for a field's byte offset, the load sizes (-1: libbpf refuses to
    change it); ``validate``: the instruction must hold the local value (libbpf does not
    check a bitfield's)."""

    local: int
    new: int | None
    lsz: int | None = None
    tsz: int | None = None
    validate: bool = True


def _values(lb: Btf, tb: Btf, relo: CoreRelo) -> Resolution:
    kind = relo.kind
    if kind in _FIELD:
        acc, lf = _local_spec(lb, relo)
        local, lsz = _field_value(kind, lb, lf)
        found = set()
        for cand in _candidates(lb, tb, relo.type_id):
            tf = _target_field(lb, relo, acc, tb, cand)
            if tf is not None:
                val, tsz = _field_value(kind, tb, tf)
                if kind == FIELD_BYTE_OFFSET and not lf.bitsz and tsz != lsz \
                        and not _size_adjustable(lb, lf, tb, tf):
                    tsz = -1  # libbpf refuses the load or store
                found.add((val, tsz if not lf.bitsz else lsz))
        if len(found) > 1:
            raise Unresolved(f"candidates disagree ({sorted(found)})")
        validate = not lf.bitsz or kind == FIELD_RSHIFT
        if not found:
            return Resolution(local, None, lsz, None, validate)
        (val, tsz), = found
        return Resolution(local, val, lsz, tsz, validate)
    if kind in _TYPE:
        if relo.access != "0":
            raise Unresolved(f"type relocation with access {relo.access}")
        local = {TYPE_ID_LOCAL: relo.type_id, TYPE_ID_TARGET: relo.type_id, TYPE_EXISTS: 1,
                 TYPE_MATCHES: 1, TYPE_SIZE: lb.size_of(relo.type_id)}[kind]
        if kind == TYPE_ID_LOCAL:
            return Resolution(local, local)
        match = _types_match if kind == TYPE_MATCHES else _types_compat
        cands = [c for c in _candidates(lb, tb, relo.type_id) if match(lb, relo.type_id, tb, c)]
        vals = {c if kind == TYPE_ID_TARGET else tb.size_of(c) if kind == TYPE_SIZE else 1
                for c in cands}
        if len(vals) > 1:
            raise Unresolved(f"candidates disagree ({sorted(vals)})")
        # no candidate: 0 (libbpf's bpf_core_calc_type_relo); a type id is not validated
        # (linking may renumber it)
        return Resolution(local, vals.pop() if vals else 0, validate=kind != TYPE_ID_TARGET)
    if kind in _ENUMVAL:
        et = _skip(lb, relo.type_id)
        i = int(relo.access)
        if et.kind not in (ENUM, ENUM64) or i >= len(et.members):
            raise Unresolved(f"enumerator {relo.access} of {et}")
        name = et.members[i].name
        local = 1 if kind == ENUMVAL_EXISTS else et.members[i].value
        vals = set()
        for c in _candidates(lb, tb, relo.type_id):
            for e in _skip(tb, c).members:
                if e.name == name:
                    vals.add(1 if kind == ENUMVAL_EXISTS else e.value)
        if len(vals) > 1:
            raise Unresolved(f"candidates disagree ({sorted(vals)})")
        return Resolution(local, vals.pop() if vals else None)
    raise Unresolved("this kind")


def _patch(insn, relo: CoreRelo, r: Resolution):
    """The patched instruction(s) for one relocation (a list: a poisoned ld_imm64 is two)."""
    new = r.new
    if new is None:
        if relo.kind in _EXISTS:
            new = 0
        else:
            poison = Call(src=0, imm=POISON_HELPER)
            return [poison, poison] if isinstance(insn, LoadImm64) else [poison]
    if isinstance(insn, Alu) and insn.src is None:
        cur = insn.imm
        out = replace(insn, imm=new)
    elif isinstance(insn, (Load, Store)):
        cur = insn.off
        if not -(1 << 15) <= new < 1 << 15:
            raise Unresolved(f"offset {new} does not fit an instruction")
        out = replace(insn, off=new)
        if relo.kind == FIELD_BYTE_OFFSET and r.tsz is not None and r.tsz != r.lsz:
            if r.tsz == -1 or insn.size != r.lsz or r.tsz not in (1, 2, 4, 8):
                raise Unresolved(f"the field's size changes ({r.lsz} -> {r.tsz} bytes), "
                                 "which libbpf refuses for this access")
            out = replace(out, size=r.tsz)
    elif isinstance(insn, LoadImm64) and insn.src == 0:
        cur = insn.imm | (insn.imm2 << 32)
        out = replace(insn, imm=new & 0xFFFFFFFF, imm2=(new >> 32) & 0xFFFFFFFF)
    else:
        raise Unresolved(f"on a {insn.mnemonic} instruction")
    if r.validate and cur & 0xFFFFFFFF != r.local & 0xFFFFFFFF:
        raise Unresolved(f"the instruction holds {cur}, not the local value {r.local}")
    return [out]


def apply_core(prog, local: Btf | None, btf_path: str = VMLINUX_BTF) -> None:
    """Resolve and apply ``prog.core_relos`` in place; what cannot be resolved stays
    there with ``prog.core_unresolved[pc]`` saying why."""
    if not prog.core_relos:
        return
    target = target_btf(btf_path) if os.path.exists(btf_path) else None
    if target is None or local is None:
        why = f"no kernel BTF at {btf_path}" if local is not None else "the object has no .BTF"
        prog.core_unresolved = {pc: why for pc in prog.core_relos}
        return
    patched: dict[int, list] = {}
    for pc, relo in sorted(prog.core_relos.items()):
        insn = prog.by_pc()[pc]
        try:
            patched[pc] = _patch(insn, relo, _values(local, target, relo))
        except (Unresolved, BtfError, IndexError, TypeError) as e:
            prog.core_unresolved[pc] = str(e)
    if patched:
        out, pc = [], 0
        for insn in prog.insns:
            out.extend(patched.get(pc, [insn]))
            pc += insn.slots
        prog.insns = out
        prog._by_pc = None
        prog.core_applied = {pc: prog.core_relos.pop(pc) for pc in patched}
