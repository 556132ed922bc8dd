"""ARG_PTR_TO_CONST_STR in the abstract verifier (Linux 6.18 check_reg_const_str, for the
helpers of model.platform.proto_kinds.CONST_STR_HELPERS).

* The register is a map value pointer (not maybe-NULL: check_reg_type's
  "R3 type=map_value_or_null expected=map_value").
* Its map is read-only to the verifier (bpf_map_is_rdonly: BPF_F_RDONLY_PROG and frozen
  before the load). Of the maps skv loads, only libbpf's ``.rodata*`` ones are frozen
  (MapDef.frozen_constant); a ``.kconfig`` map's bytes are filled in at load time from
  the running kernel's config, so a string there is not modelled.
* Its variable offset is a constant ("R3 is not a constant address'"), and
  check_map_access of ``value_size - off`` bytes from the fixed offset holds (so a non-zero
  constant variable part, or an offset at or past the value's end, is refused).
* The frozen bytes from there to the value's end hold a NUL ("string is not
  zero-terminated").
"""

from __future__ import annotations

from model.verifier.memcheck import Reject, _outside, check_bounds
from model.verifier.regs import Reg, T


def const_str_arg(maps, regno: int, r: Reg) -> bytes:
    """The string (without its NUL) an ARG_PTR_TO_CONST_STR register points to."""
    if r.type is not T.MAP_VALUE:
        raise Reject(f"R{regno} type={r.type.value} expected=map_value")
    m = maps[r.map]
    if not m.frozen_constant:
        raise Reject(f"R{regno} does not point to a readonly map'")
    if not r.var.is_const():
        raise Reject(f"R{regno} is not a constant address'")
    if m.name.startswith(".kconfig"):
        raise Reject(f"not modelled: a constant string in {m.name} (filled in at load time)")
    size = m.value_size - r.off
    if size <= 0:  # __check_mem_access refuses an empty or negative size too
        raise Reject(f"{_outside('map value', m.value_size, r.off + r.var.smin_s, size)}\n"
                     f"R{regno} min value is outside of the allowed memory range")
    check_bounds(regno, r, 0, size, m.value_size, "map value")
    data = (m.initial or b"").ljust(m.value_size, b"\0")[:m.value_size]
    end = data.find(b"\0", r.off)
    if end < 0:
        raise Reject("string is not zero-terminated")
    return data[r.off:end]


def snprintf_check(fmt: bytes, data_len: Reg) -> None:
    """check_bpf_snprintf_call: the constant format against data_len / 8 arguments
    (model.platform.bprintf)."""
    from model.platform.bprintf import bprintf_valid

    n = data_len.const()
    if n is None:
        raise Reject("not modelled: bpf_snprintf with a variable data_len (the kernel "
                     "reads its tnum's known bits)")
    if n % 8:
        raise Reject("bpf_snprintf's data_len is not a multiple of 8 (EINVAL, no message)")
    if not bprintf_valid(fmt, n // 8):
        raise Reject("Invalid format string")
