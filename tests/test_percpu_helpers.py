"""bpf_map_lookup_percpu_elem, bpf_this_cpu_ptr / bpf_per_cpu_ptr (with ``ld_imm64`` of a
kernel symbol's BTF id) and bpf_copy_from_user_task: the abstract verifier against the
running kernel (tests/percpu_probes.py), the typed pointers a kernel with per-CPU symbols in
kallsyms gives (a faked kallsyms: the reference kernel, without CONFIG_KALLSYMS_ALL,
refuses every variable), the Z3 engine's "unknown" and the interpreter's per-CPU copies."""

from __future__ import annotations

import pytest

from conftest import CLANG
from model.isa.asm import assemble
from model.kernel import available
from model.platform.prototypes import helper_id, refs_only, verifier_unmodelled
from model.program import BpfObject, MapDef, MapRef, Program
from model.verifier.checker import check_program
from percpu_probes import (ALL, COPY_PROBES, CPU_PTR_PROBES, SLEEPABLE_PROBES, Probe,
                           kernel_ids, random_probes)
from timer_probes import assert_like_kernel, judge

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
HELPERS = ("map_lookup_percpu_elem", "this_cpu_ptr", "per_cpu_ptr", "copy_from_user_task")


@needs_kernel
@pytest.mark.parametrize("probe", ALL, ids=lambda p: p.name)
def test_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict and the kernel's words."""
    assert_like_kernel(probe, {})


@needs_kernel
def test_random_calls_against_kernel():
    """A seeded sweep of calls with drawn arguments: the kernel's verdict and words on
    each (0 false accepts, 0 false rejects on 1,000+ programs when this was written)."""
    disagree = []
    for p in random_probes(20261130, 80):
        j = judge(p)
        assert not (j.ours_ok and not j.kernel_ok), f"FALSE ACCEPT {p.name}:\n{p.text}"
        if (j.ours_ok, j.ours_msg) != (j.kernel_ok, j.kernel_msg):
            disagree.append((p.name, j.kernel_msg, j.ours_msg))
    assert not disagree, disagree


@pytest.mark.parametrize("helper", HELPERS)
def test_modelled_by_the_verifier_left_by_z3(helper):
    """No "not modelled" from the abstract verifier; the Z3 engine's is a clean one (its
    path ends unknown, never safe)."""
    hid = helper_id(helper)
    ptype = "syscall" if helper == "copy_from_user_task" else "xdp"
    assert verifier_unmodelled(ptype, hid) is None
    assert refs_only(ptype, hid).startswith("not modelled")


@needs_kernel
@pytest.mark.parametrize("probe", [p for p in ALL if "call 195" in p.text and not p.section],
                         ids=lambda p: p.name)
def test_z3_judges_percpu_elem_as_the_kernel(probe):
    """bpf_map_lookup_percpu_elem in the Z3 engine (model.symbolic.percpu: another CPU's
    value is an unconstrained element): explored completely, unsafe exactly when the
    kernel rejects."""
    from model.symbolic.engine import Engine

    j = judge(probe)
    obj, prog = probe.model()
    r = Engine(obj, prog).run()
    assert not r.exhausted, r.exhausted
    assert (not r.failures) == j.kernel_ok, (j.kernel_msg, [f.reason for f in r.failures])


@needs_kernel
@pytest.mark.parametrize("probe", [p for p in CPU_PTR_PROBES + COPY_PROBES
                                   if "call 154" in p.text or "call 153" in p.text
                                   or "call 191" in p.text or "ld_pseudo r1, 3" in p.text]
                         + SLEEPABLE_PROBES, ids=lambda p: p.name)
