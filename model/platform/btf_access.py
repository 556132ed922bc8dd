"""Typed kernel memory (Linux 6.18): what a BTF-typed program reads from its context
(btf_ctx_access) and through a PTR_TO_BTF_ID pointer (check_ptr_to_btf_access,
btf_struct_access / btf_struct_walk), as data both engines read. Types are vmlinux BTF ids.

A read yields a :class:`Typed`: ``scalar``; ``btf_id`` (a PTR_TO_BTF_ID to struct
``btf_id``, with its trust -- ``trusted``, ``rcu``, ``untrusted`` or ``""`` for the plain
legacy pointer --, ``maybe_null`` and a ``user``/``percpu`` tag); or ``mem_untrusted`` (a
pointer to a non-struct member: PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED of size 0, which
nothing may dereference). Errors are the verifier's messages (strings).

Rules kept (each confirmed on the running kernel for tp_btf, see tests/test_tracing.py):

* context: only reads (tracing_prog_is_valid_access: ``0 <= off < 96``, ``off % size ==
  0``, else "invalid bpf_context access"), at a multiple of 8 ("func '%s' offset %d is not
  multiple of 8"); the slot's argument (struct arguments by value take ``roundup(size, 8)``
  bytes) must exist ("func '%s' doesn't have %d-th argument"), the slot after the last
  argument being the return value for fexit and lsm, and for fmod_ret when the function
  returns a small int ("ret type %s not allowed for fmod_ret"). Integers, enums and
  structs by value read as scalars (any size); pointers need 8 bytes ("func '%s' size %d
  must be 8"); a pointer to a struct is a PTR_TO_BTF_ID (trusted for tp_btf and most lsm
  hooks, maybe NULL per ``__nullable`` or the tracepoint's raw_tp_null_args bit, a scalar
  when that table says it may be an ERR_PTR), any other pointer a scalar. An iterator's
  arguments of its target's ctx_arg_info read as registered (model.platform.iter_targets:
  a maybe-NULL PTR_TO_BTF_ID, or ``buf``, a maybe-NULL PTR_TO_BUF, read-only when ``trust``
  is "rdonly"). An lsm program's
  read of the return value slot is a scalar in the hook's range (32-bit signed).
* through PTR_TO_BTF_ID: a GPL-compatible program ("Cannot access kernel 'struct %s' from
  non-GPL compatible program"), a constant offset ("R%d is ptr_%s invalid variable offset"),
  non-negative ("invalid negative access"), not through __user / __percpu pointers, reads
  only ("only read is supported"), inside the struct ("access beyond struct %s at off %u
  size %u"; a flexible array at the end may be read past it), a pointer member exactly
  ("cannot access ptr member %s with moff %u in struct %s with off %u size %u"), an integer
  member within its end ("access beyond the end of member ..."), not in a hole ("struct %s
  doesn't have field at offset %d"). A struct pointer member read yields a PTR_TO_BTF_ID:
  untrusted from an untrusted base; from a trusted / RCU base trusted, trusted-or-NULL, RCU
  or RCU-or-NULL per the kernel's ``<struct>__safe_*`` BTF types and the ``rcu`` type
  tag, else a plain pointer.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.elf import btf as B
from model.platform.tracing_targets import lsm_return_range

#: tracing_prog_is_valid_access: the context is MAX_BPF_FUNC_ARGS u64 slots
CTX_SLOTS = 12
CTX_SIZE = 8 * CTX_SLOTS
_KIND_STR = {k: n for k, n in enumerate(B.KIND_NAMES)} | {B.UNKN: "UNKNOWN"}  # btf_type_str


@dataclass(frozen=True)
class Typed:
    kind: str                  # "scalar" | "btf_id" | "mem_untrusted" | "buf"
    btf_id: int = 0
    trust: str = ""
    maybe_null: bool = False
    tag: str = ""
    s32: tuple[int, int] | None = None   # a scalar's known signed 32-bit range


SCALAR = Typed("scalar")


def _is_struct(t: B.BtfType) -> bool:
    return t.kind in (B.STRUCT, B.UNION)


def _small_int(t: B.BtfType) -> bool:
    return t.kind == B.INT and t.size <= 8


def _skip(btf: B.Btf, tid: int) -> tuple[B.BtfType, int]:
    """btf_type_skip_modifiers: the type and its id."""
    t = btf.type(tid)
    while t.kind in B.MODIFIERS:
        tid = t.type
        t = btf.type(tid)
    return t, tid


def _ptr_tag(btf: B.Btf, ptr: B.BtfType) -> str:
    t = btf.type(ptr.type)
    if t.kind == B.TYPE_TAG and not t.kind_flag and t.name in ("user", "percpu", "rcu"):
        return t.name
    return ""


def _struct_ptr(btf: B.Btf, t: B.BtfType) -> int | None:
    """The struct id a pointer type points to (modifiers skipped), or None."""
    if t.kind != B.PTR:
        return None
    s, sid = _skip(btf, t.type)
    return sid if _is_struct(s) else None


def _slot_size(btf: B.Btf, tid: int) -> int:
    t, _ = _skip(btf, tid)
    if t.kind == B.PTR:
        return 8
    return (((t.size or 0) + 7) // 8) * 8


def ctx_arg_index(btf: B.Btf, target, off: int) -> int:
    """btf_ctx_arg_idx: the slot's index among the prototype's parameters -- all of them,
    tp_btf's hidden ``void *__data`` included, whose slot the kernel counts before dropping
    it (so index i names the i-th argument after it) -- then the return value's slot."""
    offset = 0
    for i, p in enumerate(target.proto.members):
        offset += _slot_size(btf, p.type)
        if off < offset:
            return i
    n = len(target.proto.members)
    offset += _slot_size(btf, target.proto.type)
    return n if off < offset else n + 1


