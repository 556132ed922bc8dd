"""Reads through a socket pointer (``struct bpf_sock``, Linux 6.18 include/uapi/linux/bpf.h;
net/core/filter.c bpf_sock_is_valid_access / bpf_sock_common_is_valid_access, called by the
verifier's check_sock_access). Writes are never allowed; checked against the running kernel
by tests/test_references.py.
"""

from __future__ import annotations

SIZE = 80  # sizeof(struct bpf_sock)
DEFAULT = 4  # every field is a __u32 (dst_port: __be16 and 2 bytes of padding)
#: fields with narrow loads (1, 2 or 4 bytes) at their own offset only
SINGLE = {4: "family", 8: "type", 12: "protocol", 44: "src_port", 72: "state",
          76: "rx_queue_mapping"}
#: fields with narrow loads anywhere inside them: [start, end)
RANGES = ((24, 28, "src_ip4"), (28, 44, "src_ip6"), (52, 56, "dst_ip4"), (56, 72, "dst_ip6"))
#: dst_port: a 4-byte load at 48, or narrow loads inside its 2 bytes
DST_PORT = 48
#: what a sock_common pointer (bpf_skc_lookup_tcp) may not read: type .. priority
NOT_IN_COMMON = range(8, 24)


def _narrow_ok(off: int, size: int, field: int) -> bool:
    return size <= field and size in (1, 2, 4) and off % size == 0


def sock_read_ok(off: int, size: int, common: bool = False) -> bool:
    """Whether ``size`` bytes at ``off`` of a socket may be read (``common``: the pointer
    is a sock_common, a socket that need not be full)."""
    if common and off in NOT_IN_COMMON:
        return False
    if off < 0 or off >= SIZE or off % size:
        return False
    if off in SINGLE or any(lo <= off < hi for lo, hi, _ in RANGES):
        return _narrow_ok(off, size, DEFAULT)
    if DST_PORT <= off < DST_PORT + 4:
        if size == DEFAULT:
            return True
        return off + size <= DST_PORT + 2 and _narrow_ok(off, size, 2)
    return size == DEFAULT


#: struct bpf_tcp_sock: __u32 fields up to icsk_retransmits (ends at 112), but
#: bytes_received (80) and bytes_acked (88), __u64 (bpf_tcp_sock_is_valid_access)
TCP_SIZE = 112
TCP_U64 = (80, 88)


def tcp_sock_read_error(regno: int, off: int, size: int) -> str | None:
    if off < 0 or off >= TCP_SIZE or off % size:
        return f"R{regno} invalid tcp_sock access off={off} size={size}"
    if off in TCP_U64:
        ok = size == 8
    else:
        ok = size == DEFAULT
        if ok and off - DEFAULT in TCP_U64:  # accepted, then its conversion fails
            return "verifier bug: error during ctx access conversion (0)"
    return None if ok else f"R{regno} invalid tcp_sock access off={off} size={size}"


def sock_access(kind: str, regno: int, off: int, size: int, write: bool) -> str | None:
    """The kernel's message for a bad access through socket pointer ``kind`` ("sock",
    "sock_common", "tcp_sock" or "xdp_sock") at a fixed offset, or None."""
    if write:
        return f"R{regno} cannot write into {kind}"
    if kind == "tcp_sock":
        return tcp_sock_read_error(regno, off, size)
    if kind == "xdp_sock":  # bpf_xdp_sock_is_valid_access: __u32 queue_id, whole
        return None if (off, size) == (0, 4) else \
            f"R{regno} invalid xdp_sock access off={off} size={size}"
    if not sock_read_ok(off, size, common=kind == "sock_common"):
        return f"R{regno} invalid {kind} access off={off} size={size}"
    return None


__all__ = ["sock_access", "sock_read_ok"]
