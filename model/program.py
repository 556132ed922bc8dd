"""What a loaded BPF object is: maps, programs and their static branch sites.

The ELF loader (``model.elf``) produces these; the CFG, the interpreter, the verifier and
the symbolic engine consume them. Instruction positions are *slot* indices (``pc``): an
``ld_imm64`` occupies two slots, exactly as in the kernel's verifier log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from model.errors import SkvError
from model.isa import Insn, iter_pcs
from model.platform.map_helpers import BPF_F_RDONLY_PROG, forced_prog_flags

BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_INSN_SET = 34  # 2025 RFC (never merged): a key is a set of instructions
BPF_F_STATIC_KEY = 1 << 15  # 2023: in map_flags
BPF_F_STATIC_KEY_2025 = 1  # 2025 RFC: in map_extra of an INSN_SET map

# ld_imm64 src_reg values (pseudo sources)
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6


@dataclass
class MapDef:
    """A map the object defines (BTF ``.maps``, legacy ``maps``, or a global-data section)."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    section: str = ".maps"
    offset: int = 0  # the symbol's offset within its section
    origin: str = "btf"  # "btf" | "legacy" | "data" (global data) | "inner" (a template)
    initial: bytes | None = None  # initial value bytes of a global-data map
    map_extra: int = 0
    #: a legacy definition's words past map_flags (iproute2: id, pinning, inner_id, inner_idx)
    legacy_extra: tuple[int, ...] = ()
    #: ``.kconfig``: extern name -> its offset in the value (model.elf.kconfig)
    externs: dict[str, int] = field(default_factory=dict)
    #: the key and value types in the object's ``.BTF`` (0: none), as libbpf creates the map
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    #: an array/hash of maps: the name (in the object's maps) of its inner map template,
    #: the map whose type and shape every inner map has (the kernel's inner_map_meta);
    #: a libbpf ``__array(values, struct {...})`` template is a map of origin "inner"
    inner: str | None = None
    #: the special fields of the value its BTF describes (``struct bpf_spin_lock``,
    #: ``bpf_timer``, kptrs...): (kind, offset, size) (model.platform.value_fields)
    fields: tuple[tuple[str, int, int], ...] = ()

    @property
    def prog_flags(self) -> int:
        """map_flags as the kernel sees them: libbpf creates ``.rodata`` and ``.kconfig``
        maps with ``BPF_F_RDONLY_PROG`` (programs may not write them); the kernel adds it
        to some map types itself (``map_helpers.forced_prog_flags``)."""
        return (self.map_flags | forced_prog_flags(self.type)
                | (BPF_F_RDONLY_PROG if self.frozen_constant else 0))

    @property
    def frozen_constant(self) -> bool:
        """libbpf creates ``.rodata`` and ``.kconfig`` read-only and freezes them: the
        verifier knows their bytes (loads from them are constants)."""
        return self.origin == "data" and self.name.startswith((".rodata", ".kconfig"))

    @property
    def is_static_key(self) -> bool:
        """A key map of the 2023 design (flag in map_flags) or of the 2025 RFC."""
        return bool(self.map_flags & BPF_F_STATIC_KEY) or self.is_insn_set_key

    @property
    def is_insn_set_key(self) -> bool:
        return self.type == BPF_MAP_TYPE_INSN_SET and bool(self.map_extra & BPF_F_STATIC_KEY_2025)

    @property
    def has_key_shape(self) -> bool:
        """The only shape the 2023 kernel accepts for a static key."""
        return (self.type == BPF_MAP_TYPE_ARRAY and self.key_size == 4
                and self.value_size == 4 and self.max_entries == 1)


@dataclass(frozen=True)
class MapRef:
    """An ``ld_imm64`` that refers to a map (src 1) or into a map's value (src 2)."""

    pc: int
    map: str
    value_offset: int | None = None  # None: the map itself; else offset into its value


@dataclass(frozen=True)
class Site:
    """One static branch site: a JA instruction the kernel rewrites in the live program.

    ``inverse`` is the polarity: a normal site (unlikely) falls through when its key is off
    and jumps to ``target`` when on; an inverse site (likely) jumps when off and falls
    through when on. ``design`` says which proposal's encoding named it.
    """

    id: int
    program: str
    pc: int
    target: int
    key: str
    inverse: bool
    design: str  # "2023" | "2024" | "2025"
    origin: str = ""  # where it was declared, e.g. ".jump_table entry 3"

    def jumps(self, key_on: bool) -> bool:
        """Does the site take its jump edge when its key has this value?"""
        return key_on != self.inverse


