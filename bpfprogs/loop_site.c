// SPDX-License-Identifier: GPL-2.0
/*
 * A site inside a bounded loop (kept a loop: unrolling disabled).  Each of the 4
 * iterations adds i when the key is on and 10 when it is off:
 * key off 40, key on 0+1+2+3 = 6.  Safe under every model (each execution of the site
 * may see either state under M2; the result then lies between, but nothing is unsafe).
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(loop_key);

__u64 result = 0;

SEC("socket")
int loop_site(void *ctx)
{
	__u32 sum = 0;
	__u32 i;

#pragma clang loop unroll(disable)
	for (i = 0; i < 4; i++) {
		if (bpf_static_branch_unlikely(&loop_key))
			sum += i;
		else
			sum += 10;
	}
	result = sum;
	return sum;
}

char _license[] SEC("license") = "GPL";
