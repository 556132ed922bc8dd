"""Kernel memory the Z3 engine reads through with the verifier's rules
(model.verifier.memcheck.access, model.verifier.percpu, model.verifier.timers.btf_arg):

* ``ld_imm64 rX, BPF_PSEUDO_BTF_ID`` (a ``__ksym``, typed by model.platform.ksym_vars): a
  kernel FUNC is PTR_TO_MEM | MEM_RDONLY of size 0 (``bpf_ksym_exists``), a VAR of a scalar
  type read-only memory of its size, a VAR of a struct type a plain typed pointer
  (model.symbolic.typed), a per-CPU VAR a ``percpu_ptr_`` typed pointer. Each is a
  kernel address: not NULL.
* bpf_this_cpu_ptr / bpf_per_cpu_ptr (ARG_PTR_TO_PERCPU_BTF_ID): the verifier's percpu_arg
  on the argument, percpu_return for what comes back (a typed pointer of a struct, or
  read-only memory of the type's size; bpf_per_cpu_ptr's may be NULL).
* An iterator's buffers (a typed context read yielding PTR_TO_BUF, maybe NULL): accessed at
  a constant offset >= 0 (check_buffer_access); the upper bound is the kernel's check at
  attach time.
* Helpers taking a typed pointer of a fixed struct (ARG_PTR_TO_BTF_ID of
  proto_kinds.ARG_BTF_STRUCT: bpf_get_task_stack's task, bpf_seq_write's seq_file...):
  the verifier's btf_arg on the register the pointer is.

A pointer here is ``P(Region(KIND, <verifier type>[?], size=<bytes>), off, <address>)``
(``?``: may be NULL: checked where its address may be 0). Every value read is a fresh
unknown (kernel memory). What the engine cannot judge exactly -- an access at a variable
offset, such memory handed to a helper -- is left to the verifier (VERIFIER_ONLY).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import z3

from model.platform import btf_access as BA
from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.ksym_vars import ksym_load
from model.platform.prototypes import helper_proto
from model.verifier.memcheck import Reject, access
from model.verifier.percpu import percpu_arg, percpu_return
from model.verifier.regs import T as VT
from model.verifier.regs import pointer, type_str
from model.verifier.timers import BTF_ID_EXPECTED, btf_arg
from model.symbolic.state import P, Region, S, bv, const_of, path_constant
from model.verifier.transfer import MAX_VAR_OFF

KIND = "kmem"
TRUE = z3.BoolVal(True)
#: helpers with ARG_PTR_TO_BTF_ID of a fixed struct this engine follows (their other
#: arguments and return value are kinds it models)
BTF_ARG_HELPERS = frozenset({"get_task_stack", "seq_write", "seq_printf", "seq_printf_btf",
                             "copy_from_user_task", "task_pt_regs", "sock_from_file", "d_path",
                             "skb_output", "xdp_output", "task_storage_get",
                             "task_storage_delete", "cgrp_storage_get", "cgrp_storage_delete"})
#: of those, local storage lookups: NULL or the owner's value (sockets.storage_get)
STORAGE_GET = frozenset({"task_storage_get", "cgrp_storage_get"})
PERCPU_HELPERS = frozenset({"this_cpu_ptr", "per_cpu_ptr"})
FOLLOWED = BTF_ARG_HELPERS | PERCPU_HELPERS
_N = itertools.count()


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def _addr(lay, name: str, maybe_null: bool):
    a = z3.BitVec(name, 64)
    fact = a != bv(0)
    if not maybe_null and not any(f.eq(fact) for f in lay.facts):
        lay.facts.append(fact)
    return a


def mem_pointer(vtype: VT, size: int, addr, maybe_null: bool) -> P:
    """Kernel memory of verifier type ``vtype`` (MEM read-only, BUF, RDONLY_BUF)."""
    return P(Region(KIND, vtype.value + ("?" if maybe_null else ""), size=size), bv(0), addr)


def vreg(p: P, off: int, null: bool = False):
    """The verifier's register for kernel memory pointer ``p`` at offset ``off``."""
    name = p.r.name.split("+")[0].rstrip("?")
    t = VT(name + "_or_null") if null else VT(name)
    return pointer(t, off=off, range=p.r.size, read_only=name == "mem")