def test_z3_judges_cpu_pointers_and_ksyms_as_the_kernel(probe):
    """bpf_this_cpu_ptr / bpf_per_cpu_ptr, __ksym loads, bpf_copy_from_user_task's task and
    sleepable uprobes in the Z3 engine (model.symbolic.kmem): unsafe only where the kernel
    rejects, safe where it accepts (or unknown where the engine leaves a typed pointer given
    as helper memory to the verifier), never safe where it rejects."""
    from model.errors import SkvError
    from model.symbolic.engine import Engine

    j = judge(probe)
    obj, prog = probe.model()
    try:
        r = Engine(obj, prog).run()
    except SkvError as e:  # a program the engine refuses (the kernel must too)
        assert not j.kernel_ok, e
        return
    assert not (r.failures and j.kernel_ok), [f.reason for f in r.failures]
    assert r.failures or r.exhausted or j.kernel_ok, j.kernel_msg
    if not r.failures and r.exhausted:
        assert all("not modelled by the Z3 engine" in e for e in r.exhausted), r.exhausted


# -- a kernel whose kallsyms has the per-CPU symbols (CONFIG_KALLSYMS_ALL) ------------------
@pytest.fixture
def all_kallsyms(monkeypatch):
    """kallsyms naming every vmlinux symbol (the typed pointers of model.verifier.percpu)."""
    from model.elf import ksyms

    from model.platform.tracing_targets import vmlinux_btf

    names = {t.name: 0xffffffff81000000 + t.id for t in vmlinux_btf().types if t.name}
    monkeypatch.setattr(ksyms, "kallsyms", lambda: names)


def _verdict(text: str, ptype: str = "xdp"):
    p = Probe("p", ptype, text)
    obj, prog = p.model()
    v = check_program(obj, prog)
    return None if v.accepted else v.error.message.splitlines()[-1]


_ACTIVE = "ld_pseudo r1, 3, {active}\n"  # int bpf_prog_active (per-CPU)
_RQ = "ld_pseudo r1, 3, {rq}\n"          # struct rq runqueues (per-CPU)


@pytest.mark.parametrize("text,message", [
    (_ACTIVE + "call 154\nr0 = *(u32 *)(r0 + 0)\nexit\n", None),
    (_ACTIVE + "call 154\nr0 = *(u64 *)(r0 + 0)\nexit\n",
     "R0 min value is outside of the allowed memory range"),
    (_ACTIVE + "call 154\nr1 = 0\n*(u32 *)(r0 + 0) = r1\nr0 = 0\nexit\n",
     "R0 cannot write into rdonly_mem"),
    (_ACTIVE + "r2 = 1\ncall 153\nr0 = *(u32 *)(r0 + 0)\nexit\n",
     "R0 invalid mem access 'rdonly_mem_or_null'"),
    (_ACTIVE + "r2 = 1\ncall 153\nif r0 == 0 goto o\nr0 = *(u32 *)(r0 + 0)\no:\nexit\n", None),
    (_RQ + "call 154\nr0 = *(u32 *)(r0 + 0)\nexit\n", None),
    (_RQ + "call 154\nr1 = 0\n*(u32 *)(r0 + 0) = r1\nr0 = 0\nexit\n",
     "only read is supported"),
    (_RQ + "r2 = 0\ncall 153\nr0 = *(u32 *)(r0 + 0)\nexit\n",
     "R0 invalid mem access 'ptr_or_null_'"),
    (_RQ + "r0 = *(u32 *)(r1 + 0)\nexit\n", "R1 is ptr_rq access percpu memory: off=0"),
    (_RQ + "r1 += 8\ncall 154\nr0 = 0\nexit\n",
     "dereference of modified percpu_ptr_ ptr R1 off=8 disallowed"),
    (_ACTIVE + "r0 = 0\nexit\n", None),
])
def test_percpu_pointers_with_kallsyms(all_kallsyms, text, message):
    assert _verdict(text.format(**kernel_ids()) if "{" in text else text) == message


