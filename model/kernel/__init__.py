"""skv's access to the running kernel's verifier, JIT and test runner through bpf(2).

``bpf`` is the syscall layer (ctypes, raw bytes); ``oracle`` the conveniences built on it.
Everything raises :class:`KernelUnavailable` when :func:`available` is ``(False, reason)``.
"""

from model.kernel.bpf import (
    MAP_TYPES, PROG_TYPES, BpfError, KernelUnavailable, LoadResult, Map, available,
    map_create, map_freeze, map_lookup, map_update, parse_log_stats, prog_load,
    prog_type_number, require,
)
from model.kernel.oracle import (
    PACKET_TYPES, ProgInfo, Program, TestRunResult, VerifierRejected, array_map, jit, load,
    map_load_slots, patch_map_fds, prog_info, prog_jited, prog_test_run, prog_xlated,
    rejection_reason, run, verify,
)

__all__ = [
    "MAP_TYPES", "PROG_TYPES", "PACKET_TYPES", "BpfError", "KernelUnavailable", "LoadResult",
    "Map", "ProgInfo", "Program", "TestRunResult", "VerifierRejected", "array_map",
    "available", "jit", "load", "map_create", "map_freeze", "map_load_slots", "map_lookup",
    "map_update", "parse_log_stats", "patch_map_fds", "prog_info", "prog_jited", "prog_load",
    "prog_test_run", "prog_type_number", "prog_xlated", "rejection_reason", "require", "run",
    "verify",
]
