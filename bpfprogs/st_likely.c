// SPDX-License-Identifier: GPL-2.0
/* 2023 selftest behaviour: one key, likely layout: +3 when the key is on, +4 when off. */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(key);

__u64 counter = 0;	/* .bss: accumulates the returned amounts across runs */

SEC("socket")
int st_likely(void *ctx)
{
	__u32 add;

	if (bpf_static_branch_likely(&key))
		add = 3;
	else
		add = 4;
	counter += add;
	return add;
}

char _license[] SEC("license") = "GPL";
