"""Contexts of the socket and light-weight-tunnel program types, Linux 6.18 / x86-64
(``*_is_valid_access`` in net/core/filter.c; registered in
:func:`model.platform.ctx_layouts.ctx_layout`, checked against the running kernel by the
ctx sweeps of tests/test_platform.py and tests/test_skb_prog_types.py).

* ``lwt_in`` / ``lwt_out`` / ``lwt_xmit`` / ``lwt_seg6local`` (lwt_is_valid_access):
  ``struct __sk_buff`` without ``tc_classid``, ``data_meta``, the socket fields
  (``family`` .. ``local_port``), ``tstamp``, ``wire_len``, ``hwtstamp``; ``data`` /
  ``data_end`` are packet pointers; stores only to ``mark``, ``priority`` and ``cb``
  (every lwt type alike; lwt_xmit alone may also write the packet itself, see
  memcheck.PKT_WRITE_TYPES).
* ``sk_skb`` (sk_skb_is_valid_access; the same for every attach type): ``struct
  __sk_buff`` without ``tc_classid``, ``data_meta``, ``tstamp``, ``wire_len``,
  ``hwtstamp`` and ``mark``; the socket fields readable; stores only to ``tc_index`` and
  ``priority`` (not ``cb``).
* ``flow_dissector`` (flow_dissector_is_valid_access): only ``data`` / ``data_end``
  (4 bytes, packet pointers) and ``flow_keys`` (8 bytes, a ``struct bpf_flow_keys *``,
  PTR_TO_FLOW_KEYS: see :data:`FLOW_KEYS_SIZE`); read-only.
* ``sk_msg`` (sk_msg_is_valid_access): ``struct sk_msg_md`` (80 bytes), read-only, every
  field whole: ``data`` / ``data_end`` (8 bytes, packet pointers), the ``__u32`` socket
  fields and ``size`` (4 bytes), ``sk`` (8 bytes, a ``struct bpf_sock *``, never NULL).
* ``sk_lookup`` (sk_lookup_is_valid_access): ``struct bpf_sk_lookup`` (72 bytes),
  read-only; ``sk`` (8 bytes) a socket or NULL; the ``__u32`` fields narrow; the 2-byte
  ``remote_port`` also read with 4 bytes, and the padding after it narrow (backward
  compatibility).
* ``sk_reuseport`` (sk_reuseport_is_valid_access): ``struct sk_reuseport_md`` (56 bytes),
  read-only; ``data`` / ``data_end`` packet pointers (8 bytes); ``len``, ``ip_protocol``,
  ``bind_inany`` narrow, ``eth_protocol`` with 2 or 4 bytes, ``hash`` whole; ``sk`` a
  socket, ``migrating_sk`` a socket or NULL (8 bytes).
* ``raw_tracepoint_writable`` (raw_tp_writable_prog_is_valid_access), here beside them:
  raw_tracepoint's ``__u64 args[12]``, read-only, but an 8-byte read of ``args[0]`` yields
  the tracepoint's writable buffer (PTR_TO_TP_BUFFER: any constant offset >= 0, the largest
  checked when the program is attached); other reads at offset 0 are refused, past it any
  aligned read is a number.
* ``netfilter`` (nf_is_valid_access): ``struct bpf_nf_ctx`` (16 bytes), read-only, two
  8-byte pointers the verifier types with vmlinux BTF (trusted PTR_TO_BTF_ID): ``state``
  (``struct nf_hook_state``) and ``skb`` (``struct sk_buff``); kind ``trusted_ptr_STRUCT``
  (the kernel log's name).
"""

from __future__ import annotations

from model.platform.ctx_layouts import (
    ANY, NARROW, NONE, RAW_TP_CTX_SIZE, SK_BUFF_SIZE, W4, W8, CtxField, CtxLayout,
    _SOCK_FIELDS, skb_layout_from,
)

LWT_TYPES = ("lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local")
#: sizeof(struct bpf_flow_keys): what a PTR_TO_FLOW_KEYS may reach (check_flow_keys_access)
FLOW_KEYS_SIZE = 56
_PKT = {"data": "pkt", "data_end": "pkt_end"}


def _lwt_layout(prog_type: str) -> CtxLayout:
    refused = {"tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp"} | _SOCK_FIELDS
    return skb_layout_from(prog_type, refused, {"mark", "priority", "cb"}, _PKT)


def _sk_skb_layout() -> CtxLayout:
    refused = {"tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp", "mark"}
    return skb_layout_from("sk_skb", refused, {"tc_index", "priority"}, _PKT)


