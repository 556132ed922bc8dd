// SPDX-License-Identifier: GPL-2.0
/* 2023 selftest behaviour: three keys, all unlikely; result = bit pattern of the keys. */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(key0);
DEFINE_STATIC_KEY(key1);
DEFINE_STATIC_KEY(key2);

__u64 result = 0;

SEC("socket")
int st_three_keys(void *ctx)
{
	__u32 r = 0;

	if (bpf_static_branch_unlikely(&key0))
		r |= 1;
	if (bpf_static_branch_unlikely(&key1))
		r |= 2;
	if (bpf_static_branch_unlikely(&key2))
		r |= 4;
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
