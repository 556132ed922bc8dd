"""The .BTF parser: real clang-19 output plus hand-built and damaged blobs."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from model.elf import btf as B
from model.elf.btf import BtfError, btf_map_defs, parse_btf
from model.errors import SkvError

CLANG = shutil.which("clang-19")
needs_clang = pytest.mark.skipif(CLANG is None, reason="clang-19 not installed (apt-get install clang-19)")

PRELUDE = r"""
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define SEC(n) __attribute__((section(n), used))
"""

MAPS_C = PRELUDE + r"""
struct val { __u64 a; char b[12]; };
typedef const volatile struct val cval;
struct {
    __uint(type, 2);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
    __uint(map_flags, 1 << 15);
} debug_key SEC(".maps");
struct {
    __uint(type, 1);
    __type(key, __u64);
    __type(value, cval);
    __uint(max_entries, 100);
    __uint(pinning, 1);
    __uint(numa_node, 0);
} hmap SEC(".maps");
struct {
    __uint(type, 4);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, 8);
    __uint(max_entries, 16);
} events SEC(".maps");
int counter SEC(".data") = 3;
SEC("xdp") int prog(void *ctx)
{ return counter + (long)&debug_key + (long)&hmap + (long)&events; }
"""

KINDS_C = PRELUDE + r"""
enum e64 { BIG = 0x1ffffffffULL, SMALL = 1 };
enum e32 { A = -2, B = 7 };
union u { int i; float f; };
struct bits { unsigned a:3, b:5; int c; };
float fl;
char arr[5];
__u32 tdv;
enum e64 ev;
enum e32 ev32;
union u un;
struct bits bs;
int __attribute__((btf_decl_tag("tag1"))) tagged;
int __attribute__((btf_type_tag("user"))) *tp;
static __attribute__((noinline)) int sub(int x, int y) { return x * y + ev32; }
SEC("xdp") int prog(void *ctx)
{ return (long)&fl + tdv + arr[1] + ev + un.i + bs.c + tagged + (long)tp + sub(1, 2); }
"""


def _compile_btf(tmp_path, src: str) -> bytes:
    from elftools.elf.elffile import ELFFile

    c = tmp_path / "t.c"
    o = tmp_path / "t.o"
    c.write_text(src)
    r = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-c", str(c), "-o", str(o)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(o, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        return sec.data()


@pytest.fixture(scope="module")
def maps_btf(tmp_path_factory):
    if CLANG is None:
        pytest.skip("clang-19 not installed (apt-get install clang-19)")
    return _compile_btf(tmp_path_factory.mktemp("btf"), MAPS_C)


# ---- real clang output ---------------------------------------------------------------

@pytest.mark.clang
def test_map_defs_from_clang(maps_btf):
    defs = {d["name"]: d for d in btf_map_defs(parse_btf(maps_btf))}
    assert list(defs) == ["debug_key", "hmap", "events"]
    dk = defs["debug_key"]
    assert (dk["type"], dk["key_size"], dk["value_size"], dk["max_entries"], dk["map_flags"]) \
        == (2, 4, 4, 1, 1 << 15)
    hm = defs["hmap"]
    # value type goes through typedef + const + volatile to a 24-byte struct
    assert (hm["type"], hm["key_size"], hm["value_size"], hm["max_entries"], hm["map_flags"]) \
        == (1, 8, 24, 100, 0)
    ev = defs["events"]
    assert (ev["type"], ev["key_size"], ev["value_size"], ev["max_entries"]) == (4, 4, 8, 16)
    assert [d["offset"] for d in defs.values()] == [0, 0, 0]  # clang leaves them 0
    with_syms = btf_map_defs(parse_btf(maps_btf), sym_offsets={"hmap": 32, "events": 80})
    assert [d["offset"] for d in with_syms] == [0, 32, 80]
    assert set(dk) == {"name", "offset", "type", "key_size", "value_size", "max_entries",
                       "map_flags", "map_extra", "key_type_id", "value_type_id", "fields"}
    assert dk["map_extra"] == 0 and dk["fields"] == ()
    btf = parse_btf(maps_btf)
    assert btf.size_of(hm["value_type_id"]) == 24 and btf.size_of(hm["key_type_id"]) == 8


@pytest.mark.clang
def test_resolve_and_size_of(maps_btf):
    btf = parse_btf(maps_btf)
    cval = btf.find("cval", B.TYPEDEF)
    assert cval is not None
    s = btf.resolve(cval.id)
    assert (s.kind, s.name) == (B.STRUCT, "val")
    assert btf.size_of(cval.id) == 24
    assert [m.name for m in s.members] == ["a", "b"]
    assert btf.size_of(s.members[1].type) == 12  # char[12]
    assert btf.find(".maps", B.DATASEC) is not None
    assert btf.find("prog", B.FUNC) is not None
    assert btf.types[0].kind == B.UNKN


@needs_clang
@pytest.mark.clang
def test_all_kinds_from_clang(tmp_path):
    btf = parse_btf(_compile_btf(tmp_path, KINDS_C))
    kinds = {t.kind_name for t in btf.types}
    for k in ("INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "TYPEDEF", "FUNC", "FUNC_PROTO",
              "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"):
        assert k in kinds, k
    e64 = btf.find("e64", B.ENUM64)
    assert {v.name: v.value for v in e64.members}["BIG"] == 0x1FFFFFFFF
    e32 = btf.find("e32", B.ENUM)
    assert {v.name: v.value for v in e32.members} == {"A": -2, "B": 7}
    bits = btf.find("bits", B.STRUCT)
    assert bits.kind_flag and bits.members[1].bit_offset(True) == 3
    sub = btf.find("sub", B.FUNC)
    proto = btf.type(sub.type)
    assert proto.kind == B.FUNC_PROTO and [p.name for p in proto.members] == ["x", "y"]
    tag = btf.find("tag1", B.DECL_TAG)
    assert btf.type(tag.type).name == "tagged" and tag.component_idx == -1
    tt = btf.find("user", B.TYPE_TAG)
    assert btf.resolve(tt.id).name == "int"
    assert btf.size_of(btf.find("fl", B.VAR).id) == 4
    assert btf_map_defs(btf) == []  # no .maps


# ---- hand-built blobs ----------------------------------------------------------------

class Builder:
    """A tiny BTF writer for the error cases."""

    def __init__(self):
        self.strs = b"\0"
        self.types = b""

    def s(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strs)
        self.strs += name.encode() + b"\0"
        return off

    def t(self, name, kind, vlen=0, st=0, extra=b"", kflag=0):
        self.types += struct.pack("<III", self.s(name), (kflag << 31) | (kind << 24) | vlen, st)
        self.types += extra
        return self

    def blob(self, hdr_len=24) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, hdr_len, 0, len(self.types),
                          len(self.types), len(self.strs))
        return hdr + b"\0" * (hdr_len - 24) + self.types + self.strs


def _map_blob(member_kind: str = "ptr") -> bytes:
    b = Builder()
    b.t("int", B.INT, st=4, extra=struct.pack("<I", 32))                         # 1
    b.t("__ARRAY_SIZE_TYPE__", B.INT, st=4, extra=struct.pack("<I", 32))         # 2
    b.t("", B.ARRAY, extra=struct.pack("<III", 1, 2, 7))                         # 3: int[7]
    b.t("", B.PTR, st=3)                                                         # 4: int (*)[7]
    mtype = {"ptr": 4, "int": 1}[member_kind]
    b.t("", B.STRUCT, vlen=1, st=8, extra=struct.pack("<III", b.s("max_entries"), mtype, 0))  # 5
    b.t("m1", B.VAR, st=5, extra=struct.pack("<I", 1))                           # 6
    b.t(".maps", B.DATASEC, vlen=1, st=8, extra=struct.pack("<III", 6, 0, 8))    # 7
    return b.blob()


def test_hand_built_map():
    assert btf_map_defs(parse_btf(_map_blob())) == [
        {"name": "m1", "offset": 0, "type": 0, "key_size": 0, "value_size": 0,
         "max_entries": 7, "map_flags": 0, "map_extra": 0, "key_type_id": 0,
         "value_type_id": 0, "fields": ()}]


def test_member_not_pointer_names_the_map():
    with pytest.raises(BtfError, match=r"map 'm1': attr 'max_entries': expected PTR"):
        btf_map_defs(parse_btf(_map_blob("int")))


def test_def_not_struct():
    b = Builder()
    b.t("int", B.INT, st=4, extra=struct.pack("<I", 32))
    b.t("bad", B.VAR, st=1, extra=struct.pack("<I", 1))
    b.t(".maps", B.DATASEC, vlen=1, st=4, extra=struct.pack("<III", 2, 0, 4))
    with pytest.raises(BtfError, match=r"map 'bad': unexpected def kind INT"):
        btf_map_defs(parse_btf(b.blob()))


def test_big_endian_rejected():
    data = bytearray(_map_blob())
    data[0:2] = b"\xeb\x9f"
    with pytest.raises(BtfError, match="big-endian"):
        parse_btf(bytes(data))


@pytest.mark.parametrize("data, msg", [
    (b"", "header truncated"),
    (b"\x9f\xeb\x01\x00", "header truncated"),
    (b"\x00\x00" + b"\0" * 30, "bad BTF magic"),
])
def test_bad_header(data, msg):
    with pytest.raises(BtfError, match=msg):
        parse_btf(data)


def test_sections_past_end():
    blob = _map_blob()
    with pytest.raises(BtfError, match="past the end"):
        parse_btf(blob[:-3])


def test_unknown_kind():
    b = Builder().t("x", 25)
    with pytest.raises(BtfError, match="unknown kind 25"):
        parse_btf(b.blob())


def test_type_id_out_of_range():
    b = Builder().t("", B.PTR, st=42)
    with pytest.raises(BtfError, match="type id 42 out of range"):
        parse_btf(b.blob())


def test_string_offset_out_of_range():
    b = Builder()
    b.types += struct.pack("<III", 999, B.INT << 24, 4) + struct.pack("<I", 32)
    with pytest.raises(BtfError, match="string offset 999 out of range"):
        parse_btf(b.blob())


def test_truncated_type_record():
    b = Builder().t("s", B.STRUCT, vlen=3, st=12, extra=b"\0" * 12)  # 1 member of 3
    with pytest.raises(BtfError, match="truncated"):
        parse_btf(b.blob())


@needs_clang
@pytest.mark.clang
def test_garbled_clang_btf_never_escapes(maps_btf):
    """Truncations and byte flips give BtfError (or parse), never another exception."""
    for n in range(0, len(maps_btf), 7):
        _parse_or_btf_error(maps_btf[:n])
    for i in range(0, len(maps_btf)):
        data = bytearray(maps_btf)
        data[i] ^= 0xA5
        _parse_or_btf_error(bytes(data))


def _parse_or_btf_error(data: bytes) -> None:
    try:
        btf = parse_btf(data)
        btf_map_defs(btf)
        for t in btf.types:
            btf.resolve(t.id)
    except BtfError as e:
        assert isinstance(e, SkvError) and "\n" not in str(e)
