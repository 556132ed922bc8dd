"""Direct map-value loads (``ld_imm64`` with src 2 or 6, ``BPF_PSEUDO_MAP_VALUE``): which
maps allow them, Linux 6.18.

The verifier resolves the load when the program is loaded (``resolve_pseudo_ldimm64``),
before any path is walked, so the program is refused even if the load is never executed:

* the offset (the second slot's imm, read as ``u32``) must be below ``BPF_MAX_VAR_OFF``
  (``1 << 29``): "direct value offset of %u is not allowed";
* the map type needs a ``map_direct_value_addr`` op: only ``BPF_MAP_TYPE_ARRAY`` (and the
  arena, whose pointers skv does not model); any other type: "no direct value access
  support for this map type";
* an array must have exactly one entry and the offset must lie inside the value
  (``array_map_direct_value_addr``): "invalid access to map value pointer, value_size=%u
  off=%u".

Checked against the running kernel by tests/test_rule_surface.py (the rule-surface
generator draws direct loads of arrays with 1 and 4 entries, hashes, per-CPU arrays and
arenas).
"""

from __future__ import annotations

BPF_MAX_VAR_OFF = 1 << 29
MAP_TYPE_ARRAY = 2
MAP_TYPE_ARENA = 33


def direct_value_error(map_type: int, max_entries: int, value_size: int, off: int) -> str | None:
    """Why the kernel refuses ``ld_imm64 src 2`` into this map at ``off`` (None: allowed)."""
    off &= 0xFFFFFFFF
    if off >= BPF_MAX_VAR_OFF:
        return f"direct value offset of {off} is not allowed"
    if map_type == MAP_TYPE_ARENA:
        return "not modelled: direct access to an arena map"
    if map_type != MAP_TYPE_ARRAY:
        return "no direct value access support for this map type"
    if max_entries != 1 or off >= value_size:
        return f"invalid access to map value pointer, value_size={value_size} off={off}"
    return None


__all__ = ["direct_value_error", "BPF_MAX_VAR_OFF"]
