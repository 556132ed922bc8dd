// SPDX-License-Identifier: GPL-2.0
/*
 * The datapath (datapath.c) with one deliberate bug: the debug record's L4 dump trusts
 * the 8-byte bound check of the conntrack block.  Unsafe exactly when dbg_event and
 * dbg_dump_l4 are on and dp_conntrack is off (every model: M0, M1, M2).
 */
#define DP_UNSAFE_L4_DUMP 1
#include "datapath.c"
