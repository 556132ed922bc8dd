"""Probe programs for dynptrs (``tests/test_dynptr.py``): bpf_dynptr_from_mem,
bpf_ringbuf_reserve_dynptr -> submit / discard_dynptr, bpf_dynptr_read / write / data,
and bpf_user_ringbuf_drain's callback with its read-only dynptr; well-formed programs and
mis-formed twins (leaks, double submit, use after submit, an uninitialised dynptr, partial
overwrites, misaligned or variable offsets, unchecked slices, out-of-bounds slices, paths
that reach one point with and without a dynptr). Names ending in ``_ok`` are expected to
load; the kernel decides.
"""

from __future__ import annotations

from callback_probes import CbProbe
from soundness_probes import Probe

RINGBUF = (27, 0, 0, 4096, 0)
ARRAY = (2, 4, 16, 1, 0)  # value: 16 bytes
USER_RINGBUF = (31, 0, 0, 4096, 0)
FROM_MEM, RESERVE, SUBMIT, DISCARD, READ, WRITE, DATA = 197, 198, 199, 200, 201, 202, 203
DRAIN = 209

OUT = "out:\nr0 = 0\nexit\n"


def reserve(at: int = -16, size: str = "8") -> str:
    """bpf_ringbuf_reserve_dynptr(ringbuf, size, 0, fp + at)."""
    return f"ld_pseudo r1, 1, 0\nr2 = {size}\nr3 = 0\nr4 = r10\nr4 += {at}\ncall {RESERVE}\n"


def release(at: int = -16, helper: int = SUBMIT) -> str:
    return f"r1 = r10\nr1 += {at}\nr2 = 0\ncall {helper}\n"


#: r0 = the array's value (or goto out)
VALUE = ("r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\n"
         "if r0 == 0 goto out\n")


def from_mem(at: int = -32, size: int = 16) -> str:
    """bpf_dynptr_from_mem(value, size, 0, fp + at) (after VALUE)."""
    return f"r1 = r0\nr2 = {size}\nr3 = 0\nr4 = r10\nr4 += {at}\ncall {FROM_MEM}\n"


def read(at: int = -32, n: int = 8, off: int = 0, dst: int = -8) -> str:
    """bpf_dynptr_read(fp + dst, n, fp + at, off, 0)."""
    return (f"r1 = r10\nr1 += {dst}\nr2 = {n}\nr3 = r10\nr3 += {at}\nr4 = {off}\nr5 = 0\n"
            f"call {READ}\n")


def data(at: int = -16, n: str = "8") -> str:
    """r0 = bpf_dynptr_data(fp + at, 0, n)."""
    return f"r1 = r10\nr1 += {at}\nr2 = 0\nr3 = {n}\ncall {DATA}\n"


def _p(name: str, body: str, ptype: str = "xdp") -> Probe:
    return Probe(name, ptype, body, [RINGBUF, ARRAY])


_W8 = "r1 = 7\n*(u64 *)(r0 + 0) = r1\n"

