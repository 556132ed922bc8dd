"""Typed-argument helpers (proto_kinds.ARG_BTF_STRUCT: bpf_task_storage_get/delete,
bpf_cgrp_storage_get/delete, bpf_task_pt_regs, bpf_sock_from_file, bpf_skb_output,
bpf_xdp_output, bpf_d_path) and the constant strings of bpf_strncmp and bpf_snprintf
(model.verifier.const_str, model.platform.bprintf) in the abstract verifier against the
running kernel (tests/typed_helper_probes.py); the Z3 engine judges them as the kernel
does."""

from __future__ import annotations

import pytest

from conftest import CLANG
from model.kernel import available
from model.platform.prototypes import helper_id, refs_only, verifier_unmodelled
from model.verifier.checker import check_program
from timer_probes import assert_like_kernel
from typed_helper_probes import (D_PATH_PROBES, FILE_PROBES, OUTPUT_PROBES, SNPRINTF_PROBES,
                                 STR_PROBES, TYPED_PROBES)

ALL = (TYPED_PROBES + STR_PROBES + FILE_PROBES + OUTPUT_PROBES + D_PATH_PROBES
       + SNPRINTF_PROBES)
#: kernel rejections skv words differently (both reject): skv's reason. The kernel prints
#: nothing for a data_len that is not a multiple of 8 (its last line is precision tracking)
WORDED = {"fmt_len_not_8": "not a multiple of 8"}
needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
MODELLED = ("task_storage_get", "task_storage_delete", "cgrp_storage_get",
            "cgrp_storage_delete", "task_pt_regs", "strncmp", "sock_from_file",
            "skb_output", "xdp_output", "d_path", "snprintf")


def by_name(name: str):
    return next(p for p in ALL if p.name == name)


@needs_kernel
@pytest.mark.parametrize("probe", ALL, ids=lambda p: p.name)
def test_typed_helper_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict and the kernel's words."""
    assert_like_kernel(probe, WORDED)


@pytest.mark.parametrize("name,message", [
    ("ts_get_ok", None),
    ("ts_get_null_task_ok", None),
    ("ts_get_read", "R0 invalid mem access 'map_value_or_null'"),
    ("ts_get_ctx", "R2 type=ctx expected=ptr_, trusted_ptr_, rcu_ptr_"),
    ("ts_get_mm", "R2 is of type mm_struct but task_struct is expected"),
    ("ts_get_cgrp_map", "cannot pass map_type 32 into func bpf_task_storage_get#156"),
    ("cs_get_task", "R2 is of type task_struct but cgroup is expected"),
    ("pt_ok", None),
    ("pt_to_storage", "R2 is of type pt_regs but task_struct is expected"),
    ("pt_write", "only read is supported"),
    ("str_ok", None),
    ("str_unterminated_after_off", "string is not zero-terminated"),
    ("str_off_end", "R3 min value is outside of the allowed memory range"),
    ("str_var_off", "R3 is not a constant address'"),
    ("str_data_section", "R3 does not point to a readonly map'"),
    ("str_lookup_null", "R3 type=map_value_or_null expected=map_value"),
    ("sff_read_ok", None),
    ("sff_read_unchecked", "R0 invalid mem access 'ptr_or_null_'"),
    ("sff_task", "R1 is of type task_struct but file is expected"),
    ("skb_out_ok", None),
    ("xdp_out_skb", "R1 is of type sk_buff but xdp_buff is expected"),
    ("dp_ok", None),
    ("dp_inside_path", "R1 is of type file but path is expected"),
    ("dp_tp_btf", "helper call is not allowed in probe"),
    ("fmt_three_ok", None),
    ("fmt_too_few", "Invalid format string"),
    ("fmt_pI5", "Invalid format string"),
    ("fmt_s_latin1_letter", "Invalid format string"),
    ("fmt_latin1_ok", None),
])
def test_typed_helper_messages(name, message):
    obj, prog = by_name(name).model()
    v = check_program(obj, prog)
    assert (v.error.message.splitlines()[-1] if v.error else None) == message


