// SPDX-License-Identifier: GPL-2.0
/* The LPC 2023 talk's first example: an unlikely (normally off) debug print. */
#include "bpf_static_keys.h"

DEFINE_STATIC_KEY(debug_key);

SEC("kprobe/__x64_sys_getpgid")
int worker(void *ctx)
{
	if (bpf_static_branch_unlikely(&debug_key))
		bpf_printk("__x64_sys_getpgid\n");
	return 0;
}

char _license[] SEC("license") = "GPL";
