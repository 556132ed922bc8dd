"""Load a BPF ELF object: maps, programs linked as libbpf links them, static branch sites.

``load_object(path)`` is the one entry point; everything it cannot make sense of is a
``LoadError`` naming the file and the cause.
"""

from __future__ import annotations

import os

from model.elf.branches import place_sites, read_site_decls
from model.elf.btf import DATASEC, ENUM, ENUM64, FUNC, INT, parse_btf
from model.elf.btf_ext import parse_btf_ext
from model.elf.core import VMLINUX_BTF, apply_core, target_btf
from model.elf.ksyms import apply_ksyms
from model.elf.linker import Linked, Linker, read_functions
from model.elf.maps import read_maps
from model.elf.reader import SHN_UNDEF, STB_LOCAL, STB_WEAK, STT_FUNC, ElfImage, read_elf
from model.errors import SkvError
from model.program import BpfObject, Program

STV_INTERNAL, STV_HIDDEN = 1, 2  # ELF symbol visibility (st_other & 3)


def load_object(path: str, *, keys_as_maps: str = "error", prog_type: str | None = None,
                btf: str = VMLINUX_BTF, maps_only: bool = False) -> BpfObject:
    """``keys_as_maps``: what to do with a program that uses a static key as an ordinary
    map — "error" (a ``LoadError``, the default) or "keep" (load it; the verifier then
    rejects the program at that instruction, as the 2023 kernel's verifier does).
    ``prog_type``: the type of every program whose section names none (iproute2's
    ``from-netdev``, ``2/7``; functions of ``.text``), as a loader is told it.
    ``btf``: the kernel BTF that CO-RE relocations are resolved against (model.elf.core).
    ``maps_only``: an object without programs (maps only, as libbpf loads it) is an object
    with no programs rather than an error."""
    image = read_elf(path)
    return load_image(image, keys_as_maps=keys_as_maps, prog_type=prog_type, btf=btf,
                      maps_only=maps_only)


