"""Probe programs for the typed-argument helpers of ``proto_kinds.ARG_BTF_STRUCT``
(``tests/test_typed_helpers.py``): bpf_task_storage_get/delete, bpf_cgrp_storage_get/delete
(ARG_PTR_TO_BTF_ID_OR_NULL of task_struct / cgroup) and bpf_task_pt_regs (task_struct in, a
plain pt_regs pointer out). Names ending in ``_ok`` are the valid twins; the kernel decides."""

from __future__ import annotations

from dataclasses import dataclass, replace

from timer_probes import FieldProbe

TASK_STORAGE = (29, 4, 8, 0, 1)  # type, key, value, max_entries, BPF_F_NO_PREALLOC
CGRP_STORAGE = (32, 4, 8, 0, 1)
HASH = (1, 4, 8, 4, 0)
_T = "call 158\nr2 = r0\n"  # R2: bpf_get_current_task_btf()
_M = "ld_pseudo r1, 1, 0\n"
_GET = "r3 = 0\nr4 = 1\ncall 156\n"
_END = "r0 = 0\nexit\n"


def _p(name: str, text: str, maps=(TASK_STORAGE,), ptype: str = "kprobe") -> FieldProbe:
    if "{" in text:
        from timer_probes import _offsets

        text = text.format(**_offsets())
    return FieldProbe(name, ptype, text, list(maps))


TYPED_PROBES = [
    _p("ts_get_ok", _T + _M + _GET + _END),
    _p("ts_get_null_task_ok", _M + "r2 = 0\n" + _GET + _END),
    _p("ts_get_read", _T + _M + _GET + "r0 = *(u64 *)(r0 + 0)\n" + _END),
    _p("ts_get_read_ok", _T + _M + _GET + "if r0 == 0 goto o\nr0 = *(u64 *)(r0 + 0)\no:\n"
       + _END),
    _p("ts_get_write_ok", _T + _M + _GET + "if r0 == 0 goto o\nr1 = 1\n*(u64 *)(r0 + 0) = r1\n"
       "o:\n" + _END),
    _p("ts_get_read_oob", _T + _M + _GET + "if r0 == 0 goto o\nr0 = *(u64 *)(r0 + 8)\no:\n"
       + _END),
    _p("ts_get_value_ok", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _T + _M
       + "r3 = r10\nr3 += -8\nr4 = 1\ncall 156\n" + _END),
    _p("ts_get_value_uninit_ok", _T + _M + "r3 = r10\nr3 += -8\nr4 = 1\ncall 156\n" + _END),
    _p("ts_get_value_short", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n" + _T + _M
       + "r3 = r10\nr3 += -4\nr4 = 1\ncall 156\n" + _END),
    _p("ts_get_ctx", "r2 = r1\n" + _M + _GET + _END),
    _p("ts_get_legacy_task", "call 35\nr2 = r0\n" + _M + _GET + _END),
    _p("ts_get_task_offset", _T + "r2 += 8\n" + _M + _GET + _END),
    _p("ts_get_stack", "r2 = r10\nr2 += -8\n" + _M + _GET + _END),
    _p("ts_get_parent_ok", _T + "r2 = *(u64 *)(r2 + {real_parent})\n" + _M + _GET + _END),
    _p("ts_get_mm", _T + "r2 = *(u64 *)(r2 + {mm})\n" + _M + _GET + _END),
    _p("ts_get_hash_map", _T + _M + _GET + _END, maps=(HASH,)),
    _p("ts_get_cgrp_map", _T + _M + _GET + _END, maps=(CGRP_STORAGE,)),
    _p("ts_get_uninit_flags", _T + _M + "r3 = 0\ncall 156\n" + _END),
    _p("ts_get_xdp_ok", _T + _M + _GET + _END, ptype="xdp"),
    _p("ts_get_tracepoint_ok", _T + _M + _GET + _END, ptype="tracepoint"),
    _p("ts_del_ok", _T + _M + "call 157\n" + _END),
    _p("ts_del_null_ok", _M + "r2 = 0\ncall 157\n" + _END),
    _p("ts_del_scalar", _M + "r2 = 1\ncall 157\n" + _END),
    _p("cs_get_task", _T + _M + "r3 = 0\nr4 = 1\ncall 210\n" + _END, maps=(CGRP_STORAGE,)),
    _p("cs_get_null_ok", _M + "r2 = 0\nr3 = 0\nr4 = 1\ncall 210\n" + _END,
       maps=(CGRP_STORAGE,)),
    _p("cs_get_task_map", _M + "r2 = 0\nr3 = 0\nr4 = 1\ncall 210\n" + _END),
    _p("cs_del_null_ok", _M + "r2 = 0\ncall 211\n" + _END, maps=(CGRP_STORAGE,)),
    _p("cs_del_task", _T + _M + "call 211\n" + _END, maps=(CGRP_STORAGE,)),
    _p("pt_ok", "call 158\nr1 = r0\ncall 175\nr0 = *(u64 *)(r0 + 0)\n" + _END),
    _p("pt_null", "r1 = 0\ncall 175\n" + _END),
    _p("pt_ctx", "call 175\n" + _END),
    _p("pt_offset", "call 158\nr1 = r0\nr1 += 8\ncall 175\n" + _END),
    _p("pt_to_storage", "call 158\nr1 = r0\ncall 175\nr2 = r0\n" + _M + _GET + _END),
    _p("pt_write", "call 158\nr1 = r0\ncall 175\nr1 = 0\n*(u64 *)(r0 + 0) = r1\n" + _END),
    _p("pt_parent_ok", "call 158\nr1 = *(u64 *)(r0 + {real_parent})\ncall 175\n" + _END),
    _p("pt_xdp_ok", "call 158\nr1 = r0\ncall 175\n" + _END, ptype="xdp"),
]


