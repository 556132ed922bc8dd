"""Probe programs for map access flags, helper memory arguments and packet-changing
helpers (``tests/test_soundness_maps.py``). Each probe is a ``Probe`` (soundness_probes);
the kernel decides what it expects; names ending in ``_ok`` are the valid twins."""

from __future__ import annotations

from soundness_probes import Probe

RDONLY_PROG, WRONLY_PROG, RDONLY = 1 << 7, 1 << 8, 1 << 3
HASH = (1, 4, 8, 1)  # type, key_size, value_size, max_entries
ARRAY = (2, 4, 8, 1)

_LOOKUP = """r6 = r1
r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 1, 0
r2 = r10
r2 += -8
call 1
if r0 == 0 goto out
"""
_OUT = """out:
r0 = 0
exit
"""


def _flagged(name: str, body: str, flags: int, ptype: str = "xdp", extra=()) -> Probe:
    return Probe(name, ptype, _LOOKUP + body + _OUT, [HASH + (flags,), *extra])


_KEY = """r1 = 0
*(u64 *)(r10 - 8) = r1
*(u64 *)(r10 - 16) = r1
ld_pseudo r1, 1, 0
r2 = r10
r2 += -8
"""
_UPDATE = _KEY + "r3 = r10\nr3 += -16\nr4 = 0\ncall 2\nr0 = 0\nexit\n"
_DELETE = _KEY + "call 3\nr0 = 0\nexit\n"
_READ = "r0 = *(u64 *)(r1 + 0)\n"


def _direct(name: str, body: str, shape: tuple, flags: int) -> Probe:
    return Probe(name, "xdp", "ld_pseudo r1, 2, 0, 0\n" + body + "r0 = 0\nexit\n",
                 [shape + (flags,)])


FLAG_PROBES = [
    _flagged("rdonly_prog_read_ok", "r1 = *(u64 *)(r0 + 0)\n", RDONLY_PROG),
    _flagged("rdonly_prog_write", "r1 = 1\n*(u64 *)(r0 + 0) = r1\n", RDONLY_PROG),
    _flagged("rdonly_prog_store_imm", "*(u32 *)(r0 + 4) = 7\n", RDONLY_PROG),
    _flagged("rdonly_prog_atomic", "r1 = 1\nlock *(u64 *)(r0 + 0) += r1\n", RDONLY_PROG),
    _flagged("wronly_prog_write_ok", "r1 = 1\n*(u64 *)(r0 + 0) = r1\n", WRONLY_PROG),
    _flagged("wronly_prog_read", "r1 = *(u32 *)(r0 + 0)\n", WRONLY_PROG),
    _flagged("rdonly_syscall_side_write_ok", "r1 = 1\n*(u64 *)(r0 + 0) = r1\n", RDONLY),
    # helper memory arguments reading / writing the value
    _flagged("wronly_value_as_key", "r2 = r0\nld_pseudo r1, 1, 0\ncall 1\n", WRONLY_PROG),
    _flagged("rdonly_value_as_key_ok", "r2 = r0\nld_pseudo r1, 1, 0\ncall 1\n", RDONLY_PROG),
    _flagged("rdonly_value_probe_read_dst", "r1 = r0\nr2 = 8\nr3 = 0\ncall 113\n",
             RDONLY_PROG, "kprobe"),
    _flagged("wronly_value_probe_read_dst_ok", "r1 = r0\nr2 = 8\nr3 = 0\ncall 113\n",
             WRONLY_PROG, "kprobe"),
    _flagged("wronly_value_printk_fmt", "r1 = r0\nr2 = 8\ncall 6\n", WRONLY_PROG, "kprobe"),
    # map-writing helpers on a BPF_F_RDONLY_PROG map
    Probe("rdonly_prog_update", "xdp", _UPDATE, [HASH + (RDONLY_PROG,)]),
    Probe("rdonly_prog_delete", "xdp", _DELETE, [HASH + (RDONLY_PROG,)]),
    Probe("wronly_prog_update_ok", "xdp", _UPDATE, [HASH + (WRONLY_PROG,)]),
    # direct value access (ld_imm64 src 2)
    _direct("direct_value_rdonly_write", "r2 = 1\n*(u64 *)(r1 + 0) = r2\n", ARRAY, RDONLY_PROG),
    _direct("direct_value_rdonly_read_ok", _READ, ARRAY, RDONLY_PROG),
    _direct("direct_value_wronly_read", _READ, ARRAY, WRONLY_PROG),
    _direct("direct_value_hash", _READ, HASH, 0),
    _direct("direct_value_two_entries", _READ, (2, 4, 8, 2), 0),
]