def ctx_read(btf: B.Btf, target, off: int, size: int, write: bool) -> Typed | str:
    """One context access of a BTF-typed program (see the module doc)."""
    generic = f"invalid bpf_context access off={off} size={size}"
    if off < 0 or off >= CTX_SIZE or write or off % size:
        return generic
    name = target.name
    if off % 8:
        return f"func '{name}' offset {off} is not multiple of 8\n{generic}"
    arg = ctx_arg_index(btf, target, off)
    nargs = len(target.params)
    missing = f"func '{name}' doesn't have {arg + 1}-th argument\n{generic}"
    if arg > nargs:
        return missing
    pname = ""
    if arg == nargs:
        if target.attach_type in (25, 27):              # fexit, lsm: the return value
            t, _ = _skip(btf, target.proto.type)
        elif target.attach_type == 26:                  # fmod_ret
            t, _ = _skip(btf, target.proto.type)
            if not _small_int(t):
                return f"ret type {_KIND_STR.get(t.kind, '?')} not allowed for fmod_ret\n{generic}"
        else:
            return missing
    else:
        p = target.params[arg]
        pname = p.name
        t, _ = _skip(btf, p.type)
    if _small_int(t) or t.kind in (B.ENUM, B.ENUM64) or _is_struct(t):
        if arg == nargs and target.attach_type == 27:  # lsm's retval: the hook's range
            return Typed("scalar", s32=lsm_return_range(target))
        return SCALAR
    if t.kind != B.PTR:
        return (f"func '{name}' arg{arg} '{_name(t)}' has type {_KIND_STR.get(t.kind, '?')}. "
                f"Only pointer access is allowed\n{generic}")
    if size != 8:
        return f"func '{name}' size {size} must be 8\n{generic}"
    info = next((a for a in target.iter_args if a[0] == pname), None)
    if info is not None and info[1] == "buf_or_null":   # PTR_TO_BUF | PTR_MAYBE_NULL
        return Typed("buf", maybe_null=True, trust="rdonly" if info[2] else "")
    sid = _struct_ptr(btf, t)
    if sid is None:
        return SCALAR
    if info is not None:                                 # the iterator's ctx_arg_info
        return Typed("btf_id", sid, "trusted" if info[2] else "", True)
    maybe_null = pname.endswith("__nullable")
    mask = (target.null_mask >> (4 * arg)) & 0xF if arg < nargs else 0
    if mask & 1:
        maybe_null = True
    if mask & 2:
        return SCALAR                                   # may be an ERR_PTR
    tag = _ptr_tag(btf, t)
    return Typed("btf_id", sid, "trusted" if target.trusted else "", maybe_null,
                 tag if tag in ("user", "percpu") else "")


def struct_name(btf: B.Btf, sid: int) -> str:
    return _name(btf.type(sid))


def _name(t: B.BtfType) -> str:
    """__btf_name_by_offset: "(anon)" for a nameless type."""
    return t.name or "(anon)"


def gpl_check(btf: B.Btf, btf_id: int, gpl: bool) -> str | None:
    """check_ptr_to_btf_access's first rule (after the privilege check): kernel structs are
    only for GPL-compatible programs."""
    if gpl:
        return None
    return (f"Cannot access kernel 'struct {struct_name(btf, btf_id)}' from non-GPL "
            "compatible program")


