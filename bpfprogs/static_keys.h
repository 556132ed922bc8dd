/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * static_keys.h - the BPF static-key API, for programs written the usual way:
 *
 *     #include <linux/bpf.h>          (or "vmlinux.h")
 *     #include <bpf/bpf_helpers.h>
 *     #include "static_keys.h"
 *
 *     DEFINE_STATIC_KEY(debug_key);
 *     ...  if (bpf_static_branch_unlikely(&debug_key)) { ... }
 *
 * It defines only the static-key macros (and likely/unlikely where bpf_helpers.h lacks
 * them); SEC, __uint, __type and __always_inline come from libbpf's bpf_helpers.h (or
 * skv's self-contained bpf_static_keys.h),
 * and __u32 from the kernel's UAPI types or vmlinux.h. Numbers the UAPI headers lack are
 * defined here under names of their own, so nothing clashes with linux/bpf.h or vmlinux.h.
 *
 * Flavours (see README.md and shared/reference/static-keys.md):
 *   2023  DEFINE_STATIC_KEY + bpf_static_branch_{unlikely,likely}          -> .jump_table
 *   2025  DEFINE_STATIC_KEY_2025 + bpf_static_branch_{unlikely,likely}_2025  -> .static_keys
 *   2024  bpf_static_branch_{unlikely,likely}_2024 (no key map; JA src_reg flags)
 *
 * Build variants used only for validation against a stock kernel (never committed):
 *   -DSKV_PLAIN   every site reads its own slot of a read-only global array
 *                 `__skv_sites[]` (in .rodata); the validation script patches those
 *                 bytes so that the kernel verifier sees a constant per site.
 *   -DSKV_OPAQUE  every site becomes `if r10 == 0 goto l_yes`: the verifier cannot
 *                 decide it and explores both edges at every execution (the M2 question).
 *   Slot numbers in SKV_PLAIN come from __COUNTER__, i.e. textual order of the branch
 *   macros in the .c file (the header itself never uses __COUNTER__).
 */
#ifndef SKV_STATIC_KEYS_H
#define SKV_STATIC_KEYS_H

#define SKV_MAP_TYPE_ARRAY     2           /* BPF_MAP_TYPE_ARRAY */
#define SKV_MAP_TYPE_INSN_SET  34          /* 2025 RFC: appended after ARENA (33) */
#define BPF_F_STATIC_KEY       (1U << 15)  /* 2023: map_flags bit */
#define BPF_F_STATIC_KEY_2025  1           /* 2025 RFC: map_extra bit */

#ifndef likely                             /* not in every libbpf's bpf_helpers.h */
#define likely(x)   __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#if defined(SKV_PLAIN) || defined(SKV_OPAQUE)
/* ---- validation variants for a stock kernel (no static-key support) ------------ */
#ifndef SKV_MAX_SITES
#define SKV_MAX_SITES 64
#endif
/* Key "maps" become plain, unused globals; nothing is handed to the kernel. */
#define DEFINE_STATIC_KEY(name)       static int name __attribute__((unused))
#define DEFINE_STATIC_KEY_2025(name)  static int name __attribute__((unused))

#ifdef SKV_OPAQUE
static __always_inline int __skv_opaque_site(void)
{
	asm goto("if r10 == 0 goto %l[l_yes]" :::: l_yes);
	return 0;
l_yes:
	return 1;
}
#define __skv_site(key, slot)  ((void)(key), __skv_opaque_site())
#else
const volatile __u32 __skv_sites[SKV_MAX_SITES] = {};
#define __skv_site(key, slot)  ((void)(key), __skv_sites[slot] != 0)
#endif

#define bpf_static_branch_unlikely(key)       unlikely(__skv_site(key, __COUNTER__))
#define bpf_static_branch_likely(key)         likely(__skv_site(key, __COUNTER__))
#define bpf_static_branch_unlikely_2025(key)  unlikely(__skv_site(key, __COUNTER__))
#define bpf_static_branch_likely_2025(key)    likely(__skv_site(key, __COUNTER__))
#define bpf_static_branch_unlikely_2024()     unlikely(__skv_site(0, __COUNTER__))
#define bpf_static_branch_likely_2024()       likely(__skv_site(0, __COUNTER__))

#else /* the real static-key objects */
/* ================================================================================ */

/*
 * 2023 design.  A key is a one-element ARRAY map (u32 -> u32) carrying
 * BPF_F_STATIC_KEY in map_flags.  A nonzero value means "on".
 */
#define DEFINE_STATIC_KEY(name)				\
	struct {					\
		__uint(type, SKV_MAP_TYPE_ARRAY);	\
		__type(key, __u32);			\
		__type(value, __u32);			\
		__uint(map_flags, BPF_F_STATIC_KEY);	\
		__uint(max_entries, 1);			\
	} name SEC(".maps")

/*
 * One .jump_table entry (16 bytes, 8-aligned):
 *   .long  site   - .      (byte offset of the JA, relocated against the code section)
 *   .long  target - .      (byte offset of l_yes)
 *   .quad  key    - . [+1] (the key map; bit 0 = inverse branch)
 */
