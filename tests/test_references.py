"""Reference tracking against the Linux 6.18 kernel: ring buffer reservations
(bpf_ringbuf_reserve -> bpf_ringbuf_submit / discard) and socket lookups
(bpf_sk_lookup_tcp / udp, bpf_skc_lookup_tcp -> bpf_sk_release), with reads of socket
fields (net/core/filter.c bpf_sock_is_valid_access); bpf_spin_lock / bpf_spin_unlock on a
lock that the map's value BTF describes (tests/spin_lock_probes.py).

Every probe (tests/references_probes.py) is judged by the kernel (skipped without bpf(2)),
the abstract verifier and the Z3 engine: the verifier's verdict must be the kernel's, with
the kernel's message; the Z3 engine, which does not track references, never calls one of
these programs safe.
"""

from __future__ import annotations

import struct

import pytest

from model.kernel import available
from model.kernel.oracle import rejection_reason
from model.platform.sock_fields import sock_access, sock_read_ok
from model.verifier.checker import check_program
from model.verifier.regs import T, pointer
from model.verifier.state import covers, entry_state
from references_probes import ALL_PROBES, RINGBUF_PROBES
from spin_lock_probes import SPIN_LOCK_PROBES, LockProbe

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
        assert not j.z3_failed, "Z3 FINDS AN UNSAFE EXECUTION " + where  # (or unknown)
    COUNTS["agree"] += j.ours_ok == j.kernel_ok
    assert probe.name.endswith("_ok") == bool(j.kernel_ok) or probe.name.startswith(
        ("sk_read_", "skc_read_", "sk_tuple_", "tcp_sock_read_")), \
        "probe named against its verdict " + where


@pytest.mark.parametrize("probe", ALL_PROBES, ids=lambda p: p.name)
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


# -- the interpreter ------------------------------------------------------------------
def _run(name: str, seeds: int = 1):
    from model.interp.machine import Machine

    probe = next(p for p in ALL_PROBES if p.name == name)
    obj, prog = probe.model()
    m = Machine(prog, obj.maps)
    return [m.run() for _ in range(seeds)]


@pytest.mark.parametrize("probe", [p for p in ALL_PROBES if p.name.endswith("_ok")],
                         ids=lambda p: p.name)
def test_interpreter_runs_accepted_programs(probe):
    """What the verifier accepts runs to its end in the interpreter, run after run (the
    reservations of one run are gone before the next)."""
    obj, prog = probe.model()
    assert check_program(obj, prog).accepted
    for res in _run(probe.name, seeds=3):
        assert res.status == "exit", res.fault


@pytest.mark.parametrize("name, fault", [
    ("rb_leak", "reference leak"),
    ("rb_submit_one_path_only", "reference leak"),
    ("rb_double_submit", "holds no ringbuf reference"),
    ("rb_submit_offset", "holds no ringbuf reference"),
    ("rb_use_after_submit", "no region"),
    ("rb_write_past_size", "past m0.reservation#1"),
    ("sk_release_scalar", "holds no socket reference"),
])
def test_interpreter_faults_where_the_kernel_rejects(name, fault):
    (res,) = _run(name)
    assert res.status == "fault" and fault in res.fault.reason, res.fault


def test_interpreter_reservation_larger_than_the_ring_is_null():
    from model.interp.machine import Machine
    from soundness_probes import Probe

    p = Probe("big", "xdp", "ld_pseudo r1, 1, 0\nr2 = 4096\nr3 = 0\ncall 131\n"
              "if r0 == 0 goto out\nr1 = r0\nr2 = 0\ncall 132\nr0 = 1\nexit\n"
              "out:\nr0 = 2\nexit\n", [(27, 0, 0, 4096, 0)])
    obj, prog = p.model()
    assert check_program(obj, prog).accepted
    res = Machine(prog, obj.maps).run()
    assert res.status == "exit" and res.r0 == 2  # the 8-byte header does not fit