_Z3_MORE = [  # arithmetic before and after the NULL check, memory given to a helper
    _ACTIVE + "r2 = 1\ncall 153\nr0 += 4\nr0 = 0\nexit\n",
    _ACTIVE + "r2 = 1\ncall 153\nif r0 == 0 goto o\nr0 += 4\nr0 = *(u32 *)(r0 - 4)\no:\nexit\n",
    _RQ + "r2 = 0\ncall 153\nif r0 == 0 goto o\nr0 = *(u64 *)(r0 + 8)\no:\nr0 = 0\nexit\n",
    "ld_pseudo r1, 3, {func}\nr0 = *(u8 *)(r1 + 0)\nr0 = 0\nexit\n",
    "ld_pseudo r1, 3, {func}\nif r1 == 0 goto o\nr0 = 1\nexit\no:\nr0 = 0\nexit\n",
]


@pytest.mark.parametrize("text", [t for t, _ in test_percpu_pointers_with_kallsyms.pytestmark[0]
                                  .args[1]] + _Z3_MORE)
def test_z3_agrees_on_ksym_variables(all_kallsyms, text):
    """With per-CPU symbols in kallsyms (no kernel to ask: the reference kernel refuses every
    variable), the Z3 engine (model.symbolic.kmem) finds an unsafe execution exactly where
    the abstract verifier rejects, with the verifier's words."""
    from model.symbolic.engine import Engine

    p = Probe("p", "xdp", text.format(**kernel_ids()))
    obj, prog = p.model()
    v = check_program(obj, prog)
    r = Engine(obj, prog).run()
    assert not r.exhausted, r.exhausted
    assert (not r.failures) == v.accepted, ([f.reason for f in r.failures], v.error)
    if r.failures:
        assert v.error.message.splitlines()[-1] in r.failures[0].reason


# -- the interpreter ----------------------------------------------------------------------------
def _machine(text: str, maps=(), ptype: str = "xdp"):
    from model.interp.machine import Machine

    prog = Program("p", ptype, assemble(text))
    for pc, i in prog.iter_pcs():
        if getattr(i, "src", None) == 1 and type(i).__name__ == "LoadImm64":
            prog.map_refs[pc] = MapRef(pc, "m0")
    defs = {f"m{k}": MapDef(f"m{k}", *m) for k, m in enumerate(maps)}
    obj = BpfObject("o", "GPL", defs, [prog])
    return Machine(prog, obj.maps)


#: r1: the CPU to look key 0 up on; r0: its value, or -1 for NULL
_LOOKUP_CPU = ("r6 = r1\nr1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\n"
               "r2 += -4\nr3 = r6\ncall 195\nif r0 == 0 goto null\nr0 = *(u64 *)(r0 + 0)\n"
               "exit\nnull:\nr0 = -1\nexit\n")
NULL = (1 << 64) - 1


@pytest.mark.parametrize("mtype", [6, 5])  # percpu_array, percpu_hash
def test_interpreter_percpu_elem(mtype):
    """This CPU's copy is the program's; another CPU's starts zeroed; a CPU >= nr_cpu_ids
    gives NULL (a hash map: NULL for a key never added, on every CPU)."""
    m = _machine(_LOOKUP_CPU, [(mtype, 4, 8, 4, 0)])
    m.nr_cpus = 3
    if mtype == 5:
        assert m.run(regs={1: 1}).r0 == NULL
    m.maps["m0"].update(bytes(4), (7).to_bytes(8, "little"), 0)
    got = {cpu: m.run(regs={1: cpu}).r0 for cpu in (0, 1, 2, 3, 1 << 32)}
    assert got == {0: 7, 1: 0, 2: 0, 3: NULL, 1 << 32: 7}  # the cpu is a u32


def test_interpreter_percpu_copies_follow_the_element():
    """Deleting a hash element drops its other-CPU copies: added again, they read zero."""
    m = _machine("r0 = 0\nexit\n", [(5, 4, 8, 4, 0)])
    st = m.maps["m0"]
    key = bytes(4)
    st.update(key, (7).to_bytes(8, "little"), 0)
    other = st.lookup_on_cpu(key, 1, 0)
    m.mem.store(other, 8, 5)
    assert m.mem.load(st.lookup_on_cpu(key, 1, 0), 8) == 5
    assert m.mem.load(st.lookup_on_cpu(key, 0, 0), 8) == 7
    assert st.delete(key) == 0 and st.lookup_on_cpu(key, 1, 0) == 0
    st.update(key, (9).to_bytes(8, "little"), 0)
    assert m.mem.load(st.lookup_on_cpu(key, 1, 0), 8) == 0


