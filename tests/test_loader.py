"""The ELF loader: programs linked as libbpf links them, maps, and static branch tables
checked as the 2023 kernel checks them (each failure a one-line LoadError)."""

from __future__ import annotations

import struct

import pytest

from elfpatch import Patch
from model.elf.loader import load_object
from model.elf.reader import EM_NONE, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_NODYLD32
from model.errors import LoadError
from model.isa import Call, Jump, LoadImm64
from model.program import PSEUDO_MAP_VALUE

TWO_PROGS = r"""
STATIC_KEY(debug_key);
STATIC_KEY(trace_key);
int counter;
static __attribute__((noinline)) int sub(int x) {
    if (sk_unlikely(&trace_key))
        counter += x;
    return x + 1;
}
SEC("xdp") int first(void *ctx) {
    int r = 0;
    if (sk_unlikely(&debug_key)) {
        static const char msg[] = "debug\n";
        bpf_trace_printk(msg, sizeof(msg));
        r = 5;
    }
    return r + sub(2);
}
SEC("tc") int second(void *ctx) {
    int r = 1;
    if (sk_likely(&debug_key))
        r = 7;
    return sub(r) + sub(3);
}
"""


@pytest.fixture(scope="module")
def two(compile_bpf):
    return compile_bpf(TWO_PROGS, "two")


def test_programs_subprograms_and_sites(two):
    obj = load_object(two)
    assert [p.name for p in obj.programs] == ["first", "second"]
    assert obj.keys() == ["debug_key", "trace_key"]
    first, second = obj.programs
    assert first.prog_type == "xdp" and second.prog_type == "sched_cls"
    for prog in (first, second):
        # sub is appended once, after the entry function, and every call reaches it
        (start, name), = prog.subprogs.items()
        assert name == "sub" and start == prog.func_starts["sub"]
        calls = [(pc, i) for pc, i in prog.iter_pcs() if isinstance(i, Call) and i.src == 1]
        assert calls and all(i.target(pc) == start for pc, i in calls)
        by_pc = prog.by_pc()
        for s in prog.sites:
            insn = by_pc[s.pc]
            assert isinstance(insn, Jump) and insn.cond == "ja"
            if s.inverse:
                assert insn.target(s.pc) == s.target
            else:
                assert insn.delta == 0 and s.target > s.pc
        # the site inside sub is placed at sub's position in this program
        sub_sites = [s for s in prog.sites if s.key == "trace_key"]
        assert len(sub_sites) == 1 and sub_sites[0].pc >= start
    assert [s.inverse for s in first.sites if s.key == "debug_key"] == [False]
    assert [s.inverse for s in second.sites if s.key == "debug_key"] == [True]
    ids = [s.id for p in obj.programs for s in p.sites]
    assert len(ids) == len(set(ids))


def test_global_data_becomes_map_values(two):
    obj = load_object(two)
    assert obj.maps[".bss"].origin == "data" and obj.maps[".bss"].value_size == 4
    assert ".rodata" in obj.maps
    first = obj.programs[0]
    refs = {r.map for r in first.map_refs.values()}
    assert {".bss", ".rodata"} <= refs
    for pc, ref in first.map_refs.items():
        insn = first.by_pc()[pc]
        assert isinstance(insn, LoadImm64) and insn.src == PSEUDO_MAP_VALUE
        assert insn.imm2 == ref.value_offset


def test_em_none_and_nodyld_forms_load_the_same(two, tmp_path):
    ref = load_object(two)
    p = Patch(two)
    p.machine(EM_NONE)
    n = len(p.section(".rel.jump_table").data) // 16
    for k in range(n):  # the target relocations (every 3rd, at entry+4) become NODYLD32
        if k % 3 == 1:
            p.reloc(".rel.jump_table", k, type=R_BPF_64_NODYLD32)
    obj = load_object(p.save(tmp_path / "nodyld.o"))
    assert [(s.pc, s.target, s.key, s.inverse) for s in obj.programs[0].sites] == \
        [(s.pc, s.target, s.key, s.inverse) for s in ref.programs[0].sites]


BAD_TABLES = [
    ("size", lambda p: p.sh_size(".jump_table", p.section(".jump_table").size - 8),
     "is not a multiple of 16"),
    ("flags", lambda p: p.u64(".jump_table", 8, 2), "flags 0x2"),
    ("unaligned site", lambda p: p.u32(".jump_table", 0, 4), "is not a multiple of 8"),
    ("site past end", lambda p: p.u32(".jump_table", 0, 1 << 20), "is outside"),
    ("inverse flag on goto +0", lambda p: p.u64(".jump_table", 8, 1), "inverse site"),
    ("missing reloc", lambda p: p.sh_size(".rel.jump_table", 16 * 2), "has no relocation"),
    ("bad reloc type", lambda p: p.reloc(".rel.jump_table", 0, type=R_BPF_64_64),
     "relocated with R_BPF_64_64"),
    ("reloc symbol out of range", lambda p: p.reloc(".rel.jump_table", 2, sym=9999),
     "names symbol 9999"),
]


