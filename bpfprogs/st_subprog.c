// SPDX-License-Identifier: GPL-2.0
/*
 * 2023 selftest behaviour: a main program and a noinline subprogram (.text), both using
 * two keys.  main adds 1 (key1) and 10 (key2); sub adds 100 (key1) and 1000 (key2):
 * both off 0, key1 101, key2 1010, both 1111.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(key1);
DEFINE_STATIC_KEY(key2);

__u64 result = 0;

static __noinline int sub(void)
{
	int r = 0;

	if (bpf_static_branch_unlikely(&key1))
		r += 100;
	if (bpf_static_branch_unlikely(&key2))
		r += 1000;
	return r;
}

SEC("socket")
int st_subprog(void *ctx)
{
	int r = 0;

	if (bpf_static_branch_unlikely(&key1))
		r += 1;
	if (bpf_static_branch_unlikely(&key2))
		r += 10;
	r += sub();
	result = r;
	return r;
}

char _license[] SEC("license") = "GPL";
