"""One load/store instruction, several pointer types (kernel/bpf/verifier.c
save_aux_ptr_type, reg_type_mismatch, reg_type_mismatch_ok).

The kernel rewrites a load or store through some pointer types after verification (ctx
fields by convert_ctx_accesses, sockets' fields, BTF pointers as PROBE_MEM loads, arena
accesses), once per instruction: so it remembers the type each LDX/STX/ST instruction was
first verified with and refuses the program when another path reaches the instruction
with a different type and either type is one of those. A load (``allow_trust_mismatch``)
may mix BTF pointers and PTR_TO_MEM of any trust (they merge).

Types are named by the abstract verifier's ``T`` values (``model.verifier.regs``), a BTF
pointer as ``"ptr_:<trust>:<tag>"``. The abstract verifier calls :func:`clash` at every load
and store (model.verifier.step); the Z3 engine does not: its M2 "safe" stands only where the
verifier accepts.
"""

from __future__ import annotations

MESSAGE = "same insn cannot be used with different pointers"

#: base types whose accesses are rewritten per type (reg_type_mismatch_ok is false):
#: PTR_TO_CTX, PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK,
#: PTR_TO_BTF_ID, PTR_TO_ARENA (and their maybe-NULL forms)
REWRITTEN = frozenset({"ctx", "sock", "sock_or_null", "sock_common", "sock_common_or_null",
                       "tcp_sock", "tcp_sock_or_null", "xdp_sock", "ptr_", "ptr_or_null_",
                       "arena"})
#: PTR_TO_BTF_ID and PTR_TO_MEM of any flags: one load may see several (merged)
MEM_OR_BTF = frozenset({"ptr_", "ptr_or_null_", "mem", "rdonly_untrusted_mem",
                        "ringbuf_mem"})


def base(name: str) -> str:
    return name.split(":", 1)[0]


def clash(seen: set[str], name: str, load: bool) -> bool:
    """Record pointer type ``name`` at an instruction whose earlier types are ``seen``
    (updated); True when the kernel refuses the instruction for it. At least as strict
    as the kernel's first-type-wins comparison in any visiting order."""
    seen.add(name)
    if len(seen) < 2:
        return False
    kinds = set(seen)
    if load:
        family = {k for k in seen if base(k) in MEM_OR_BTF}
        kinds -= family
        if family:
            kinds.add("ptr_" if any(base(k) in REWRITTEN for k in family) else "mem")
    return len(kinds) > 1 and any(base(k) in REWRITTEN for k in kinds)
