"""The bpf(2) syscall, wrapped with ctypes: maps, program load, object info.

Our own thin layer over the Linux UAPI (``union bpf_attr``, ``struct bpf_prog_info``).
Every ``attr`` is a zero-padded ``ctypes.Structure`` whose offsets are checked by the tests.
Everything raises :class:`KernelUnavailable` when :func:`available` says bpf(2) cannot be
used by this process; other syscall failures raise :class:`BpfError` (with ``.errno``),
except a verifier rejection, which is an ordinary :class:`LoadResult` with ``ok=False``.

Measured on Linux 6.18 / x86-64 / root / JIT on (see ``tests/test_kernel_oracle.py``):

* ``struct bpf_prog_info``: ``jited_prog_len`` u32 @16, ``xlated_prog_len`` u32 @20,
  ``jited_prog_insns`` u64 @24, ``xlated_prog_insns`` u64 @32, ``verified_insns`` u32 @216;
  232 bytes in all. Reading images back and ``BPF_PROG_TEST_RUN`` live in
  :mod:`model.kernel.oracle`.
* The log of ``log_level`` 2 ends with ``processed N insns (limit 1000000)
  max_states_per_insn M total_states T peak_states P mark_read R``. The line
  ``verification time N usec`` only appears with ``BPF_LOG_STATS`` (4), so
  :func:`prog_load` adds it by default (``stats=True``); it does not change the rest.
* A kprobe program loads with ``kern_version`` 0 (the check was dropped in Linux 5.0).
  A syscall program must be sleepable: :func:`prog_load` adds ``BPF_F_SLEEPABLE``.
* A truncated log makes the load itself fail with ENOSPC; ``log_true_size`` (6.4+) says
  how big the buffer must be, and :func:`prog_load` retries with that size.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import platform
import re
import struct
from dataclasses import dataclass
from functools import lru_cache

from model.errors import IsaError, SkvError
from model.platform.map_helpers import MAP_TYPE_IDS

# --- UAPI constants --------------------------------------------------------------------
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM = 0, 1, 2
BPF_PROG_LOAD, BPF_PROG_TEST_RUN, BPF_OBJ_GET_INFO_BY_FD, BPF_MAP_FREEZE = 5, 10, 15, 22
BPF_BTF_LOAD = 18
_CMD_NAMES = {0: "BPF_MAP_CREATE", 1: "BPF_MAP_LOOKUP_ELEM", 2: "BPF_MAP_UPDATE_ELEM",
              5: "BPF_PROG_LOAD", 10: "BPF_PROG_TEST_RUN", 15: "BPF_OBJ_GET_INFO_BY_FD",
              18: "BPF_BTF_LOAD", 22: "BPF_MAP_FREEZE"}
FUNC_INFO_REC, LINE_INFO_REC = 8, 16  # struct bpf_func_info, struct bpf_line_info

BPF_LOG_LEVEL1, BPF_LOG_LEVEL2, BPF_LOG_STATS = 1, 2, 4
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
BPF_F_SLEEPABLE = 1 << 4
ENOTSUPP = 524                      # kernel-internal, not in errno.errorcode
_LOG_MAX = (2**32 - 1) >> 2         # the kernel rejects a larger log_size with EINVAL

#: ``enum bpf_prog_type`` (Linux 6.18) plus the usual aliases.
PROG_TYPES: dict[str, int] = {
    "socket_filter": 1, "kprobe": 2, "sched_cls": 3, "sched_act": 4, "tracepoint": 5,
    "xdp": 6, "perf_event": 7, "cgroup_skb": 8, "cgroup_sock": 9, "lwt_in": 10,
    "lwt_out": 11, "lwt_xmit": 12, "sock_ops": 13, "sk_skb": 14, "cgroup_device": 15,
    "sk_msg": 16, "raw_tracepoint": 17, "cgroup_sock_addr": 18, "lwt_seg6local": 19,
    "lirc_mode2": 20, "sk_reuseport": 21, "flow_dissector": 22, "cgroup_sysctl": 23,
    "raw_tracepoint_writable": 24, "cgroup_sockopt": 25, "tracing": 26, "struct_ops": 27,
    "ext": 28, "lsm": 29, "sk_lookup": 30, "syscall": 31, "netfilter": 32,
    # aliases
    "socket": 1, "tc": 3, "classifier": 3, "action": 4, "raw_tp": 17, "tp": 5,
}
#: ``enum bpf_map_type``: name -> id (model.platform.map_helpers)
MAP_TYPES: dict[str, int] = dict(MAP_TYPE_IDS)


def prog_type_number(prog_type: int | str) -> int:
    """``enum bpf_prog_type`` value of a name (``"xdp"``, ``"tc"``, ...) or a number."""
    if isinstance(prog_type, int):
        return prog_type
    try:
        return PROG_TYPES[prog_type.lower().removeprefix("bpf_prog_type_")]
    except KeyError:
        raise SkvError(f"unknown BPF program type {prog_type!r}") from None


def errno_name(e: int) -> str:
    return "ENOTSUPP" if e == ENOTSUPP else _errno.errorcode.get(e, f"errno {e}")


# --- errors ----------------------------------------------------------------------------
class KernelUnavailable(SkvError):
    """bpf(2) cannot be used by this process (not Linux, no CAP_BPF, seccomp, ...)."""


class BpfError(SkvError):
    """A bpf(2) command failed; ``errno`` is the error number."""

    def __init__(self, cmd: int, err: int, what: str = ""):
        self.cmd, self.errno = cmd, err
        name = _CMD_NAMES.get(cmd, f"cmd {cmd}")
        msg = os.strerror(err) if err != ENOTSUPP else "Operation not supported"
        super().__init__(f"bpf({name}){' ' + what if what else ''}: {errno_name(err)} ({msg})")


# --- attr layouts ----------------------------------------------------------------------
_u32, _u64, _s32 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32


class MapCreateAttr(ctypes.Structure):
    _fields_ = [("map_type", _u32), ("key_size", _u32), ("value_size", _u32),
                ("max_entries", _u32), ("map_flags", _u32), ("inner_map_fd", _u32),
                ("numa_node", _u32), ("map_name", ctypes.c_char * 16), ("map_ifindex", _u32),
                ("btf_fd", _u32), ("btf_key_type_id", _u32), ("btf_value_type_id", _u32),
                ("btf_vmlinux_value_type_id", _u32), ("map_extra", _u64)]


class MapElemAttr(ctypes.Structure):
    _fields_ = [("map_fd", _u32), ("_pad", _u32), ("key", _u64), ("value", _u64),
                ("flags", _u64)]


class ProgLoadAttr(ctypes.Structure):
    _fields_ = [("prog_type", _u32), ("insn_cnt", _u32), ("insns", _u64), ("license", _u64),
                ("log_level", _u32), ("log_size", _u32), ("log_buf", _u64),
                ("kern_version", _u32), ("prog_flags", _u32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", _u32), ("expected_attach_type", _u32), ("prog_btf_fd", _u32),
                ("func_info_rec_size", _u32), ("func_info", _u64), ("func_info_cnt", _u32),
                ("line_info_rec_size", _u32), ("line_info", _u64), ("line_info_cnt", _u32),
                ("attach_btf_id", _u32), ("attach_prog_fd", _u32), ("core_relo_cnt", _u32),
                ("fd_array", _u64), ("core_relos", _u64), ("core_relo_rec_size", _u32),
                ("log_true_size", _u32), ("prog_token_fd", _s32), ("fd_array_cnt", _u32)]


class BtfLoadAttr(ctypes.Structure):
    _fields_ = [("btf", _u64), ("btf_log_buf", _u64), ("btf_size", _u32),
                ("btf_log_size", _u32), ("btf_log_level", _u32), ("btf_log_true_size", _u32),
                ("btf_flags", _u32), ("btf_token_fd", _s32)]


class InfoByFdAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", _u32), ("info_len", _u32), ("info", _u64)]


class ProgInfoStruct(ctypes.Structure):
    """``struct bpf_prog_info`` (232 bytes); the fields skv does not read are padding."""
    _fields_ = [("type", _u32), ("id", _u32), ("tag", ctypes.c_uint8 * 8),
                ("jited_prog_len", _u32), ("xlated_prog_len", _u32),
                ("jited_prog_insns", _u64), ("xlated_prog_insns", _u64), ("load_time", _u64),
                ("created_by_uid", _u32), ("nr_map_ids", _u32), ("map_ids", _u64),
                ("name", ctypes.c_char * 16), ("_mid", ctypes.c_uint8 * (192 - 80)),
                ("run_time_ns", _u64), ("run_cnt", _u64), ("recursion_misses", _u64),
                ("verified_insns", _u32), ("attach_btf_obj_id", _u32), ("attach_btf_id", _u32),
                ("_pad", _u32)]


# --- the syscall -----------------------------------------------------------------------
_SYSCALL_NR = {"x86_64": 321, "amd64": 321, "aarch64": 280, "arm64": 280, "riscv64": 280}


@lru_cache(maxsize=1)
def _libc_syscall():
    fn = ctypes.CDLL(None, use_errno=True).syscall
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]
    return fn


def sys_bpf(cmd: int, attr: ctypes.Structure) -> int:
    """bpf(cmd, &attr, sizeof attr): the result (>= 0) or ``-errno``."""
    nr = _SYSCALL_NR[platform.machine().lower()]
    ctypes.set_errno(0)
    r = _libc_syscall()(nr, cmd, ctypes.addressof(attr), ctypes.sizeof(attr))
    return r if r >= 0 else -ctypes.get_errno()


def bpf_call(cmd: int, attr: ctypes.Structure, what: str = "") -> int:
    r = sys_bpf(cmd, attr)
    if r < 0:
        raise BpfError(cmd, -r, what)
    return r


def _probe() -> tuple[bool, str]:
    if os.environ.get("SKV_KERNEL", "1") == "0":
        return False, "bpf(2) disabled by SKV_KERNEL=0"
    if platform.system() != "Linux":
        return False, f"bpf(2) unavailable: not Linux ({platform.system()})"
    if platform.machine().lower() not in _SYSCALL_NR:
        return False, f"bpf(2) unavailable: unknown syscall number on {platform.machine()}"
    try:
        _libc_syscall()
    except (OSError, AttributeError) as e:
        return False, f"bpf(2) unavailable: no libc syscall() ({e})"
    attr = MapCreateAttr(map_type=MAP_TYPES["array"], key_size=4, value_size=8, max_entries=1)
    r = sys_bpf(BPF_MAP_CREATE, attr)
    if r >= 0:
        os.close(r)
        return True, "bpf(2) available"
    hint = {_errno.EPERM: " (needs CAP_BPF or root)", _errno.ENOSYS: " (kernel without bpf(2))",
            _errno.EINVAL: " (kernel rejected a plain ARRAY map)",
            _errno.EACCES: " (blocked by policy)"}.get(-r, "")
    return False, f"bpf(2) unavailable: {errno_name(-r)}{hint}"


@lru_cache(maxsize=1)
def available() -> tuple[bool, str]:
    """``(True, ...)`` when this process can use bpf(2); otherwise ``(False, reason)``.

    Probed once (by creating a one-element ARRAY map); ``SKV_KERNEL=0`` forces False.
    """
    return _probe()


def require() -> None:
    """Raise :class:`KernelUnavailable` unless :func:`available`."""
    ok, why = available()
    if not ok:
        raise KernelUnavailable(why)


# --- file descriptors ------------------------------------------------------------------
class _Owned:
    """Owns ``self.fd``: ``close()`` it or use ``with``; ``__del__`` is only a safety net."""
    fd: int | None

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self.fd is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "fd", None) is not None:
            try:
                self.close()
            except OSError:
                pass


class Fd(_Owned):
    """An owned bpf object fd."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        if self.fd is None:
            raise SkvError(f"{type(self).__name__} is closed")
        return self.fd

    def __repr__(self) -> str:
        return f"{type(self).__name__}(fd={self.fd})"


