// SPDX-License-Identifier: GPL-2.0
/*
 * 2024 (v1) design: no key map, no side table.  Each site is a `gotol` whose src_reg
 * carries the static-branch flags (3 = nop_or_gotol, now a nop; 1 = gotol_or_nop, now a
 * jump); toggling is per instruction offset, so each site is its own (synthetic) key.
 *   r = 1 + (site 0 on ? 10 : 0) + (site 1 on ? 100 : 200)
 *   -> 201, 211 (site 0), 101 (site 1), 111 (both).
 */
#include "bpf_static_keys.h"

__u64 result = 0;

SEC("socket")
int keys2024(void *ctx)
{
	__u32 r = 1;

	if (bpf_static_branch_unlikely_2024())		/* src 3: nop_or_gotol */
		r += 10;
	if (bpf_static_branch_likely_2024())		/* src 1: gotol_or_nop */
		r += 100;
	else
		r += 200;
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
