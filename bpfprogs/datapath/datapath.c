// SPDX-License-Identifier: GPL-2.0
/*
 * A realistic datapath with static keys: an XDP L4 load balancer and firewall with a
 * tail-called IPv4 and IPv6 stage, plus tc ingress (reverse NAT of backend replies) and
 * tc egress (policy and accounting).  Written for skv; see datapath.h for the maps.
 *
 *   dp_xdp_entry  xdp   L2 parsing (VLAN / QinQ), hands off through dp_stages[0|1]
 *   dp_xdp_v4     xdp   IPv4: TCP/UDP/ICMP, policy, conntrack, DNAT to a backend, ICMP echo
 *   dp_xdp_v6     xdp   IPv6: TCP/UDP/ICMPv6, policy, conntrack, DNAT to a backend
 *   dp_xdp_icmp_err xdp ICMP errors about a balanced flow (PMTU): sent on to its backend
 *   dp_xdp_icmp6_err xdp ICMPv6 "packet too big", the same for IPv6
 *   dp_xdp_frag   xdp   non-first IPv4 fragments follow their first fragment's backend
 *   dp_tc_ingress tc    reverse NAT (SNAT back to the VIP) with bpf_l{3,4}_csum_replace
 *   dp_tc_egress  tc    egress policy, TCP MSS clamping, accounting, debug events
 *   dp_tc_hc      tc    health-check probes steered to the backend their mark names
 *   dp_tc_ratelimit tc  a token bucket per source address
 *
 * dp_stages (PROG_ARRAY): 0 = dp_xdp_v4, 1 = dp_xdp_v6, 2 = dp_xdp_icmp_err,
 * 3 = dp_xdp_frag, 4 = dp_xdp_icmp6_err.  Maps: HASH (vips, vips6, policy, snat6),
 * LRU_HASH (ct_v4, ct_v6, frags, rl_buckets), ARRAY (backends, backends6, dp_config,
 * vlan_allow, hc_targets), PERCPU_ARRAY (dp_scratch, dp_stats), PERF_EVENT_ARRAY
 * (dp_events).  (No LPM trie: skv does not model its lookups.)
 *
 * Keys.  Feature toggles: dp_ipv6, dp_vlan, dp_nat, dp_conntrack, dp_policy_drop,
 * dp_strict_tcp, dp_icmp_reply, dp_sample, dp_mark, dp_mss_clamp.  Debug/trace (off in production,
 * as in the LPC talk): dbg_printk (bpf_printk), dbg_event (a perf-event debug record),
 * dbg_dump_l4 (the record also carries the first 8 bytes of the L4 header).
 *
 * Built with -DDP_UNSAFE_L4_DUMP (unsafe_datapath.c), dp_xdp_icmp_err's debug dump of
 * the quoted L4 header trusts the 8-byte bound check of its conntrack block: unsafe
 * exactly when dbg_event and dbg_dump_l4 are on and dp_conntrack is off (a realistic
 * "the debug code assumed a feature had run" bug).
 */
#include "datapath_lib.h"

DEFINE_STATIC_KEY(dp_ipv6);
DEFINE_STATIC_KEY(dp_vlan);
DEFINE_STATIC_KEY(dp_nat);
DEFINE_STATIC_KEY(dp_conntrack);
DEFINE_STATIC_KEY(dp_policy_drop);
DEFINE_STATIC_KEY(dp_strict_tcp);
DEFINE_STATIC_KEY(dp_icmp_reply);
DEFINE_STATIC_KEY(dp_sample);
DEFINE_STATIC_KEY(dp_mark);
DEFINE_STATIC_KEY(dp_mss_clamp);
DEFINE_STATIC_KEY(dbg_printk);
DEFINE_STATIC_KEY(dbg_event);
DEFINE_STATIC_KEY(dbg_dump_l4);

#include "datapath_xdp.h"
#include "datapath_stages.h"
#include "datapath_tc.h"

char _license[] SEC("license") = "GPL";
