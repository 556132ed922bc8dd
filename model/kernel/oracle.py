"""The real kernel as an oracle: load raw BPF, read the verdict, the JIT image, run it.

``xlated`` bytes are the post-verifier BPF (map fds replaced by kernel pointers, helper
calls by addresses, ``ja +0`` removed); ``jited`` bytes are the exact x86 image (all
subprograms concatenated), read with two ``BPF_OBJ_GET_INFO_BY_FD`` calls.

Built on :mod:`model.kernel.bpf`; works on raw instruction bytes (no dependency on
``model.isa``). Typical use::

    with array_map(8) as m, load(insns, "xdp", maps={3: m}) as prog:
        x86 = prog.jited()
        r0 = prog.test_run(bytes(64)).retval

Everything raises :class:`~model.kernel.bpf.KernelUnavailable` when bpf(2) cannot be used
here; :func:`load` raises :class:`VerifierRejected` (with the log) when the kernel says no,
:func:`verify` returns the :class:`~model.kernel.bpf.LoadResult` either way.

``BPF_PROG_TEST_RUN`` (:func:`prog_test_run`), measured on Linux 6.18 / x86-64:

* with a packet (``data_in`` >= 14 bytes, else EINVAL): socket_filter, sched_cls (tc),
  sched_act, xdp, cgroup_skb, lwt_in, lwt_out, lwt_xmit, flow_dissector, netfilter
  (``expected_attach_type`` 45);
* without one (``data_in`` must be empty; optional ``ctx_in``, ``repeat`` must be 0 and is
  forced so): raw_tracepoint, syscall (which writes the ctx back: ``ctx_out``);
* sk_lookup needs a real ``struct bpf_sk_lookup`` in ``ctx_in`` (zeros: EAFNOSUPPORT);
* ENOTSUPP (524) for kprobe, tracepoint, perf_event, cgroup_sock, sock_ops, sk_skb,
  sk_msg, raw_tracepoint_writable, cgroup_sysctl, cgroup_sock_addr, cgroup_device,
  cgroup_sockopt.

``retval`` is the low 32 bits of r0; ``duration_ns`` is the mean per run in ns (0 for
raw_tracepoint and syscall, which are not timed).
"""

from __future__ import annotations

import ctypes
import re
import errno as _errno
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from model.errors import IsaError, SkvError
from model.kernel.bpf import (
    BPF_PROG_TEST_RUN, PROG_TYPES, BpfError, Fd, LoadResult, Map, ProgInfoStruct, bpf_call,
    errno_name, get_info, map_create, prog_fd, prog_load, prog_type_number, require, sys_bpf,
)

LD_IMM64 = 0x18
BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE = 1, 2

#: Program types whose test run takes a packet (``data_in``, at least 14 bytes).
PACKET_TYPES = frozenset(PROG_TYPES[n] for n in (
    "socket_filter", "sched_cls", "sched_act", "xdp", "cgroup_skb", "lwt_in", "lwt_out",
    "lwt_xmit", "flow_dissector", "netfilter"))


# --- map fd patching -------------------------------------------------------------------
def map_load_slots(insns: bytes) -> Iterator[tuple[int, int]]:
    """``(slot, src_reg)`` of every ld_imm64 whose src is 1 (map fd) or 2 (map value)."""
    data = bytes(insns)
    slot, n = 0, len(data) // 8
    while slot < n:
        if data[slot * 8] == LD_IMM64:
            src = data[slot * 8 + 1] >> 4
            if src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
                yield slot, src
            slot += 2
        else:
            slot += 1


