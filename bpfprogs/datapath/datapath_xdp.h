/* SPDX-License-Identifier: GPL-2.0 */
/*
 * datapath_xdp.h - the datapath's XDP entry and IPv4 stage (included once, by datapath.c,
 * after the key definitions; the other stages are in datapath_stages.h).
 */
/* ======================================================================= XDP entry */
SEC("xdp")
int dp_xdp_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct parse_ctx *pc;
	__u32 zero = 0, off = sizeof(*eth);
	__u16 proto, vid = 0;

	if (bpf_static_branch_unlikely(&dp_sample)) {
		if ((bpf_get_prandom_u32() & 15) == 0)
			count(ST_SAMPLED, data_end - data);
	} else {
		count(ST_RX, data_end - data);
	}
	if ((void *)(eth + 1) > data_end) {
		count(ST_DROP_PARSE, 0);
		return XDP_DROP;
	}
	proto = eth->h_proto;
	{
		struct dp_conf *conf = bpf_map_lookup_elem(&dp_config, &zero);

		if (conf && conf->mtu && data_end - data > conf->mtu + MAX_L3_OFF) {
			count(ST_MTU, data_end - data);
			return XDP_DROP;
		}
	}

	if (bpf_static_branch_unlikely(&dp_vlan)) {
		struct vlan_hdr *vh;
		int i;

#pragma clang loop unroll(full)
		for (i = 0; i < 2; i++) {
			if (proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE)
				break;
			vh = data + off;
			if ((void *)(vh + 1) > data_end) {
				count(ST_DROP_PARSE, 0);
				return XDP_DROP;
			}
			vid = ((vh->tci & 0x0f) << 8) | (vh->tci >> 8);
			proto = vh->encap_proto;
			off += sizeof(*vh);
		}
		if (vid) {
			/* only VLANs with an entry in vlan_allow pass */
			__u32 v = vid;
			__u32 *ok = bpf_map_lookup_elem(&vlan_allow, &v);

			if (!ok || !*ok) {
				count(ST_DROP_POLICY, data_end - data);
				return XDP_DROP;
			}
		}
	}

	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp entry: proto %x off %u vid %u", proto, off, vid);

	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	pc->l3_off = off;
	pc->l3_proto = proto;
	pc->vlan_id = vid;
	pc->flags = 0;

	if (proto == ETH_P_IP_BE) {
		bpf_tail_call(ctx, &dp_stages, 0);
	} else if (proto == ETH_P_IPV6_BE) {
		if (!bpf_static_branch_likely(&dp_ipv6)) {
			if (bpf_static_branch_unlikely(&dp_policy_drop)) {
				count(ST_DROP_POLICY, data_end - data);
				return XDP_DROP;
			}
			count(ST_PASS, data_end - data);
			return XDP_PASS;
		}
		bpf_tail_call(ctx, &dp_stages, 1);
	}
	/* not IP, or the stage is not installed */
	count(ST_PASS, data_end - data);
	return XDP_PASS;
}