# -- the Z3 engine --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sk_release_ok", "sk_leak"])
def test_symbolic_engine_judges_socket_references(name):
    """The Z3 engine follows socket references (model.symbolic.sockets): its models are
    decided, safe exactly when the verifier accepts; a leak's counterexample (a lookup
    that found a socket) is confirmed by the interpreter. (Ring buffer reservations:
    tests/test_symbolic_follow.py; more sockets: tests/test_symbolic_sockets.py.)"""
    from model.symbolic import analyse_program

    probe = next(p for p in ALL_PROBES if p.name == name)
    obj, prog = probe.model()
    doc = analyse_program(obj, prog)
    accepted = check_program(obj, prog).accepted
    assert accepted == name.endswith("_ok")
    assert not doc["exhausted"], doc["exhausted"]
    assert all(doc["models"][m]["safe"] is accepted for m in ("M0", "M1", "M2"))
    assert doc["cross_check"] != "SOUNDNESS BUG"
    if not accepted:
        assert doc["counterexample"]["confirmed"], doc["counterexample"]


# -- bpf_spin_lock --------------------------------------------------------------------
@needs_kernel
@pytest.mark.parametrize("probe", SPIN_LOCK_PROBES, ids=lambda p: p.name)
def test_spin_lock_probe_against_kernel(probe):
    """The map's value BTF has a struct bpf_spin_lock (created with BTF in the kernel,
    ``MapDef.fields`` in the model)."""
    j = probe.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    where = f"{probe.name}:\n{probe.text}\nkernel: {kmsg}\nours: {j.ours_msg or 'accept'}\n" \
            f"z3: {j.z3_why or 'safe'}"
    COUNTS["probes"] += 1
    COUNTS["agree"] += j.ours_ok == j.kernel_ok
    if not j.kernel_ok:
        COUNTS["false_accepts"] += j.ours_ok
        assert not j.ours_ok, "FALSE ACCEPT " + where
        assert j.z3_failed, "Z3 FINDS NO UNSAFE EXECUTION " + where  # model.symbolic.locks
        if "map ''" not in kmsg:  # the kernel names its (unnamed) map, we name ours
            assert j.ours_msg.splitlines()[-1] == kmsg, where
    else:
        COUNTS["false_rejects"] += not j.ours_ok
        assert j.ours_ok, "false reject " + where
        assert j.z3_safe, "Z3 DOES NOT CALL IT SAFE " + where
    assert probe.name.endswith("_ok") == bool(j.kernel_ok), where


@pytest.mark.parametrize("probe", SPIN_LOCK_PROBES, ids=lambda p: p.name)
def test_spin_lock_pruning_keeps_the_verdict(probe):
    obj, prog = probe.model()
    pruned, full = check_program(obj, prog), check_program(obj, prog, prune=False)
    assert pruned.accepted == full.accepted, (pruned.error, full.error)


def test_held_lock_is_part_of_the_state():
    locked = entry_state(pointer(T.CTX))
    locked.lock = ("m0", 3)
    free = entry_state(pointer(T.CTX))
    assert not covers(free, locked) and not covers(locked, free)
    other = locked.copy()
    other.lock = ("m1", 3)
    assert covers(locked, locked.copy()) and not covers(locked, other)
    # the lock's id pairs with the registers' ids: r7 must be the same lookup's pointer
    locked.cur.regs[7] = pointer(T.MAP_VALUE, map="m0", id=3)
    again = locked.copy()
    again.lock, again.cur.regs[7] = ("m0", 8), pointer(T.MAP_VALUE, map="m0", id=8)
    assert covers(locked, again)
    again.cur.regs[7] = pointer(T.MAP_VALUE, map="m0", id=9)
    assert not covers(locked, again)


def test_special_fields_from_btf():
    """The lock is found in the value's BTF, in nested structs and arrays too."""
    from model.elf import btf as B
    from model.elf.btf import parse_btf, special_fields
    from model.kernel.btf_maps import value_btf

    blob, _, value = value_btf(16, {4: ("bpf_spin_lock", 4)})
    assert special_fields(parse_btf(blob), value) == [("bpf_spin_lock", 4, 4)]
    s = b"\0int\0bpf_timer\0a\0b\0inner\0outer\0t\0"
    name = {n: s.index(n.encode() + b"\0") for n in ("int", "bpf_timer", "a", "b", "inner",
                                                       "outer", "t")}
    types = struct.pack("<IIII", name["int"], B.INT << 24, 4, 32)                    # 1
    types += struct.pack("<III", name["bpf_timer"], B.STRUCT << 24 | 1, 16)          # 2
    types += struct.pack("<III", name["a"], 1, 0)
    types += struct.pack("<III", name["inner"], B.STRUCT << 24 | 2, 24)               # 3
    types += struct.pack("<III", name["a"], 1, 0) + struct.pack("<III", name["t"], 2, 64)
    types += struct.pack("<III", 0, B.ARRAY << 24, 0) + struct.pack("<III", 3, 1, 2)  # 4
    types += struct.pack("<III", name["outer"], B.STRUCT << 24 | 2, 56)               # 5
    types += struct.pack("<III", name["b"], 1, 0) + struct.pack("<III", name["a"], 4, 64)
    got = special_fields(parse_btf(B.btf_blob(types, s)), 5)
    assert got == [("bpf_timer", 16, 16), ("bpf_timer", 40, 16)]


