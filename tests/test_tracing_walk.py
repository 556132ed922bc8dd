"""btf_struct_walk and btf_ctx_access, swept: loads at many (offset, size) pairs through
PTR_TO_BTF_ID pointers to real kernel structs (nested structs, arrays, bitfields, unions,
holes, pointer members) and through the typed contexts of several tracepoints, each judged
by skv's abstract verifier and by the running kernel (tp_btf programs, which it loads). Every
pointer member is also loaded and dereferenced, which checks the NULL-ness skv gives it.
Verdicts must agree and skv must never accept what the kernel refuses."""

from __future__ import annotations

import random

import pytest

from model.elf import btf as B
from tracing_probes import build, compare, kernel_refusal, member_off, skv_verdict

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path("/sys/kernel/btf/vmlinux").exists(),
    reason="no kernel BTF (/sys/kernel/btf/vmlinux)")

#: (tracepoint section, context offset of a struct pointer argument, a path of pointer
#: members from it to the struct swept)
BASES = [
    ("tp_btf/sched_switch", 8, ()),                    # task_struct (trusted)
    ("tp_btf/sched_switch", 8, ("task_struct", "mm")),  # mm_struct (plain)
    ("tp_btf/kfree_skb", 0, ()),                       # sk_buff: unions, bitfields
    ("tp_btf/ext4_unlink_exit", 0, ()),                # dentry
    ("tp_btf/sched_switch", None, ()),                 # bpf_get_current_task_btf()
]
SIZES = (1, 2, 4, 8)
STATS: dict[str, int] = {"false_accepts": 0}


def _kernel_or_skip(section: str) -> None:
    from model.kernel import available

    ok, why = available()
    if not ok:
        pytest.skip(why)
    why = kernel_refusal(section)
    if why is not None:
        pytest.skip(why)


def _struct_of(section: str, ctx_off: int, path) -> B.BtfType:
    from model.platform.btf_access import ctx_read
    from model.platform.tracing_targets import attach_target, vmlinux_btf

    btf = vmlinux_btf()
    if ctx_off is None:
        return btf.find("task_struct", B.STRUCT)
    t = attach_target("tracing", 23, section)
    got = ctx_read(btf, t, ctx_off, 8, False)
    s = btf.type(got.btf_id)
    if path:
        m = next(m for m in s.members if m.name == path[1])
        s = btf.resolve(btf.resolve(m.type).type)
    return s


def _prefix(ctx_off: int, path) -> str:
    text = "call 158\nr6 = r0\n" if ctx_off is None else f"r6 = *(u64 *)(r1 + {ctx_off})\n"
    if path:
        text += f"r6 = *(u64 *)(r6 + {member_off(*path)})\n"
    return text


def _judge(text: str, section: str) -> None:
    obj, prog = build(text, section)
    compare(f"{section}:\n{text}\n", prog, skv_verdict(obj, prog), STATS)


@pytest.mark.parametrize("section,ctx_off,path", BASES,
                         ids=[f"{b[0]}+{'current' if b[1] is None else b[1]}"
                              f"{'->' + b[2][1] if b[2] else ''}" for b in BASES])
def test_struct_loads(section, ctx_off, path):
    _kernel_or_skip(section)
    s = _struct_of(section, ctx_off, path)
    rng = random.Random(f"{section}{ctx_off}{path}")
    pre = _prefix(ctx_off, path)
    offs = [rng.randrange(0, s.size + 16) for _ in range(150)]
    for off in offs:
        size = rng.choice(SIZES)
        _judge(pre + f"r0 = *(u{8 * size} *)(r6 + {off})\nr0 = 0\nexit", section)


@pytest.mark.parametrize("section,ctx_off,path", BASES,
                         ids=[f"{b[0]}+{'current' if b[1] is None else b[1]}"
                              f"{'->' + b[2][1] if b[2] else ''}" for b in BASES])
def test_pointer_members_deref(section, ctx_off, path):
    """Load each pointer member (top level) and read one byte through it, unchecked: the
    kernel refuses exactly the members it marks maybe-NULL."""
    _kernel_or_skip(section)
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()
    s = _struct_of(section, ctx_off, path)
    pre = _prefix(ctx_off, path)
    for m in s.members:
        if m.offset >> 24 if s.kind_flag else False:
            continue
        if btf.resolve(m.type).kind != B.PTR:
            continue
        off = m.bit_offset(s.kind_flag) // 8
        _judge(pre + f"r7 = *(u64 *)(r6 + {off})\nr0 = *(u8 *)(r7 + 0)\nr0 = 0\nexit",
               section)


CTX_SECTIONS = ["tp_btf/sched_switch", "tp_btf/sched_pi_setprio", "tp_btf/kfree_skb",
                "tp_btf/sched_process_exec"]


@pytest.mark.parametrize("section", CTX_SECTIONS)
def test_ctx_sweep(section):
    """Every (offset, size) from -8 to 104 in steps of 2: reads, and 8-byte writes."""
    _kernel_or_skip(section)
    for off in range(-8, 105, 2):
        at = f"r1 {'-' if off < 0 else '+'} {abs(off)}"
        for size in SIZES:
            _judge(f"r0 = *(u{8 * size} *)({at})\nr0 = 0\nexit", section)
        if off % 8 == 0:
            _judge(f"r2 = 0\n*(u64 *)({at}) = r2\nr0 = 0\nexit", section)


def test_zz_stats():
    print(f"\nstruct-walk / ctx sweep: {STATS}")
    assert STATS["false_accepts"] == 0
