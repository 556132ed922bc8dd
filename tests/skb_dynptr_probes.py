"""Assembled probes for skb / xdp dynptrs and dynptr slices (tests/test_skb_dynptrs.py):
bpf_dynptr_from_skb / from_xdp, bpf_dynptr_slice / slice_rdwr, bpf_dynptr_read / write /
data on them. ``call kfunc NAME`` is resolved to the running kernel's BTF id
(kfunc_probes.resolve). Each probe: (name, section, text); the kernel's verdict and words
decide; the names of those the kernel accepted when written end in ``_ok`` (checked)."""

from __future__ import annotations

FSKB = "r6 = r1\nr2 = 0\nr3 = r10\nr3 += -16\ncall kfunc bpf_dynptr_from_skb\n"
FXDP = FSKB.replace("from_skb", "from_xdp")
SL = "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n"
SLW = SL.replace("slice", "slice_rdwr")
SLB = SL.replace("r3 = 0", "r3 = r10\nr3 += -32")
END = "r0 = 0\nexit\n"

PROBES = [
    ("from_skb_tc_ok", "tc", FSKB + END),
    ("from_skb_xdp", "xdp", FSKB + END),
    ("from_xdp_xdp_ok", "xdp", FXDP + END),
    ("from_xdp_tc", "tc", FXDP + END),
    ("from_skb_moved_ctx", "tc", "r1 += 4\n" + FSKB + END),
    ("from_skb_scalar_ctx", "tc", "r1 = 0\n" + FSKB + END),
    ("slice_read_ok", "tc", FSKB + SL + "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\n" + END),
    ("slice_no_null_check", "tc", FSKB + SL + "r0 = *(u64 *)(r0 + 0)\n" + END),
    ("slice_read_oob", "tc", FSKB + SL + "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 4)\n" + END),
    ("slice_write", "tc", FSKB + SL + "if r0 == 0 goto +2\nr1 = 0\n*(u64 *)(r0 + 0) = r1\n" + END),
    ("slice_rdwr_write_ok", "tc", FSKB + SLW + "if r0 == 0 goto +2\nr1 = 0\n*(u64 *)(r0 + 0) = r1\n" + END),
    ("slice_rdwr_cgroup_skb", "cgroup_skb/ingress", FSKB + SLW + END),
    ("slice_rdwr_socket", "socket", FSKB + SLW + END),
    ("slice_socket_ok", "socket", FSKB + SL + END),
    ("slice_nonconst_size", "tc", FSKB + "call 7\nr4 = r0\nr4 &= 7\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = 0\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_uninit_dynptr", "tc", SL + END),
    ("slice_buffer_ok", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_buffer_small", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 16\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_xdp_ok", "xdp", FXDP + SL + "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\n" + END),
    ("slice_rdwr_xdp_ok", "xdp", FXDP + SLW + "if r0 == 0 goto +2\nr1 = 0\n*(u64 *)(r0 + 0) = r1\n" + END),
    ("data_on_skb_ok", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 8\ncall 203\n" + END),
    ("read_skb_ok", "tc", FSKB + "r1 = r10\nr1 += -24\nr2 = 8\nr3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall 201\n" + END),
    ("write_skb_invalidates_slice", "tc", FSKB + SL + "r7 = r0\nr1 = 0\n*(u64 *)(r10 - 24) = r1\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 8\nr5 = 0\ncall 202\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("write_skb_invalidates_pkt", "tc", "r7 = *(u32 *)(r1 + 76)\n" + FSKB + "r1 = 0\n*(u64 *)(r10 - 24) = r1\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 8\nr5 = 0\ncall 202\nr0 = *(u8 *)(r7 + 0)\n" + END),
    ("write_xdp_keeps_slice_ok", "xdp", FXDP + SL + "r7 = r0\nr1 = 0\n*(u64 *)(r10 - 24) = r1\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 8\nr5 = 0\ncall 202\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("pkt_helper_invalidates_slice", "tc", FSKB + SL + "r7 = r0\nr1 = r6\nr2 = 0\ncall 39\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("from_skb_overwrite_ok", "tc", FSKB + FSKB.replace("r6 = r1\n", "r1 = r6\n") + END),
    ("slice_offset_nonconst_ok", "tc", FSKB + "call 7\nr2 = r0\nr1 = r10\nr1 += -16\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_size0_ok", "tc", FSKB + SL.replace("r4 = 8", "r4 = 0") + END),
    ("slice_rdwr_write_oob", "tc", FSKB + SLW + "if r0 == 0 goto +2\nr1 = 0\n*(u64 *)(r0 + 4) = r1\n" + END),
    ("slice_after_overwrite_ok", "tc", FSKB + SL + "r7 = r0\nr1 = 0\n*(u64 *)(r10 - 16) = r1\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("from_skb_fp8", "tc", FSKB.replace("r3 += -16", "r3 += -8") + END),
    ("from_skb_fp12", "tc", FSKB.replace("r3 += -16", "r3 += -12") + END),
    ("from_skb_ctx_dynptr", "tc", "r2 = 0\nr3 = r1\ncall kfunc bpf_dynptr_from_skb\n" + END),
    ("slice_ctx_dynptr", "tc", "r2 = 0\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_null_dynptr", "tc", "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_rdwr_after_overwrite_ok", "tc", FSKB + SLW + "r7 = r0\nr1 = 0\n*(u64 *)(r10 - 16) = r1\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("from_skb_scalar_dynptr", "tc", "r2 = 0\nr3 = 0\ncall kfunc bpf_dynptr_from_skb\n" + END),
    ("from_skb_ptr_flags", "tc", "r2 = r10\nr3 = r10\nr3 += -16\ncall kfunc bpf_dynptr_from_skb\n" + END),
    ("slice_ptr_offset", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = r10\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_buffer_ctx", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r6\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_buffer_uninit_ok", "tc", FSKB + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -40\nr4 = 24\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_buffer_nonconst_bounded", "tc", FSKB + "call 7\nr4 = r0\nr4 &= 7\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -32\ncall kfunc bpf_dynptr_slice\n" + END),
    ("slice_moved_dynptr", "tc", FSKB + "r1 = r10\nr1 += -8\nr2 = 0\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\n" + END),
    ("data_on_xdp_ok", "xdp", FXDP + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = 8\ncall 203\nif r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\n" + END),
    ("write_skb_socket_ok", "socket", FSKB + "r1 = 0\n*(u64 *)(r10 - 24) = r1\nr1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\nr4 = 8\nr5 = 0\ncall 202\n" + END),
    ("slice_rdwr_sk_skb_ok", "sk_skb/stream_parser", FSKB + SLW + END),
    ("slice_rdwr_lwt_in", "lwt_in", FSKB + SLW + END),
    ("slice_rdwr_lwt_xmit_ok", "lwt_xmit", FSKB + SLW + END),
    ("from_skb_netfilter", "netfilter", FSKB + END),
    ("slice_in_subprog_ok", "tc", FSKB + "r1 = r10\nr1 += -16\ncall sub\n" + END + "sub:\nr2 = 0\nr3 = 0\nr4 = 8\ncall kfunc bpf_dynptr_slice\nif r0 == 0 goto +1\nr0 = *(u8 *)(r0 + 7)\nr0 = 0\nexit\n"),
    ("slice_spilled_invalidated", "tc", FSKB + SL + "*(u64 *)(r10 - 24) = r0\nr1 = r6\nr2 = 0\ncall 39\nr7 = *(u64 *)(r10 - 24)\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("xdp_adjust_invalidates_slice", "xdp", FXDP + SL + "r7 = r0\nr1 = r6\nr2 = 0\ncall 44\nif r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 0)\n" + END),
    ("slice_size_huge_ok", "tc", FSKB + SL.replace("r4 = 8", "r4 = 0x10000000") + END),
    # with a stack buffer (fp-32): the slice may be the buffer, whose bytes are unknown after
    ("slice_buffer_write", "tc", FSKB + SLB + "if r0 == 0 goto +2\nr1 = 0\n*(u64 *)(r0 + 0) = r1\n" + END),
    ("slice_rdwr_buffer_write_ok", "tc", FSKB + SLB.replace("slice", "slice_rdwr") + "if r0 == 0 goto +3\nr1 = 0\n*(u64 *)(r0 + 0) = r1\nr0 = *(u64 *)(r10 - 32)\n" + END),
    ("slice_xdp_buffer_read_ok", "xdp", FXDP + SLB + "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\n" + END),
    ("slice_buffer_zeroed_index", "tc", "r1 = 0\n*(u64 *)(r10 - 32) = r1\n" + FSKB + SLB + "r1 = *(u8 *)(r10 - 32)\nr2 = r10\nr2 += -64\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n" + END),
]
