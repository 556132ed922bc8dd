"""The contexts of the cgroup program types (Linux 6.18, include/uapi/linux/bpf.h), their
access rules by ``expected_attach_type`` (net/core/filter.c, kernel/bpf/cgroup.c) and the
attach types the kernel loads them with (bpf_prog_load_check_attach). Registered in
:func:`model.platform.ctx_layouts.ctx_layout`; checked against the running kernel by
tests/test_cgroup_types.py (every offset, size 1/2/4/8, read and write, per attach type).

* ``cgroup_sock``: ``struct bpf_sock`` (80 bytes; bpf_sock_is_valid_access, then
  sock_filter_is_valid_access): ``__u32`` fields read whole, except the narrow ones
  (family, type, protocol, src_port, state, rx_queue_mapping narrow from their start; the
  addresses narrow anywhere inside; dst_port whole or narrow inside its 2 bytes).
  ``bound_dev_if``, ``mark``, ``priority``: read and written (4 bytes) only by
  sock_create / sock_release; ``src_ip4`` only for post_bind4, ``src_ip6`` for post_bind6,
  ``src_port`` for both post_bind; everything else read-only. Attach type 0 is loaded as
  sock_create (bpf_prog_load_fixup_attach_type).
* ``cgroup_sock_addr``: ``struct bpf_sock_addr`` (72 bytes; sock_addr_is_valid_access):
  ``user_ip4`` only for the inet4 hooks, ``user_ip6`` for the inet6 ones, ``msg_src_ip4`` /
  ``msg_src_ip6`` only for sendmsg4 / sendmsg6; these and ``user_port`` are read narrow
  (or 8 bytes at an 8-aligned offset inside the IPv6 arrays) and written with 4 bytes (or
  8 the same way); ``user_family``, ``family``, ``type``, ``protocol``: 4-byte reads;
  ``sk``: an 8-byte read giving a socket pointer (PTR_TO_SOCKET, never NULL).
* ``cgroup_device``: ``struct bpf_cgroup_dev_ctx`` (12 bytes, read-only): ``access_type``
  narrow anywhere, ``major`` / ``minor`` whole.
* ``cgroup_sysctl``: ``struct bpf_sysctl`` (8 bytes): ``write`` read-only (narrow),
  ``file_pos`` read narrow and written with 4 bytes.
* ``cgroup_sockopt``: ``struct bpf_sockopt`` (40 bytes): ``sk`` (socket pointer),
  ``optval`` / ``optval_end`` (packet / packet end) 8-byte reads; ``level``, ``optname``,
  ``optlen`` 4-byte reads; writes of 4 bytes to ``optlen``, to ``level`` / ``optname`` for
  setsockopt, ``retval`` read and written only for getsockopt.
"""

from __future__ import annotations

from model.errors import NotModelled
from model.platform.ctx_layouts import ANY, NARROW, NONE, W4, W8, CtxField, CtxLayout

# enum bpf_attach_type (model.elf.sections.ATTACH_TYPE_IDS)
SOCK_CREATE, SOCK_RELEASE, POST_BIND4, POST_BIND6 = 2, 34, 12, 13
INET4_BIND, INET6_BIND, INET4_CONNECT, INET6_CONNECT = 8, 9, 10, 11
UDP4_SENDMSG, UDP6_SENDMSG, UDP4_RECVMSG, UDP6_RECVMSG = 14, 15, 19, 20
INET4_GETPEERNAME, INET6_GETPEERNAME, INET4_GETSOCKNAME, INET6_GETSOCKNAME = 29, 30, 31, 32
UNIX_CONNECT, UNIX_SENDMSG, UNIX_RECVMSG, UNIX_GETPEERNAME, UNIX_GETSOCKNAME = 49, 50, 51, 52, 53
GETSOCKOPT, SETSOCKOPT = 21, 22

INET4_HOOKS = frozenset({INET4_BIND, INET4_CONNECT, INET4_GETPEERNAME, INET4_GETSOCKNAME,
                         UDP4_SENDMSG, UDP4_RECVMSG})
INET6_HOOKS = frozenset({INET6_BIND, INET6_CONNECT, INET6_GETPEERNAME, INET6_GETSOCKNAME,
                         UDP6_SENDMSG, UDP6_RECVMSG})
UNIX_HOOKS = frozenset({UNIX_CONNECT, UNIX_SENDMSG, UNIX_RECVMSG, UNIX_GETPEERNAME,
                        UNIX_GETSOCKNAME})

#: the expected_attach_type values bpf_prog_load_check_attach accepts (None: any value)
VALID_ATTACH: dict[str, frozenset[int] | None] = {
    "cgroup_sock": frozenset({SOCK_CREATE, SOCK_RELEASE, POST_BIND4, POST_BIND6}),
    "cgroup_sock_addr": INET4_HOOKS | INET6_HOOKS | UNIX_HOOKS,
    "cgroup_sockopt": frozenset({GETSOCKOPT, SETSOCKOPT}),
    "cgroup_device": None,
    "cgroup_sysctl": None,
}
CGROUP_TYPES = tuple(VALID_ATTACH)


def effective_attach(prog_type: str, attach_type: int) -> int:
    """The attach type the kernel verifies with: cgroup_sock's 0 becomes sock_create."""
    if prog_type == "cgroup_sock" and attach_type == 0:
        return SOCK_CREATE
    return attach_type


