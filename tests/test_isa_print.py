"""model.isa printers: kernel verifier-log text and llvm-objdump-19 text.

The llvm printer is compared line by line with ``llvm-objdump-19 -d --mcpu=v4`` (and, with
``alu32=False``, plain ``-d``) on every ``bpfprogs/*.o``, on coverage-heavy C compiled
here with clang-19, and on random valid instructions assembled as raw bytes by llvm-mc-19.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from model.isa import (
    Alu, Atomic, Call, Endian, Exit, Jump, LegacyLoad, Load, LoadImm64, MayGoto, Store,
    decode, format_kernel, format_llvm, iter_pcs, kernel_line, llvm_line,
)
from test_isa_roundtrip import insns

ROOT = Path(__file__).resolve().parent.parent
BPFPROGS = ROOT / "bpfprogs"
OBJDUMP = shutil.which("llvm-objdump-19")
CLANG = shutil.which("clang-19")
LLVM_MC = shutil.which("llvm-mc-19")
needs_objdump = pytest.mark.skipif(OBJDUMP is None, reason="llvm-objdump-19 not installed")

LINE = re.compile(r"^\s*(\d+):\t((?:[0-9a-f]{2} )*[0-9a-f]{2})\s*\t(.*)$")


def norm(text: str) -> str:
    """Whitespace-normalised, without objdump's trailing ``<sym+off>`` annotation."""
    return " ".join(re.sub(r"\s<[^<>]*>$", "", text).split())


def objdump(path: Path, *flags: str) -> dict[str, dict[int, tuple[str, str]]]:
    """section -> pc -> (raw line, text) as llvm-objdump-19 -d prints them."""
    out = subprocess.run([OBJDUMP, "-d", *flags, str(path)], check=True,
                         capture_output=True, text=True).stdout
    sections: dict[str, dict[int, tuple[str, str]]] = {}
    cur: dict[int, tuple[str, str]] = {}
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (.*):$", line)
        if m:
            cur = sections.setdefault(m.group(1), {})
            continue
        m = LINE.match(line)
        if m:
            cur[int(m.group(1))] = (line, m.group(3))
    return sections


def exec_sections(path: Path) -> dict[str, bytes]:
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        return {s.name: s.data() for s in ELFFile(f).iter_sections()
                if s["sh_flags"] & 0x4 and s["sh_size"]}


def compare_object(path: Path, *, alu32: bool = True) -> int:
    """Assert our text equals objdump's for every instruction; returns how many."""
    theirs = objdump(path, "--mcpu=v4") if alu32 else objdump(path)
    n = 0
    for name, data in exec_sections(path).items():
        ours = {pc: i for pc, i in iter_pcs(decode(data))}
        dumped = theirs.get(name, {})
        assert sorted(ours) == sorted(dumped), (path.name, name)
        for pc, insn in ours.items():
            line, text = dumped[pc]
            assert norm(format_llvm(insn, pc, alu32=alu32)) == norm(text), (path.name, name, pc, insn)
            assert norm(llvm_line(pc, insn, alu32=alu32)) == norm(line)
            n += 1
    return n


# --- kernel printer --------------------------------------------------------------------

def test_talk_lines():
    prog = [Jump("ja", False, off=0), Alu("mov", True, 0, None, 0), Exit(),
            LoadImm64(1, 2, 31, 0), Alu("mov", True, 2, None, 18), Call(0, 6),
            Jump("ja", False, off=-7)]
    lines = [kernel_line(pc, i) for pc, i in iter_pcs(prog)]
    assert lines == [
        "0: (05) goto pc+0", "1: (b7) r0 = 0", "2: (95) exit",
        "3: (18) r1 = map[id:31][0]+0", "5: (b7) r2 = 18",
        "6: (85) call bpf_trace_printk#6", "7: (05) goto pc-7",
    ]


