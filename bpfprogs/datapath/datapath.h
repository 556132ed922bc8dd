/* SPDX-License-Identifier: GPL-2.0 */
/*
 * datapath.h - types, maps and helpers of the datapath program (datapath.c): a small
 * L4 load balancer and stateless firewall, written for skv (not derived from any other
 * project's code).  Everything here is plain C; the static-key sites are all in the
 * .c file (kcheck.py and gen_sites.py count them in its text).
 */
#ifndef SKV_DATAPATH_H
#define SKV_DATAPATH_H

#include "../bpf_static_keys.h"

/* ---- more UAPI numbers ------------------------------------------------------------ */
#define BPF_MAP_TYPE_PROG_ARRAY        3
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY  4
#define BPF_MAP_TYPE_PERCPU_ARRAY      6
#define BPF_MAP_TYPE_LRU_HASH          9
#define BPF_NOEXIST                    1
#define BPF_F_CURRENT_CPU              0xffffffffULL
#define BPF_F_PSEUDO_HDR               (1ULL << 4)
#define TC_ACT_REDIRECT                7

#define ETH_P_8021Q_BE   0x0081   /* htons(0x8100) */
#define ETH_P_8021AD_BE  0xa888   /* htons(0x88a8) */
#define IPPROTO_ICMP     1
#define IPPROTO_TCP      6
#define IPPROTO_UDP      17
#define IPPROTO_ICMPV6   58
#define ICMP_ECHOREPLY   0
#define ICMP_ECHO        8
#define TCP_FIN          0x01
#define TCP_SYN          0x02
#define TCP_RST          0x04
#define TCP_ACK          0x10

/* ---- more helpers, by id ---------------------------------------------------------- */
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
static long (*bpf_skb_store_bytes)(void *skb, __u32 off, const void *from, __u32 len,
				   __u64 flags) = (void *)9;
static long (*bpf_l3_csum_replace)(void *skb, __u32 off, __u64 from, __u64 to,
				   __u64 size) = (void *)10;
static long (*bpf_l4_csum_replace)(void *skb, __u32 off, __u64 from, __u64 to,
				   __u64 flags) = (void *)11;
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *)12;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data,
				     __u64 size) = (void *)25;

/* ---- headers ---------------------------------------------------------------------- */
struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct iphdr {
	__u8   ihl_version;     /* ihl: low nibble (little-endian bitfield order) */
	__u8   tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8   ttl;
	__u8   protocol;
	__u16  check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__u8   vtc;             /* version and the top of the traffic class */
	__u8   flow[3];
	__be16 payload_len;
	__u8   nexthdr;
	__u8   hop_limit;
	__be32 saddr[4];
	__be32 daddr[4];
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8   doff_res;        /* data offset: high nibble */
	__u8   flags;
	__be16 window;
	__u16  check;
	__be16 urg_ptr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16  check;
};

struct icmphdr {
	__u8   type;
	__u8   code;
	__u16  checksum;
	__be16 id;
	__be16 seq;
};

/* ---- map values and keys ---------------------------------------------------------- */
/* what the XDP entry found, handed to the tail-called stage in a per-CPU scratch slot */
struct parse_ctx {
	__u32 l3_off;           /* byte offset of the IP header in the frame */
	__u16 l3_proto;         /* ETH_P_* (network order) */
	__u16 vlan_id;          /* innermost VLAN id, 0 if none */
	__u32 flags;
};

struct flow_v4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   pad[3];
};

struct flow_v6 {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   pad[3];
};

struct ct_entry {
	__u64 packets;
	__u64 bytes;
	__be32 orig_daddr;      /* the VIP, for the reverse (SNAT) direction */
	__be16 orig_dport;
	__u16 backend;
	__u32 state;            /* 1 = SYN seen, 2 = established, 3 = closing */
	__u32 mark;
};

struct vip_key {
	__be32 addr;
	__be16 port;
	__u8   proto;
	__u8   pad;
};

struct vip_meta {
	__u32 flags;            /* 1 = NAT, 2 = answer ICMP echo */
	__u32 first_backend;    /* index into `backends` */
	__u32 n_backends;       /* 1..16 */
};

struct backend {
	__be32 addr;
	__be16 port;
	__u16  weight;
};

struct policy_key {
	__be16 dport;
	__u8   proto;
	__u8   pad;
};

struct policy_val {
	__u32 action;           /* 0 = allow, 1 = deny, 2 = allow and count */
	__u32 hits;
};

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct debug_rec {
	__u32 stage;
	__u32 verdict;
	__u32 len;
	__u16 l3_proto;
	__u8  l4_proto;
	__u8  pad;
	__u8  l4[8];            /* the first bytes of the L4 header (dbg_dump_l4) */
};

struct vip6_key {
	__be32 addr[4];
	__be16 port;
	__u8   proto;
	__u8   pad;
};

struct backend6 {
	__be32 addr[4];
	__be16 port;
	__u16  weight;
};

/* a fragmented datagram: the first fragment records where its flow went */
struct frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8   proto;
	__u8   pad;
};

struct frag_val {
	__be32 backend_addr;    /* 0: not balanced */
	__be16 sport;
	__be16 dport;
};

struct dp_conf {
	__u32 mss;              /* the MSS tc egress clamps TCP SYNs to (dp_mss_clamp) */
	__u32 mtu;              /* frames longer than this are dropped at the entry, 0 = off */
	__u32 rate;             /* rate limit, packets per second per source, 0 = off */
	__u32 burst;            /* bucket size in packets */
};

/* counter slots of `stats` */
enum {
	ST_RX, ST_PASS, ST_DROP_PARSE, ST_DROP_POLICY, ST_DROP_TCP, ST_NAT, ST_CT_NEW,
	ST_CT_HIT, ST_ICMP_TX, ST_V6, ST_SAMPLED, ST_TC_IN, ST_TC_OUT, ST_SNAT, ST_ICMP_ERR,
	ST_MSS, ST_MTU, ST_FRAG, ST_HC, ST_RL_DROP, ST_MAX
};

/* ---- maps ------------------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 8);
} dp_stages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct parse_ctx);
	__uint(max_entries, 1);
} dp_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(max_entries, ST_MAX);
} dp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_v4);
	__type(value, struct ct_entry);
	__uint(max_entries, 4096);
} ct_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_v6);
	__type(value, struct ct_entry);
	__uint(max_entries, 1024);
} ct_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
	__uint(max_entries, 64);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, 256);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct policy_key);
	__type(value, struct policy_val);
	__uint(max_entries, 256);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct vip6_key);
	__type(value, struct vip_meta);
	__uint(max_entries, 64);
} vips6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend6);
	__uint(max_entries, 256);
} backends6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 4096);
} vlan_allow SEC(".maps");

/* token buckets of the rate limiter, per source address (IPv4: addr[0] only) */
struct rl_key {
	__be32 addr[4];
	__u32  family;
};

struct rl_bucket {
	__u64 last_ns;
	__u64 tokens;           /* in packets, scaled by 1000 */
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct rl_key);
	__type(value, struct rl_bucket);
	__uint(max_entries, 8192);
} rl_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct backend6);
	__type(value, struct vip6_key);
	__uint(max_entries, 256);
} snat6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct frag_key);
	__type(value, struct frag_val);
	__uint(max_entries, 1024);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, 64);
} hc_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend6);
	__uint(max_entries, 64);
} hc_targets6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct dp_conf);
	__uint(max_entries, 1);
} dp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} dp_events SEC(".maps");

#endif /* SKV_DATAPATH_H */
