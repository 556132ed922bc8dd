"""The object's ``.BTF`` as libbpf hands it to the kernel (``BPF_BTF_LOAD``).

clang leaves an object's BTF unfinished; libbpf completes it before loading
(``btf_fixup_datasec``, ``bpf_object__collect_externs``), and so does :func:`kernel_btf`:

* a DATASEC of a data section (``.data``, ``.bss``, ``.rodata*``, ``.maps``, ``license``,
  ...) has size 0 and its variables offset 0: the size becomes the ELF section's, each
  variable's offset its symbol's value, and the variables are sorted by offset;
* ``.ksyms`` (``__ksym`` externs): the kernel refuses an extern VAR or FUNC in a DATASEC.
  Every extern variable becomes an allocated ``int`` VAR, every extern function a global
  FUNC whose DATASEC slot names a dummy ``int`` VAR (``dummy_ksym``, added), its
  prototype's unnamed parameters get that name; slots are 4 bytes apart, size 4 x n;
* ``.kconfig`` (``__kconfig`` externs): each VAR allocated, at its offset in the
  ``.kconfig`` map's value (``model.elf.kconfig``), the size the value's;
* a global subprogram whose symbol is hidden (``__hidden``: STV_HIDDEN or STV_INTERNAL)
  becomes a static FUNC (libbpf's ``mark_btf_static``): the kernel then verifies it with
  its caller's arguments instead of on its own.

Type ids and string offsets of the original are kept (new types and strings are
appended), so ``.BTF.ext`` records and map key/value type ids stay valid. The blob is
edited as raw records; only what these fixups touch is rewritten. Problems are a
``BtfError``.
"""

from __future__ import annotations

import struct

from model.elf.btf import (ARRAY, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, INT,
                           STRUCT, UNION, VAR, VAR_GLOBAL_ALLOCATED, Btf, BtfError,
                           btf_blob)

BTF_FUNC_GLOBAL = 1
_INT_SIGNED = 1

# bytes past the 12-byte ``struct btf_type`` per kind: fixed, and per vlen entry
_FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_PER_VLEN = {STRUCT: 12, UNION: 12, ENUM: 8, ENUM64: 12, FUNC_PROTO: 8, DATASEC: 12}


class _Blob:
    """A BTF blob as editable type records (``offsets[id]`` into ``types``) and strings."""

    def __init__(self, data: bytes):
        hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", data, 4)
        base = hdr_len
        self.types = bytearray(data[base + type_off: base + type_off + type_len])
        self.strings = bytearray(data[base + str_off: base + str_off + str_len])
        self.offsets = [0]  # id 0 is void: no record
        pos = 0
        while pos < len(self.types):
            self.offsets.append(pos)
            info = struct.unpack_from("<I", self.types, pos + 4)[0]
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            pos += 12 + _FIXED.get(kind, 0) + _PER_VLEN.get(kind, 0) * vlen

    def word(self, tid: int, k: int) -> int:
        return struct.unpack_from("<I", self.types, self.offsets[tid] + 4 * k)[0]

    def set_word(self, tid: int, k: int, value: int) -> None:
        struct.pack_into("<I", self.types, self.offsets[tid] + 4 * k, value)

    def string(self, text: str) -> int:
        off = len(self.strings)
        self.strings += text.encode() + b"\0"
        return off

    def add(self, *words: int) -> int:
        self.offsets.append(len(self.types))
        self.types += struct.pack(f"<{len(words)}I", *words)
        return len(self.offsets) - 1

    def bytes(self) -> bytes:
        return btf_blob(self.types, self.strings)


