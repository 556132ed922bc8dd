/* SPDX-License-Identifier: GPL-2.0 */
/*
 * datapath_tc.h - the datapath's tc programs (included once, by datapath.c, after the
 * key definitions): ingress reverse NAT and egress policy / MSS clamping.
 */
/* ==================================================================== tc ingress */
/*
 * Replies from a backend come back through tc ingress: if conntrack knows the reversed
 * flow, the source (backend address and port) is rewritten back to the VIP, with the
 * kernel's checksum helpers.  Every helper that changes the packet invalidates the
 * packet pointers, so they are re-read after each.
 */
/*
 * IPv6 replies backend -> client: conntrack holds client -> VIP6 keyed flows; the reply
 * is rewritten back to the VIP6 (source address: four 32-bit words, each with its
 * pseudo-header checksum update; IPv6 has no header checksum).
 */
#define IP6_OFF      14
#define IP6_SADDR    (IP6_OFF + 8)
#define L4_OFF6      (IP6_OFF + 40)

static __always_inline int snat_v6(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + IP6_OFF;
	struct flow_v6 k = {};
	struct vip6_key *orig;
	struct ct_entry *ct;
	__be32 from[4], to[4];
	__u32 csum_off, i;
	__u8 proto;

	if ((void *)(ip6 + 1) > data_end)
		return TC_ACT_OK;
	proto = ip6->nexthdr;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return TC_ACT_OK;
	if (data + L4_OFF6 + sizeof(struct udphdr) > data_end)
		return TC_ACT_OK;
	if (!bpf_static_branch_likely(&dp_conntrack) || !bpf_static_branch_likely(&dp_nat))
		return TC_ACT_OK;
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		k.saddr[i] = ip6->daddr[i];
		from[i] = ip6->saddr[i];
	}
	k.sport = *(__be16 *)(data + L4_OFF6 + 2);
	k.dport = *(__be16 *)(data + L4_OFF6);
	k.proto = proto;
	/* the VIP6 of this backend: `snat6` maps a backend address back to its VIP */
	orig = bpf_map_lookup_elem(&snat6, from);
	if (!orig)
		return TC_ACT_OK;
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		k.daddr[i] = orig->addr[i];
		to[i] = orig->addr[i];
	}
	ct = bpf_map_lookup_elem(&ct_v6, &k);
	if (!ct)
		return TC_ACT_OK;
	if (bpf_static_branch_unlikely(&dp_mark))
		skb->mark = ct->mark;
	csum_off = L4_OFF6 + (proto == IPPROTO_TCP ? 16 : 6);
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++)
		bpf_l4_csum_replace(skb, csum_off, from[i], to[i], BPF_F_PSEUDO_HDR | 4);
	bpf_skb_store_bytes(skb, IP6_SADDR, to, sizeof(to), 0);
	count(ST_SNAT, skb->len);
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp snat6: %x -> %x", from[3], to[3]);
	return TC_ACT_OK;
}

SEC("tc")
int dp_tc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct flow_v4 rev = {};
	struct ct_entry *ct;
	struct iphdr *ip;
	__be32 from;
	__be16 sport;
	__u32 csum_off;

	count(ST_TC_IN, skb->len);
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto == ETH_P_IPV6_BE) {
		if (!bpf_static_branch_likely(&dp_ipv6)) {
			if (bpf_static_branch_unlikely(&dp_policy_drop))
				return TC_ACT_SHOT;
			return TC_ACT_OK;
		}
		return snat_v6(skb);
	}
	if (eth->h_proto != ETH_P_IP_BE)
		return TC_ACT_OK;
	ip = data + IP_OFF;
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	if (ip->ihl_version != 0x45)            /* options: not ours to rewrite */
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	if (data + L4_OFF + sizeof(struct tcphdr) > data_end && ip->protocol == IPPROTO_TCP)
		return TC_ACT_OK;
	if (data + L4_OFF + sizeof(struct udphdr) > data_end)
		return TC_ACT_OK;

	/* the flow as the client sent it: client -> VIP; we see backend -> client */
	rev.saddr = ip->daddr;
	rev.sport = *(__be16 *)(data + L4_OFF + 2);
	rev.proto = ip->protocol;
	if (!bpf_static_branch_likely(&dp_conntrack))
		return TC_ACT_OK;
	/* the original flow's daddr is the VIP, which the entry remembers */
	rev.daddr = 0;
	rev.dport = 0;
	ct = NULL;
	{
		struct flow_v4 k = rev;
		__u32 i;

		/* look the flow up by client address and port with the VIP port 0, 80, 443 */
#pragma clang loop unroll(full)
		for (i = 0; i < 3; i++) {
			k.dport = i == 0 ? 0 : i == 1 ? 0x5000 : 0xbb01;
			k.daddr = ip->saddr;
			ct = bpf_map_lookup_elem(&ct_v4, &k);
			if (ct)
				break;
		}
	}
	if (!ct)
		return TC_ACT_OK;
	if (bpf_static_branch_unlikely(&dp_mark))
		skb->mark = ct->mark;
	if (!bpf_static_branch_likely(&dp_nat))
		return TC_ACT_OK;

	from = ip->saddr;
	sport = *(__be16 *)(data + L4_OFF);
	csum_off = L4_OFF + (ip->protocol == IPPROTO_TCP ? 16 : 6);
	{
		__be32 to = ct->orig_daddr;
		__be16 to_port = ct->orig_dport;

		bpf_l4_csum_replace(skb, csum_off, from, to, BPF_F_PSEUDO_HDR | 4);
		bpf_l3_csum_replace(skb, IP_CHECK, from, to, 4);
		bpf_skb_store_bytes(skb, IP_SADDR, &to, 4, 0);
		if (to_port) {
			bpf_l4_csum_replace(skb, csum_off, sport, to_port, 2);
			bpf_skb_store_bytes(skb, L4_OFF, &to_port, 2, 0);
		}
		count(ST_SNAT, skb->len);
		if (bpf_static_branch_unlikely(&dbg_printk)) {
			/* the packet pointers are stale after the helpers: read again */
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			ip = data + IP_OFF;
			if ((void *)(ip + 1) <= data_end)
				bpf_printk("dp snat: %x -> %x", from, ip->saddr);
		}
	}
	return TC_ACT_OK;
}

