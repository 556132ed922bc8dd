"""Probe programs for reference tracking (``tests/test_references.py``): ring buffer
reservations (bpf_ringbuf_reserve -> submit / discard) and socket lookups
(bpf_sk_lookup_tcp / udp, bpf_skc_lookup_tcp -> bpf_sk_release), judged by the kernel.
Names ending in ``_ok`` are the valid twins; the kernel decides what each one expects."""

from __future__ import annotations

from soundness_probes import Probe

RINGBUF = (27, 0, 0, 4096, 0)
PROG_ARRAY = (3, 4, 4, 1, 0)
ARRAY = (2, 4, 8, 1, 0)
RESERVE, SUBMIT, DISCARD = 131, 132, 133
SK_LOOKUP_TCP, SK_LOOKUP_UDP, SK_RELEASE, SKC_LOOKUP_TCP = 84, 85, 86, 99

_OUT = "out:\nr0 = 0\nexit\n"


def _reserve(size: int = 8, reg: str = "r2 = {size}\n") -> str:
    return ("r6 = r1\nld_pseudo r1, 1, 0\n" + reg.format(size=size) + "r3 = 0\n"
            f"call {RESERVE}\n")


_CHECK = "if r0 == 0 goto out\n"
_SUBMIT = f"r1 = r0\nr2 = 0\ncall {SUBMIT}\n"
_DISCARD = f"r1 = r0\nr2 = 0\ncall {DISCARD}\n"


def _rb(name: str, body: str, ptype: str = "xdp", maps=(RINGBUF,)) -> Probe:
    return Probe(name, ptype, body, list(maps))