RINGBUF_PROBES = [
    _p("rd_submit_ok", reserve() + release() + OUT),
    _p("rd_discard_ok", reserve() + release(helper=DISCARD) + OUT),
    _p("rd_leak", reserve() + OUT),
    _p("rd_leak_if_reserve_fails", reserve() + "if r0 != 0 goto out\n" + release() + OUT),
    _p("rd_failed_reserve_still_released_ok", reserve() + "if r0 != 0 goto disc\n"
       + release() + "r0 = 0\nexit\ndisc:\n" + release(helper=DISCARD) + OUT),
    _p("rd_double_submit", reserve() + release() + release() + OUT),
    _p("rd_submit_then_discard", reserve() + release() + release(helper=DISCARD) + OUT),
    _p("rd_submit_uninit", release() + OUT),
    _p("rd_read_after_submit", reserve() + release() + read(-16, dst=-24) + OUT),
    _p("rd_submit_one_path_only", reserve() + "call 7\nif r0 > 5 goto out\n" + release() + OUT),
    _p("rd_two_dynptrs_ok", reserve() + reserve(-32, "16") + release() + release(-32) + OUT),
    _p("rd_two_dynptrs_one_leaks", reserve() + reserve(-32, "16") + release(-32) + OUT),
    _p("rd_variable_size_ok", "call 7\nr6 = r0\n" + reserve(size="r6") + release() + OUT),
    _p("rd_reserve_twice_same_slot", reserve() + reserve() + release() + OUT),
    _p("rd_reserve_over_second_half", reserve(-24) + reserve(-16) + release(-24)
       + release(-16) + OUT),
    _p("rd_misaligned", reserve(-20) + release(-20) + OUT),
    _p("rd_at_fp_minus_8", reserve(-8) + release(-8) + OUT),
    _p("rd_below_frame", reserve(-520) + release(-520) + OUT),
    _p("rd_variable_offset", "call 7\nr0 &= 8\nr4 = r10\nr4 += -24\nr4 += r0\n"
       "ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n" f"call {RESERVE}\n" + OUT),
    _p("rd_scalar_arg", "ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\nr4 = 0\n"
       f"call {RESERVE}\n" + OUT),
    _p("rd_array_map", "ld_pseudo r1, 1, 1\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\n"
       f"call {RESERVE}\n" + release() + OUT),
    _p("rd_submit_second_slot", reserve(-24) + release(-16) + release(-24) + OUT),
    # the slots: reads refused, writes of a referenced dynptr refused
    _p("rd_read_slot", reserve() + "r0 = *(u64 *)(r10 - 16)\n" + release() + OUT),
    _p("rd_read_second_slot_byte", reserve() + "r0 = *(u8 *)(r10 - 3)\n" + release() + OUT),
    _p("rd_overwrite_first", reserve() + "r0 = 0\n*(u64 *)(r10 - 16) = r0\n" + release() + OUT),
    _p("rd_overwrite_second_u32", reserve() + "r0 = 0\n*(u32 *)(r10 - 8) = r0\n" + release()
       + OUT),
    _p("rd_spill_pointer_over", reserve() + "*(u64 *)(r10 - 8) = r10\n" + release() + OUT),
    _p("rd_store_imm_over", reserve() + "*(u8 *)(r10 - 1) = 1\n" + release() + OUT),
    _p("rd_neighbour_write_ok", reserve() + "r0 = 0\n*(u64 *)(r10 - 24) = r0\n" + release()
       + OUT),
    _p("rd_helper_writes_slot", reserve() + "r1 = r10\nr1 += -16\nr2 = 8\nr3 = 0\n"
       "call 113\n" + release() + OUT, ptype="kprobe"),
    _p("rd_helper_reads_slot", reserve() + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -16\n"
       "r3 = 8\nr4 = 0\ncall 130\n" + release() + OUT),
    _p("rd_key_in_slot", reserve() + "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -12\ncall 1\n"
       + release() + OUT),
    _p("rd_read_dst_is_slot", reserve() + reserve(-32) + "r1 = r10\nr1 += -16\nr2 = 8\n"
       f"r3 = r10\nr3 += -32\nr4 = 0\nr5 = 0\ncall {READ}\n" + release() + release(-32) + OUT),
    _p("rd_var_write_over", reserve() + "call 7\nr0 &= 8\nr1 = r10\nr1 += -24\nr1 += r0\n"
       "r2 = 0\n*(u8 *)(r1 + 0) = r2\n" + release() + OUT),
    _p("rd_var_write_near_ok", reserve() + "call 7\nr0 &= 8\nr1 = r10\nr1 += -40\n"
       "r1 += r0\nr2 = 0\n*(u8 *)(r1 + 0) = r2\n" + release() + OUT),
    # slices
    _p("rd_data_ok", reserve() + data() + "if r0 == 0 goto s\n" + _W8 + "s:\n" + release()
       + OUT),
    _p("rd_data_unchecked", reserve() + data() + _W8 + release() + OUT),
    _p("rd_data_oob", reserve() + data() + "if r0 == 0 goto s\nr1 = 7\n"
       "*(u64 *)(r0 + 4) = r1\ns:\n" + release() + OUT),
    _p("rd_data_zero_len_ok", reserve() + data(n="0") + release() + OUT),
    _p("rd_data_variable_len", reserve() + "call 7\nr6 = r0\nr6 &= 7\n" + data(n="r6")
       + release() + OUT),
    _p("rd_data_after_submit", reserve() + data() + "if r0 == 0 goto s\nr6 = r0\n"
       + release() + "r1 = 7\n*(u64 *)(r6 + 0) = r1\nr0 = 0\nexit\ns:\n" + release() + OUT),
    _p("rd_data_uninit", data() + OUT),
    _p("rd_read_ok", reserve() + read(-16, dst=-24) + release() + OUT),
    _p("rd_read_dst_overlaps", reserve() + read(-16) + release() + OUT),
    _p("rd_write_ok", reserve() + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\nr3 += -24\n"
       f"r4 = 8\nr5 = 0\ncall {WRITE}\n" + release() + OUT),
    _p("rd_write_src_is_slot", reserve() + reserve(-32) + "r1 = r10\nr1 += -16\nr2 = 0\n"
       f"r3 = r10\nr3 += -32\nr4 = 8\nr5 = 0\ncall {WRITE}\n" + release() + release(-32)
       + OUT),
    _p("rd_atomic_on_slot", reserve() + "r1 = 1\nlock *(u64 *)(r10 - 16) += r1\n" + release()
       + OUT),
    _p("rd_write_len_past_src", reserve() + "r1 = r10\nr1 += -16\nr2 = 0\nr3 = r10\n"
       f"r3 += -24\nr4 = 16\nr5 = 0\ncall {WRITE}\n" + release() + OUT),
    _p("rd_read_unbounded_len", reserve() + "call 7\nr2 = r0\nr1 = r10\nr1 += -32\n"
       f"r3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall {READ}\n" + release() + OUT),
    _p("rd_read_bounded_len_ok", reserve() + "call 7\nr2 = r0\nr2 &= 15\nr1 = r10\n"
       f"r1 += -32\nr3 = r10\nr3 += -16\nr4 = 0\nr5 = 0\ncall {READ}\n" + release() + OUT),
    _p("rd_read_negative_len", reserve() + "r1 = r10\nr1 += -32\nr2 = -1\nr3 = r10\n"
       f"r3 += -16\nr4 = 0\nr5 = 0\ncall {READ}\n" + release() + OUT),
    _p("rd_reserve_in_subprog_leaks", "call sub\nr0 = 0\nexit\nsub:\n" + reserve()
       + "r0 = 0\nexit\n"),
    _p("rd_reserve_into_caller_ok", "r1 = r10\nr1 += -16\ncall sub\n" + release()
       + "r0 = 0\nexit\nsub:\nr4 = r1\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n"
       f"call {RESERVE}\nr0 = 0\nexit\n"),
    _p("rd_slice_spilled_after_submit", reserve() + data() + "if r0 == 0 goto s\n"
       "*(u64 *)(r10 - 24) = r0\n" + release() + "r1 = *(u64 *)(r10 - 24)\nr2 = 7\n"
       "*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\ns:\n" + release() + OUT),
    _p("rd_copy_slots_elsewhere_ok", reserve() + "r1 = r10\nr1 += -32\nr2 = 16\nr3 = r10\n"
       "r3 += -16\ncall 113\n" + release() + OUT, ptype="kprobe"),
    _p("rd_slice_from_returned_subprog_ok", reserve() + "r1 = r10\nr1 += -16\ncall sub\n"
       "if r0 == 0 goto s\n" + _W8 + "s:\n" + release() + "r0 = 0\nexit\nsub:\nr2 = 0\n"
       f"r3 = 8\ncall {DATA}\nexit\n"),
    Probe("rd_tail_call_held", "xdp", "r6 = r1\n" + reserve()
          + "r1 = r6\nld_pseudo r2, 1, 2\nr3 = 0\ncall 12\n" + release() + OUT,
          [RINGBUF, ARRAY, (3, 4, 4, 1, 0)]),
    # bounded loops
    _p("rd_loop_reserve_submit_ok", "r6 = 0\nloop:\n" + reserve() + release()
       + "r6 += 1\nif r6 < 3 goto loop\n" + OUT),
    _p("rd_loop_reserve_twice", "r6 = 0\nloop:\n" + reserve()
       + "r6 += 1\nif r6 < 3 goto loop\n" + release() + OUT),
    _p("rd_loop_submit_last_only", "r6 = 0\nloop:\n" + reserve() + "if r6 < 2 goto skip\n"
       + release() + "skip:\nr6 += 1\nif r6 < 3 goto loop\n" + OUT),
    _p("rd_loop_local_reinit_ok", VALUE + "r7 = r0\nr6 = 0\nloop:\nr0 = r7\n" + from_mem()
       + read() + "r6 += 1\nif r6 < 3 goto loop\n" + OUT),
    # subprograms: a dynptr in the caller's frame
    _p("rd_read_in_subprog_ok", reserve() + "r1 = r10\nr1 += -16\ncall sub\n" + release()
       + "r0 = 0\nexit\nsub:\nr3 = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr4 = 0\nr5 = 0\n"
       f"call {READ}\nr0 = 0\nexit\n"),
    _p("rd_overwrite_in_subprog", reserve() + "r1 = r10\nr1 += -16\ncall sub\n" + release()
       + "r0 = 0\nexit\nsub:\nr2 = 0\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\n"),
    _p("rd_submit_in_subprog_ok", reserve() + "r1 = r10\nr1 += -16\ncall sub\nr0 = 0\nexit\n"
       f"sub:\nr2 = 0\ncall {SUBMIT}\nr0 = 0\nexit\n"),
]

