// SPDX-License-Identifier: GPL-2.0
/*
 * XDP with two keys around real packet access.
 *   drop_ipv4 (unlikely): when on, IPv4 frames are dropped (XDP_DROP); frames shorter
 *                         than an Ethernet header are aborted (XDP_ABORTED).
 *   count_bytes (likely): when on, the frame length is added to `rx_bytes` (.bss).
 * Everything else: XDP_PASS.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(drop_ipv4);
DEFINE_STATIC_KEY(count_bytes);

__u64 rx_bytes = 0;

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (bpf_static_branch_likely(&count_bytes))
		rx_bytes += data_end - data;

	if (bpf_static_branch_unlikely(&drop_ipv4)) {
		if ((void *)(eth + 1) > data_end)
			return XDP_ABORTED;
		if (eth->h_proto == ETH_P_IP_BE)
			return XDP_DROP;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