def test_kernel_map_id_callback():
    ld = LoadImm64(1, 2, 4, 16)
    assert format_kernel(ld, 3, map_id=lambda pc, i: 31 if pc == 3 else None) == \
        "(18) r1 = map[id:31][0]+16"
    assert format_kernel(ld, 4, map_id=lambda pc, i: None) == "(18) r1 = map[id:4][0]+16"
    assert format_kernel(LoadImm64(1, 1, 7), 0) == "(18) r1 = map[id:7]"
    assert format_kernel(LoadImm64(1, 5, 0), 0, map_id=lambda pc, i: 9) == "(18) r1 = map[id:9]"
    assert format_kernel(LoadImm64(1, 6, 0, 8), 0, map_id=lambda pc, i: 9) == \
        "(18) r1 = map[id:9][0]+8"
    assert format_kernel(LoadImm64(1, 5, 3), 0) == "(18) r1 = 0x3"
    assert format_kernel(LoadImm64.from_value(1, 0x123456789), 0) == "(18) r1 = 0x123456789"
    assert format_kernel(LoadImm64.from_value(1, -1), 0) == "(18) r1 = 0xffffffffffffffff"


def test_kernel_helper_names():
    assert format_kernel(Call(0, 1), 0) == "(85) call bpf_map_lookup_elem#1"
    assert format_kernel(Call(0, 211), 0) == "(85) call bpf_cgrp_storage_delete#211"
    assert format_kernel(Call(0, 212), 0) == "(85) call unknown#212"
    assert format_kernel(Call(0, 6), 0, helper_names=False) == "(85) call unknown#6"
    assert format_kernel(Call(0, 6), 0, helper_names={6: "printk"}) == "(85) call printk#6"
    assert format_kernel(Call(0, -79456), 0) == "(85) call unknown#-79456"
    assert format_kernel(Call(1, -5), 0) == "(85) call pc-5"
    assert format_kernel(Call(2, 1234, 1), 0) == "(85) call kernel-function#1234"


KERNEL_CASES = [
    (Alu("mov", True, 1, 10), "(bf) r1 = r10"),
    (Alu("add", True, 10, None, -8), "(07) r10 += -8"),
    (Alu("add", False, 1, 2), "(0c) w1 += w2"),
    (Alu("sub", False, 1, None, 3), "(14) w1 -= 3"),
    (Alu("arsh", True, 1, None, 3), "(c7) r1 s>>= 3"),
    (Alu("neg", True, 1), "(87) r1 = -r1"),
    (Alu("neg", False, 1), "(84) w1 = -w1"),
    (Alu("sdiv", True, 1, 2, 0, 1), "(3f) r1 s/= r2"),
    (Alu("smod", False, 1, None, 7, 1), "(94) w1 s%= 7"),
    (Alu("mod", True, 1, 2), "(9f) r1 %= r2"),
    (Alu("movsx", True, 1, 2, 0, 32), "(bf) r1 = (s32)r2"),
    (Alu("movsx", False, 1, 2, 0, 8), "(bc) w1 = (s8)w2"),
    (Endian("le", 16, 1), "(d4) r1 = le16 r1"),
    (Endian("be", 64, 1), "(dc) r1 = be64 r1"),
    (Endian("bswap", 32, 1), "(d7) r1 = bswap32 r1"),
    (Store(8, 10, -8, 1), "(7b) *(u64 *)(r10 -8) = r1"),
    (Store(1, 10, 3, None, -1), "(72) *(u8 *)(r10 +3) = -1"),
    (Load(8, 0, 1, 0), "(79) r0 = *(u64 *)(r1 +0)"),
    (Load(2, 0, 1, -2, True), "(89) r0 = *(s16 *)(r1 -2)"),
    (Atomic(8, "add", False, 10, 1, -8), "(db) lock *(u64 *)(r10 -8) += r1"),
    (Atomic(4, "xor", False, 10, 1, -8), "(c3) lock *(u32 *)(r10 -8) ^= r1"),
    (Atomic(8, "add", True, 10, 0, -8), "(db) r0 = atomic64_fetch_add((u64 *)(r10 -8), r0)"),
    (Atomic(4, "and", True, 10, 2, 0), "(c3) r2 = atomic_fetch_and((u32 *)(r10 +0), r2)"),
    (Atomic(8, "xchg", True, 10, 3, -8), "(db) r3 = atomic64_xchg((u64 *)(r10 -8), r3)"),
    (Atomic(8, "cmpxchg", True, 10, 3, -8), "(db) r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r3)"),
    (Atomic(4, "cmpxchg", True, 1, 3, 4), "(c3) r0 = atomic_cmpxchg((u32 *)(r1 +4), r0, r3)"),
    (LegacyLoad(1, "abs", None, 12), "(30) r0 = *(u8 *)skb[12]"),
    (LegacyLoad(4, "ind", 3, 2), "(40) r0 = *(u32 *)skb[r3 + 2]"),
    (Jump("jeq", False, 1, None, 0, 3), "(15) if r1 == 0x0 goto pc+3"),
    (Jump("jeq", True, 1, None, 0, 3), "(16) if w1 == 0x0 goto pc+3"),
    (Jump("jsgt", False, 1, 2, 0, -4), "(6d) if r1 s> r2 goto pc-4"),
    (Jump("jset", True, 1, None, -1, 0), "(46) if w1 & 0xffffffff goto pc+0"),
    (Jump("ja", True, imm=70000), "(06) gotol pc+70000"),
    (Jump("ja", True, imm=2, static=1), "(06) gotol_or_nop pc+2"),
    (Jump("ja", True, imm=2, static=3), "(06) nop_or_gotol pc+2"),
    (Jump("ja", True, imm=-2, static=1), "(06) gotol_or_nop pc-2"),
    (Jump("ja", True, imm=2, static=3), "(06) nop_or_gotol pc+2"),
    (MayGoto(5), "(e5) may_goto pc+5"),
    (Exit(), "(95) exit"),
]