# csum_diff(from, from_size, to, to_size, seed): ARG_PTR_TO_MEM | PTR_MAYBE_NULL | RDONLY
_SIZE_MAYBE_ZERO = """call 7
r7 = r0
r7 &= 4
"""
_END = "r0 = 0\nexit\n"


def _csum(ptr_setup: str, size: str) -> str:
    """csum_diff(<r1 as set up>, size, NULL, 0, 0)."""
    return ptr_setup + f"r2 = {size}\nr3 = 0\nr4 = 0\nr5 = 0\ncall 28\n" + _END


def _call(args: dict[int, str], hid: int) -> str:
    return "".join(f"r{r} = {v}\n" for r, v in sorted(args.items())) + f"call {hid}\n" + _END


_LOAD_BYTES = "r6 = r1\n" + _SIZE_MAYBE_ZERO  # skb_load_bytes(ctx, 0, fp-8, r7)
_VAR_FP = "call 7\nr8 = r0\nr8 &= 8\n"  # r8 in {0, 8}
MEM_PROBES = [
    Probe("null_mem_size_maybe_nonzero", "xdp", _SIZE_MAYBE_ZERO + _csum("r1 = 0\n", "r7")),
    Probe("null_mem_size_const_nonzero", "xdp", _csum("r1 = 0\n", "4")),
    Probe("null_mem_size_zero_ok", "xdp", _csum("r1 = 0\n", "0")),
    Probe("stack_mem_size_maybe_zero_ok", "xdp", _SIZE_MAYBE_ZERO + _csum(
        "r1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -8\n", "r7")),
    # a non-NULL scalar is no memory, even with size 0
    Probe("scalar_mem_or_null_size_zero", "xdp", _csum("r1 = 8\n", "0")),
    Probe("scalar_uninit_mem_size_zero", "kprobe", _call({1: "8", 2: "0", 3: "0"}, 113)),
    # ARG_CONST_SIZE (skb_load_bytes' len) may not be 0
    Probe("const_size_maybe_zero", "sched_cls", _LOAD_BYTES + "r3 = r10\nr3 += -8\n"
          + _call({1: "r6", 2: "0", 4: "r7"}, 26)),
    Probe("const_size_nonzero_ok", "sched_cls", _LOAD_BYTES + "r7 |= 1\nr3 = r10\nr3 += -8\n"
          + _call({1: "r6", 2: "0", 4: "r7"}, 26)),
    # a variable-offset stack pointer (probe_read_kernel's dst) with a size that may be 0
    Probe("var_stack_size_maybe_zero_ok", "kprobe", _VAR_FP + _SIZE_MAYBE_ZERO
          + "r1 = r10\nr1 += -16\nr1 += r8\n" + _call({2: "r7", 3: "0"}, 113)),
    Probe("var_stack_past_top", "kprobe", _VAR_FP + "r1 = r10\nr1 += -8\nr1 += r8\n"
          + _call({2: "4", 3: "0"}, 113)),
    # uninitialised stack bytes read by a helper (root: allowed, like direct reads)
    Probe("uninit_stack_key_ok", "xdp", "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 1\n"
          + _END, [HASH + (0,)]),
    Probe("uninit_stack_csum_ok", "xdp", _csum("r1 = r10\nr1 += -16\n", "16")),
]