def patch_map_fds(insns: bytes, fds: Mapping[int, int | Fd]) -> bytes:
    """Set the fd of the map loads at the given slots: ``{slot: fd or Map}``.

    Each slot must hold an ld_imm64 (opcode 0x18) with src_reg 1 (``BPF_PSEUDO_MAP_FD``)
    or 2 (``BPF_PSEUDO_MAP_VALUE``); its first imm becomes the fd. The second slot's imm
    (the value offset for src 2) is kept. Raises :class:`IsaError` otherwise.
    """
    buf = bytearray(insns)
    if len(buf) % 8:
        raise IsaError(f"program length {len(buf)} is not a multiple of 8")
    for slot, fd in fds.items():
        off = slot * 8
        if slot < 0 or off + 8 > len(buf):
            raise IsaError(f"no instruction (program has {len(buf) // 8} slots)", index=slot)
        if buf[off] != LD_IMM64:
            raise IsaError(f"not an ld_imm64 (opcode {buf[off]:#04x}), cannot set a map fd",
                           index=slot)
        if off + 16 > len(buf):
            raise IsaError("truncated ld_imm64", index=slot)
        src = buf[off + 1] >> 4
        if src not in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
            raise IsaError(f"ld_imm64 with src_reg {src} is not a map load (1 or 2)", index=slot)
        fdn = fd.fileno() if isinstance(fd, Fd) else int(fd)
        struct.pack_into("<i", buf, off + 4, fdn)
    return bytes(buf)


def array_map(value_size: int = 8, max_entries: int = 1,
              values: Mapping[int, bytes] | None = None, name: str = "") -> Map:
    """A plain ARRAY map with u32 keys, optionally filled (``{index: value bytes}``)."""
    m = map_create("array", 4, value_size, max_entries, name=name)
    try:
        for k, v in (values or {}).items():
            if len(v) != value_size:
                raise SkvError(f"array_map: value for key {k} has {len(v)} bytes, "
                               f"not {value_size}")
            m.update(struct.pack("<I", k), v)
    except BaseException:
        m.close()
        raise
    return m


# --- reading back a loaded program ---------------------------------------------------
@dataclass(frozen=True)
class ProgInfo:
    type: int
    id: int
    tag: str
    name: str
    jited_prog_len: int
    xlated_prog_len: int
    verified_insns: int
    run_time_ns: int
    run_cnt: int


def prog_info(fd: int | Fd | LoadResult) -> ProgInfo:
    require()
    s = ProgInfoStruct()
    get_info(prog_fd(fd), s)
    return ProgInfo(s.type, s.id, bytes(s.tag).hex(), s.name.decode(errors="replace"),
                    s.jited_prog_len, s.xlated_prog_len, s.verified_insns, s.run_time_ns,
                    s.run_cnt)


def _prog_image(fd: int | Fd | LoadResult, which: str) -> bytes:
    require()
    pfd = prog_fd(fd)
    first = ProgInfoStruct()
    get_info(pfd, first)
    n = getattr(first, f"{which}_prog_len")
    if n == 0:
        return b""
    buf = ctypes.create_string_buffer(n)
    second = ProgInfoStruct()  # zeroed but for this one (len, ptr) pair
    setattr(second, f"{which}_prog_len", n)
    setattr(second, f"{which}_prog_insns", ctypes.addressof(buf))
    get_info(pfd, second)
    return buf.raw[:min(n, getattr(second, f"{which}_prog_len"))]


def prog_jited(fd: int | Fd | LoadResult) -> bytes:
    """The exact x86 bytes the JIT produced (all subprograms, concatenated)."""
    return _prog_image(fd, "jited")


def prog_xlated(fd: int | Fd | LoadResult) -> bytes:
    """The BPF instructions after the verifier's rewrites (8-byte slots)."""
    return _prog_image(fd, "xlated")


# --- test run ------------------------------------------------------------------------
_u32, _u64 = ctypes.c_uint32, ctypes.c_uint64


class TestRunAttr(ctypes.Structure):
    """The ``test`` member of ``union bpf_attr`` (``BPF_PROG_TEST_RUN``)."""
    __test__ = False  # not a pytest class
    _fields_ = [("prog_fd", _u32), ("retval", _u32), ("data_size_in", _u32),
                ("data_size_out", _u32), ("data_in", _u64), ("data_out", _u64),
                ("repeat", _u32), ("duration", _u32), ("ctx_size_in", _u32),
                ("ctx_size_out", _u32), ("ctx_in", _u64), ("ctx_out", _u64), ("flags", _u32),
                ("cpu", _u32), ("batch_size", _u32)]


@dataclass(frozen=True)
class TestRunResult:
    __test__ = False  # not a pytest class
    retval: int
    data_out: bytes
    duration_ns: int
    ctx_out: bytes | None = None


