// SPDX-License-Identifier: GPL-2.0
/*
 * 2025 RFC layout: key maps are BPF_MAP_TYPE_INSN_SET (map_extra = BPF_F_STATIC_KEY),
 * sites are recorded in `.static_keys` with the same 16-byte entries as .jump_table.
 * One unlikely and one likely site of two keys:
 *   r = 1 + (trace_key on ? 10 : 0) + (fast_key on ? 100 : 200)
 *   -> 201, 211 (trace_key), 101 (fast_key), 111 (both).
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY_2025(trace_key);
DEFINE_STATIC_KEY_2025(fast_key);

__u64 result = 0;

SEC("socket")
int keys2025(void *ctx)
{
	__u32 r = 1;

	if (bpf_static_branch_unlikely_2025(&trace_key))
		r += 10;
	if (bpf_static_branch_likely_2025(&fast_key))
		r += 100;
	else
		r += 200;
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