LOCAL_PROBES = [
    _p("ld_from_mem_ok", VALUE + from_mem() + OUT),
    Probe("ld_from_rdonly_map", "xdp", VALUE + from_mem() + OUT, [RINGBUF, (2, 4, 16, 1, 1 << 7)]),
    Probe("ld_from_wronly_map_ok", "xdp", VALUE + from_mem() + OUT,
          [RINGBUF, (2, 4, 16, 1, 1 << 8)]),
    _p("ld_read_ok", VALUE + from_mem() + read() + OUT),
    _p("ld_read_len_too_big", VALUE + from_mem() + read(n=16) + OUT),
    _p("ld_from_stack", "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -32\n"
       f"call {FROM_MEM}\n" + OUT),
    _p("ld_from_value_too_long", VALUE + from_mem(size=17) + OUT),
    _p("ld_submit_local", VALUE + from_mem() + release(-32) + OUT),
    _p("ld_read_uninit", read() + OUT),
    _p("ld_overwrite_then_read", VALUE + from_mem() + "r1 = 0\n*(u64 *)(r10 - 24) = r1\n"
       + read() + OUT),
    _p("ld_partial_overwrite_ok", VALUE + from_mem() + "r1 = 0\n*(u32 *)(r10 - 28) = r1\n"
       + OUT),
    _p("ld_read_slot", VALUE + from_mem() + "r1 = *(u64 *)(r10 - 24)\n" + OUT),
    _p("ld_reinit_ok", VALUE + "r6 = r0\n" + from_mem() + "r0 = r6\n" + from_mem() + read()
       + OUT),
    _p("ld_reinit_shifted_ok", VALUE + "r6 = r0\n" + from_mem() + "r0 = r6\n"
       + from_mem(-24) + read(-24) + OUT),
    _p("ld_reinit_shifted_old_gone", VALUE + "r6 = r0\n" + from_mem() + "r0 = r6\n"
       + from_mem(-24) + read() + OUT),
    _p("ld_data_ok", VALUE + from_mem() + data(-32) + "if r0 == 0 goto out\n" + _W8 + OUT),
    _p("ld_data_stale_after_overwrite", VALUE + from_mem() + data(-32)
       + "if r0 == 0 goto out\nr1 = 0\n*(u64 *)(r10 - 32) = r1\n" + _W8 + OUT),
    _p("ld_data_kept_after_neighbour_write_ok", VALUE + from_mem() + data(-32)
       + "if r0 == 0 goto out\nr1 = 0\n*(u64 *)(r10 - 40) = r1\n" + _W8 + OUT),
    _p("ld_data_len_16_ok", VALUE + from_mem() + data(-32, "16") + "if r0 == 0 goto out\n"
       "r1 = *(u64 *)(r0 + 8)\n" + OUT),
    _p("ld_data_read_past_len", VALUE + from_mem() + data(-32, "8") + "if r0 == 0 goto out\n"
       "r1 = *(u64 *)(r0 + 8)\n" + OUT),
    _p("ld_write_ok", VALUE + from_mem() + "r1 = r10\nr1 += -32\nr2 = 0\nr3 = r10\n"
       f"r3 += -8\nr4 = 8\nr5 = 0\ncall {WRITE}\n" + OUT),
    _p("ld_unref_spill_over_ok", VALUE + from_mem() + "*(u64 *)(r10 - 32) = r10\n" + OUT),
    _p("ld_unref_spill_over_then_read", VALUE + from_mem() + "*(u64 *)(r10 - 32) = r10\n"
       + read() + OUT),
    _p("ld_slice_outlives_subprog_ok", VALUE + "r1 = r0\ncall sub\nif r0 == 0 goto out\n"
       + _W8 + OUT + "sub:\nr2 = 16\nr3 = 0\nr4 = r10\nr4 += -16\n" f"call {FROM_MEM}\n"
       f"r1 = r10\nr1 += -16\nr2 = 0\nr3 = 8\ncall {DATA}\nexit\n"),
    # pruning traps: two paths meet, one with a dynptr, one without (either order)
    _p("ld_join_init_or_not_then_read", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto skip\n"
       "r0 = r6\n" + from_mem() + "skip:\n" + read() + OUT),
    _p("ld_join_not_or_init_then_read", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto init\n"
       "r1 = 0\n*(u64 *)(r10 - 32) = r1\n*(u64 *)(r10 - 24) = r1\ngoto join\ninit:\n"
       "r0 = r6\n" + from_mem() + "join:\n" + read() + OUT),
    _p("ld_join_both_init_ok", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto two\nr0 = r6\n"
       + from_mem() + "goto join\ntwo:\nr0 = r6\n" + from_mem(size=8) + "join:\n" + read()
       + OUT),
    _p("ld_join_local_or_ringbuf", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto rb\nr0 = r6\n"
       + from_mem() + "goto join\nrb:\n" + reserve(-32) + "join:\n" + read() + OUT),
    _p("ld_join_shifted_then_read", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto two\nr0 = r6\n"
       + from_mem() + "goto join\ntwo:\nr0 = r6\n" + from_mem(-24) + "join:\n" + read()
       + OUT),
    _p("ld_join_shifted_then_read_rev", VALUE + "r6 = r0\ncall 7\nif r0 > 5 goto two\n"
       "r0 = r6\n" + from_mem(-24) + "goto join\ntwo:\nr0 = r6\n" + from_mem() + "join:\n"
       + read() + OUT),
    _p("rd_join_reserved_or_not", "call 7\nif r0 > 5 goto skip\n" + reserve() + "skip:\n"
       + release() + OUT),
    _p("rd_join_slice_or_scalar_ok", reserve() + "call 7\nr6 = r0\n" + data()
       + "if r6 > 5 goto use\nr0 = 0\nuse:\nif r0 == 0 goto s\n" + _W8 + "s:\n" + release()
       + OUT),
]