def attach_refusal(prog_type: str, attach_type: int) -> str | None:
    """Why the kernel refuses to load ``prog_type`` with this expected_attach_type (EINVAL
    before verification), or None."""
    valid = VALID_ATTACH.get(prog_type)
    if valid is None or effective_attach(prog_type, attach_type) in valid:
        return None
    return (f"expected_attach_type {attach_type} is not valid for program type {prog_type} "
            "(the kernel refuses the load: EINVAL)")


# --- struct bpf_sock (the cgroup_sock context) -----------------------------------------
def _sock_layout(attach: int) -> CtxLayout:
    create = attach in (SOCK_CREATE, SOCK_RELEASE)
    rw = (W4, W4) if create else (NONE, NONE)
    src4 = NARROW if attach == POST_BIND4 else NONE
    src6 = NARROW if attach == POST_BIND6 else NONE
    port = NARROW if attach in (POST_BIND4, POST_BIND6) else NONE
    f = (CtxField("bound_dev_if", 0, 4, *rw),
         CtxField("family", 4, 4, NARROW, at_start=True),
         CtxField("type", 8, 4, NARROW, at_start=True),
         CtxField("protocol", 12, 4, NARROW, at_start=True),
         CtxField("mark", 16, 4, *rw), CtxField("priority", 20, 4, *rw),
         CtxField("src_ip4", 24, 4, src4), CtxField("src_ip6", 28, 16, src6),
         CtxField("src_port", 44, 4, port, at_start=True),
         CtxField("dst_port", 48, 4, NARROW, narrow_end=2),
         CtxField("dst_ip4", 52, 4), CtxField("dst_ip6", 56, 16),
         CtxField("state", 72, 4, NARROW, at_start=True),
         CtxField("rx_queue_mapping", 76, 4, NARROW, at_start=True))
    return CtxLayout("cgroup_sock", "struct bpf_sock", 80, f)


# --- struct bpf_sock_addr ----------------------------------------------------------------
_W48 = frozenset({4, 8})


def _sock_addr_layout(attach: int) -> CtxLayout:
    def when(ok: bool, read, write):
        return (read, write) if ok else (NONE, NONE)

    f = (CtxField("user_family", 0, 4, W4),
         CtxField("user_ip4", 4, 4, *when(attach in INET4_HOOKS, NARROW, W4)),
         CtxField("user_ip6", 8, 16, *when(attach in INET6_HOOKS, ANY, _W48)),
         CtxField("user_port", 24, 4, NARROW, W4),
         CtxField("family", 28, 4, W4), CtxField("type", 32, 4, W4),
         CtxField("protocol", 36, 4, W4),
         CtxField("msg_src_ip4", 40, 4, *when(attach == UDP4_SENDMSG, NARROW, W4)),
         CtxField("msg_src_ip6", 44, 16, *when(attach == UDP6_SENDMSG, ANY, _W48)),
         CtxField("sk", 64, 8, W8, NONE, "sock"))
    return CtxLayout("cgroup_sock_addr", "struct bpf_sock_addr", 72, f)


# --- struct bpf_cgroup_dev_ctx, struct bpf_sysctl, struct bpf_sockopt ----------------------
def _device_layout() -> CtxLayout:
    f = (CtxField("access_type", 0, 4), CtxField("major", 4, 4, W4),
         CtxField("minor", 8, 4, W4))
    return CtxLayout("cgroup_device", "struct bpf_cgroup_dev_ctx", 12, f)


def _sysctl_layout() -> CtxLayout:
    f = (CtxField("write", 0, 4), CtxField("file_pos", 4, 4, NARROW, W4))
    return CtxLayout("cgroup_sysctl", "struct bpf_sysctl", 8, f)


def _sockopt_layout(attach: int) -> CtxLayout:
    setopt = W4 if attach == SETSOCKOPT else NONE
    retval = W4 if attach == GETSOCKOPT else NONE
    f = (CtxField("sk", 0, 8, W8, NONE, "sock"),
         CtxField("optval", 8, 8, W8, NONE, "pkt"),
         CtxField("optval_end", 16, 8, W8, NONE, "pkt_end"),
         CtxField("level", 24, 4, W4, setopt), CtxField("optname", 28, 4, W4, setopt),
         CtxField("optlen", 32, 4, W4, W4), CtxField("retval", 36, 4, retval, retval))
    return CtxLayout("cgroup_sockopt", "struct bpf_sockopt", 40, f)


def cgroup_layout(prog_type: str, attach_type: int) -> CtxLayout:
    """The context of a cgroup program type loaded with ``attach_type`` (NotModelled for an
    attach type the kernel refuses to load the type with)."""
    why = attach_refusal(prog_type, attach_type)
    if why is not None:
        raise NotModelled(f"the context of {prog_type} with expected_attach_type "
                          f"{attach_type} (the kernel refuses the load)")
    attach = effective_attach(prog_type, attach_type)
    if prog_type == "cgroup_sock":
        return _sock_layout(attach)
    if prog_type == "cgroup_sock_addr":
        return _sock_addr_layout(attach)
    if prog_type == "cgroup_device":
        return _device_layout()
    if prog_type == "cgroup_sysctl":
        return _sysctl_layout()
    if prog_type == "cgroup_sockopt":
        return _sockopt_layout(attach)
    raise NotModelled(f"the context of program type {prog_type}")


__all__ = ["CGROUP_TYPES", "VALID_ATTACH", "attach_refusal", "cgroup_layout",
           "effective_attach"]
