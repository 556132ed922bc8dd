// SPDX-License-Identifier: GPL-2.0
/*
 * 2023 selftest behaviour: a long jump.  The key-off path between the site and its
 * target is 40 x `r += 25` (+1000) plus the loop-free glue, i.e. > 31 BPF insns and
 * > 123 bytes of x86, so the JIT must use the 5-byte `e9 rel32` form for the site.
 * Result: 2256 with the key off, 1256 with it on.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(key);

__u64 result = 0;

SEC("socket")
int st_long_jump(void *ctx)
{
	__u64 r = 1256;

	if (!bpf_static_branch_unlikely(&key)) {
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
		asm volatile("%0 += 25" : "+r"(r));
	}
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