# -- bpf_strncmp's ARG_PTR_TO_CONST_STR (model.verifier.const_str) ---------------------------
@dataclass
class StrProbe(FieldProbe):
    """Map m0 becomes a global-data map ``data_name`` (``.rodata``: read-only and frozen
    by the loader) holding ``data`` in a value of ``data_size`` bytes."""

    data: bytes = b""
    data_name: str = ".rodata"
    data_size: int = 8

    def model(self):
        obj, prog = super().model()
        old = obj.maps.pop("m0")
        obj.maps[self.data_name] = replace(old, name=self.data_name, origin="data",
                                           section=self.data_name, value_size=self.data_size,
                                           max_entries=1, initial=self.data)
        prog.map_refs = {pc: replace(r, map=self.data_name) if r.map == "m0" else r
                         for pc, r in prog.map_refs.items()}
        return obj, prog


_S1 = "r1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -8\nr2 = 8\n"  # s1: 8 zero bytes


def _s(name: str, s2: str, data: bytes = b"abc\0", ptype: str = "kprobe", maps=(),
       **kw) -> StrProbe:
    return StrProbe(name, ptype, _S1 + s2 + "call 182\n" + _END,
                    [(2, 4, 8, 1, 0), *maps], data=data, **kw)


STR_PROBES = [
    _s("str_ok", "ld_pseudo r3, 2, 0, 0\n"),
    _s("str_off_ok", "ld_pseudo r3, 2, 0, 2\n"),
    _s("str_alu_off_ok", "ld_pseudo r3, 2, 0, 0\nr3 += 3\n"),
    _s("str_empty_ok", "ld_pseudo r3, 2, 0, 0\n", data=b""),
    _s("str_last_byte_ok", "ld_pseudo r3, 2, 0, 7\n", data=b"abcdefg\0"),
    _s("str_unterminated", "ld_pseudo r3, 2, 0, 0\n", data=b"abcdefgh"),
    _s("str_unterminated_after_off", "ld_pseudo r3, 2, 0, 0\nr3 += 2\n", data=b"a\0cdefgh"),
    _s("str_off_end", "ld_pseudo r3, 2, 0, 0\nr3 += 8\n"),
    _s("str_off_past", "ld_pseudo r3, 2, 0, 0\nr3 += 12\n"),
    _s("str_off_negative", "ld_pseudo r3, 2, 0, 0\nr3 += -1\n"),
    _s("str_var_off", "call 7\nr0 &= 1\nr6 = r0\n" + _S1 + "ld_pseudo r3, 2, 0, 0\nr3 += r6\n"),
    _s("str_data_section", "ld_pseudo r3, 2, 0, 0\n", data_name=".data"),
    _s("str_bss_section", "ld_pseudo r3, 2, 0, 0\n", data_name=".bss", data=b""),
    _s("str_stack", "r3 = r10\nr3 += -8\n"),
    _s("str_scalar", "r3 = 0\n"),
    StrProbe("str_ctx", "kprobe", "r6 = r1\n" + _S1 + "r3 = r6\ncall 182\n" + _END,
             [(2, 4, 8, 1, 0)], data=b"abc\0"),
    StrProbe("str_lookup_rodata_ok", "kprobe", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
             "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\nr3 = r0\n" + _S1
             + "call 182\n" + _END, [(2, 4, 8, 1, 0)], data=b"abc\0"),
    StrProbe("str_lookup_null", "kprobe", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
             "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\nr3 = r0\n" + _S1
             + "call 182\n" + _END, [(2, 4, 8, 1, 0), (1, 4, 8, 4, 0)], data=b"abc\0"),
    StrProbe("str_lookup_hash", "kprobe", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
             "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto o\nr3 = r0\n"
             + _S1 + "call 182\no:\n" + _END, [(2, 4, 8, 1, 0), (1, 4, 8, 4, 0)],
             data=b"abc\0"),
    StrProbe("str_rdonly_prog_not_frozen", "kprobe", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
             "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto o\nr3 = r0\n"
             + _S1 + "call 182\no:\n" + _END, [(2, 4, 8, 1, 0), (2, 4, 8, 1, 1 << 7)],
             data=b"abc\0"),
    _s("str_xdp_ok", "ld_pseudo r3, 2, 0, 0\n", ptype="xdp"),
    _s("str_socket_filter_ok", "ld_pseudo r3, 2, 0, 0\n", ptype="socket_filter"),
    StrProbe(
        "str_s1_uninit_ok", "kprobe", "r1 = r10\nr1 += -8\nr2 = 8\nld_pseudo r3, 2, 0, 0\n"
        "call 182\n" + _END, [(2, 4, 8, 1, 0)], data=b"abc\0"),
    _s("str_long_ok", "ld_pseudo r3, 2, 0, 20\n", data=b"x" * 20 + b"yz\0", data_size=64),
]