def _buf(data: bytes) -> ctypes.Array:
    """A C copy of ``data`` (at least one byte, so that its address is valid)."""
    return ctypes.create_string_buffer(bytes(data), max(len(data), 1))


def _fdof(obj: int | Fd) -> int:
    return obj.fileno() if isinstance(obj, Fd) else obj


class Map(Fd):
    """A BPF map fd, with its shape."""

    def __init__(self, fd: int, map_type: int, key_size: int, value_size: int, max_entries: int):
        super().__init__(fd)
        self.map_type, self.key_size = map_type, key_size
        self.value_size, self.max_entries = value_size, max_entries

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        map_update(self, key, value, flags)

    def lookup(self, key: bytes) -> bytes:
        return map_lookup(self, key, self.value_size)

    def freeze(self) -> None:
        map_freeze(self)


def map_create(map_type: int | str, key_size: int, value_size: int, max_entries: int,
               map_flags: int = 0, name: str = "", *, inner_map_fd: int | Map = 0,
               map_extra: int = 0, btf_fd: int | Fd = 0, btf_key_type_id: int = 0,
               btf_value_type_id: int = 0) -> Map:
    """``BPF_MAP_CREATE``; ``inner_map_fd``: the template map of an array/hash of maps;
    ``map_extra``: e.g. a bloom filter's number of hash functions; ``btf_fd`` and the
    key/value type ids in it: the map's BTF (a spin lock or timer in the value needs it)."""
    require()
    mt = MAP_TYPES[map_type] if isinstance(map_type, str) else map_type
    attr = MapCreateAttr(map_type=mt, key_size=key_size, value_size=value_size,
                         max_entries=max_entries, map_flags=map_flags,
                         inner_map_fd=_fdof(inner_map_fd), map_extra=map_extra,
                         map_name=name.encode()[:15], btf_fd=_fdof(btf_fd),
                         btf_key_type_id=btf_key_type_id, btf_value_type_id=btf_value_type_id)
    return Map(bpf_call(BPF_MAP_CREATE, attr), mt, key_size, value_size, max_entries)