def ksym(lay, imm: int, imm2: int):
    """The value of ``ld_imm64 rX, BPF_PSEUDO_BTF_ID, imm`` (load_time_error refused the
    loads the kernel refuses), or a reason the engine leaves it to the verifier."""
    from model.symbolic import typed

    got = ksym_load(imm, imm2)
    if isinstance(got, str):
        return f"{VERIFIER_ONLY}: {got}"
    if got.kind in ("func", "mem"):
        return mem_pointer(VT.MEM, got.size, _addr(lay, f"ksym_{imm}", False), False)
    from model.platform.tracing_targets import vmlinux_btf
    from model.elf import btf as B

    if got.kind == "btf_id" and vmlinux_btf().type(got.type_id).kind not in (B.STRUCT, B.UNION):
        return f"{VERIFIER_ONLY}: kernel symbol '{got.name}' of a qualified struct type"
    t = BA.Typed("btf_id", got.type_id, "", False, "percpu" if got.kind == "percpu" else "")
    return typed._pointer(lay, t, _addr(lay, f"ksym_{imm}", False))


def offset_cases(term, most: int = 4):
    """The constants a path-fixed offset takes on merged paths: ``[(condition, value)]``
    over the ``If`` conditions it holds (at most ``most`` of them), or None."""
    if not path_constant(term):
        return None
    term = z3.simplify(term)  # merged paths with the same offset: no condition left
    conds, todo, seen = [], [term], set()
    while todo:
        t = todo.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_app_of(t, z3.Z3_OP_ITE):  # its branches (not its condition's terms)
            if not any(t.arg(0).eq(c) for c in conds):
                conds.append(t.arg(0))
            todo.extend((t.arg(1), t.arg(2)))
        else:
            todo.extend(t.children())
    if len(conds) > most:
        return None
    if not conds:
        v = z3.simplify(term)
        return [(TRUE, v.as_long())] if z3.is_bv_value(v) else None
    out = []
    for bits in itertools.product((True, False), repeat=len(conds)):
        v = z3.simplify(z3.substitute(term, *[(c, z3.BoolVal(b))
                                              for c, b in zip(conds, bits)]))
        if not z3.is_bv_value(v):
            return None
        when = z3.And(*[c if b else z3.Not(c) for c, b in zip(conds, bits)])
        out.append((when, v.as_long()))
    return out


def access_bad(lay, p: P, off: int, size: int, write: bool, regno,
               atomic: bool = False) -> list:
    """check_mem_access through kernel memory pointer ``p`` (a maybe-NULL one first;
    ``atomic``: an atomic's write, strictly aligned and refused on flow keys), at each
    constant its offset takes (paths merged with different constants: each checked
    where it holds)."""
    regno = regno if regno is not None else 0
    if atomic and vreg(p, 0).type is VT.FLOW_KEYS:
        return [(TRUE, f"BPF_ATOMIC stores into R{regno} flow_keys is not allowed")]
    cases = offset_cases(p.off + bv(off)) if "+var" not in p.r.name else None
    if cases is None or any(not -MAX_VAR_OFF < _signed(c) < MAX_VAR_OFF for _, c in cases):
        return [(TRUE, f"{VERIFIER_ONLY}: an access to kernel memory at a variable or huge "
                 "offset")]
    bad = []
    for when, c in cases:
        bad += [(z3.And(when, b), why) for b, why in _access_at(lay, p, _signed(c), size,
                                                               write, regno, atomic)]
    return bad


def _signed(c: int) -> int:
    return c - (1 << 64) if c >> 63 else c


