"""Probe programs for every helper of the prototype table, built from the prototype itself:
one well-formed call and mis-typed twins (wrong register type, NULL where not allowed, a
buffer past the top of the stack, a zero or non-scalar size, a read-only map value passed
where the helper writes, a misaligned MEM_ALIGNED pointer, a packet pointer, an
uninitialised register). The kernel judges each one; tests/test_helper_table.py compares.
"""

from __future__ import annotations

from model.platform.map_helpers import HELPER_NEEDS, MAP_TYPE_IDS
from model.platform.proto_kinds import Arg
from model.platform.prototypes import MODELLED_PROG_TYPES, helper_check, helper_proto
from soundness_probes import ATTACH, MAP_SHAPES, SECTION, Probe

SECTION.setdefault("cgroup_skb", "cgroup_skb/ingress")
SECTION.setdefault("syscall", "syscall")
SECTION.setdefault("sched_act", "action")
SECTION.setdefault("sock_ops", "sockops")

#: program types in the order a helper's probe type is chosen (packet types first)
ORDER = ("xdp", "sched_cls", "socket_filter", "cgroup_skb", "kprobe", "tracepoint",
         "raw_tracepoint", "syscall", "perf_event", "sock_ops", "lwt_in", "lwt_out",
         "lwt_xmit", "lwt_seg6local", "sk_skb", "sk_msg", "flow_dissector", "sk_lookup",
         "sk_reuseport", "cgroup_sock_addr", "cgroup_sysctl", "cgroup_sock", "cgroup_sockopt",
         "cgroup_device")
#: ctx offsets of data / data_end
PKT = {"xdp": (0, 4), "sched_cls": (76, 80)}
RDONLY_PROG = 1 << 7
BUF = (-64, -128)  # stack buffers of the first and second memory argument
MEM_SIZE = 16


def probe_type(hid: int) -> str | None:
    for t in ORDER:
        if t in MODELLED_PROG_TYPES and helper_check(t, hid, attach_type=ATTACH.get(t, 0)) is None:
            return t
    return None


def _map_type(name: str) -> int:
    needs = HELPER_NEEDS.get(name)
    if not needs:
        return MAP_TYPE_IDS["hash"]
    for t in sorted(MAP_TYPE_IDS[n] for n in needs):
        if t in MAP_SHAPES:
            return t
    return MAP_TYPE_IDS["hash"]  # needs BTF to create (sk/task/cgrp storage): refused