@dataclass
class Program:
    """One entry program with its subprograms appended (as libbpf links them)."""

    name: str
    section: str
    insns: list[Insn]
    subprogs: dict[int, str] = field(default_factory=dict)  # start pc -> function name
    map_refs: dict[int, MapRef] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    func_starts: dict[str, int] = field(default_factory=dict)
    #: pc -> the CO-RE relocation (``model.elf.btf_ext.CoreRelo``) libbpf would apply there
    core_relos: dict = field(default_factory=dict)
    core_unresolved: dict = field(default_factory=dict)  # pc -> why it stays unapplied
    core_applied: dict = field(default_factory=dict)  # pc -> CoreRelo applied (model.elf.core)
    #: the type a loader was told (``--prog-type``), for a section that names none
    type_override: str | None = None
    # from .BTF.ext (empty without it): pc -> C source line (model.elf.btf_ext.SourceLine),
    # pc -> function name from BTF func info
    lines: dict[int, Any] = field(default_factory=dict)
    func_names: dict[int, str] = field(default_factory=dict)
    #: the same as the kernel takes them (``func_info``, ``line_info``): pc -> FUNC type id
    #: in the object's ``.BTF``, pc -> (file_name_off, line_off, line_col)
    btf_funcs: dict[int, int] = field(default_factory=dict)
    btf_lines: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    #: pc -> the ``__ksym`` extern a kfunc call or ld_imm64 (src 3) refers to
    ksyms: dict[int, str] = field(default_factory=dict)
    #: pcs of functions whose BTF FUNC has global linkage (a callback must be static)
    global_funcs: set[int] = field(default_factory=set)
    #: pcs of functions whose BTF prototype returns no int or enum (LD_ABS or a tail call
    #: in such a subprogram is refused: check_btf_func)
    nonscalar_funcs: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._by_pc: dict[int, Insn] | None = None

    @property
    def prog_type(self) -> str:
        """The program type libbpf infers from the section name (e.g. ``xdp``, ``kprobe``),
        or the one the loader was told for a section that names none (``unspec`` if none)."""
        from model.elf.sections import prog_type_of

        return prog_type_of(self.section) if self.type_override is None else self.type_override

    @property
    def attach_type(self) -> int:
        """The expected attach type (``enum bpf_attach_type``) libbpf loads it with."""
        from model.elf.sections import ATTACH_TYPE_IDS, section_def

        ptype, attach, _ = section_def(self.section)
        return ATTACH_TYPE_IDS[attach] if ptype == self.prog_type else 0

    @property
    def sleepable(self) -> bool:
        """libbpf loads it with ``BPF_F_SLEEPABLE`` (``uprobe.s``, ``fentry.s``, ``syscall``)."""
        from model.elf.sections import section_def

        ptype, _, sleepable = section_def(self.section)
        return sleepable and ptype == self.prog_type

    def by_pc(self) -> dict[int, Insn]:
        if self._by_pc is None:
            self._by_pc = dict(iter_pcs(self.insns))
        return self._by_pc

    def iter_pcs(self) -> Iterator[tuple[int, Insn]]:
        return iter_pcs(self.insns)

    @property
    def n_slots(self) -> int:
        return sum(i.slots for i in self.insns)

    def site_at(self, pc: int) -> Site | None:
        if not self.sites:
            return None
        # rebuilt when the list changes: the cache keeps the sites it was built from (their
        # ids alone could be those of new sites once the old ones are gone)
        key = tuple(self.sites)
        cache = self.__dict__.get("_sites_at")
        if cache is None or len(cache[0]) != len(key) or \
                any(a is not b for a, b in zip(cache[0], key)):
            at: dict[int, Site] = {}
            for s in self.sites:
                at.setdefault(s.pc, s)  # the first site at a pc, as before
            cache = self._sites_at = (key, at)
        return cache[1].get(pc)

    def keys(self) -> list[str]:
        return sorted({s.key for s in self.sites})

    def kfunc_unmodelled(self, pc: int, btf_id: int) -> str:
        """The one rejection every engine gives a kfunc call: ``not modelled: kfunc NAME``,
        NAME from the object's ``__ksym`` extern at ``pc``, else the running kernel's BTF
        name of ``btf_id``, else ``BTF id N``."""
        from model.platform.kfuncs import kfunc_name

        name = kfunc_name(self, pc, btf_id)
        return f"not modelled: kfunc {name or f'BTF id {btf_id}'}"

    def line_for(self, pc: int) -> tuple[int, Any] | None:
        """The line-info record covering ``pc`` (the kernel's ``find_linfo``: the last one
        at or before it) as (its pc, the source line), or None without line info."""
        import bisect

        if not self.lines:
            return None
        starts = sorted(self.lines)
        k = bisect.bisect_right(starts, pc) - 1
        return None if k < 0 else (starts[k], self.lines[starts[k]])


@dataclass
class BpfObject:
    path: str
    license: str
    maps: dict[str, MapDef]
    programs: list[Program]
    #: the object's ``.BTF`` with libbpf's fixups, ready for ``BPF_BTF_LOAD`` (None: none)
    btf: bytes | None = None
    #: the ``__weak`` undefined externs (a kernel symbol that may be missing)
    weak_externs: frozenset = frozenset()

    def program(self, name: str) -> Program:
        for p in self.programs:
            if p.name == name:
                return p
        raise KeyError(name)

    def keys(self) -> list[str]:
        return sorted(n for n, m in self.maps.items() if m.is_static_key)


def select_programs(obj: BpfObject, name: str | None) -> list[Program]:
    if name is None:
        return obj.programs
    for p in obj.programs:
        if p.name == name:
            return [p]
    have = ", ".join(p.name for p in obj.programs)
    raise SkvError(f"{obj.path}: no program named {name} (programs: {have})")
