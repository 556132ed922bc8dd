"""Shared pieces of the rule-surface generator (tests/rulegen.py): program types, the map
catalogue, the labelled assembler with static sites and callbacks, and :class:`RuleProg`
(one generated program: skv's model of it, and the kernel's verdict on it).

The generator draws from the kernel's rules, not from what skv models: every helper id,
every map type the kernel creates without BTF, every program type with a section name skv
knows. A program skv cannot model must come out as a rejection, never as "safe".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labelled_asm import LabelledAsm
from model.isa import Insn, format_llvm, iter_pcs
from model.program import BPF_F_STATIC_KEY, BpfObject, MapDef, MapRef, Program, Site

#: program type -> section name skv infers it from (model.elf.sections)
SECTION = {
    "socket_filter": "socket", "sched_cls": "tc", "sched_act": "action", "xdp": "xdp",
    "kprobe": "kprobe", "tracepoint": "tracepoint", "raw_tracepoint": "raw_tracepoint",
    "cgroup_skb": "cgroup_skb", "syscall": "syscall", "perf_event": "perf_event",
    "lwt_in": "lwt_in", "lwt_xmit": "lwt_xmit", "sk_skb": "sk_skb", "sock_ops": "sockops",
    "flow_dissector": "flow_dissector", "cgroup_sock": "cgroup/sock", "sk_msg": "sk_msg",
}
#: the types drawn, with weights (the modelled ones more often)
PROG_TYPE_WEIGHTS = {
    "socket_filter": 8, "sched_cls": 10, "xdp": 10, "kprobe": 6, "tracepoint": 6,
    "raw_tracepoint": 5, "cgroup_skb": 6, "syscall": 4, "sched_act": 2, "perf_event": 2,
    "lwt_in": 1, "lwt_xmit": 1, "sk_skb": 2, "sock_ops": 1, "flow_dissector": 1,
    "cgroup_sock": 1, "sk_msg": 1,
}
PROG_TYPES = tuple(t for t, w in PROG_TYPE_WEIGHTS.items() for _ in range(w))
SKB_TYPES = ("socket_filter", "sched_cls", "sched_act", "cgroup_skb", "lwt_in", "lwt_xmit",
             "sk_skb", "flow_dissector")
#: bytes of context a type's accesses are drawn over (a little beyond the real size)
CTX_SPAN = {"xdp": 24, "kprobe": 168, "tracepoint": 96, "raw_tracepoint": 96,
            "syscall": 128, "perf_event": 184, "sock_ops": 224, "cgroup_sock": 80,
            "sk_msg": 72}
#: (data, data_end, data_meta) ctx offsets
PKT_OFFS = {"xdp": (0, 4, 8)}
SKB_PKT_OFFS = (76, 80, 140)

BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_F_MMAPABLE = 1, 1 << 7, 1 << 8, 1 << 10


@dataclass
class MapSpec:
    """A map to create: kernel type name, shape, flags (an *_of_maps map gets an inner
    ARRAY map of ``inner_value`` bytes)."""
    name: str
    kind: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    extra: int = 0
    inner_value: int = 8


#: kind -> (key, value, max_entries, flags that must be set, map_extra); values may vary
MAP_CATALOG: dict[str, tuple[int, int, int, int, int]] = {
    "hash": (4, 16, 16, 0, 0), "array": (4, 16, 4, 0, 0), "prog_array": (4, 4, 4, 0, 0),
    "perf_event_array": (4, 4, 4, 0, 0), "percpu_hash": (4, 16, 16, 0, 0),
    "percpu_array": (4, 16, 4, 0, 0), "stack_trace": (4, 32, 16, 0, 0),
    "cgroup_array": (4, 4, 4, 0, 0), "lru_hash": (4, 16, 16, 0, 0),
    "lru_percpu_hash": (4, 16, 16, 0, 0), "lpm_trie": (8, 16, 16, BPF_F_NO_PREALLOC, 0),
    "array_of_maps": (4, 4, 4, 0, 0), "hash_of_maps": (4, 4, 4, 0, 0),
    "devmap": (4, 4, 4, 0, 0), "sockmap": (4, 4, 4, 0, 0), "cpumap": (4, 4, 4, 0, 0),
    "xskmap": (4, 4, 4, 0, 0), "sockhash": (4, 4, 4, 0, 0),
    "cgroup_storage": (8, 16, 0, 0, 0), "reuseport_sockarray": (4, 4, 4, 0, 0),
    "percpu_cgroup_storage": (8, 16, 0, 0, 0), "queue": (0, 16, 16, 0, 0),
    "stack": (0, 16, 16, 0, 0), "devmap_hash": (4, 4, 4, 0, 0), "ringbuf": (0, 0, 4096, 0, 0),
    "bloom_filter": (0, 16, 16, 0, 3), "user_ringbuf": (0, 0, 4096, 0, 0),
    "arena": (0, 0, 4, BPF_F_MMAPABLE, 0),
}
#: kinds whose value size the generator may vary (and that take RDONLY/WRONLY_PROG)
VALUE_KINDS = ("hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash",
               "lpm_trie", "queue", "stack", "bloom_filter", "cgroup_storage",
               "percpu_cgroup_storage")
#: not drawn: sk/inode/task/cgrp storage need BTF for their value type; struct_ops a
#: struct_ops BTF type -- the kernel cannot create them from a bare shape.


RuleAsm = LabelledAsm


@dataclass
class RuleProg:
    prog_type: str
    insns: list[Insn]
    map_refs: dict[int, str]
    maps: dict[str, MapSpec]
    sites: list[tuple[int, int, str, bool]]
    cls: str                                             # the feature class drawn first
    features: list[str] = field(default_factory=list)

    def text(self) -> str:
        sites = {pc: (t, k, inv) for pc, t, k, inv in self.sites}
        lines = [f"; {self.prog_type} ({SECTION[self.prog_type]}), class {self.cls}, "
                 f"features {self.features}"]
        for m in self.maps.values():
            lines.append(f"; map {m.name}: {m.kind} key {m.key_size} value {m.value_size} "
                         f"max {m.max_entries} flags {m.flags:#x}")
        for pc, i in iter_pcs(self.insns):
            note = f"  ; map {self.map_refs[pc]}" if pc in self.map_refs else ""
            if pc in sites:
                t, k, inv = sites[pc]
                note = f"  ; static site key {k}{' inverse' if inv else ''} -> {t}"
            try:
                shown = format_llvm(i, pc)
            except Exception:  # noqa: BLE001 -- a raw encoding (tests/rulegen_mem2.RawInsn)
                shown = f"raw {i.raw()[0]}"
            lines.append(f"{pc:4}: {shown}{note}")
        return "\n".join(lines)

    def model(self, decoded: bool = True) -> tuple[BpfObject, Program]:
        """skv's view: a BpfObject with one MapDef per map (plus the static keys) and the
        program with its sites. Raw encodings (a ``code`` field) are decoded the way the
        ELF loader decodes them (an IsaError is skv's rejection) unless ``decoded`` is
        false (the kernel's copy)."""
        from model.isa import decode, encode
        from model.kernel.bpf import MAP_TYPES

        insns = list(self.insns)
        if decoded and any(hasattr(i, "code") for i in insns):
            insns = decode(encode(insns))
        prog = Program("rulegen", SECTION[self.prog_type], insns)
        by_pc = prog.by_pc()
        for pc, name in self.map_refs.items():
            insn = by_pc[pc]
            prog.map_refs[pc] = MapRef(pc, name, insn.imm2 if insn.src == 2 else None)
        prog.sites = [Site(n, "rulegen", pc, t, k, inv, "2023", "rulegen")
                      for n, (pc, t, k, inv) in enumerate(self.sites)]
        maps = {m.name: MapDef(m.name, MAP_TYPES[m.kind], m.key_size, m.value_size,
                               m.max_entries, m.flags, origin="legacy", map_extra=m.extra)
                for m in self.maps.values()}
        for k in prog.keys():
            maps[k] = MapDef(k, 2, 4, 4, 1, BPF_F_STATIC_KEY, origin="legacy")
        return BpfObject("rulegen", "GPL", maps, [prog]), prog

    def kernel_insns(self) -> list[Insn]:
        """The program the kernel is given: every site as ``if r10 == 0 goto`` (both edges)."""
        from model.materialize import both_edges

        return both_edges(self.model(decoded=False)[1], "r10").insns

    def kernel_verify(self):
        """The kernel's LoadResult, or None when a map cannot be created (the maps are
        created here and closed afterwards)."""
        from model.isa import encode
        from model.kernel import BpfError, map_create, verify

        made, inner = {}, []
        try:
            for name, m in self.maps.items():
                kw = {}
                if m.kind in ("array_of_maps", "hash_of_maps"):
                    inner.append(map_create("array", 4, m.inner_value, 1))
                    kw["inner_map_fd"] = inner[-1]
                try:
                    made[name] = map_create(m.kind, m.key_size, m.value_size, m.max_entries,
                                            m.flags, name=name, map_extra=m.extra, **kw)
                except BpfError:
                    return None
            return verify(encode(self.kernel_insns()), self.prog_type,
                          maps={pc: made[n] for pc, n in self.map_refs.items()})
        finally:
            for m in [*made.values(), *inner]:
                m.close()
