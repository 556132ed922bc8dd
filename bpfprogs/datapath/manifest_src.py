#!/usr/bin/env python3
"""Source of datapath/manifest.json: the datapath's expected behaviour (same schema as
../manifest.json, see ../README.md), written by hand.

The site tables below were read off the objects (``../gen_sites.py datapath.o``, checked
against ``llvm-objdump-19 -dr`` for a few sites); ``../gen_sites.py --check manifest.json``
verifies every one of them against the ELF. Run this script to rewrite manifest.json.
"""
import itertools
import json
import os

SAFE = {"M0": {"safe": True, "unsafe_when": []}, "M1": {"safe": True, "unsafe_when": []},
        "M2": {"safe": True}}
SECTION = {"xdp": ("xdp", "xdp"), "tc": ("tc", "sched_cls")}

# program -> (section kind, [(pc, key, inverse, target), ...]) in datapath.o
SITES = {
    "dp_xdp_entry": ("xdp", [(5, "dp_sample", False, 14), (81, "dp_vlan", False, 158),
                             (82, "dbg_printk", False, 116), (102, "dp_ipv6", True, 124),
                             (124, "dp_policy_drop", False, 142)]),
    "dp_xdp_v4": ("xdp", [(64, "dp_strict_tcp", False, 66), (110, "dp_icmp_reply", False, 480),
                          (122, "dp_sample", False, 442), (175, "dp_policy_drop", False, 515),
                          (177, "dp_conntrack", True, 209), (267, "dp_conntrack", True, 315),
                          (279, "dp_mark", False, 629), (315, "dp_nat", True, 425),
                          (398, "dbg_printk", False, 544), (515, "dbg_printk", False, 519),
                          (516, "dbg_event", False, 526), (533, "dbg_dump_l4", False, 661)]),
    "dp_xdp_v6": ("xdp", [(79, "dp_strict_tcp", False, 81), (117, "dbg_printk", False, 511),
                          (141, "dbg_event", False, 469), (144, "dp_icmp_reply", False, 519),
                          (184, "dp_policy_drop", False, 141), (185, "dp_conntrack", True, 244),
                          (221, "dp_mark", False, 488), (244, "dp_nat", True, 453),
                          (452, "dbg_printk", False, 630)]),
    "dp_xdp_icmp_err": ("xdp", [(61, "dbg_printk", False, 130), (62, "dp_conntrack", True, 126),
                                (75, "dp_nat", True, 126), (127, "dbg_event", False, 139),
                                (156, "dbg_dump_l4", False, 167)]),
    "dp_xdp_frag": ("xdp", [(36, "dp_nat", True, 106), (53, "dbg_printk", False, 108),
                            (55, "dp_policy_drop", False, 106), (105, "dbg_event", False, 114)]),
    "dp_xdp_icmp6_err": ("xdp", [(66, "dbg_printk", False, 192), (67, "dp_conntrack", True, 190),
                                 (68, "dp_nat", True, 190), (189, "dbg_event", False, 198)]),
    "dp_tc_ingress": ("tc", [(25, "dp_ipv6", True, 296), (54, "dp_conntrack", True, 36),
                             (102, "dp_conntrack", True, 36), (103, "dp_nat", True, 36),
                             (156, "dp_mark", False, 303), (207, "dbg_printk", False, 209),
                             (217, "dp_mark", False, 300), (219, "dp_nat", True, 36),
                             (281, "dbg_printk", False, 283), (297, "dp_policy_drop", False, 36)]),
    "dp_tc_egress": ("tc", [(3, "dp_sample", False, 14), (55, "dp_ipv6", True, 121),
                            (115, "dp_policy_drop", False, 118), (118, "dp_mss_clamp", False, 122),
                            (119, "dbg_event", False, 175), (120, "dbg_printk", False, 199)]),
    "dp_tc_hc": ("tc", [(8, "dp_ipv6", True, 244), (126, "dbg_printk", False, 216),
                        (205, "dp_sample", False, 223), (243, "dbg_printk", False, 245)]),
    "dp_tc_ratelimit": ("tc", [(35, "dp_ipv6", True, 118), (110, "dbg_printk", False, 120),
                               (111, "dbg_event", False, 127), (113, "dp_policy_drop", False, 118)]),
}
# unsafe_datapath.o: dp_xdp_icmp_err differs (the unchecked dump); the rest is identical
UNSAFE_ICMP_ERR = [(58, "dbg_printk", False, 128), (59, "dp_conntrack", True, 125),
                   (72, "dp_nat", True, 125), (125, "dbg_event", False, 138),
                   (155, "dbg_dump_l4", False, 166)]