def test_interpreter_percpu_variables(all_kallsyms):
    ids = kernel_ids()
    text = (f"ld_pseudo r1, 3, {ids['active']}\ncall 154\nr6 = *(u32 *)(r0 + 0)\n"
            f"ld_pseudo r1, 3, {ids['active']}\nr2 = {{cpu}}\ncall 153\n"
            "if r0 == 0 goto null\nr0 = *(u32 *)(r0 + 0)\nr0 += r6\nexit\nnull:\nr0 = 99\nexit\n")
    for cpu, want in ((0, 0), (1, 0), (2, 99)):
        m = _machine(text.format(cpu=cpu))
        m.nr_cpus = 2
        res = m.run(packet=bytes(64))
        assert res.status == "exit" and res.r0 == want, res.fault
    m = _machine(f"ld_pseudo r1, 3, {ids['active']}\nr0 = *(u32 *)(r1 + 0)\nexit\n")
    assert m.run(packet=bytes(64)).status == "fault"  # a per-CPU address is no memory
    m = _machine(f"ld_pseudo r1, 3, {ids['active']}\ncall 154\nr1 = 1\n"
                 "*(u32 *)(r0 + 0) = r1\nr0 = 0\nexit\n")
    res = m.run(packet=bytes(64))
    assert res.status == "fault" and "read-only" in res.fault.reason


def test_interpreter_copy_from_user_task():
    """flags != 0: -EINVAL; size 0: 0; otherwise no user memory is modelled: the
    destination is zeroed and -EFAULT returned, as the kernel's failed copy does."""
    from model.interp.percpu import copy_from_user_task

    m = _machine("r0 = 0\nexit\n", ptype="syscall")
    m.run(ctx=bytes(64))
    from model.interp.memory import Region

    buf = m.mem.add(Region("buf", "stack", 0x1234_0000, bytearray(b"\xff" * 8), True))
    assert copy_from_user_task(m, buf.base, 8, 0x1000, 0, 1) == -22
    assert bytes(buf.data) == b"\xff" * 8
    assert copy_from_user_task(m, buf.base, 0, 0x1000, 0, 0) == 0
    assert copy_from_user_task(m, buf.base, 8, 0x1000, 0, 0) == -14
    assert bytes(buf.data) == bytes(8)


C_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

extern const int bpf_prog_active __ksym;