_CTX_ONLY_TYPES = (PROG_TYPES["raw_tracepoint"], PROG_TYPES["syscall"])


def _addr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def prog_test_run(fd: int | Fd | LoadResult, data_in: bytes = b"", ctx_in: bytes | None = None,
                  repeat: int = 1, data_out_size: int | None = None, flags: int = 0,
                  cpu: int = 0) -> TestRunResult:
    """``BPF_PROG_TEST_RUN``: run a loaded program ``repeat`` times on ``data_in``.

    See the module doc for the program types that support it. A too small ``data_out``
    buffer (ENOSPC) is grown to the size the kernel reports, unless ``data_out_size`` is set.
    """
    require()
    pfd = prog_fd(fd)
    ptype = fd.prog_type if isinstance(fd, LoadResult) else prog_info(pfd).type
    if ptype in _CTX_ONLY_TYPES:
        return _test_run_ctx_only(pfd, ptype, data_in, ctx_in, flags, cpu)
    din = ctypes.create_string_buffer(bytes(data_in), len(data_in)) if data_in else None
    cin = ctypes.create_string_buffer(bytes(ctx_in), len(ctx_in)) if ctx_in else None
    out_n = data_out_size if data_out_size is not None else (len(data_in) + 256 if data_in else 0)
    for _ in range(2):
        dout = ctypes.create_string_buffer(out_n) if out_n else None
        cout = ctypes.create_string_buffer(len(ctx_in)) if ctx_in else None
        attr = TestRunAttr(prog_fd=pfd, repeat=repeat, flags=flags, cpu=cpu,
                           data_size_in=len(data_in), data_in=_addr(din),
                           data_size_out=out_n, data_out=_addr(dout),
                           ctx_size_in=len(ctx_in or b""), ctx_in=_addr(cin),
                           ctx_size_out=len(ctx_in or b""), ctx_out=_addr(cout))
        r = sys_bpf(BPF_PROG_TEST_RUN, attr)
        if r == -_errno.ENOSPC and data_out_size is None and attr.data_size_out > out_n:
            out_n = attr.data_size_out  # the kernel reported the size it needed
            continue
        if r < 0:
            raise BpfError(BPF_PROG_TEST_RUN, -r)
        break
    data_out = dout.raw[:min(attr.data_size_out, out_n)] if dout is not None else b""
    ctx_out = cout.raw[:attr.ctx_size_out] if cout is not None else None
    return TestRunResult(attr.retval, data_out, attr.duration, ctx_out)


def _test_run_ctx_only(pfd: int, ptype: int, data_in: bytes, ctx_in: bytes | None, flags: int,
                       cpu: int) -> TestRunResult:
    """raw_tracepoint / syscall: no packet, ``repeat`` must be 0, not timed; a syscall
    program's ctx is written back in place (returned as ``ctx_out``)."""
    if data_in:
        raise SkvError("raw_tracepoint and syscall programs take no packet (use ctx_in)")
    cin = ctypes.create_string_buffer(bytes(ctx_in), len(ctx_in)) if ctx_in else None
    attr = TestRunAttr(prog_fd=pfd, ctx_size_in=len(ctx_in or b""), ctx_in=_addr(cin),
                       flags=flags, cpu=cpu)
    bpf_call(BPF_PROG_TEST_RUN, attr)
    back = cin is not None and ptype == PROG_TYPES["syscall"]
    return TestRunResult(attr.retval, b"", attr.duration, cin.raw if back else None)


# --- loading ---------------------------------------------------------------------------
def rejection_reason(log: str) -> str:
    """The verifier's last message before its closing stats (``""`` if none)."""
    # after "infinite loop detected" the kernel prints the two states it compared
    skip = ("processed ", "verification time ", "stack depth ", "max_states_per_insn ",
            "cur state:", "old state:")
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(skip)]
    if not lines:
        return ""
    # a message printed without its newline runs into the closing stats line
    return re.sub(r"verification time \d+ usec$", "", lines[-1]).strip()


