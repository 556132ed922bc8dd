"""Assembled kfunc probes (tests/test_kfuncs.py): ``call kfunc NAME`` is replaced by the
running kernel's BTF id of NAME; struct member offsets come from its BTF (never
hard-coded). Each probe: (name, section, text); the kernel's verdict and words decide."""

from __future__ import annotations

import re

_ZERO_STACK = "".join(f"*(u64 *)(r10 - {8 * i}) = r2\n" for i in range(1, 7))
_CT_ARGS = "r2 = r10\nr2 += -40\nr3 = 12\nr4 = r10\nr4 += -16\nr5 = 12\n"
_TP, _TC, _XDP = "tp_btf/task_newtask", "tc", "xdp"
_COPY = "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall 148\n"  # bpf_copy_from_user
_ACQ_REL = ("if r0 == 0 goto +2\nr1 = r0\ncall kfunc bpf_task_release\n")


def _probes() -> list[tuple[str, str, str]]:
    from tracing_probes import member_off

    rp, gl = member_off("task_struct", "real_parent"), member_off("task_struct", "group_leader")
    cg, dfl = member_off("task_struct", "cgroups"), member_off("css_set", "dfl_cgrp")
    out = [
        ("rcu_ok", _TP, "call kfunc bpf_rcu_read_lock\ncall kfunc bpf_rcu_read_unlock\n"),
        ("rcu_nested", _TP, "call kfunc bpf_rcu_read_lock\ncall kfunc bpf_rcu_read_lock\n"
         "call kfunc bpf_rcu_read_unlock\ncall kfunc bpf_rcu_read_unlock\n"),
        ("rcu_exit_inside", _TP, "call kfunc bpf_rcu_read_lock\n"),
        ("rcu_unmatched", _TP, "call kfunc bpf_rcu_read_unlock\n"),
        ("rcu_unlock_in_subprog", _TP, "call kfunc bpf_rcu_read_lock\ncall pc+2\nr0 = 0\n"
         "exit\ncall kfunc bpf_rcu_read_unlock\n"),
        ("rcu_socket_filter", "socket", "call kfunc bpf_rcu_read_lock\n"
         "call kfunc bpf_rcu_read_unlock\n"),
        ("task_acquire_arg", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_task_acquire\n"
         + _ACQ_REL),
        ("task_acquire_leak", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_task_acquire\n"),
        ("task_release_unreferenced", _TP, "r1 = *(u64 *)(r1 + 0)\n"
         "call kfunc bpf_task_release\n"),
        ("task_release_scalar", _TP, "r1 = 5\ncall kfunc bpf_task_release\n"),
        ("task_release_null", _TP, "r1 = 0\ncall kfunc bpf_task_release\n"),
        ("task_release_stack", _TP, "r1 = r10\nr1 += -8\ncall kfunc bpf_task_release\n"),
        ("task_release_maybe_null", _TP, "r1 = *(u64 *)(r1 + 0)\n"
         "call kfunc bpf_task_acquire\nr1 = r0\ncall kfunc bpf_task_release\n"),
        ("task_release_moved", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_task_acquire\n"
         "if r0 == 0 goto +3\nr1 = r0\nr1 += 8\ncall kfunc bpf_task_release\n"),
        ("task_release_twice", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_task_acquire\n"
         "if r0 == 0 goto +4\nr6 = r0\nr1 = r0\ncall kfunc bpf_task_release\nr1 = r6\n"
         "call kfunc bpf_task_release\n"),
        ("task_use_after_release", _TP, "r1 = *(u64 *)(r1 + 0)\n"
         "call kfunc bpf_task_acquire\nif r0 == 0 goto +4\nr6 = r0\nr1 = r0\n"
         "call kfunc bpf_task_release\nr0 = *(u32 *)(r6 + 0)\n"),
        ("cgroup_acquire_task", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_cgroup_acquire\n"),
        ("from_pid_pointer", _TP, "r1 = r10\ncall kfunc bpf_task_from_pid\n"),
        ("from_pid_uninit", _TP, "call kfunc bpf_task_from_pid\n"),
        ("from_pid_ok", _TP, "r1 = 1\ncall kfunc bpf_task_from_pid\n" + _ACQ_REL),
        ("from_pid_xdp", _XDP, "r1 = 1\ncall kfunc bpf_task_from_pid\n" + _ACQ_REL),
        ("from_pid_socket", "socket", "r1 = 1\ncall kfunc bpf_task_from_pid\n"),
        ("from_pid_read", _TC, "r1 = 1\ncall kfunc bpf_task_from_pid\nif r0 == 0 goto +3\n"
         "r6 = *(u32 *)(r0 + 0)\nr1 = r0\ncall kfunc bpf_task_release\n"),
        ("current_task_acquire", _TP, "call 158\nr1 = r0\ncall kfunc bpf_task_acquire\n"
         + _ACQ_REL),
        ("current_task_tracepoint", "tracepoint/syscalls/sys_enter_nanosleep",
         "call 158\nr1 = r0\ncall kfunc bpf_task_acquire\n" + _ACQ_REL),
        ("current_task_kprobe", "kprobe/do_nanosleep", "call 158\nr1 = r0\n"
         "call kfunc bpf_task_acquire\n"),
        ("cgroup_from_id", _TC, "r1 = 1\ncall kfunc bpf_cgroup_from_id\nif r0 == 0 goto +2\n"
         "r1 = r0\ncall kfunc bpf_cgroup_release\n"),
        ("cgroup_release_task", _TC, "r1 = 1\ncall kfunc bpf_task_from_pid\n"
         "if r0 == 0 goto +2\nr1 = r0\ncall kfunc bpf_cgroup_release\n"),
        ("cgroup_rcu_field", _TP, f"r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + {cg})\n"
         f"r1 = *(u64 *)(r1 + {dfl})\ncall kfunc bpf_cgroup_acquire\nif r0 == 0 goto +2\n"
         "r1 = r0\ncall kfunc bpf_cgroup_release\n"),
        ("cpumask_test", _TP, "call kfunc bpf_cpumask_create\nif r0 == 0 goto +6\nr6 = r0\n"
         "r1 = 3\nr2 = r6\ncall kfunc bpf_cpumask_test_cpu\nr1 = r6\n"
         "call kfunc bpf_cpumask_release\n"),
        ("cpumask_set_first", _TP, "call kfunc bpf_cpumask_create\nif r0 == 0 goto +8\n"
         "r6 = r0\nr1 = 3\nr2 = r6\ncall kfunc bpf_cpumask_set_cpu\nr1 = r6\n"
         "call kfunc bpf_cpumask_first\nr1 = r6\ncall kfunc bpf_cpumask_release\n"),
        ("cpumask_acquire", _TP, "call kfunc bpf_cpumask_create\nif r0 == 0 goto +8\n"
         "r6 = r0\nr1 = r0\ncall kfunc bpf_cpumask_acquire\nr7 = r0\nr1 = r6\n"
         "call kfunc bpf_cpumask_release\nr1 = r7\ncall kfunc bpf_cpumask_release\n"),
        ("cpumask_leak", _TP, "call kfunc bpf_cpumask_create\n"),
        ("cpumask_tc", _TC, "call kfunc bpf_cpumask_create\n"),
        ("cpumask_set_task", _TP, "r2 = *(u64 *)(r1 + 0)\nr1 = 1\n"
         "call kfunc bpf_cpumask_set_cpu\n"),
        ("cpumask_first_task", _TP, "r1 = *(u64 *)(r1 + 0)\ncall kfunc bpf_cpumask_first\n"),
        ("syscall_from_pid", "syscall", "r1 = 1\ncall kfunc bpf_task_from_pid\n" + _ACQ_REL),
        ("syscall_parent_outside_rcu", "syscall", "r1 = 1\ncall kfunc bpf_task_from_pid\n"
         f"if r0 == 0 goto +8\nr6 = r0\nr1 = *(u64 *)(r6 + {rp})\n"
         "call kfunc bpf_task_acquire\n" + _ACQ_REL + "r1 = r6\ncall kfunc bpf_task_release\n"),
        ("syscall_parent_in_rcu", "syscall", "r1 = 1\ncall kfunc bpf_task_from_pid\n"
         "if r0 == 0 goto +10\nr6 = r0\ncall kfunc bpf_rcu_read_lock\n"
         f"r1 = *(u64 *)(r6 + {rp})\ncall kfunc bpf_task_acquire\n" + _ACQ_REL +
         "call kfunc bpf_rcu_read_unlock\nr1 = r6\ncall kfunc bpf_task_release\n"),
        ("ct_skb_scalar_ctx", _TC, "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\n"
         "call kfunc bpf_skb_ct_lookup\n"),
        ("ct_skb_ok", _TC, "r2 = 0\n" + _ZERO_STACK + _CT_ARGS + "call kfunc bpf_skb_ct_lookup\n"
         "if r0 == 0 goto +2\nr1 = r0\ncall kfunc bpf_ct_release\n"),
        ("ct_skb_leak", _TC, "r2 = 0\n" + _ZERO_STACK + _CT_ARGS
         + "call kfunc bpf_skb_ct_lookup\n"),
        ("ct_skb_short_stack", _TC, "r2 = 0\n" + _ZERO_STACK + "r2 = r10\nr2 += -8\nr3 = 12\n"
         "r4 = r10\nr4 += -16\nr5 = 12\ncall kfunc bpf_skb_ct_lookup\nif r0 == 0 goto +2\n"
         "r1 = r0\ncall kfunc bpf_ct_release\n"),
        ("ct_xdp_ok", _XDP, "r2 = 0\n" + _ZERO_STACK + _CT_ARGS + "call kfunc bpf_xdp_ct_lookup\n"
         "if r0 == 0 goto +3\nr6 = *(u32 *)(r0 + 0)\nr1 = r0\ncall kfunc bpf_ct_release\n"),
        ("ct_xdp_null_tuple", _XDP, "r2 = 0\n" + _ZERO_STACK + "r2 = 0\nr3 = 0\nr4 = r10\n"
         "r4 += -16\nr5 = 12\ncall kfunc bpf_xdp_ct_lookup\nif r0 == 0 goto +2\nr1 = r0\n"
         "call kfunc bpf_ct_release\n"),
        ("ct_release_task", _TC, "r1 = 1\ncall kfunc bpf_task_from_pid\nif r0 == 0 goto +2\n"
         "r1 = r0\ncall kfunc bpf_ct_release\n"),
        ("uninit_scalar_arg", _TP, "call kfunc bpf_cpumask_create\nif r0 == 0 goto +4\n"
         "r6 = r0\nr2 = r0\ncall kfunc bpf_cpumask_set_cpu\nr1 = r6\n"
         "call kfunc bpf_cpumask_release\n"),
        ("uninit_pointer_arg", _TP, "r1 = 1\ncall kfunc bpf_cpumask_set_cpu\n"),
        ("ct_uninit_size", _TC, "r2 = r10\nr2 += -16\ncall kfunc bpf_skb_ct_lookup\n"),
        ("ct_pointer_size", _TC, "r2 = r10\nr2 += -16\nr3 = r10\nr4 = r10\nr5 = 8\n"
         "call kfunc bpf_skb_ct_lookup\n"),
        ("ct_moved_ctx", _TC, "r1 += 8\nr2 = r10\nr2 += -16\nr3 = 8\nr4 = r10\n"
         "r4 += -16\nr5 = 8\ncall kfunc bpf_skb_ct_lookup\n"),
        ("ct_size_past_stack", _TC, "r2 = 0\n*(u64 *)(r10 - 8) = r2\nr2 = r10\nr2 += -8\n"
         "r3 = 100\nr4 = r10\nr4 += -8\nr5 = 8\ncall kfunc bpf_skb_ct_lookup\n"),
        ("xdp_ct_in_tc", _TC, "r2 = 0\n*(u64 *)(r10 - 8) = r2\n*(u64 *)(r10 - 16) = r2\n"
         "r2 = r10\nr2 += -16\nr3 = 8\nr4 = r10\nr4 += -16\nr5 = 8\n"
         "call kfunc bpf_xdp_ct_lookup\n"),
        ("sleepable_helper_in_rcu", "syscall", "call kfunc bpf_rcu_read_lock\n" + _COPY
         + "call kfunc bpf_rcu_read_unlock\n"),
        ("sleepable_helper_outside_rcu", "syscall", _COPY),
        # bpf_sock_destroy: iterators only, a trusted socket (iter/tcp's sk_common, at 8)
        ("sock_destroy_ok", "iter/tcp", "r1 = *(u64 *)(r1 + 8)\nif r1 == 0 goto +1\n"
         "call kfunc bpf_sock_destroy\n"),
        ("sock_destroy_maybe_null", "iter/tcp", "r1 = *(u64 *)(r1 + 8)\n"
         "call kfunc bpf_sock_destroy\n"),
        ("sock_destroy_moved", "iter/tcp", "r1 = *(u64 *)(r1 + 8)\nif r1 == 0 goto +2\n"
         "r1 += 8\ncall kfunc bpf_sock_destroy\n"),
        ("sock_destroy_meta", "iter/tcp", "r1 = *(u64 *)(r1 + 0)\n"
         "call kfunc bpf_sock_destroy\n"),
        ("sock_destroy_tp_btf", _TP, "r1 = 0\ncall kfunc bpf_sock_destroy\n"),
        ("sys_bpf_in_rcu", "syscall", "r1 = 0\n*(u64 *)(r10 - 16) = r1\n"
         "call kfunc bpf_rcu_read_lock\nr1 = 0\nr2 = r10\nr2 += -16\nr3 = 8\ncall 166\n"
         "call kfunc bpf_rcu_read_unlock\n"),
        # string kfuncs: ``__ign`` pointers are not checked at all (R2 of strstr never
        # set here), a plain argument must be a scalar, the call clobbers R1-R5
        ("strlen_of_ctx", "socket", "call kfunc bpf_strlen\n"),
        ("strstr_uninit_arg", _XDP, "r1 = 5\ncall kfunc bpf_strstr\n"),
        ("strnlen_count_pointer", _TC, "r1 = 0\nr2 = r10\ncall kfunc bpf_strnlen\n"),
        ("strchr_char_uninit", _TP, "r1 = r10\ncall kfunc bpf_strchr\n"),
        ("strcmp_clobbers_r3", _XDP, "r1 = 0\nr2 = 0\nr3 = 1\ncall kfunc bpf_strcmp\n"
         "r0 = r3\n"),
        ("strrchr_result_unbounded", _TC, "r1 = 0\nr2 = 47\ncall kfunc bpf_strrchr\n"
         "if r0 s< 0 goto +3\nr2 = r10\nr2 += r0\nr0 = *(u8 *)(r2 - 1)\n"),
    ]
    for field, off in (("real_parent", rp), ("group_leader", gl)):
        out += [
            (f"acquire_{field}", _TP, f"r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + {off})\n"
             "call kfunc bpf_task_acquire\n" + _ACQ_REL),
            (f"acquire_{field}_in_rcu", _TP, "r6 = *(u64 *)(r1 + 0)\n"
             f"call kfunc bpf_rcu_read_lock\nr1 = *(u64 *)(r6 + {off})\n"
             "call kfunc bpf_task_acquire\n" + _ACQ_REL + "call kfunc bpf_rcu_read_unlock\n"),
            (f"acquire_{field}_after_unlock", _TP, "r6 = *(u64 *)(r1 + 0)\n"
             f"call kfunc bpf_rcu_read_lock\nr7 = *(u64 *)(r6 + {off})\n"
             "call kfunc bpf_rcu_read_unlock\nr1 = r7\ncall kfunc bpf_task_acquire\n"
             + _ACQ_REL),
            (f"release_{field}", _TP, f"r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + {off})\n"
             "call kfunc bpf_task_release\n"),
            (f"cpumask_test_{field}", _TP, f"r2 = *(u64 *)(r1 + 0)\n"
             f"r2 = *(u64 *)(r2 + {off})\nr1 = 0\ncall kfunc bpf_cpumask_test_cpu\n"),
        ]
    return [(n, s, t + "r0 = 0\nexit") for n, s, t in out]


def resolve(text: str) -> str:
    """``call kfunc NAME`` -> ``call kfunc ID`` (the running kernel's BTF)."""
    from model.elf.btf import FUNC
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()
    return re.sub(r"kfunc ([a-z_]\w*)", lambda m: f"kfunc {btf.find(m.group(1), FUNC).id}",
                  text)


def probes() -> list[tuple[str, str, str]]:
    try:
        return _probes()
    except Exception:  # no vmlinux BTF: the tests needing it skip
        return []