# -- packet-changing helpers -------------------------------------------------------------
PKT_OFFSETS = {"xdp": (0, 4), "sched_cls": (76, 80)}  # ctx offsets of data, data_end


def _pkt_check(ptype: str, keep: bool) -> str:
    """r2 = data, r3 = data_end, 8 bytes checked (r7 = data when ``keep``)."""
    d, e = PKT_OFFSETS[ptype]
    return (f"r2 = *(u32 *)(r6 + {d})\nr3 = *(u32 *)(r6 + {e})\n" + ("r7 = r2\n" if keep else "")
            + "r4 = r2\nr4 += 8\nif r4 > r3 goto out\n")


_XDP_PKT = "r6 = r1\n" + _pkt_check("xdp", True)
_TC_PKT = "r6 = r1\n" + _pkt_check("sched_cls", True)
_STALE = "r0 = *(u8 *)(r7 + 0)\n"
_RELOAD = {t: _pkt_check(t, False) + "r0 = *(u8 *)(r2 + 0)\n" for t in PKT_OFFSETS}
#: helper call text (after the packet check; r6 = ctx) per (program type, helper)
PKT_CALLS = {
    ("xdp", "xdp_adjust_head"): "r1 = r6\nr2 = 0\ncall 44\n",
    ("xdp", "xdp_adjust_tail"): "r1 = r6\nr2 = 0\ncall 65\n",
    ("xdp", "xdp_adjust_meta"): "r1 = r6\nr2 = 0\ncall 54\n",
    ("sched_cls", "skb_pull_data"): "r1 = r6\nr2 = 0\ncall 39\n",
    ("sched_cls", "skb_change_tail"): "r1 = r6\nr2 = 64\nr3 = 0\ncall 38\n",
    ("sched_cls", "skb_change_head"): "r1 = r6\nr2 = 0\nr3 = 0\ncall 43\n",
    ("sched_cls", "skb_change_proto"): "r1 = r6\nr2 = 0\nr3 = 0\ncall 31\n",
    ("sched_cls", "skb_vlan_push"): "r1 = r6\nr2 = 0\nr3 = 0\ncall 18\n",
    ("sched_cls", "skb_vlan_pop"): "r1 = r6\ncall 19\n",
    ("sched_cls", "skb_adjust_room"): "r1 = r6\nr2 = 0\nr3 = 0\nr4 = 0\ncall 50\n",
    ("sched_cls", "l3_csum_replace"): "r1 = r6\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall 10\n",
    ("sched_cls", "l4_csum_replace"): "r1 = r6\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall 11\n",
    ("sched_cls", "clone_redirect"): "r1 = r6\nr2 = 1\nr3 = 0\ncall 13\n",
    ("sched_cls", "skb_store_bytes"): ("r1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = r6\nr2 = 0\n"
                                       "r3 = r10\nr3 += -8\nr4 = 4\nr5 = 0\ncall 9\n"),
    # helpers that leave the packet alone
    ("sched_cls", "skb_change_type"): "r1 = r6\nr2 = 0\ncall 32\n",
    ("sched_cls", "redirect"): "r1 = 1\nr2 = 0\ncall 23\n",
    ("xdp", "redirect"): "r1 = 1\nr2 = 0\ncall 23\n",
    ("xdp", "ktime_get_ns"): "call 5\n",
}


