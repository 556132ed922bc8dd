// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately unsafe only when the key is ON (safe with it off): the key-on path
 * reads 4 bytes at offset 64 of an 8-byte map value (out-of-bounds map value access).
 * Key off: returns 1 (x = 0, +1).
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(oob_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} vals SEC(".maps");

SEC("socket")
int oob_on(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&vals, &zero);
	__u32 x = 0;

	if (!v)
		return 0;
	if (bpf_static_branch_unlikely(&oob_key))
		/* value_size is 8: offset 64 is out of bounds */
		asm volatile("%0 = *(u32 *)(%1 + 64)" : "=r"(x) : "r"(v));
	return x + 1;
}

char _license[] SEC("license") = "GPL";
