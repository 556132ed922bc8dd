"""Kfunc calls (model.platform.kfuncs, model.verifier.kfuncs) against the running kernel:
the table against the kernel's BTF prototypes, the program types each kfunc set is
registered for, and assembled probes (tests/kfunc_probes.py) whose verdict and words must
be the kernel's; the Z3 engine's answer is the kernel's verdict, the
interpreter refuses kfuncs cleanly, and a kfunc outside the table stays "not modelled"."""

from __future__ import annotations

import pytest

from kfunc_probes import probes, resolve
from model.kernel import available
from model.platform.kfuncs import KFUNCS, SET_UNMODELLED, arg_struct, kfunc_check

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
PROBES = probes()
#: kernel rejections skv words differently (both reject): skv's reason
WORDED = {
    # a NOT_INIT pointer argument: the kernel reads the register as it is
    "uninit_pointer_arg": "R2 !read_ok",
    # a size argument that is no scalar: the kernel takes the memory as a struct of its
    # own size (struct bpf_sock_tuple, 36 bytes) and refuses that read first
    "ct_uninit_size": "R3 is not a scalar",
    "ct_pointer_size": "R3 is not a scalar",
    # the other program type's conntrack lookup: skv does not model it
    "xdp_ct_in_tc": "not modelled: kfunc bpf_xdp_ct_lookup in a sched_cls program",
}


def _vmlinux():
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()
    if btf is None:
        pytest.skip("no vmlinux BTF")
    return btf


@pytest.mark.parametrize("name", sorted(KFUNCS))
def test_table_row_matches_the_kernel_prototype(name):
    """Every argument and the return of a row are what the kernel's BTF says: a scalar
    for an integer, a struct pointer of the named struct, the context, memory followed by
    an ``__sz`` size."""
    from model.elf import btf as B

    btf = _vmlinux()
    k = KFUNCS[name]
    fn = btf.find(name, B.FUNC)
    assert fn is not None, f"{name} is not in vmlinux BTF"
    proto = btf.type(fn.type)
    params = proto.members
    assert len(params) == len(k.args)

    def struct_of(tid):
        t = btf.resolve(tid)
        if t.kind != B.PTR:
            return None
        return btf.resolve(t.type)

    for kind, p in zip(k.args, params):
        t = btf.resolve(p.type)
        if kind in ("scalar", "size", "szk"):
            assert t.kind in (B.INT, 6, 19), (name, p.name)  # INT, ENUM, ENUM64
            assert (kind == "size") == p.name.endswith("__sz"), (name, p.name)
            assert (kind == "szk") == p.name.endswith("__szk"), (name, p.name)
        elif kind.startswith("dynptr"):
            assert struct_of(p.type).name == "bpf_dynptr", (name, p.name)
            assert kind.startswith("dynptr_uninit:") == p.name.endswith("__uninit")
        elif kind == "mem_opt":
            assert t.kind == B.PTR and p.name.endswith("__opt"), (name, p.name)
        elif kind == "ctx":
            assert struct_of(p.type).name in ("__sk_buff", "xdp_md")
        elif kind == "mem":
            assert t.kind == B.PTR
        elif kind == "ign":
            assert p.name.endswith("__ign"), (name, p.name)
        else:
            assert struct_of(p.type).name == arg_struct(kind), (name, p.name)
    ret = btf.resolve(proto.type) if proto.type else None
    if k.ret == "void":
        assert ret is None
    elif k.ret == "scalar":
        assert ret.kind in (B.INT, 6, 19)
    elif k.ret.startswith("slice"):
        assert ret.kind == B.PTR
    else:
        assert struct_of(proto.type).name == arg_struct(k.ret)


SECTIONS = ("tp_btf/task_newtask", "tc", "xdp", "syscall", "socket", "kprobe/do_nanosleep",
            "tracepoint/syscalls/sys_enter_nanosleep", "cgroup_skb/ingress",
            "raw_tp/sys_enter", "perf_event", "cgroup/sock_create", "sk_lookup",
            "flow_dissector", "sockops", "iter/task")