def pkt_probes() -> list[Probe]:
    out = []
    for (pt, h), call in PKT_CALLS.items():
        head = _XDP_PKT if pt == "xdp" else _TC_PKT
        out.append(Probe(f"{pt}_{h}_stale_reg", pt, head + call + _STALE + _OUT))
        out.append(Probe(f"{pt}_{h}_reloaded_ok", pt, head + call + _RELOAD[pt] + _OUT))
    head = _XDP_PKT
    adjust = PKT_CALLS[("xdp", "xdp_adjust_head")]
    out += [
        Probe("xdp_spilled_pkt", "xdp", head + "*(u64 *)(r10 - 8) = r7\n" + adjust
              + "r7 = *(u64 *)(r10 - 8)\n" + _STALE + _OUT),
        Probe("xdp_pkt_end_stale", "xdp", head + "r8 = r3\n" + adjust + """r2 = *(u32 *)(r6 + 0)
r4 = r2
r4 += 8
if r4 > r8 goto out
r0 = *(u8 *)(r2 + 0)
""" + _OUT),
        # a subprogram changes the packet; the caller's pointer (callee-saved r7) is stale
        Probe("xdp_subprog_adjust", "xdp", head + "r1 = r6\ncall sub\n" + _STALE + _OUT
              + "sub:\nr2 = 0\ncall 44\nr0 = 0\nexit\n"),
        # the caller's pointer passed into the subprogram, which uses it after the call
        Probe("xdp_callee_uses_caller_pkt", "xdp", head + "r1 = r6\nr2 = r7\ncall sub\n" + _OUT
              + "sub:\nr7 = r2\nr2 = 0\ncall 44\nr0 = *(u8 *)(r7 + 0)\nr0 = 0\nexit\n"),
        Probe("xdp_subprog_no_adjust_ok", "xdp", head + "call sub\n" + _STALE + _OUT
              + "sub:\nr0 = 0\nexit\n"),
    ]
    return out


#: a failed tail call falls through; in the main program the kernel keeps packet pointers
TAIL_CALL_PROBES = [
    Probe("tail_call_main_stale", "xdp", _XDP_PKT + "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\n"
          "call 12\n" + _STALE + _OUT, [(3, 4, 4, 1, 0)]),
    Probe("tail_call_subprog_stale", "xdp", _XDP_PKT + "r1 = r6\ncall sub\n" + _STALE + _OUT
          + "sub:\nld_pseudo r2, 1, 0\nr3 = 0\ncall 12\nr0 = 0\nexit\n", [(3, 4, 4, 1, 0)]),
]
TAIL_CALL_PROBES.append(
    Probe("tail_call_subprog_no_pkt", "xdp", "r6 = r1\nr1 = r6\ncall sub\n" + _OUT
          + "sub:\nld_pseudo r2, 1, 0\nr3 = 0\ncall 12\nr0 = 0\nexit\n", [(3, 4, 4, 1, 0)]))
TAIL_CALL_PROBES.append(
    Probe("tail_call_main_with_subprog_ok", "xdp", "r6 = r1\nr1 = r6\nld_pseudo r2, 1, 0\n"
          "r3 = 0\ncall 12\ncall sub\n" + _OUT + "sub:\nr0 = 0\nexit\n", [(3, 4, 4, 1, 0)]))

#: a packet pointer as a helper's memory argument: only for helpers with pkt_access
PKT_ARG_PROBES = [
    Probe("pkt_to_store_bytes", "sched_cls", _TC_PKT + PKT_CALLS[
        ("sched_cls", "skb_store_bytes")].replace("r3 = r10\nr3 += -8\n", "r3 = r7\n") + _OUT),
    Probe("pkt_to_csum_diff_ok", "xdp", _XDP_PKT + "r1 = r7\nr2 = 4\nr3 = 0\nr4 = 0\nr5 = 0\n"
          "call 28\n" + _OUT),
    Probe("pkt_to_perf_output", "xdp", _XDP_PKT + "r1 = r6\nld_pseudo r2, 1, 0\nr3 = 0\n"
          "r4 = r7\nr5 = 4\ncall 25\n" + _OUT, [(4, 4, 4, 1, 0)]),
    Probe("pkt_to_ringbuf_output", "xdp", _XDP_PKT + "ld_pseudo r1, 1, 0\nr2 = r7\nr3 = 4\n"
          "r4 = 0\ncall 130\n" + _OUT, [(27, 0, 0, 4096, 0)]),
    Probe("pkt_key_lookup_ok", "xdp", _XDP_PKT + "ld_pseudo r1, 1, 0\nr2 = r7\ncall 1\n" + _OUT,
          [HASH + (0,)]),
]