_LOOP_CTX = ("r1 = 2\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n")
LOOP_PROBES = [
    CbProbe("lp_cb_reads_callers_dynptr_ok", "xdp", reserve() + _LOOP_CTX + release()
            + "r0 = 0\nexit\ncb:\n" + "r3 = r2\nr1 = r10\nr1 += -8\nr2 = 8\nr4 = 0\n"
            f"r5 = 0\ncall {READ}\nr0 = 0\nexit\n", [RINGBUF, ARRAY]),
    CbProbe("lp_cb_submits_callers_dynptr", "xdp", reserve() + _LOOP_CTX + "r0 = 0\nexit\n"
            "cb:\n" f"r1 = r2\nr2 = 0\ncall {SUBMIT}\nr0 = 0\nexit\n", [RINGBUF, ARRAY]),
    CbProbe("lp_cb_reserves_into_caller", "xdp", _LOOP_CTX + release() + "r0 = 0\nexit\ncb:\n"
            "r4 = r2\nld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\n" f"call {RESERVE}\nr0 = 0\nexit\n",
            [RINGBUF, ARRAY]),
    CbProbe("lp_cb_overwrites_callers_dynptr", "xdp", reserve() + _LOOP_CTX + release()
            + "r0 = 0\nexit\ncb:\nr1 = 0\n*(u64 *)(r2 + 8) = r1\nr0 = 0\nexit\n",
            [RINGBUF, ARRAY]),
]