@pytest.mark.parametrize("name,damage,message", BAD_TABLES, ids=[b[0] for b in BAD_TABLES])
def test_bad_branch_tables(two, tmp_path, name, damage, message):
    p = Patch(two)
    damage(p)
    path = p.save(tmp_path / "bad.o")
    with pytest.raises(LoadError) as e:
        load_object(path)
    text = str(e.value)
    assert message in text and text.startswith(path)
    assert "\n" not in text


def test_site_that_is_not_a_ja(two, tmp_path):
    obj = load_object(two)
    site = obj.programs[0].sites[0]
    other = next(pc for pc, i in obj.programs[0].iter_pcs()
                 if not isinstance(i, Jump) and pc < obj.programs[0].func_starts["sub"])
    p = Patch(two)
    # entries are sorted by their position in .jump_table; find the one naming this site
    table = p.section(".jump_table").data
    for k in range(len(table) // 16):
        if struct.unpack_from("<I", table, 16 * k)[0] == 8 * site.pc:
            p.u32(".jump_table", 16 * k, 8 * other)
            break
    with pytest.raises(LoadError, match="is not a JA instruction"):
        load_object(p.save(tmp_path / "notja.o"))


def test_target_relocation_may_be_abs32(two):
    p = Patch(two)
    types = {r.type for r in p.image.relocs[p.section(".jump_table").index]}
    assert R_BPF_64_ABS32 in types or R_BPF_64_NODYLD32 in types


@pytest.mark.parametrize("maps,message", [
    ("struct { __uint(type, 2); __type(key, __u32); __type(value, __u32); "
     "__uint(max_entries, 1); } debug_key SEC(\".maps\");", "is not a static key"),
    ("struct { __uint(type, 2); __type(key, __u32); __type(value, __u64); "
     "__uint(map_flags, 1 << 15); __uint(max_entries, 1); } debug_key SEC(\".maps\");",
     "value_size 8"),
    ("struct { __uint(type, 1); __type(key, __u32); __type(value, __u32); "
     "__uint(map_flags, 1 << 15); __uint(max_entries, 1); } debug_key SEC(\".maps\");",
     "has type 1"),
])
def test_key_map_shape(compile_bpf, maps, message):
    src = maps + r"""
SEC("xdp") int prog(void *ctx) { return sk_unlikely(&debug_key) ? 1 : 2; }
"""
    path = compile_bpf(src, "shape")
    with pytest.raises(LoadError, match=message):
        load_object(path)


def test_key_used_as_ordinary_map(compile_bpf):
    path = compile_bpf(r"""
STATIC_KEY(debug_key);
SEC("xdp") int prog(void *ctx) {
    __u32 k = 0;
    __u32 *v = bpf_map_lookup_elem(&debug_key, &k);
    return v ? *v : 0;
}
""", "keymap")
    with pytest.raises(LoadError, match="uses static key debug_key as an ordinary map"):
        load_object(path)


def test_goto_zero_without_table_is_not_a_site(compile_bpf):
    path = compile_bpf(r"""
SEC("xdp") int prog(void *ctx) { asm volatile("goto +0"); return 2; }
""", "plainnop")
    obj = load_object(path)
    prog = obj.programs[0]
    assert prog.sites == []
    assert any(isinstance(i, Jump) and i.cond == "ja" and i.delta == 0 for i in prog.insns)


@pytest.mark.parametrize("blob,message", [
    (b"", "bad magic"),
    (b"\x7fELF\x01\x01\x01" + bytes(60), "not a 64-bit ELF"),
    (b"\x7fELF\x02\x02\x01" + bytes(60), "not a little-endian ELF"),
    (b"\x7fELF\x02\x01\x01" + bytes(20), "truncated ELF header"),
])
def test_not_elf(tmp_path, blob, message):
    path = tmp_path / "x.o"
    path.write_bytes(blob)
    with pytest.raises(LoadError, match=message):
        load_object(str(path))


def test_wrong_machine_and_missing_file(two, tmp_path):
    with pytest.raises(LoadError, match="EM_X86_64"):
        load_object(Patch(two).machine(62).save(tmp_path / "x86.o"))
    with pytest.raises(LoadError, match="no such file"):
        load_object(str(tmp_path / "nope.o"))
    with pytest.raises(LoadError, match="not a regular file"):
        load_object(str(tmp_path))


def test_truncated_object(two, tmp_path):
    data = open(two, "rb").read()
    path = tmp_path / "cut.o"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError):
        load_object(str(path))


def test_key_size_zero_for_a_keyed_map_is_a_load_error(tmp_path):
    """A hash or array map with 0-byte keys cannot be created in the kernel; loading it is a
    one-line error (the Z3 engine would otherwise build 0-bit keys)."""
    from model.elf.loader import load_object
    from model.elf.writer import ProgSpec, build_object
    from model.errors import SkvError
    from model.isa import Alu, Exit
    from model.program import MapDef

    path = tmp_path / "k0.o"
    path.write_bytes(build_object([ProgSpec("socket", "p", [Alu("mov", True, 0, imm=0),
                                                            Exit()], [], {})],
                                  [MapDef("h", 1, 0, 8, 4)]))
    with pytest.raises(SkvError, match="map h: key_size 0 for a hash map"):
        load_object(str(path))
