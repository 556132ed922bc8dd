// SPDX-License-Identifier: GPL-2.0
/*
 * The datapath (datapath.c) with one deliberate bug: in dp_xdp_icmp_err, the debug
 * record's dump of the quoted L4 header (8 bytes) trusts the bound check of the
 * conntrack block.  Unsafe exactly when dbg_event and dbg_dump_l4 are on and
 * dp_conntrack is off (so under M0, M1 and M2); every other program is the safe one.
 */
#define DP_UNSAFE_L4_DUMP 1
#include "datapath.c"