RINGBUF_PROBES = [
    _rb("rb_submit_ok", _reserve() + _CHECK + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n" + _SUBMIT
        + _OUT),
    _rb("rb_discard_ok", _reserve() + _CHECK + _DISCARD + _OUT),
    _rb("rb_leak", _reserve() + _CHECK + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n" + _OUT),
    _rb("rb_leak_null_path_ok", _reserve() + "if r0 != 0 goto sub\n" + _OUT
        + "sub:\n" + _SUBMIT + "r0 = 0\nexit\n"),
    _rb("rb_double_submit", _reserve() + _CHECK + "r7 = r0\n" + _SUBMIT
        + f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_use_after_submit", _reserve() + _CHECK + "r7 = r0\n" + _SUBMIT
        + "r1 = 1\n*(u64 *)(r7 + 0) = r1\n" + _OUT),
    _rb("rb_read_after_discard", _reserve() + _CHECK + "r7 = r0\n" + _DISCARD
        + "r1 = *(u64 *)(r7 + 0)\n" + _OUT),
    _rb("rb_null_unchecked_write", _reserve() + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n" + _SUBMIT
        + _OUT),
    _rb("rb_null_unchecked_submit", _reserve() + _SUBMIT + _OUT),
    _rb("rb_write_past_size", _reserve() + _CHECK + "r1 = 1\n*(u64 *)(r0 + 8) = r1\n"
        + _SUBMIT + _OUT),
    _rb("rb_write_last_byte_ok", _reserve(12) + _CHECK + "r1 = 1\n*(u32 *)(r0 + 8) = r1\n"
        + _SUBMIT + _OUT),
    _rb("rb_read_negative", _reserve() + _CHECK + "r1 = *(u32 *)(r0 - 4)\n" + _SUBMIT + _OUT),
    _rb("rb_discard_or_submit_ok", _reserve() + _CHECK + "r7 = r0\ncall 7\nr1 = r7\n"
        "r2 = 0\nif r0 > 5 goto disc\n" f"call {SUBMIT}\n" "goto out\ndisc:\n"
        f"call {DISCARD}\n" + _OUT),
    _rb("rb_submit_one_path_only", _reserve() + _CHECK + "r7 = r0\ncall 7\n"
        "if r0 > 5 goto out\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_submit_offset", _reserve() + _CHECK + "r1 = r0\nr1 += 4\nr2 = 0\n"
        f"call {SUBMIT}\n" + _OUT),
    _rb("rb_submit_map_value", "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 1\n"
        "r2 = r10\nr2 += -4\ncall 1\n" + _CHECK + _SUBMIT + _OUT, maps=(RINGBUF, ARRAY)),
    _rb("rb_submit_stack", f"r1 = r10\nr1 += -8\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_submit_scalar", f"r1 = 0\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_variable_size", "call 7\nr2 = r0\nr2 &= 63\nld_pseudo r1, 1, 0\nr3 = 0\n"
        f"call {RESERVE}\n" + _CHECK + _SUBMIT + _OUT),
    _rb("rb_zero_size_ok", _reserve(0) + _CHECK + _SUBMIT + _OUT),
    _rb("rb_zero_size_write", _reserve(0) + _CHECK + "r1 = 0\n*(u8 *)(r0 + 0) = r1\n"
        + _SUBMIT + _OUT),
    _rb("rb_arith_before_check", _reserve() + "r0 += 8\n" + _CHECK + _SUBMIT + _OUT),
    _rb("rb_spill_fill_submit_ok", _reserve() + _CHECK + "*(u64 *)(r10 - 8) = r0\n"
        "r1 = *(u64 *)(r10 - 8)\nr2 = 0\n" f"call {SUBMIT}\n" + _OUT),
    _rb("rb_spill_use_after_submit", _reserve() + _CHECK + "*(u64 *)(r10 - 8) = r0\n"
        + _SUBMIT + "r1 = *(u64 *)(r10 - 8)\nr2 = 1\n*(u64 *)(r1 + 0) = r2\n" + _OUT),
    _rb("rb_spill_before_check_ok", _reserve() + "*(u64 *)(r10 - 8) = r0\n"
        "r1 = *(u64 *)(r10 - 8)\nif r1 == 0 goto out\nr2 = 0\n" f"call {SUBMIT}\n" + _OUT),
    _rb("rb_two_reservations_ok", _reserve() + _CHECK + "r7 = r0\nld_pseudo r1, 1, 0\n"
        f"r2 = 16\nr3 = 0\ncall {RESERVE}\n" "if r0 == 0 goto one\n" + _SUBMIT
        + "one:\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_two_reservations_one_leaks", _reserve() + _CHECK + "r7 = r0\nld_pseudo r1, 1, 0\n"
        f"r2 = 16\nr3 = 0\ncall {RESERVE}\n" "if r0 == 0 goto one\n" + _SUBMIT
        + "one:\n" + _OUT),
    _rb("rb_reserve_in_subprog_ok", "call sub\n" + _CHECK + _SUBMIT + _OUT
        + "sub:\n" + _reserve() + "exit\n"),
    _rb("rb_submit_in_subprog_ok", _reserve() + _CHECK + "r1 = r0\ncall sub\n" + _OUT
        + f"sub:\nr2 = 0\ncall {SUBMIT}\nr0 = 0\nexit\n"),
    _rb("rb_tail_call_held", _reserve() + _CHECK + "r7 = r0\nr1 = r6\nld_pseudo r2, 1, 1\n"
        "r3 = 0\ncall 12\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT,
        maps=(RINGBUF, PROG_ARRAY)),
    _rb("rb_tail_call_after_submit_ok", _reserve() + _CHECK + _SUBMIT
        + "r1 = r6\nld_pseudo r2, 1, 1\nr3 = 0\ncall 12\n" + _OUT,
        maps=(RINGBUF, PROG_ARRAY)),
    _rb("rb_ld_abs_held", _reserve() + _CHECK + "r7 = r0\nr0 = *(u8 *)skb[0]\n"
        f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT, ptype="socket_filter"),
    _rb("rb_null_check_ne_ok", _reserve() + "if r0 != 0 goto use\n" + _OUT
        + "use:\n" + _DISCARD + "r0 = 0\nexit\n"),
    _rb("rb_reserve_bad_map", "ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n" f"call {RESERVE}\n"
        + _CHECK + _SUBMIT + _OUT, maps=(ARRAY,)),
    _rb("rb_r0_leaked_in_exit", _reserve() + "exit\n"),
    _rb("rb_ptr_as_helper_mem_ok", _reserve(16) + _CHECK + "r7 = r0\nr1 = r0\nr2 = 16\n"
        "r3 = 0\ncall 113\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT, ptype="kprobe"),
    _rb("rb_ptr_as_helper_mem_too_long", _reserve(16) + _CHECK + "r7 = r0\nr1 = r0\n"
        "r2 = 17\nr3 = 0\ncall 113\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT,
        ptype="kprobe"),
]

# struct bpf_sock_tuple (ipv4): 12 bytes at fp-16, all initialised
_TUPLE = "r1 = 0\n*(u64 *)(r10 - 16) = r1\n*(u32 *)(r10 - 8) = r1\n"


def _lookup(helper: int = SK_LOOKUP_TCP) -> str:
    return ("r6 = r1\n" + _TUPLE + "r1 = r6\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = 0\nr5 = 0\n"
            f"call {helper}\n")


_RELEASE = f"r1 = r0\ncall {SK_RELEASE}\n"


def _sk(name: str, body: str, ptype: str = "sched_cls", maps=()) -> Probe:
    return Probe(name, ptype, body, list(maps))


SOCKET_PROBES = [
    _sk("sk_release_ok", _lookup() + _CHECK + _RELEASE + _OUT),
    _sk("sk_udp_release_ok", _lookup(SK_LOOKUP_UDP) + _CHECK + _RELEASE + _OUT),
    _sk("skc_release_ok", _lookup(SKC_LOOKUP_TCP) + _CHECK + _RELEASE + _OUT),
    _sk("sk_xdp_release_ok", _lookup() + _CHECK + _RELEASE + _OUT, ptype="xdp"),
    _sk("sk_leak", _lookup() + _OUT),
    _sk("sk_leak_checked", _lookup() + _CHECK + _OUT),
    _sk("sk_release_unchecked", _lookup() + _RELEASE + _OUT),
    _sk("sk_double_release", _lookup() + _CHECK + "r7 = r0\n" + _RELEASE
        + f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_read_after_release", _lookup() + _CHECK + "r7 = r0\n" + _RELEASE
        + "r0 = *(u32 *)(r7 + 4)\n" + _OUT),
    _sk("sk_release_ctx", f"r1 = r1\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_release_scalar", f"r1 = 0\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_arith", _lookup() + _CHECK + "r0 += 4\n" + _RELEASE + _OUT),
    _sk("sk_write_field", _lookup() + _CHECK + "r1 = 0\n*(u32 *)(r0 + 16) = r1\n" + _RELEASE
        + _OUT),
    _sk("sk_read_unchecked", _lookup() + "r1 = *(u32 *)(r0 + 4)\n" + _CHECK + _RELEASE + _OUT),
    _sk("sk_tail_call_held", _lookup() + _CHECK + "r7 = r0\nr1 = r6\nld_pseudo r2, 1, 0\n"
        f"r3 = 0\ncall 12\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT, maps=(PROG_ARRAY,)),
    _sk("sk_release_in_subprog_ok", _lookup() + _CHECK + "r1 = r0\ncall sub\n" + _OUT
        + f"sub:\ncall {SK_RELEASE}\nr0 = 0\nexit\n"),
    _sk("sk_lookup_in_subprog_leak", "call sub\n" + _OUT + "sub:\n" + _lookup() + "r0 = 0\n"
        "exit\n"),
    _sk("sk_spill_release_ok", _lookup() + _CHECK + "*(u64 *)(r10 - 24) = r0\n"
        f"r1 = *(u64 *)(r10 - 24)\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_tuple_uninit", "r6 = r1\nr1 = r6\nr2 = r10\nr2 += -16\nr3 = 12\nr4 = 0\nr5 = 0\n"
        f"call {SK_LOOKUP_TCP}\n" + _CHECK + _RELEASE + _OUT),
]


def _field(name: str, off: int, size: int, helper: int = SK_LOOKUP_TCP) -> Probe:
    op = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
    return _sk(name, _lookup(helper) + _CHECK + f"r7 = *({op} *)(r0 + {off})\n" + _RELEASE
               + _OUT)


# struct bpf_sock: bound_dev_if 0, family 4, type 8, protocol 12, mark 16, priority 20,
# src_ip4 24, src_ip6 28..43, src_port 44, dst_port 48 (be16 + 2 bytes of padding),
# dst_ip4 52, dst_ip6 56..71, state 72, rx_queue_mapping 76; 80 bytes
FIELD_PROBES = [
    *[_field(f"sk_read_{off}_{size}", off, size)
      for off in (0, 4, 8, 12, 16, 20, 24, 28, 40, 44, 48, 50, 52, 56, 72, 76, 80)
      for size in (4,)],
    *[_field(f"sk_read_{off}_{size}", off, size) for off, size in
      ((4, 2), (4, 1), (5, 1), (24, 2), (26, 2), (25, 1), (48, 2), (49, 1), (50, 2), (72, 8),
       (0, 8), (44, 2), (76, 2), (6, 2), (30, 2))],
    *[_field(f"skc_read_{off}_{size}", off, size, SKC_LOOKUP_TCP) for off, size in
      ((0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4), (24, 4), (48, 4), (72, 4), (76, 4),
       (4, 2))],
]


#: corners: sign-extending and atomic accesses, 32-bit arithmetic, the pointer as a map
#: key, tests of an already checked pointer, a join of paths holding different references
EDGE_PROBES = [
    _sk("sk_read_signed", _lookup() + _CHECK + "r7 = *(s32 *)(r0 + 4)\n" + _RELEASE + _OUT),
    _sk("sk_atomic_add", _lookup() + _CHECK + "r1 = 1\nlock *(u32 *)(r0 + 16) += r1\n"
        + _RELEASE + _OUT),
    _sk("sk_alu32", _lookup() + _CHECK + "w0 += 1\n" + _OUT),
    _sk("sk_checked_twice_ok", _lookup() + _CHECK + "if r0 == 0 goto out\n" + _RELEASE
        + _OUT),
    _sk("sk_compare_nonzero", _lookup() + "if r0 == 4 goto out\n" + _RELEASE + _OUT),
    _sk("sk_as_mem_arg", _lookup() + _CHECK + "r7 = r0\nr1 = r6\nr2 = 0\nr3 = r7\nr4 = 4\n"
        f"call 26\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_lookup_udp_leak_one_path", _lookup(SK_LOOKUP_UDP) + _CHECK + "r7 = r0\ncall 7\n"
        f"if r0 > 3 goto out\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_release_copy_ok", _lookup() + _CHECK + "r7 = r0\nr8 = r0\nr1 = r8\n"
        f"call {SK_RELEASE}\n" + _OUT),
    _sk("sk_copy_used_after_release", _lookup() + _CHECK + "r7 = r0\nr8 = r0\nr1 = r8\n"
        f"call {SK_RELEASE}\nr0 = *(u32 *)(r7 + 4)\n" + _OUT),
    _rb("rb_read_signed_ok", _reserve() + _CHECK + "r1 = *(s32 *)(r0 + 4)\n" + _SUBMIT + _OUT),
    _rb("rb_atomic_ok", _reserve() + _CHECK + "r1 = 1\nlock *(u64 *)(r0 + 0) += r1\n"
        + _SUBMIT + _OUT),
    _rb("rb_alu32", _reserve() + _CHECK + "w0 += 1\n" + _SUBMIT + _OUT),
    _rb("rb_as_map_key_ok", _reserve() + _CHECK + "r7 = r0\nr1 = 0\n*(u32 *)(r7 + 0) = r1\n"
        "ld_pseudo r1, 1, 1\nr2 = r7\ncall 1\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT,
        maps=(RINGBUF, ARRAY)),
    _rb("rb_var_offset_access_ok", _reserve(16) + _CHECK + "r7 = r0\ncall 7\nr0 &= 7\n"
        "r1 = r7\nr1 += r0\nr2 = *(u8 *)(r1 + 0)\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_var_offset_too_far", _reserve(16) + _CHECK + "r7 = r0\ncall 7\nr0 &= 31\n"
        "r1 = r7\nr1 += r0\nr2 = *(u8 *)(r1 + 0)\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_submit_var_offset", _reserve(16) + _CHECK + "r7 = r0\ncall 7\nr0 &= 7\n"
        f"r1 = r7\nr1 += r0\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_join_different_refs", _reserve() + "r7 = r0\ncall 7\nif r0 > 3 goto skip\n"
        "if r7 == 0 goto out\nr1 = r7\nr2 = 0\n" f"call {SUBMIT}\n" "skip:\nr0 = 0\nexit\n"
        + _OUT),
    _rb("rb_null_branch_keeps_nothing_ok", _reserve() + "r7 = r0\nif r0 != 0 goto sub\n"
        "r0 = 0\nexit\nsub:\n" f"r1 = r7\nr2 = 0\ncall {SUBMIT}\n" + _OUT),
    _rb("rb_discard_flags_var_ok", _reserve() + _CHECK + "r7 = r0\ncall 7\nr2 = r0\nr1 = r7\n"
        f"call {DISCARD}\n" + _OUT),
    _rb("rb_reserve_flags_var_ok", "call 7\nr3 = r0\nld_pseudo r1, 1, 0\nr2 = 8\n"
        f"call {RESERVE}\n" + _CHECK + _SUBMIT + _OUT),
    _rb("rb_huge_size_ok", _reserve(0x7fffffff) + _CHECK + _SUBMIT + _OUT),
    _rb("rb_huge_size_write_far", _reserve(0x7fffffff) + _CHECK + "r1 = r0\n"
        "r1 += 0x7ffffff0\nr2 = 0\n*(u8 *)(r1 + 0) = r2\n" + _SUBMIT + _OUT),
]

ALL_PROBES = RINGBUF_PROBES + SOCKET_PROBES + FIELD_PROBES + EDGE_PROBES

#: a held pointer stored where the verifier no longer follows it (a map value, the ring
#: buffer memory itself): root may leak pointers, the reference stays held
STORE_PROBES = [
    _rb("rb_ptr_stored_in_map_ok", "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 1\n"
        "r2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr8 = r0\n"
        f"ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\ncall {RESERVE}\n" + _CHECK
        + "*(u64 *)(r8 + 0) = r0\n" + _SUBMIT + _OUT, maps=(RINGBUF, ARRAY)),
    _rb("rb_ptr_stored_in_itself_ok", _reserve() + _CHECK + "*(u64 *)(r0 + 0) = r0\n"
        + _SUBMIT + _OUT),
    _rb("rb_ptr_reloaded_from_itself", _reserve() + _CHECK + "*(u64 *)(r0 + 0) = r0\n"
        "r1 = *(u64 *)(r0 + 0)\nr2 = 0\n" f"call {SUBMIT}\n" + _OUT),
    _sk("sk_ptr_stored_in_map_ok", "r6 = r1\nr1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\n"
        "r2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr8 = r0\n" + _lookup().replace(
            "r6 = r1\n", "") + _CHECK + "*(u64 *)(r8 + 0) = r0\n" + _RELEASE + _OUT,
        maps=(ARRAY,)),
]
ALL_PROBES += STORE_PROBES

#: loops: a reservation per iteration, submitted in it or leaked by it (may_goto loops:
#: tests/test_may_goto.py)
LOOP_PROBES = [
    _rb("rb_loop_ok", "r6 = 0\nloop:\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n"
        f"call {RESERVE}\nif r0 == 0 goto next\n" + _SUBMIT + "next:\nr6 += 1\n"
        "if r6 < 4 goto loop\n" + _OUT),
    _rb("rb_loop_leaks_last", "r6 = 0\nloop:\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n"
        f"call {RESERVE}\nif r0 == 0 goto next\nif r6 == 3 goto next\n" + _SUBMIT
        + "next:\nr6 += 1\nif r6 < 4 goto loop\n" + _OUT),
]
ALL_PROBES += LOOP_PROBES

#: a socket passed to a helper that only looks at it (ARG_PTR_TO_BTF_ID_SOCK_COMMON)
_IPH = "r1 = 0\n" + "".join(f"*(u64 *)(r10 - {o})= r1\n" for o in (24, 32, 40, 48, 56, 64))
SOCK_ARG_PROBES = [
    _sk("sk_assign_ok", _lookup() + _CHECK + "r7 = r0\nr1 = r6\nr2 = r7\nr3 = 0\ncall 124\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_assign_unchecked", _lookup() + "r7 = r0\nr1 = r6\nr2 = r7\nr3 = 0\ncall 124\n"
        + _CHECK + f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_assign_after_release", _lookup() + _CHECK + "r7 = r0\n" + _RELEASE
        + "r1 = r6\nr2 = r7\nr3 = 0\ncall 124\n" + _OUT),
    _sk("skc_assign_ok", _lookup(SKC_LOOKUP_TCP) + _CHECK + "r7 = r0\nr1 = r6\nr2 = r7\n"
        f"r3 = 0\ncall 124\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_cgroup_id_in_tc", _lookup() + _CHECK + "r7 = r0\nr1 = r7\ncall 128\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_cgroup_id_ctx", "r1 = r1\ncall 128\n" + _OUT),
    _sk("sk_syncookie_ok", _lookup() + _CHECK + "r7 = r0\n" + _IPH + "r1 = r7\n"
        "r2 = r10\nr2 += -64\nr3 = 20\nr4 = r10\nr4 += -40\nr5 = 20\ncall 100\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("sk_syncookie_uninit_hdr_ok", _lookup() + _CHECK + "r7 = r0\nr1 = r7\n"
        "r2 = r10\nr2 += -64\nr3 = 20\nr4 = r10\nr4 += -40\nr5 = 20\ncall 100\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
]
ALL_PROBES += SOCK_ARG_PROBES

#: pointers cast from a held socket (bpf_sk_fullsock, bpf_tcp_sock): NULL until checked,
#: the same reference as the socket (released with it); struct bpf_tcp_sock field reads
CAST_PROBES = [
    _sk("fullsock_ok", _lookup(SKC_LOOKUP_TCP) + _CHECK + "r7 = r0\nr1 = r0\ncall 95\n"
        "if r0 == 0 goto rel\nr1 = *(u32 *)(r0 + 8)\nrel:\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("tcp_sock_ok", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        "if r0 == 0 goto rel\nr1 = *(u32 *)(r0 + 0)\nr1 = *(u64 *)(r0 + 80)\nrel:\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("tcp_sock_unchecked_read", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        f"r1 = *(u32 *)(r0 + 0)\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("tcp_sock_after_release", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        f"if r0 == 0 goto rel\nr8 = r0\nr1 = r7\ncall {SK_RELEASE}\n"
        "r1 = *(u32 *)(r8 + 0)\n" + _OUT + f"rel:\nr1 = r7\ncall {SK_RELEASE}\nr0 = 0\nexit\n"),
    _sk("tcp_sock_released_instead_ok", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        f"if r0 == 0 goto rel\nr1 = r0\ncall {SK_RELEASE}\n" + _OUT
        + f"rel:\nr1 = r7\ncall {SK_RELEASE}\nr0 = 0\nexit\n"),
    _sk("tcp_sock_null_leaks", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        f"if r0 == 0 goto out\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    _sk("tcp_sock_of_scalar", "r1 = 0\ncall 96\n" + _OUT),
    _sk("tcp_sock_of_ctx", "call 96\n" + _OUT),
    _sk("tcp_sock_write", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
        "if r0 == 0 goto rel\nr1 = 0\n*(u32 *)(r0 + 0) = r1\nrel:\n"
        f"r1 = r7\ncall {SK_RELEASE}\n" + _OUT),
    *[_sk(f"tcp_sock_read_{off}_{size}", _lookup() + _CHECK + "r7 = r0\nr1 = r0\ncall 96\n"
          f"if r0 == 0 goto rel\nr1 = *({ {1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64'}[size]} *)"
          f"(r0 + {off})\nrel:\nr1 = r7\ncall {SK_RELEASE}\n" + _OUT)
      for off, size in ((4, 4), (80, 4), (84, 4), (88, 8), (96, 8), (104, 4), (108, 4),
                        (112, 4), (0, 2), (0, 8), (2, 1), (92, 4))],
]
ALL_PROBES += CAST_PROBES
