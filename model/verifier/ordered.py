"""The pointer kinds a BPF_ATOMIC instruction may go through (atomic_ptr_type_ok): one rule
for the read-modify-write atomics and the ordered load-acquire / store-release
(``model.isa.LoadAcquire`` / ``StoreRelease``, which are otherwise a plain load and store,
always strictly aligned)."""

from __future__ import annotations

from model.verifier.memcheck import Reject
from model.verifier.regs import PACKET, SOCKETS, Reg, T


def check_atomic_ptr(base: Reg, regno: int, load: bool) -> None:
    """Refuse an atomic through the context, a packet, flow keys or a socket."""
    if base.type in (T.CTX, T.FLOW_KEYS) or base.type in PACKET or base.type in SOCKETS:
        how = "loads from" if load else "stores into"
        raise Reject(f"BPF_ATOMIC {how} R{regno} {base.type.value} is not allowed")
