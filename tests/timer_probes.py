"""Probe programs for bpf_timer_* (``tests/test_timers.py``) and bpf_find_vma
(``tests/test_find_vma.py``), in the callback probes' text syntax (``rN = func LABEL``,
tests/callback_probes.py): maps whose value BTF puts a ``struct bpf_timer`` at
:data:`TIMER_OFF` (``MapDef.fields`` in the model, a BTF-described map in the kernel,
through model.kernel.objload). Names ending in ``_ok`` are the valid twins; the kernel
decides what each one expects."""

from __future__ import annotations

from dataclasses import dataclass, field

from callback_probes import CbProbe

INIT, SET_CB, START, CANCEL = 169, 170, 171, 172
FIND_VMA, TASK_BTF = 180, 158
TIMER_OFF = 8
HASH, ARRAY, LRU_HASH, PERCPU_ARRAY = 1, 2, 9, 6
VALUE = 24  # int at 0, int at 4, the timer at 8 (16 bytes)
TIMER = {TIMER_OFF: ("bpf_timer", 16)}


@dataclass
class FieldProbe(CbProbe):
    """A callback probe whose map k has the special fields ``fields[k]`` (offset ->
    (struct, size); None: a map without BTF)."""

    fields: list = field(default_factory=list)
    license: str = "GPL"

    def model(self):
        obj, prog = super().model()
        obj.license = self.license
        for k, f in enumerate(self.fields):
            if f is not None:
                obj.maps[f"m{k}"].fields = tuple(
                    (name, off, size) for off, (name, size) in sorted(f.items()))
        return obj, prog


def _lookup(map_ld: str = "ld_pseudo r1, 1, 0") -> str:
    """r7: the value of key 0 of map 0, NULL-checked."""
    return (f"r1 = 0\n*(u32 *)(r10 - 4) = r1\n{map_ld}\nr2 = r10\nr2 += -4\ncall 1\n"
            "if r0 == 0 goto out\nr7 = r0\n")


_OUT = "out:\nr0 = 0\nexit\n"
_INIT = f"r1 = r7\nr1 += {TIMER_OFF}\nld_pseudo r2, 1, 0\nr3 = 1\ncall {INIT}\n"
_SET = f"r1 = r7\nr1 += {TIMER_OFF}\nr2 = func cb\ncall {SET_CB}\n"
_START = f"r1 = r7\nr1 += {TIMER_OFF}\nr2 = 1000\nr3 = 0\ncall {START}\n"
_CANCEL = f"r1 = r7\nr1 += {TIMER_OFF}\ncall {CANCEL}\n"
_CB0 = "cb:\nr0 = 0\nexit\n"


def _tp(name: str, body: str, cb: str = _CB0, ptype: str = "sched_cls",
        maps=((HASH, 4, VALUE, 4, 0),), fields=(TIMER,), head: str | None = None):
    cb = cb if "func cb" in body + cb or "call sub" in body else ""  # (none unreachable)
    return FieldProbe(name, ptype, (head if head is not None else _lookup()) + body + _OUT
                      + cb, list(maps), fields=list(fields))