def _access_at(lay, p: P, c: int, size: int, write: bool, regno: int, atomic: bool) -> list:
    """access_bad at the constant offset ``c``."""
    bad = []
    if "?" in p.r.name:
        try:
            access(None, lay.maps, lay.ptype, regno, vreg(p, c, True), 0, size, write)
        except Reject as e:
            bad.append((p.key == bv(0), e.message))
    try:
        access(None, lay.maps, lay.ptype, regno, vreg(p, c), 0, size, write, strict=atomic)
    except Reject as e:
        bad.append((TRUE, e.message))
    return bad


def load(lay, p: P, off: int, size: int, regno):
    """(bad, value): a read is a fresh unknown of the access's size."""
    bad = access_bad(lay, p, off, size, False, regno)
    v = z3.BitVec(f"kmem_read_{next(_N)}", 8 * size)
    return bad, S(z3.ZeroExt(64 - 8 * size, v) if size < 8 else v)


def moved(p: P, num) -> Region:
    """The region of ``p`` moved by scalar ``num``: one moved by a value the kernel does
    not know as a constant (its var_off is no longer 0: buffers refuse any access then, and
    the limits on offsets are the verifier's) is marked ``+var``."""
    if path_constant(num) and "+var" not in p.r.name:
        return p.r
    return replace(p.r, name=p.r.name + "+var")


def compare_unfollowed(insn, a, b) -> str | None:
    """A comparison involving a maybe-NULL pointer here other than the kernel's NULL check
    (64-bit ``==`` / ``!=`` with the constant 0: mark_ptr_or_null_regs): what it makes of
    the pointer is the verifier's to say (a 32-bit test leaves it maybe-NULL)."""
    null_ptrs = [v for v in (a, b) if isinstance(v, P) and v.r.kind == KIND and "?" in v.r.name]
    if not null_ptrs:
        return None
    if insn.cond in ("jeq", "jne") and not insn.is32 and insn.src is None and insn.imm == 0:
        return None
    return f"{VERIFIER_ONLY}: a comparison of a maybe-NULL kernel memory pointer"


def null_check(insn, a, b):
    """The maybe-NULL pointer a 64-bit ``== 0`` / ``!= 0`` test checks, and whether the
    jump is taken where it is not NULL; or None."""
    if not (isinstance(a, P) and a.r.kind == KIND and "?" in a.r.name and insn.src is None
            and insn.imm == 0 and not insn.is32 and insn.cond in ("jeq", "jne")):
        return None
    return a, insn.cond == "jne"


def mark_not_null(st, p: P) -> None:
    """mark_ptr_or_null_regs on the edge where ``p`` is not NULL: every copy of it (the same
    address) in every frame loses its ``?``."""
    def mark(v):
        if isinstance(v, P) and v.r.kind == KIND and v.r.name == p.r.name and \
                v.key is not None and v.key.eq(p.key):
            return P(replace(v.r, name=v.r.name.replace("?", "")), v.off, v.key)
        return v

    for f in st.frames:
        f.regs = [mark(v) for v in f.regs]
        f.spills = {o: mark(v) for o, v in f.spills.items()}


def arith_bad(regno: int, p: P) -> list:
    """Arithmetic on a maybe-NULL one before its NULL check is refused."""
    if "?" not in p.r.name:
        return []
    kind = p.r.name.split("+")[0].rstrip("?")
    what = f"rdonly_{kind}" if kind == "mem" else kind
    return [(p.key == bv(0), f"R{regno} pointer arithmetic on {what}_or_null prohibited, "
             "null-check it first")]