class VerifierRejected(SkvError):
    """The kernel refused to load a program; ``result`` holds errno and the full log."""

    def __init__(self, result: LoadResult):
        self.result = result
        why = rejection_reason(result.log)
        super().__init__(f"kernel rejected the program: {errno_name(result.errno)}"
                         + (f": {why}" if why else ""))


class Program:
    """A program loaded into the kernel (owns its fd); close it or use ``with``."""

    def __init__(self, result: LoadResult):
        self.result = result

    @property
    def fd(self) -> int | None:
        return self.result.fd

    @property
    def log(self) -> str:
        return self.result.log

    @property
    def prog_type(self) -> int:
        return self.result.prog_type

    def jited(self) -> bytes:
        """The x86 bytes the JIT produced."""
        return prog_jited(self.result)

    def xlated(self) -> bytes:
        """The BPF instructions after the verifier's rewrites."""
        return prog_xlated(self.result)

    def info(self) -> ProgInfo:
        return prog_info(self.result)

    def test_run(self, data_in: bytes | None = None, ctx_in: bytes | None = None,
                 repeat: int = 1, **kw) -> TestRunResult:
        """``BPF_PROG_TEST_RUN``; packet types get 64 zero bytes when ``data_in`` is None."""
        if data_in is None:
            data_in = bytes(64) if self.prog_type in PACKET_TYPES else b""
        return prog_test_run(self.result, data_in, ctx_in, repeat, **kw)

    def close(self) -> None:
        self.result.close()

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Program(fd={self.fd}, type={self.prog_type})"


def verify(insns: bytes, prog_type: int | str = "socket_filter", *,
           maps: Mapping[int, int | Fd] | None = None, **kw) -> LoadResult:
    """Ask the verifier only: the :class:`LoadResult`, with its fd already closed."""
    result = prog_load(prog_type, patch_map_fds(insns, maps or {}), **kw)
    result.close()
    return result


def load(insns: bytes, prog_type: int | str = "socket_filter", *,
         maps: Mapping[int, int | Fd] | None = None, **kw) -> Program:
    """Load (after patching ``maps`` = ``{slot: fd or Map}``); :class:`VerifierRejected`
    when the kernel refuses. Keyword arguments go to :func:`~model.kernel.bpf.prog_load`."""
    result = prog_load(prog_type, patch_map_fds(insns, maps or {}), **kw)
    if not result.ok:
        raise VerifierRejected(result)
    return Program(result)


def jit(insns: bytes, prog_type: int | str = "socket_filter", *,
        maps: Mapping[int, int | Fd] | None = None, **kw) -> bytes:
    """The real JIT's x86 image of a program (log off for speed unless asked)."""
    with _load_quiet(insns, prog_type, maps, kw) as prog:
        return prog.jited()


def run(insns: bytes, prog_type: int | str = "socket_filter", data_in: bytes | None = None, *,
        ctx_in: bytes | None = None, maps: Mapping[int, int | Fd] | None = None,
        repeat: int = 1, **kw) -> TestRunResult:
    """Load, test-run once (or ``repeat`` times) and unload."""
    with _load_quiet(insns, prog_type, maps, kw) as prog:
        return prog.test_run(data_in, ctx_in, repeat)


def _load_quiet(insns: bytes, prog_type: int | str, maps: Mapping[int, int | Fd] | None,
                kw: dict) -> Program:
    """:func:`load` without a log (faster); on rejection, reload with one to say why."""
    if "log_level" in kw:
        return load(insns, prog_type, maps=maps, **kw)
    try:
        return load(insns, prog_type, maps=maps, log_level=0, **kw)
    except VerifierRejected:
        with prog_load(prog_type, patch_map_fds(insns, maps or {}), **kw) as again:
            pass
        raise VerifierRejected(again) from None


__all__ = [
    "LD_IMM64", "BPF_PSEUDO_MAP_FD", "BPF_PSEUDO_MAP_VALUE", "PACKET_TYPES", "Program",
    "VerifierRejected", "array_map", "jit", "load", "map_load_slots", "patch_map_fds",
    "prog_test_run", "prog_type_number", "ProgInfo", "prog_info", "prog_jited", "prog_xlated",
    "rejection_reason", "run", "verify", "TestRunResult",
]
