"""Probe programs for BTF-typed programs (tests/test_tracing.py): assembler text per section,
with struct member offsets taken from the running kernel's BTF (never hard-coded), and the
three judges: the running kernel (loaded with the target's attach_btf_id), skv's abstract
verifier, and the Z3 engine (which must never call one safe: it does not model them)."""

from __future__ import annotations

from dataclasses import dataclass

from model.elf import btf as B
from model.isa import assemble, encode
from model.program import BpfObject, Program


def c_object_with_vmlinux(d, source: str):
    """``source`` compiled by clang-19 for BPF in folder ``d`` with the running kernel's
    vmlinux.h (bpftool) and libbpf's headers: the object's path (the test skips without
    those tools)."""
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    from conftest import CLANG

    bpftool, vmlinux = shutil.which("bpftool"), "/sys/kernel/btf/vmlinux"
    if CLANG is None or bpftool is None or not Path("/usr/include/bpf/bpf_helpers.h").exists():
        pytest.skip("clang-19, bpftool and libbpf headers are needed to build C programs")
    with open(d / "vmlinux.h", "w") as f:
        subprocess.run([bpftool, "btf", "dump", "file", vmlinux, "format", "c"], stdout=f,
                       check=True)
    (d / "t.c").write_text(source)
    subprocess.run([CLANG, "-target", "bpf", "-O2", "-g", "-D__TARGET_ARCH_x86",
                    f"-I{d}", "-c", str(d / "t.c"), "-o", str(d / "t.o")], check=True)
    return d / "t.o"


def member_off(struct: str, *path: str) -> int:
    """Byte offset of ``struct.path[0].path[1]...`` in vmlinux BTF (nested structs only)."""
    from model.platform.tracing_targets import vmlinux_btf

    btf = vmlinux_btf()

    def find(t, name):  # (offset, type) of member ``name``, through anonymous members
        for m in t.members:
            mt = btf.resolve(m.type)
            here = m.bit_offset(t.kind_flag) // 8
            if m.name == name:
                return here, mt
            if not m.name and mt.kind in (B.STRUCT, B.UNION):
                got = find(mt, name)
                if got is not None:
                    return here + got[0], got[1]
        return None

    t = btf.find(struct, B.STRUCT)
    off = 0
    for name in path:
        got = find(t, name)
        if got is None:
            raise KeyError(f"{t.name} has no member {name}")
        off, t = off + got[0], got[1]
    return off


def build(text: str, section: str, license: str = "GPL") -> tuple[BpfObject, Program]:
    prog = Program("t", section, assemble(text))
    return BpfObject("inline", license, {}, [prog]), prog


@dataclass
class Verdict:
    ok: bool
    msg: str
    log: str = ""


def kernel_verdict(prog: Program, license: str = "GPL") -> Verdict:
    from model.errors import SkvError
    from model.kernel import verify
    from model.kernel.attach import attach_btf_id
    from model.kernel.bpf import ProgBtf

    try:
        target = attach_btf_id(prog)
    except SkvError:  # no target in this kernel: it refuses the load itself
        target = 0
    r = verify(encode(prog.insns), prog.prog_type, expected_attach_type=prog.attach_type,
               btf=ProgBtf(attach_btf_id=target), license=license)
    skip = ("processed ", "verification time", "stack depth")
    lines = [x for x in r.log.strip().splitlines() if x and not x.startswith(skip)]
    return Verdict(r.ok, lines[-1] if lines else f"errno {r.errno}", r.log)


def skv_verdict(obj: BpfObject, prog: Program) -> Verdict:
    from model.verifier.checker import check_program

    v = check_program(obj, prog)
    return Verdict(v.accepted, v.error.message if v.error else "")


def z3_safe(obj: BpfObject, prog: Program) -> bool:
    from model.errors import SkvError
    from model.symbolic import analyse_program

    try:
        return analyse_program(obj, prog)["models"]["M2"]["safe"]
    except SkvError:
        return False


def compare(name: str, prog: Program, ours: Verdict, counts: dict) -> Verdict:
    """Load ``prog`` into the kernel, count the comparison in ``counts`` and assert skv's
    verdict is the kernel's (a false accept named as such)."""
    k = kernel_verdict(prog)
    counts["kernel_compared"] = counts.get("kernel_compared", 0) + 1
    key = "agree" if k.ok == ours.ok else "false_accepts" if ours.ok else "false_rejects"
    counts[key] = counts.get(key, 0) + 1
    counts["kernel_accepts"] = counts.get("kernel_accepts", 0) + k.ok
    assert not (ours.ok and not k.ok), f"FALSE ACCEPT {name}: kernel: {k.msg}"
    assert ours.ok == k.ok, f"{name}: kernel {k.ok} ({k.msg}), skv {ours.ok} ({ours.msg})"
    return k


