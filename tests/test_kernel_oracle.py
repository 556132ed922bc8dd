"""The real kernel (bpf(2)) as an oracle: model.kernel.bpf / model.kernel.oracle.

Skipped as a whole, with the reason, where this process cannot use bpf(2).
Instructions are built from raw bytes here so that nothing depends on model.isa.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest

from model.errors import IsaError, SkvError
from model.kernel import (
    BpfError, KernelUnavailable, VerifierRejected, array_map, available, jit, load,
    map_create, map_load_slots, patch_map_fds, prog_load, prog_type_number, run, verify,
)
from model.kernel import bpf as kbpf
from model.kernel import oracle as korc

_OK, _WHY = available()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not _OK, reason=_WHY)]


def ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, dst | src << 4, off, imm)


def ld_imm64(dst: int, src: int, imm: int, imm2: int = 0) -> bytes:
    return ins(0x18, dst, src, 0, imm) + ins(0, 0, 0, 0, imm2)


def mov(dst: int, imm: int) -> bytes:          # r_dst = imm (ALU64 MOV K)
    return ins(0xB7, dst, imm=imm)


def ja(off: int) -> bytes:                     # goto +off
    return ins(0x05, off=off)


EXIT = ins(0x95)
ADD_R0_1 = ins(0x07, 0, imm=1)                 # r0 += 1 -> x86 48 83 c0 01
PROLOGUE = bytes.fromhex("0f1f440000" "0f1f00" "55" "4889e5")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leaks():
    before = _open_fds()
    yield
    leaked = {fd for fd in _open_fds() - before if os.path.exists(f"/proc/self/fd/{fd}")
              and "bpf" in os.readlink(f"/proc/self/fd/{fd}")}
    assert not leaked, f"bpf fds leaked: {leaked}"


# --- layouts and availability ----------------------------------------------------------
def test_attr_layouts_match_uapi():
    info = kbpf.ProgInfoStruct
    assert (info.jited_prog_len.offset, info.xlated_prog_len.offset) == (16, 20)
    assert (info.jited_prog_insns.offset, info.xlated_prog_insns.offset) == (24, 32)
    assert (info.run_time_ns.offset, info.verified_insns.offset) == (192, 216)
    assert ctypes.sizeof(info) == 232
    load_attr = kbpf.ProgLoadAttr
    assert (load_attr.log_buf.offset, load_attr.kern_version.offset) == (32, 40)
    assert (load_attr.expected_attach_type.offset, load_attr.log_true_size.offset) == (68, 140)
    assert korc.TestRunAttr.duration.offset == 36 and korc.TestRunAttr.ctx_in.offset == 48
    assert ctypes.sizeof(korc.TestRunAttr) == 80
    assert kbpf.MapCreateAttr.map_name.offset == 28 and kbpf.MapElemAttr.value.offset == 16


def test_available_and_forced_off(monkeypatch):
    assert available() == (True, "bpf(2) available")
    monkeypatch.setenv("SKV_KERNEL", "0")
    ok, why = kbpf._probe()
    assert not ok and "SKV_KERNEL=0" in why
    monkeypatch.setattr(kbpf, "available", lambda: (False, why))
    with pytest.raises(KernelUnavailable, match="SKV_KERNEL"):
        kbpf.map_create("array", 4, 8, 1)
    with pytest.raises(KernelUnavailable):
        kbpf.prog_load("xdp", mov(0, 0) + EXIT)


def test_prog_type_names():
    assert prog_type_number("socket_filter") == 1 and prog_type_number("tc") == 3
    assert prog_type_number("XDP") == 6 and prog_type_number("BPF_PROG_TYPE_SYSCALL") == 31
    assert prog_type_number(17) == 17
    with pytest.raises(SkvError, match="unknown BPF program type"):
        prog_type_number("nonsense")


# --- loading, JIT image, test run ------------------------------------------------------
def test_socket_filter_r0_42_loads_jits_and_runs():
    prog = mov(0, 42) + EXIT
    with prog_load("socket_filter", prog) as res:
        assert res.ok and res.fd is not None and res.errno == 0
        assert res.insns_processed == 2
        assert res.states == 0 and res.peak_states == 0
        assert isinstance(res.verification_time_us, int)
        image = korc.prog_jited(res)
        assert image.startswith(PROLOGUE)
        assert image[len(PROLOGUE):].startswith(bytes.fromhex("b82a000000"))  # mov eax, 42
        from model.x86.jit import cpu_wants_rethunk

        if cpu_wants_rethunk():  # leave; jmp rel32 to the return thunk
            assert image[-6:-4] == bytes([0xC9, 0xE9])
        else:  # leave; ret (a CPU the retbleed/SRSO mitigations leave alone)
            assert image[-2:] == bytes([0xC9, 0xC3])
        assert korc.prog_xlated(res) == prog
        info = korc.prog_info(res)
        assert info.type == 1 and info.jited_prog_len == len(image)
        assert info.xlated_prog_len == 16 and info.verified_insns == 2
        assert korc.prog_test_run(res, bytes(64)).retval == 42
        fd = res.fd
    assert res.fd is None
    with pytest.raises(OSError):
        os.fstat(fd)  # closed by the context manager, not by a finalizer


def test_stats_line_needs_bpf_log_stats():
    with prog_load("socket_filter", mov(0, 0) + EXIT, stats=False) as res:
        assert res.insns_processed == 2 and res.verification_time_us is None
    with prog_load("socket_filter", mov(0, 0) + EXIT, log_level=1) as res:
        assert res.insns_processed == 2 and res.verification_time_us is not None
    with prog_load("socket_filter", mov(0, 0) + EXIT, log_level=0) as res:
        assert res.ok and res.log == "" and res.insns_processed is None


def test_uninitialised_register_is_rejected():
    res = verify(ins(0xBF, 0, 2) + EXIT)                # r0 = r2; exit
    assert not res.ok and res.fd is None and res.errno == errno.EACCES
    assert "R2 !read_ok" in res.log
    with pytest.raises(VerifierRejected, match="EACCES: R2 !read_ok") as exc:
        load(ins(0xBF, 0, 2) + EXIT)
    assert exc.value.result.errno == errno.EACCES


def test_unreachable_code_is_rejected():
    res = verify(mov(0, 0) + EXIT + mov(0, 1) + EXIT)
    assert not res.ok and res.errno == errno.EINVAL
    assert "unreachable insn 2" in res.log
    with pytest.raises(VerifierRejected, match="unreachable insn 2"):
        jit(mov(0, 0) + EXIT + mov(0, 1) + EXIT)    # quiet load, reloaded with a log


def test_log_grows_on_enospc():
    prog = mov(0, 0) + ADD_R0_1 * 300 + EXIT
    res = verify(prog, log_size=4096)                  # the level-2 log is far longer
    assert res.ok and res.insns_processed == 302
    assert len(res.log) > 4096 and "301: (95) exit" in res.log


def test_xdp_test_run_returns_pass():
    packet = bytes(range(64))
    with load(mov(0, 2) + EXIT, "xdp") as prog:
        out = prog.test_run(packet)
        assert out.retval == 2 and out.data_out == packet
        assert prog.test_run(packet, repeat=100).duration_ns >= 0
        with pytest.raises(BpfError) as exc:
            prog.test_run(packet, data_out_size=10)    # an explicit size is not grown
        assert exc.value.errno == errno.ENOSPC
        assert korc.prog_test_run(prog.fd, packet).retval == 2  # raw fd: type asked of kernel


@pytest.mark.parametrize("ptype", ["sched_cls", "sched_act", "cgroup_skb", "flow_dissector"])
def test_packet_types_test_run(ptype):
    assert run(mov(0, 1) + EXIT, ptype, bytes(64)).retval == 1


def test_skb_test_run_needs_an_ethernet_header():
    with load(mov(0, 1) + EXIT) as prog:
        assert prog.test_run(bytes(14)).retval == 1
        with pytest.raises(BpfError) as exc:
            prog.test_run(bytes(13))
        assert exc.value.errno == errno.EINVAL


def test_ctx_only_types_test_run():
    assert run(mov(0, 7) + EXIT, "raw_tracepoint").retval == 7
    assert run(mov(0, 7) + EXIT, "raw_tracepoint", ctx_in=bytes(16)).retval == 7
    store = ins(0x62, 1, off=0, imm=9)                 # *(u32 *)(r1 + 0) = 9
    out = run(store + mov(0, 3) + EXIT, "syscall", ctx_in=bytes(8))  # made sleepable
    assert out.retval == 3 and out.ctx_out == struct.pack("<II", 9, 0)


def test_kprobe_loads_without_kern_version_but_cannot_test_run():
    with load(mov(0, 0) + EXIT, "kprobe") as prog:
        with pytest.raises(BpfError) as exc:
            prog.test_run()
        assert exc.value.errno == kbpf.ENOTSUPP and "ENOTSUPP" in str(exc.value)


# --- maps ------------------------------------------------------------------------------
def test_array_map_round_trip_and_freeze():
    with map_create("array", 4, 8, 4, name="skv_test") as m:
        key = struct.pack("<I", 2)
        assert m.lookup(key) == bytes(8)
        m.update(key, struct.pack("<Q", 0xDEADBEEF))
        assert kbpf.map_lookup(m.fd, key, 8) == struct.pack("<Q", 0xDEADBEEF)
        assert kbpf.map_lookup(m.fd, key) == struct.pack("<Q", 0xDEADBEEF)  # size from kernel
        with pytest.raises(BpfError) as exc:
            m.lookup(struct.pack("<I", 4))              # out of range
        assert exc.value.errno == errno.ENOENT
        m.freeze()
        with pytest.raises(BpfError) as exc:
            m.update(key, bytes(8))
        assert exc.value.errno == errno.EPERM
    assert m.closed


def test_map_lookup_program_after_fd_patching():
    prog = (ins(0x62, 10, off=-4, imm=0)                # *(u32 *)(r10 - 4) = 0
            + ins(0xBF, 2, 10) + ins(0x07, 2, imm=-4)  # r2 = r10; r2 += -4
            + ld_imm64(1, 1, 0)                        # r1 = map[fd]  (slot 3)
            + ins(0x85, imm=1)                         # call bpf_map_lookup_elem
            + ins(0x79, 0, 0)                          # r0 = *(u64 *)(r0 + 0): no null check
            + EXIT)
    assert list(map_load_slots(prog)) == [(3, 1)]
    with array_map(16, 1, {0: struct.pack("<QQ", 1234, 5678)}) as m:
        res = verify(prog, maps={3: m})
        assert res.ok, res.log
        assert "R0=map_value(ks=4,vs=16)" in res.log and res.insns_processed == 7
        assert run(prog, maps={3: m.fd}).retval == 1234
    assert not verify(prog).ok                         # fd 0 is not a map


def test_map_value_load_keeps_its_offset():
    prog = ld_imm64(0, 2, 0, imm2=8) + ins(0x79, 0, 0) + EXIT  # r0 = map_value + 8; load
    with array_map(16, 1, {0: struct.pack("<QQ", 1234, 5678)}) as m:
        patched = patch_map_fds(prog, {0: m})
        assert struct.unpack_from("<i", patched, 4)[0] == m.fd
        assert patched[8:] == prog[8:]
        assert run(prog, "xdp", maps={0: m}).retval == 5678


def test_patch_map_fds_rejects_non_map_loads():
    with pytest.raises(IsaError, match="not an ld_imm64") as exc:
        patch_map_fds(mov(0, 0) + EXIT, {1: 5})
    assert exc.value.index == 1
    with pytest.raises(IsaError, match="src_reg 0"):
        patch_map_fds(ld_imm64(1, 0, 7) + EXIT, {0: 5})
    with pytest.raises(IsaError, match="insn 3: no instruction"):
        patch_map_fds(ld_imm64(1, 1, 7) + EXIT, {3: 5})
    with pytest.raises(IsaError, match="insn 0: truncated ld_imm64"):
        patch_map_fds(ins(0x18, 1, 1, imm=7), {0: 5})
    assert patch_map_fds(ld_imm64(1, 1, 7) + EXIT, {}) == ld_imm64(1, 1, 7) + EXIT


# --- JIT facts (x86-poking.md) ---------------------------------------------------------
def test_ja_zero_emits_no_bytes():
    plain = jit(mov(0, 0) + EXIT)
    with_nop = jit(mov(0, 0) + ja(0) + EXIT)
    assert len(with_nop) == len(plain)
    assert plain[:-4] == with_nop[:-4]                 # only the return-thunk rel32 differs


def _skip_n(n: int) -> bytes:
    """r0 = 0; r2 = skb->len; if r2 == 0 goto +1; goto +n; n x (r0 += 1); exit."""
    return (mov(0, 0) + ins(0x61, 2, 1) + ins(0x15, 2, off=1) + ja(n)
            + ADD_R0_1 * n + EXIT)


@pytest.mark.parametrize("n, jump", [(30, "eb78"), (31, "e97c000000")])
def test_short_vs_near_jump_at_123_bytes(n, jump):
    image = jit(_skip_n(n))
    assert image.startswith(PROLOGUE)
    site = bytes.fromhex(jump) + bytes.fromhex("4883c001")
    assert image.count(site) == 1
    assert run(_skip_n(n), data_in=bytes(64)).retval == 0     # skb->len != 0: jumps over


def test_xlated_decodes_with_model_isa_if_present():
    isa = pytest.importorskip("model.isa")
    if not hasattr(isa, "decode"):
        pytest.skip("model.isa.decode not there yet")
    prog = mov(0, 1) + ja(0) + EXIT
    with load(prog) as p:
        xl = p.xlated()
    assert len(isa.decode(xl)) == 2                    # the verifier dropped the ja +0
