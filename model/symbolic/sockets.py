"""Socket pointers and socket references in the Z3 engine (the abstract verifier's rules:
model.verifier.refs, model.verifier.calls; the interpreter's run: model.interp.refs).

* ``bpf_sk_lookup_tcp`` / ``bpf_sk_lookup_udp`` / ``bpf_skc_lookup_tcp`` return NULL or a
  fresh socket holding a new reference, named ``sock#k`` for the k-th socket the path
  acquired (at the address the interpreter gives it when a counterexample says a lookup
  found one): the state is split at the call, as for ring buffer reservations
  (model.symbolic.refs). ``bpf_sk_release`` ends the reference; every copy of the pointer
  (and of the pointers cast from it) becomes an unknown scalar. A path that ends the
  program, tail calls or uses LD_ABS/IND holding one leaks it (check_reference_leak,
  ``refs.leak_reason``).
* ``bpf_sk_fullsock`` / ``bpf_tcp_sock`` (casts: NULL or the same socket as another kind,
  holding its reference) and ``bpf_get_listener_sock`` (NULL or a socket holding none).
* A context field holding a socket (``__sk_buff->sk``: sock_common_or_null,
  ``bpf_sock_ops->sk``: sock_or_null, ``bpf_sock_addr->sk``: sock) is a socket pointer
  whose address is the context's 8 bytes; one that may be NULL must be checked first.
* A pointer's region is ``Region(KIND, name=<kind>[?], gen=<reference number + 1, or 0>)``
  (``?``: may be NULL), its address its ``key``. Every check is the verifier's own, on a
  register built from the pointer: reads and writes (memcheck.access -> sock_fields),
  arguments (refs.ref_arg / release_arg), arithmetic (prohibited on every socket).
"""

from __future__ import annotations

import z3

from model.interp.refs import SOCK_BASE, SOCK_STRIDE
from model.platform.proto_kinds import RELEASE_EXPECTED, Arg, ArgFlag, Ret
from model.platform.prototypes import helper_proto
from model.verifier.memcheck import Reject, access
from model.verifier.refs import ref_arg, release_arg
from model.verifier.regs import T as VT
from model.verifier.regs import pointer, unknown
from model.symbolic.state import P, Region, S, bv

KIND = "sock"
#: the helpers whose sockets this engine follows
ACQUIRERS = frozenset({"sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp"})
CASTERS = frozenset({"sk_fullsock", "tcp_sock", "get_listener_sock"})
#: socket local storage (a map value per socket, or NULL)
STORAGE = frozenset({"sk_storage_get", "sk_storage_delete"})
#: helpers that only look at a socket (no reference or pointer comes back)
USERS = frozenset({"tcp_check_syncookie", "tcp_gen_syncookie", "sk_assign", "sk_cgroup_id",
                   "sk_ancestor_cgroup_id"})
FOLLOWED = ACQUIRERS | CASTERS | STORAGE | USERS | {"sk_release"}
#: the kind of socket each return kind gives
RET_KIND = {Ret.PTR_TO_SOCKET_OR_NULL: "sock", Ret.PTR_TO_SOCK_COMMON_OR_NULL: "sock_common",
            Ret.PTR_TO_TCP_SOCK_OR_NULL: "tcp_sock"}
#: argument kinds taking a socket
SOCK_ARGS = (Arg.PTR_TO_SOCK_COMMON, Arg.PTR_TO_BTF_ID_SOCK_COMMON)
#: helper_runs slot counting a path's acquired sockets (refs.RESERVED is -1)
ACQUIRED = -2
TRUE = z3.BoolVal(True)
#: the verifier's names (reg_type_str) of the engine's other pointer kinds
TYPE_NAMES = {"ctx": "ctx", "stack": "fp", "map": "map_value", "packet": "pkt",
               "pkt_meta": "pkt_meta", "pkt_end": "pkt_end", "mapptr": "map_ptr",
               "ringbuf": "ringbuf_mem", "func": "func"}


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def held(st) -> list[str]:
    """The socket references the state holds (each a ``st.maps`` entry, so that states
    holding different ones never merge)."""
    return sorted(n for n in st.maps if n.startswith(KIND + "#"))


