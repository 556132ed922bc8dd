"""Load one program of a loaded object into the real kernel, with the maps it references.

A stock kernel (Linux 6.18) knows nothing of static keys: a program must be materialised
first (``model.materialize``: one assignment, or ``both_edges``). ``load_program`` loads it
as libbpf would:

* the object's BTF (``BPF_BTF_LOAD`` of ``BpfObject.btf``, libbpf's fixups already made by
  ``model.elf.btf_fixup``; without BTF when the kernel refuses it, as libbpf goes on);
* every map the program references, in the shape libbpf creates it
  (``model.kernel.mapshape``: ``BPF_F_STATIC_KEY`` stripped, global data as a one-entry
  ARRAY filled with its initial bytes, ``.rodata*`` read-only and frozen, fd arrays,
  perf event arrays, ring buffers, an array/hash of maps with its inner template), with
  its BTF key/value types;
* the program with their fds patched in, its kfunc/``__ksym`` references resolved and its
  attach target's BTF id (``model.kernel.attach``), its ``func_info``/``line_info``
  (``Program.btf_funcs``/``btf_lines``, at the linked — and materialised — pcs), the
  program type and expected attach type its section names, sleepable if it is, and the
  object's license.

Typical use::

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
from model.kernel.attach import attach_btf_id, resolve_ksyms
from model.kernel.bpf import (BPF_F_SLEEPABLE, PROG_TYPES, BpfError, Fd, LoadResult, Map,
                              ProgBtf, btf_load, map_create, prog_load)
from model.kernel.btf_maps import btf_fields, map_create_btf
from model.kernel.mapshape import BPF_F_RDONLY_PROG, _map_name, btf_type_ids, kernel_shape
from model.kernel.funcinfo import program_func_info
from model.kernel.oracle import patch_map_fds, prog_test_run, TestRunResult
from model.program import BpfObject, MapDef, Program


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


def create_maps(obj: BpfObject, prog: Program, have: dict[str, Map] | None = None,
                btf_fd: Fd | None = None) -> dict[str, Map]:
    """Create every map ``prog`` references (see the module doc) but those in ``have``;
    returns the new ones by name. ``btf_fd``: the object's BTF in the kernel, for the maps'
    key/value type ids."""
    out: dict[str, Map] = {}
    try:
        for name in sorted({r.map for r in prog.map_refs.values()} - set(have or {})):
            m = obj.maps.get(name)
            if m is None:
                raise SkvError(f"program {prog.name} refers to map {name}, which the object "
                               "does not define")
            kmap = out[name] = _create_map(obj, m, btf_fd)
            if m.origin == "data":
                init = m.initial if m.initial is not None else bytes(m.value_size)
                kmap.update(struct.pack("<I", 0), init.ljust(m.value_size, b"\0")[:m.value_size])
                if m.frozen_constant:
                    kmap.freeze()
    except BaseException:
        for k in out.values():
            k.close()
        raise
    return out


def _create_map(obj: BpfObject, m: MapDef, btf_fd: Fd | None) -> Map:
    """``BPF_MAP_CREATE`` for one map as libbpf creates it: its kernel shape
    (``model.kernel.mapshape``), with its BTF key/value types when it has them and the map
    type takes them (like libbpf, a map the kernel refuses with BTF is created without);
    an array / hash of maps with an ``inner_map_fd`` made from its inner map template (a
    map created for the purpose and closed again: the kernel keeps its shape)."""
    shape = kernel_shape(m)
    inner = m.inner
    if inner is not None:
        t = obj.maps.get(inner)
        if t is None:
            raise SkvError(f"map {m.name}: its inner map template {inner} is not a map of "
                           "the object")
        with _create_map(obj, t, btf_fd) as template:
            return map_create(**shape, inner_map_fd=template)
    ids = btf_type_ids(m) if btf_fd is not None else {}
    if ids:
        try:
            return map_create(**shape, btf_fd=btf_fd, **ids)
        except BpfError:
            pass
    fields = btf_fields(m.fields) if m.fields else None
    if fields is None and m.type in _VALUE_BTF_REQUIRED:
        fields = {}  # the kernel creates local storage only with a key and value BTF
    if fields is not None:  # no BTF of its own (a built object): BTF describing its fields
        return map_create_btf(shape["map_type"], shape["key_size"], shape["value_size"],
                              shape["max_entries"], fields, shape.get("map_flags", 0),
                              name=shape.get("name", ""))
    return map_create(**shape)


#: map types BPF_MAP_CREATE refuses without btf_key/value_type_id (sk, inode, task,
#: cgroup local storage)
_VALUE_BTF_REQUIRED = frozenset({24, 28, 29, 32})


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
    used instead of fresh ones (programs of one object sharing maps); they stay open.

    As libbpf: the object's BTF is loaded (``BPF_BTF_LOAD``; without it when the kernel
    refuses it), the program goes with its func/line info and attach target, kfunc and
    kernel-variable references get their vmlinux BTF ids (``model.kernel.attach``)."""
    if prog.sites:
        raise SkvError(f"program {prog.name} still has {len(prog.sites)} static site(s), which "
                       "this kernel cannot load: materialise it first (model.materialize)")
    ptype = kernel_prog_type(prog)
    target = attach_btf_id(prog)
    blob, funcs = obj.btf, tuple(sorted(prog.btf_funcs.items()))
    if not blob:  # a built object: callbacks still need BTF func info
        blob, funcs = program_func_info(prog) or (None, ())
    btf_fd = btf_load(blob)[0] if blob else None
    try:
        created = create_maps(obj, prog, maps, btf_fd)
        maps = {**(maps or {}), **created}
        try:
            prog = resolve_ksyms(prog, obj.weak_externs)
            insns = patch_map_fds(encode(prog.insns), {pc: maps[r.map] for pc, r in
                                                       prog.map_refs.items()})
            btf = ProgBtf(btf_fd.fileno() if btf_fd else 0, funcs,
                          tuple((pc, *rec) for pc, rec in sorted(prog.btf_lines.items())),
                          target)
            # libbpf sends the license section's string: empty (not GPL) without one
            result = prog_load(ptype, insns, license=obj.license, log_level=log_level,
                               name=_map_name(prog.name), expected_attach_type=prog.attach_type,
                               prog_flags=BPF_F_SLEEPABLE if prog.sleepable else 0, btf=btf)
        except BaseException:
            for m in created.values():
                m.close()
            raise
    finally:
        if btf_fd is not None:
            btf_fd.close()
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
