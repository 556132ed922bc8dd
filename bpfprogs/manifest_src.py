#!/usr/bin/env python3
"""Source of manifest.json: the expected behaviour of every program, written by hand.

The site pcs below are literals read off `llvm-objdump-19 -dr` (they are NOT computed);
`gen_sites.py --check` verifies them against the objects.  Run this script to rewrite
manifest.json after editing it:  python3 manifest_src.py
"""
import os
import itertools
import json
SAFE = {"M0": {"safe": True, "unsafe_when": []}, "M1": {"safe": True}, "M2": {"safe": True}}
def S(pc, key, inv, tgt): return {"pc": pc, "key": key, "inverse": inv, "target": tgt}
def assigns(keys):
    for bits in itertools.product([0, 1], repeat=len(keys)):
        yield dict(zip(keys, bits))
def run(keys, r0, trace=None, glob=None, ctx=None, ctx_out=None):
    d = {"keys": keys, "ctx": ctx, "r0": r0, "trace": trace or []}
    if glob is not None: d["globals"] = glob
    if ctx_out is not None: d["ctx_out"] = ctx_out
    return d
P = []
def prog(obj, program, section, prog_type, design, keys, sites, expect, reason, runs, **kw):
    d = {"object": obj + ".o", "source": obj + ".c", "program": program, "section": section,
         "prog_type": prog_type, "design": design, "keys": keys, "sites": sites,
         "expect": expect, "reason": reason, "runs": runs}
    d.update(kw); P.append(d)

for name, inv, tgt in (("talk_unlikely", False, 3), ("talk_likely", True, 5)):
    prog(name, "worker", "kprobe/__x64_sys_getpgid", "kprobe", "2023", ["debug_key"],
         [S(0, "debug_key", inv, tgt)], SAFE,
         "the talk's example: the key only decides whether bpf_trace_printk runs; every path returns 0",
         [run({"debug_key": k}, 0, ["__x64_sys_getpgid\n"] if k else []) for k in (0, 1)])

prog("st_likely", "st_likely", "socket", "socket_filter", "2023", ["key"], [S(1, "key", True, 8)], SAFE,
     "constant adds only: 3 with the key on, 4 with it off",
     [run({"key": k}, 3 if k else 4, glob={"counter": 3 if k else 4}) for k in (0, 1)])

for program, inv, tgt, on, off in (("prog_a", False, 3, 111, 222), ("prog_b", True, 8, 222, 111),
                                   ("prog_c", False, 3, 0, 111)):
    prog("st_three_progs", program, "socket", "socket_filter", "2023", ["shared_key"],
         [S(1, "shared_key", inv, tgt)], SAFE,
         "constant adds to the shared global `total`; no memory access depends on the key",
         [run({"shared_key": k}, on if k else off, glob={"total": on if k else off}) for k in (0, 1)])

prog("st_long_jump", "st_long_jump", "socket", "socket_filter", "2023", ["key"], [S(1, "key", False, 42)], SAFE,
     "arithmetic only; the site jumps over 40 adds (x86 needs the 5-byte jump)",
     [run({"key": k}, 1256 if k else 2256, glob={"result": 1256 if k else 2256}) for k in (0, 1)])

keys3 = ["key0", "key1", "key2"]
prog("st_three_keys", "st_three_keys", "socket", "socket_filter", "2023", keys3,
     [S(1, "key0", False, 3), S(3, "key1", False, 9), S(4, "key2", False, 11)], SAFE,
     "bit ORs only; result = key0 | key1<<1 | key2<<2",
     [run(a, a["key0"] | a["key1"] << 1 | a["key2"] << 2,
          glob={"result": a["key0"] | a["key1"] << 1 | a["key2"] << 2}) for a in assigns(keys3)])