/* ===================================================================== tc egress */
SEC("tc")
int dp_tc_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__be16 dport = 0, l3_proto;
	__u8 proto = 0;
	__u32 verdict = TC_ACT_OK;

	if (bpf_static_branch_unlikely(&dp_sample)) {
		if ((bpf_get_prandom_u32() & 63) == 0)
			count(ST_SAMPLED, skb->len);
	} else {
		count(ST_TC_OUT, skb->len);
	}
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	l3_proto = eth->h_proto;
	if (l3_proto == ETH_P_IP_BE) {
		ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		proto = ip->protocol;
		if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
			__u8 *l4 = (__u8 *)ip + (ip->ihl_version & 0x0f) * 4;

			if ((void *)(l4 + 4) <= data_end)
				dport = *(__be16 *)(l4 + 2);
		}
	} else if (l3_proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if (!bpf_static_branch_likely(&dp_ipv6))
			return TC_ACT_OK;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
		proto = ip6->nexthdr;
		if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
		    (void *)(ip6 + 1) + 4 <= data_end)
			dport = *(__be16 *)((void *)(ip6 + 1) + 2);
	} else {
		return TC_ACT_OK;
	}
	if (policy_verdict(dport, proto) == 1) {
		count(ST_DROP_POLICY, skb->len);
		if (bpf_static_branch_unlikely(&dp_policy_drop))
			verdict = TC_ACT_SHOT;
	}
	/* the helpers of clamp_mss invalidate every packet pointer held here */
	if (bpf_static_branch_unlikely(&dp_mss_clamp) && verdict == TC_ACT_OK &&
	    l3_proto == ETH_P_IP_BE && proto == IPPROTO_TCP)
		clamp_mss(skb);
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 8, .verdict = verdict, .len = skb->len,
					 .l3_proto = l3_proto, .l4_proto = proto };

		bpf_perf_event_output(skb, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp egress: proto %u dport %u verdict %u", proto, dport, verdict);
	return verdict;
}

/* ============================================================= tc health checks */
/*
 * Health-check probes leave through tc egress marked 0x4843xxxx by the prober; the low
 * bits pick a backend in `hc_targets`, and the probe's destination (IPv4 address and
 * port) is rewritten to it, so the prober can address the VIP.
 */
#define HC_MARK 0x48430000u

/* IPv6 probes: destination address (four words) and port, L4 checksum only */
static __always_inline int hc_v6(struct __sk_buff *skb, __u32 idx)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + IP6_OFF;
	struct backend6 *be;
	__be32 from[4], to[4];
	__u32 csum_off, i;
	__be16 dport;
	__u8 proto;

	if ((void *)(ip6 + 1) > data_end)
		return TC_ACT_OK;
	proto = ip6->nexthdr;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return TC_ACT_OK;
	if (data + L4_OFF6 + sizeof(struct udphdr) > data_end)
		return TC_ACT_OK;
	be = bpf_map_lookup_elem(&hc_targets6, &idx);
	if (!be || !(be->addr[0] | be->addr[1] | be->addr[2] | be->addr[3]))
		return TC_ACT_SHOT;
	dport = *(__be16 *)(data + L4_OFF6 + 2);
	csum_off = L4_OFF6 + (proto == IPPROTO_TCP ? 16 : 6);
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		from[i] = ip6->daddr[i];
		to[i] = be->addr[i];
	}
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++)
		bpf_l4_csum_replace(skb, csum_off, from[i], to[i], BPF_F_PSEUDO_HDR | 4);
	bpf_skb_store_bytes(skb, IP6_OFF + 24, to, sizeof(to), 0);
	if (be->port && be->port != dport) {
		__be16 p = be->port;

		bpf_l4_csum_replace(skb, csum_off, dport, p, 2);
		bpf_skb_store_bytes(skb, L4_OFF6 + 2, &p, 2, 0);
	}
	skb->mark = 0;
	count(ST_HC, skb->len);
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp hc6: probe %u -> %x", idx, to[3]);
	return TC_ACT_OK;
}

