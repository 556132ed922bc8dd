"""BPF C programs of the socket and lwt program types (an sk_msg redirector, an sk_skb
parser / verdict pair, an lwt_xmit encapsulation, a flow dissector, sk_lookup and
sk_reuseport selectors) and unsafe twins, for tests/test_skb_prog_types.py. Each program's
name ends in ``_ok`` when Linux 6.18 accepts it. Compiled with clang-19 after
tests/conftest.py's PRELUDE."""

from __future__ import annotations

from model.platform.prototypes import helper_id

_HELPERS = {
    "skb_load_bytes": "void *, __u32, void *, __u32",
    "sk_redirect_map": "void *, void *, __u32, __u64",
    "msg_redirect_hash": "void *, void *, void *, __u64", "msg_apply_bytes": "void *, __u32",
    "msg_pull_data": "void *, __u32, __u32, __u64", "lwt_push_encap": "void *, __u32, void *, __u32",
    "sk_select_reuseport": "void *, void *, void *, __u64", "skb_change_tail": "void *, __u32, __u64",
    "skb_pull_data": "void *, __u32", "sk_assign": "void *, void *, __u64",
    "sk_release": "void *",
}
HELPERS = "".join(f"static long (*bpf_{n})({a}) = (void *){helper_id(n)};\n"
                  for n, a in _HELPERS.items())

STRUCTS = r"""
struct __sk_buff {
    __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto,
        priority, ingress_ifindex, ifindex, tc_index, cb[5], hash, tc_classid, data, data_end,
        napi_id, family, remote_ip4, local_ip4, remote_ip6[4], local_ip6[4], remote_port,
        local_port, data_meta;
    __u64 flow_keys, tstamp;
    __u32 wire_len, gso_segs;
    __u64 sk;
    __u32 gso_size;
    __u8 tstamp_type;
    __u64 hwtstamp;
};
struct bpf_flow_keys {
    __u16 nhoff, thoff, addr_proto;
    __u8 is_frag, is_first_frag, is_encap, ip_proto;
    __u16 n_proto, sport, dport;
    __u32 ipv4_src, ipv4_dst, ipv6_rest[6];
    __u32 flags, flow_label;
};
struct bpf_sock { __u32 bound_dev_if, family, type, protocol, mark, priority; };
struct sk_msg_md {
    void *data; void *data_end;
    __u32 family, remote_ip4, local_ip4, remote_ip6[4], local_ip6[4], remote_port, local_port,
        size;
    struct bpf_sock *sk;
};
struct bpf_sk_lookup {
    struct bpf_sock *sk;
    __u32 family, protocol, remote_ip4, remote_ip6[4];
    __u16 remote_port, pad;
    __u32 local_ip4, local_ip6[4], local_port, ingress_ifindex;
};
struct sk_reuseport_md {
    void *data; void *data_end;
    __u32 len, eth_protocol, ip_protocol, bind_inany, hash;
    struct bpf_sock *sk; struct bpf_sock *migrating_sk;
};
#define PKT(skb) ((void *)(long)(skb)->data)
#define PKT_END(skb) ((void *)(long)(skb)->data_end)
"""

MAPS = r"""
struct { __uint(type, 15); __type(key, __u32); __type(value, __u32); __uint(max_entries, 2); }
    sock_map SEC(".maps");
struct { __uint(type, 18); __type(key, __u32); __type(value, __u32); __uint(max_entries, 16); }
    sock_hash SEC(".maps");
struct { __uint(type, 20); __type(key, __u32); __type(value, __u32); __uint(max_entries, 4); }
    reuse_socks SEC(".maps");
"""