/* ====================================================================== XDP IPv4 */
SEC("xdp")
int dp_xdp_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct debug_rec rec = {};
	struct flow_v4 flow = {};
	struct vip_key vk = {};
	struct parse_ctx *pc;
	struct ct_entry *ct = NULL;
	struct vip_meta *vm;
	struct iphdr *ip;
	__u8 *l4;
	__u32 zero = 0, off, ihl, verdict = XDP_PASS, len = data_end - data;
	__be16 sport = 0, dport = 0;
	__u16 *l4_csum = NULL;
	int act;

	pc = bpf_map_lookup_elem(&dp_scratch, &zero);
	if (!pc)
		return XDP_ABORTED;
	off = pc->l3_off;
	if (off > MAX_L3_OFF)
		return XDP_ABORTED;
	ip = data + off;
	if ((void *)(ip + 1) > data_end)
		goto drop_parse;
	ihl = (ip->ihl_version & 0x0f) * 4;
	if (ihl < sizeof(*ip) || (ip->ihl_version >> 4) != 4)
		goto drop_parse;
	l4 = (__u8 *)ip + ihl;
	if (ip->frag_off & 0xff1f) {            /* a fragment offset: not the first one */
		bpf_tail_call(ctx, &dp_stages, 3);
		goto pass;
	}

	flow.saddr = ip->saddr;
	flow.daddr = ip->daddr;
	flow.proto = ip->protocol;

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > data_end)
			goto drop_parse;
		sport = th->source;
		dport = th->dest;
		l4_csum = &th->check;
		if (bpf_static_branch_unlikely(&dp_strict_tcp)) {
			__u8 f = th->flags;

			if (((f & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN)) ||
			    ((f & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST)) ||
			    (th->doff_res >> 4) < 5) {
				count(ST_DROP_TCP, len);
				verdict = XDP_DROP;
				goto out;
			}
		}
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)l4;

		if ((void *)(uh + 1) > data_end)
			goto drop_parse;
		sport = uh->source;
		dport = uh->dest;
		if (uh->check)
			l4_csum = &uh->check;
	} else if (ip->protocol == IPPROTO_ICMP) {
		struct icmphdr *ih = (void *)l4;

		if ((void *)(ih + 1) > data_end)
			goto drop_parse;
		if (ih->type == 3 || ih->type == 11) {
			/* destination unreachable / time exceeded: the PMTU stage */
			bpf_tail_call(ctx, &dp_stages, 2);
			goto pass;
		}
		if (bpf_static_branch_unlikely(&dp_icmp_reply) && ih->type == ICMP_ECHO) {
			struct ethhdr *eth = data;
			__u8 tmp[6];
			__be32 a;

			vk.addr = ip->daddr;
			vk.proto = IPPROTO_ICMP;
			vm = bpf_map_lookup_elem(&vips, &vk);
			/* clang knows eth + 1 <= ip + 1 and would drop this check, but the
			 * verifier tracks data and ip separately: hide eth from clang */
			skv_opaque(eth);
			if ((void *)(eth + 1) > data_end)
				goto drop_parse;
			if (vm && (vm->flags & 2)) {
				__builtin_memcpy(tmp, eth->h_source, 6);
				__builtin_memcpy(eth->h_source, eth->h_dest, 6);
				__builtin_memcpy(eth->h_dest, tmp, 6);
				a = ip->saddr;
				ip->saddr = ip->daddr;
				ip->daddr = a;
				ih->type = ICMP_ECHOREPLY;
				csum_replace2(&ih->checksum, ICMP_ECHO, ICMP_ECHOREPLY);
				count(ST_ICMP_TX, len);
				verdict = XDP_TX;
				goto out;
			}
		}
	}
	flow.sport = sport;
	flow.dport = dport;
	if (bpf_static_branch_unlikely(&dp_sample)) {
		/* sample one flow in 64 by its hash into the sampled counter */
		if ((flow_hash4(&flow) & 63) == 0)
			count(ST_SAMPLED, len);
	}

	act = policy_verdict(dport, ip->protocol);
	if (act == 1) {
		count(ST_DROP_POLICY, len);
		if (bpf_static_branch_unlikely(&dp_policy_drop)) {
			verdict = XDP_DROP;
			goto out;
		}
	}

	if (bpf_static_branch_likely(&dp_conntrack)) {
		/* conntrack needs the ports: 8 bytes of any L4 header */
		if ((void *)(l4 + 8) > data_end)
			goto drop_parse;
		ct = bpf_map_lookup_elem(&ct_v4, &flow);
		if (ct) {
			__sync_fetch_and_add(&ct->packets, 1);
			__sync_fetch_and_add(&ct->bytes, len);
			count(ST_CT_HIT, len);
		}
	}

	vk.addr = ip->daddr;
	vk.port = dport;
	vk.proto = ip->protocol;
	vm = bpf_map_lookup_elem(&vips, &vk);
	if (vm && (vm->flags & 1)) {
		struct backend *be;
		__u32 idx;

		if (ct) {
			idx = ct->backend;
			be = bpf_map_lookup_elem(&backends, &idx);
		} else {
			be = pick_backend(vm, flow_hash4(&flow));
			if (be && bpf_static_branch_likely(&dp_conntrack)) {
				struct ct_entry nc = {
					.packets = 1, .bytes = len, .orig_daddr = ip->daddr,
					.orig_dport = dport, .backend = vm->first_backend,
					.state = 1,
				};
				if (bpf_static_branch_unlikely(&dp_mark))
					nc.mark = flow_hash4(&flow) | 0x80000000u;
				bpf_map_update_elem(&ct_v4, &flow, &nc, BPF_NOEXIST);
				count(ST_CT_NEW, len);
			}
		}
		if (be && bpf_static_branch_likely(&dp_nat)) {
			__be32 old = ip->daddr;

			ip->daddr = be->addr;
			csum_replace4(&ip->check, old, be->addr);
			if (l4_csum) {
				csum_replace4(l4_csum, old, be->addr);
				if (be->port) {
					/* sport/dport were read from the checked header: rewrite */
					__be16 *pdst = (__be16 *)(l4 + 2);

					if ((void *)(pdst + 1) > data_end)
						goto drop_parse;
					csum_replace2(l4_csum, *pdst, be->port);
					*pdst = be->port;
				}
			}
			count(ST_NAT, len);
			if (bpf_static_branch_unlikely(&dbg_printk))
				bpf_printk("dp v4 nat: %x -> %x", old, be->addr);
			if (ip->frag_off & 0x0020) {    /* MF: later fragments follow */
				struct frag_key fk = { .saddr = flow.saddr, .daddr = vk.addr,
						       .id = ip->id, .proto = flow.proto };
				struct frag_val fv = { .backend_addr = be->addr,
						       .sport = sport, .dport = dport };

				bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
			}
		}
	}
	count(ST_PASS, len);
	goto out;

drop_parse:
	count(ST_DROP_PARSE, len);
	verdict = XDP_DROP;
	goto out;
pass:
	count(ST_PASS, len);
out:
	if (bpf_static_branch_unlikely(&dbg_printk))
		bpf_printk("dp v4: len %u verdict %u", len, verdict);
	if (bpf_static_branch_unlikely(&dbg_event)) {
		rec.stage = 4;
		rec.verdict = verdict;
		rec.len = len;
		rec.l3_proto = ETH_P_IP_BE;
		if (bpf_static_branch_unlikely(&dbg_dump_l4)) {
			/* re-derive the L4 start from scratch: the header pointers above are
			 * not live on every path that reaches here */
			data = (void *)(long)ctx->data;
			data_end = (void *)(long)ctx->data_end;
			off = pc->l3_off;
			if (off <= MAX_L3_OFF) {
				ip = data + off;
				if ((void *)(ip + 1) <= data_end) {
					ihl = (ip->ihl_version & 0x0f) * 4;
					rec.l4_proto = ip->protocol;
					l4 = (__u8 *)ip + ihl;
					if ((void *)(l4 + 8) <= data_end)
						__builtin_memcpy(rec.l4, l4, 8);
				}
			}
		}
		bpf_perf_event_output(ctx, &dp_events, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	}
	return verdict;
}
