"""Probe programs for map-in-map lookups, tail calls, reads of a map's kernel structure and
NULL inference from pointer comparisons (``tests/test_maps_calls.py``). The kernel decides
what each expects; names ending in ``_ok`` are meant to be accepted.

``FUNC_PROBES`` have bpf-to-bpf subprograms and are loaded with BTF func info
(``btf_func_probes``); ``Z3_IMPRECISE`` names the probes the kernel rejects although they
are safe (its NULL tracking is per register type, the Z3 engine's per path)."""

from __future__ import annotations

from soundness_probes import Probe

ARRAY_OF_MAPS = (12, 4, 4, 4, 0, (2, 4, 16, 8, 0))  # inner: array, 16-byte values
HASH_OF_MAPS = (13, 4, 4, 4, 0, (1, 4, 16, 8, 0))  # inner: hash
WIDE_KEY_INNER = (12, 4, 4, 4, 0, (1, 8, 16, 8, 0))  # inner hash with 8-byte keys
PROG_ARRAY = (3, 4, 4, 4, 0)
ARRAY = (2, 4, 8, 1, 0)
HASH = (1, 4, 8, 1, 0)

# r0 = lookup(m0, &0) with fp-8 zeroed
_LOOKUP = """r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 1, 0
r2 = r10
r2 += -8
call 1
"""
_CHECK = "if r0 == 0 goto out\n"
# r0 = lookup(inner map in r0, &fp-8), null-checked
_INNER = "r1 = r0\nr2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto out\n"
_OUT = "out:\nr0 = 0\nexit\n"


_ZERO_KEY_LOOKUP = _LOOKUP.replace("r1 = 0\n*(u64 *)(r10 - 8) = r1\n", "*(u32 *)(r10 - 8) = 0\n")
_INNER_UNCHECKED = "r1 = r0\nr2 = r10\nr2 += -8\ncall 1\nr1 = *(u64 *)(r0 + 0)\n"
INNER_MAP = 1 << 12  # BPF_F_INNER_MAP


def _mim(name: str, body: str, outer=ARRAY_OF_MAPS) -> Probe:
    return Probe(name, "xdp", _LOOKUP + body + _OUT, [outer])