def ctx_pointer(lay, kind: str, addr) -> P | None:
    """What a context field of pointer kind ``kind`` holds (as the verifier's memcheck._ctx
    types it), or None: ``flow_keys`` (PTR_TO_FLOW_KEYS), ``tp_buffer`` (a writable raw
    tracepoint's buffer), ``trusted_ptr_STRUCT`` (netfilter's state and skb)."""
    from model.symbolic import typed

    if kind == "flow_keys":
        return mem_pointer(VT.FLOW_KEYS, 0, _addr(lay, "flow_keys", False), False)
    if kind == "tp_buffer":
        return mem_pointer(VT.TP_BUFFER, 0, _addr(lay, "tp_buffer", False), False)
    if kind.startswith("trusted_ptr_"):
        from model.elf.btf import STRUCT
        from model.platform.tracing_targets import vmlinux_btf

        t = vmlinux_btf().find(kind.removeprefix("trusted_ptr_"), STRUCT)
        if t is None:
            return None
        return typed._pointer(lay, BA.Typed("btf_id", t.id, "trusted", False), addr)
    return None


def mem_arg_bad(lay, regno: int, p: P, arg, size, map_name) -> list:
    """Kernel memory ``p`` as a helper's memory argument ``arg`` (``size``: the size
    register's value, or None; ``map_name``: the map of a key / value argument), as the
    verifier's check_func_arg / _mem_arg judge it; a size or an offset the kernel may not
    know as a constant, a maybe-NULL pointer: left to the verifier."""
    from model.platform.proto_kinds import Arg, ArgFlag
    from model.verifier.calls import MEM_ARG_EXPECTED
    from model.verifier.memcheck import buffer_access

    leave = [(TRUE, f"{VERIFIER_ONLY}: kernel memory of variable offset or size, or maybe "
              "NULL, as helper memory")]
    c = const_of(p.off)
    if arg.base is Arg.PTR_TO_MAP_KEY or arg.base is Arg.PTR_TO_MAP_VALUE:
        m = lay.maps[map_name]
        n = m.key_size if arg.base is Arg.PTR_TO_MAP_KEY else m.value_size
    elif arg.is_fixed_mem:
        n = arg.size
    else:
        n = const_of(size.v) if isinstance(size, S) and path_constant(size.v) else None
    if c is None or n is None or "+var" in p.r.name or "?" in p.r.name:
        return leave
    reg = vreg(p, c - (1 << 64) if c >> 63 else c)
    if (reg.type is VT.RDONLY_BUF or reg.type is VT.MEM) and \
            not arg.flags & ArgFlag.MEM_RDONLY:  # check_reg_type: read-only memory
        return [(TRUE, f"R{regno} type={type_str(reg)} expected={MEM_ARG_EXPECTED}")]
    try:
        if reg.type is VT.MEM:  # _mem_arg: SIZED_MEM
            access(None, lay.maps, lay.ptype, regno, reg, 0, n, False)
        elif reg.type in (VT.BUF, VT.RDONLY_BUF):
            buffer_access(regno, reg, 0, n, "rdonly" if reg.type is VT.RDONLY_BUF else "rdwr")
        else:
            return [(TRUE, f"R{regno} type={type_str(reg)} expected={MEM_ARG_EXPECTED}")]
    except Reject as e:
        return [(TRUE, e.message)]
    return []


def buf_pointer(lay, got: BA.Typed, addr) -> P:
    """An iterator's buffer a typed context read yields (PTR_TO_BUF, maybe NULL)."""
    return mem_pointer(VT.RDONLY_BUF if got.trust == "rdonly" else VT.BUF, 0, addr, True)


def _typed_reg(lay, r: P):
    """The verifier's register for typed pointer ``r`` at a constant offset, or a reason."""
    base = lay.typed[r.r.name]
    c = const_of(r.off)
    if c is None or base.kind != "btf_id":
        return f"{VERIFIER_ONLY}: a typed argument at a variable offset or of kind {base.kind}"
    trust = base.trust or ("trusted" if r.r.gen else "")
    return pointer(VT.BTF_ID, off=c - (1 << 64) if c >> 63 else c, btf_id=base.btf_id,
                   trust=trust, tag=base.tag)