prog("st_subprog", "st_subprog", "socket", "socket_filter", "2023", ["key1", "key2"],
     [S(1, "key1", False, 3), S(3, "key2", False, 10), S(13, "key1", False, 15), S(15, "key2", False, 17)], SAFE,
     "main adds 1/10 and the .text subprogram sub (linked at pc 12) adds 100/1000; arithmetic only",
     [run(a, 101 * a["key1"] + 1010 * a["key2"], glob={"result": 101 * a["key1"] + 1010 * a["key2"]})
      for a in assigns(["key1", "key2"])])

prog("loop_site", "loop_site", "socket", "socket_filter", "2023", ["loop_key"], [S(3, "loop_key", False, 5)], SAFE,
     "one site executed 4 times in a bounded loop; both edges only change an integer sum",
     [run({"loop_key": k}, 6 if k else 40, glob={"result": 6 if k else 40}) for k in (0, 1)])

prog("subprog_twice", "subprog_twice", "socket", "socket_filter", "2023", ["twice_key"],
     [S(12, "twice_key", True, 15)], SAFE,
     "one site in the .text subprogram scale (linked at pc 11), called twice; arithmetic only",
     [run({"twice_key": k}, 16 if k else 10, glob={"result": 16 if k else 10}) for k in (0, 1)])

IPV4 = "ffffffffffff020000000001" + "0800" + "4500001400004000401100000a0000010a000002"
IPV6 = "ffffffffffff020000000002" + "86dd" + "6000000000003b40" + "fe80" + "00" * 13 + "01" + "fe80" + "00" * 13 + "02"
SHORT = "ffffffffffff0200000000"
xruns = []
for a in assigns(["drop_ipv4", "count_bytes"]):
    for pkt in (IPV4, IPV6, SHORT):
        n = len(pkt) // 2
        if n < 14:
            r0 = 0 if a["drop_ipv4"] else 2
        else:
            r0 = 1 if (a["drop_ipv4"] and pkt[24:28] == "0800") else 2
        xruns.append(run(a, r0, glob={"rx_bytes": n if a["count_bytes"] else 0},
                         ctx={"type": "xdp_md", "packet": pkt}))
prog("xdp_keys", "xdp_filter", "xdp", "xdp", "2023", ["drop_ipv4", "count_bytes"],
     [S(2, "count_bytes", True, 10), S(10, "drop_ipv4", False, 12)], SAFE,
     "the packet is read only after `data + 14 > data_end` was checked on the same path; the length add needs no check",
     xruns)

truns = []
for a in assigns(["mark_src", "allow_ipv6"]):
    for pkt in (IPV4, IPV6, SHORT):
        n = len(pkt) // 2
        if n < 14:
            r0, mark = 2, 0
        else:
            mark = int(pkt[22:24], 16) if a["mark_src"] else 0
            r0 = 2 if (not a["allow_ipv6"] and pkt[24:28] == "86dd") else 0
        truns.append(run(a, r0, ctx={"type": "__sk_buff", "packet": pkt}, ctx_out={"mark": mark}))
prog("tc_keys", "tc_mark", "tc", "sched_cls", "2023", ["mark_src", "allow_ipv6"],
     [S(6, "mark_src", False, 13), S(7, "allow_ipv6", True, 9)], SAFE,
     "the frame is bounds-checked (data + 14 <= data_end) before both sites; skb->mark is writable for tc",
     truns)

prog("unsafe_on_oob", "oob_on", "socket", "socket_filter", "2023", ["oob_key"], [S(9, "oob_key", False, 12)],
     {"M0": {"safe": False, "unsafe_when": [{"oob_key": 1}]},
      "M1": {"safe": False, "unsafe_when": [{"pc9": 1}]}, "M2": {"safe": False}},
     "key on: 4-byte load at offset 64 of an 8-byte map value (invalid access to map value)",
     [run({"oob_key": 0}, 1)])

prog("unsafe_on_uninit", "uninit_on", "socket", "socket_filter", "2023", ["uninit_key"],
     [S(1, "uninit_key", False, 3)],
     {"M0": {"safe": False, "unsafe_when": [{"uninit_key": 1}]},
      "M1": {"safe": False, "unsafe_when": [{"pc1": 1}]}, "M2": {"safe": False}},
     "key on: `r0 = r6` reads a register nothing wrote (R6 !read_ok)",
     [run({"uninit_key": 0}, 0)])