# -- bpf_sock_from_file: a struct file in, a maybe-NULL struct socket out --------------------
def _f(name: str, text: str, section: str = "iter/task_file") -> FieldProbe:
    """In iter/task_file, R2 = ctx->file (maybe NULL, trusted), R6 = ctx."""
    from tracing_probes import member_off

    text = text.format(sk=member_off("socket", "sk"), state=member_off("socket", "state"),
                       f_flags=member_off("file", "f_flags"))
    return IterProbe(name, "kprobe", "r6 = r1\nr2 = *(u64 *)(r1 + 24)\n" + text, [],
                     section=section)


@dataclass
class IterProbe(FieldProbe):
    """A probe of the iterator program ``section``."""

    section: str = "iter/task_file"

    def model(self):
        obj, prog = super().model()
        prog.section = self.section
        return obj, prog


_FILE = "if r2 == 0 goto o\nr1 = r2\ncall 162\n"
FILE_PROBES = [
    _f("sff_ok", _FILE + "o:\n" + _END),
    _f("sff_read_ok", _FILE + "if r0 == 0 goto o\nr0 = *(u32 *)(r0 + {state})\no:\n" + _END),
    _f("sff_read_unchecked", _FILE + "r0 = *(u32 *)(r0 + {state})\no:\n" + _END),
    _f("sff_sk_ok", _FILE + "if r0 == 0 goto o\nr0 = *(u64 *)(r0 + {sk})\no:\n" + _END),
    _f("sff_write", _FILE + "if r0 == 0 goto o\nr1 = 0\n*(u32 *)(r0 + {state}) = r1\no:\n"
       + _END),
    _f("sff_maybe_null", "r1 = r2\ncall 162\n" + _END),
    _f("sff_null", "r1 = 0\ncall 162\n" + _END),
    _f("sff_task", "r1 = *(u64 *)(r6 + 8)\nif r1 == 0 goto o\ncall 162\no:\n" + _END),
    _f("sff_ctx", "r1 = r6\ncall 162\n" + _END),
    _f("sff_offset", "if r2 == 0 goto o\nr1 = r2\nr1 += {f_flags}\ncall 162\no:\n" + _END),
    _f("sff_socket_to_pt_regs", _FILE + "if r0 == 0 goto o\nr1 = r0\ncall 175\no:\n" + _END),
    _p("sff_in_kprobe", "call 158\nr1 = r0\ncall 162\n" + _END, maps=()),
]


