"""``__kconfig`` externs: the ``.kconfig`` map libbpf builds for a program's
``extern int CONFIG_HZ __kconfig;`` (and ``LINUX_KERNEL_VERSION``, ``LINUX_HAS_*``).

The externs are the VARs of the object's ``.kconfig`` BTF DATASEC. libbpf lays them out in
one read-only, frozen array map value (sorted by alignment descending, then size
ascending, then name; each at its alignment) and fills them from the running kernel's
configuration (``/proc/config.gz`` or ``/boot/config-$(uname -r)``): ``y`` is 1, ``m``
2, ``n`` 0, numbers are numbers, quoted strings fill ``char[]``. A ``__weak`` extern the
configuration lacks is 0; a strong one is a load error. A load of an extern becomes a
``PSEUDO_MAP_VALUE`` reference into that map (``model.elf.linker``).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

from model.elf.btf import ARRAY, DATASEC, ENUM, INT, Btf
from model.errors import SkvError

KCONFIG_SECTION = ".kconfig"
CONFIG_FILES = ("/proc/config.gz", f"/boot/config-{os.uname().release}")

#: libbpf's own externs: what its feature probes find on Linux 6.18 / x86-64
#: (bpf_get_attach_cookie exists since 5.15; x86-64 has ARCH_HAS_SYSCALL_WRAPPER)
LIBBPF_EXTERNS = {"LINUX_HAS_BPF_COOKIE": 1, "LINUX_HAS_SYSCALL_WRAPPER": 1}


@dataclass(frozen=True)
class KconfigExtern:
    name: str
    offset: int
    size: int
    value: bytes


def kernel_version(release: str | None = None) -> int:
    """libbpf's LINUX_KERNEL_VERSION: KERNEL_VERSION(major, minor, min(patch, 255))."""
    parts = (release or os.uname().release).split("-")[0].split(".")
    nums = [int("".join(c for c in p if c.isdigit()) or 0) for p in (parts + ["0", "0"])[:3]]
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


def read_config(paths=CONFIG_FILES) -> dict[str, str]:
    """CONFIG_NAME -> its value text, from the first configuration file found."""
    for path in paths:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                text = f.read()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out
    return {}


def _encode(name: str, text: str, btf: Btf, tid: int, size: int) -> bytes:
    t = btf.resolve(tid)
    if t.kind == ARRAY:
        if not (text.startswith('"') and text.endswith('"')):
            raise SkvError(f"kconfig extern {name}: value {text} is not a string")
        raw = text[1:-1].encode()[:size - 1]
        return raw.ljust(size, b"\0")
    if t.kind not in (INT, ENUM):
        raise SkvError(f"kconfig extern {name}: type {t} is not supported")
    tristate = {"y": 1, "m": 2, "n": 0}
    if text in tristate:
        val = tristate[text]
    else:
        try:
            val = int(text, 0)
        except ValueError:
            raise SkvError(f"kconfig extern {name}: value {text!r} is not a number") from None
    return (val & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def kconfig_externs(btf: Btf | None, weak: set[str], config: dict[str, str] | None = None
                    ) -> list[KconfigExtern]:
    """The ``.kconfig`` externs, laid out and filled as libbpf does ([] when none)."""
    sec = btf.find(KCONFIG_SECTION, DATASEC) if btf is not None else None
    if sec is None:
        return []
    conf = read_config() if config is None else config
    found = []
    for si in sec.members:
        var = btf.type(si.type)
        size = btf.size_of(var.type)
        t = btf.resolve(var.type)
        align = 1 if t.kind == ARRAY else min(size, 8)
        found.append((var.name, var.type, size, align))
    found.sort(key=lambda e: (-e[3], e[2], e[0]))
    out, off = [], 0
    for name, tid, size, align in found:
        off = (off + align - 1) // align * align
        if name == "LINUX_KERNEL_VERSION":
            text = str(kernel_version())
        elif name in LIBBPF_EXTERNS:
            text = str(LIBBPF_EXTERNS[name])
        elif name in conf:
            text = conf[name]
        elif name in weak:
            text = "0" if btf.resolve(tid).kind != ARRAY else '""'
        else:
            raise SkvError(f"kconfig extern {name} is not in the kernel's configuration "
                           "(and is not __weak)")
        out.append(KconfigExtern(name, off, size, _encode(name, text, btf, tid, size)))
        off += size
    return out


def kconfig_value(externs: list[KconfigExtern]) -> bytes:
    """The ``.kconfig`` map's value."""
    end = max((e.offset + e.size for e in externs), default=0)
    buf = bytearray(end)
    for e in externs:
        buf[e.offset:e.offset + e.size] = e.value
    return bytes(buf)