_DRAIN = ("ld_pseudo r1, 1, 0\nr2 = func cb\nr3 = 0\nr4 = 0\n" f"call {DRAIN}\n"
          "r0 = 0\nexit\ncb:\n")


def _cb(name: str, body: str, maps=(USER_RINGBUF, RINGBUF)) -> CbProbe:
    return CbProbe(name, "xdp", _DRAIN + body, list(maps))


_CB_READ = f"r3 = r1\nr1 = r10\nr1 += -8\nr2 = 8\nr4 = 0\nr5 = 0\ncall {READ}\n"
DRAIN_PROBES = [
    _cb("ud_ok", "r0 = 0\nexit\n"),
    CbProbe("ud_without_func_info", "xdp", _DRAIN + "r0 = 0\nexit\n", [USER_RINGBUF], btf=False),
    _cb("ud_ret2", "r0 = 2\nexit\n"),
    _cb("ud_ret1_ok", "r0 = 1\nexit\n"),
    _cb("ud_read_ok", _CB_READ + "r0 = 0\nexit\n"),
    _cb("ud_data_ok", "r2 = 0\nr3 = 8\n" f"call {DATA}\n" "if r0 == 0 goto o\n" + _W8
        + "o:\nr0 = 0\nexit\n"),
    _cb("ud_data_unchecked", "r2 = 0\nr3 = 8\n" f"call {DATA}\n" + _W8 + "r0 = 0\nexit\n"),
    _cb("ud_write_ok", "r2 = 0\nr3 = r10\nr3 += -8\n*(u64 *)(r10 - 8) = r2\nr4 = 8\nr5 = 0\n"
        f"call {WRITE}\n" "r0 = 0\nexit\n"),
    _cb("ud_deref", "r0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit\n"),
    _cb("ud_store", "r2 = 0\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\n"),
    _cb("ud_arith_ok", "r1 += 8\nr0 = 0\nexit\n"),
    _cb("ud_arith_then_read", "r1 += 8\n" + _CB_READ + "r0 = 0\nexit\n"),
    _cb("ud_arith_back_then_read_ok", "r1 += 8\nr1 += -8\n" + _CB_READ + "r0 = 0\nexit\n"),
    _cb("ud_submit", f"r2 = 0\ncall {SUBMIT}\nr0 = 0\nexit\n"),
    _cb("ud_var_arith_then_read", "r6 = r1\ncall 7\nr0 &= 8\nr6 += r0\nr1 = r6\n" + _CB_READ
        + "r0 = 0\nexit\n"),
    _cb("ud_var_arith_zero_then_read_ok", "r6 = r1\ncall 7\nr0 &= 0\nr6 += r0\nr1 = r6\n"
        + _CB_READ + "r0 = 0\nexit\n"),
    _cb("ud_arith_then_submit", f"r1 += 8\nr2 = 0\ncall {SUBMIT}\nr0 = 0\nexit\n"),
    _cb("ud_arith_then_data", f"r1 += 16\nr2 = 0\nr3 = 8\ncall {DATA}\nr0 = 0\nexit\n"),
    _cb("ud_reserve_into", "r4 = r1\n" "ld_pseudo r1, 1, 1\nr2 = 8\nr3 = 0\n"
        f"call {RESERVE}\nr0 = 0\nexit\n"),
    _cb("ud_spill_fill_read", "*(u64 *)(r10 - 16) = r1\nr1 = *(u64 *)(r10 - 16)\n"
        + _CB_READ + "r0 = 0\nexit\n"),
    _cb("ud_ctx_is_r2_ok", "r0 = r2\nexit\n"),
    _cb("ud_r3_uninit", "r0 = r3\nexit\n"),
    _cb("ud_wrong_map", "r0 = 0\nexit\n", maps=(RINGBUF, USER_RINGBUF)),
    _cb("ud_compare_null_ok", "if r1 == 0 goto z\nr0 = 0\nexit\nz:\nr0 = 1\nexit\n"),
    _cb("ud_compare_scalar_ok", "r2 = 5\nif r1 > r2 goto z\nr0 = 0\nexit\nz:\nr0 = 1\nexit\n"),
    _cb("ud_return_pointer", "r0 = r1\nexit\n"),
    _cb("ud_as_loop_ctx", "r3 = r1\nr1 = 1\nr2 = func cb2\nr4 = 0\ncall 181\n"
        "r0 = 0\nexit\ncb2:\nr0 = 0\nexit\n"),
    _cb("ud_as_mem_arg", "r2 = 8\nr3 = 0\ncall 6\nr0 = 0\nexit\n"),
    _cb("ud_store_in_map_value_ok", "r6 = r1\nr1 = 0\n*(u32 *)(r10 - 4) = r1\n"
        "ld_pseudo r1, 1, 2\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto z\n"
        "*(u64 *)(r0 + 0) = r6\nz:\nr0 = 0\nexit\n", maps=(USER_RINGBUF, RINGBUF, ARRAY)),
    _cb("ud_to_subprog_read_ok", "call sub\nr0 = 0\nexit\nsub:\n" + _CB_READ
        + "r0 = 0\nexit\n"),
    _cb("ud_32bit_mov_ok", "w1 = w1\nr0 = 0\nexit\n"),
    _cb("ud_reserve_leak_in_cb", "ld_pseudo r1, 1, 1\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\n"
        f"call {RESERVE}\nr0 = 0\nexit\n"),
    _cb("ud_reserve_in_cb_ok", "ld_pseudo r1, 1, 1\nr2 = 8\nr3 = 0\nr4 = r10\nr4 += -16\n"
        f"call {RESERVE}\n" "r1 = r10\nr1 += -16\nr2 = 0\n" f"call {DISCARD}\nr0 = 0\nexit\n"),
]