@needs_kernel
@pytest.mark.parametrize("name", sorted(KFUNCS))
def test_program_types_of_each_kfunc_set(name):
    """A call of the kfunc (zero arguments) in each program type: the kernel says "is
    not allowed" exactly where skv's table does."""
    from tracing_probes import build, kernel_verdict

    _vmlinux()
    text = resolve(f"r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall kfunc {name}\nr0 = 0\nexit")
    for section in SECTIONS:
        _, prog = build(text, section)
        k = kernel_verdict(prog)
        refused = "is not allowed" in k.msg
        ours = kfunc_check(name, prog.prog_type, prog.sleepable, prog.attach_type)
        if ours is not None and ours.startswith("not modelled"):
            # (SET_UNMODELLED: program types whose context the kfunc cannot take, some
            # refused by attach type)
            assert not refused or prog.prog_type in SET_UNMODELLED.get(KFUNCS[name].kset,
                                                                      ()), (name, section)
            continue
        assert refused == (ours is not None), (name, section, k.msg, ours)


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p[0])
def test_kfunc_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict and the kernel's words."""
    from tracing_probes import build, kernel_verdict, skv_verdict

    name, section, text = probe
    obj, prog = build(resolve(text), section)
    k, ours = kernel_verdict(prog), skv_verdict(obj, prog)
    assert not (ours.ok and not k.ok), f"FALSE ACCEPT {name}: kernel: {k.msg}"
    assert ours.ok == k.ok, f"{name}: kernel {k.ok} ({k.msg}), skv {ours.msg}"
    if not k.ok:
        assert ours.msg.splitlines()[-1] == WORDED.get(name, k.msg)


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p[0])
def test_z3_engine_judges_kfunc_programs_as_the_kernel(probe):
    """The Z3 engine follows the table's kfuncs (model.symbolic.kfuncs): every probe is
    explored completely, and it finds an unsafe execution exactly when the kernel
    rejects."""
    from model.symbolic.engine import Engine
    from tracing_probes import build, kernel_verdict

    name, section, text = probe
    obj, prog = build(resolve(text), section)
    k = kernel_verdict(prog)
    r = Engine(obj, prog).run()
    assert not r.exhausted, (name, r.exhausted)
    assert (not r.failures) == k.ok, (name, k.msg, [f.reason for f in r.failures])


def test_unknown_kfunc_is_not_modelled():
    """A kfunc outside the table: "not modelled: kfunc NAME" (never safe, never a crash)."""
    from tracing_probes import build, skv_verdict

    btf = _vmlinux()
    from model.elf.btf import FUNC

    fn = btf.find("bpf_dynptr_adjust", FUNC)
    if fn is None:
        pytest.skip("bpf_dynptr_adjust is not in this kernel")
    obj, prog = build(f"call kfunc {fn.id}\nr0 = 0\nexit", "tc")
    assert skv_verdict(obj, prog).msg == "not modelled: kfunc bpf_dynptr_adjust"
    obj, prog = build("call kfunc 1\nr0 = 0\nexit", "tc")  # no FUNC at that id
    assert skv_verdict(obj, prog).msg.startswith("not modelled: kfunc")


def test_interpreter_runs_rcu_sections_and_refuses_other_kfuncs():
    """The interpreter runs through bpf_rcu_read_lock/unlock (nothing a run can see) and
    stops with a "not modelled" fault at any other kfunc."""
    from model.interp.machine import Machine
    from tracing_probes import build

    _vmlinux()
    obj, prog = build(resolve("call kfunc bpf_rcu_read_lock\ncall kfunc bpf_rcu_read_unlock\n"
                              "r0 = 7\nexit"), "tc")
    r = Machine(prog, obj.maps).run(packet=bytes(64))
    assert (r.status, r.r0) == ("exit", 7)
    obj, prog = build(resolve("r1 = 1\ncall kfunc bpf_task_from_pid\nr0 = 0\nexit"), "tc")
    r = Machine(prog, obj.maps).run(packet=bytes(64))
    assert r.status == "fault" and r.fault.reason == "not modelled: kfunc bpf_task_from_pid"