TIMER_PROBES = [
    _tp("timer_init_ok", _INIT),
    _tp("timer_all_ok", _INIT + _SET + _START + _CANCEL),
    _tp("timer_array_ok", _INIT + _SET + _START, maps=[(ARRAY, 4, VALUE, 1, 0)]),
    _tp("timer_lru_ok", _INIT + _SET + _START, maps=[(LRU_HASH, 4, VALUE, 4, 0)]),
    _tp("timer_xdp_ok", _INIT + _SET + _START, ptype="xdp"),
    _tp("timer_socket_filter_ok", _INIT + _SET, ptype="socket_filter"),
    _tp("timer_kprobe", _INIT, ptype="kprobe"),
    _tp("timer_kprobe_no_call", "", ptype="kprobe"),  # only naming the map: refused?
    _tp("timer_wrong_map", _INIT.replace("ld_pseudo r2, 1, 0", "ld_pseudo r2, 1, 1"),
        maps=[(HASH, 4, VALUE, 4, 0)] * 2, fields=[TIMER, TIMER]),
    _tp("timer_wrong_map_plain", _INIT.replace("ld_pseudo r2, 1, 0", "ld_pseudo r2, 1, 1"),
        maps=[(HASH, 4, VALUE, 4, 0), (HASH, 4, 8, 4, 0)], fields=[TIMER, None]),
    _tp("timer_map_arg_scalar", _INIT.replace("ld_pseudo r2, 1, 0", "r2 = 0")),
    _tp("timer_wrong_offset", _INIT.replace(f"r1 += {TIMER_OFF}", "r1 += 4")),
    _tp("timer_offset_zero", _INIT.replace(f"r1 += {TIMER_OFF}\n", "")),
    _tp("timer_offset_inside", _INIT.replace(f"r1 += {TIMER_OFF}", f"r1 += {TIMER_OFF + 8}")),
    _tp("timer_variable_offset", "call 7\nr0 &= 8\nr1 = r7\nr1 += r0\nld_pseudo r2, 1, 0\n"
        f"r3 = 1\ncall {INIT}\n"),
    _tp("timer_stack_ptr", f"r1 = r10\nr1 += -16\nld_pseudo r2, 1, 0\nr3 = 1\ncall {INIT}\n"),
    _tp("timer_ctx_ptr", f"r1 = r6\nld_pseudo r2, 1, 0\nr3 = 1\ncall {INIT}\n",
        head="r6 = r1\n" + _lookup()),
    _tp("timer_map_without_btf", _INIT, fields=[None]),
    _tp("timer_map_without_timer", _INIT, fields=[{0: ("bpf_spin_lock", 4)}]),
    _tp("timer_missing_null_check", _INIT, head=_lookup().replace(
        "if r0 == 0 goto out\n", "")),
    _tp("timer_direct_read", "r1 = *(u64 *)(r7 + 8)\n"),
    _tp("timer_direct_write", "r1 = 0\n*(u64 *)(r7 + 16) = r1\n"),
    _tp("timer_direct_write_imm", "*(u32 *)(r7 + 12) = 0\n"),
    _tp("timer_read_before_ok", "r1 = *(u64 *)(r7 + 0)\n"),
    _tp("timer_overlapping_write", "r1 = 0\n*(u64 *)(r7 + 4) = r1\n"),
    _tp("timer_atomic", "r1 = 1\nlock *(u64 *)(r7 + 8) += r1\n"),
    _tp("timer_helper_overwrite", "r1 = r6\nr2 = 0\nr3 = r7\nr4 = 24\ncall 26\n",
        head="r6 = r1\n" + _lookup()),
    _tp("timer_helper_read_before_ok", "r1 = r6\nr2 = 0\nr3 = r7\nr4 = 8\ncall 26\n",
        head="r6 = r1\n" + _lookup()),
    _tp("timer_set_cb_ret1", _INIT + _SET, cb="cb:\nr0 = 1\nexit\n"),
    _tp("timer_set_cb_ret_unknown", _INIT + _SET, cb="cb:\ncall 7\nexit\n"),
    _tp("timer_set_cb_ret_masked", _INIT + _SET, cb="cb:\ncall 7\nr0 &= 1\nexit\n"),
    _tp("timer_set_cb_ret_ptr", _INIT + _SET, cb="cb:\nr0 = r1\nexit\n"),
    _tp("timer_set_cb_ret_uninit", _INIT + _SET, cb="cb:\nexit\n"),
    _tp("timer_set_cb_reads_r4", _INIT + _SET, cb="cb:\nr0 = r4\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_reads_r6", _INIT + _SET, cb="cb:\nr0 = r6\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_reads_stack_ok", _INIT + _SET, cb="cb:\nr0 = *(u64 *)(r10 - 8)\n"
        "r0 = 0\nexit\n"),
    _tp("timer_set_cb_value_ok", _INIT + _SET, cb="cb:\nr0 = *(u32 *)(r3 + 0)\n"
        "r0 = *(u32 *)(r2 + 0)\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_value_oob", _INIT + _SET, cb="cb:\nr0 = *(u32 *)(r3 + 24)\nr0 = 0\n"
        "exit\n"),
    _tp("timer_set_cb_key_oob", _INIT + _SET, cb="cb:\nr0 = *(u32 *)(r2 + 4)\nr0 = 0\n"
        "exit\n"),
    _tp("timer_set_cb_key_write", _INIT + _SET, cb="cb:\nr0 = 0\n*(u32 *)(r2 + 0) = r0\n"
        "exit\n"),
    _tp("timer_set_cb_value_timer_read", _INIT + _SET, cb="cb:\nr0 = *(u64 *)(r3 + 8)\n"
        "r0 = 0\nexit\n"),
    _tp("timer_set_cb_restart_ok", _INIT + _SET, cb=f"cb:\nr1 = r3\nr1 += {TIMER_OFF}\n"
        f"r2 = 1000\nr3 = 0\ncall {START}\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_self_ok", _INIT + _SET, cb=f"cb:\nr1 = r3\nr1 += {TIMER_OFF}\n"
        f"r2 = func cb\ncall {SET_CB}\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_lookup_ok", _INIT + _SET, cb="cb:\nr2 = r10\nr2 += -8\nr3 = 0\n"
        "*(u64 *)(r2 + 0) = r3\ncall 1\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_map_ptr_ok", _INIT + _SET, cb="cb:\nr2 = r10\nr2 += -8\nr3 = 0\n"
        "*(u64 *)(r2 + 0) = r3\ncall 1\nif r0 == 0 goto cbout\nr0 = *(u32 *)(r0 + 0)\n"
        "cbout:\nr0 = 0\nexit\n"),
    _tp("timer_set_cb_scalar", _INIT + f"r1 = r7\nr1 += {TIMER_OFF}\nr2 = 0\n"
        f"call {SET_CB}\n"),
    _tp("timer_set_cb_wrong_offset", _INIT + _SET.replace(f"r1 += {TIMER_OFF}", "r1 += 0")),
    _tp("timer_set_cb_leak_lock", _INIT + _SET, cb="cb:\nr1 = r3\ncall 93\nr0 = 0\nexit\n",
        fields=[{0: ("bpf_spin_lock", 4), **TIMER}]),
    _tp("timer_set_cb_sub_ok", _INIT + _SET, cb="cb:\ncall sub\nr0 = 0\nexit\nsub:\n"
        "r0 = 0\nexit\n"),
    _tp("timer_set_cb_sub_ret", _INIT + _SET, cb="cb:\ncall sub\nexit\nsub:\nr0 = 1\nexit\n"),
    _tp("timer_start_wrong_offset", _START.replace(f"r1 += {TIMER_OFF}", "r1 += 16")),
    _tp("timer_start_only_ok", _START),
    _tp("timer_cancel_only_ok", _CANCEL),
    _tp("timer_cancel_null", "r1 = 0\n" + f"call {CANCEL}\n"),
    _tp("timer_two_maps_ok", _INIT + _SET + "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
        "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr7 = r0\n"
        + _INIT.replace("ld_pseudo r2, 1, 0", "ld_pseudo r2, 1, 1") + _SET,
        maps=[(HASH, 4, VALUE, 4, 0), (ARRAY, 4, VALUE, 2, 0)], fields=[TIMER, TIMER]),
    _tp("timer_two_maps_cb_reads_oob", _INIT + _SET + "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
        "ld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr7 = r0\n"
        + _INIT.replace("ld_pseudo r2, 1, 0", "ld_pseudo r2, 1, 1") + _SET,
        cb="cb:\nr0 = *(u32 *)(r3 + 28)\nr0 = 0\nexit\n",
        maps=[(HASH, 4, VALUE + 8, 4, 0), (ARRAY, 4, VALUE, 2, 0)], fields=[TIMER, TIMER]),
    _tp("timer_direct_value_ok", f"ld_pseudo r1, 2, 0, {TIMER_OFF}\nld_pseudo r2, 1, 0\n"
        f"r3 = 1\ncall {INIT}\n", maps=[(ARRAY, 4, VALUE, 1, 0)]),
    _tp("timer_cb_init_with_r1_ok", _INIT + _SET, cb=f"cb:\nr6 = r1\nr1 = r3\n"
        f"r1 += {TIMER_OFF}\nr2 = r6\nr3 = 1\ncall {INIT}\nr0 = 0\nexit\n"),
    _tp("timer_cb_ld_abs", _INIT + _SET, cb="cb:\nr0 = *(u8 *)skb[0]\nr0 = 0\nexit\n"),
    _tp("timer_cb_ref_leak", _INIT + _SET, cb="cb:\nld_pseudo r1, 1, 1\nr2 = 8\nr3 = 0\n"
        "call 131\nr0 = 0\nexit\n", maps=[(HASH, 4, VALUE, 4, 0), (27, 0, 0, 4096, 0)],
        fields=[TIMER, None]),
    _tp("timer_cb_ref_released_ok", _INIT + _SET, cb="cb:\nld_pseudo r1, 1, 1\nr2 = 8\n"
        "r3 = 0\ncall 131\nif r0 == 0 goto cbout\nr1 = r0\nr2 = 0\ncall 133\ncbout:\n"
        "r0 = 0\nexit\n", maps=[(HASH, 4, VALUE, 4, 0), (27, 0, 0, 4096, 0)],
        fields=[TIMER, None]),
    _tp("timer_init_twice_ok", _INIT + _INIT),
    _tp("timer_set_cb_under_lock", "r1 = r7\ncall 93\n" + _SET + "r1 = r7\ncall 94\n",
        fields=[{0: ("bpf_spin_lock", 4), **TIMER}]),
    _tp("timer_cb_deep_stack_ok", "r1 = 0\n*(u64 *)(r10 - 512) = r1\n" + _INIT + _SET,
        cb="cb:\nr1 = 0\n*(u64 *)(r10 - 512) = r1\nr0 = 0\nexit\n"),
    _tp("timer_cb_stack_too_deep", _INIT + _SET, cb="cb:\nr1 = 0\n"
        "*(u64 *)(r10 - 520) = r1\nr0 = 0\nexit\n"),
    _tp("timer_spilled_value_ok", "*(u64 *)(r10 - 16) = r7\nr7 = *(u64 *)(r10 - 16)\n"
        + _INIT),
    _tp("timer_offset_back_and_forth_ok", "r1 = r7\nr1 += 16\nr1 += -8\n"
        f"ld_pseudo r2, 1, 0\nr3 = 1\ncall {INIT}\n"),
    _tp("timer_offset_const_scalar_ok", "r1 = r7\nr2 = 8\nr1 += r2\n"
        f"ld_pseudo r2, 1, 0\nr3 = 1\ncall {INIT}\n"),
    _tp("timer_set_cb_in_subprog_ok", "r1 = r7\ncall sub\n", cb=_CB0 + "sub:\n"
        "r6 = r1\n" + _SET.replace("r1 = r7", "r1 = r6") + "r0 = 0\nexit\n"),
    _tp("timer_rdonly_prog_map", _INIT + _SET + _START, maps=[(HASH, 4, VALUE, 4, 1 << 7)]),
    _tp("timer_wronly_prog_map", _INIT + _SET + _START, maps=[(HASH, 4, VALUE, 4, 1 << 8)]),
    _tp("timer_non_gpl", _INIT),
    _tp("timer_two_timers_first", _INIT.replace(f"r1 += {TIMER_OFF}", "r1 += 0"),
        maps=[(HASH, 4, 32, 4, 0)], fields=[{0: ("bpf_timer", 16), 16: ("bpf_timer", 16)}]),
    _tp("timer_two_timers_second", _INIT.replace(f"r1 += {TIMER_OFF}", "r1 += 16"),
        maps=[(HASH, 4, 32, 4, 0)], fields=[{0: ("bpf_timer", 16), 16: ("bpf_timer", 16)}]),
    _tp("timer_two_timers_read_ok", "r1 = *(u64 *)(r7 + 0)\n",
        maps=[(HASH, 4, 32, 4, 0)], fields=[{0: ("bpf_timer", 16), 16: ("bpf_timer", 16)}]),
    _tp("timer_beside_wq_ok", _INIT.replace(f"r1 += {TIMER_OFF}", "r1 += 0"),
        maps=[(HASH, 4, 32, 4, 0)], fields=[{0: ("bpf_timer", 16), 16: ("bpf_wq", 16)}]),
    _tp("timer_beside_lock_ok", _INIT, fields=[{0: ("bpf_spin_lock", 4), **TIMER}]),
    _tp("timer_at_zero_ok", _INIT.replace(f"r1 += {TIMER_OFF}\n", ""),
        maps=[(ARRAY, 4, 16, 1, 0)], fields=[{0: ("bpf_timer", 16)}]),
    _tp("lock_rdonly_prog_map", "", maps=[(HASH, 4, VALUE, 4, 1 << 7)],
        fields=[{0: ("bpf_spin_lock", 4)}]),
    _tp("timer_cb_no_btf_func_info", _INIT + _SET),
    _tp("timer_percpu_array", "", maps=[(PERCPU_ARRAY, 4, VALUE, 1, 0)]),
]
TIMER_PROBES[-2].btf = False
#: every program type of the probe sections: tracing types may not name a timer map
TIMER_PROBES += [_tp(f"timer_type_{t}", _INIT + _SET + _START, ptype=t) for t in (
    "tracepoint", "perf_event", "raw_tracepoint")]
