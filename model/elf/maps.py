"""The maps an object defines: BTF-defined (``.maps``), legacy (``maps``), and global data
(``.rodata``/``.data``/``.bss``, each one a single-entry ARRAY map whose value is the
section, as libbpf creates them)."""

from __future__ import annotations

import struct

from model.elf.reader import SHT_NOBITS, STB_WEAK, STT_NOTYPE, STT_OBJECT, ElfImage
from model.elf.sections import is_data_section
from model.platform.map_helpers import MAP_IN_MAP_IDS, VALUE_MAP_TYPES, map_type_name
from model.errors import SkvError
from model.program import BPF_MAP_TYPE_ARRAY, MapDef

LEGACY_DEF_SIZE = 20  # struct bpf_map_def: type, key_size, value_size, max_entries, map_flags
LEGACY_MIN_SIZE = 16  # the oldest loaders' record: no map_flags
MAX_MAP_ENTRIES = 1 << 32
#: KMALLOC_MAX_SIZE on x86-64 (4 KiB pages, MAX_PAGE_ORDER 10): no map type of the kernel
#: takes a larger value (array_map_alloc_check, htab_map_alloc_check refuse it with E2BIG)
MAX_VALUE_SIZE = 4 << 20
MAX_KEY_SIZE = 1 << 16


def read_maps(image: ElfImage) -> dict[str, MapDef]:
    """All maps of the object by name; raises ``LoadError`` for malformed definitions."""
    maps: dict[str, MapDef] = {}

    def add(m: MapDef) -> None:
        if m.name in maps:
            raise image.fail(f"map {m.name} is defined twice")
        maps[m.name] = m

    for m in _btf_maps(image):
        add(m)
    for m in _legacy_maps(image):
        add(m)
    _legacy_inner(maps)
    for m in _data_maps(image):
        add(m)
    for m in _kconfig_map(image):
        add(m)
    return maps


def _kconfig_map(image: ElfImage) -> list[MapDef]:
    """libbpf's ``.kconfig`` map, when the object has ``__kconfig`` externs."""
    btf_sec = image.section(".BTF")
    if btf_sec is None or b".kconfig" not in btf_sec.data:
        return []
    from model.elf.btf import parse_btf
    from model.elf.kconfig import KCONFIG_SECTION, kconfig_externs, kconfig_value

    weak = {s.name for s in image.symbols if s.bind == STB_WEAK}
    try:
        externs = kconfig_externs(parse_btf(btf_sec.data), weak)
    except SkvError as e:
        raise image.fail(str(e)) from None
    if not externs:
        return []
    value = kconfig_value(externs)
    return [MapDef(KCONFIG_SECTION, BPF_MAP_TYPE_ARRAY, 4, len(value), 1, 0,
                   section=KCONFIG_SECTION, origin="data", initial=value,
                   externs={e.name: e.offset for e in externs})]


def _btf_maps(image: ElfImage) -> list[MapDef]:
    sec = image.section(".maps")
    if sec is None:
        return []
    btf_sec = image.section(".BTF")
    if btf_sec is None:
        raise image.fail("section .maps needs .BTF to describe its maps, and there is none")
    from model.elf.btf import btf_map_defs, parse_btf

    try:
        defs = btf_map_defs(parse_btf(btf_sec.data))
    except SkvError as e:
        raise image.fail(f".BTF: {e}") from None
    syms = {s.name: s for s in image.symbols_in(sec.index) if s.type == STT_OBJECT}
    out = []
    for d in defs:
        sym = syms.get(d["name"])
        if sym is None:
            raise image.fail(f"map {d['name']} is in .BTF's .maps but has no symbol in "
                             "section .maps")
        # clang leaves DATASEC offsets at 0 in objects; the symbol has the real offset
        m = MapDef(name=d["name"], type=d["type"], key_size=d["key_size"],
                   value_size=d["value_size"], max_entries=d["max_entries"],
                   map_flags=d.get("map_flags", 0), section=".maps", offset=sym.value,
                   origin="btf", map_extra=d.get("map_extra", 0),
                   btf_key_type_id=d.get("key_type_id", 0),
                   btf_value_type_id=d.get("value_type_id", 0), fields=d.get("fields", ()))
        inner = d.get("inner")
        if inner is not None:  # libbpf's map-in-map template, named as libbpf names it
            t = MapDef(name=m.name + ".inner", type=inner["type"], key_size=inner["key_size"],
                       value_size=inner["value_size"], max_entries=inner["max_entries"],
                       map_flags=inner["map_flags"], section=".maps", offset=-1,
                       origin="inner", map_extra=inner["map_extra"],  # no symbol of its own
                       btf_key_type_id=inner.get("key_type_id", 0),
                       btf_value_type_id=inner.get("value_type_id", 0),
                       fields=inner.get("fields", ()))
            _check_shape(image, t)
            m.inner = t.name
        _check_shape(image, m)
        out.append(m)
        if inner is not None:
            out.append(t)
    return out


