/* SPDX-License-Identifier: GPL-2.0 */
/*
 * datapath_stages.h - the datapath's other tail-called XDP stages (included once, by
 * datapath.c, after datapath_xdp.h): IPv6, ICMP errors, IPv4 fragments, ICMPv6 packet
 * too big.
 */
/* ====================================================================== XDP IPv6 */
SEC("xdp")
int dp_xdp_v6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_v6 flow = {};
	struct parse_ctx *pc;
	struct ipv6hdr *ip6;
	struct ct_entry *ct;
	__u8 *l4;
	__u32 zero = 0, off, verdict = XDP_PASS, len = data_end - data;
	__be16 sport = 0, dport = 0;
	__u16 *l4_csum = NULL;
	int act, i;

	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	off = pc->l3_off;
	if (off > MAX_L3_OFF)
		return XDP_ABORTED;
	ip6 = data + off;
	if ((void *)(ip6 + 1) > data_end)
		goto drop_parse;
	if ((ip6->vtc >> 4) != 6)
		goto drop_parse;
	count(ST_V6, len);
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		flow.saddr[i] = ip6->saddr[i];
		flow.daddr[i] = ip6->daddr[i];
	}
	flow.proto = ip6->nexthdr;
	l4 = (__u8 *)(ip6 + 1);

	if (ip6->nexthdr == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > data_end)
			goto drop_parse;
		sport = th->source;
		dport = th->dest;
		l4_csum = &th->check;
		if (bpf_static_branch_unlikely(&dp_strict_tcp)) {
			__u8 f = th->flags;

			if (((f & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN)) ||
			    (th->doff_res >> 4) < 5) {
				count(ST_DROP_TCP, len);
				verdict = XDP_DROP;
				goto out;
			}
		}
	} else if (ip6->nexthdr == IPPROTO_UDP) {
		struct udphdr *uh = (void *)l4;

		if ((void *)(uh + 1) > data_end)
			goto drop_parse;
		sport = uh->source;
		dport = uh->dest;
		l4_csum = &uh->check;           /* mandatory over IPv6 */
	} else if (ip6->nexthdr == IPPROTO_ICMPV6) {
		if ((void *)(l4 + 8) > data_end)
			goto drop_parse;
		if (bpf_static_branch_unlikely(&dbg_printk))
			bpf_printk("dp v6 icmp type %u", l4[0]);
		if (l4[0] == 2) {               /* packet too big: the PMTU stage */
			bpf_tail_call(ctx, &dp_stages, 4);
			goto drop_parse;
		}
		if (bpf_static_branch_unlikely(&dp_icmp_reply) && l4[0] == 128) {
			/* echo request to a VIP6: answer it (echo reply, 129) */
			struct vip6_key vk = { .proto = IPPROTO_ICMPV6 };
			struct ethhdr *eth = data;
			struct vip_meta *vm;
			__u8 mac[6];

#pragma clang loop unroll(full)
			for (i = 0; i < 4; i++)
				vk.addr[i] = ip6->daddr[i];
			vm = bpf_map_lookup_elem(&vips6, &vk);
			skv_opaque(eth);        /* see dp_xdp_v4 */
			if (vm && (vm->flags & 2) && (void *)(eth + 1) <= data_end) {
				__builtin_memcpy(mac, eth->h_source, 6);
				__builtin_memcpy(eth->h_source, eth->h_dest, 6);
				__builtin_memcpy(eth->h_dest, mac, 6);
#pragma clang loop unroll(full)
				for (i = 0; i < 4; i++) {
					__be32 a = ip6->saddr[i];

					ip6->saddr[i] = ip6->daddr[i];
					ip6->daddr[i] = a;
				}
				ip6->hop_limit = 64;
				l4[0] = 129;
				/* the pseudo-header sum is symmetric in the addresses */
				csum_replace2((__u16 *)(l4 + 2), 128, 129);
				count(ST_ICMP_TX, len);
				verdict = XDP_TX;
				goto out;
			}
		}
	}
	flow.sport = sport;
	flow.dport = dport;

	act = policy_verdict(dport, ip6->nexthdr);
	if (act == 1) {
		count(ST_DROP_POLICY, len);
		if (bpf_static_branch_unlikely(&dp_policy_drop)) {
			verdict = XDP_DROP;
			goto out;
		}
	}
	if (bpf_static_branch_likely(&dp_conntrack)) {
		ct = bpf_map_lookup_elem(&ct_v6, &flow);
		if (ct) {
			__sync_fetch_and_add(&ct->packets, 1);
			__sync_fetch_and_add(&ct->bytes, len);
			count(ST_CT_HIT, len);
		} else if (sport || dport) {
			struct ct_entry nc = { .packets = 1, .bytes = len, .state = 1 };

			if (bpf_static_branch_unlikely(&dp_mark))
				nc.mark = flow_hash6(&flow);
			bpf_map_update_elem(&ct_v6, &flow, &nc, BPF_NOEXIST);
			count(ST_CT_NEW, len);
		}
	}
	if (bpf_static_branch_likely(&dp_nat)) {
		struct vip6_key vk = { .port = dport, .proto = ip6->nexthdr };
		struct vip_meta *vm;
		struct backend6 *be;
		__u32 idx;

#pragma clang loop unroll(full)
		for (i = 0; i < 4; i++)
			vk.addr[i] = ip6->daddr[i];
		vm = bpf_map_lookup_elem(&vips6, &vk);
		if (vm && (vm->flags & 1) && vm->n_backends && vm->n_backends <= 16) {
			idx = vm->first_backend + flow_hash6(&flow) % vm->n_backends;
			be = bpf_map_lookup_elem(&backends6, &idx);
			if (be) {
#pragma clang loop unroll(full)
				for (i = 0; i < 4; i++) {
					__be32 old = ip6->daddr[i];

					ip6->daddr[i] = be->addr[i];
					if (l4_csum)
						csum_replace4(l4_csum, old, be->addr[i]);
				}
				if (be->port && l4_csum && (void *)(l4 + 4) <= data_end) {
					csum_replace2(l4_csum, *(__be16 *)(l4 + 2), be->port);
					*(__be16 *)(l4 + 2) = be->port;
				}
				count(ST_NAT, len);
				if (bpf_static_branch_unlikely(&dbg_printk))
					bpf_printk("dp v6 nat: backend %u", idx);
			}
		}
	}
	count(ST_PASS, len);
	goto out;