TIMER_PROBES += [_tp(f"timer_type_{t}_ok", _INIT + _SET + _START, ptype=t) for t in (
    "cgroup_skb", "sock_ops")]
next(p for p in TIMER_PROBES if p.name == "timer_non_gpl").license = "MIT"


_TASK = f"call {TASK_BTF}\nr1 = r0\n"
_VMA = "r2 = 0\nr3 = func cb\nr4 = 0\nr5 = 0\ncall 180\nr0 = 0\nexit\n"
_VMA_CTX = "r2 = 0\nr3 = func cb\nr4 = r10\nr4 += -8\nr5 = 0\ncall 180\nr0 = 0\nexit\n"


def _offsets() -> dict[str, int]:
    """Member offsets the probes use, from the running kernel's BTF (never hard-coded)."""
    from tracing_probes import member_off

    return {"real_parent": member_off("task_struct", "real_parent"),
            "group_leader": member_off("task_struct", "group_leader"),
            "mm": member_off("task_struct", "mm"),
            "vm_mm": member_off("vm_area_struct", "vm_mm")}


def _vp(name: str, text: str, cb: str = _CB0, ptype: str = "kprobe", maps=()):
    body = text + cb
    if "{" in body:
        body = body.format(**_offsets())
    return FieldProbe(name, ptype, body, list(maps))