SEC("tc")
int dp_tc_hc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + IP_OFF;
	struct backend *be;
	__u32 idx, csum_off, mark = skb->mark;
	__be32 from;
	__be16 dport;
	__u8 proto;

	if ((mark & 0xffff0000u) != HC_MARK)
		return TC_ACT_OK;
	if (skb->protocol == ETH_P_IPV6_BE) {
		if (!bpf_static_branch_likely(&dp_ipv6))
			return TC_ACT_SHOT;
		return hc_v6(skb, mark & 0xffff);
	}
	if ((void *)(ip + 1) > data_end || ip->ihl_version != 0x45)
		return TC_ACT_OK;
	proto = ip->protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return TC_ACT_OK;
	if (data + L4_OFF + sizeof(struct udphdr) > data_end)
		return TC_ACT_OK;
	idx = mark & 0xffff;
	be = bpf_map_lookup_elem(&hc_targets, &idx);
	if (!be || !be->addr)
		return TC_ACT_SHOT;
	from = ip->daddr;
	dport = *(__be16 *)(data + L4_OFF + 2);
	csum_off = L4_OFF + (proto == IPPROTO_TCP ? 16 : 6);
	{
		__be32 to = be->addr;
		__be16 to_port = be->port;

		bpf_l4_csum_replace(skb, csum_off, from, to, BPF_F_PSEUDO_HDR | 4);
		bpf_l3_csum_replace(skb, IP_CHECK, from, to, 4);
		bpf_skb_store_bytes(skb, IP_OFF + 16, &to, 4, 0);
		if (to_port && to_port != dport) {
			bpf_l4_csum_replace(skb, csum_off, dport, to_port, 2);
			bpf_skb_store_bytes(skb, L4_OFF + 2, &to_port, 2, 0);
		}
	}
	skb->mark = 0;
	if (bpf_static_branch_unlikely(&dp_sample)) {
		if ((bpf_get_prandom_u32() & 7) == 0)
			count(ST_HC, skb->len);
	} else {
		count(ST_HC, skb->len);
	}
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp hc: probe %u -> %x", idx, from);
	return TC_ACT_OK;
}

/* ============================================================ tc rate limiting */
/*
 * A token bucket per source address (tc ingress, before dp_tc_ingress in the chain):
 * `rate` packets per second with bursts of `burst` (dp_config).  Over the limit the
 * packet is shot when dp_policy_drop is on, else only marked (skb->mark bit 30).
 */
#define RL_SCALE 1000ULL

static __always_inline int rl_admit(struct rl_key *k, struct dp_conf *conf)
{
	struct rl_bucket *b = bpf_map_lookup_elem(&rl_buckets, k);
	__u64 now = bpf_ktime_get_ns(), cap = (__u64)conf->burst * RL_SCALE, add;

	if (!b) {
		struct rl_bucket nb = { .last_ns = now, .tokens = cap - RL_SCALE };

		bpf_map_update_elem(&rl_buckets, k, &nb, BPF_ANY);
		return 1;
	}
	/* tokens earned since last_ns: rate per second, in 1/1000 packet */
	add = (now - b->last_ns) / 1000 * conf->rate / 1000;
	b->last_ns = now;
	b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
	if (b->tokens < RL_SCALE) {
		__sync_fetch_and_add(&b->dropped, 1);
		return 0;
	}
	b->tokens -= RL_SCALE;
	return 1;
}

SEC("tc")
int dp_tc_ratelimit(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct rl_key k = {};
	struct dp_conf *conf;
	__u32 zero = 0, i;

	conf = bpf_map_lookup_elem(&dp_config, &zero);
	if (!conf || !conf->rate || !conf->burst || conf->burst > 1000000)
		return TC_ACT_OK;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto == ETH_P_IP_BE) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		k.addr[0] = ip->saddr;
		k.family = 4;
	} else if (eth->h_proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if (!bpf_static_branch_likely(&dp_ipv6))
			return TC_ACT_OK;
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_OK;
#pragma clang loop unroll(full)
		for (i = 0; i < 4; i++)
			k.addr[i] = ip6->saddr[i];
		k.family = 6;
	} else {
		return TC_ACT_OK;
	}
	if (rl_admit(&k, conf))
		return TC_ACT_OK;
	count(ST_RL_DROP, skb->len);
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp ratelimit: family %u src %x", k.family, k.addr[0]);
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 9, .verdict = TC_ACT_SHOT, .len = skb->len,
					 .l3_proto = k.family == 4 ? ETH_P_IP_BE : ETH_P_IPV6_BE };

		bpf_perf_event_output(skb, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	if (bpf_static_branch_unlikely(&dp_policy_drop))
		return TC_ACT_SHOT;
	skb->mark |= 1u << 30;
	return TC_ACT_OK;
}
