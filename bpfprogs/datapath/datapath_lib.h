/* SPDX-License-Identifier: GPL-2.0 */
/*
 * datapath_lib.h - the datapath's helpers that hold no static-key site: counters,
 * checksums, flow hashes, the policy and backend lookups, TCP MSS clamping.
 */
#ifndef SKV_DATAPATH_LIB_H
#define SKV_DATAPATH_LIB_H

#include "datapath.h"

#define MAX_L3_OFF 22   /* Ethernet + two VLAN tags */
/* tc: fixed offsets of an untagged IPv4 frame without IP options */
#define IP_OFF      14
#define IP_SADDR    (IP_OFF + 12)
#define IP_CHECK    (IP_OFF + 10)
#define L4_OFF      (IP_OFF + 20)

/* ---- small helpers ---------------------------------------------------------------- */
static __always_inline void count(__u32 slot, __u64 bytes)
{
	struct counters *c = bpf_map_lookup_elem(&dp_stats, &slot);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624 incremental update of a 16-bit one's-complement checksum: 32-bit field */
static __always_inline void csum_replace4(__u16 *sum, __be32 from, __be32 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~(from & 0xffff);
	s += (__u16)~(from >> 16);
	s += to & 0xffff;
	s += to >> 16;
	*sum = csum_fold(s);
}

static __always_inline void csum_replace2(__u16 *sum, __be16 from, __be16 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~from;
	s += to;
	*sum = csum_fold(s);
}

static __always_inline __u32 flow_hash4(const struct flow_v4 *f)
{
	__u32 h = f->saddr * 0x9e3779b1u;

	h ^= f->daddr + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= ((__u32)f->sport << 16 | f->dport) + (h << 6) + (h >> 2);
	return h ^ f->proto;
}

static __always_inline __u32 flow_hash6(const struct flow_v6 *f)
{
	__u32 h = f->proto;

	h = h * 31 + f->saddr[0];
	h = h * 31 + f->saddr[1];
	h = h * 31 + f->saddr[2];
	h = h * 31 + f->saddr[3];
	h = h * 31 + f->daddr[3];
	return h ^ ((__u32)f->sport << 16 | f->dport);
}


/* ---------------------------------------------------------------- IPv4 helpers */
static __always_inline int policy_verdict(__be16 dport, __u8 proto)
{
	struct policy_key pk = { .dport = dport, .proto = proto };
	struct policy_val *pv = bpf_map_lookup_elem(&policy, &pk);

	if (!pv)
		return 0;
	__sync_fetch_and_add(&pv->hits, 1);
	return pv->action;
}

static __always_inline struct backend *pick_backend(struct vip_meta *vm, __u32 hash)
{
	__u32 n = vm->n_backends, idx;

	if (n == 0 || n > 16)
		return NULL;
	idx = vm->first_backend + hash % n;
	return bpf_map_lookup_elem(&backends, &idx);
}

/* One TCP option at opts + *pos: 1 = the MSS option, -1 = stop, 0 = go on (pos moved). */
static __always_inline int mss_opt_step(__u8 *opts, void *data_end, __u32 optlen, __u32 *pos)
{
	__u32 at = *pos;
	__u8 *p;

	if (at >= optlen)
		return -1;
	p = opts + at;
	if ((void *)(p + 2) > data_end)
		return -1;
	if (p[0] == 0)
		return -1;
	if (p[0] == 1) {
		*pos = at + 1;
		return 0;
	}
	if (p[0] == 2 && p[1] == 4)
		return 1;
	if (p[1] < 2)
		return -1;
	*pos = at + p[1];
	return 0;
}

#define MSS_STEP()							\
	do {								\
		found = mss_opt_step((__u8 *)(th + 1), data_end, optlen, &pos); \
		if (found)						\
			goto done;					\
	} while (0)

/* Lower the MSS option of an outgoing IPv4 TCP SYN to dp_config's mss (tunnel MTU). */
static __always_inline void clamp_mss(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcphdr *th = data + L4_OFF;
	struct iphdr *ip = data + IP_OFF;
	struct dp_conf *conf;
	__u32 zero = 0, pos = 0, optlen;
	int found;
	__be16 mss, want;
	__u8 *p;

	if ((void *)(th + 1) > data_end || ip->ihl_version != 0x45 ||
	    ip->protocol != IPPROTO_TCP || !(th->flags & TCP_SYN))
		return;
	optlen = (th->doff_res >> 4) * 4;
	if (optlen <= sizeof(*th))
		return;
	optlen -= sizeof(*th);
	conf = bpf_map_lookup_elem(&dp_config, &zero);
	if (!conf || !conf->mss || conf->mss > 0xffff)
		return;
	/* find the MSS option: at most 4 options are looked at (written out: clang
	 * does not fully unroll the loop form, and the verifier would walk it) */
	MSS_STEP(); MSS_STEP(); MSS_STEP(); MSS_STEP();
	return;
done:
	if (found <= 0 || pos > 36)
		return;
	p = (__u8 *)(th + 1) + pos;
	if ((void *)(p + 4) > data_end)
		return;
	mss = *(__be16 *)(p + 2);
	if (__builtin_bswap16(mss) <= conf->mss)
		return;
	want = __builtin_bswap16((__u16)conf->mss);
	bpf_l4_csum_replace(skb, L4_OFF + 16, mss, want, 2);
	bpf_skb_store_bytes(skb, L4_OFF + sizeof(*th) + pos + 2, &want, 2, 0);
	count(ST_MSS, skb->len);
}

#endif /* SKV_DATAPATH_LIB_H */
