"""Probe programs for the per-CPU helpers and bpf_copy_from_user_task
(``tests/test_percpu_helpers.py``): bpf_map_lookup_percpu_elem, bpf_this_cpu_ptr /
bpf_per_cpu_ptr with their ``ld_imm64`` of a kernel symbol's BTF id, and
bpf_copy_from_user_task in a (sleepable) syscall program. Names ending in ``_ok`` are the
valid twins; the kernel decides. Kernel BTF ids and member offsets come from the running
kernel's BTF, never hard-coded."""

from __future__ import annotations

from dataclasses import dataclass

from timer_probes import FieldProbe

PERCPU_ARRAY = (6, 4, 8, 4, 0)
PERCPU_HASH = (5, 4, 8, 4, 0)
LRU_PERCPU_HASH = (10, 4, 8, 4, 0)
RDONLY_PERCPU_ARRAY = (6, 4, 8, 4, 1 << 7)  # BPF_F_RDONLY_PROG
ARRAY, HASH = (2, 4, 8, 4, 0), (1, 4, 8, 4, 0)
LOOKUP_PERCPU, THIS_CPU_PTR, PER_CPU_PTR, COPY_FROM_USER_TASK = 195, 154, 153, 191
_KEY = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
_END = "r0 = 0\nexit\n"
_CHECK = "if r0 == 0 goto o\n"
_O = "o:\n" + _END


@dataclass
class Probe(FieldProbe):
    """A probe whose ``{name}`` fields are filled from the running kernel's BTF (see
    :func:`kernel_ids`) when the program is built; ``section``: the program's own (a
    sleepable ``uprobe.s`` / ``iter.s`` one) instead of its type's."""

    section: str = ""

    def model(self):
        if "{" in self.text:
            self.text = self.text.format(**kernel_ids())
        obj, prog = super().model()
        if self.section:
            prog.section = self.section
        return obj, prog


def kernel_ids() -> dict[str, int]:
    """BTF ids (per-CPU VARs, a struct type, a kernel FUNC) and task_struct member offsets."""
    from model.elf import btf as B
    from model.platform.tracing_targets import vmlinux_btf
    from tracing_probes import member_off

    b = vmlinux_btf()
    return {"rq": b.find("runqueues", B.VAR).id,
            "active": b.find("bpf_prog_active", B.VAR).id,
            "task_type": b.find("task_struct", B.STRUCT).id,
            "func": b.find("bpf_fentry_test1", B.FUNC).id,
            "real_parent": member_off("task_struct", "real_parent"),
            "group_leader": member_off("task_struct", "group_leader"),
            "mm": member_off("task_struct", "mm")}


def _pe(name: str, body: str, maps=(PERCPU_ARRAY,), ptype: str = "xdp", cpu: str = "r3 = 0\n"):
    return Probe(name, ptype, _KEY + cpu + f"call {LOOKUP_PERCPU}\n" + body, list(maps))


