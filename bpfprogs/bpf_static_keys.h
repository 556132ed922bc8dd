/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bpf_static_keys.h - skv's self-contained header for the BPF programs in bpfprogs/.
 *
 * No system or kernel headers are used, so the few types, section macros and helper
 * prototypes the programs need are defined here; the static-key API itself (the three
 * flavours and the validation build variants) is static_keys.h, which programs built the
 * libbpf way include after <bpf/bpf_helpers.h> instead of this file.
 */
#ifndef SKV_BPF_STATIC_KEYS_H
#define SKV_BPF_STATIC_KEYS_H

/* ---- basic types --------------------------------------------------------------- */
typedef unsigned char      __u8;
typedef signed char        __s8;
typedef unsigned short     __u16;
typedef signed short       __s16;
typedef unsigned int       __u32;
typedef signed int         __s32;
typedef unsigned long long __u64;
typedef signed long long   __s64;
typedef __u16 __be16;
typedef __u32 __be32;

#define NULL ((void *)0)

/* ---- section / map-definition macros (libbpf BTF-defined map convention) ------- */
#define SEC(name)             __attribute__((section(name), used))
#define __uint(name, val)     int (*name)[val]
#define __type(name, val)     typeof(val) *name
#define __always_inline       inline __attribute__((always_inline))
#define __noinline            __attribute__((noinline))
#define likely(x)             __builtin_expect(!!(x), 1)
#define unlikely(x)           __builtin_expect(!!(x), 0)
/* compiler barrier: the value of x is "used and changed" by an empty asm */
#define skv_opaque(x)         asm volatile("" : "+r"(x))

/* ---- UAPI numbers used here ---------------------------------------------------- */
#define BPF_MAP_TYPE_HASH      1
#define BPF_MAP_TYPE_ARRAY     2
#define BPF_ANY                0

#define XDP_ABORTED  0
#define XDP_DROP     1
#define XDP_PASS     2
#define XDP_TX       3
#define TC_ACT_OK    0
#define TC_ACT_SHOT  2

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* The first fields of struct __sk_buff, up to data_end (byte offsets match UAPI). */
struct __sk_buff {
	__u32 len;              /*  0 */
	__u32 pkt_type;         /*  4 */
	__u32 mark;             /*  8 */
	__u32 queue_mapping;    /* 12 */
	__u32 protocol;         /* 16 */
	__u32 vlan_present;     /* 20 */
	__u32 vlan_tci;         /* 24 */
	__u32 vlan_proto;       /* 28 */
	__u32 priority;         /* 32 */
	__u32 ingress_ifindex;  /* 36 */
	__u32 ifindex;          /* 40 */
	__u32 tc_index;         /* 44 */
	__u32 cb[5];            /* 48 */
	__u32 hash;             /* 68 */
	__u32 tc_classid;       /* 72 */
	__u32 data;             /* 76 */
	__u32 data_end;         /* 80 */
};

struct ethhdr {
	__u8   h_dest[6];
	__u8   h_source[6];
	__be16 h_proto;
};

#define ETH_P_IP_BE    0x0008   /* htons(0x0800) on little-endian BPF */
#define ETH_P_IPV6_BE  0xdd86   /* htons(0x86dd) */

/* ---- helpers, declared by id (enum bpf_func_id) -------------------------------- */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
				   __u64 flags) = (void *)2;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u32 (*bpf_get_prandom_u32)(void) = (void *)7;

/* The format string is a static const array, so it lands in .rodata. */
#define bpf_printk(fmt, ...)						\
({									\
	static const char ____fmt[] = fmt;				\
	bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);	\
})

/* ================================================================================ */
#include "static_keys.h"

#endif /* SKV_BPF_STATIC_KEYS_H */