FIND_VMA_PROBES = [
    _vp("vma_ok", _TASK + _VMA),
    _vp("vma_ret1_ok", _TASK + _VMA, cb="cb:\nr0 = 1\nexit\n"),
    _vp("vma_ret2", _TASK + _VMA, cb="cb:\nr0 = 2\nexit\n"),
    _vp("vma_ret_unknown", _TASK + _VMA, cb="cb:\ncall 7\nexit\n"),
    _vp("vma_ret_ptr", _TASK + _VMA, cb="cb:\nr0 = r2\nexit\n"),
    _vp("vma_ret_uninit", _TASK + _VMA, cb="cb:\nexit\n"),
    _vp("vma_cb_reads_r4", _TASK + _VMA, cb="cb:\nr0 = r4\nr0 = 0\nexit\n"),
    _vp("vma_cb_reads_vma_ok", _TASK + _VMA, cb="cb:\nr0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n"),
    _vp("vma_cb_writes_vma", _TASK + _VMA, cb="cb:\nr0 = 0\n*(u64 *)(r2 + 0) = r0\nexit\n"),
    _vp("vma_cb_reads_task_ok", _TASK + _VMA, cb="cb:\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\n"
        "exit\n"),
    _vp("vma_cb_reads_null_ctx", _TASK + _VMA, cb="cb:\nr0 = *(u64 *)(r3 + 0)\nr0 = 0\n"
        "exit\n"),
    _vp("vma_ctx_ok", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _TASK + _VMA_CTX,
        cb="cb:\nr0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit\n"),
    _vp("vma_ctx_uninit_read_ok", _TASK + _VMA_CTX, cb="cb:\nr0 = *(u64 *)(r3 + 0)\nr0 = 0\n"
        "exit\n"),
    _vp("vma_ctx_write_ok", _TASK + _VMA_CTX, cb="cb:\nr0 = 0\n*(u64 *)(r3 + 0) = r0\n"
        "exit\n"),
    _vp("vma_ctx_write_oob", _TASK + _VMA_CTX, cb="cb:\nr0 = 0\n*(u64 *)(r3 + 8) = r0\n"
        "exit\n"),
    _vp("vma_task_scalar", "r1 = 0\n" + _VMA),
    _vp("vma_task_ctx", _VMA),
    _vp("vma_task_legacy", "call 35\nr1 = r0\n" + _VMA),
    _vp("vma_task_offset", _TASK + "r1 += 8\n" + _VMA),
    _vp("vma_task_stack", "r1 = r10\nr1 += -8\n" + _VMA),
    _vp("vma_cb_scalar", _TASK + _VMA.replace("r3 = func cb", "r3 = 0")),
    _vp("vma_ctx_ctx", "r6 = r1\n" + _TASK + _VMA.replace("r4 = 0", "r4 = r6")),
    _vp("vma_xdp_ok", _TASK + _VMA, ptype="xdp"),
    _vp("vma_sched_cls_ok", _TASK + _VMA, ptype="sched_cls"),
    _vp("vma_socket_filter_ok", _TASK + _VMA, ptype="socket_filter"),
    *(_vp(f"vma_type_{t}_ok", _TASK + _VMA, ptype=t) for t in (
        "cgroup_skb", "sock_ops", "tracepoint", "perf_event", "raw_tracepoint")),
    _vp("vma_cb_calls_vma_ok", _TASK + _VMA, cb="cb:\n" + _VMA.replace(
        "r3 = func cb", "r3 = func cb2").replace("r0 = 0\nexit\n", "") + "r0 = 0\nexit\n"
        "cb2:\nr0 = 0\nexit\n"),
    _vp("vma_cb_uses_vma_field_ok", _TASK + _VMA, cb="cb:\nr0 = *(u64 *)(r2 + 8)\n"
        "r0 &= 1\nexit\n"),
    _vp("vma_task_real_parent_ok", _TASK + "r1 = *(u64 *)(r1 + {real_parent})\n" + _VMA),
    _vp("vma_task_group_leader_ok", _TASK + "r1 = *(u64 *)(r1 + {group_leader})\n" + _VMA),
    _vp("vma_task_mm", _TASK + "r1 = *(u64 *)(r1 + {mm})\n" + _VMA),
    _vp("vma_cb_reads_vm_mm_deref", _TASK + _VMA, cb="cb:\nr0 = *(u64 *)(r2 + {vm_mm})\n"
        "r0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit\n"),
    _vp("vma_cb_returns_task", _TASK + _VMA, cb="cb:\nr0 = r1\nexit\n"),
    _vp("vma_in_subprog_ok", "call sub\nr0 = 0\nexit\nsub:\n" + _TASK + _VMA),
    _vp("vma_cb_spills_vma_to_ctx", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _TASK
        + _VMA_CTX.replace("r0 = 0\nexit\n", "r1 = *(u64 *)(r10 - 8)\n"
                           "r0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit\n"),
        cb="cb:\n*(u64 *)(r3 + 0) = r2\nr0 = 0\nexit\n"),
    _vp("vma_cb_writes_ctx_then_read_ok", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _TASK
        + _VMA_CTX.replace("r0 = 0\nexit\n", "r0 = *(u64 *)(r10 - 8)\nexit\n"),
        cb="cb:\nr1 = 7\n*(u64 *)(r3 + 0) = r1\nr0 = 0\nexit\n"),
    # tp_btf/sched_switch (bool preempt, struct task_struct *prev, *next, ...): prev is a
    # trusted task; a raw_tp's arguments are plain numbers
    _vp("vma_tp_btf_prev_ok", "r1 = *(u64 *)(r1 + 8)\n" + _VMA, ptype="tp_btf"),
    _vp("vma_tp_btf_preempt", "r1 = *(u64 *)(r1 + 0)\n" + _VMA, ptype="tp_btf"),
    _vp("vma_raw_tp_prev", "r1 = *(u64 *)(r1 + 8)\n" + _VMA, ptype="raw_tp"),
    _vp("vma_cb_vma_as_task", _TASK + _VMA, cb="cb:\nr1 = r2\n" + _VMA.replace(
        "r3 = func cb", "r3 = func cb2").replace("r0 = 0\nexit\n", "") + "r0 = 0\nexit\n"
        "cb2:\nr0 = 0\nexit\n"),
]


