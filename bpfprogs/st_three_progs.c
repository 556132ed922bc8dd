// SPDX-License-Identifier: GPL-2.0
/*
 * 2023 selftest behaviour: three programs share one key and one global `total`.
 * One "trigger" runs prog_a, prog_b, prog_c once each (in that order).
 *
 *            key off   key on
 *   prog_a     +222     +111   (unlikely)
 *   prog_b     +111     +222   (likely)
 *   prog_c     +111       +0   (unlikely)
 *   trigger    +444     +333
 *
 * So `total` is 444 / 888 after one / two triggers with the key off, 333 / 666 with it on.
 * All three programs live in the same ELF section ("socket"), as libbpf allows.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(shared_key);

__u64 total = 0;

SEC("socket")
int prog_a(void *ctx)
{
	__u32 add = bpf_static_branch_unlikely(&shared_key) ? 111 : 222;

	total += add;
	return add;
}

SEC("socket")
int prog_b(void *ctx)
{
	__u32 add = bpf_static_branch_likely(&shared_key) ? 222 : 111;

	total += add;
	return add;
}

SEC("socket")
int prog_c(void *ctx)
{
	__u32 add = 111;

	if (bpf_static_branch_unlikely(&shared_key))
		add = 0;
	total += add;
	return add;
}

char _license[] SEC("license") = "GPL";