drop_parse:
	count(ST_DROP_PARSE, len);
	verdict = XDP_DROP;
out:
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 6, .verdict = verdict, .len = len,
					 .l3_proto = ETH_P_IPV6_BE };

		bpf_perf_event_output(ctx, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	return verdict;
}

/* ============================================================= XDP ICMP errors */
/*
 * An ICMP error (e.g. "fragmentation needed") about a reply VIP -> client carries that
 * reply's headers.  The flow it belongs to is the reversed one, client -> VIP; when
 * conntrack knows it, the error is sent on to the flow's backend (outer DNAT).
 */
SEC("xdp")
int dp_xdp_icmp_err(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_v4 flow = {};
	struct parse_ctx *pc;
	struct ct_entry *ct;
	struct backend *be;
	struct icmphdr *ih;
	struct iphdr *ip, *inner;
	__u8 *il4;
	__u32 zero = 0, off, len = data_end - data, idx;
	__be32 old;

	count(ST_ICMP_ERR, len);
	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	off = pc->l3_off;
	if (off > MAX_L3_OFF)
		return XDP_ABORTED;
	ip = data + off;
	if ((void *)(ip + 1) > data_end || ip->ihl_version != 0x45)
		return XDP_PASS;
	ih = (void *)(ip + 1);
	inner = (void *)(ih + 1);
	if ((void *)(inner + 1) > data_end)
		return XDP_PASS;
	if (inner->ihl_version != 0x45 ||
	    (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP))
		return XDP_PASS;
	il4 = (__u8 *)(inner + 1);
	if ((void *)(il4 + 4) > data_end)
		return XDP_PASS;
	/* the reply was VIP:vport -> client:cport; the flow is client -> VIP */
	flow.saddr = inner->daddr;
	flow.daddr = inner->saddr;
	flow.sport = *(__be16 *)(il4 + 2);
	flow.dport = *(__be16 *)il4;
	flow.proto = inner->protocol;
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp icmp err type %u for %x", ih->type, flow.saddr);
	if (!bpf_static_branch_likely(&dp_conntrack))
		goto out;
	/* conntrack also matches the quoted TCP sequence number (RFC 5927) / UDP length:
	 * 8 bytes of the inner L4 header */
	if ((void *)(il4 + 8) > data_end)
		return XDP_PASS;
	ct = bpf_map_lookup_elem(&ct_v4, &flow);
	if (!ct)
		goto out;
	if (!bpf_static_branch_likely(&dp_nat))
		goto out;
	idx = ct->backend;
	be = bpf_map_lookup_elem(&backends, &idx);
	if (!be)
		goto out;
	old = ip->daddr;
	ip->daddr = be->addr;
	csum_replace4(&ip->check, old, be->addr);
	count(ST_NAT, len);
out:
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 5, .verdict = XDP_PASS, .len = len,
					 .l3_proto = ETH_P_IP_BE, .l4_proto = IPPROTO_ICMP };

		__builtin_memcpy(rec.l4, ih, 8);
		if (bpf_static_branch_unlikely(&dbg_dump_l4)) {
			/* the quoted L4 header instead of the ICMP one */
#ifdef DP_UNSAFE_L4_DUMP
			/* BUG: relies on the conntrack block's 8-byte check, which does not
			 * run when dp_conntrack is off */
			__builtin_memcpy(rec.l4, il4, 8);
#else
			if ((void *)(il4 + 8) <= data_end)
				__builtin_memcpy(rec.l4, il4, 8);
#endif
		}
		bpf_perf_event_output(ctx, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	return XDP_PASS;
}