# -- bpf_skb_output / bpf_xdp_output: a typed sk_buff / xdp_buff, a perf event array --------
PERF_ARRAY = (4, 4, 4, 0, 0)
_SKB = "r1 = *(u64 *)(r1 + 0)\n"  # tp_btf/kfree_skb's skb
_OUT = ("*(u64 *)(r10 - 8) = 0\nld_pseudo r2, 1, 0\nr3 = 0\nr4 = r10\nr4 += -8\nr5 = 8\n"
        "call {hid}\n" + _END)


def _o(name: str, text: str, hid: int = 111, maps=(PERF_ARRAY,),
       section: str = "tp_btf/kfree_skb") -> FieldProbe:
    return IterProbe(name, "kprobe", text + _OUT.format(hid=hid), list(maps), section=section)


OUTPUT_PROBES = [
    _o("skb_out_ok", _SKB),
    _o("skb_out_ctx", ""),
    _o("skb_out_null", "r1 = 0\n"),
    _o("skb_out_offset", _SKB + "r1 += 8\n"),
    _o("skb_out_task", "call 158\nr1 = r0\n"),
    _o("skb_out_array_map", _SKB, maps=((2, 4, 8, 1, 0),)),
    _o("skb_out_hash_map", _SKB, maps=((1, 4, 8, 1, 0),)),
    _o("xdp_out_skb", _SKB, hid=121),
    _o("xdp_out_task", "call 158\nr1 = r0\n", hid=121),
    _o("skb_out_walked_next", _SKB + "r1 = *(u64 *)(r1 + 0)\n"),
    _o("skb_out_kprobe", "call 158\nr1 = r0\n", section="kprobe/foo"),
]


# -- bpf_d_path: a struct path (&file->f_path) in an iterator; refused in tp_btf ------------
def _d(name: str, text: str, section: str = "iter/task_file") -> FieldProbe:
    from tracing_probes import member_off

    text = text.format(f_path=member_off("file", "f_path"), f_flags=member_off("file", "f_flags"),
                       dentry=member_off("path", "dentry"))
    return IterProbe(name, "kprobe", "r2 = *(u64 *)(r1 + 24)\nif r2 == 0 goto o\n" + text
                     + "o:\n" + _END, [], section=section)


_BUF = "r2 = r10\nr2 += -64\nr3 = 64\ncall 147\n"
D_PATH_PROBES = [
    _d("dp_ok", "r1 = r2\nr1 += {f_path}\n" + _BUF),
    _d("dp_file", "r1 = r2\n" + _BUF),
    _d("dp_inside_path", "r1 = r2\nr1 += {f_path}\nr1 += {dentry}\n" + _BUF),
    _d("dp_f_flags", "r1 = r2\nr1 += {f_flags}\n" + _BUF),
    _d("dp_past_file", "r1 = r2\nr1 += 4096\n" + _BUF),
    _d("dp_null", "r1 = 0\n" + _BUF),
    _d("dp_small_buf_ok", "r1 = r2\nr1 += {f_path}\nr2 = r10\nr2 += -8\nr3 = 8\ncall 147\n"),
    _d("dp_buf_oob", "r1 = r2\nr1 += {f_path}\nr2 = r10\nr2 += -8\nr3 = 16\ncall 147\n"),
    IterProbe("dp_tp_btf", "kprobe", "call 158\nr1 = r0\n" + _BUF + _END, [],
              section="tp_btf/sched_switch"),
]