# found by the random dynptr programs: a variable-offset write of zero keeps a spilled 0
# (and zero bytes) as they are (check_stack_write_var_off)
_VAR_ZERO = ("r1 = 0\n*(u64 *)(r10 - 16) = r1\ncall 7\nr0 &= 8\nr1 = r10\nr1 += -16\n"
             "r1 += r0\nr2 = {v}\n*(u8 *)(r1 + 0) = r2\nr1 = *(u64 *)(r10 - {at})\n"
             "if r1 == 0 goto out\nr0 = *(u64 *)(r1 + 0)\n" + OUT)
STACK_PROBES = [
    _p("var_zero_write_keeps_spilled_zero_ok", _VAR_ZERO.format(v=0, at=16)),
    _p("var_one_write_over_spilled_zero", _VAR_ZERO.format(v=1, at=16)),
    _p("var_zero_write_then_mixed_read", _VAR_ZERO.replace(
        "*(u64 *)(r10 - 16) = r1", "*(u64 *)(r10 - 16) = r1\n*(u32 *)(r10 - 8) = r1\n"
        "*(u32 *)(r10 - 4) = r1").format(v=0, at=8)),
]

PROBES = RINGBUF_PROBES + LOCAL_PROBES + STACK_PROBES
ALL_PROBES = PROBES + DRAIN_PROBES + LOOP_PROBES