PROGRAMS = r"""
/* sk_skb: a length-prefix parser and a verdict redirecting on the first byte */
SEC("sk_skb/stream_parser") int parser_ok(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 2 > end) return skb->len;
    return ((__u8 *)data)[0] << 8 | ((__u8 *)data)[1];
}
SEC("sk_skb/stream_verdict") int verdict_ok(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    __u32 idx = 0;
    if (data + 1 <= end) idx = *(__u8 *)data & 1;
    skb->priority = 3;
    return bpf_sk_redirect_map(skb, &sock_map, idx, 0);
}
SEC("sk_skb/verdict") int verdict_pull_ok(struct __sk_buff *skb) {
    if (bpf_skb_pull_data(skb, 8)) return 0;
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 8 > end) return 0;
    ((__u8 *)data)[0] = 0x2a;               /* sk_skb may write its packet */
    return 1;
}
SEC("sk_skb/stream_verdict") int verdict_stale_pointer(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 4 > end) return 0;
    bpf_skb_change_tail(skb, 64, 0);        /* packet pointers die here */
    return *(__u8 *)data;
}
SEC("sk_skb/stream_verdict") int verdict_unchecked(struct __sk_buff *skb) {
    return *(__u8 *)PKT(skb);
}
SEC("sk_skb/stream_verdict") int verdict_writes_mark(struct __sk_buff *skb) {
    skb->mark = 1;
    return 1;
}

/* sk_msg: redirect by the first word of the message, cork-free */
SEC("sk_msg") int msg_redirect_ok(struct sk_msg_md *msg) {
    __u32 key = msg->remote_port & 15;
    void *data = msg->data, *end = msg->data_end;
    if (data + 4 <= end) key ^= *(__u32 *)data & 15;
    bpf_msg_apply_bytes(msg, msg->size);
    return bpf_msg_redirect_hash(msg, &sock_hash, &key, 0);
}
SEC("sk_msg") int msg_write_ok(struct sk_msg_md *msg) {
    if (bpf_msg_pull_data(msg, 0, 4, 0)) return 1;
    void *data = msg->data, *end = msg->data_end;
    if (data + 4 > end) return 1;
    *(__u32 *)data = 0;                     /* sk_msg may write its data */
    return msg->sk->family == 2;
}
SEC("sk_msg") int msg_unchecked(struct sk_msg_md *msg) {
    return *(__u32 *)msg->data;
}
SEC("sk_msg") int msg_past_end(struct sk_msg_md *msg) {
    void *data = msg->data, *end = msg->data_end;
    if (data + 4 > end) return 1;
    return *(__u32 *)(data + 2);
}

/* lwt_xmit: push an IPv4 header, mark, rewrite a byte; lwt_in may not write the packet */
SEC("lwt_xmit") int encap_ok(struct __sk_buff *skb) {
    __u8 hdr[20] = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 4};
    hdr[3] += skb->len & 0xff;
    if (bpf_lwt_push_encap(skb, 2, hdr, sizeof(hdr))) return 2;
    skb->mark = 7;
    skb->cb[0] = skb->len;
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 20 > end) return 0;
    ((__u8 *)data)[8] -= 1;
    return 0;
}
SEC("lwt_in") int lwt_in_writes_packet(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 1 > end) return 0;
    *(__u8 *)data = 0;
    return 0;
}
SEC("lwt_out") int lwt_out_reads_ok(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    if (data + 20 > end) return 0;
    return ((__u8 *)data)[9] == 17 ? 2 : 0;
}
SEC("lwt_xmit") int lwt_writes_tc_index(struct __sk_buff *skb) {
    skb->tc_index = 1;
    return 0;
}

/* flow dissector: parse an Ethernet + IPv4 header from the packet and by skb_load_bytes */
SEC("flow_dissector") int dissect_ok(struct __sk_buff *skb) {
    void *data = PKT(skb), *end = PKT_END(skb);
    __u8 vihl;
    if (data + 34 > end) return 2;
    if (((__u8 *)data)[12] != 8 || ((__u8 *)data)[13] != 0) return 2;
    if (bpf_skb_load_bytes(skb, 14, &vihl, 1)) return 2;
    return (vihl >> 4) == 4 ? 0 : 2;
}
SEC("flow_dissector") int dissect_keys_ok(struct __sk_buff *skb) {
    struct bpf_flow_keys *keys = (void *)(long)skb->flow_keys;
    void *data = PKT(skb), *end = PKT_END(skb);
    __u32 nhoff = keys->nhoff;
    if (nhoff > 64 || keys->n_proto != 0x0008) return 2;
    __u8 *ip = data + nhoff;
    if ((void *)(ip + 20) > end) return 2;
    keys->ip_proto = ip[9];
    keys->addr_proto = 0x0008;
    keys->ipv4_src = *(__u32 *)(ip + 12);
    keys->ipv4_dst = *(__u32 *)(ip + 16);
    keys->thoff = keys->nhoff + ((ip[0] & 0xf) << 2);
    return 0;
}
SEC("flow_dissector") int dissect_keys_past_end(struct __sk_buff *skb) {
    struct bpf_flow_keys *keys = (void *)(long)skb->flow_keys;
    (&keys->flow_label)[1] = 0;
    return 0;
}
SEC("flow_dissector") int dissect_reads_len(struct __sk_buff *skb) {
    return skb->len ? 0 : 2;
}
SEC("flow_dissector") int dissect_unchecked(struct __sk_buff *skb) {
    return ((__u8 *)PKT(skb))[12];
}

/* sk_lookup: let port 7007 through only to a bound socket, drop some sources */
SEC("sk_lookup") int lookup_ok(struct bpf_sk_lookup *ctx) {
    if (ctx->local_port != 7007) return 1;
    if (ctx->family == 2 && (ctx->remote_ip4 & 0xff) == 10) return 0;
    if (ctx->remote_port == 0) return 0;
    struct bpf_sock *sk = ctx->sk;
    if (sk && sk->protocol != ctx->protocol) return 0;
    return 1;
}
SEC("sk_lookup") int lookup_returns_two(struct bpf_sk_lookup *ctx) {
    return ctx->local_port == 7007 ? 2 : 1;
}
SEC("sk_lookup") int lookup_sk_unchecked(struct bpf_sk_lookup *ctx) {
    return ctx->sk->protocol == 6;
}
SEC("sk_lookup") int lookup_assign_ok(struct bpf_sk_lookup *ctx) {
    __u32 zero = 0;
    struct bpf_sock *sk = bpf_map_lookup_elem(&sock_map, &zero);
    if (!sk) return 0;
    long err = bpf_sk_assign(ctx, sk, 0);
    bpf_sk_release(sk);
    return err ? 0 : 1;
}

/* sk_reuseport: select a socket by the packet's hash */
SEC("sk_reuseport") int reuseport_ok(struct sk_reuseport_md *md) {
    __u32 key = md->hash & 3;
    void *data = md->data, *end = md->data_end;
    if (data + 1 <= end) key ^= *(__u8 *)data & 3;
    if (md->eth_protocol != 0x0008 || md->ip_protocol != 17) return 1;
    return bpf_sk_select_reuseport(md, &reuse_socks, &key, 0) ? 0 : 1;
}
SEC("sk_reuseport/migrate") int reuseport_migrate_ok(struct sk_reuseport_md *md) {
    if (!md->migrating_sk) return 1;
    return md->sk->family == md->migrating_sk->family;
}
SEC("sk_reuseport") int reuseport_writes(struct sk_reuseport_md *md) {
    void *data = md->data, *end = md->data_end;
    if (data + 1 > end) return 1;
    *(__u8 *)data = 0;
    return 1;
}
"""

