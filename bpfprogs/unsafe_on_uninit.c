// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately unsafe only when the key is ON (safe with it off): the key-on path
 * returns r6, which nothing ever wrote (uninitialised register read, "R6 !read_ok").
 * Written as a naked asm function so that the register use is exactly as written; its
 * .jump_table entry is spelled out by hand.  Key off: returns 0.
 */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(uninit_key);

#if defined(SKV_PLAIN) || defined(SKV_OPAQUE)
/* validation variant: the same shape, with the site spelled out for the stock kernel */
SEC("socket")
int uninit_on(void *ctx)
{
	__u32 r = 0;

	if (bpf_static_branch_unlikely(&uninit_key))
		asm volatile("%0 = r6" : "=r"(r));	/* r6 never written */
	return r;
}
#else
SEC("socket")
__attribute__((naked)) int uninit_on(void *ctx)
{
	asm volatile(
		"r0 = 0\n\t"
		"1:\n\t"
		"goto +0\n\t"
		".pushsection .jump_table, \"aw\"\n\t"
		".balign 8\n\t"
		".long 1b - .\n\t"
		".long 2f - .\n\t"
		".quad %c[key] - .\n\t"
		".popsection\n\t"
		"exit\n\t"
		"2:\n\t"
		"r0 = r6\n\t"		/* r6 was never written: uninitialised read */
		"exit\n\t"
		:: [key] "i"(&uninit_key));
}
#endif

char _license[] SEC("license") = "GPL";