def kind_of(p: P) -> tuple[str, bool]:
    """(the socket's kind, may it be NULL)."""
    return p.r.name.rstrip("?"), p.r.name.endswith("?")


def _sock(lay, kind: str, maybe_null: bool, ref: int, addr) -> P:
    if not maybe_null:
        fact = addr != bv(0)
        if not any(f.eq(fact) for f in lay.facts):
            lay.facts.append(fact)
    return P(Region(KIND, kind + ("?" if maybe_null else ""), gen=ref), bv(0), addr)


def ctx_pointer(lay, kind: str, addr) -> P:
    """The socket a context field holds (``kind``: ctx_access's yield), no reference."""
    base = kind.removesuffix("_or_null")
    return _sock(lay, base, kind != base, 0, addr)


def in_map(lay, kind: str) -> P:
    """The socket a lookup found in a map of sockets holding no reference (an xskmap:
    ``map_helpers.SOCKET_LOOKUP_MAP_TYPES``): the verifier's PTR_TO_MAP_VALUE_OR_NULL,
    NULL-checked, is ``kind``; its address, unknown, is not NULL."""
    return _sock(lay, kind, False, 0, z3.FreshConst(z3.BitVecSort(64), "in_map"))


def vreg(p: P, off: int = 0, null: bool = False):
    """The verifier's register for socket pointer ``p`` (``null``: as its _or_null type)."""
    kind, _ = kind_of(p)
    t = VT(kind + "_or_null") if null else VT(kind)
    return pointer(t, off=off, ref=p.r.gen)


def _null_bad(p: P, check) -> list:
    """Where a maybe-NULL socket may still be NULL, ``check`` on its _or_null register."""
    _, maybe = kind_of(p)
    if not maybe:
        return []
    try:
        check(vreg(p, null=True))
    except Reject as e:
        return [(p.key == bv(0), e.message)]
    return []


def access_bad(lay, p: P, off: int, size: int, write: bool, regno: int | None) -> list:
    """check_mem_access through socket pointer ``p`` (the verifier's memcheck.access)."""
    regno = regno if regno is not None else 0

    def check(reg):
        access(None, lay.maps, lay.ptype, regno, reg, off, size, write)

    bad = _null_bad(p, check)
    try:
        check(vreg(p))
    except Reject as e:
        bad.append((TRUE, e.message))
    return bad


def load(lay, p: P, off: int, size: int, regno, tag: str):
    """(bad, value) of a read: a socket's field is kernel memory, an unknown value."""
    bad = access_bad(lay, p, off, size, False, regno)
    v = z3.BitVec(f"sockfield_{tag}", 8 * size)
    return bad, S(z3.ZeroExt(64 - 8 * size, v) if size < 8 else v)


def arith_bad(regno: int, p: P) -> list:
    """adjust_ptr_min_max_vals: no arithmetic on a socket (NULL-checked first)."""
    kind, maybe = kind_of(p)
    bad = [(p.key == bv(0), f"R{regno} pointer arithmetic on {kind}_or_null prohibited, "
            "null-check it first")] if maybe else []
    return bad + [(TRUE, f"R{regno} pointer arithmetic on {kind} prohibited")]


def arg_bad(regno: int, r, arg) -> list:
    """check_func_arg for a socket argument (``arg.flags`` OBJ_RELEASE: bpf_sk_release):
    the verifier's ref_arg / release_arg on the register the value is."""
    release = bool(arg.flags & ArgFlag.OBJ_RELEASE)

    def check(reg):
        if release:
            release_arg(regno, reg, arg.base)
        else:
            ref_arg(regno, reg, arg.base)

    if isinstance(r, S):
        try:
            check(unknown())
        except Reject as e:
            return [(TRUE, e.message)]
        return []
    if isinstance(r, P) and r.r.kind == "btf":
        return None  # a typed pointer: the caller decides
    if not isinstance(r, P) or r.r.kind != KIND:
        what = TYPE_NAMES.get(r.r.kind, r.r.kind) if isinstance(r, P) else "?"
        return [(TRUE, f"R{regno} type={what} expected={RELEASE_EXPECTED[arg.base]}")]
    bad = _null_bad(r, check)
    try:  # no arithmetic on a socket: its offset is 0
        check(vreg(r))
    except Reject as e:
        bad.append((TRUE, e.message))
    return bad


