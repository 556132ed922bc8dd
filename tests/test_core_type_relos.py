"""CO-RE type-based relocations (``bpf_core_type_matches``, ``bpf_core_type_exists``,
``bpf_core_type_size``, the target type id) resolved against the running kernel's BTF as
libbpf resolves them.

The oracle is the system's libbpf itself (``libbpf.so.1`` through ctypes): it opens and
loads each object, the kernel runs the loaded program (``BPF_PROG_TEST_RUN``), and the
program returns the one relocated value; skv's value is the immediate its own relocation
wrote into the same instruction.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from conftest import kernel_or_skip
from model.elf.loader import load_object

DEFS = r"""
typedef int pid_t___l;
typedef long pid_t___w;
struct mm_struct___q { int x; };
struct task_struct___ok { int pid; int tgid; } __attribute__((preserve_access_index));
struct task_struct___wide { long pid; } __attribute__((preserve_access_index));
struct task_struct___uns { unsigned int pid; } __attribute__((preserve_access_index));
struct task_struct___nofield { int no_such_field; } __attribute__((preserve_access_index));
struct task_struct___ptr { struct mm_struct___q *mm; } __attribute__((preserve_access_index));
union mm_struct___u { int x; };
struct task_struct___uptr { union mm_struct___u *mm; } __attribute__((preserve_access_index));
struct no_such_struct_in_vmlinux { int x; };
enum pid_type___ok { PIDTYPE_PID___ok, PIDTYPE_TGID___ok };
enum pid_type___bad { PIDTYPE_PID___bad, NO_SUCH_PIDTYPE___bad };
"""

# (program name, expression returning one relocated value)
CASES = [
    ("m_ok", "__builtin_preserve_type_info(*(struct task_struct___ok *)0, 2)"),
    ("m_wide", "__builtin_preserve_type_info(*(struct task_struct___wide *)0, 2)"),
    ("m_uns", "__builtin_preserve_type_info(*(struct task_struct___uns *)0, 2)"),
    ("m_nofield", "__builtin_preserve_type_info(*(struct task_struct___nofield *)0, 2)"),
    ("m_ptr", "__builtin_preserve_type_info(*(struct task_struct___ptr *)0, 2)"),
    ("m_uptr", "__builtin_preserve_type_info(*(struct task_struct___uptr *)0, 2)"),
    ("m_missing", "__builtin_preserve_type_info(*(struct no_such_struct_in_vmlinux *)0, 2)"),
    ("m_enum_ok", "__builtin_preserve_type_info(*(enum pid_type___ok *)0, 2)"),
    ("m_enum_bad", "__builtin_preserve_type_info(*(enum pid_type___bad *)0, 2)"),
    ("m_typedef", "__builtin_preserve_type_info(*(pid_t___l *)0, 2)"),
    ("m_typedef_w", "__builtin_preserve_type_info(*(pid_t___w *)0, 2)"),
    ("e_missing", "__builtin_preserve_type_info(*(struct no_such_struct_in_vmlinux *)0, 0)"),
    ("e_wide", "__builtin_preserve_type_info(*(struct task_struct___wide *)0, 0)"),
    ("s_missing", "__builtin_preserve_type_info(*(struct no_such_struct_in_vmlinux *)0, 1)"),
    ("s_ok", "__builtin_preserve_type_info(*(struct task_struct___ok *)0, 1) & 0xffff"),
    ("id_missing", "__builtin_btf_type_id(*(struct no_such_struct_in_vmlinux *)0, 1) != 0"),
]

SOURCE = DEFS + "".join(f'SEC("socket") int {name}(void *ctx) {{ return {expr}; }}\n'
                        for name, expr in CASES)


def _libbpf():
    path = ctypes.util.find_library("bpf")
    if path is None:
        pytest.skip("the system's libbpf (libbpf.so.1), the oracle of these tests, is absent")
    lib = ctypes.CDLL(path, use_errno=True)
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
    return lib


@pytest.fixture(scope="module")
def obj_path(compile_bpf):
    from model.elf.core import VMLINUX_BTF, target_btf

    if target_btf(VMLINUX_BTF) is None:
        pytest.skip(f"no kernel BTF at {VMLINUX_BTF}")
    return compile_bpf(SOURCE, "core_type_relos")


def _skv_values(path: str) -> dict[str, int]:
    out = {}
    for prog in load_object(path).programs:
        assert not prog.core_relos, (prog.name, prog.core_unresolved)
        (pc, _), = prog.core_applied.items()
        out[prog.name] = prog.by_pc()[pc].imm
    return out


def test_type_relocations_resolve_as_the_kernels_btf_says(obj_path):
    """What the running kernel's BTF implies, independently of any oracle: task_struct's
    pid is a 32-bit signed int (pid_t), its mm a pointer to struct mm_struct; no type
    named no_such_struct_in_vmlinux exists (type-based relocations are then 0)."""
    got = _skv_values(obj_path)
    want_match = {"m_ok": 1, "m_wide": 0, "m_uns": 0, "m_nofield": 0, "m_ptr": 1, "m_uptr": 0,
                  "m_missing": 0, "m_enum_ok": 1, "m_enum_bad": 0, "m_typedef": 1,
                  "m_typedef_w": 0, "e_missing": 0, "e_wide": 1, "s_missing": 0}
    assert {k: got[k] for k in want_match} == want_match
    from model.elf.core import VMLINUX_BTF, target_btf

    assert got["s_ok"] == target_btf(VMLINUX_BTF).find("task_struct", 4).size


def test_type_relocations_agree_with_libbpf(obj_path):
    kernel_or_skip()
    from model.kernel.oracle import prog_test_run

    lib = _libbpf()
    obj = lib.bpf_object__open_file(obj_path.encode(), None)
    assert obj, f"libbpf could not open {obj_path} (errno {ctypes.get_errno()})"
    try:
        assert lib.bpf_object__load(obj) == 0, "libbpf could not load the object"
        theirs = {}
        for name, _ in CASES:
            fd = lib.bpf_program__fd(lib.bpf_object__find_program_by_name(obj, name.encode()))
            theirs[name] = prog_test_run(fd, bytes(64)).retval
    finally:
        lib.bpf_object__close(obj)
    ours = _skv_values(obj_path)
    ours["s_ok"] &= 0xFFFF
    ours["id_missing"] = int(ours["id_missing"] != 0)
    assert ours == theirs
