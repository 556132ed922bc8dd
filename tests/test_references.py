"""Reference tracking against the Linux 6.18 kernel: ring buffer reservations
(bpf_ringbuf_reserve -> bpf_ringbuf_submit / discard) and socket lookups
(bpf_sk_lookup_tcp / udp, bpf_skc_lookup_tcp -> bpf_sk_release), with reads of socket
fields (net/core/filter.c bpf_sock_is_valid_access).

Every probe (tests/references_probes.py) is judged by the kernel (skipped without bpf(2)),
the abstract verifier and the Z3 engine: the verifier's verdict must be the kernel's, with
the kernel's message; the Z3 engine, which does not track references, never calls one of
these programs safe.
"""

from __future__ import annotations

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.sock_fields import sock_access, sock_read_ok
from model.verifier.checker import check_program
from model.verifier.regs import T, pointer
from model.verifier.state import covers, entry_state
from references_probes import ALL_PROBES, RINGBUF_PROBES, SOCKET_PROBES

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
COUNTS = {"probes": 0, "agree": 0, "false_accepts": 0, "false_rejects": 0}


@needs_kernel
@pytest.mark.parametrize("probe", ALL_PROBES, ids=lambda p: p.name)
def test_probe_against_kernel(probe):
    j = probe.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    where = f"{probe.name} ({probe.prog_type}):\n{probe.text}\nkernel: {kmsg}\n" \
            f"ours: {j.ours_msg or 'accept'}\nz3: {j.z3_why or 'safe'}"
    COUNTS["probes"] += 1
    if not j.kernel_ok:
        COUNTS["false_accepts"] += j.ours_ok
        assert not j.ours_ok, "FALSE ACCEPT " + where
        assert not j.z3_safe, "Z3 CALLS IT SAFE " + where
        # the kernel's last line is ours too (leaks: after the "Unreleased reference" lines)
        assert j.ours_msg.splitlines()[-1] == kmsg, where
    else:
        COUNTS["false_rejects"] += not j.ours_ok
        assert j.ours_ok, "false reject " + where
    COUNTS["agree"] += j.ours_ok == j.kernel_ok
    assert probe.name.endswith("_ok") == bool(j.kernel_ok) or probe.name.startswith(
        ("sk_read_", "skc_read_", "sk_tuple_")), "probe named against its verdict " + where


@pytest.mark.parametrize("probe", RINGBUF_PROBES + SOCKET_PROBES, ids=lambda p: p.name)
def test_pruning_keeps_the_verdict(probe):
    """Pruning compares held references (refsafe): the verdict with pruning is the one
    without it."""
    obj, prog = probe.model()
    pruned, full = check_program(obj, prog), check_program(obj, prog, prune=False)
    assert pruned.accepted == full.accepted, (pruned.error, full.error)


def test_leak_names_every_reference():
    probe = next(p for p in RINGBUF_PROBES if p.name == "rb_two_reservations_one_leaks")
    obj, prog = probe.model()
    v = check_program(obj, prog)
    lines = v.error.message.splitlines()
    assert lines[-1] == "BPF_EXIT instruction in main prog would lead to reference leak"
    assert len(lines) == 2 and lines[0].startswith("Unreleased reference id=")
    assert lines[0].endswith("alloc_insn=5")  # the first reservation's call


def test_states_with_other_references_do_not_cover():
    """A state holding a reference never prunes one holding none (or another number)."""
    held = entry_state(pointer(T.CTX))
    held.refs = ((2, 5),)
    free = entry_state(pointer(T.CTX))
    assert covers(free, free.copy()) and covers(held, held.copy())
    assert not covers(free, held) and not covers(held, free)
    two = held.copy()
    two.refs = ((2, 5), (4, 12))
    assert not covers(held, two) and not covers(two, held)


def test_reference_ids_pair_with_registers():
    """refsafe and regsafe share one id map: a pointer holding reference 2 in the old state
    matches one holding reference 7 in the new only when the new state's held reference is
    7 too."""
    old = entry_state(pointer(T.CTX))
    old.refs = ((2, 5),)
    old.cur.regs[6] = pointer(T.RINGBUF_MEM, ref=2, range=8)
    new = old.copy()
    new.refs = ((7, 5),)
    new.cur.regs[6] = pointer(T.RINGBUF_MEM, ref=7, range=8)
    assert covers(old, new)
    new.cur.regs[6] = pointer(T.RINGBUF_MEM, ref=9, range=8)
    assert not covers(old, new)


def test_socket_field_table():
    assert sock_read_ok(4, 4) and sock_read_ok(4, 2) and sock_read_ok(4, 1)
    assert not sock_read_ok(5, 1) and not sock_read_ok(6, 2)
    assert sock_read_ok(25, 1) and sock_read_ok(30, 2)  # inside the address fields
    assert sock_read_ok(48, 4) and sock_read_ok(48, 2) and sock_read_ok(49, 1)
    assert not sock_read_ok(50, 2) and not sock_read_ok(80, 4) and not sock_read_ok(0, 8)
    assert sock_read_ok(16, 4) and not sock_read_ok(16, 4, common=True)
    assert sock_access("sock", 0, 16, 4, write=True) == "R0 cannot write into sock"
    assert sock_access("sock_common", 3, 8, 4, write=False) == \
        "R3 invalid sock_common access off=8 size=4"


def test_counts_report():
    """Printed with -s: how many probes were judged and how they compare."""
    print(f"\nreference probes vs kernel: {COUNTS}")
    assert COUNTS["false_accepts"] == 0