@pytest.mark.parametrize("insn,text", KERNEL_CASES, ids=[c[1] for c in KERNEL_CASES])
def test_kernel_format(insn, text):
    assert format_kernel(insn, 0) == text
    assert kernel_line(12, insn) == f"12: {text}"


@given(insns())
def test_kernel_format_total(insn):
    text = format_kernel(insn, 0)
    assert text.startswith(f"({insn.opcode:02x}) ") and "\n" not in text


# --- llvm printer vs llvm-objdump-19 ---------------------------------------------------

BPF_OBJECTS = sorted(BPFPROGS.glob("*.o"))


@needs_objdump
@pytest.mark.skipif(not BPF_OBJECTS, reason=f"no objects in {BPFPROGS}")
@pytest.mark.parametrize("path", BPF_OBJECTS, ids=lambda p: p.name)
def test_llvm_matches_objdump_on_bpfprogs(path):
    assert compare_object(path) > 0
    compare_object(path, alu32=False)


SAMPLE_COMMON = r"""
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long long u64; typedef signed char s8; typedef short s16;
typedef int s32; typedef long long s64;
#define SEC(n) __attribute__((section(n), used))
static long (*helper_printk)(const char *fmt, u32 size, ...) = (void *)6;
static long (*helper_ktime)(void) = (void *)5;

u64 g64; u32 g32; s8 gs8; s16 gs16; s32 gs32; u64 arr[16];

static __attribute__((noinline)) u64 sub(u64 a, u64 b) {
    return (a / b) + (a % 7) + (b << (a & 63)) + (u64)((s64)b >> 3);
}

static __attribute__((noinline)) u32 sub32(u32 a, u32 b) {
    return (a << 3) ^ (a >> (b & 31)) ^ (u32)((s32)b >> 2) ^ (b / 5) ^ (a % b);
}

SEC("socket") int prog_main(void *ctx) {
    u64 x = helper_ktime();
    s64 y = (s64)x;
    x += 0x123456789abcdefULL;
    x = __builtin_bswap64(x) ^ __builtin_bswap32((u32)x) ^ __builtin_bswap16((u16)x);
    x += (s64)gs8 + (s64)gs16 + (s64)gs32 + (s64)(s8)y + (s64)(s16)y + (s64)(s32)y;
    x += (u32)(s8)x + (u32)(s16)x;
    for (int i = 0; i < 16; i++) {
        if (arr[i] > x) x -= arr[i] * 3; else if ((s64)arr[i] < y) x |= arr[i];
        if ((x & 0x40) && (u32)x != 17) x = sub(x, (u64)y);
    }
    switch ((u32)x & 7) {
    case 0: x = sub32((u32)x, (u32)y); break;
    case 1: x = -x; break;
    case 2: x = (s64)x >> 5; break;
    case 3: { char fmt[] = "x=%d"; helper_printk(fmt, sizeof(fmt), x); break; }
    default: x = ~x;
    }
    g32 = (u32)x; gs16 = (s16)x; gs8 = (s8)x; arr[(u32)x & 15] = 0; g64 = 42;
    return (int)x;
}
"""