def load_image(image: ElfImage, *, keys_as_maps: str = "error",
               prog_type: str | None = None, btf: str = VMLINUX_BTF,
               maps_only: bool = False) -> BpfObject:
    maps = read_maps(image)
    funcs = read_functions(image)
    entries = [f for f in funcs if f.entry]
    if not entries:
        # only .text: each global function is a program (as PREVAIL takes them)
        entries = [f for f in funcs if f.is_global] or [f for f in funcs
                                                        if f.name == f.section.name]
        for f in entries:
            f.entry = True
    if not entries and not maps_only:
        raise image.fail("no programs (no executable section, and no global function in .text)")
    decls = read_site_decls(image, funcs, maps)
    local_btf = _local_btf(image) if image.section(".BTF.ext") is not None else None
    ext = _read_btf_ext(image, local_btf)
    linker = Linker(image, funcs, maps, ext.core if ext else {}, _ksyms(image))
    weak = frozenset(s.name for s in image.symbols
                     if s.bind == STB_WEAK and s.shndx == SHN_UNDEF)
    programs: list[Program] = []
    next_site = 0
    for f in entries:
        linked = linker.link(f)
        prog = linked.program
        if prog.core_relos:
            apply_core(prog, local_btf, btf)
        if prog.ksyms:  # kernel-symbol loads as libbpf patches them (model.elf.ksyms)
            apply_ksyms(prog, weak, target_btf(btf) if os.path.exists(btf) else None)
        if prog_type is not None and prog.prog_type == "unspec":
            prog.type_override = prog_type
        prog.sites = place_sites(image, linked, decls, next_site)
        next_site += len(prog.sites)
        if ext is not None:
            _place_source(linked, ext, local_btf, _hidden(image))
        if keys_as_maps == "error":
            _check_key_use(image, prog, maps)
        programs.append(prog)
    names = [p.name for p in programs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise image.fail(f"program name {sorted(dup)[0]} is used twice")
    return BpfObject(image.path, _license(image), maps, programs,
                     btf=_kernel_btf(image, local_btf, maps), weak_externs=weak)


def _kernel_btf(image: ElfImage, local_btf, maps) -> bytes | None:
    """The object's ``.BTF`` with libbpf's fixups (``model.elf.btf_fixup``); the global
    data maps get their DATASEC as value type, as libbpf creates them. None without
    ``.BTF`` or when it cannot be fixed up (a kernel load then goes without BTF)."""
    from model.elf.btf_fixup import kernel_btf

    sec = image.section(".BTF")
    if sec is None:
        return None
    try:
        btf = local_btf or _local_btf(image)
        symbols: dict[str, dict[str, int]] = {}
        for sym in image.symbols:
            target = image.section_at(sym.shndx) if sym.name else None
            if target is not None and not target.executable:
                symbols.setdefault(target.name, {})[sym.name] = sym.value
        kconfig = maps.get(".kconfig")
        hidden = _hidden(image)
        data = kernel_btf(sec.data, btf, {s.name: s.size for s in image.sections}, symbols,
                          kconfig.externs if kconfig else None,
                          kconfig.value_size if kconfig else 0, hidden)
    except SkvError:
        return None
    for m in maps.values():
        ds = btf.find(m.name, DATASEC) if m.origin == "data" else None
        if ds is not None:
            m.btf_value_type_id = ds.id
    return data


def _hidden(image: ElfImage) -> frozenset:
    """The subprograms whose global symbol has hidden visibility (``__hidden``): libbpf
    makes them static in the BTF the kernel gets (``mark_btf_static``)."""
    return frozenset(s.name for s in image.symbols
                     if s.type == STT_FUNC and s.bind != STB_LOCAL and s.other & 3 in
                     (STV_INTERNAL, STV_HIDDEN) and s.shndx == _text_index(image))


def _text_index(image: ElfImage) -> int:
    text = image.section(".text")
    return text.index if text is not None else -1


def _ksyms(image: ElfImage) -> frozenset:
    """Names of the object's ``__ksym`` externs (its ``.ksyms`` BTF DATASEC)."""
    sec = image.section(".BTF")
    if sec is None or b".ksyms" not in sec.data:
        return frozenset()
    btf = _local_btf(image)
    ds = btf.find(".ksyms", DATASEC)
    return frozenset(btf.type(m.type).name for m in ds.members) if ds is not None else frozenset()


def _local_btf(image: ElfImage):
    sec = image.section(".BTF")
    try:
        return parse_btf(sec.data) if sec is not None else None
    except SkvError as e:
        raise image.fail(f".BTF: {e}") from None


def _read_btf_ext(image: ElfImage, local_btf):
    """The object's func info, line info and CO-RE relocations (``None`` without
    ``.BTF.ext``; CO-RE records without ``.BTF`` are a load error)."""
    sec = image.section(".BTF.ext")
    if sec is None:
        return None
    if local_btf is None:
        raise image.fail(".BTF.ext without .BTF")
    try:
        return parse_btf_ext(sec.data, local_btf)
    except SkvError as e:
        raise image.fail(str(e)) from None


def _place_source(linked: Linked, ext, local_btf=None, hidden=frozenset()) -> None:
    """Give the linked program the source line and BTF function name of each instruction
    that starts one (and the raw func/line info records the kernel takes), at its pc in
    the linked program (libbpf moves them the same way)."""
    prog = linked.program
    for p in linked.placements:
        f = p.func
        sec = f.section.name
        for src, dst in ((ext.lines, prog.lines), (ext.funcs, prog.func_names),
                         (ext.func_types, prog.btf_funcs), (ext.line_recs, prog.btf_lines)):
            for off, value in src.get(sec, {}).items():
                if f.start <= off < f.end:
                    dst[p.start_pc + (off - f.start) // 8] = value
        for off, name in ext.funcs.get(sec, {}).items():
            t = local_btf.find(name, FUNC) if local_btf is not None else None
            if f.start <= off < f.end and t is not None and t.vlen != 0 \
                    and name not in hidden:  # (libbpf makes a hidden one static)
                prog.global_funcs.add(p.start_pc + (off - f.start) // 8)  # GLOBAL/EXTERN
    if local_btf is not None:
        prog.nonscalar_funcs = {pc for pc, tid in prog.btf_funcs.items()
                                if not _returns_scalar(local_btf, tid)}


def _returns_scalar(btf, func_id: int) -> bool:
    """Does the BTF FUNC's prototype return an integer of at most 8 bytes or an enum
    (check_btf_func's ``scalar_return``)?"""
    try:
        proto = btf.type(btf.type(func_id).type)
        ret = btf.resolve(proto.type) if proto.type else None
    except SkvError:
        return False
    return ret is not None and (ret.kind == INT and ret.size <= 8 or ret.kind in (ENUM, ENUM64))


def _license(image: ElfImage) -> str:
    sec = image.section("license")
    if sec is None:
        return ""
    return sec.data.split(b"\0", 1)[0].decode("utf-8", "replace")


def _check_key_use(image: ElfImage, prog: Program, maps) -> None:
    """The 2023 kernel rejects a program that uses a static key as an ordinary map."""
    for pc, ref in sorted(prog.map_refs.items()):
        m = maps.get(ref.map)
        if m is not None and m.is_static_key:
            raise image.fail(f"program {prog.name}, insn {pc}: uses static key {ref.map} as an "
                             "ordinary map (the kernel rejects this: cannot access static keys)")