def _arg_bad(lay, regno: int, r, check, expected: str, nullable: bool = False) -> list:
    """``check`` (a verifier rule raising Reject) on typed pointer argument ``r``: where its
    address may be 0 when it may be NULL (``nullable``: an _OR_NULL argument, which takes
    NULL and a maybe-NULL pointer), then on the pointer itself."""
    from model.symbolic import typed

    if r is None:
        return [(TRUE, f"R{regno} !read_ok (helper argument)")]
    if isinstance(r, S):
        return [(r.v != bv(0) if nullable else TRUE, f"R{regno} type=scalar expected={expected}")]
    if r.r.kind != typed.KIND:
        from model.symbolic.sockets import TYPE_NAMES

        what = type_str(vreg(r, 0)) if r.r.kind == KIND else TYPE_NAMES.get(r.r.kind,
                                                                              r.r.kind)
        return [(TRUE, f"R{regno} type={what} expected={expected}")]
    reg = _typed_reg(lay, r)
    if isinstance(reg, str):
        return [(TRUE, reg)]
    base = lay.typed[r.r.name]
    bad = [] if nullable else \
        typed.null_bad(lay, r, f"R{regno} type={typed.or_null(base)} expected={expected}")
    try:
        check(reg)
    except Reject as e:
        bad.append((TRUE, e.message))
    return bad


def btf_arg_bad(lay, helper: str, regno: int, r, nullable: bool = False) -> list:
    """ARG_PTR_TO_BTF_ID(_OR_NULL) of helper ``helper`` (proto_kinds.ARG_BTF_STRUCT)."""
    return _arg_bad(lay, regno, r, lambda reg: btf_arg(helper, regno, reg, nullable),
                    BTF_ID_EXPECTED, nullable)


def percpu_call(lay, st, proto, pc: int):
    """bpf_this_cpu_ptr / bpf_per_cpu_ptr: (bad, outcomes ``[(state, r0, extra guard)]``)."""
    from model.symbolic import typed
    from model.verifier.percpu import PERCPU_EXPECTED

    regs = st.cur.regs
    seen: list = []
    bad = _arg_bad(lay, 1, regs[1], lambda reg: seen.append(percpu_arg(1, reg)),
                   PERCPU_EXPECTED)
    if proto.name == "per_cpu_ptr" and regs[2] is None:  # the CPU number (ARG_ANYTHING)
        bad.append((TRUE, "R2 !read_ok (helper argument)"))
    if any(z3.is_true(b) for b, _ in bad) or not seen:
        return bad, []
    maybe_null = proto.name == "per_cpu_ptr"  # a CPU number >= nr_cpu_ids: NULL
    try:
        ret = percpu_return(seen[0], maybe_null, _OneId)
    except Reject as e:
        why = e.message
        return bad + [(TRUE, f"{VERIFIER_ONLY}: {why}" if why.startswith("not modelled")
                       else why)], []
    n = st.helper_runs.get(pc, 0)
    st.helper_runs[pc] = n + 1
    addr = _addr(lay, f"cpu_ptr_{pc}_{n}", maybe_null)
    if ret.type in (VT.BTF_ID, VT.BTF_ID_OR_NULL):
        r0 = typed._pointer(lay, BA.Typed("btf_id", ret.btf_id, "", maybe_null), addr)
    else:
        r0 = mem_pointer(VT.MEM, ret.range, addr, maybe_null)
    return bad, [(st, r0, None)]


class _OneId:
    """The verifier's id allocator, for percpu_return (the engine needs no id)."""

    @staticmethod
    def new() -> int:
        return 1


__all__ = ["KIND", "FOLLOWED", "BTF_ARG_HELPERS", "PERCPU_HELPERS", "followed", "ksym",
           "access_bad", "load", "null_check", "mark_not_null", "arith_bad", "buf_pointer", "ctx_pointer", "mem_arg_bad", "btf_arg_bad", "percpu_call",
           "mem_pointer"]