def acquire(lay, st, pc: int, n: int, ret: Ret):
    """The outcomes ``[(state, r0, extra guard)]`` of a socket lookup: NULL, or the path's
    k-th socket holding a new reference."""
    k = st.helper_runs.get(ACQUIRED, 0)
    ok = st.copy()
    ok.helper_runs[ACQUIRED] = k + 1
    ok.maps[f"{KIND}#{k}"] = TRUE
    null = z3.Bool(f"sk_null_{pc}_{n}")
    addr = bv(SOCK_BASE + k * SOCK_STRIDE)
    lay.reserve_nulls[(pc, n)] = null
    lay.found_socks[(pc, n)] = (null, SOCK_BASE + k * SOCK_STRIDE)
    return [(st, S(bv(0)), null),
            (ok, _sock(lay, RET_KIND[ret], False, k + 1, addr), z3.Not(null))]


def cast(lay, st, pc: int, n: int, proto, sock):
    """bpf_sk_fullsock / bpf_tcp_sock (the same socket, holding its reference) and
    bpf_get_listener_sock (a socket holding none): NULL or the socket."""
    null = z3.Bool(f"sk_cast_null_{pc}_{n}")
    other = st.copy()
    ref = sock.r.gen if proto.name != "get_listener_sock" else 0
    addr = sock.key if proto.name != "get_listener_sock" else \
        z3.BitVec(f"listener_{pc}_{n}", 64)  # another socket
    kind = RET_KIND[proto.ret]  # its address is the socket's: not NULL on this path only
    return [(st, S(bv(0)), null),
            (other, P(Region(KIND, kind, gen=ref), bv(0), addr),
             z3.And(z3.Not(null), addr != bv(0)))]


def storage_get(lay, st, map_name: str, owner, pc: int, n: int):
    """bpf_sk_storage_get: NULL, or the value the map keeps for the socket ``owner`` (its
    address names the element; whether one exists or is created: unknown)."""
    m = lay.maps[map_name]
    w = 8 * max(m.key_size, 1)
    addr = lay.addr(owner)
    key = z3.Extract(w - 1, 0, addr) if w < 64 else addr
    null = z3.Bool(f"sk_storage_null_{pc}_{n}")
    hit = st.copy()
    return [(st, S(bv(0)), null), (hit, P(Region("map", map_name), bv(0), key), z3.Not(null))]


def release(st, p: P, tag: str) -> None:
    """release_reference: the reference ends; every pointer holding it (a socket, or a typed
    pointer cast from one: model.symbolic.sock_casts) becomes an unknown scalar."""
    from model.symbolic.sock_casts import holds

    ref = holds(p)
    st.maps = {n: a for n, a in st.maps.items() if n != f"{KIND}#{ref - 1}"}

    def drop(v, where):
        if holds(v) == ref:
            return S(z3.BitVec(f"released_{tag}_{where}", 64))
        return v

    for d, f in enumerate(st.frames):
        f.regs = [drop(v, f"{d}r{i}") for i, v in enumerate(f.regs)]
        f.spills = {o: drop(v, f"{d}s{o}") for o, v in f.spills.items()}


__all__ = ["KIND", "FOLLOWED", "STORAGE", "USERS", "storage_get", "SOCK_ARGS", "followed", "held", "ctx_pointer", "load",
           "access_bad", "arith_bad", "arg_bad", "acquire", "cast", "release", "in_map"]
