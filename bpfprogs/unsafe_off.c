// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately unsafe only when the key is OFF.  The HASH lookup may return NULL; only
 * the key-on path checks it.  With the key off the value is dereferenced unchecked
 * (R? invalid mem access 'map_value_or_null').  With the key on: returns the stored
 * value (0 when the key 0 is absent, which is the case in a fresh map).
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(check_key);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} table SEC(".maps");

SEC("socket")
int null_off(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&table, &k);
	__u64 x;

	if (bpf_static_branch_likely(&check_key)) {
		if (!v)
			return 0;
	}
	asm volatile("%0 = *(u64 *)(%1 + 0)" : "=r"(x) : "r"(v));
	return x;
}

char _license[] SEC("license") = "GPL";