MAP_IN_MAP_PROBES = [
    _mim("inner_value_in_bounds_ok", _CHECK + _INNER + "r1 = *(u64 *)(r0 + 8)\n"),
    _mim("inner_value_write_ok", _CHECK + _INNER + "r1 = 1\n*(u64 *)(r0 + 8) = r1\n"),
    _mim("inner_value_out_of_bounds", _CHECK + _INNER + "r1 = *(u64 *)(r0 + 12)\n"),
    _mim("inner_value_past_end", _CHECK + _INNER + "r1 = *(u8 *)(r0 + 16)\n"),
    _mim("hash_of_maps_inner_ok", _CHECK + _INNER + "r1 = *(u64 *)(r0 + 8)\n", HASH_OF_MAPS),
    _mim("hash_of_maps_inner_oob", _CHECK + _INNER + "r1 = *(u32 *)(r0 + 16)\n",
         HASH_OF_MAPS),
    _mim("inner_missing_null_check", _INNER + "r1 = *(u64 *)(r0 + 8)\n"),
    _mim("inner_const_key_still_maybe_null", _INNER),
    _mim("inner_value_missing_null_check",
         _CHECK + "r1 = r0\nr2 = r10\nr2 += -8\ncall 1\nr1 = *(u64 *)(r0 + 0)\n"),
    _mim("outer_value_is_a_map_pointer_ok", _CHECK + "r1 = *(u32 *)(r0 + 0)\n"),
    _mim("inner_map_ptr_arith", _CHECK + "r0 += 8\n"),
    _mim("inner_update_ok", _CHECK + "r1 = r0\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -24\n"
         "r4 = 0\n*(u64 *)(r10 - 24) = r4\n*(u64 *)(r10 - 16) = r4\ncall 2\n"),
    _mim("inner_update_value_off_stack", _CHECK + "r1 = r0\nr2 = r10\nr2 += -8\nr3 = r10\n"
         "r3 += -12\nr4 = 0\n*(u64 *)(r10 - 16) = r4\ncall 2\n"),
    _mim("inner_key_partly_uninit", _CHECK + _INNER + "r1 = *(u64 *)(r0 + 0)\n",
         WIDE_KEY_INNER),
    _mim("inner_max_entries_ok", _CHECK + "r1 = *(u32 *)(r0 + 76)\n"),
    # a constant key (STACK_ZERO) below the inner array's max_entries: never NULL, unless
    # the template has BPF_F_INNER_MAP (inner maps may then be smaller)
    Probe("inner_array_const_key_ok", "xdp", _ZERO_KEY_LOOKUP + _CHECK + _INNER_UNCHECKED
          + _OUT, [ARRAY_OF_MAPS]),
    Probe("inner_percpu_array_const_key_ok", "xdp", _ZERO_KEY_LOOKUP + _CHECK
          + _INNER_UNCHECKED + _OUT, [(12, 4, 4, 4, 0, (6, 4, 16, 8, 0))]),
    Probe("inner_array_inner_map_flag", "xdp", _ZERO_KEY_LOOKUP + _CHECK + _INNER_UNCHECKED
          + _OUT, [(12, 4, 4, 4, 0, (2, 4, 16, 8, INNER_MAP))]),
    Probe("array_inner_map_flag_const_key", "xdp", _ZERO_KEY_LOOKUP
          + "r1 = *(u64 *)(r0 + 0)\n" + _OUT, [(2, 4, 16, 8, INNER_MAP)]),
    Probe("array_const_key_ok", "xdp", _ZERO_KEY_LOOKUP + "r1 = *(u64 *)(r0 + 0)\n" + _OUT,
          [(2, 4, 16, 8, 0)]),
    # inner maps of other types: the map pointer goes to their helpers
    *[Probe(name, "xdp", "r6 = r1\n" + _ZERO_KEY_LOOKUP + _CHECK + body + _OUT,
            [(12, 4, 4, 4, 0, template)]) for name, template, body in (
        ("inner_ringbuf_output_ok", (27, 0, 0, 4096, 0),
         "r1 = r0\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall 130\n"),
        ("inner_hash_delete_ok", (1, 4, 8, 4, 0), "r1 = r0\nr2 = r10\nr2 += -8\ncall 3\n"),
        ("inner_array_delete_ok", (2, 4, 8, 4, 0), "r1 = r0\nr2 = r10\nr2 += -8\ncall 3\n"),
        ("inner_perf_output_ok", (4, 4, 4, 4, 0),
         "r1 = r6\nr2 = r0\nr3 = 0\nr4 = r10\nr4 += -8\nr5 = 8\ncall 25\n"),
        ("inner_rdonly_prog_write", (2, 4, 8, 4, 1 << 7),
         "r1 = r0\nr2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto out\nr1 = 1\n"
         "*(u64 *)(r0 + 0) = r1\n"),
        ("inner_pointer_spilled_ok", (2, 4, 8, 4, 0), "*(u64 *)(r10 - 16) = r0\n"
         "r1 = *(u64 *)(r10 - 16)\nr2 = r10\nr2 += -8\ncall 1\n"))],
    Probe("outer_update", "xdp", _LOOKUP.replace("call 1", "r3 = r10\nr3 += -8\nr4 = 0\n"
                                                "call 2") + _OUT, [ARRAY_OF_MAPS]),
    Probe("outer_as_tail_call_map", "xdp", "ld_pseudo r2, 1, 0\nr3 = 0\ncall 12\n" + _OUT,
          [ARRAY_OF_MAPS]),
]


def _field(name: str, body: str, m=ARRAY) -> Probe:
    return Probe(name, "xdp", "ld_pseudo r1, 1, 0\n" + body + "r0 = 0\nexit\n", [m])


# struct bpf_map (6.18, x86-64): key_size at 68, max_entries at 76, ops (a pointer) at 40,
# name (char[16]) at 136, a hole after frozen (257); a bpf_array is larger than a bpf_map
MAP_FIELD_PROBES = [
    _field("field_max_entries_ok", "r0 = *(u32 *)(r1 + 76)\n"),
    _field("field_max_entries_hash_ok", "r0 = *(u32 *)(r1 + 76)\n", HASH),
    _field("field_max_entries_prog_array_ok", "r0 = *(u32 *)(r1 + 76)\n", PROG_ARRAY),
    _field("field_byte_of_key_size_ok", "r0 = *(u8 *)(r1 + 69)\n"),
    _field("field_signed_load_ok", "r0 = *(s32 *)(r1 + 76)\n"),
    _field("field_in_name_ok", "r0 = *(u64 *)(r1 + 136)\n"),
    _field("field_frozen_ok", "r0 = *(u8 *)(r1 + 257)\n"),
    _field("field_past_bpf_map_in_bpf_array_ok", "r0 = *(u32 *)(r1 + 300)\n"),
    _field("field_max_entries_bounds_ok", "r0 = *(u32 *)(r1 + 76)\nif r0 > 4 goto l\n"
           "r0 = 0\nl:\n"),
    _field("field_two_members", "r0 = *(u64 *)(r1 + 68)\n"),
    _field("field_beyond_member", "r0 = *(u64 *)(r1 + 76)\n"),
    _field("field_pointer_ok", "r0 = *(u64 *)(r1 + 40)\n"),  # "not modelled" here
    _field("field_half_pointer", "r0 = *(u32 *)(r1 + 40)\n"),
    _field("field_negative", "r0 = *(u32 *)(r1 - 4)\n"),
    _field("field_store", "r2 = 1\n*(u32 *)(r1 + 76) = r2\n"),
    _field("field_store_imm", "*(u32 *)(r1 + 76) = 1\n"),
    _field("field_atomic", "r2 = 1\nlock *(u32 *)(r1 + 76) += r2\n"),
    _field("field_far", "r0 = *(u32 *)(r1 + 30000)\n"),
    _field("field_hole", "r0 = *(u8 *)(r1 + 261)\n"),
    _field("field_value_as_scalar", "r0 = *(u32 *)(r1 + 76)\nr1 = *(u64 *)(r0 + 0)\n"),
]