@dataclass
class Judged:
    kernel_ok: bool
    kernel_msg: str  # "accept", or the kernel's rejection reason
    ours_ok: bool
    ours_msg: str  # "accept", or the last line of skv's rejection


def judge(p: FieldProbe) -> Judged:
    """The kernel's verdict (maps created with their value BTF) beside the abstract
    verifier's. A map the kernel cannot even create is a kernel rejection."""
    from callback_probes import kernel_load
    from model.errors import SkvError
    from model.kernel.oracle import rejection_reason
    from model.verifier.checker import check_program

    obj, prog = p.model()
    try:
        k = kernel_load(obj, prog)
        kok, kmsg = k.ok, "accept" if k.ok else rejection_reason(k.log)
    except SkvError as e:  # BPF_MAP_CREATE refused (a timer in a percpu_array)
        kok, kmsg = False, f"map creation: {e}"
    v = check_program(obj, prog)
    return Judged(kok, kmsg, v.accepted,
                  "accept" if v.accepted else v.error.message.splitlines()[-1])


def assert_like_kernel(p: FieldProbe, worded: dict[str, str],
                       imprecise: dict[str, str] | None = None) -> None:
    """The same verdict as the kernel (never a false accept), the valid twins (``_ok``)
    loading in both, and the kernel's own words for its rejections (``worded``: probe name
    -> the words of skv's differently-worded reason). ``imprecise``: the known false
    rejects -> the words of skv's reason."""
    j = judge(p)
    where = f"{p.name}:\n{p.text}\nkernel: {j.kernel_msg}\nours: {j.ours_msg}"
    assert not (j.ours_ok and not j.kernel_ok), "FALSE ACCEPT " + where
    if p.name in (imprecise or {}):
        assert j.kernel_ok and not j.ours_ok and imprecise[p.name] in j.ours_msg, where
        return
    assert j.ours_ok == j.kernel_ok, where
    assert p.name.endswith("_ok") == j.kernel_ok, where
    if not j.kernel_ok:
        if p.name in worded:
            assert worded[p.name] in j.ours_msg, where
        else:
            assert j.ours_msg == j.kernel_msg, where