_KERNEL_LOADS: dict[str, str | None] = {}


def kernel_refusal(section: str) -> str | None:
    """Why the running kernel cannot judge programs of ``section``'s kind (None: it can):
    some kernels refuse fentry/fexit/fmod_ret/lsm loads before the verifier runs (EPERM,
    empty log), which says nothing about the program."""
    kind = section.split("/")[0]
    if kind not in _KERNEL_LOADS:
        _, prog = build("r0 = 0\nexit", section)
        r = kernel_verdict(prog)
        _KERNEL_LOADS[kind] = None if r.ok else (
            f"the running kernel refuses even an empty {kind} program ({r.msg}) before "
            "verifying it")
    return _KERNEL_LOADS[kind]


def probes() -> list[tuple[str, str, str, bool | None, str | None]]:
    """(name, section, text, expected verdict where the kernel cannot say or None, a
    fragment of skv's message or None)."""
    pid = member_off("task_struct", "pid")
    parent = member_off("task_struct", "real_parent")
    tgid = member_off("task_struct", "tgid")
    mm = member_off("task_struct", "mm")
    total_vm = member_off("mm_struct", "total_vm")
    stack = member_off("task_struct", "stack")
    d_inode = member_off("dentry", "d_inode")
    i_ino = member_off("inode", "i_ino")
    f_flags = member_off("file", "f_flags")
    name_off = member_off("filename", "name")
    refcnt = member_off("filename", "refcnt")
    aname = member_off("filename", "aname")
    tp, fe, fx, fm = ("tp_btf/sched_switch", "fentry/do_unlinkat", "fexit/do_unlinkat",
                      "fmod_ret/security_file_open")
    prev = "r6 = *(u64 *)(r1 + 8)\n"
    name = "r6 = *(u64 *)(r1 + 8)\n"           # do_unlinkat(int dfd, struct filename *name)
    end = "r0 = 0\nexit"
    return [
        # tp_btf: sched_switch(bool preempt, task_struct *prev, task_struct *next, uint)
        ("tp int arg", tp, "r0 = *(u32 *)(r1 + 0)\n" + end, None, None),
        ("tp int arg signed", tp, "r0 = *(s32 *)(r1 + 24)\n" + end, None, None),
        ("tp offset not multiple of 8", tp, "r0 = *(u32 *)(r1 + 4)\n" + end, None,
         "offset 4 is not multiple of 8"),
        ("tp narrow pointer arg", tp, "r0 = *(u32 *)(r1 + 8)\n" + end, None, "must be 8"),
        ("tp missing argument", tp, "r0 = *(u64 *)(r1 + 32)\n" + end, None,
         "doesn't have 5-th argument"),
        ("tp past the context", tp, "r0 = *(u64 *)(r1 + 96)\n" + end, None,
         "invalid bpf_context access off=96"),
        ("tp negative ctx offset", tp, "r0 = *(u64 *)(r1 - 8)\n" + end, None, None),
        ("tp ctx write", tp, "r2 = 1\n*(u64 *)(r1 + 0) = r2\n" + end, None, None),
        ("tp struct field", tp, prev + f"r0 = *(u32 *)(r6 + {pid})\n" + end, None, None),
        ("tp pointer chain", tp, prev + f"r6 = *(u64 *)(r6 + {parent})\n"
         f"r0 = *(u32 *)(r6 + {tgid})\n" + end, None, None),
        ("tp plain pointer chain", tp, prev + f"r6 = *(u64 *)(r6 + {mm})\n"
         f"r0 = *(u64 *)(r6 + {total_vm})\n" + end, None, None),
        ("tp anonymous struct too small", tp, prev + f"r6 = *(u64 *)(r6 + {mm})\n"
         "r0 = *(u64 *)(r6 + 0)\n" + end, None, "access beyond struct (anon)"),
        ("tp narrow pointer member", tp, prev + f"r0 = *(u32 *)(r6 + {mm})\n" + end, None,
         "cannot access ptr member mm"),
        ("tp void pointer member deref", tp, prev + f"r6 = *(u64 *)(r6 + {stack})\n"
         "r0 = *(u8 *)(r6 + 0)\n" + end, None, None),
        ("tp void pointer member, far and variable", tp, prev + f"r6 = *(u64 *)(r6 + {stack})\n"
         "r2 = *(u32 *)(r1 + 24)\nr6 += r2\nr0 = *(u64 *)(r6 - 4000)\n" + end, None, None),
        ("tp void pointer member write", tp, prev + f"r6 = *(u64 *)(r6 + {stack})\n"
         "r2 = 1\n*(u8 *)(r6 + 0) = r2\n" + end, None, "cannot write into rdonly_untrusted_mem"),
        ("tp void pointer member as helper memory", tp, prev + f"r6 = *(u64 *)(r6 + {stack})\n"
         "r1 = r6\nr2 = 8\ncall 6\n" + end, None, None),
        ("tp write through BTF pointer", tp, prev + "r2 = 1\n"
         f"*(u32 *)(r6 + {pid}) = r2\n" + end, None, "only read is supported"),
        ("tp store imm through BTF pointer", tp, prev + f"*(u32 *)(r6 + {pid}) = 1\n" + end,
         None, "only read is supported"),
        ("tp atomic through BTF pointer", tp, prev + "r2 = 1\n"
         f"lock *(u32 *)(r6 + {pid}) += r2\n" + end, None, None),
        ("tp beyond struct", tp, prev + "r0 = *(u32 *)(r6 + 30000)\n" + end, None,
         "access beyond struct task_struct at off 30000 size 4"),
        ("tp negative field", tp, prev + "r0 = *(u32 *)(r6 - 8)\n" + end, None,
         "invalid negative access"),
        ("tp moved pointer", tp, prev + f"r6 += 8\nr0 = *(u32 *)(r6 + {pid - 8})\n" + end,
         None, None),
        ("tp variable offset", tp, prev + "r2 = *(u32 *)(r1 + 24)\nr2 &= 8\nr6 += r2\n"
         "r0 = *(u32 *)(r6 + 0)\n" + end, None, "invalid variable offset"),
        ("tp pointer bitwise", tp, prev + "r6 &= 1\n" + end, None, None),
        ("tp 32-bit pointer arithmetic", tp, prev + "w6 += 1\n" + end, None, None),
        ("tp return a pointer", tp, prev + "r0 = r6\nexit", None, None),
        ("tp null check", tp, prev + f"if r6 == 0 goto +1\nr0 = *(u32 *)(r6 + {pid})\n"
         + end, None, None),
        # raw_tp_null_args: sched_pi_setprio(task_struct *tsk, task_struct *pi_task), 0x10
        ("tp maybe-NULL arg unchecked", "tp_btf/sched_pi_setprio",
         f"r6 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r6 + {pid})\n" + end, None,
         "invalid mem access 'trusted_ptr_or_null_'"),
        ("tp maybe-NULL arg checked", "tp_btf/sched_pi_setprio",
         f"r6 = *(u64 *)(r1 + 8)\nif r6 == 0 goto +1\nr0 = *(u32 *)(r6 + {pid})\n" + end,
         None, None),
        ("tp maybe-NULL arg moved", "tp_btf/sched_pi_setprio",
         "r6 = *(u64 *)(r1 + 8)\nr6 += 8\n" + end, None, None),
        ("tp first arg of a NULL-able tracepoint", "tp_btf/sched_pi_setprio",
         f"r6 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r6 + {pid})\n" + end, None, None),
        # dentry__safe_trusted_or_null: a trusted dentry's d_inode may be NULL
        ("tp trusted-or-null member unchecked", "tp_btf/ext4_unlink_exit",
         f"r6 = *(u64 *)(r1 + 0)\nr6 = *(u64 *)(r6 + {d_inode})\n"
         f"r0 = *(u64 *)(r6 + {i_ino})\n" + end, None, "ptr_or_null_"),
        ("tp trusted-or-null member checked", "tp_btf/ext4_unlink_exit",
         f"r6 = *(u64 *)(r1 + 0)\nr6 = *(u64 *)(r6 + {d_inode})\nif r6 == 0 goto +1\n"
         f"r0 = *(u64 *)(r6 + {i_ino})\n" + end, None, None),
        # bpf_get_current_task_btf: a trusted task_struct
        ("current task field", tp, f"call 158\nr0 = *(u32 *)(r0 + {pid})\n" + end, None, None),
        ("current task write", tp, f"call 158\nr2 = 1\n*(u32 *)(r0 + {pid}) = r2\n" + end,
         None, "only read is supported"),
        ("current task to probe_read_kernel", tp,
         f"call 158\nr3 = r0\nr3 += {pid}\nr1 = r10\nr1 += -8\nr2 = 4\ncall 113\n" + end,
         None, None),
        # fentry / fexit / fmod_ret on do_unlinkat(int dfd, struct filename *name) -> int
        ("fentry int arg", fe, "r0 = *(u64 *)(r1 + 0)\n" + end, True, None),
        ("fentry struct field", fe, name + f"r0 = *(u32 *)(r6 + {refcnt})\n" + end, True, None),
        ("fentry char pointer member read", fe, name + f"r6 = *(u64 *)(r6 + {name_off})\n"
         "r0 = *(u8 *)(r6 + 0)\n" + end, True, None),
        ("fentry pointer chain (untrusted)", fe, name + f"r6 = *(u64 *)(r6 + {aname})\n"
         "r0 = *(u64 *)(r6 + 0)\n" + end, True, None),
        ("fentry pointer chain, write", fe, name + f"r6 = *(u64 *)(r6 + {aname})\n"
         "r2 = 0\n*(u64 *)(r6 + 0) = r2\n" + end, False, "only read is supported"),
        ("fentry arg pointer arithmetic and null test", fe, name + "if r6 == 0 goto +2\n"
         f"r6 += {refcnt}\nr0 = *(u32 *)(r6 + 0)\n" + end, True, None),
        ("fentry no return slot", fe, "r0 = *(u64 *)(r1 + 16)\n" + end, False,
         "func 'do_unlinkat' doesn't have 3-th argument"),
        ("fentry out-of-range argument", fe, "r0 = *(u64 *)(r1 + 24)\n" + end, False,
         "doesn't have 4-th argument"),
        ("fentry write through BTF pointer", fe, name + "r2 = 0\n"
         f"*(u32 *)(r6 + {refcnt}) = r2\n" + end, False, "only read is supported"),
        ("fentry returns 1", fe, "r0 = 1\nexit", False, "should have been in [0, 0]"),
        ("fexit return value", fx, "r0 = *(u64 *)(r1 + 16)\n" + end, True, None),
        ("fexit past the return value", fx, "r0 = *(u64 *)(r1 + 24)\n" + end, False,
         "doesn't have 4-th argument"),
        ("fmod_ret return value", fm, "r0 = *(u64 *)(r1 + 8)\nexit", True, None),
        ("fmod_ret past the return value", fm, "r0 = *(u64 *)(r1 + 16)\nexit", False,
         "doesn't have 3-th argument"),
        ("fmod_ret unmodifiable target", "fmod_ret/do_unlinkat", "r0 = 0\nexit", False,
         "not modelled: fmod_ret target do_unlinkat"),
        ("fmod_ret any return", fm, "r0 = -22\nexit", True, None),
        ("fmod_ret void function", "fmod_ret/security_d_instantiate",
         "r0 = *(u64 *)(r1 + 16)\n" + end, False, "doesn't have 4-th argument"),
        # lsm: file_open(struct file *file) -> int: [-4095, 0] on r0's low 32 bits
        ("lsm field", "lsm/file_open", f"r6 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r6 + {f_flags})\n"
         + end, True, None),
        ("lsm returns 1", "lsm/file_open", "r0 = 1\nexit", False, "should have been in"),
        ("lsm returns -4095", "lsm/file_open", "r0 = -4095\nexit", True, None),
        ("lsm returns -4096", "lsm/file_open", "r0 = -4096\nexit", False, "should have been"),
        ("lsm returns w0 = -1", "lsm/file_open", "w0 = -1\nexit", True, None),
        ("lsm passes the previous verdict", "lsm/file_open",
         "r0 = *(u64 *)(r1 + 8)\nexit", True, None),
        ("lsm void hook returns anything", "lsm/file_free_security", "r0 = 7\nexit", True,
         None),
        ("lsm untrusted hook field", "lsm/file_free_security",
         f"r6 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r6 + {f_flags})\n" + end, True, None),
        ("lsm ctx write", "lsm/file_open", "r2 = 0\n*(u64 *)(r1 + 0) = r2\n" + end, False,
         None),
    ]
