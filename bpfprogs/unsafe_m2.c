// SPDX-License-Identifier: GPL-2.0
/*
 * Safe under M1 (each site has one state for the run), unsafe under M2 (per execution).
 * ONE site inside a 2-iteration loop.  On iteration 0 its on-path sets p to a checked map
 * value; on iteration 1 its on-path dereferences p.  Same state on both executions:
 * on/on sets then reads, off/off does neither.  off then on: reads p == 0 -> invalid mem
 * access 'scalar'.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(loop_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} vals SEC(".maps");

SEC("socket")
int per_exec(void *ctx)
{
	__u32 zero = 0;
	__u64 *p = NULL;
	__u64 x = 5;
	__u32 i;

#pragma clang loop unroll(disable)
	for (i = 0; i < 2; i++) {
		__u32 j = i;

		skv_opaque(j);	/* no peeling of iteration 0 on `j == 0` */
		if (bpf_static_branch_unlikely(&loop_key)) {
			if (j == 0) {
				p = bpf_map_lookup_elem(&vals, &zero);
				if (!p)
					return 1;
			} else {
				asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(x) : "r"(p));
			}
		}
		skv_opaque(p);
	}
	return x;
}

char _license[] SEC("license") = "GPL";
