"""Probe programs for the bounds of byte swaps (scalar_byte_swap, Linux 6.18 stable:
``le`` truncates on this little-endian machine, ``be`` / ``bswap`` swap the tnum's bytes)
for ``tests/test_endian_bounds.py``: kprobe programs indexing a 256-byte array value with
the swapped register; the kernel decides; names ending in ``_ok`` are expected to load."""

from __future__ import annotations

from model.program import MapDef, MapRef
from soundness import build

SECTION = "kprobe/f"
_TEXT = ("r6 = r1\ncall 7\nr8 = r0\n{pre}r8 = {op} r8\n{post}*(u64 *)(r10 - 8) = 0\n"
         "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto out\nr7 = r0\n"
         "r7 += r8\nw0 = *(u32 *)(r7 + 1)\nout:\nr0 = 0\nexit\n")

#: name -> (before the swap, the swap, after it)
PROBES = {
    "le16_small_ok": ("if r8 >= 63 goto out\n", "le16", ""),
    "le16_large": ("if r8 >= 300 goto out\n", "le16", ""),
    "le32_small_ok": ("if r8 >= 63 goto out\n", "le32", ""),
    "le16_truncates_to_255": ("r8 &= 0x100ff\n", "le16", ""),
    "le64_small_ok": ("if r8 >= 63 goto out\n", "le64", ""),
    "be16_bit_ok": ("r8 &= 1\n", "be16", "r8 >>= 8\n"),
    "be16_bit_unshifted": ("r8 &= 1\n", "be16", ""),
    "be32_bit_ok": ("r8 &= 1\n", "be32", "r8 >>= 24\n"),
    "be64_bit_ok": ("r8 &= 1\n", "be64", "r8 >>= 56\n"),
    "bswap16_bit_ok": ("r8 &= 1\n", "bswap16", "r8 >>= 8\n"),
    "bswap64_bit_ok": ("r8 &= 1\n", "bswap64", "r8 >>= 56\n"),
    "bswap32_top_byte": ("r8 &= 0xff000000\n", "bswap32", ""),
    "be16_range": ("if r8 >= 63 goto out\n", "be16", ""),
    "be16_drops_upper_bits_ok": ("r8 &= 0xff0000\nr8 |= 1\n", "be16", "r8 >>= 8\n"),
}


def model(name: str):
    pre, op, post = PROBES[name]
    obj, prog = build(_TEXT.format(pre=pre, op=op, post=post), SECTION)
    obj.maps["m0"] = MapDef("m0", 2, 4, 256, 4, 0)  # array, 256-byte values
    prog.map_refs = {pc: MapRef(pc, "m0") for pc, i in prog.iter_pcs()
                     if getattr(i, "src", None) == 1 and i.__class__.__name__ == "LoadImm64"}
    return obj, prog