#define __SKV_ENTRY(sec, inv)				\
	".pushsection " sec ", \"aw\"\n\t"		\
	".balign 8\n\t"					\
	".long 1b - .\n\t"				\
	".long %l[l_yes] - .\n\t"			\
	".quad %c0 - . " inv "\n\t"			\
	".popsection\n\t"

/* Normal site: `goto +0` (key off: falls through; key on: kernel makes it jump). */
static __always_inline int __skv_branch_nop(void *key)
{
	asm goto("1:\n\t"
		 "goto +0\n\t"
		 __SKV_ENTRY(".jump_table", "")
		 :: "i"(key) :: l_yes);
	return 0;		/* fall through: key is off */
l_yes:
	return 1;		/* jumped: key is on */
}

/* Inverse site: `goto l_yes` (key off: jumps; key on: kernel makes it a no-op). */
static __always_inline int __skv_branch_jump(void *key)
{
	asm goto("1:\n\t"
		 "goto %l[l_yes]\n\t"
		 __SKV_ENTRY(".jump_table", "+ 1")
		 :: "i"(key) :: l_yes);
	return 1;		/* fall through: key is on */
l_yes:
	return 0;		/* jumped: key is off */
}

/* Both evaluate to "the key is on"; likely/unlikely only choose the layout. */
#define bpf_static_branch_unlikely(key)  unlikely(__skv_branch_nop(key))
#define bpf_static_branch_likely(key)    likely(__skv_branch_jump(key))

/*
 * 2025 RFC layout: key maps are BPF_MAP_TYPE_INSN_SET with BPF_F_STATIC_KEY in
 * map_extra (max_entries is filled in by the loader = number of sites), and the
 * table section is `.static_keys` with the same 16-byte entries.  The RFC's site
 * instructions were flagged JAs whose mnemonics/inverse rule are unresolved, so here
 * the sites are the plain 2023 JAs and the inverse bit of the entry is authoritative.
 */
#define DEFINE_STATIC_KEY_2025(name)				\
	struct {						\
		__uint(type, SKV_MAP_TYPE_INSN_SET);		\
		__type(key, __u32);				\
		__type(value, __u32);				\
		__uint(map_extra, BPF_F_STATIC_KEY_2025);	\
	} name SEC(".maps")

static __always_inline int __skv_branch_nop_2025(void *key)
{
	asm goto("1:\n\t"
		 "goto +0\n\t"
		 __SKV_ENTRY(".static_keys", "")
		 :: "i"(key) :: l_yes);
	return 0;
l_yes:
	return 1;
}

static __always_inline int __skv_branch_jump_2025(void *key)
{
	asm goto("1:\n\t"
		 "goto %l[l_yes]\n\t"
		 __SKV_ENTRY(".static_keys", "+ 1")
		 :: "i"(key) :: l_yes);
	return 1;
l_yes:
	return 0;
}

#define bpf_static_branch_unlikely_2025(key)  unlikely(__skv_branch_nop_2025(key))
#define bpf_static_branch_likely_2025(key)    likely(__skv_branch_jump_2025(key))

/*
 * 2024 (v1) design: no key map and no side table.  The site is a `gotol` (BPF_JMP32 |
 * BPF_JA, opcode 0x06, distance in imm, off = 0) whose src_reg carries the flags:
 *   src 1 = BPF_STATIC_BRANCH_JA                       "gotol_or_nop"  (now a jump)
 *   src 3 = BPF_STATIC_BRANCH_JA | BPF_STATIC_BRANCH_NOP "nop_or_gotol" (now a nop)
 * The imm always holds the distance to l_yes (in 8-byte slots, minus one), so a nop
 * site keeps its target.  No assembler mnemonic exists, hence the raw bytes.
 * Toggling is per instruction offset (BPF_STATIC_BRANCH_UPDATE {prog_fd, insn_off, on}).
 * Semantics used here: src 3 is off = nop / on = jump (normal); src 1 is
 * off = jump / on = nop (inverse), matching the 2023 normal/inverse rule.
 */
#define __SKV_JA_2024(src)						\
	"1:\n\t"							\
	".byte 0x06\n\t"						\
	".byte " #src " << 4\n\t"					\
	".short 0\n\t"							\
	".long (%l[l_yes] - 1b) / 8 - 1\n\t"

static __always_inline int __skv_branch_nop_2024(void)
{
	asm goto(__SKV_JA_2024(3) :::: l_yes);
	return 0;		/* nop: "off" */
l_yes:
	return 1;		/* jump: "on" */
}

static __always_inline int __skv_branch_jump_2024(void)
{
	asm goto(__SKV_JA_2024(1) :::: l_yes);
	return 1;		/* nop: "on" */
l_yes:
	return 0;		/* jump: "off" */
}

#define bpf_static_branch_unlikely_2024()  unlikely(__skv_branch_nop_2024())
#define bpf_static_branch_likely_2024()    likely(__skv_branch_jump_2024())

#endif /* SKV_PLAIN || SKV_OPAQUE */

#endif /* SKV_STATIC_KEYS_H */
