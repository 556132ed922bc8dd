"""The context pointer is only dereferenced unmoved (the kernel's check_ptr_off_reg): a load
or store through a ctx pointer with a fixed offset ("dereference of modified ctx ptr",
"negative offset ctx ptr") or a variable one ("variable ctx access") is rejected -- by the
abstract verifier with the kernel's message, and the Z3 engine never calls such a program
M2-safe. Each case is also loaded into the running kernel, which must agree."""

from __future__ import annotations

import pytest

from model.symbolic import analyse_program
from soundness import build, judge, m2_safe
from soundness_probes import SECTION

# (name, section, program text, static sites, kernel accepts?, message fragment)
CASES = [
    ("copy moved", "xdp", "r2 = r1\nr2 += 4\nr0 = *(u32 *)(r2 + 0)\nexit", (), False,
     "dereference of modified ctx ptr R2 off=4 disallowed"),
    ("moved, insn offset compensates", "xdp", "r1 += -4\nr0 = *(u32 *)(r1 + 4)\nexit", (),
     False, "negative offset ctx ptr R1 off=-4 disallowed"),
    ("moved by a known register", "xdp", "r2 = 4\nr1 += r2\nr0 = *(u32 *)(r1 + 0)\nexit", (),
     False, "dereference of modified ctx ptr R1 off=4 disallowed"),
    ("store through moved", "tc", "r1 += 8\nr2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit", (),
     False, "dereference of modified ctx ptr R1 off=8 disallowed"),
    ("kprobe moved", "kprobe", "r1 += 8\nr0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit", (), False,
     "dereference of modified ctx ptr R1 off=8"),
    ("moved across a helper call", "xdp",
     "r6 = r1\nr6 += 8\ncall 5\nr0 = *(u32 *)(r6 + 0)\nexit", (), False,
     "dereference of modified ctx ptr R6 off=8"),
    ("moved through a spilled constant", "xdp",
     "r2 = 4\n*(u64 *)(r10 - 8) = r2\nr2 = *(u64 *)(r10 - 8)\nr1 += r2\n"
     "r0 = *(u32 *)(r1 + 0)\nexit", (), False, "dereference of modified ctx ptr R1 off=4"),
    ("moved back on one branch only", "xdp",
     "r2 = *(u32 *)(r1 + 12)\nr1 += 4\nif r2 > 5 goto +1\nr1 += -4\n"
     "r0 = *(u32 *)(r1 + 0)\nexit", (), False, "dereference of modified ctx ptr R1 off=4"),
    ("variable offset", "xdp",
     "r2 = *(u32 *)(r1 + 12)\nr2 &= 4\nr1 += r2\nr0 = *(u32 *)(r1 + 0)\nexit", (), False,
     "variable ctx access var_off=(0x0; 0x4) disallowed"),
    # Open vSwitch's parser as clang 19 builds it: `skb->cb[..] ? skb->ingress_ifindex :
    # skb->ifindex` becomes the context pointer plus a selected field offset
    ("field offset selected", "tc",
     "r2 = *(u32 *)(r1 + 52)\nr3 = 40\nif r2 == 0x0 goto +1\nr3 = 36\nr4 = r1\nr4 += r3\n"
     "r0 = *(u32 *)(r4 + 0)\nr0 = 0\nexit", (), False,
     "dereference of modified ctx ptr R4 off=36 disallowed"),
    # only the key-on edge moves the pointer: M2 (both edges) must reject
    ("static key moves it", "xdp",
     "r2 = r1\ngoto +0\ngoto +1\nr2 += 4\nr0 = *(u32 *)(r2 + 0)\nexit", ((1, 3),), False,
     "dereference of modified ctx ptr R2 off=4"),
    # accepted twins
    ("moved and moved back", "xdp", "r1 += 4\nr1 += -4\nr0 = *(u32 *)(r1 + 0)\nexit", (),
     True, None),
    ("copy moved and back, store", "tc",
     "r2 = r1\nr2 += 4\nr2 += -4\nr3 = 1\n*(u32 *)(r2 + 8) = r3\nr0 = 0\nexit", (), True, None),
    ("plus zero", "xdp", "r1 += 0\nr0 = *(u32 *)(r1 + 0)\nexit", (), True, None),
    ("plus a zero register", "xdp", "r2 = 0\nr1 += r2\nr0 = *(u32 *)(r1 + 0)\nexit", (), True,
     None),
    ("spilled zero", "xdp",
     "r2 = 0\n*(u64 *)(r10 - 8) = r2\nr2 = *(u64 *)(r10 - 8)\nr1 += r2\n"
     "r0 = *(u32 *)(r1 + 0)\nexit", (), True, None),
    ("moved copy unused", "xdp", "r2 = r1\nr2 += 4\nr0 = *(u32 *)(r1 + 12)\nexit", (), True,
     None),
    ("static key, both edges unmoved", "xdp",
     "r2 = r1\ngoto +0\ngoto +1\nr2 += 0\nr0 = *(u32 *)(r2 + 0)\nexit", ((1, 3),), True, None),
]