LOOKUP_PROBES = [
    _pe("pe_ok", _END),
    _pe("pe_read_ok", _CHECK + "r0 = *(u64 *)(r0 + 0)\n" + _O),
    _pe("pe_write_ok", _CHECK + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n" + _O),
    _pe("pe_hash_ok", _CHECK + "r0 = *(u64 *)(r0 + 0)\n" + _O, maps=(PERCPU_HASH,)),
    _pe("pe_lru_ok", _CHECK + "r0 = *(u64 *)(r0 + 0)\n" + _O, maps=(LRU_PERCPU_HASH,)),
    _pe("pe_socket_filter_ok", _END, ptype="socket_filter"),
    _pe("pe_kprobe_ok", _END, ptype="kprobe"),
    Probe("pe_cpu_unknown_ok", "xdp", "call 7\nr6 = r0\n" + _KEY + "r3 = r6\n"
          f"call {LOOKUP_PERCPU}\n" + _CHECK + "r0 = *(u32 *)(r0 + 4)\n" + _O, [PERCPU_ARRAY]),
    _pe("pe_cpu_pointer_ok", _END, cpu="r3 = r10\n"),
    # a constant key in range: bpf_map_lookup_elem's NULL is elided, this one's is not
    _pe("pe_const_key_unchecked", "r0 = *(u64 *)(r0 + 0)\n" + _END),
    _pe("pe_hash_unchecked", "r0 = *(u64 *)(r0 + 0)\n" + _END, maps=(PERCPU_HASH,)),
    _pe("pe_past_value", _CHECK + "r0 = *(u64 *)(r0 + 4)\n" + _O),
    _pe("pe_array", _END, maps=(ARRAY,)),
    _pe("pe_hash", _END, maps=(HASH,)),
    _pe("pe_rdonly_write", _CHECK + "r1 = 1\n*(u64 *)(r0 + 0) = r1\n" + _O,
        maps=(RDONLY_PERCPU_ARRAY,)),
    _pe("pe_rdonly_read_ok", _CHECK + "r0 = *(u64 *)(r0 + 0)\n" + _O,
        maps=(RDONLY_PERCPU_ARRAY,)),
    _pe("pe_cpu_uninit", _END, cpu=""),
    Probe("pe_key_uninit_ok", "xdp", "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = 0\n"
          f"call {LOOKUP_PERCPU}\n" + _END, [PERCPU_ARRAY]),
    Probe("pe_key_null", "xdp", "ld_pseudo r1, 1, 0\nr2 = 0\nr3 = 0\n"
          f"call {LOOKUP_PERCPU}\n" + _END, [PERCPU_ARRAY]),
    Probe("pe_no_map", "xdp", "r1 = r10\nr2 = r10\nr2 += -4\nr3 = 0\n"
          f"call {LOOKUP_PERCPU}\n" + _END),
]


def _cpu(name: str, text: str, ptype: str = "xdp") -> Probe:
    return Probe(name, ptype, text + _END)


CPU_PTR_PROBES = [
    _cpu("this_scalar", f"r1 = 0\ncall {THIS_CPU_PTR}\n"),
    _cpu("this_ctx", f"call {THIS_CPU_PTR}\n"),
    _cpu("this_stack", f"r1 = r10\nr1 += -8\ncall {THIS_CPU_PTR}\n"),
    _cpu("this_uninit", f"r1 = r2\ncall {THIS_CPU_PTR}\n"),
    _cpu("this_func_ksym", f"ld_pseudo r1, 3, {{func}}\ncall {THIS_CPU_PTR}\n"),
    _cpu("this_percpu_var", f"ld_pseudo r1, 3, {{active}}\ncall {THIS_CPU_PTR}\n"
         "r0 = *(u32 *)(r0 + 0)\n"),
    _cpu("this_percpu_struct", f"ld_pseudo r1, 3, {{rq}}\ncall {THIS_CPU_PTR}\n"),
    _cpu("this_kprobe_task", f"call 158\nr1 = r0\ncall {THIS_CPU_PTR}\n", ptype="kprobe"),
    _cpu("per_scalar", f"r1 = 0\nr2 = 0\ncall {PER_CPU_PTR}\n"),
    _cpu("per_map_value", _KEY + "call 1\n" + _CHECK + f"r1 = r0\nr2 = 0\ncall {PER_CPU_PTR}\n"
         "o:\n"),
    _cpu("per_map_ptr", f"ld_pseudo r1, 1, 0\nr2 = 0\ncall {PER_CPU_PTR}\n"),
    _cpu("per_cpu_uninit", f"ld_pseudo r1, 3, {{active}}\ncall {PER_CPU_PTR}\n"),
    _cpu("per_percpu_var", f"ld_pseudo r1, 3, {{rq}}\nr2 = 0\ncall {PER_CPU_PTR}\n"),
    # the kernel types (and refuses) a kernel symbol's load at load time, even unreached
    _cpu("ksym_var_dead", "r0 = 0\nif r0 == 0 goto o\n"
         "ld_pseudo r1, 3, {active}\no:\n"),
    _cpu("ksym_struct_type", "ld_pseudo r1, 3, {task_type}\n"),
    _cpu("ksym_bad_id", "ld_pseudo r1, 3, 999999999\n"),
    _cpu("ksym_negative_id", "ld_pseudo r1, 3, -5\n"),
    _cpu("ksym_void_id", "ld_pseudo r1, 3, 0\n"),
    _cpu("ksym_func_ok", "ld_pseudo r1, 3, {func}\n"),
    # a kernel function's address is PTR_TO_MEM | MEM_RDONLY (size 0)
    _cpu("func_write", "ld_pseudo r1, 3, {func}\nr2 = 0\n*(u8 *)(r1 + 0) = r2\n"),
    _cpu("func_as_helper_dst", "ld_pseudo r1, 3, {func}\nr2 = 0\nr3 = 0\ncall 113\n"),
    _cpu("func_as_helper_src_ok", "r1 = r10\nr1 += -8\nr2 = 0\nld_pseudo r3, 3, {func}\n"
         "call 113\n"),
]
for p in CPU_PTR_PROBES:
    if "ld_pseudo r1, 1, 0" in p.text and not p.maps:
        p.maps = [ARRAY]

_TASK = "call 158\nr4 = r0\n"  # R4: bpf_get_current_task_btf()
_DST = "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\nr5 = 0\n"
_COPY = f"call {COPY_FROM_USER_TASK}\n"


def _cu(name: str, text: str, ptype: str = "syscall", license: str = "GPL") -> Probe:
    p = Probe(name, ptype, text + _END)
    p.license = license
    return p


COPY_PROBES = [
    _cu("cut_ok", _TASK + _DST + _COPY),
    _cu("cut_read_dst_ok", _TASK + _DST + _COPY + "r0 = *(u64 *)(r10 - 8)\n"),
    _cu("cut_flags_unknown_ok", "call 7\nr6 = r0\n" + _TASK + _DST + "r5 = r6\n" + _COPY),
    _cu("cut_size_zero_ok", _TASK + "r1 = r10\nr1 += -8\nr2 = 0\nr3 = 0\nr5 = 0\n" + _COPY),
    _cu("cut_parent", "call 158\nr4 = *(u64 *)(r0 + {real_parent})\n" + _DST + _COPY),
    _cu("cut_map_dst_ok", "call 158\nr6 = r0\n" + _KEY + "call 1\n" + _CHECK
        + "r1 = r0\nr2 = 8\nr3 = 0\nr4 = r6\nr5 = 0\n" + _COPY + "o:\n"),
    _cu("cut_ctx_task", "r4 = r1\n" + _DST + _COPY),
    _cu("cut_null_task", "r4 = 0\n" + _DST + _COPY),
    _cu("cut_legacy_task", "call 35\nr4 = r0\n" + _DST + _COPY),
    _cu("cut_task_offset", _TASK + "r4 += 8\n" + _DST + _COPY),
    _cu("cut_group_leader", "call 158\nr4 = *(u64 *)(r0 + {group_leader})\n" + _DST + _COPY),
    # a sleepable program is in no RCU read section: an RCU field is untrusted
    _cu("syscall_pt_regs_parent", "call 158\nr1 = *(u64 *)(r0 + {real_parent})\ncall 175\n"),
    _cu("syscall_pt_regs_ok", "call 158\nr1 = r0\ncall 175\n"),
    _cu("cut_mm", "call 158\nr4 = *(u64 *)(r0 + {mm})\n" + _DST + _COPY),
    _cu("cut_stack_task", "r4 = r10\nr4 += -16\n" + _DST + _COPY),
    _cu("cut_size_too_big", _TASK + _DST.replace("r2 = 8", "r2 = 16") + _COPY),
    _cu("cut_size_unknown", _TASK + "call 7\nr2 = r0\nr1 = r10\nr1 += -8\nr3 = 0\nr5 = 0\n"
        + _COPY),
    _cu("cut_dst_null", _TASK + "r1 = 0\nr2 = 8\nr3 = 0\nr5 = 0\n" + _COPY),
    _cu("cut_dst_func", _TASK + "ld_pseudo r1, 3, {func}\nr2 = 0\nr3 = 0\nr5 = 0\n" + _COPY),
    _cu("cut_user_uninit", _TASK + "r1 = r10\nr1 += -8\nr2 = 8\nr5 = 0\n" + _COPY),
    _cu("cut_flags_uninit", _TASK + "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\n" + _COPY),
    _cu("cut_non_gpl", _TASK + _DST + _COPY, license="MIT"),
    _cu("cut_xdp", _TASK + _DST + _COPY, ptype="xdp"),
    _cu("cut_kprobe", _TASK + _DST + _COPY, ptype="kprobe"),
]
next(p for p in COPY_PROBES if p.name == "cut_map_dst_ok").maps = [ARRAY]



def _sl(name: str, section: str, text: str, maps=()) -> Probe:
    return Probe(name, "kprobe", text + _END, list(maps), section=section)


_ITER_TASK = "r4 = *(u64 *)(r1 + 8)\n"  # struct bpf_iter__task's task (trusted, maybe NULL)
_CFU = "r1 = r10\nr1 += -8\nr2 = 8\nr3 = 0\ncall 148\n"  # bpf_copy_from_user
SLEEPABLE_PROBES = [
    _sl("uprobe_cut_ok", "uprobe.s", _TASK + _DST + _COPY),
    _sl("uprobe_cfu_ok", "uprobe.s", _CFU),
    _sl("usdt_cut_ok", "usdt.s", _TASK + _DST + _COPY),
    _sl("uprobe_percpu_elem_ok", "uprobe.s", _KEY + f"r3 = 1\ncall {LOOKUP_PERCPU}\n",
        [PERCPU_HASH]),
    _sl("uprobe_parent", "uprobe.s", "call 158\nr4 = *(u64 *)(r0 + {real_parent})\n" + _DST
        + _COPY),
    _sl("uprobe_perf_map", "uprobe.s", "r4 = r10\nr4 += -8\nr5 = 8\nr3 = 0\n"
        "*(u64 *)(r10 - 8) = r3\nld_pseudo r2, 1, 0\ncall 25\n", [(4, 4, 4, 0, 0)]),
    _sl("uprobe_hash_ok", "uprobe.s", _KEY + "call 1\n", [HASH]),
    # check_map_prog_compatibility's sleepable map types (queue / stack among them)
    _sl("uprobe_queue_ok", "uprobe.s", "ld_pseudo r1, 1, 0\n", [(22, 0, 8, 4, 0)]),
    _sl("uprobe_stack_ok", "uprobe.s", "ld_pseudo r1, 1, 0\n", [(23, 0, 8, 4, 0)]),
    _sl("uprobe_bloom", "uprobe.s", "ld_pseudo r1, 1, 0\n", [(30, 0, 8, 4, 0)]),
    _sl("uprobe_prog_array", "uprobe.s", "ld_pseudo r1, 1, 0\n", [(3, 4, 4, 4, 0)]),
    _sl("uprobe_lpm", "uprobe.s", "ld_pseudo r1, 1, 0\n", [(11, 8, 8, 4, 1)]),
    _sl("iter_cut_ok", "iter.s/task", _ITER_TASK + "if r4 == 0 goto o\n" + _DST + _COPY
        + "o:\n"),
    _sl("iter_cut_unchecked", "iter.s/task", _ITER_TASK + _DST + _COPY),
    _sl("iter_cfu_ok", "iter.s/task", _CFU),
    _sl("iter_nonsleepable_cut", "iter/task", _ITER_TASK + "if r4 == 0 goto o\n" + _DST
        + _COPY + "o:\n"),
    _sl("tracepoint_sleepable", "tracepoint.s/syscalls/sys_enter_openat", ""),
    _sl("raw_tp_sleepable", "raw_tp.s/sys_enter", ""),
    _sl("kprobe_cfu", "kprobe/do_nanosleep", _CFU),
]

ALL = LOOKUP_PROBES + CPU_PTR_PROBES + COPY_PROBES + SLEEPABLE_PROBES


# -- random calls (a seeded sweep) --------------------------------------------------------------
#: r6: the current task (trusted), r7: a checked map value of map 1, r9: the context
_SWEEP_SETUP = ("r9 = r1\ncall 158\nr6 = r0\nr1 = 0\n*(u32 *)(r10 - 4) = r1\n"
                "*(u64 *)(r10 - 16) = r1\nld_pseudo r1, 1, 1\nr2 = r10\nr2 += -4\ncall 1\n"
                "if r0 == 0 goto out\nr7 = r0\n")
_SWEEP_ARGS = {"fp4": "r{r} = r10\nr{r} += -4\n", "fp16": "r{r} = r10\nr{r} += -16\n",
               "fp_uninit": "r{r} = r10\nr{r} += -32\n", "fp_edge": "r{r} = r10\nr{r} += -2\n",
               "zero": "r{r} = 0\n", "one": "r{r} = 1\n", "big": "r{r} = 0x7fffffff\n",
               "unknown": "r{r} = r8\n", "task": "r{r} = r6\n", "task_off": "r{r} = r6\nr{r} += 16\n",
               "value": "r{r} = r7\n", "value4": "r{r} = r7\nr{r} += 4\n", "ctx": "r{r} = r9\n",
               "map": "ld_pseudo r{r}, 1, 0\n", "map1": "ld_pseudo r{r}, 1, 1\n",
               "func": "ld_pseudo r{r}, 3, {func}\n", "size_unknown": "r{r} = r8\nr{r} &= 15\n"}
_SWEEP_MAPS = [PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH, ARRAY, HASH, RDONLY_PERCPU_ARRAY,
               (6, 4, 16, 2, 0)]
_SWEEP_USES = ["", "r0 = *(u64 *)(r0 + 0)\n", "if r0 == 0 goto out\nr0 = *(u64 *)(r0 + 0)\n",
               "if r0 == 0 goto out\nr1 = 1\n*(u64 *)(r0 + 0) = r1\n",
               "if r0 == 0 goto out\nr0 = *(u64 *)(r0 + 8)\n",
               "if r0 != 0 goto out\nr0 = *(u8 *)(r0 + 0)\n"]


def random_probes(seed: int, n: int) -> list[Probe]:
    """``n`` calls of the four helpers with arguments drawn from :data:`_SWEEP_ARGS` (the
    likely kinds weighted up), in the program types that reach them."""
    import random

    rng = random.Random(seed)
    every = list(_SWEEP_ARGS)
    out = []
    for i in range(n):
        helper = rng.choice(["percpu_elem", "percpu_elem", "copy", "copy", "this", "per"])
        if helper == "percpu_elem":
            kinds = [rng.choice(["map"] * 24 + every), rng.choice(["fp4"] * 20 + every),
                     rng.choice(["zero", "one", "big", "unknown", "fp4", "task"])]
            ptype, section = rng.choice(["xdp", "kprobe", "socket_filter"]), ""
        elif helper == "copy":
            kinds = [rng.choice(["fp16"] * 20 + every),
                     rng.choice(["one", "zero", "size_unknown", "big"]),
                     rng.choice(["zero", "unknown", "fp4"]), rng.choice(["task"] * 20 + every),
                     rng.choice(["zero"] * 8 + ["unknown", "one"])]
            ptype, section = rng.choice([("syscall", ""), ("syscall", ""), ("kprobe", "uprobe.s"),
                                         ("kprobe", "")])
        else:
            kinds = [rng.choice(every)] + ([rng.choice(["zero", "unknown", "big"])]
                                           if helper == "per" else [])
            ptype, section = rng.choice(["xdp", "kprobe"]), ""
        call = {"percpu_elem": LOOKUP_PERCPU, "copy": COPY_FROM_USER_TASK, "this": THIS_CPU_PTR,
                "per": PER_CPU_PTR}[helper]
        sets = "".join(_SWEEP_ARGS[k].replace("{r}", str(r)) for r, k in enumerate(kinds, 1))
        if helper == "copy" and kinds[1] in ("one", "big"):
            sets += "r2 = 8\n" if kinds[1] == "one" else "r2 = 17\n"
        use = "" if helper == "copy" else rng.choice(_SWEEP_USES)
        text = (_SWEEP_SETUP + "call 7\nr8 = r0\n" + sets + f"call {call}\n" + use
                + "out:\nr0 = 0\nexit\n")
        first = rng.choice(_SWEEP_MAPS) if helper == "percpu_elem" else ARRAY
        out.append(Probe(f"sweep{i}_{helper}", ptype, text, [first, ARRAY], section=section))
    return out