def map_update(fd: int | Map, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
    require()
    k, v = _buf(key), _buf(value)
    attr = MapElemAttr(map_fd=_fdof(fd), key=ctypes.addressof(k), value=ctypes.addressof(v),
                       flags=flags)
    bpf_call(BPF_MAP_UPDATE_ELEM, attr)


def map_lookup(fd: int | Map, key: bytes, value_size: int | None = None) -> bytes:
    """The value at ``key`` (``value_size``: the :class:`Map`'s, or asked of the kernel)."""
    require()
    if value_size is None:
        value_size = fd.value_size if isinstance(fd, Map) else map_value_size(fd)
    k, v = _buf(key), ctypes.create_string_buffer(value_size)
    attr = MapElemAttr(map_fd=_fdof(fd), key=ctypes.addressof(k), value=ctypes.addressof(v))
    bpf_call(BPF_MAP_LOOKUP_ELEM, attr)
    return v.raw


class MapInfoStruct(ctypes.Structure):
    """The head of ``struct bpf_map_info`` (the kernel fills what ``info_len`` covers)."""
    _fields_ = [("type", _u32), ("id", _u32), ("key_size", _u32), ("value_size", _u32),
                ("max_entries", _u32), ("map_flags", _u32)]


def map_value_size(fd: int | Map) -> int:
    require()
    info = MapInfoStruct()
    get_info(_fdof(fd), info)
    return info.value_size


def map_freeze(fd: int | Map) -> None:
    require()
    bpf_call(BPF_MAP_FREEZE, MapElemAttr(map_fd=_fdof(fd)))


# --- programs --------------------------------------------------------------------------
_STAT_RES = {
    "insns_processed": re.compile(r"^processed (\d+) insns", re.M),
    "max_states_per_insn": re.compile(r"max_states_per_insn (\d+)"),
    "states": re.compile(r"total_states (\d+)"),
    "peak_states": re.compile(r"peak_states (\d+)"),
    "verification_time_us": re.compile(r"^verification time (\d+) usec", re.M),
}


def parse_log_stats(log: str) -> dict[str, int | None]:
    """The numbers of the verifier's closing stats lines (None when absent)."""
    out: dict[str, int | None] = {}
    for key, rx in _STAT_RES.items():
        ms = rx.findall(log)
        out[key] = int(ms[-1]) if ms else None
    return out


@dataclass(eq=False)
class LoadResult(_Owned):
    """Outcome of ``BPF_PROG_LOAD``. Owns ``fd`` when ``ok``: close it (or use ``with``)."""
    ok: bool
    fd: int | None
    errno: int
    log: str
    insns_processed: int | None = None
    verification_time_us: int | None = None
    states: int | None = None
    peak_states: int | None = None
    max_states_per_insn: int | None = None
    prog_type: int = 0

    @property
    def error(self) -> str:
        """``"EACCES"`` etc., ``""`` when ok."""
        return "" if self.ok else errno_name(self.errno)

    @property
    def verified(self) -> bool:
        """Did the verifier judge it (loaded with a log)? A refusal with an empty log came
        before the verifier ran (e.g. EPERM for fentry/lsm where trampolines are refused):
        no verdict on the program."""
        return self.ok or bool(self.log.strip())


@dataclass(frozen=True)
class ProgBtf:
    """What ``BPF_PROG_LOAD`` takes from BTF: the object's BTF fd, ``func_info`` as
    (insn, FUNC type id) and ``line_info`` as (insn, file_name_off, line_off, line_col)
    records, and the attach target (``attach_btf_id`` in vmlinux's BTF)."""
    btf_fd: int = 0
    func_info: tuple[tuple[int, int], ...] = ()
    line_info: tuple[tuple[int, int, int, int], ...] = ()
    attach_btf_id: int = 0

    def fields(self) -> tuple[dict, list]:
        """The attr fields, and the C buffers that must outlive the call."""
        out: dict = {"prog_btf_fd": self.btf_fd, "attach_btf_id": self.attach_btf_id}
        keep = []
        for what, recs, size in (("func_info", self.func_info, FUNC_INFO_REC),
                                 ("line_info", self.line_info, LINE_INFO_REC)):
            if recs and self.btf_fd:
                buf = _buf(b"".join(struct.pack(f"<{size // 4}I", *r) for r in recs))
                keep.append(buf)
                out.update({what: ctypes.addressof(buf), f"{what}_cnt": len(recs),
                            f"{what}_rec_size": size})
        return out, keep


def btf_load(data: bytes) -> tuple[Fd | None, str]:
    """``BPF_BTF_LOAD``: (the BTF's fd, "") or (None, the kernel's reason)."""
    require()
    blob = _buf(data)
    # first without a log: a large BTF (a vmlinux.h program's) overflows any log buffer
    # (ENOSPC even when the BTF is fine); the log only to say why it is refused
    r = sys_bpf(BPF_BTF_LOAD, BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data)))
    if r >= 0:
        return Fd(r), ""
    log = ctypes.create_string_buffer(1 << 16)
    attr = BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                       btf_log_buf=ctypes.addressof(log), btf_log_size=len(log),
                       btf_log_level=1)
    r = sys_bpf(BPF_BTF_LOAD, attr)
    if r >= 0:
        return Fd(r), ""
    lines = [ln for ln in log.value.decode(errors="replace").splitlines() if ln.strip()]
    return None, f"{errno_name(-r)}: {lines[-1] if lines else ''}".rstrip(": ")


