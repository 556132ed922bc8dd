"""Load one program of a loaded object into the real kernel, with the maps it references.

A stock kernel (Linux 6.18) knows nothing of static keys: a program must be materialised
first (``model.materialize``: one assignment, or ``both_edges``). ``load_program`` creates
every map the program references as libbpf would — its type and shape with
``BPF_F_STATIC_KEY`` stripped (1 << 15 means ``BPF_F_VTYPE_BTF_OBJ_FD`` in 6.18); a global
data section as an ARRAY (key 4, value = section size, 1 entry) filled with its initial
bytes, ``.rodata*`` with ``BPF_F_RDONLY_PROG`` and frozen after filling — patches their fds
into the ``ld_imm64``s and loads with the program type its section names and the object's
license. Typical use::

    with loaded(obj, materialize(prog, keys={"k": True})) as lp:
        ok = lp.result.ok
        r0 = lp.test_run(packet).retval
        counter = lp.map_value(".bss")
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from model.elf.sections import PROG_TYPE_IDS
from model.errors import SkvError
from model.isa import encode
from model.kernel.bpf import BPF_F_SLEEPABLE, PROG_TYPES, LoadResult, Map, map_create, prog_load
from model.kernel.funcinfo import program_func_info
from model.kernel.oracle import patch_map_fds, prog_test_run, TestRunResult
from model.program import BPF_F_STATIC_KEY, BpfObject, Program

BPF_F_RDONLY_PROG = 1 << 7


@dataclass(eq=False)
class LoadedProgram:
    """A program in the kernel with the maps created for it; ``close()`` (or ``with``)
    closes the program fd (if accepted) and every map fd."""
    result: LoadResult
    maps: dict[str, Map] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)  # the maps created for it (closed by close)

    @property
    def ok(self) -> bool:
        return self.result.ok

    def map_value(self, name: str, key: int = 0) -> bytes:
        m = self.maps[name]
        return m.lookup(struct.pack("<I", key))

    def test_run(self, data_in: bytes = b"", ctx_in: bytes | None = None,
                 repeat: int = 1) -> TestRunResult:
        return prog_test_run(self.result, data_in, ctx_in, repeat)

    def close(self) -> None:
        self.result.close()
        for name in self.owned:
            self.maps[name].close()

    def __enter__(self) -> LoadedProgram:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kernel_prog_type(prog: Program) -> int:
    """The ``enum bpf_prog_type`` number of the program's section (``SkvError`` if none)."""
    name = prog.prog_type
    if name == "unspec" or name not in PROG_TYPE_IDS:
        raise SkvError(f"program {prog.name}: section {prog.section} names no program type "
                       "the kernel can load")
    num = PROG_TYPE_IDS[name]
    if PROG_TYPES.get(name) != num:
        raise SkvError(f"program {prog.name}: program type {name} ({num}) is unknown to "
                       "model.kernel")
    return num


def create_maps(obj: BpfObject, prog: Program, have: dict[str, Map] | None = None
                ) -> dict[str, Map]:
    """Create every map ``prog`` references (see the module doc) but those in ``have``;
    returns the new ones by name."""
    out: dict[str, Map] = {}
    try:
        for name in sorted({r.map for r in prog.map_refs.values()} - set(have or {})):
            m = obj.maps.get(name)
            if m is None:
                raise SkvError(f"program {prog.name} refers to map {name}, which the object "
                               "does not define")
            if m.origin == "data":
                rodata = m.frozen_constant
                size = m.value_size
                kmap = map_create(2, 4, size, 1, BPF_F_RDONLY_PROG if rodata else 0,
                                  name=_map_name(name))
                out[name] = kmap
                init = m.initial if m.initial is not None else bytes(size)
                kmap.update(struct.pack("<I", 0), init.ljust(size, b"\0")[:size])
                if rodata:
                    kmap.freeze()
            else:
                out[name] = map_create(m.type, m.key_size, m.value_size, m.max_entries,
                                       m.map_flags & ~BPF_F_STATIC_KEY, name=_map_name(name))
    except BaseException:
        for k in out.values():
            k.close()
        raise
    return out


def _map_name(name: str) -> str:
    """A name the kernel accepts (alphanumerics, ``_`` and ``.``, at most 15 bytes)."""
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)[:15]


def load_program(obj: BpfObject, prog: Program, *, log_level: int = 2) -> LoadResult:
    """Load a materialised program (no sites) with fresh maps; the kernel's verdict and log.

    The maps are closed again (the loaded program keeps its own references); the returned
    :class:`LoadResult` owns the program fd when accepted — close it. Use :func:`loaded`
    to keep the maps (to read them after a test run).
    """
    lp = loaded(obj, prog, log_level=log_level)
    for name in lp.owned:
        lp.maps[name].close()
    return lp.result


def loaded(obj: BpfObject, prog: Program, *, log_level: int = 2,
           maps: dict[str, Map] | None = None) -> LoadedProgram:
    """Like :func:`load_program`, keeping the map fds: a :class:`LoadedProgram` (context
    manager) that closes the program and the maps it created. ``maps`` (name -> Map) are
    used instead of fresh ones (programs of one object sharing maps); they stay open."""
    if prog.sites:
        raise SkvError(f"program {prog.name} still has {len(prog.sites)} static site(s), which "
                       "this kernel cannot load: materialise it first (model.materialize)")
    ptype = kernel_prog_type(prog)
    created = create_maps(obj, prog, maps)
    maps = {**(maps or {}), **created}
    btf = None
    try:
        insns = patch_map_fds(encode(prog.insns), {pc: maps[r.map] for pc, r in
                                                   prog.map_refs.items()})
        btf = program_func_info(prog)  # callbacks need BTF func info
        result = prog_load(ptype, insns, license=obj.license or "GPL", log_level=log_level,
                           name=_map_name(prog.name), expected_attach_type=prog.attach_type,
                           prog_flags=BPF_F_SLEEPABLE if prog.sleepable else 0,
                           btf_fd=btf[0].fileno() if btf else 0,
                           func_info=btf[1] if btf else b"")
    except BaseException:
        for m in created.values():
            m.close()
        raise
    finally:
        if btf is not None:
            btf[0].close()
    return LoadedProgram(result, maps, set(created))


def verdict(obj: BpfObject, prog: Program, assignment: dict[str, bool], *,
            log_level: int = 2) -> tuple[bool, LoadResult]:
    """Does the kernel accept ``prog`` materialised for this M0 key assignment? The
    :class:`LoadResult`'s fd is already closed."""
    from model.materialize import materialize

    result = load_program(obj, materialize(prog, keys=assignment), log_level=log_level)
    result.close()
    return result.ok, result


def verdict_sites(obj: BpfObject, prog: Program, states: dict[int, bool], *,
                  log_level: int = 2) -> tuple[bool, LoadResult]:
    """The same for an M1 assignment (site id -> on)."""
    from model.materialize import materialize

    result = load_program(obj, materialize(prog, sites=states), log_level=log_level)
    result.close()
    return result.ok, result


def verdict_both_edges(obj: BpfObject, prog: Program, how: str = "r10", *,
                       log_level: int = 2) -> tuple[bool, LoadResult]:
    """Does the kernel accept ``both_edges(prog, how)`` (the M2 question)?"""
    from model.materialize import both_edges

    result = load_program(obj, both_edges(prog, how), log_level=log_level)
    result.close()
    return result.ok, result


__all__ = ["BPF_F_RDONLY_PROG", "LoadedProgram", "create_maps", "kernel_prog_type", "load_program",
           "loaded", "verdict", "verdict_sites", "verdict_both_edges"]
