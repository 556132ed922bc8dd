"""Global functions (BTF FUNC with global linkage): the kernel verifies each one on its own,
from its BTF prototype (btf_prepare_func_args, kernel/bpf/btf.c, Linux 6.18), and checks
each call's arguments against that prototype (btf_check_func_arg_match) instead of
following the body with the caller's values.

``prototype(obj, prog, pc)`` reads the function's prototype: per argument a kind --
``("scalar",)`` (an int or enum: any scalar), ``("ctx",)`` (a pointer to the program
type's context struct, or tagged ``arg:ctx``), ``("mem", size, nullable)`` (any other
pointer to a type of known size: NULL or ``size`` bytes of readable and writable memory;
``arg:nonnull`` makes it non-NULL) -- or the reason the kernel refuses it / skv does not
model it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from model.elf.btf import (DECL_TAG, ENUM, ENUM64, FUNC_PROTO, INT, PTR, STRUCT, TYPEDEF, UNION,
                           BtfError, parse_btf)

#: the context struct each program type's global functions may take (bpf_types.h's
#: prog_ctx_type, as btf_is_prog_ctx_type compares it by name)
CTX_TYPES = {
    "socket_filter": "__sk_buff", "sched_cls": "__sk_buff", "sched_act": "__sk_buff",
    "cgroup_skb": "__sk_buff", "sk_skb": "__sk_buff", "lwt_in": "__sk_buff",
    "lwt_out": "__sk_buff", "lwt_xmit": "__sk_buff", "lwt_seg6local": "__sk_buff",
    "xdp": "xdp_md", "sock_ops": "bpf_sock_ops", "sk_msg": "sk_msg_md",
    "cgroup_sock": "bpf_sock", "cgroup_sock_addr": "bpf_sock_addr",
    "perf_event": "bpf_perf_event_data", "flow_dissector": "__sk_buff",
    "cgroup_sysctl": "bpf_sysctl", "cgroup_sockopt": "bpf_sockopt",
    "sk_reuseport": "sk_reuseport_md", "sk_lookup": "bpf_sk_lookup",
    "kprobe": ("bpf_user_pt_regs_t", "pt_regs"),  # (a kprobe's: either name)
}
#: every context struct name: a pointer to one of them that is not the program type's
#: context is left unmodelled (the kernel's matching has more cases than the table)
_ALL_CTX = frozenset(n for v in CTX_TYPES.values() for n in ((v,) if isinstance(v, str) else v)
                     ) | {"bpf_raw_tracepoint_args", "bpf_nf_ctx"}
MAX_ARGS = 5
#: the decl tags skv models (others: "not modelled")
_TAGS = {"arg:ctx", "arg:nonnull"}
#: "arg:nullable" goes only with "arg:trusted" (not modelled): alone, the kernel refuses it


@dataclass(frozen=True)
class Proto:
    name: str
    args: tuple  # per argument: ("scalar",) | ("ctx",) | ("mem", size, nullable)
    error: str | None = None  # the kernel refuses the prototype (its words) -- or
    unmodelled: str | None = None  # skv does not model it


@functools.lru_cache(maxsize=8)
def _btf(data: bytes):
    return parse_btf(data)


def _skip(btf, tid: int):
    return btf.resolve(tid) if tid else None


def _is_scalar(t) -> bool:
    return t is not None and t.kind in (INT, ENUM, ENUM64)


def _ctx_name(btf, ptr) -> str | None:
    """The struct or typedef name a pointer points to (typedefs are names too)."""
    t = btf.type(ptr.type) if ptr.type else None
    while t is not None and t.kind not in (STRUCT, UNION, TYPEDEF) and t.type:
        t = btf.type(t.type)  # const / volatile / type tags
    if t is None:
        return None
    if t.kind == TYPEDEF and t.name not in _ALL_CTX:
        return _ctx_name(btf, t)
    return t.name if t.kind in (STRUCT, UNION, TYPEDEF) else None


def _is_ctx(name: str, ptype: str) -> bool:
    want = CTX_TYPES.get(ptype, ())
    return name == want if isinstance(want, str) else name in want


def prototype(obj, prog, pc: int) -> Proto:
    name = prog.subprogs.get(pc) or prog.func_names.get(pc) or f"#{pc}"
    fid = prog.btf_funcs.get(pc)
    if obj.btf is None or fid is None:
        return Proto(name, (), unmodelled=f"not modelled: global function {name} without "
                                          "BTF func info")
    return _prototype(obj.btf, fid, name, prog.prog_type)


@functools.lru_cache(maxsize=256)
def _prototype(data: bytes, fid: int, name: str, ptype: str) -> Proto:
    try:
        return _read(_btf(data), fid, name, ptype)
    except BtfError as e:
        return Proto(name, (), unmodelled=f"not modelled: global function {name}: {e}")


def _read(btf, fid: int, name: str, ptype: str) -> Proto:
    func = btf.type(fid)
    proto = btf.type(func.type)
    if proto.kind != FUNC_PROTO:
        return Proto(name, (), unmodelled=f"not modelled: global function {name}'s type")
    params = proto.members
    if len(params) > MAX_ARGS:
        return Proto(name, (), error=f"Global function {name}() with {len(params)} > "
                                     f"{MAX_ARGS} args. Buggy compiler.")
    if not _is_scalar(_skip(btf, proto.type)):
        return Proto(name, (), error=f"Global function {name}() doesn't return scalar. Only "
                                     "those are supported.")
    tags: dict[int, set[str]] = {}
    for t in btf.types:
        if t.kind == DECL_TAG and t.type == fid and t.component_idx >= 0 \
                and t.name.startswith("arg:"):
            tags.setdefault(t.component_idx, set()).add(t.name)
    args = []
    for i, p in enumerate(params):
        mine = tags.get(i, set())
        if mine == {"arg:nullable"}:
            return Proto(name, (), error=f"arg#{i} has invalid combination of tags")
        if mine - _TAGS:
            return Proto(name, (), unmodelled=f"not modelled: global function argument tag "
                                              f"{sorted(mine - _TAGS)[0]} ({name} arg#{i})")
        if p.type == 0:
            return Proto(name, (), unmodelled=f"not modelled: variadic global function {name}")
        t = btf.resolve(p.type)
        if _is_scalar(t) and not mine:
            args.append(("scalar",))
            continue
        if t.kind != PTR:
            return Proto(name, (), unmodelled=f"not modelled: global function argument kind "
                                              f"{t.kind_name} ({name} arg#{i})")
        ctx = _ctx_name(btf, t)
        if "arg:ctx" in mine or (ctx is not None and _is_ctx(ctx, ptype)):
            args.append(("ctx",))
            continue
        if ctx in _ALL_CTX:
            return Proto(name, (), unmodelled=f"not modelled: global function argument "
                                              f"pointing to context struct {ctx} ({name} arg#{i})")
        pointee = btf.resolve(t.type) if t.type else None
        if pointee is not None and pointee.kind == STRUCT and pointee.name == "bpf_dynptr":
            return Proto(name, (), unmodelled=f"not modelled: global function argument "
                                              f"kind dynptr ({name} arg#{i})")
        try:
            size = btf.size_of(t.type) if t.type else None
        except BtfError:
            size = None
        if not size:
            what = "UNKNOWN " if pointee is None else f"{pointee.kind_name} {pointee.name}"
            return Proto(name, (), error=f"arg#{i} reference type('{what}') size cannot be "
                                         "determined: -22")
        args.append(("mem", size, "arg:nonnull" not in mine))
    return Proto(name, tuple(args))


__all__ = ["CTX_TYPES", "MAX_ARGS", "Proto", "prototype"]