/* ============================================================ XDP IPv4 fragments */
/*
 * A non-first fragment carries no L4 header: the first fragment of its datagram
 * recorded the backend in `frags`, so the fragment follows it (same DNAT, IP checksum
 * only: the L4 checksum lives in the first fragment).
 */
SEC("xdp")
int dp_xdp_frag(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct frag_key fk = {};
	struct frag_val *fv;
	struct parse_ctx *pc;
	struct iphdr *ip;
	__u32 zero = 0, off, len = data_end - data;
	__be32 old;

	count(ST_FRAG, len);
	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	off = pc->l3_off;
	if (off > MAX_L3_OFF)
		return XDP_ABORTED;
	ip = data + off;
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (!bpf_static_branch_likely(&dp_nat))
		return XDP_PASS;
	fk.saddr = ip->saddr;
	fk.daddr = ip->daddr;
	fk.id = ip->id;
	fk.proto = ip->protocol;
	fv = bpf_map_lookup_elem(&frags, &fk);
	if (!fv || !fv->backend_addr) {
		if (bpf_static_branch_unlikely(&dbg_printk))
			bpf_printk("dp frag: no record for id %u", fk.id);
		if (bpf_static_branch_unlikely(&dp_policy_drop))
			return XDP_DROP;
		return XDP_PASS;
	}
	old = ip->daddr;
	ip->daddr = fv->backend_addr;
	csum_replace4(&ip->check, old, fv->backend_addr);
	count(ST_NAT, len);
	if (!(ip->frag_off & 0x0020))           /* the last fragment: forget the datagram */
		bpf_map_delete_elem(&frags, &fk);
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 7, .verdict = XDP_PASS, .len = len,
					 .l3_proto = ETH_P_IP_BE, .l4_proto = fk.proto };

		bpf_perf_event_output(ctx, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	return XDP_PASS;
}

/* ====================================================== XDP ICMPv6 packet too big */
/*
 * The IPv6 twin of dp_xdp_icmp_err: a "packet too big" about a reply VIP6 -> client is
 * sent on to the backend of the flow client -> VIP6 (outer destination rewritten; the
 * ICMPv6 checksum covers the outer addresses, so it is updated too).
 */
SEC("xdp")
int dp_xdp_icmp6_err(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_v6 flow = {};
	struct ipv6hdr *ip6, *inner;
	struct parse_ctx *pc;
	struct ct_entry *ct;
	struct backend6 *be;
	__u8 *icmp, *il4;
	__u32 zero = 0, off, len = data_end - data, idx, i;

	count(ST_ICMP_ERR, len);
	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	off = pc->l3_off;
	if (off > MAX_L3_OFF)
		return XDP_ABORTED;
	ip6 = data + off;
	icmp = (__u8 *)(ip6 + 1);
	inner = (void *)(icmp + 8);
	if ((void *)(inner + 1) > data_end)
		return XDP_PASS;
	if (ip6->nexthdr != IPPROTO_ICMPV6 || icmp[0] != 2)
		return XDP_PASS;
	if (inner->nexthdr != IPPROTO_TCP && inner->nexthdr != IPPROTO_UDP)
		return XDP_PASS;
	il4 = (__u8 *)(inner + 1);
	if ((void *)(il4 + 4) > data_end)
		return XDP_PASS;
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		flow.saddr[i] = inner->daddr[i];
		flow.daddr[i] = inner->saddr[i];
	}
	flow.sport = *(__be16 *)(il4 + 2);
	flow.dport = *(__be16 *)il4;
	flow.proto = inner->nexthdr;
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp icmp6 too big, mtu %u", *(__be32 *)(icmp + 4));
	if (!bpf_static_branch_likely(&dp_conntrack) || !bpf_static_branch_likely(&dp_nat))
		return XDP_PASS;
	ct = bpf_map_lookup_elem(&ct_v6, &flow);
	if (!ct)
		return XDP_PASS;
	idx = ct->backend;
	be = bpf_map_lookup_elem(&backends6, &idx);
	if (!be)
		return XDP_PASS;
#pragma clang loop unroll(full)
	for (i = 0; i < 4; i++) {
		__be32 old = ip6->daddr[i];

		ip6->daddr[i] = be->addr[i];
		csum_replace4((__u16 *)(icmp + 2), old, be->addr[i]);
	}
	count(ST_NAT, len);
	if (bpf_static_branch_unlikely(&dbg_event)) {
		struct debug_rec rec = { .stage = 10, .verdict = XDP_PASS, .len = len,
					 .l3_proto = ETH_P_IPV6_BE, .l4_proto = IPPROTO_ICMPV6 };

		__builtin_memcpy(rec.l4, icmp, 8);
		bpf_perf_event_output(ctx, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	return XDP_PASS;
}