class _Builder:
    """The argument setup of one call; ``variant`` = (argument index, how) or None."""

    def __init__(self, proto, ptype: str, variant):
        self.proto, self.ptype, self.variant = proto, ptype, variant
        self.maps: list[tuple] = []
        self.pre: list[str] = []
        self.lines: list[str] = []
        self.map_index = None
        self.mem_no = 0

    def _map(self, shape: tuple) -> int:
        self.maps.append(shape)
        return len(self.maps) - 1

    def _how(self, i: int):
        return self.variant[1] if self.variant and self.variant[0] == i else None

    def build(self) -> Probe | None:
        args = self.proto.args
        skip_size = False
        for i, a in enumerate(args):
            reg = i + 1
            if skip_size:
                skip_size = False
                continue
            how = self._how(i)
            out = self._arg(i, reg, a, how)
            if out is None:
                return None
            self.lines += out[0]
            skip_size = out[1]
        name = f"{self.proto.name}_{self.variant[1] if self.variant else 'ok'}"
        if self.variant:
            name += f"_arg{self.variant[0] + 1}"
        body = ["r6 = r1", "r7 = 0", "*(u64 *)(r10 - 8) = r7", "*(u64 *)(r10 - 16) = r7"]
        body += self.pre + self.lines + [f"call {self.proto.id}", "r0 = 0", "exit"]
        return Probe(name, self.ptype, "\n".join(_fix_exit(body)) + "\n", self.maps)

    def _arg(self, i, reg, a, how):
        """(lines setting r<reg> [and the size register], whether the size is consumed)."""
        b = a.base
        if b is Arg.CONST_MAP_PTR:
            t = _map_type(self.proto.name)
            k = self._map((t,) + MAP_SHAPES.get(t, (4, 8, 1, 0)))
            self.map_index = k
            return ([f"r{reg} = 0"] if how == "scalar" else [f"ld_pseudo r{reg}, 1, {k}"]), False
        if b is Arg.PTR_TO_CTX:
            if how == "fp":
                return [f"r{reg} = r10"], False
            if how == "scalar":
                return [f"r{reg} = 8"], False
            if how == "null":
                return [f"r{reg} = 0"], False
            return [f"r{reg} = r6"], False
        if b is Arg.ANYTHING:
            return ([] if how == "uninit" else [f"r{reg} = 0"]), False
        if b in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
            off = -8 if b is Arg.PTR_TO_MAP_KEY else -16
            if how == "null":
                return [f"r{reg} = 0"], False
            if how == "past_top":
                off = -2
            if how == "rdonly_map":
                k = self._map((2, 4, 64, 1, RDONLY_PROG))
                return [f"ld_pseudo r{reg}, 2, {k}, 0"], False
            return [f"r{reg} = r10", f"r{reg} += {off}"], False
        if b is Arg.PTR_TO_MEM:
            return self._mem(i, reg, a, how)
        # a kind the engines do not model: a plausible register, judged anyway
        return [f"r{reg} = 0"] if how is None else None, False

    def _mem(self, i, reg, a, how):
        buf = BUF[min(self.mem_no, 1)]
        self.mem_no += 1
        size = a.size if a.is_fixed_mem else MEM_SIZE
        sized = a.is_mem
        size_line = [f"r{reg + 1} = {size}"] if sized else []
        if how == "null" or how == "null_size":
            return [f"r{reg} = 0"] + size_line, sized
        if how == "past_top":
            off = 4 - size
        elif how == "misaligned":
            off = 2 - 2 * size
        else:
            off = buf
        ptr = [f"r{reg} = r10", f"r{reg} += {off}"]
        if how == "rdonly_map":
            k = self._map((2, 4, 64, 1, RDONLY_PROG))
            ptr = [f"ld_pseudo r{reg}, 2, {k}, 0"]
        if how == "pkt":
            d, e = PKT[self.ptype]
            self.pre += [f"r8 = *(u32 *)(r6 + {d})", f"r9 = *(u32 *)(r6 + {e})", "r0 = r8",
                         "r0 += 64", "if r0 > r9 goto EXIT"]
            ptr = [f"r{reg} = r8"]
        if sized and how == "zero_size":
            size_line = [f"r{reg + 1} = 0"]
        if sized and how == "size_ptr":
            size_line = [f"r{reg + 1} = r6"]
        return ptr + size_line, sized


def _fix_exit(lines: list[str]) -> list[str]:
    """Resolve ``goto EXIT`` to the final ``r0 = 0`` (ld_pseudo takes two slots)."""
    out = []
    for k, line in enumerate(lines):
        if line.endswith("goto EXIT"):
            slots = sum(2 if x.startswith("ld_pseudo") else 1 for x in lines[k + 1:-2])
            line = line.replace("EXIT", f"+{slots}")
        out.append(line)
    return out


def _variants(proto, ptype: str) -> list:
    out = []
    uninit_done = False
    for i, a in enumerate(proto.args):
        b = a.base
        if b is Arg.PTR_TO_CTX:
            out += [(i, "fp")] + ([(i, "scalar"), (i, "null")] if a.maybe_null else [(i, "null")])
        elif b is Arg.CONST_MAP_PTR:
            out.append((i, "scalar"))
        elif b in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
            out += [(i, "null"), (i, "past_top"), (i, "rdonly_map")]
        elif b is Arg.PTR_TO_MEM:
            out += [(i, "null_size" if a.maybe_null else "null"), (i, "past_top"),
                    (i, "rdonly_map")]
            if ptype in PKT:
                out.append((i, "pkt"))
            if a.is_mem:
                out += [(i, "zero_size"), (i, "size_ptr")]
            if a.flags.name and "MEM_ALIGNED" in str(a):
                out.append((i, "misaligned"))
        elif b is Arg.ANYTHING and i > 0 and not uninit_done:
            out.append((i, "uninit"))
            uninit_done = True
    return out


def helper_probes(hid: int, ptype: str | None = None) -> list[Probe]:
    """The well-formed call of helper ``hid`` and its mis-typed twins in ``ptype`` (by
    default the first of ORDER that may call it; empty when none may)."""
    ptype = ptype or probe_type(hid)
    if ptype is None:
        return []
    proto = helper_proto(ptype, hid)
    out = []
    for v in [None] + _variants(proto, ptype):
        p = _Builder(proto, ptype, v).build()
        if p is not None:
            out.append(p)
    return out