def prog_load(prog_type: int | str, insns: bytes, license: str = "GPL", log_level: int = 2,
              log_size: int = 16 << 20, expected_attach_type: int = 0, prog_flags: int = 0,
              kern_version: int = 0, name: str = "", stats: bool = True,
              btf: ProgBtf | None = None) -> LoadResult:
    """Load raw instructions; the verifier's verdict and log. Never raises on a rejection.

    ``stats`` adds ``BPF_LOG_STATS`` (for ``verification_time_us``) when logging at all.
    On ENOSPC (log truncated) the buffer is grown to the kernel's ``log_true_size`` and
    the load retried. ``btf``: BTF fd, func/line info and attach target (:class:`ProgBtf`).
    """
    require()
    insns = bytes(insns)
    if len(insns) % 8:
        raise IsaError(f"program length {len(insns)} is not a multiple of 8")
    pt = prog_type_number(prog_type)
    if pt == PROG_TYPES["syscall"]:
        prog_flags |= BPF_F_SLEEPABLE  # "Syscall programs can only be sleepable"
    level = log_level | (BPF_LOG_STATS if stats and log_level else 0)
    ibuf = _buf(insns)
    lic = ctypes.create_string_buffer(license.encode())
    size = min(max(log_size, 4096), _LOG_MAX) if level else 0
    btf_fields, _keep = (btf or ProgBtf()).fields()
    while True:
        lbuf = ctypes.create_string_buffer(size) if level else None
        attr = ProgLoadAttr(prog_type=pt, insn_cnt=len(insns) // 8, insns=ctypes.addressof(ibuf),
                            license=ctypes.addressof(lic), log_level=level, log_size=size,
                            log_buf=ctypes.addressof(lbuf) if lbuf is not None else 0,
                            kern_version=kern_version, prog_flags=prog_flags,
                            prog_name=name.encode()[:15],
                            expected_attach_type=expected_attach_type, **btf_fields)
        r = sys_bpf(BPF_PROG_LOAD, attr)
        if r != -_errno.ENOSPC or not level or size >= _LOG_MAX:
            break
        if attr.log_true_size > size:            # 6.4+: the size the whole log needs
            size = min(attr.log_true_size, _LOG_MAX)
        elif attr.log_true_size == 0 and size < (256 << 20):  # older kernels: guess
            size *= 4
        else:
            break                                # ENOSPC for another reason
    log = lbuf.value.decode(errors="replace") if lbuf is not None else ""
    return LoadResult(ok=r >= 0, fd=r if r >= 0 else None, errno=0 if r >= 0 else -r, log=log,
                      prog_type=pt, **parse_log_stats(log))


def get_info(fd: int, info: ctypes.Structure) -> None:
    attr = InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf_call(BPF_OBJ_GET_INFO_BY_FD, attr)


def prog_fd(fd: int | Fd | LoadResult) -> int:
    if isinstance(fd, LoadResult):
        if fd.fd is None:
            raise SkvError("program is not loaded (rejected or closed)")
        return fd.fd
    return _fdof(fd)
