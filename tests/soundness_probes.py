"""Small probe programs for soundness tests: one program text (model.isa.asm syntax), its
program type and maps, judged by the kernel, our abstract verifier and the Z3 engine.

A map is named in the text as ``ld_pseudo rN, 1, K`` (its pointer) or
``ld_pseudo rN, 2, K, OFF`` (a pointer into its value), ``K`` indexing :attr:`Probe.maps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.isa import LoadImm64, encode, iter_pcs
from model.isa.asm import assemble
from model.program import BpfObject, MapDef, MapRef, Program

SECTION = {"xdp": "xdp", "sched_cls": "tc", "socket_filter": "socket", "kprobe": "kprobe/f",
           "tracepoint": "tracepoint/a/b", "raw_tracepoint": "raw_tp/a",
           "perf_event": "perf_event", "sock_ops": "sockops", "cgroup_sock": "cgroup/sock_create",
           "cgroup_sock_addr": "cgroup/connect4", "cgroup_device": "cgroup/dev",
           "cgroup_sysctl": "cgroup/sysctl", "cgroup_sockopt": "cgroup/getsockopt"}
#: the socket / lwt types (model.platform.ctx_skb_types); sk_lookup's section gives the
#: kernel its mandatory expected attach type (BPF_SK_LOOKUP)
SECTION.update({t: t for t in ("lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_msg",
                               "flow_dissector", "sk_lookup", "sk_reuseport")})
SECTION["sk_skb"] = "sk_skb/stream_verdict"
SECTION["raw_tracepoint_writable"] = "raw_tp.w/nbd_send_request"
SECTION["netfilter"] = "netfilter"
SECTION["cgroup_skb"] = "cgroup_skb/ingress"
#: the expected_attach_type a bare probe of these types is loaded with (the section's;
#: the kernel refuses sk_lookup / netfilter / cgroup_sock_addr / cgroup_sockopt without)
ATTACH = {"cgroup_sock": 2, "cgroup_sock_addr": 10, "cgroup_device": 6, "cgroup_sysctl": 18,
          "cgroup_sockopt": 21, "sk_lookup": 36, "netfilter": 45}

#: a shape the kernel creates for each map type: (key_size, value_size, max_entries, flags)
MAP_SHAPES: dict[int, tuple[int, int, int, int]] = {
    1: (4, 8, 1, 0), 2: (4, 8, 1, 0), 3: (4, 4, 1, 0), 4: (4, 4, 1, 0), 5: (4, 8, 1, 0),
    6: (4, 8, 1, 0), 7: (4, 64, 1, 0), 8: (4, 4, 1, 0), 9: (4, 8, 1, 0), 10: (4, 8, 1, 0),
    11: (8, 8, 1, 1), 14: (4, 4, 1, 0), 15: (4, 4, 1, 0), 16: (4, 4, 1, 0), 17: (4, 4, 1, 0),
    18: (4, 4, 1, 0), 19: (8, 8, 0, 0), 20: (4, 8, 1, 0), 21: (8, 8, 0, 0), 22: (0, 8, 1, 0),
    23: (0, 8, 1, 0), 25: (4, 4, 1, 0), 27: (0, 0, 4096, 0), 30: (0, 8, 1, 0),
    31: (0, 0, 4096, 0),
}


@dataclass
class Judged:
    kernel_ok: bool | None  # None: no kernel
    kernel_log: str
    ours_ok: bool
    ours_msg: str
    z3_safe: bool
    z3_why: str
    z3_failed: bool = False  # the Z3 engine found an unsafe execution (not only a budget)


@dataclass
class Probe:
    name: str
    prog_type: str
    text: str
    #: (type, key_size, value_size, max_entries, flags[, inner template: the same 5])
    maps: list[tuple] = field(default_factory=list)

    def insns(self):
        return assemble(self.text)

    def refs(self) -> dict[int, int]:
        """pc of each map ld_imm64 -> index into maps."""
        return {pc: i.imm for pc, i in iter_pcs(self.insns())
                if isinstance(i, LoadImm64) and i.src in (1, 2)}

    def model(self) -> tuple[BpfObject, Program]:
        prog = Program(self.name, SECTION[self.prog_type], self.insns())
        for pc, k in self.refs().items():
            prog.map_refs[pc] = MapRef(pc, f"m{k}")
        maps = {}
        for k, (t, ks, vs, n, fl, *inner) in enumerate(self.maps):
            maps[f"m{k}"] = MapDef(f"m{k}", t, ks, vs, n, fl)
            if inner:  # an array / hash of maps: (type, key, value, entries, flags) template
                maps[f"m{k}"].inner = f"m{k}.inner"
                maps[f"m{k}.inner"] = MapDef(f"m{k}.inner", *inner[0], origin="inner")
        return BpfObject(self.name, "GPL", maps, [prog]), prog

    def kernel(self):
        """The kernel's LoadResult, or None when bpf(2) is unavailable."""
        from model.kernel import available, map_create, verify

        if not available()[0]:
            return None
        made = []
        try:
            for t, ks, vs, n, fl, *inner in self.maps:
                if inner:
                    with map_create(*inner[0]) as template:
                        made.append(map_create(t, ks, vs, n, fl, inner_map_fd=template))
                else:
                    made.append(map_create(t, ks, vs, n, fl))
            slots = {pc: made[k] for pc, k in self.refs().items()}
            return verify(encode(self.insns()), self.prog_type, maps=slots,
                          expected_attach_type=self.model()[1].attach_type)
        finally:
            for m in made:
                m.close()

    def judge(self) -> Judged:
        from model.symbolic.engine import Engine
        from model.verifier.checker import check_program

        res = self.kernel()
        obj, prog = self.model()
        v = check_program(obj, prog)
        r = Engine(obj, prog).run()
        why = "; ".join(f.reason for f in r.failures) or "; ".join(r.exhausted)
        return Judged(None if res is None else res.ok, "" if res is None else res.log,
                      v.accepted, "" if v.error is None else v.error.message,
                      not r.failures and not r.exhausted, why, bool(r.failures))


def assert_same_verdict(p: Probe) -> None:
    """Judge ``p``: skv's verdict must be the kernel's (a rejection with the kernel's last
    line), and Z3 must find no failure in what the kernel accepts."""
    from model.kernel.oracle import rejection_reason

    j = p.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    ours = j.ours_msg.splitlines()[-1] if j.ours_msg else "accept"
    where = f"{p.name}:\n{p.text}\nkernel: {kmsg}\nours: {ours}\nz3: {j.z3_why or 'safe'}"
    assert j.ours_ok or j.kernel_ok is not None and not j.kernel_ok, "false reject " + where
    assert not j.ours_ok or j.kernel_ok, "FALSE ACCEPT " + where
    assert j.z3_safe == j.kernel_ok, "Z3 disagrees " + where
    assert ours == kmsg, where
    assert p.name.endswith("_ok") == j.kernel_ok, where


def map_probe(name: str, prog_type: str, body: str, *maps: int, flags: int = 0) -> Probe:
    """A probe whose maps have the kernel-creatable shape of their type (MAP_SHAPES)."""
    shapes = []
    for t in maps:
        ks, vs, n, fl = MAP_SHAPES[t]
        shapes.append((t, ks, vs, n, fl | flags))
    return Probe(name, prog_type, body, shapes)
