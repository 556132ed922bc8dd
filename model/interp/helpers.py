"""Helper functions modelled for the interpreter (Linux ids), and the conformance suite's.

A helper gets the machine and r1..r5 and returns r0; an access it cannot make raises
``MemFault`` (reported at the call), a helper it does not know is a fault naming it.
"""

from __future__ import annotations

import re

from model.interp.memory import FUNC_BASE, MemFault, Region
from model.platform.map_helpers import map_helper_check, map_helper_unmodelled, map_write_check
from model.platform.proto_kinds import Arg
from model.platform.prototypes import helper_proto, helper_unmodelled, known_zero_arg

EFAULT, EINVAL, E2BIG = 14, 22, 7
KEY_BASE = 0x7000_0000_0000  # the key a for_each callback reads (read-only)


def map_for_helper(m, ptr: int, helper: int):
    """The map r1 points to, if the kernel lets ``helper`` take a map of its type (and the
    interpreter models the call)."""
    st = m.maps.at(ptr)
    if st is None:
        raise MemFault(ptr, 0, f"r1 {ptr:#x} is not a map pointer")
    d = st.defn
    why = (map_write_check(d.prog_flags, helper)
           or map_helper_check(d.type, helper, m.prog.prog_type)
           or map_helper_unmodelled(d.type, helper, map_in_map=True))
    if why is not None:
        raise MemFault(ptr, 0, f"map {d.name}: {why}")
    return st


def map_lookup_elem(m, r1, r2, r3, r4, r5):
    st = map_for_helper(m, r1, 1)
    return st.lookup(m.mem.load_bytes(r2, st.defn.key_size))


def map_update_elem(m, r1, r2, r3, r4, r5):
    st = map_for_helper(m, r1, 2)
    key = m.mem.load_bytes(r2, st.defn.key_size)
    value = m.mem.load_bytes(r3, st.defn.value_size)
    return st.update(key, value, r4)


def get_local_storage(m, r1, r2, r3, r4, r5):
    """The cgroup storage the program runs with: one value, element 0 of the map."""
    st = map_for_helper(m, r1, 81)
    zero = known_zero_arg(81)
    if r2:
        raise MemFault(r1, 0, zero[1])
    return st.value_address(0)


def map_delete_elem(m, r1, r2, r3, r4, r5):
    st = map_for_helper(m, r1, 3)
    return st.delete(m.mem.load_bytes(r2, st.defn.key_size))


BPF_MAX_LOOPS = 1 << 23


def loop(m, r1, r2, r3, r4, r5):
    """bpf_loop: call the callback with (index, ctx) nr_loops (u32) times, stopping after
    the first non-zero return; the number of calls made."""
    nr = r1 & 0xFFFFFFFF
    if r4:
        return -EINVAL
    if nr > BPF_MAX_LOOPS:
        return -E2BIG
    for i in range(nr):
        if m.call_back(r2 - FUNC_BASE, [i, r3]) & 0xFFFFFFFFFFFFFFFF:
            return i + 1
    return nr


def for_each_map_elem(m, r1, r2, r3, r4, r5):
    """bpf_for_each_map_elem: the callback gets (map, &key, &value, ctx) for each element
    (an array's every index, a hash map's elements in insertion order); stops after a
    non-zero return; the number of elements visited."""
    st = map_for_helper(m, r1, 164)
    if r4:
        return -EINVAL
    keys = ([i.to_bytes(4, "little") for i in range(st.defn.max_entries)] if st.is_array()
            else list(st.elems))
    done = 0
    for key in keys:
        value = st.lookup(key)
        at = KEY_BASE + len(m.frames) * 0x1000  # a nested for_each gets its own key
        kreg = m.mem.add(Region("for_each key", "rodata", at, bytearray(key), False))
        try:
            ret = m.call_back(r2 - FUNC_BASE, [r1, at, value, r3])
        finally:
            m.mem.remove(kreg)
        done += 1
        if ret & 0xFFFFFFFFFFFFFFFF:
            break
    return done


def ktime_get_ns(m, *_):
    m.clock_ns += 1000
    return m.clock_ns


def get_prandom_u32(m, *_):
    return m.rng.getrandbits(32)


def get_smp_processor_id(m, *_):
    return m.cpu


def get_current_pid_tgid(m, *_):
    return (m.tgid << 32) | m.pid


