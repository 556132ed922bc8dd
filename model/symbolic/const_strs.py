"""Constant strings in the Z3 engine (ARG_PTR_TO_CONST_STR of bpf_strncmp and bpf_snprintf,
proto_kinds.CONST_STR_HELPERS): the verifier's own rules (model.verifier.const_str:
check_reg_const_str, check_bpf_snprintf_call) on the register the argument is.

The argument must point into a frozen read-only map value (libbpf's ``.rodata``) at an
offset the kernel knows as a constant; the engine knows it only when the pointer's offset
is a numeral fixed by the path (``path_constant``: a merged or input-dependent offset is
left to the verifier), and so for bpf_snprintf's data_len. The string's bytes are the
map's frozen contents.
"""

from __future__ import annotations

import z3

from model.platform.ctx_layouts import VERIFIER_ONLY
from model.platform.proto_kinds import CONST_STR_HELPERS
from model.platform.prototypes import helper_proto
from model.verifier.const_str import const_str_arg, snprintf_check
from model.verifier.memcheck import Reject
from model.verifier.regs import T as VT
from model.verifier.regs import known, pointer
from model.symbolic.state import P, S, const_of, path_constant

FOLLOWED = CONST_STR_HELPERS
TRUE = z3.BoolVal(True)


def followed(prog_type: str, hid: int) -> bool:
    proto = helper_proto(prog_type, hid)
    return proto is not None and proto.name in FOLLOWED


def _known(v) -> int | None:
    """A value the kernel knows as this constant too, or None."""
    return const_of(v) if path_constant(v) else None


def arg_bad(lay, proto, regno: int, r, regs) -> list:
    """check_reg_const_str on ``r`` (and bpf_snprintf's format against its data_len)."""
    from model.symbolic.sockets import TYPE_NAMES

    leave = [(TRUE, f"{VERIFIER_ONLY}: a constant string at an offset, or a data_len, the "
              "kernel may know as a constant")]
    if isinstance(r, S):
        return [(TRUE, f"R{regno} type=scalar expected=map_value")]
    if not isinstance(r, P) or r.r.kind != "map":
        what = TYPE_NAMES.get(r.r.kind, r.r.kind) if isinstance(r, P) else "?"
        return [(TRUE, f"R{regno} type={what} expected=map_value")]
    c = _known(r.off)
    if c is None:
        return leave
    reg = pointer(VT.MAP_VALUE, off=c - (1 << 64) if c >> 63 else c, map=r.r.name)
    try:
        fmt = const_str_arg(lay.maps, regno, reg)
        if proto.name == "snprintf":
            n = _known(regs[5].v) if isinstance(regs[5], S) else None
            if n is None:
                return leave
            snprintf_check(fmt, known(n))
    except Reject as e:
        if e.message.startswith("not modelled"):
            return [(TRUE, f"{VERIFIER_ONLY}: {e.message}")]
        return [(TRUE, e.message)]
    return []


__all__ = ["FOLLOWED", "followed", "arg_bad"]