def _array_lock(body: str):
    from model.interp.machine import Machine

    p = LockProbe("p", "sched_cls", "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\n"
                  "r2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr7 = r0\n" + body
                  + "out:\nr0 = 0\nexit\n", [(2, 4, 16, 1, 0)], [{4: ("bpf_spin_lock", 4)}])
    obj, prog = p.model()
    return check_program(obj, prog), Machine(prog, obj.maps).run()


_L, _U = "r1 = r7\nr1 += 4\ncall 93\n", "r1 = r7\nr1 += 4\ncall 94\n"


@pytest.mark.parametrize("body, fault", [
    (_L + _U, None),
    (_L, "ends holding the bpf_spin_lock"),
    (_U, "while holding no lock"),
    (_L + "call 7\n" + _U, "called while holding the bpf_spin_lock"),
])
def test_interpreter_spin_lock(body, fault):
    v, res = _array_lock(body)
    assert v.accepted == (fault is None)
    if fault is None:
        assert res.status == "exit", res.fault
    else:
        assert res.status == "fault" and fault in res.fault.reason, res.fault

LOCK_C = r"""
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct bpf_spin_lock { unsigned int val; };
static long (*bpf_spin_lock)(struct bpf_spin_lock *l) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *l) = (void *)94;
static void *(*bpf_map_lookup_elem)(void *m, const void *k) = (void *)1;
struct val { int cnt; struct bpf_spin_lock lock; long more; };
struct { __uint(type, 1); __uint(max_entries, 4); __type(key, int); __type(value, struct val);
} h SEC(".maps");
struct bpf_spin_lock glock;
int pad;
SEC("tc") int ok_(void *ctx)
{ int k = 0; struct val *v = bpf_map_lookup_elem(&h, &k); if (!v) return 0;
  bpf_spin_lock(&v->lock); v->cnt++; bpf_spin_unlock(&v->lock); return 0; }
SEC("tc") int touch(void *ctx)
{ int k = 0; struct val *v = bpf_map_lookup_elem(&h, &k); if (!v) return 0;
  *(volatile int *)&v->lock = 0; return 0; }
SEC("tc") int gtouch(void *ctx) { *(volatile int *)&glock = 1; return 0; }
SEC("tc") int gpad(void *ctx) { *(volatile int *)&pad = 1; return 0; }
char _license[] SEC("license") = "GPL";
"""


def test_spin_lock_fields_of_a_clang_object(tmp_path):
    """clang's BTF: the hash map's value and the .bss variable hold a lock; touching
    either directly is refused, the lock/unlock pair is accepted."""
    import shutil
    import subprocess

    from model.elf.loader import load_object

    clang = shutil.which("clang-19")
    if clang is None:
        pytest.skip("clang-19 not installed (apt-get install clang-19)")
    (tmp_path / "l.c").write_text(LOCK_C)
    r = subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(tmp_path / "l.c"),
                        "-o", str(tmp_path / "l.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    obj = load_object(str(tmp_path / "l.o"))
    assert obj.maps["h"].fields == (("bpf_spin_lock", 4, 4),)
    assert [f[0] for f in obj.maps[".bss"].fields] == ["bpf_spin_lock"]
    verdicts = {p.name: check_program(obj, p) for p in obj.programs}
    assert verdicts["ok_"].accepted and verdicts["gpad"].accepted
    for name in ("touch", "gtouch"):
        assert verdicts[name].error.message == \
            "bpf_spin_lock cannot be accessed directly by load/store"
    if KERNEL:  # the kernel agrees, its maps created with BTF for the locks (objload)
        from model.kernel.objload import load_program

        for p in obj.programs:
            res = load_program(obj, p)
            if res.ok:
                res.close()
            assert res.ok == verdicts[p.name].accepted, (p.name, res.log[-300:])


def test_counts_report():
    """Printed with -s: how many probes were judged and how they compare."""
    print(f"\nreference probes vs kernel: {COUNTS}")
    assert COUNTS["false_accepts"] == 0