def probe_read_kernel(m, r1, r2, r3, r4, r5):
    """Copy r2 bytes from r3 to r1. A source the model does not map reads as zeros and
    returns -EFAULT, as the kernel does for a bad kernel address."""
    size = r2 & 0xFFFFFFFF
    try:
        data = m.mem.load_bytes(r3, size)
        rc = 0
    except MemFault:
        data, rc = bytes(size), -EFAULT
    m.mem.store_bytes(r1, data)
    return rc


_FMT = re.compile(rb"%(%|[-+ 0#]*\d*(?:\.\d+)?(l{0,2})([diuxXcsp]))")


def trace_printk(m, r1, r2, r3, r4, r5):
    size = r2 & 0xFFFFFFFF
    if size == 0:
        return -EINVAL
    fmt = m.mem.load_bytes(r1, size)
    if b"\0" not in fmt:
        return -EINVAL
    fmt = fmt.split(b"\0", 1)[0]
    args = iter((r3, r4, r5))
    out = []
    pos = 0
    for mt in _FMT.finditer(fmt):
        out.append(fmt[pos:mt.start()].decode("latin-1"))
        pos = mt.end()
        if mt.group(1) == b"%":
            out.append("%")
            continue
        conv, longs = mt.group(3).decode(), len(mt.group(2))
        try:
            v = next(args)
        except StopIteration:
            return -EINVAL  # more than three arguments
        out.append(_convert(m, conv, longs, v))
    out.append(fmt[pos:].decode("latin-1"))
    text = "".join(out)
    m.trace.append(text)
    return len(text)


def _convert(m, conv: str, longs: int, v: int) -> str:
    bits = 64 if longs else 32
    v &= (1 << bits) - 1
    if conv in "di":
        return str(v - (1 << bits) if v >> (bits - 1) else v)
    if conv == "u":
        return str(v)
    if conv in "xX":
        return format(v, conv)
    if conv == "p":
        return f"0x{v:016x}"
    if conv == "c":
        return chr(v & 0xFF)
    # %s: a NUL-terminated string, at most 64 bytes, from readable memory
    out = bytearray()
    for k in range(64):
        try:
            b = m.mem.load(v + k, 1)
        except MemFault:
            break
        if b == 0:
            break
        out.append(b)
    return out.decode("latin-1")


LINUX_HELPERS = {
    164: for_each_map_elem,
    181: loop,
    1: map_lookup_elem,
    2: map_update_elem,
    3: map_delete_elem,
    81: get_local_storage,
    4: probe_read_kernel,  # bpf_probe_read: same contract
    5: ktime_get_ns,
    6: trace_printk,
    7: get_prandom_u32,
    8: get_smp_processor_id,
    14: get_current_pid_tgid,
    113: probe_read_kernel,
}


_U64 = (1 << 64) - 1


def havoc_for(prog_type: str, hid: int):
    """A model of a helper without its own: the call within its prototype. Memory it reads
    must be readable, memory it may write gets random bytes, r0 is a random value. None when
    the prototype is missing or uses a kind the engines do not model."""
    if helper_unmodelled(prog_type, hid) is not None:
        return None
    proto = helper_proto(prog_type, hid)

    def havoc(m, *regs):
        st = None
        for i, a in enumerate(proto.args):
            r = regs[i]
            if a.base is Arg.CONST_MAP_PTR:
                st = map_for_helper(m, r, hid)
                continue
            if a.base is Arg.PTR_TO_MAP_KEY:
                m.mem.load_bytes(r, st.defn.key_size)
                continue
            if a.base is Arg.PTR_TO_MAP_VALUE:
                size = st.defn.value_size
            elif a.is_fixed_mem:
                size = a.size
            elif a.is_mem:
                size = regs[i + 1] & _U64
            else:
                continue
            if r == 0 and a.maybe_null:
                continue
            if a.reads_mem or a.base is Arg.PTR_TO_MAP_VALUE and not a.writes_mem:
                m.mem.load_bytes(r, size)
            if a.writes_mem:
                if size:  # the whole range must be writable memory before any byte is made
                    m.mem.region_for(r, size, "write")
                m.mem.store_bytes(r, m.helper_bytes(size))
        return m.rng.getrandbits(64)
    return havoc


# The bpf_conformance suite's helper convention: helper 5 "unwinds" the program (ends it,
# returning 0) when r1 is 0, and otherwise returns r1.
class Unwind(Exception):
    def __init__(self, value: int):
        self.value = value


def conformance_unwind(m, r1, r2, r3, r4, r5):
    if r1 == 0:
        raise Unwind(0)
    return r1


CONFORMANCE_HELPERS = {5: conformance_unwind}
