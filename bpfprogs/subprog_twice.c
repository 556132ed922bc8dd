// SPDX-License-Identifier: GPL-2.0
/*
 * A site in a noinline subprogram (.text) that the program calls twice.
 * scale(x) = 2*x when the key is on, x+1 when off.
 * Result = scale(3) + scale(5): key off 4+6 = 10, key on 6+10 = 16.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(twice_key);

__u64 result = 0;

static __noinline __u32 scale(__u32 x)
{
	if (bpf_static_branch_likely(&twice_key))
		return x * 2;
	return x + 1;
}

SEC("socket")
int subprog_twice(void *ctx)
{
	__u32 a = 3, b = 5;
	__u32 r;

	skv_opaque(a);	/* keep clang from specialising scale() per call */
	skv_opaque(b);
	r = scale(a);
	r += scale(b);
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