@pytest.mark.parametrize("helper", MODELLED)
def test_modelled_in_verifier_not_by_refs_only(helper):
    hid = helper_id(helper)
    assert verifier_unmodelled("kprobe", hid) is None
    assert refs_only("kprobe", hid).startswith("not modelled")


@needs_kernel
@pytest.mark.parametrize("probe", ALL, ids=lambda p: p.name)
def test_z3_judges_typed_helpers_as_the_kernel(probe):
    """The typed-argument helpers in the Z3 engine (model.symbolic.kmem: the verifier's
    btf_arg on the register the pointer is; task / cgroup storage as socket storage) and
    the constant strings (model.symbolic.const_strs: check_reg_const_str, the format):
    an unsafe execution exactly where the kernel rejects, unknown only where the engine
    leaves an offset the kernel may know as a constant to the verifier."""
    from timer_probes import judge

    from model.symbolic.engine import Engine

    j = judge(probe)
    obj, prog = probe.model()
    r = Engine(obj, prog).run()
    assert all(e.startswith("not modelled by the Z3 engine") for e in r.exhausted), r.exhausted
    assert not (r.failures and j.kernel_ok), [f.reason for f in r.failures]
    assert r.failures or r.exhausted or j.kernel_ok, j.kernel_msg
    assert r.failures or j.kernel_ok or probe.name == "str_var_off", probe.name


@needs_kernel
def test_random_formats_against_kernel():
    """Random bpf_snprintf formats over the specifier alphabet: the kernel's verdict."""
    import random

    from timer_probes import judge
    from typed_helper_probes import _f_

    rng = random.Random(13)
    alphabet = [b"%", b"d", b"l", b"p", b"s", b"c", b"x", b"K", b"I", b"4", b"k", b"u", b"B",
                b" ", b"-", b"0", b"9", b".", b"a", b"\xa0", b"\xe9", b"\x01", b"%%", b"%d"]
    for n in range(150):
        fmt = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        j = judge(_f_(f"rnd{n}", fmt, 8 * rng.randint(0, 4)))
        assert not (j.ours_ok and not j.kernel_ok), f"FALSE ACCEPT {fmt!r}: {j.kernel_msg}"
        assert j.ours_ok == j.kernel_ok, f"{fmt!r}: kernel {j.kernel_msg}, ours {j.ours_msg}"


C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("kprobe/do_nanosleep")
int fmt(void *ctx)
{
	char buf[32] = {};
	__u64 args[2] = {1, 2};
	char name[16];

	bpf_get_current_comm(name, sizeof(name));
	if (bpf_strncmp(name, sizeof(name), "sleep") == 0)
		bpf_snprintf(buf, sizeof(buf), "%d-%llx", args, sizeof(args));
	return buf[0];
}

SEC("kprobe/do_nanosleep")
int fmt_bad(void *ctx)
{
	char buf[32] = {};
	__u64 args[1] = {1};

	bpf_snprintf(buf, sizeof(buf), "%d %d", args, sizeof(args));
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_kernel
@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_c_program(tmp_path, capsys):
    """bpf_strncmp and bpf_snprintf from C (the literals in .rodata): skv and the kernel
    accept the program, and refuse the twin whose format needs two arguments but has one."""
    from callback_probes import check_c_program

    rows = check_c_program(tmp_path, capsys, C_SOURCE)
    assert rows["fmt"]["verdict"] == "accepted"
    assert rows["fmt_bad"]["verdict"] == "rejected"
    for name, row in rows.items():
        assert row["kernel"]["verdict"] == row["verdict"], row
        # the Z3 engine follows both (model.symbolic.const_strs): safe exactly when accepted
        assert row["models"]["M2"]["safe"] is (name == "fmt"), row