prog("unsafe_off", "null_off", "socket", "socket_filter", "2023", ["check_key"], [S(7, "check_key", True, 9)],
     {"M0": {"safe": False, "unsafe_when": [{"check_key": 0}]},
      "M1": {"safe": False, "unsafe_when": [{"pc7": 0}]}, "M2": {"safe": False}},
     "key off: the HASH lookup result (map_value_or_null) is dereferenced without the NULL check that only the key-on path has",
     [run({"check_key": 1}, 0)])

prog("unsafe_m1", "per_site", "socket", "socket_filter", "2023", ["split_key"],
     [S(3, "split_key", False, 5), S(13, "split_key", False, 16)],
     {"M0": {"safe": True, "unsafe_when": []},
      "M1": {"safe": False, "unsafe_when": [{"pc3": 0, "pc13": 1}]}, "M2": {"safe": False}},
     "site A (pc 3) on-path sets r0 to a checked map value that site B (pc 13) on-path loads through; A off + B on loads through the scalar 0",
     [run({"split_key": 0}, 7), run({"split_key": 1}, 0)])

prog("unsafe_m2", "per_exec", "socket", "socket_filter", "2023", ["loop_key"], [S(6, "loop_key", False, 13)],
     {"M0": {"safe": True, "unsafe_when": []}, "M1": {"safe": True, "unsafe_when": []},
      "M2": {"safe": False, "witness": [{"pc6": 0}, {"pc6": 1}]}},
     "one site in a 2-iteration loop: on at iteration 0 sets p, on at iteration 1 loads through p; off then on loads through the scalar 0",
     [run({"loop_key": 0}, 5), run({"loop_key": 1}, 0)])

prog("design2025", "keys2025", "socket", "socket_filter", "2025", ["trace_key", "fast_key"],
     [S(1, "trace_key", False, 3), S(3, "fast_key", True, 9)], SAFE,
     "2025 .static_keys layout; arithmetic only: 1 + 10*trace_key + (fast_key ? 100 : 200)",
     [run(a, 1 + 10 * a["trace_key"] + (100 if a["fast_key"] else 200),
          glob={"result": 1 + 10 * a["trace_key"] + (100 if a["fast_key"] else 200)})
      for a in assigns(["trace_key", "fast_key"])])

k24 = ["keys2024@pc1", "keys2024@pc3"]
prog("design2024", "keys2024", "socket", "socket_filter", "2024", k24,
     [S(1, k24[0], False, 3), S(3, k24[1], True, 9)], SAFE,
     "2024 flagged gotol sites (src 3 at pc 1, src 1 at pc 3), each its own synthetic key; arithmetic only",
     [run(a, 1 + 10 * a[k24[0]] + (100 if a[k24[1]] else 200),
          glob={"result": 1 + 10 * a[k24[0]] + (100 if a[k24[1]] else 200)}) for a in assigns(k24)])

# M1 unsafe_when for safe programs: empty
for p in P:
    p["expect"]["M1"].setdefault("unsafe_when", [])

seqs = []
for k, per in ((0, 444), (1, 333)):
    for n in (1, 2):
        steps = []
        for i in range(n):
            steps += [{"program": "prog_a", "r0": 111 if k else 222},
                      {"program": "prog_b", "r0": 222 if k else 111},
                      {"program": "prog_c", "r0": 0 if k else 111}]
        seqs.append({"name": f"three_progs_{'on' if k else 'off'}_x{n}", "object": "st_three_progs.o",
                     "keys": {"shared_key": k}, "ctx": None, "steps": steps,
                     "globals_after": {"total": per * n}})
json.dump({"version": 1, "programs": P, "sequences": seqs},
          open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.json"), "w"), indent=1)
print(len(P), "programs")
