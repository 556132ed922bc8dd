// SPDX-License-Identifier: GPL-2.0
/*
 * TC (sched_cls) with two keys around real skb / packet access.
 *   mark_src (unlikely): when on, skb->mark = last byte of the source MAC, read from the
 *                        packet after a data_end check (short frames: TC_ACT_SHOT).
 *   allow_ipv6 (likely):  when off, IPv6 frames are shot (TC_ACT_SHOT).
 * Return value: TC_ACT_OK (0) or TC_ACT_SHOT (2).
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(mark_src);
DEFINE_STATIC_KEY(allow_ipv6);

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;

	if (bpf_static_branch_unlikely(&mark_src))
		skb->mark = eth->h_source[5];

	if (!bpf_static_branch_likely(&allow_ipv6) && eth->h_proto == ETH_P_IPV6_BE)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
