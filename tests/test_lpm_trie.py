"""LPM trie maps (BPF_MAP_TYPE_LPM_TRIE): programs look up, update and delete with a key of
key_size bytes (u32 prefixlen, then the data) as in a hash map, and get a value pointer or
NULL. Verifier probes are judged by the running kernel; the interpreter's longest-prefix
lookups are compared with the kernel's own map."""

from __future__ import annotations

import random

import pytest

from model.interp.maps import Maps
from model.interp.memory import Memory
from model.kernel import available, map_create, map_lookup, map_update
from model.kernel.bpf import BpfError
from model.platform.map_helpers import keys_exact, map_helper_unmodelled
from model.program import MapDef
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
LPM, NO_PREALLOC = 11, 1
MAP = (LPM, 8, 4, 16, NO_PREALLOC)  # key: u32 prefixlen + an IPv4 address; value: u32
# the key at fp-8: prefixlen 32, 10.0.0.1
KEY = "r1 = 32\n*(u32 *)(r10 - 8) = r1\nr1 = 0x0100000a\n*(u32 *)(r10 - 4) = r1\n"
LOOKUP = KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 1\n"
OUT = "out:\nr0 = 0\nexit\n"
VALUE = "r1 = 7\n*(u32 *)(r10 - 16) = r1\n"


def _p(name: str, text: str) -> Probe:
    return Probe(name, "xdp", text, [MAP])


PROBES = [
    _p("lookup_ok", LOOKUP + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + 0)\nexit\n" + OUT),
    _p("lookup_write_ok", LOOKUP + "if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 + 0) = r1\n"
       + OUT),
    _p("lookup_unchecked", LOOKUP + "r0 = *(u32 *)(r0 + 0)\nexit\n"),
    _p("lookup_past_value", LOOKUP + "if r0 == 0 goto out\nr0 = *(u32 *)(r0 + 4)\nexit\n"
       + OUT),
    _p("key_past_frame", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n" + OUT),
    _p("update_ok", KEY + VALUE + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\nr3 = r10\n"
       "r3 += -16\nr4 = 0\ncall 2\n" + OUT),
    _p("update_value_past_frame", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\n"
       "r3 = r10\nr3 += -2\nr4 = 0\ncall 2\n" + OUT),
    _p("delete_ok", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 3\n" + OUT),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_lpm_probe_against_kernel(probe):
    assert_same_verdict(probe)


def test_lpm_value_helpers_modelled_and_keys_not_exact():
    for helper in (1, 2, 3):
        assert map_helper_unmodelled(LPM, helper) is None
    assert not keys_exact(LPM) and keys_exact(1)


def _key(plen: int, addr: int) -> bytes:
    return plen.to_bytes(4, "little") + addr.to_bytes(4, "big")


@needs_kernel
def test_interpreter_longest_prefix_matches_the_kernel():
    rng = random.Random(13)
    maps = Maps(Memory(), {"m": MapDef("m", *MAP)})
    st = maps["m"]
    # 10.1.2.255/24 names the element 10.1.2.0/24 (its value replaced)
    prefixes = [(0, 0), (8, 0x0A000000), (16, 0x0A010000), (24, 0x0A010200),
                (24, 0x0A0102FF), (32, 0x0A010203), (12, 0xC0A80000)]
    with map_create(*MAP) as fd:
        for n, (plen, addr) in enumerate(prefixes):
            value = (n + 1).to_bytes(4, "little")
            map_update(fd, _key(plen, addr), value)
            assert st.update(_key(plen, addr), value, 0) == 0
        probes = [_key(32, a) for a in (0x0A010203, 0x0A010204, 0x0A0102AB, 0x0A01FF00,
                                        0x0AFF0000, 0xC0A80101, 0xC0B00000, 0x01020304)]
        probes += [_key(rng.choice((8, 16, 20, 24, 31, 32)), rng.getrandbits(32))
                   for _ in range(200)]
        probes += [_key(33, 0x0A010203)]  # past the data's bits: nothing
        for k in probes:
            try:
                want = map_lookup(fd, k)
            except BpfError:
                want = None
            at = st.lookup(k)
            got = maps.by_name["m"].mem.load_bytes(at, 4) if at else None
            assert got == want, (k.hex(), got, want)
    # same prefix, other trailing bits: one element; a prefixlen past the data: -EINVAL
    assert st.update(_key(24, 0x0A010277), b"\x09\0\0\0", 0) == 0
    assert len(st.elems) == len(prefixes) - 1
    assert st.update(_key(33, 0), b"\0" * 4, 0) == -22
    assert st.delete(_key(16, 0x0A01FFFF)) == 0 and st.delete(_key(16, 0x0A010000)) == -2
