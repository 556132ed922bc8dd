"""BPF_PROG_LOAD's ``prog_flags`` (include/uapi/linux/bpf.h), Linux 6.18, and what they mean
to the verifier on x86-64.

libbpf loads ordinary programs with no flags (0), which is skv's default. Modelled:

* ``BPF_F_STRICT_ALIGNMENT``: the verifier checks the alignment of every packet, map value,
  context... access (check_ptr_alignment; packet offsets count NET_IP_ALIGN = 2). Without
  it x86-64 (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS) checks only the stack and atomics.
* ``BPF_F_ANY_ALIGNMENT``: turns strict alignment off again (it wins over the above); the
  stack and atomics stay strict.
* ``BPF_F_SLEEPABLE``: required for syscall programs (the kernel layer adds it), set by
  the loader for a ``.s`` section (``uprobe.s``, ``iter.s``); on another program it is not
  modelled.

The other flags (XDP frags, device-bound XDP, the verifier's test-only flags) change what
the verifier or the attach allows in ways skv does not model: a program loaded with them
is rejected as "not modelled" (:func:`unmodelled`).
"""

from __future__ import annotations

from model.errors import SkvError

FLAGS = {
    "BPF_F_STRICT_ALIGNMENT": 1 << 0,
    "BPF_F_ANY_ALIGNMENT": 1 << 1,
    "BPF_F_TEST_RND_HI32": 1 << 2,
    "BPF_F_TEST_STATE_FREQ": 1 << 3,
    "BPF_F_SLEEPABLE": 1 << 4,
    "BPF_F_XDP_HAS_FRAGS": 1 << 5,
    "BPF_F_XDP_DEV_BOUND_ONLY": 1 << 6,
    "BPF_F_TEST_REG_INVARIANTS": 1 << 7,
}
BPF_F_STRICT_ALIGNMENT = FLAGS["BPF_F_STRICT_ALIGNMENT"]
BPF_F_ANY_ALIGNMENT = FLAGS["BPF_F_ANY_ALIGNMENT"]
MODELLED = BPF_F_STRICT_ALIGNMENT | BPF_F_ANY_ALIGNMENT | FLAGS["BPF_F_SLEEPABLE"]
#: x86-64 selects CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS
EFFICIENT_UNALIGNED_ACCESS = True


def parse_prog_flags(text: str | int | None) -> int:
    """``"BPF_F_STRICT_ALIGNMENT,BPF_F_ANY_ALIGNMENT"`` (the ``BPF_F_`` prefix optional,
    any case), a number (``1``, ``0x3``), or None/"" for 0."""
    if text is None or text == "":
        return 0
    if isinstance(text, int):
        value = text
    else:
        value = 0
        for part in str(text).replace("|", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value |= int(part, 0)
                continue
            except ValueError:
                pass
            name = part.upper()
            name = name if name.startswith("BPF_F_") else "BPF_F_" + name
            if name not in FLAGS:
                raise SkvError(f"unknown program flag {part!r} (known: {', '.join(FLAGS)})")
            value |= FLAGS[name]
    unknown = value & ~sum(FLAGS.values())
    if value < 0 or unknown:
        raise SkvError(f"program flags {value:#x}: bits {unknown:#x} are not BPF_F_* flags")
    return value


def flag_names(value: int) -> list[str]:
    return [n for n, bit in FLAGS.items() if value & bit]


def strict_alignment(value: int) -> bool:
    """env->strict_alignment for a load with these flags."""
    strict = bool(value & BPF_F_STRICT_ALIGNMENT) or not EFFICIENT_UNALIGNED_ACCESS
    return strict and not value & BPF_F_ANY_ALIGNMENT


def flags_unmodelled(value: int, sleepable: bool = True) -> str | None:
    """The clean rejection for flags the model does not follow, or None. ``sleepable``:
    the program is sleepable by its type or section (BPF_F_SLEEPABLE on another would
    change its helpers, maps and typed pointers unseen)."""
    rest = value & ~MODELLED
    if not sleepable:
        rest |= value & FLAGS["BPF_F_SLEEPABLE"]
    if rest:
        return f"not modelled: program flags {', '.join(flag_names(rest))}"
    return None


__all__ = ["FLAGS", "BPF_F_STRICT_ALIGNMENT", "BPF_F_ANY_ALIGNMENT", "parse_prog_flags",
           "flag_names", "strict_alignment", "flags_unmodelled"]