SEC("xdp")
int sum_cpus(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 total = 0;

	for (__u32 cpu = 0; cpu < 4; cpu++) {
		__u64 *v = bpf_map_lookup_percpu_elem(&counts, &key, cpu);
		if (v)
			total += *v;
	}
	return total ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int active(struct xdp_md *ctx)
{
	const int *a = bpf_this_cpu_ptr(&bpf_prog_active);

	return *a ? XDP_DROP : XDP_PASS;
}

SEC("syscall")
int copy(void *ctx)
{
	char buf[16];

	return bpf_copy_from_user_task(buf, sizeof(buf), (void *)0x1000,
				       bpf_get_current_task_btf(), 0);
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_kernel
@pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed")
def test_c_program(tmp_path, capsys):
    """From C: skv's verdict is the kernel's on each program (the per-CPU variable is
    refused by a kernel whose kallsyms lacks it, as the reference kernel's does)."""
    from callback_probes import check_c_program

    rows = check_c_program(tmp_path, capsys, C_SOURCE)
    assert rows["sum_cpus"]["verdict"] == rows["copy"]["verdict"] == "accepted"
    for name, row in rows.items():
        assert row["kernel"]["verdict"] == row["verdict"], row
        # bpf_map_lookup_percpu_elem and bpf_copy_from_user_task's typed task: followed
        # by the Z3 engine; the __ksym variable: refused at load, by the kernel too
        assert (row["models"]["M2"]["safe"] is True) == (name != "active"), row


@needs_kernel
def test_sleepable_tp_btf_is_refused_like_the_kernel():
    """can_be_sleepable: a sleepable tp_btf program (BPF_TRACE_RAW_TP) is refused; the
    kernel wrapper names no tp_btf.s target, so the load is made here."""
    from model.elf import btf as B
    from model.isa import encode
    from model.kernel.bpf import ProgBtf, prog_load
    from model.kernel.oracle import rejection_reason
    from model.platform.tracing_targets import vmlinux_btf

    insns = assemble("r0 = 0\nexit\n")
    target = vmlinux_btf().find("btf_trace_sched_switch", B.TYPEDEF).id
    res = prog_load("tracing", encode(insns), expected_attach_type=23, prog_flags=1 << 4,
                    btf=ProgBtf(attach_btf_id=target))
    res.close()
    prog = Program("p", "tp_btf.s/sched_switch", insns)
    v = check_program(BpfObject("o", "GPL", {}, [prog]), prog)
    assert not res.ok and not v.accepted
    assert v.error.message == rejection_reason(res.log)


def test_sleepable_flag_only_where_the_section_sleeps():
    """BPF_F_SLEEPABLE on a program no ``.s`` section (or the syscall type) makes sleepable
    would change its helpers, maps and typed pointers unseen: not modelled."""
    from model.platform.prog_flags import flags_unmodelled
    from model.platform.prototypes import sleepable

    assert sleepable("kprobe", "uprobe.s") and sleepable("tracing", "iter.s/task")
    assert sleepable("syscall") and not sleepable("kprobe", "kprobe/do_nanosleep")
    assert flags_unmodelled(1 << 4, True) is None
    assert flags_unmodelled(1 << 4, False) == "not modelled: program flags BPF_F_SLEEPABLE"


#: task_struct pointer fields of every kind of trust (__safe_trusted, RCU, plain)
WALKED = ("real_parent", "group_leader", "mm", "cred", "nsproxy", "files", "parent",
          "cgroups")


@needs_kernel
@pytest.mark.parametrize("section", ["syscall", "uprobe.s", "kprobe/x"])
def test_typed_walks_in_and_out_of_rcu(section):
    """A field of the current task read in a sleepable program (outside RCU) and in a
    non-sleepable one, dereferenced or passed to bpf_task_pt_regs: the kernel's verdict and
    words (192 such programs over every task_struct pointer field agreed when written)."""
    from tracing_probes import member_off

    from model.elf import btf as B
    from model.platform.tracing_targets import vmlinux_btf

    task = vmlinux_btf().find("task_struct", B.STRUCT)
    kinds = {m.name: vmlinux_btf().resolve(vmlinux_btf().resolve(m.type).type).name
             for m in task.members if m.name in WALKED}
    ptype = "syscall" if section == "syscall" else "kprobe"
    bad = []
    for name in WALKED:
        load = f"call 158\nr1 = *(u64 *)(r0 + {member_off('task_struct', name)})\n"
        uses = ["r0 = *(u64 *)(r1 + 0)\n"] + (["call 175\n"] if kinds[name] == "task_struct"
                                              else [])
        for use in uses:
            p = Probe(f"{name}", ptype, load + use + "r0 = 0\nexit\n",
                      section="" if section == "syscall" else section)
            j = judge(p)
            assert not (j.ours_ok and not j.kernel_ok), f"FALSE ACCEPT {section} {p.text}"
            if (j.ours_ok, j.ours_msg) != (j.kernel_ok, j.kernel_msg):
                bad.append((name, use, j.kernel_msg, j.ours_msg))
    assert not bad, bad