def _flow_dissector_layout() -> CtxLayout:
    f = (CtxField("data", 76, 4, W4, NONE, "pkt"), CtxField("data_end", 80, 4, W4, NONE, "pkt_end"),
         CtxField("flow_keys", 144, 8, W8, NONE, "flow_keys"))
    return CtxLayout("flow_dissector", "struct __sk_buff", SK_BUFF_SIZE, f)


def _u32s(names: str, start: int, sizes=W4) -> list[CtxField]:
    """Consecutive ``__u32`` fields (``name[N]``: an array of N)."""
    out, off = [], start
    for n in names.split():
        count = int(n[n.index("[") + 1:-1]) if "[" in n else 1
        out.append(CtxField(n.split("[")[0], off, 4 * count, sizes))
        off += 4 * count
    return out


def _sk_msg_layout() -> CtxLayout:
    f = [CtxField("data", 0, 8, W8, NONE, "pkt"), CtxField("data_end", 8, 8, W8, NONE, "pkt_end")]
    f += _u32s("family remote_ip4 local_ip4 remote_ip6[4] local_ip6[4] remote_port local_port "
               "size", 16)
    f.append(CtxField("sk", 72, 8, W8, NONE, "sock"))
    return CtxLayout("sk_msg", "struct sk_msg_md", 80, tuple(f))


def _sk_lookup_layout() -> CtxLayout:
    f = [CtxField("sk", 0, 8, W8, NONE, "sock_or_null")]
    f += _u32s("family protocol remote_ip4 remote_ip6[4]", 8, NARROW)
    # remote_port (__be16) and the zero padding after it: narrow, or 4 bytes at 36
    f.append(CtxField("remote_port", 36, 4, NARROW))
    f += _u32s("local_ip4 local_ip6[4] local_port ingress_ifindex", 40, NARROW)
    return CtxLayout("sk_lookup", "struct bpf_sk_lookup", 72, tuple(f))


def _sk_reuseport_layout() -> CtxLayout:
    f = [CtxField("data", 0, 8, W8, NONE, "pkt"), CtxField("data_end", 8, 8, W8, NONE, "pkt_end"),
         CtxField("len", 16, 4, NARROW), CtxField("eth_protocol", 20, 4, frozenset({2, 4})),
         CtxField("ip_protocol", 24, 4, NARROW), CtxField("bind_inany", 28, 4, NARROW),
         CtxField("hash", 32, 4, W4), CtxField("sk", 40, 8, W8, NONE, "sock"),
         CtxField("migrating_sk", 48, 8, W8, NONE, "sock_common_or_null")]
    return CtxLayout("sk_reuseport", "struct sk_reuseport_md", 56, tuple(f))


def _raw_tp_writable_layout() -> CtxLayout:
    f = (CtxField("args[0]", 0, 8, W8, NONE, "tp_buffer", inner=ANY),) + tuple(
        CtxField(f"args[{i}]", 8 * i, 8, ANY) for i in range(1, RAW_TP_CTX_SIZE // 8))
    return CtxLayout("raw_tracepoint_writable", "struct bpf_raw_tracepoint_args",
                     RAW_TP_CTX_SIZE, f)


def _netfilter_layout() -> CtxLayout:
    f = (CtxField("state", 0, 8, W8, NONE, "trusted_ptr_nf_hook_state"),
         CtxField("skb", 8, 8, W8, NONE, "trusted_ptr_sk_buff"))
    return CtxLayout("netfilter", "struct bpf_nf_ctx", 16, f)


_LAYOUTS = {"netfilter": _netfilter_layout, "raw_tracepoint_writable": _raw_tp_writable_layout, "sk_skb": _sk_skb_layout, "flow_dissector": _flow_dissector_layout,
            "sk_msg": _sk_msg_layout, "sk_lookup": _sk_lookup_layout,
            "sk_reuseport": _sk_reuseport_layout}
#: the program types whose contexts this module holds
SKB_TYPE_CTX = LWT_TYPES + tuple(_LAYOUTS)


def skb_type_layout(prog_type: str) -> CtxLayout:
    """The context of one of :data:`SKB_TYPE_CTX`."""
    if prog_type in LWT_TYPES:
        return _lwt_layout(prog_type)
    return _LAYOUTS[prog_type]()


__all__ = ["FLOW_KEYS_SIZE", "LWT_TYPES", "SKB_TYPE_CTX", "skb_type_layout"]