def ptr_access(btf: B.Btf, base: Typed, regno: int, off: int, size: int,
               write: bool, sleepable: bool = False) -> Typed | str:
    """check_ptr_to_btf_access for a load/store at constant offset ``off`` (the pointer's
    fixed and constant variable offset included) through PTR_TO_BTF_ID ``base``, after
    :func:`gpl_check` and the constant-offset check. ``sleepable``: the access is not in
    an RCU read section (in_rcu_cs is false: a sleepable program outside bpf_rcu_read_lock
    and spin locks)."""
    tname = struct_name(btf, base.btf_id)
    if off < 0:
        return f"R{regno} is ptr_{tname} invalid negative access: off={off}"
    if base.tag == "user":
        return f"R{regno} is ptr_{tname} access user memory: off={off}"
    if base.tag == "percpu":
        return f"R{regno} is ptr_{tname} access percpu memory: off={off}"
    if write:
        return "only read is supported"
    sid = base.btf_id
    union = False
    while True:
        got = _walk(btf, sid, off, size, union)
        if isinstance(got, str):
            return got
        what, nid, tag, field, union = got
        if what == "scalar":
            return SCALAR
        if what == "mem":
            return Typed("mem_untrusted")
        if what == "struct":
            sid, off = nid, 0
            continue
        return _loaded_ptr(btf, base, nid, tag, field, union, sleepable)


def _loaded_ptr(btf: B.Btf, base: Typed, nid: int, tag: str, field: str,
                union: bool, sleepable: bool = False) -> Typed:
    """The flags check_ptr_to_btf_access gives a struct pointer read through ``base`` (a
    non-sleepable program is always inside an RCU read section; out of one, a field
    that is not __safe_trusted(_or_null) is untrusted, its tag dropped)."""
    keep = tag if tag in ("user", "percpu") else ""
    if base.trust == "untrusted" or union and base.trust not in ("trusted", "rcu"):
        return Typed("btf_id", nid, "untrusted", False, keep)
    if base.trust in ("trusted", "rcu"):
        if _safe(btf, base.btf_id, field, nid, "__safe_trusted"):
            return Typed("btf_id", nid, "untrusted" if union else "trusted", False, keep)
        if _safe(btf, base.btf_id, field, nid, "__safe_trusted_or_null"):
            return Typed("btf_id", nid, "untrusted" if union else "trusted", True, keep)
        if base.maybe_null or sleepable:
            return Typed("btf_id", nid, "untrusted", False, "" if sleepable else keep)
        if _safe(btf, base.btf_id, field, nid, "__safe_rcu"):
            return Typed("btf_id", nid, "untrusted" if union else "rcu", False, keep)
        rcu_or_null = _safe(btf, base.btf_id, field, nid, "__safe_rcu_or_null")
        if tag == "rcu" or rcu_or_null:
            return Typed("btf_id", nid, "rcu" if rcu_or_null or not union else "untrusted",
                         True, keep)
        return Typed("btf_id", nid, "untrusted" if union else "", False, keep)
    return Typed("btf_id", nid, "untrusted" if union else "", False, keep)


def _safe(btf: B.Btf, base_id: int, field: str, nid: int, suffix: str) -> bool:
    """btf_nested_type_is_trusted: struct ``<base>__safe_*`` has a pointer member named
    ``field`` to type ``nid``."""
    base = btf.type(base_id)
    safe = btf.find(base.name + suffix, base.kind)
    if safe is None:
        return False
    for m in safe.members:
        mt = btf.type(m.type)
        if mt.kind != B.PTR:
            continue
        _, mid = _skip(btf, mt.type)
        if mid == nid and m.name == field:
            return True
    return False


def _resolve_size(btf: B.Btf, tid: int):
    """__btf_resolve_size: (an array?, total size, element type, its id, elements), arrays
    of arrays linearised."""
    t, tid = _skip(btf, tid)
    nelems, is_array = 1, False
    while t.kind == B.ARRAY:
        is_array = True
        nelems *= t.array.nelems
        t, tid = _skip(btf, t.array.type)
    if t.kind == B.PTR:
        size = 8
    elif t.size is None:
        raise B.BtfError(f"type {t} has no size")
    else:
        size = t.size
    return is_array, size * nelems, t, tid, nelems