_TAIL = "ld_pseudo r2, 1, 0\nr3 = 0\ncall 12\n"
_XDP_PKT = ("r6 = r1\nr7 = *(u32 *)(r6 + 0)\nr8 = *(u32 *)(r6 + 4)\nr2 = r7\nr2 += 8\n"
            "if r2 > r8 goto out\n")
_SUB = "sub:\n" + _TAIL + "r0 = 0\nexit\n"

#: tail calls from the main program (no func info needed)
TAIL_MAIN_PROBES = [
    Probe("tail_main_ok", "xdp", "r6 = r1\nr1 = r6\n" + _TAIL + _OUT, [PROG_ARRAY]),
    Probe("tail_main_r1_not_ctx", "xdp", "r1 = r10\n" + _TAIL + _OUT, [PROG_ARRAY]),
    Probe("tail_main_r1_moved_ctx", "xdp", "r1 += 8\n" + _TAIL + _OUT, [PROG_ARRAY]),
    Probe("tail_main_r3_pointer_ok", "xdp", "ld_pseudo r2, 1, 0\nr3 = r10\ncall 12\n" + _OUT,
          [PROG_ARRAY]),
    Probe("tail_main_r0_after", "xdp", _TAIL + "exit\n", [PROG_ARRAY]),
    Probe("tail_main_r1_after", "xdp", _TAIL + "r0 = r1\nexit\n", [PROG_ARRAY]),
    Probe("tail_main_r6_kept_ok", "xdp", "r6 = 5\n" + _TAIL + "r0 = r6\nr0 &= 1\nexit\n",
          [PROG_ARRAY]),
    Probe("tail_main_packet_kept_ok", "xdp", _XDP_PKT + "r1 = r6\n" + _TAIL
          + "r0 = *(u8 *)(r7 + 0)\n" + _OUT, [PROG_ARRAY]),
    Probe("tail_main_array_map", "xdp", _TAIL + _OUT, [ARRAY]),
    Probe("tail_subprog_without_btf", "xdp", "call sub\n" + _OUT + _SUB, [PROG_ARRAY]),
]


def _stack(depth: int) -> str:
    return f"r2 = 1\n*(u64 *)(r10 - {depth}) = r2\n"


