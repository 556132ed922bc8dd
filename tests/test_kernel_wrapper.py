"""The kernel wrapper (model.kernel.objload) loads an object's program as libbpf does: the
object's BTF with libbpf's fixups, func/line info, maps with BTF types and libbpf's shapes,
attach BTF ids, kfunc/ksym ids. Each program here loads only with that; the running kernel's
verdict is asserted."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from model import kernel
from model.cli import main
from model.elf.btf import FUNC, TYPEDEF, VAR
from model.elf.core import target_btf
from model.elf.loader import load_object
from model.kernel.attach import AttachError, attach_btf_id, resolve_ksyms
from model.kernel.bpf import btf_load
from model.kernel.mapshape import kernel_shape, possible_cpus, ringbuf_size
from model.kernel.objload import load_program, verdict
from model.kernel.oracle import rejection_reason
from model.materialize import materialize

pytestmark = pytest.mark.skipif(not kernel.available()[0], reason=kernel.available()[1])

HELPERS = r"""
static long (*bpf_loop)(__u32 nr, void *fn, void *ctx, __u64 flags) = (void *)181;
static long (*bpf_spin_lock)(void *lock) = (void *)93;
static long (*bpf_spin_unlock)(void *lock) = (void *)94;
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *)12;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data,
                                     __u64 size) = (void *)25;
static long (*bpf_ringbuf_output)(void *rb, void *data, __u64 size, __u64 flags) = (void *)130;
#define __array(name, val) typeof(val) *name[]
"""

CALLBACK = HELPERS + r"""
static int step(__u32 i, void *ctx) { return 0; }
SEC("xdp") int with_loop(void *ctx) { bpf_loop(4, step, 0, 0); return 2; }

__attribute__((noinline)) int add_one(int x) { return x + 1; }
SEC("xdp") int with_global(void *ctx) { return add_one(1) & 3; }
"""


def _load(obj, name):
    res = load_program(obj, obj.program(name))
    res.close()
    return res


def test_callback_loads_with_func_info_only(compile_bpf):
    obj = load_object(compile_bpf(CALLBACK, "callback"))
    prog = obj.program("with_loop")
    assert sorted(prog.btf_funcs) == [0, prog.func_starts["step"]]
    assert _load(obj, "with_loop").ok
    bare = replace(prog, btf_funcs={}, btf_lines={})
    res = load_program(obj, bare)
    assert not res.ok and "missing btf func_info" in res.log


def test_global_function_is_verified_as_global(compile_bpf):
    obj = load_object(compile_bpf(CALLBACK, "global"))
    res = _load(obj, "with_global")
    assert res.ok
    assert "Func#1 ('add_one') is global and assumed valid" in res.log


def test_materialised_program_keeps_func_info(compile_bpf):
    src = HELPERS + r"""
STATIC_KEY(k);
static int step(__u32 i, void *ctx) { return 0; }
SEC("xdp") int keyed(void *ctx) {
    if (sk_unlikely(&k))
        bpf_trace_printk("on", 3);
    bpf_loop(2, step, 0, 0);
    return 2;
}
"""
    obj = load_object(compile_bpf(src, "keyed"))
    prog = obj.program("keyed")
    for on in (False, True):
        m = materialize(prog, keys={"k": on})
        starts = {0, *m.subprogs}
        assert set(m.btf_funcs) == starts and starts <= set(m.btf_lines)
        assert max(m.btf_lines) < m.n_slots and len(m.btf_lines) < len(prog.btf_lines) + 1
        ok, res = verdict(obj, prog, {"k": on})
        assert ok, rejection_reason(res.log)


SPIN = HELPERS + r"""
struct bpf_spin_lock { __u32 val; };
struct val { struct bpf_spin_lock lock; __u64 n; };
struct { __uint(type, 2); __type(key, __u32); __type(value, struct val);
         __uint(max_entries, 1); } locked SEC(".maps");
SEC("tc") int lock(void *ctx) {
    __u32 k = 0;
    struct val *v = bpf_map_lookup_elem(&locked, &k);
    if (!v)
        return 0;
    bpf_spin_lock(&v->lock);
    v->n++;
    bpf_spin_unlock(&v->lock);
    return 0;
}
"""


def test_spin_lock_map_is_created_with_btf(compile_bpf):
    obj = load_object(compile_bpf(SPIN, "spin"))
    m = obj.maps["locked"]
    assert m.btf_key_type_id and m.btf_value_type_id
    res = _load(obj, "lock")
    assert res.ok, rejection_reason(res.log)


def test_object_btf_is_accepted_with_data_ksyms_and_kconfig(compile_bpf):
    src = r"""