SAMPLE_ATOMICS = r"""
SEC("socket") int prog_atomics(void *ctx) {
    u64 x = helper_ktime();
    __sync_fetch_and_add(&g64, x);
    __sync_fetch_and_add(&g32, (u32)x);
    x += __sync_fetch_and_add(&g64, 3);
    x += __sync_fetch_and_or(&g64, 5) + __sync_fetch_and_and(&g32, 6) + __sync_fetch_and_xor(&g64, 7);
    __sync_fetch_and_or(&g64, 1); __sync_fetch_and_and(&g64, 2); __sync_fetch_and_xor(&g32, 4);
    x += __sync_lock_test_and_set(&g64, x) + __sync_lock_test_and_set(&g32, 9);
    x += __sync_val_compare_and_swap(&g64, 1, x) + __sync_val_compare_and_swap(&g32, 2, 3);
    return (int)x;
}
"""

SAMPLE_V4 = r"""
static __attribute__((noinline)) s64 ssub(s64 a, s32 b) {
    return a / b + a % -3 + (s32)a / b + (s32)a % 7;
}

SEC("socket") int prog_v4(void *ctx) {
    asm volatile(
        "r6 = r1\n"
        "r0 = *(u8 *)skb[12]\n"
        "r0 = *(u16 *)skb[r6]\n"
        "r0 = *(u32 *)skb[-4]\n"
        "may_goto +1\n"
        "r0 = 1\n"
        "gotol +1\n"
        "r0 = 2\n"
        "w0 = w0\n"
        "r1 = -0x1 ll\n"
        "if w1 s< 5 goto +0\n"
        "if w1 != w2 goto +0\n"
        "w1 = (s16)w1\n"
        "r1 = (s32)r1\n"
        ::: "r0", "r1", "r2", "r6");
    return (int)ssub(helper_ktime(), gs32);
}
"""


def _sample(cpu: str) -> str:
    src = SAMPLE_COMMON
    if cpu in ("v3", "v4"):
        src += SAMPLE_ATOMICS
    if cpu == "v4":
        src += SAMPLE_V4
    return src


@needs_objdump
@pytest.mark.clang
@pytest.mark.skipif(CLANG is None, reason="clang-19 not installed: cannot compile the C samples")
@pytest.mark.parametrize("cpu", ["v1", "v2", "v3", "v4"])
def test_llvm_matches_objdump_on_compiled_c(tmp_path, cpu):
    src = tmp_path / "sample.c"
    src.write_text(_sample(cpu))
    obj = tmp_path / f"sample_{cpu}.o"
    res = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", f"-mcpu={cpu}", "-c",
                          str(src), "-o", str(obj)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert compare_object(obj) > 50
    compare_object(obj, alu32=False)


def _mc_object(tmp_path: Path, data: bytes, name: str) -> Path:
    s = tmp_path / f"{name}.s"
    s.write_text(".text\n" + "".join(
        ".byte " + ",".join(str(b) for b in data[i:i + 8]) + "\n" for i in range(0, len(data), 8)))
    obj = tmp_path / f"{name}.o"
    subprocess.run([LLVM_MC, "-triple", "bpfel", "-filetype=obj", str(s), "-o", str(obj)],
                   check=True, capture_output=True)
    return obj


@needs_objdump
@pytest.mark.skipif(LLVM_MC is None, reason="llvm-mc-19 not installed")
@given(prog=st.lists(insns(), min_size=40, max_size=80))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_llvm_matches_objdump_on_random_instructions(tmp_path, prog):
    data = b"".join(i.encode() for i in prog)
    obj = _mc_object(tmp_path, data, "rand")
    assert compare_object(obj) == len(prog)
    compare_object(obj, alu32=False)


def test_llvm_line_format():
    assert llvm_line(0, Alu("mov", True, 0, None, 0)) == \
        "       0:\tb7 00 00 00 00 00 00 00\tr0 = 0x0"
    assert llvm_line(19, LoadImm64.from_value(1, 0x123456789)) == (
        "      19:\t18 01 00 00 89 67 45 23 00 00 00 00 01 00 00 00\tr1 = 0x123456789 ll")


