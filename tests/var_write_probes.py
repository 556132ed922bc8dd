"""Probe programs for variable-offset stack writes over spilled registers and of pointer
values (check_stack_write_var_off, privileged; ``tests/test_var_write.py``): kprobe
programs in ``model.isa.asm`` text. Linux 6.18 lets any value, a pointer too, be written at
a variable stack offset; every byte in range becomes plain data (a spilled pointer there is
gone: reading it back gives a scalar), a zero written over zero bytes keeps them zero.
Names ending in ``_ok`` are expected to load; the kernel decides."""

from __future__ import annotations

SECTION = "kprobe/f"
#: r2 = fp + BASE + (0 or 1 or ... MASK): a variable stack offset (r6: the ctx)
_VAR = "r6 = r1\ncall 7\nr0 &= {m}\nr2 = r10\nr2 += {base}\nr2 += r0\n"
_SPILL_CTX = "*(u64 *)(r10 - 16) = r1\n"
_SPILL_5 = "r3 = 5\n*(u64 *)(r10 - 16) = r3\n"
_SPILL_0 = "r3 = 0\n*(u64 *)(r10 - 16) = r3\n"
_B1 = "*(u8 *)(r2 + 0) = 1\n"       # one byte at fp-12 or fp-11 (base -12)
_PTR8 = "*(u64 *)(r2 + 0) = r6\n"   # the ctx pointer, 8 bytes (m=8, base -24 / -32)
_DEREF = "r4 = *(u32 *)(r4 + 0)\n"
_CALLER = ("r1 = 0\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 8) = r1\nr1 = r10\nr1 += -16\n"
           "call sub\n{after}r0 = 0\nexit\nsub:\nr6 = r1\nr7 = r1\ncall 7\nr0 &= 8\nr6 += r0\n"
           "{write}r0 = 0\nexit\n")


def _p(spill: str, write: str, read: str, m: int = 1, base: int = -12) -> str:
    return spill + _VAR.format(m=m, base=base) + write + read + "r0 = 0\nexit\n"


PROBES = [
    # a byte written over part of a spilled pointer: the slot is plain data
    ("ptr_partial_read64_ok", _p(_SPILL_CTX, _B1, "r4 = *(u64 *)(r10 - 16)\n")),
    ("ptr_partial_read32_ok", _p(_SPILL_CTX, _B1, "r4 = *(u32 *)(r10 - 16)\n")),
    ("ptr_partial_read8_top_ok", _p(_SPILL_CTX, _B1, "r4 = *(u8 *)(r10 - 9)\n")),
    ("ptr_partial_deref", _p(_SPILL_CTX, _B1, "r4 = *(u64 *)(r10 - 16)\n" + _DEREF)),
    ("ptr_low_byte_read64_ok", _p(_SPILL_CTX, _B1, "r4 = *(u64 *)(r10 - 16)\n", base=-16)),
    ("ptr_partial_var_read_ok", _p(_SPILL_CTX, _B1, "r2 += 2\nr4 = *(u8 *)(r2 + 0)\n")),
    # a pointer value written at a variable offset
    ("ptrval_write_ok", _p("", _PTR8, "", m=8, base=-32)),
    ("ptrval_write_read_ok", _p("", _PTR8, "r4 = *(u64 *)(r10 - 24)\n", m=8, base=-32)),
    ("ptrval_write_deref", _p("", _PTR8, "r4 = *(u64 *)(r10 - 24)\n" + _DEREF, m=8,
                              base=-32)),
    ("ptrval_over_spilled_ptr_ok", _p(_SPILL_CTX, _PTR8, "r4 = *(u64 *)(r10 - 16)\n", m=8,
                                      base=-24)),
    ("ptrval_over_spilled_ptr_deref", _p(_SPILL_CTX, _PTR8, "r4 = *(u64 *)(r10 - 16)\n"
                                         + _DEREF, m=8, base=-24)),
    ("ptrval_narrow_ok", _p("", "*(u32 *)(r2 + 0) = r6\n", "", m=4, base=-32)),
    ("stackptr_write_ok", _p("", "r3 = r10\n*(u64 *)(r2 + 0) = r3\n", "", m=8, base=-32)),
    ("caller_frame_stackptr_var_ok", _CALLER.format(
        after="", write="r3 = r10\n*(u64 *)(r6 + 0) = r3\n")),
    ("caller_frame_stackptr_var_deref", _CALLER.format(
        after="r4 = *(u64 *)(r10 - 16)\nr4 = *(u64 *)(r4 - 8)\n",
        write="r3 = r10\n*(u64 *)(r6 + 0) = r3\n")),
    ("caller_frame_stackptr_fixed", _CALLER.format(
        after="", write="r3 = r10\n*(u64 *)(r7 + 0) = r3\n")),
    # spilled scalars
    ("scalar_partial_read64_ok", _p(_SPILL_5, _B1, "r4 = *(u64 *)(r10 - 16)\n")),
    ("zero_over_zero_spill_ok", _p(_SPILL_0, "*(u8 *)(r2 + 0) = 0\n",
                                   "r4 = *(u64 *)(r10 - 16)\nr5 = r10\nr5 += r4\n"
                                   "r4 = *(u8 *)(r5 - 1)\n")),
    ("one_over_zero_spill_index", _p(_SPILL_0, _B1, "r4 = *(u64 *)(r10 - 16)\nr5 = r10\n"
                                     "r5 += r4\nr4 = *(u8 *)(r5 - 1)\n")),
]