#: (name, program text): one PROG_ARRAY map, loaded with BTF func info
FUNC_PROBES = [
    ("tail_sub_ok", "r6 = r1\ncall sub\n" + _OUT + _SUB),
    ("tail_sub_stack_240_ok", _stack(240) + "call sub\n" + _OUT + _SUB),
    ("tail_sub_stack_248", _stack(248) + "call sub\n" + _OUT + _SUB),
    ("tail_sub_stack_256", _stack(256) + "call sub\n" + _OUT + _SUB),
    ("tail_sub_nested_stack", _stack(128) + "call mid\n" + _OUT + "mid:\n" + _stack(128)
     + "call sub\nr0 = 0\nexit\n" + _SUB),
    ("tail_sub_nested_stack_ok", _stack(96) + "call mid\n" + _OUT + "mid:\n" + _stack(128)
     + "call sub\nr0 = 0\nexit\n" + _SUB),
    ("tail_sub_big_own_stack_ok", "call sub\n" + _OUT + "sub:\n" + _stack(400) + _TAIL
     + "r0 = 0\nexit\n"),
    ("tail_sub_stale_packet_after_return", _XDP_PKT + "r1 = r6\ncall sub\n"
     "r0 = *(u8 *)(r7 + 0)\n" + _OUT + _SUB),
    ("tail_sub_stale_spill_after_return", _XDP_PKT + "*(u64 *)(r10 - 8) = r7\nr1 = r6\n"
     "call sub\nr9 = *(u64 *)(r10 - 8)\nr0 = *(u8 *)(r9 + 0)\n" + _OUT + _SUB),
    ("tail_sub_packet_inside_ok", _XDP_PKT + "r1 = r6\nr2 = r7\ncall sub2\n" + _OUT
     + "sub2:\nr7 = r2\n" + _TAIL + "r0 = *(u8 *)(r7 + 0)\nr0 = 0\nexit\n"),
    ("tail_sub_two_levels_stale", _XDP_PKT + "r1 = r6\ncall mid\nr0 = *(u8 *)(r7 + 0)\n"
     + _OUT + "mid:\ncall sub\nr0 = 0\nexit\n" + _SUB),
    ("tail_sub_dead_tail_call_ok", _XDP_PKT + "r1 = r6\ncall sub2\nr0 = *(u8 *)(r7 + 0)\n"
     + _OUT + "sub2:\nr0 = 0\nif r0 == 0 goto e\n" + _TAIL + "e:\nr0 = 0\nexit\n"),
    ("tail_sub_r0_unknown_after", "call sub\nif r0 > 5 goto bad\n" + _OUT
     + "bad:\nr0 = *(u64 *)(r9 + 0)\nexit\n" + _SUB),
    ("tail_sub_no_tail_r0_known_ok", "call sub2\nif r0 > 5 goto bad\n" + _OUT
     + "bad:\nr0 = *(u64 *)(r9 + 0)\nexit\n" + "sub2:\nr0 = 0\nexit\n"),
    ("tail_sub_failed_path_goes_on", "call sub2\n" + _OUT + "sub2:\n" + _TAIL
     + "r0 = *(u64 *)(r9 + 0)\nexit\n"),
    ("tail_sub_r1_not_ctx", "r1 = 0\ncall sub\n" + _OUT + _SUB),
]

_TWO_LOOKUPS = _LOOKUP + "r6 = r0\n" + _LOOKUP + "r7 = r0\n"


def _cmp(name: str, body: str) -> Probe:
    return Probe(name, "xdp", _LOOKUP + body + _OUT, [HASH])


PTR_COMPARE_PROBES = [
    _cmp("ptrcmp_jne_stack_ok", "r2 = r10\nif r0 != r2 goto out\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_jeq_stack_ok", "r2 = r10\nif r0 == r2 goto use\nr0 = 0\nexit\n"
         "use:\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_src_side_ok", "r2 = r10\nif r2 == r0 goto use\nr0 = 0\nexit\n"
         "use:\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_wrong_edge", "r2 = r10\nif r0 == r2 goto out\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_copy_not_lifted", "r3 = r0\nr2 = r10\nif r0 == r2 goto use\nr0 = 0\n"
         "exit\nuse:\nr1 = *(u64 *)(r3 + 0)\n"),
    _cmp("ptrcmp_jgt_not_lifted", "r2 = r10\nif r0 > r2 goto use\nr0 = 0\nexit\n"
         "use:\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_jmp32_not_lifted", "r2 = r10\nif w0 == w2 goto use\nr0 = 0\nexit\n"
         "use:\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_moved_stack_ok", "r2 = r10\nr2 += -8\nif r0 == r2 goto use\nr0 = 0\n"
         "exit\nuse:\nr1 = *(u64 *)(r0 + 0)\n"),
    _cmp("ptrcmp_scalar_zero_register", "r2 = 0\nif r0 != r2 goto use\nr0 = 0\nexit\n"
         "use:\nr1 = *(u64 *)(r0 + 0)\n"),
    Probe("ptrcmp_two_maybe_null", "xdp", _TWO_LOOKUPS + "if r6 == r7 goto use\n"
          "r0 = 0\nexit\nuse:\nr1 = *(u64 *)(r6 + 0)\n" + _OUT, [HASH]),
    Probe("ptrcmp_value_vs_maybe_null_ok", "xdp", _TWO_LOOKUPS + "if r7 == 0 goto out\n"
          "if r6 == r7 goto use\nr0 = 0\nexit\nuse:\nr1 = *(u64 *)(r6 + 0)\n" + _OUT, [HASH]),
    Probe("ptrcmp_map_ptr_never_null_ok", "xdp", "ld_pseudo r1, 1, 0\nif r1 != 0 goto out\n"
          "r0 = *(u64 *)(r9 + 0)\n" + _OUT, [HASH]),
    _mim("ptrcmp_inner_map_ok", "ld_pseudo r2, 1, 0\nif r0 != r2 goto out\n"
         "r1 = *(u32 *)(r0 + 76)\n"),
]

#: the kernel rejects these though they are safe (kernel NULL tracking is per register)
Z3_IMPRECISE = {"ptrcmp_copy_not_lifted", "ptrcmp_scalar_zero_register",
                "ptrcmp_jgt_not_lifted", "ptrcmp_jmp32_not_lifted"}