LLVM_CASES = [
    (Jump("ja", False, off=0), "goto +0x0"),
    (Jump("jeq", False, 1, None, -7, -2), "if r1 == -0x7 goto -0x2"),
    (Jump("ja", True, imm=3), "gotol +0x3"),
    (MayGoto(3), "may_goto +0x3"),
    (Call(0, 6), "call 0x6"),
    (LoadImm64(2, 2, -5, 8), "ld_pseudo\tr2, 0x2, 0xfffffffb"),
    (LoadImm64.from_value(1, -1), "r1 = -0x1 ll"),
    (Load(8, 1, 10, -8), "r1 = *(u64 *)(r10 - 0x8)"),
    (Load(1, 1, 10, 0), "w1 = *(u8 *)(r10 + 0x0)"),
    (Store(4, 10, -8, 1), "*(u32 *)(r10 - 0x8) = w1"),
    (Atomic(4, "add", True, 10, 1, -8), "w1 = atomic_fetch_add((u32 *)(r10 - 0x8), w1)"),
    (Atomic(8, "xchg", True, 10, 1, -8), "r1 = xchg_64(r10 - 0x8, r1)"),
    (Atomic(4, "cmpxchg", True, 10, 1, -8), "w0 = cmpxchg32_32(r10 - 0x8, w0, w1)"),
    (LegacyLoad(2, "ind", 1, 0), "r0 = *(u16 *)skb[r1]"),
]


@pytest.mark.parametrize("insn,text", LLVM_CASES, ids=[c[1] for c in LLVM_CASES])
def test_llvm_format(insn, text):
    assert format_llvm(insn, 0) == text


def test_llvm_lossless_extensions():
    assert format_llvm(Call(1, -3), 0) == "call -0x3"
    assert format_llvm(Call(1, -3), 0, lossless=True) == "call pc-0x3"
    assert format_llvm(Call(2, 1234, 3), 0, lossless=True) == "call kfunc 0x4d2, 0x3"
    assert format_llvm(Jump("ja", True, imm=4, static=1), 0) == "gotol +0x4"
    assert format_llvm(Jump("ja", True, imm=4, static=1), 0, lossless=True) == "gotol_or_nop +0x4"
    assert format_llvm(Jump("ja", True, imm=4, static=3), 0, lossless=True) == "nop_or_gotol +0x4"
    assert format_llvm(LoadImm64(2, 2, 1, 8), 0, lossless=True) == "ld_pseudo\tr2, 0x2, 0x1, 0x8"
    assert format_llvm(LegacyLoad(4, "ind", 2, 7), 0, lossless=True) == "r0 = *(u32 *)skb[r2 + 0x7]"
    assert format_llvm(Atomic(4, "or", False, 1, 2), 0, alu32=False) == "<unknown>"


@needs_objdump
@pytest.mark.parametrize("mcpu", [None, "v4"])
def test_skv_disasm_llvm_style_equals_llvm_objdump(capsys, mcpu):
    """`skv disasm --style llvm` prints what `llvm-objdump -d` prints (and with `--mcpu v4`
    what `llvm-objdump -d --mcpu=v4` prints), line for line, for every program that is one
    section alone (subprograms are appended when linking, so their pcs differ). Map loads are
    relocated by linking (their bytes differ from the object's: `ld_pseudo r1, 0x1, ...`
    where objdump shows the unrelocated `r1 = 0x0 ll`), so those lines are left out."""
    from conftest import bundled_objects
    from model.cli import main
    from model.elf.loader import load_object

    compared = 0
    for path in bundled_objects():
        theirs = objdump(path, *([f"--mcpu={mcpu}"] if mcpu else []))
        obj = load_object(str(path), keys_as_maps="keep")
        alone = [p for p in obj.programs
                 if sum(q.section == p.section for q in obj.programs) == 1]
        for prog in alone:
            if prog.subprogs or prog.section not in theirs:
                continue
            argv = ["disasm", "--style", "llvm", "-p", prog.name, str(path)]
            assert main(argv + (["--mcpu", mcpu] if mcpu else [])) == 0
            ours = [LINE.match(line.split("  ; static branch")[0])
                    for line in capsys.readouterr().out.splitlines()]
            ours = [(int(m.group(1)), m.group(3)) for m in ours
                    if m and int(m.group(1)) not in prog.map_refs]
            want = [(pc, text) for pc, (_, text) in sorted(theirs[prog.section].items())
                    if pc not in prog.map_refs]
            assert [(pc, norm(t)) for pc, t in ours] == [(pc, norm(t)) for pc, t in want], \
                (path.name, prog.name)
            compared += 1
    assert compared >= 10