#: netfilter and raw_tp.w: the kernel objects behind the context (this kernel's offsets:
#: nf_hook_state.hook at 0, sk_buff.len at 112), and a writable tracepoint's buffer
TYPED = r"""
struct nf_hook_state_view { __u8 hook, pf; };
struct sk_buff_view { char pad[112]; __u32 len; };
struct bpf_nf_ctx { struct nf_hook_state_view *state; struct sk_buff_view *skb; };
SEC("netfilter") int nf_drop_big_ok(struct bpf_nf_ctx *ctx) {
    if (ctx->state->hook == 1 && ctx->skb->len > 1500) return 0;
    return 1;
}
SEC("netfilter") int nf_writes_skb(struct bpf_nf_ctx *ctx) {
    ctx->skb->len = 0;
    return 1;
}
SEC("raw_tp.w/nbd_send_request") int tp_buffer_ok(void *ctx) {
    __u32 *buf = (void *)((__u64 *)ctx)[0];
    buf[1] = buf[0] + 7;
    return 0;
}
SEC("raw_tp.w/nbd_send_request") int tp_buffer_before(void *ctx) {
    __u32 *buf = (void *)((__u64 *)ctx)[0];
    buf[-1] = 7;
    return 0;
}
"""

SOURCE = HELPERS + STRUCTS + MAPS + PROGRAMS + TYPED