def _walk(btf: B.Btf, sid: int, off: int, size: int, union: bool):
    """One call of btf_struct_walk: ("scalar"|"ptr"|"mem"|"struct", next id, tag, field,
    union flag) or the verifier's message. ``union``: PTR_UNTRUSTED from walking a union
    with several members (kept across nested structs)."""
    t, _ = _skip(btf, sid)
    while True:                                         # the kernel's "again:"
        if not _is_struct(t):
            return f"Type '{_name(t)}' is not a struct"
        if t.kind == B.UNION and len(t.members) != 1:
            union = True
        if off + size > t.size:
            err = f"access beyond struct {_name(t)} at off {off} size {size}"
            if not t.members:
                return err
            last = t.members[-1]
            mt, _ = _skip(btf, last.type)
            if mt.kind != B.ARRAY or mt.array.nelems != 0:
                return err
            moff = last.bit_offset(t.kind_flag) // 8
            if off < moff:
                return err
            et, _ = _skip(btf, mt.array.type)
            if et.kind == B.INT:
                return "scalar", 0, "", "", union
            if not _is_struct(et):
                return err
            off = (off - moff) % et.size
            t = et
            continue
        nested = None
        for m in t.members:
            bitoff = m.bit_offset(t.kind_flag)
            moff = bitoff // 8
            if off + size <= moff:
                break
            bits = (m.offset >> 24) if t.kind_flag else 0
            if bits:
                if off <= moff and (bitoff + bits + 7) // 8 <= off + size:
                    return "scalar", 0, "", "", union
                continue
            if off < moff:
                break
            try:
                is_array, msize, mtype, mid, nelems = _resolve_size(btf, m.type)
            except B.BtfError:
                return f"field {m.name} doesn't have size"
            mtrue_end = moff + msize
            if off >= mtrue_end:
                continue
            if is_array:
                if moff == mtrue_end:
                    continue
                esize = msize // nelems
                moff += (off - moff) // esize * esize
            if _is_struct(mtype):
                if off == moff:
                    return "struct", mid, "", m.name, union
                nested = (mtype, off - moff)
                break
            if mtype.kind == B.PTR:
                if size != 8 or off != moff:
                    return (f"cannot access ptr member {m.name} with moff {moff} in struct "
                            f"{_name(t)} with off {off} size {size}")
                nid = _struct_ptr(btf, mtype)
                if nid is None:
                    return "mem", 0, "", m.name, union
                return "ptr", nid, _ptr_tag(btf, mtype), m.name, union
            if off + size > mtrue_end and not union:
                return (f"access beyond the end of member {m.name} (mend:{mtrue_end}) in "
                        f"struct {_name(t)} with off {off} size {size}")
            return "scalar", 0, "", "", union
        if nested is None:
            return f"struct {_name(t)} doesn't have field at offset {off}"
        t, off = nested


def struct_ids_match(btf: B.Btf, sid: int, off: int, want: int) -> bool | None:
    """The kernel's btf_struct_ids_match (not strict): whether struct ``sid`` at byte
    ``off`` is (or starts with, through first members) struct ``want``; None when the walk
    meets an array (not modelled)."""
    if off == 0 and sid == want:
        return True
    for _ in range(64):
        nxt = _struct_at(btf, sid, off)
        if not nxt:
            return nxt
        if nxt == want:
            return True
        sid, off = nxt, 0
    return None


def _struct_at(btf, sid: int, off: int) -> int | bool | None:
    """btf_struct_walk of one byte at ``off`` in struct ``sid``: the id of the struct or
    union member starting there (WALK_STRUCT), False for anything else, None: an array of
    structs (not modelled)."""
    t = btf.resolve(sid)
    for _ in range(64):
        for m in t.members:
            moff = m.bit_offset(t.kind_flag) // 8
            if off + 1 <= moff:
                return False
            if t.kind_flag and m.offset >> 24:  # a bitfield
                continue
            mt = btf.resolve(m.type)
            if mt.kind == B.ARRAY:
                if off < moff + btf.size_of(m.type):
                    elem = btf.resolve(mt.array.type)
                    # an array of scalars or pointers holds no struct: no match there
                    return None if elem.kind in (B.STRUCT, B.UNION, B.ARRAY) else False
                continue
            if off >= moff + btf.size_of(m.type):
                continue
            if mt.kind not in (B.STRUCT, B.UNION):
                return False
            if off == moff:
                return mt.id
            t, off = mt, off - moff
            break
        else:
            return False
    return None


def sock_common_arg(btf: B.Btf, sid: int, regno: int, off: int) -> str | None:
    """check_reg_type's struct rule for a PTR_TO_BTF_ID to struct ``sid`` (fixed offset
    ``off``) passed as ARG_PTR_TO_BTF_ID_SOCK_COMMON: it is a ``struct sock_common`` there.
    The verifier's message, or None."""
    need = btf.find("sock_common", B.STRUCT)
    got = False if need is None else struct_ids_match(btf, sid, off, need.id)
    if got is None:
        return "not modelled: a typed socket pointer into an array"
    if not got:
        return f"R{regno} is of type {struct_name(btf, sid)} but sock_common is expected"
    return None


__all__ = ["Typed", "SCALAR", "ctx_read", "ptr_access", "struct_name", "ctx_arg_index",
           "CTX_SIZE", "gpl_check", "struct_ids_match", "sock_common_arg"]