extern const int bpf_prog_active __attribute__((section(".ksyms")));
extern unsigned int LINUX_KERNEL_VERSION __attribute__((section(".kconfig")));
static void *(*bpf_this_cpu_ptr)(const void *percpu) = (void *)154;
int counter;
int zeroed_array[4];
const volatile int limit = 7;
SEC("socket") int data_user(void *ctx) {
    counter += limit + zeroed_array[1];
    return LINUX_KERNEL_VERSION ? 0 : 1;
}
SEC("socket") int ksym_user(void *ctx) {
    const int *active = bpf_this_cpu_ptr(&bpf_prog_active);
    return *active;
}
"""
    obj = load_object(compile_bpf(src, "data"))
    fd, why = btf_load(obj.btf)
    assert fd is not None, why
    fd.close()
    res = _load(obj, "data_user")
    assert res.ok, rejection_reason(res.log)
    # the typed ksym gets its vmlinux VAR id; a kernel without per-CPU symbols in
    # kallsyms (CONFIG_KALLSYMS_ALL off) then cannot give its address
    prog = obj.program("ksym_user")
    (pc,) = prog.ksyms
    var = _vmlinux_or_skip().find("bpf_prog_active", VAR)
    assert resolve_ksyms(prog).by_pc()[pc].imm == var.id
    res = _load(obj, "ksym_user")
    assert res.ok or rejection_reason(res.log) == \
        "ldimm64 failed to find the address for kernel symbol 'bpf_prog_active'."


FD_MAPS = HELPERS + r"""
struct event { __u64 a, b; };
struct { __uint(type, 3); __uint(max_entries, 4); __uint(key_size, 4);
         __array(values, int (void *)); } jumps SEC(".maps");
struct { __uint(type, 4); __type(key, int); __type(value, struct event); } events SEC(".maps");
struct { __uint(type, 27); __uint(max_entries, 1000); } rb SEC(".maps");
struct { __uint(type, 7); __uint(key_size, 4); } stacks SEC(".maps");  /* sized at run time */
static long (*get_stackid)(void *, void *, __u64) = (void *)27;
SEC("kprobe/x") int stack(void *ctx) { return get_stackid(ctx, &stacks, 0) < 0; }
SEC("xdp") int tail(void *ctx) { bpf_tail_call(ctx, &jumps, 0); return 2; }
SEC("xdp") int perf(void *ctx) {
    struct event e = {1, 2};
    bpf_perf_event_output(ctx, &events, 0xffffffffULL, &e, sizeof(e));
    return 2;
}
SEC("xdp") int ring(void *ctx) {
    __u64 v = 1;
    bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
    return 2;
}
"""


def test_fd_array_and_ringbuf_maps_take_libbpf_shapes(compile_bpf):
    obj = load_object(compile_bpf(FD_MAPS, "fdmaps"))
    assert kernel_shape(obj.maps["jumps"])["value_size"] == 4
    perf = kernel_shape(obj.maps["events"])
    assert (perf["value_size"], perf["max_entries"]) == (4, possible_cpus())
    ring = kernel_shape(obj.maps["rb"])
    assert (ring["key_size"], ring["value_size"], ring["max_entries"]) == (0, 0, ringbuf_size(1000))
    assert ringbuf_size(1000) == 4096 and ringbuf_size(4097) == 8192
    # map_extra only where the kernel takes it (an array with it: EINVAL, measured)
    assert kernel_shape(replace(obj.maps["jumps"], map_extra=1))["map_extra"] == 0
    stacks = kernel_shape(obj.maps["stacks"])  # bcc's tools set the value size at run time
    assert stacks["value_size"] % 8 == 0 and stacks["value_size"] >= 8
    for name in ("tail", "perf", "ring", "stack"):
        res = _load(obj, name)
        assert res.ok, f"{name}: {rejection_reason(res.log)}"


TRACING = r"""
SEC("tp_btf/sched_switch") int switched(unsigned long long *ctx) { return 0; }
SEC("tp_btf/sched_switch") int too_far(unsigned long long *ctx) { return ctx[9] != 0; }
SEC("iter/task") int tasks(void *ctx) { return 0; }
SEC("fentry/do_unlinkat") int unlinking(unsigned long long *ctx) { return 0; }
"""


def _vmlinux_or_skip():
    btf = target_btf()
    if btf is None:
        pytest.skip("no kernel BTF at /sys/kernel/btf/vmlinux")
    return btf


def test_tracing_programs_get_their_attach_btf_id(compile_bpf):
    vmlinux = _vmlinux_or_skip()
    obj = load_object(compile_bpf(TRACING, "tracing"))
    assert attach_btf_id(obj.program("switched")) == vmlinux.find("btf_trace_sched_switch",
                                                                  TYPEDEF).id
    assert attach_btf_id(obj.program("unlinking")) == vmlinux.find("do_unlinkat", FUNC).id
    assert _load(obj, "switched").ok and _load(obj, "tasks").ok
    far = _load(obj, "too_far")  # the kernel judges it against the target's arguments
    assert not far.ok and rejection_reason(far.log) == "invalid bpf_context access off=72 size=8"
    fentry = _load(obj, "unlinking")  # this kernel may refuse trampolines (EPERM), but
    assert "must provide btf_id" not in fentry.log  # never for want of the target's id
    assert fentry.ok or fentry.error == "EPERM"


def test_missing_attach_target_is_one_line(compile_bpf, capsys):
    _vmlinux_or_skip()
    path = compile_bpf('SEC("fentry/no_such_function_skv") int nf(void *ctx) { return 0; }',
                       "notarget")
    obj = load_object(path)
    with pytest.raises(AttachError, match="attach target no_such_function_skv not found"):
        load_program(obj, obj.program("nf"))
    rc = main(["check", "--kernel", "--no-symbolic", "--json", path])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("skv: error:")]
    assert lines == ["skv: error: program nf (section fentry/no_such_function_skv): attach "
                     "target no_such_function_skv not found in /sys/kernel/btf/vmlinux"]


KFUNC = r"""
extern int bpf_some_kfunc(int x) __attribute__((section(".ksyms")));
SEC("xdp") int kf(void *ctx) { return bpf_some_kfunc(1); }
"""


def test_kfunc_is_not_modelled_by_name_in_every_engine(compile_bpf, capsys):
    path = compile_bpf(KFUNC, "kfunc")
    rc = main(["check", "--json", path])
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert rc == 1 and row["error"]["message"] == "not modelled: kfunc bpf_some_kfunc"
    cx = row["counterexample"]  # the Z3 engine's, replayed in the interpreter
    assert cx["reason"] == "not modelled: kfunc bpf_some_kfunc" and cx["confirmed"]
    assert cx["fault"] == "insn 1: not modelled: kfunc bpf_some_kfunc"
    rc = main(["run", path])  # the interpreter faults there
    assert rc == 1
    assert "reason: not modelled: kfunc bpf_some_kfunc" in capsys.readouterr().out


def test_run_takes_prog_type_for_text_functions(compile_bpf, capsys):
    path = compile_bpf('__attribute__((section(".text"))) int just_text(void *ctx) '
                       '{ return 2; }', "textonly")
    assert main(["run", "--prog-type", "xdp", "--packet", "00" * 64, path]) == 0
    out = capsys.readouterr().out
    assert "(xdp)" in out and "r0 = 0x2" in out


HIDDEN = r"""
__attribute__((noinline, visibility("hidden"))) int read_it(int *p) { return *p; }
SEC("xdp") int with_hidden(void *ctx) { int v = 2; return read_it(&v); }
"""


def test_hidden_function_is_static_as_libbpf_marks_it(compile_bpf):
    """As a global function ``read_it`` would be verified alone (its ``int *`` may be
    NULL); libbpf makes a hidden one static, verified with its caller's stack pointer."""
    obj = load_object(compile_bpf(HIDDEN, "hidden"))
    res = _load(obj, "with_hidden")
    assert res.ok, rejection_reason(res.log)
    assert "is global" not in res.log