#: a C object (after tests/conftest.py's PRELUDE) using the dynptr helpers as BPF programs
#: do; the programs whose name ends in _ok load
DYNPTR_C = r"""
struct bpf_dynptr { unsigned long long __opaque[2]; } __attribute__((aligned(8)));
static long (*bpf_dynptr_from_mem)(void *data, unsigned int size, unsigned long long flags, struct bpf_dynptr *ptr) = (void *)197;
static long (*bpf_ringbuf_reserve_dynptr)(void *ringbuf, unsigned int size, unsigned long long flags, struct bpf_dynptr *ptr) = (void *)198;
static void (*bpf_ringbuf_submit_dynptr)(struct bpf_dynptr *ptr, unsigned long long flags) = (void *)199;
static void (*bpf_ringbuf_discard_dynptr)(struct bpf_dynptr *ptr, unsigned long long flags) = (void *)200;
static long (*bpf_dynptr_read)(void *dst, unsigned int len, const struct bpf_dynptr *src, unsigned int offset, unsigned long long flags) = (void *)201;
static long (*bpf_dynptr_write)(const struct bpf_dynptr *dst, unsigned int offset, void *src, unsigned int len, unsigned long long flags) = (void *)202;
static void *(*bpf_dynptr_data)(const struct bpf_dynptr *ptr, unsigned int offset, unsigned int len) = (void *)203;
static long (*bpf_user_ringbuf_drain)(void *map, void *callback_fn, void *ctx, unsigned long long flags) = (void *)209;
struct { __uint(type, 27); __uint(max_entries, 4096); } rb SEC(".maps");
struct { __uint(type, 31); __uint(max_entries, 4096); } urb SEC(".maps");
struct val { long a, b; };
struct { __uint(type, 2); __uint(max_entries, 1); __type(key, int); __type(value, struct val); } arr SEC(".maps");
long total;

SEC("xdp") int rb_ok(void *ctx)
{ struct bpf_dynptr d; long *p;
  bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &d);
  p = bpf_dynptr_data(&d, 0, 16);
  if (p) { p[0] = 1; p[1] = 2; }
  bpf_ringbuf_submit_dynptr(&d, 0); return 2; }

SEC("xdp") int rb_leak_on_failure(void *ctx)
{ struct bpf_dynptr d;
  if (bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &d)) return 2;
  bpf_ringbuf_submit_dynptr(&d, 0); return 2; }

SEC("xdp") int rb_use_after_submit(void *ctx)
{ struct bpf_dynptr d; long *p;
  bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &d);
  p = bpf_dynptr_data(&d, 0, 16);
  bpf_ringbuf_submit_dynptr(&d, 0);
  if (p) *(volatile long *)p = 1;
  return 2; }

SEC("xdp") int local_ok(void *ctx)
{ struct bpf_dynptr d; int k = 0; long out = 0; struct val *v = bpf_map_lookup_elem(&arr, &k);
  if (!v) return 2;
  bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
  bpf_dynptr_read(&out, sizeof(out), &d, 8, 0);
  bpf_dynptr_write(&d, 0, &out, sizeof(out), 0);
  total += out; return 2; }

static long cb(struct bpf_dynptr *dynptr, void *ctx)
{ long x = 0; bpf_dynptr_read(&x, sizeof(x), dynptr, 0, 0); *(long *)ctx += x; return 0; }

SEC("xdp") int drain_ok(void *ctx)
{ long sum = 0; bpf_user_ringbuf_drain(&urb, cb, &sum, 0); total += sum; return 2; }

static long bad_cb(struct bpf_dynptr *dynptr, void *ctx)
{ bpf_ringbuf_discard_dynptr(dynptr, 0); return 0; }

SEC("xdp") int drain_release(void *ctx)
{ bpf_user_ringbuf_drain(&urb, bad_cb, 0, 0); return 2; }
"""