@pytest.mark.parametrize("name,section,text,sites,ok,msg", CASES, ids=[c[0] for c in CASES])
def test_verifier_and_z3_on_moved_ctx(name, section, text, sites, ok, msg):
    obj, prog = build(text, section, sites)
    from model.verifier.checker import check_program

    v = check_program(obj, prog)
    assert v.accepted == ok, (v.error, v.log[-4:])
    if msg:
        assert msg in v.error.message
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is ok
    if not ok and "variable" not in msg:  # the interpreter faults there too (a variable
        cx = doc["counterexample"]  # offset may be 0 at run time: only the kernel's rule)
        rule = msg.split(" off=")[0]  # the offset is this run's (36 or 40 when selected)
        assert cx["confirmed"] and cx["fault"].startswith(f"insn {cx['pc']}: {rule}"), cx


@pytest.mark.parametrize("name,section,text,sites,ok,msg", CASES, ids=[c[0] for c in CASES])
def test_kernel_agrees_on_moved_ctx(name, section, text, sites, ok, msg):
    from conftest import kernel_or_skip

    kernel_or_skip()
    j = judge(text, section, sites)
    assert j.kernel_ok == ok, j.kernel_msg
    assert j.ours_ok == j.kernel_ok
    if msg:
        assert msg in j.kernel_msg, j.kernel_msg


# -- sign-extending loads (BPF_MEMSX) of context fields ------------------------------------
SIGNED_CASES = [("tc", "r2 = *(s32 *)(r1 + 76)", False), ("xdp", "r2 = *(s32 *)(r1 + 0)", False),
                ("xdp", "r2 = *(s32 *)(r1 + 12)", True), ("tc", "r2 = *(s8 *)(r1 + 0)", True),
                ("raw_tracepoint", "r2 = *(s16 *)(r1 + 2)", True)]


@pytest.mark.parametrize("section,load,ok", SIGNED_CASES)
def test_signed_load_of_a_packet_pointer_field(section, load, ok):
    from model.verifier.checker import check_program

    obj, prog = build(load + "\nr0 = 0\nexit", section)
    v = check_program(obj, prog)
    assert v.accepted == ok, v.error
    assert m2_safe(obj, prog) is ok


def test_signed_ctx_load_sweep_agrees_with_kernel():
    """Every modelled type, offsets around the context, s8/s16/s32 loads: the kernel accepts
    exactly what ctx_access(signed=True) allows (about 3,900 loads)."""
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.isa import Alu, Exit, Load, encode
    from model.kernel import prog_load
    from model.platform.ctx_layouts import MODELLED_PROG_TYPES, CtxAccess, ctx_access, ctx_layout

    from soundness_probes import ATTACH

    bad = []
    for pt in MODELLED_PROG_TYPES:
        at = ATTACH.get(pt, 0)
        size = ctx_layout(pt, attach_type=at).size
        offs = list(range(-9, 40)) + [8184, 8190] if pt in ("tracepoint", "syscall") else \
            range(-9, size + 9)
        for off in offs:
            for n in (1, 2, 4):
                insns = [Load(n, 2, 1, off, signed=True), Alu("mov", True, 0, None, 0), Exit()]
                r = prog_load(pt, encode(insns), log_level=0, stats=False,
                              expected_attach_type=at)
                r.close()
                want = isinstance(ctx_access(pt, off, n, False, signed=True, attach_type=at),
                                  CtxAccess)
                if r.ok != want:
                    bad.append((pt, off, n, r.ok))
    assert not bad, bad[:10]


def test_ctx_store_immediate_sweep_agrees_with_kernel():
    """BPF_ST (a store of an immediate) into the context, every modelled type, offsets
    around the context, every size: the abstract verifier (the whole engine, not only the
    table) gives the kernel's verdict (about 5,100 loads)."""
    from conftest import kernel_or_skip

    kernel_or_skip()
    from model.isa import Alu, Exit, Store, encode
    from model.kernel import prog_load
    from model.platform.ctx_layouts import MODELLED_PROG_TYPES, ctx_layout
    from model.program import BpfObject, Program
    from model.verifier.checker import check_program

    from soundness_probes import ATTACH, SECTION

    section = {**SECTION, "sched_act": "action", "raw_tracepoint": "raw_tracepoint/f",
               "cgroup_skb": "cgroup_skb/ingress", "syscall": "syscall"}
    bad = []
    for pt in MODELLED_PROG_TYPES:
        at = ATTACH.get(pt, 0)
        size = ctx_layout(pt, attach_type=at).size
        offs = range(-9, 40) if pt in ("tracepoint", "syscall") else range(-9, size + 9)
        for off in offs:
            for n in (1, 2, 4, 8):
                insns = [Store(n, 1, off, None, 7), Alu("mov", True, 0, None, 0), Exit()]
                prog = Program("t", section[pt], insns)
                r = prog_load(pt, encode(insns), log_level=0, stats=False,
                              expected_attach_type=prog.attach_type)
                r.close()
                obj = BpfObject("inline", "GPL", {}, [prog])
                assert prog.prog_type == pt
                if check_program(obj, prog).accepted != r.ok:
                    bad.append((pt, off, n, r.ok))
    assert not bad, bad[:10]