REASON = {
    "dp_xdp_entry": "L2 parsing; every VLAN header is bounds-checked before it is read; the keys only pick counters, the VLAN parser, the IPv6 hand-off and debug output",
    "dp_xdp_v4": "every header read follows a data_end check on the same path; the debug L4 dump re-checks its 8 bytes; NAT rewrites only checked bytes",
    "dp_xdp_v6": "the IPv6, TCP/UDP and ICMPv6 headers are checked before use; NAT and the echo reply write checked bytes only",
    "dp_xdp_icmp_err": "the inner headers are checked before use; the debug dump of the quoted L4 header re-checks its 8 bytes",
    "dp_xdp_frag": "only the checked IPv4 header is read and written",
    "dp_xdp_icmp6_err": "the outer and quoted IPv6 headers and 4 quoted L4 bytes are checked before use",
    "dp_tc_ingress": "fixed-offset headers checked before use; after bpf_l3/l4_csum_replace and bpf_skb_store_bytes the packet is re-read and re-checked",
    "dp_tc_egress": "headers checked before use; MSS clamping re-reads the packet and checks every option byte",
    "dp_tc_hc": "headers checked before use; the rewrite goes through the checksum and store helpers",
    "dp_tc_ratelimit": "headers checked before use; the bucket is a checked map value",
}

IPV4 = ("020000000002" "020000000001" "0800" "4500002e00004000401100000a0000010a000002"
        "30390050001a0000" + "00" * 18)
IPV6 = ("020000000002" "020000000001" "86dd" "6000000000140640" + "fd00" + "00" * 13 + "01"
        + "fd00" + "00" * 13 + "02" + "303901bb000000000000000050020000" + "00" * 4)
VLAN = ("020000000002" "020000000001" "8100" "0064" "0800" "4500002e00004000401100000a0000010a000002"
        "30390050001a0000" + "00" * 18)


def site(t):
    pc, key, inv, tgt = t
    return {"pc": pc, "key": key, "inverse": inv, "target": tgt}


def keys_of(sites):
    return sorted({s[1] for s in sites})


def assigns(keys):
    for bits in itertools.product([0, 1], repeat=len(keys)):
        yield dict(zip(keys, bits))


def entry_r0(a, pkt):
    """dp_xdp_entry with fresh maps (no stage installed, no VLAN allowed, no MTU)."""
    if pkt == VLAN:
        return 1 if a["dp_vlan"] else 2          # VLAN 100 is not in vlan_allow
    if pkt == IPV6 and not a["dp_ipv6"] and a["dp_policy_drop"]:
        return 1
    return 2                                      # the tail call finds no program


def ingress_r0(a, pkt):
    """dp_tc_ingress with fresh maps: conntrack is empty, so nothing is rewritten."""
    return 2 if (pkt == IPV6 and not a["dp_ipv6"] and a["dp_policy_drop"]) else 0


RUNS = {"dp_xdp_entry": ("xdp_md", (IPV4, IPV6, VLAN), entry_r0),
        "dp_tc_ingress": ("__sk_buff", (IPV4, IPV6), ingress_r0)}


def runs(name, keys):
    if name not in RUNS:
        return []
    ctype, pkts, fn = RUNS[name]
    return [{"keys": a, "ctx": {"type": ctype, "packet": p}, "r0": fn(a, p), "trace": []}
            for a in assigns(keys) for p in pkts]


def entry(obj, name, sites, expect, reason, with_runs=True):
    kind = SITES[name][0]
    ks = keys_of(sites)
    return {"object": obj + ".o", "source": obj + ".c", "program": name,
            "section": SECTION[kind][0], "prog_type": SECTION[kind][1], "design": "2023",
            "keys": ks, "sites": [site(t) for t in sites], "expect": expect,
            "reason": reason, "runs": runs(name, ks) if with_runs else []}


P = [entry("datapath", n, s, SAFE, REASON[n]) for n, (_, s) in SITES.items()]
for n, (_, s) in SITES.items():
    if n != "dp_xdp_icmp_err":
        P.append(entry("unsafe_datapath", n, s, SAFE, REASON[n] + " (the same code as datapath.o)",
                       with_runs=False))
        continue
    pc = {k: p for p, k, _, _ in UNSAFE_ICMP_ERR}
    P.append(entry("unsafe_datapath", n, UNSAFE_ICMP_ERR, {
        "M0": {"safe": False, "unsafe_when": [{"dbg_event": 1, "dbg_dump_l4": 1, "dp_conntrack": 0}]},
        "M1": {"safe": False, "unsafe_when": [{f"pc{pc['dbg_event']}": 1, f"pc{pc['dbg_dump_l4']}": 1,
                                               f"pc{pc['dp_conntrack']}": 0}]},
        "M2": {"safe": False}},
        "dbg_event + dbg_dump_l4 copy 8 bytes of the quoted L4 header that only the dp_conntrack "
        "block checked; with dp_conntrack off the read can pass data_end (invalid access to packet)",
        with_runs=False))

json.dump({"version": 1, "programs": P, "sequences": []},
          open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.json"), "w"),
          indent=1)
print(len(P), "programs")
