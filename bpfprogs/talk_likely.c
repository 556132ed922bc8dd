// SPDX-License-Identifier: GPL-2.0
/* The LPC 2023 talk's second example: a likely (normally on) debug print. */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(debug_key);

SEC("kprobe/__x64_sys_getpgid")
int worker(void *ctx)
{
	if (bpf_static_branch_likely(&debug_key))
		bpf_printk("__x64_sys_getpgid\n");
	return 0;
}

char _license[] SEC("license") = "GPL";