WEAK = r"""
extern int bpf_no_such_kfunc_skv(int x) __attribute__((section(".ksyms"), weak));
extern int bpf_strong_missing_skv(int x) __attribute__((section(".ksyms")));
SEC("xdp") int weak_kfunc(void *ctx) {
    if (bpf_no_such_kfunc_skv)
        return bpf_no_such_kfunc_skv(1);
    return 2;
}
SEC("xdp") int strong_kfunc(void *ctx) { return bpf_strong_missing_skv(1); }
"""


def test_missing_kfuncs_as_libbpf_treats_them(compile_bpf):
    """A weak kfunc the kernel lacks is NULL and its call poisoned (dead code here: the
    kernel accepts); a strong one makes the program unloadable (one line naming it)."""
    obj = load_object(compile_bpf(WEAK, "weak"))
    fd, why = btf_load(obj.btf)  # extern FUNCs in .ksyms, as libbpf rewrites them
    assert fd is not None, why
    fd.close()
    res = _load(obj, "weak_kfunc")
    assert res.ok, rejection_reason(res.log)
    with pytest.raises(AttachError, match="extern bpf_strong_missing_skv .* not in the kernel"):
        load_program(obj, obj.program("strong_kfunc"))


def test_target_a_user_would_give_is_a_kernel_error_not_bad_input(compile_bpf, capsys):
    """freplace needs a target program (its loader's user gives it): the kernel column
    says why, the exit status stays skv's."""
    path = compile_bpf('SEC("freplace/anything") int fr(void *ctx) { return 0; }', "freplace")
    rc = main(["check", "--kernel", "--no-symbolic", "--json", path])
    row = json.loads(capsys.readouterr().out)["programs"][0]
    assert rc == 1 and row["verdict"] == "rejected"
    assert row["kernel"]["verdict"] == "error"
    assert "freplace needs a target program" in row["kernel"]["error"]
