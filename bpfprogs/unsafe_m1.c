// SPDX-License-Identifier: GPL-2.0
/*
 * Safe under M0 (one value per key), unsafe under M1 (per-site states).
 * Two sites of the SAME key: site A's on-path sets p to a checked map value; site B's
 * on-path dereferences p.  Key on: A sets, B reads (fine); key off: neither.
 * A off + B on: p is still the scalar 0 -> invalid mem access 'scalar'.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(split_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} vals SEC(".maps");

SEC("socket")
int per_site(void *ctx)
{
	__u32 zero = 0;
	__u64 *p = NULL;
	__u64 x = 7;

	if (bpf_static_branch_unlikely(&split_key)) {		/* site A */
		p = bpf_map_lookup_elem(&vals, &zero);
		if (!p)
			return 1;
	}
	skv_opaque(p);	/* clang must not reason about p across the sites */
	if (bpf_static_branch_unlikely(&split_key))		/* site B */
		asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(x) : "r"(p));
	return x;
}

char _license[] SEC("license") = "GPL";