def _legacy_maps(image: ElfImage) -> list[MapDef]:
    """The ``maps`` section: one fixed-size record per map symbol. Records come in every
    size loaders have defined: libbpf's ``struct bpf_map_def`` (20 bytes: type, key_size,
    value_size, max_entries, map_flags), samples/bpf's (28: + inner_map_idx, numa_node),
    iproute2's ``struct bpf_elf_map`` (28: + id, pinning; 36: + inner_id, inner_idx).
    The first five fields are common to all; the rest are kept in ``legacy_extra``. The
    record size is the symbol's size, or (older clang leaves map symbols NOTYPE and
    sizeless) the section's size over its number of maps, as libbpf 0.x took it."""
    sec = image.section("maps")
    if sec is None:
        return []
    syms = sorted((s for s in image.symbols_in(sec.index)
                   if s.type in (STT_OBJECT, STT_NOTYPE) and s.name),
                  key=lambda s: s.value)
    if not syms:
        return []
    even = len(sec.data) // len(syms) if len(sec.data) % len(syms) == 0 else 0
    out = []
    for sym in syms:
        size = sym.size or even
        if not size:
            raise image.fail(f"legacy map {sym.name}: section maps ({len(sec.data)} bytes) "
                             f"does not divide into {len(syms)} equal map definitions")
        if size < LEGACY_MIN_SIZE or size % 4:
            raise image.fail(f"legacy map {sym.name}: a {size} byte definition is not a "
                             "struct bpf_map_def (at least 16 bytes, a multiple of 4)")
        if sym.value + size > len(sec.data):
            raise image.fail(f"legacy map {sym.name}: definition at offset {sym.value} runs past "
                             f"the end of section maps ({len(sec.data)} bytes)")
        words = struct.unpack_from(f"<{size // 4}I", sec.data, sym.value)
        t, ks, vs, me = words[:4]
        fl = words[4] if len(words) > 4 else 0
        m = MapDef(sym.name, t, ks, vs, me, fl, section="maps", offset=sym.value,
                   origin="legacy", legacy_extra=tuple(words[5:]))
        _check_shape(image, m)
        out.append(m)
    return out


def _legacy_inner(maps: dict[str, MapDef]) -> None:
    """iproute2's ``struct bpf_elf_map`` (36 bytes): an array/hash of maps names its inner
    map template by ``inner_id``, the ``id`` of another map of the object."""
    by_id = {m.legacy_extra[0]: m.name for m in maps.values()
             if m.origin == "legacy" and len(m.legacy_extra) == 4 and m.legacy_extra[0]}
    for m in maps.values():
        if m.origin == "legacy" and len(m.legacy_extra) == 4 and m.type in MAP_IN_MAP_IDS:
            inner_id = m.legacy_extra[2]
            if inner_id:
                m.inner = by_id.get(inner_id)


def _data_maps(image: ElfImage) -> list[MapDef]:
    out = []
    for sec in image.sections:
        if not is_data_section(sec.name) or sec.size == 0:
            continue
        initial = bytes(sec.size) if sec.type == SHT_NOBITS else sec.data
        out.append(MapDef(sec.name, BPF_MAP_TYPE_ARRAY, 4, sec.size, 1, 0, section=sec.name,
                          offset=0, origin="data", initial=initial,
                          fields=_datasec_fields(image, sec)))
    return out


def _datasec_fields(image: ElfImage, sec) -> tuple:
    """The special fields (a bpf_spin_lock...) of a global-data section's variables, as
    its BTF DATASEC describes them (the kernel's record of the map libbpf creates with it);
    a variable's offset comes from the symbol table (clang may leave the DATASEC's at 0)."""
    btf_sec = image.section(".BTF")
    if btf_sec is None:
        return ()
    from model.elf.btf import DATASEC, VAR, parse_btf, special_fields

    try:
        btf = parse_btf(btf_sec.data)
        ds = btf.find(sec.name, DATASEC)
        if ds is None:
            return ()
        syms = {s.name: s.value for s in image.symbols_in(sec.index)}
        out = []
        for vi in ds.members:
            var = btf.type(vi.type)
            if var.kind == VAR:
                out += special_fields(btf, var.type, syms.get(var.name, vi.offset))
        return tuple(out)
    except SkvError:  # BTF the kernel would refuse: libbpf creates the map without it
        return ()


def _check_shape(image: ElfImage, m: MapDef) -> None:
    if m.type <= 0:
        raise image.fail(f"map {m.name}: missing or invalid map type {m.type}")
    if m.max_entries >= MAX_MAP_ENTRIES:
        raise image.fail(f"map {m.name}: max_entries {m.max_entries} does not fit in 32 bits")
    if m.value_size > MAX_VALUE_SIZE:
        raise image.fail(f"map {m.name}: value_size {m.value_size} is over the "
                         f"{MAX_VALUE_SIZE} byte limit")
    if m.key_size > MAX_KEY_SIZE:
        raise image.fail(f"map {m.name}: key_size {m.key_size} is over the {MAX_KEY_SIZE} "
                         "byte limit")
    if m.key_size == 0 and map_type_name(m.type) in VALUE_MAP_TYPES:
        raise image.fail(f"map {m.name}: key_size 0 for a {map_type_name(m.type)} map (the "
                         "kernel refuses to create it)")