def kernel_btf(data: bytes, btf: Btf, section_sizes: dict[str, int],
               symbols: dict[str, dict[str, int]], kconfig: dict[str, int] | None = None,
               kconfig_size: int = 0, hidden: frozenset = frozenset()) -> bytes:
    """``data`` (the raw ``.BTF``, parsed as ``btf``) with libbpf's fixups (module doc).

    ``section_sizes``: ELF section name -> size; ``symbols``: section name -> symbol name ->
    value; ``kconfig``: ``.kconfig`` extern name -> offset in its map's value; ``hidden``:
    the subprograms whose global symbol has hidden visibility (``__hidden``)."""
    blob = _Blob(bytes(data))
    if len(blob.offsets) != len(btf.types):
        raise BtfError(f"BTF has {len(btf.types) - 1} types but {len(blob.offsets) - 1} records")
    int_id = None
    for t in btf.types[1:]:
        if t.kind == FUNC and t.linkage == BTF_FUNC_GLOBAL and t.name in hidden:
            blob.set_word(t.id, 1, FUNC << 24)  # static: verified with its caller
        if t.kind != DATASEC:
            continue
        if t.name == ".ksyms":
            int_id = int_id or _int_type(blob, btf)
            _fix_ksyms(blob, btf, t, int_id)
        elif t.name == ".kconfig":
            _fix_vars(blob, btf, t, kconfig or {}, kconfig_size)
        elif not t.size:
            syms = symbols.get(t.name, {})
            _fix_vars(blob, btf, t, syms, section_sizes.get(t.name, 0))
    return blob.bytes()


def _secinfo(t, k: int) -> int:
    """Word index (in the DATASEC's record) of entry ``k``'s first word."""
    return 3 + 3 * k


def _fix_vars(blob: _Blob, btf: Btf, t, offsets: dict[str, int], size: int) -> None:
    """Offsets from ``offsets`` (by variable name), entries sorted, the section's size."""
    entries = []
    for k, vi in enumerate(t.members):
        var = btf.type(vi.type)
        off = offsets.get(var.name, vi.offset)
        if var.kind == VAR and t.name == ".kconfig":
            blob.set_word(var.id, 3, VAR_GLOBAL_ALLOCATED)
        entries.append((off, vi.type, vi.size))
    entries.sort()
    for k, (off, tid, sz) in enumerate(entries):
        w = _secinfo(t, k)
        blob.set_word(t.id, w, tid)
        blob.set_word(t.id, w + 1, off)
        blob.set_word(t.id, w + 2, sz)
    end = max((off + sz for off, _, sz in entries), default=0)
    blob.set_word(t.id, 2, size or t.size or end)


def _fix_ksyms(blob: _Blob, btf: Btf, t, int_id: int) -> None:
    dummy = None
    for k, vi in enumerate(t.members):
        ext = btf.type(vi.type)
        slot = vi.type
        if ext.kind == FUNC:
            if dummy is None:
                dummy = blob.add(blob.string("dummy_ksym"), VAR << 24, int_id,
                                 VAR_GLOBAL_ALLOCATED)
            proto = btf.type(ext.type)
            name_off = blob.word(dummy, 0)
            for j, param in enumerate(proto.members):
                if param.type and not param.name:
                    blob.set_word(proto.id, 3 + 2 * j, name_off)
            blob.set_word(ext.id, 1, (FUNC << 24) | BTF_FUNC_GLOBAL)
            slot = dummy
        elif ext.kind == VAR:
            blob.set_word(ext.id, 2, int_id)
            blob.set_word(ext.id, 3, VAR_GLOBAL_ALLOCATED)
        else:
            raise BtfError(f".ksyms entry {ext} is neither a VAR nor a FUNC")
        w = _secinfo(t, k)
        blob.set_word(t.id, w, slot)
        blob.set_word(t.id, w + 1, 4 * k)
        blob.set_word(t.id, w + 2, 4)
    blob.set_word(t.id, 2, 4 * len(t.members))


def _int_type(blob: _Blob, btf: Btf) -> int:
    """A 4-byte signed ``int`` of the object's BTF (added when there is none)."""
    for t in btf.types[1:]:
        if t.kind == INT and t.size == 4 and t.int_bits == 32 and t.int_encoding & _INT_SIGNED:
            return t.id
    return blob.add(blob.string("int"), INT << 24, 4, (_INT_SIGNED << 24) | 32)


__all__ = ["kernel_btf"]
