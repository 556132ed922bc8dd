"""Shared fixtures: repository paths, the external corpora, and compiling BPF C with clang-19."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# The suite tests the pure-Python sources, never a compiled build of them (model/fast.py;
# tests/test_fast_build.py compares the two); subprocesses inherit this.
os.environ["SKV_PURE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"
CORPORA = ROOT.parent / "shared" / "corpora"
CLANG = shutil.which("clang-19")

# What a test C file needs: no system headers (the BPF target has no asm/ includes here).
PRELUDE = r"""
typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64; typedef int __s32; typedef long long __s64;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define STATIC_KEY(name) struct { __uint(type, 2); __type(key, __u32); __type(value, __u32); \
    __uint(map_flags, 1 << 15); __uint(max_entries, 1); } name SEC(".maps")
#define SK_ENTRY(insn, flag) ".pushsection .jump_table, \"aw\"\n\t.balign 8\n\t.long 1b - .\n\t" \
    ".long %l[l_yes] - .\n\t.quad %c0 - . + " #flag "\n\t.popsection\n\t"
static __attribute__((always_inline)) inline int sk_unlikely(void *k) {
    asm goto("1:\n\tgoto +0\n\t" SK_ENTRY(1b, 0) :: "i"(k) :: l_yes);
    return 0;
l_yes:
    return 1;
}
static __attribute__((always_inline)) inline int sk_likely(void *k) {
    asm goto("1:\n\tgoto %l[l_yes]\n\t" SK_ENTRY(1b, 1) :: "i"(k) :: l_yes);
    return 1;
l_yes:
    return 0;
}
static long (*bpf_trace_printk)(const char *fmt, __u32 size, ...) = (void *)6;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="session")
def clang() -> str:
    if CLANG is None:
        pytest.skip("clang-19 is not installed (make test installs it with apt-get)")
    return CLANG


@pytest.fixture(scope="session")
def compile_bpf(clang, tmp_path_factory):
    """compile_bpf(source, name="prog", cpu="v3") -> path of a BPF object built from
    PRELUDE + source."""
    out_dir = tmp_path_factory.mktemp("bpf")

    def build(source: str, name: str = "prog", cpu: str = "v3") -> str:
        src = out_dir / f"{name}.c"
        obj = out_dir / f"{name}.o"
        src.write_text(PRELUDE + source)
        r = subprocess.run([clang, "-O2", "-g", "-target", "bpf", f"-mcpu={cpu}", "-c",
                            str(src), "-o", str(obj)], capture_output=True, text=True)
        if r.returncode:
            raise AssertionError(f"clang failed on {name}.c:\n{r.stderr}")
        return str(obj)

    return build


def bundled_objects() -> list[Path]:
    return sorted(BPFPROGS.glob("*.o"))


def corpus(name: str) -> Path:
    path = CORPORA / name
    if not path.is_dir():
        pytest.skip(f"external corpus {path} is absent (it lives in ../shared/corpora)")
    return path


def kernel_or_skip():
    from model.kernel import available

    ok, why = available()
    if not ok:
        pytest.skip(why)


__all__ = ["ROOT", "BPFPROGS", "CORPORA", "PRELUDE", "bundled_objects", "corpus",
           "kernel_or_skip", "os"]