# -- bpf_snprintf: the constant format against data_len / 8 arguments -----------------------
_ARGS = ("r1 = 7\n*(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 24) = r1\n"
         "*(u64 *)(r10 - 32) = r1\nr1 = r10\nr1 += -64\nr2 = 32\nld_pseudo r3, 2, 0, 0\n"
         "r4 = r10\nr4 += -32\n")


def _f_(name: str, fmt: bytes, data_len: int = 8, ptype: str = "kprobe") -> StrProbe:
    return StrProbe(name, ptype, _ARGS + f"r5 = {data_len}\ncall 165\n" + _END,
                    [(2, 4, 8, 1, 0)], data=fmt + b"\0", data_size=len(fmt) + 1)


SNPRINTF_PROBES = [
    _f_("fmt_plain_ok", b"hello", 0),
    _f_("fmt_d_ok", b"x=%d", 8),
    _f_("fmt_three_ok", b"%d %u %x", 24),
    _f_("fmt_too_few", b"%d %d", 8),
    _f_("fmt_extra_args_ok", b"%d", 24),
    _f_("fmt_percent_ok", b"100%% %d", 8),
    _f_("fmt_width_ok", b"%-08d|%+5lld|% 3lx", 24),
    _f_("fmt_lu_ok", b"%lu %llX %li", 24),
    _f_("fmt_lll", b"%llld", 8),
    _f_("fmt_f", b"%f", 8),
    _f_("fmt_z", b"%zu", 8),
    _f_("fmt_h", b"%hd", 8),
    _f_("fmt_s_ok", b"%s.", 8),
    _f_("fmt_s_letter", b"%sa", 8),
    _f_("fmt_c_ok", b"%c%c", 16),
    _f_("fmt_p_ok", b"%p", 8),
    _f_("fmt_pK_ok", b"%pK %px %ps %pS", 32),
    _f_("fmt_pB_ok", b"%pB", 8),
    _f_("fmt_pI4_ok", b"%pI4 %pi6", 16),
    _f_("fmt_pI5", b"%pI5", 8),
    _f_("fmt_pM", b"%pM", 8),
    _f_("fmt_pks_ok", b"%pks %pus", 16),
    _f_("fmt_pksx", b"%pksx", 8),
    _f_("fmt_trailing_percent", b"abc%", 8),
    _f_("fmt_tab_ok", b"a\tb\n", 0),
    _f_("fmt_control", b"a\x01b", 0),
    _f_("fmt_latin1_ok", b"a\xc3\xa9", 0),
    _f_("fmt_c1_control_ok", b"a\x85", 0),
    _f_("fmt_s_c1_control", b"%s\x85", 8),
    _f_("fmt_s_latin1_letter", b"%s\xe9", 8),
    _f_("fmt_p_latin1_punct_ok", b"%p\xbf", 8),
    _f_("fmt_nbsp_ok", b"a\xa0b", 0),
    _f_("fmt_ff_ok", b"\xff", 0),
    _f_("fmt_del", b"a\x7f", 0),
    _f_("fmt_s_nbsp_ok", b"%s\xa0", 8),
    _f_("fmt_s_latin1_punct_ok", b"%s\xd7", 8),
    _f_("fmt_len_not_8", b"%d", 4),
    _f_("fmt_len_zero_spec", b"%d", 0),
    _f_("fmt_width_star", b"%*d", 16),
    _f_("fmt_precision", b"%.2d", 8),
    _f_("fmt_hash", b"%#x", 8),
    _f_("fmt_p_then_letter", b"%pa", 8),
    _f_("fmt_pspace_ok", b"%p %d", 16),
]
