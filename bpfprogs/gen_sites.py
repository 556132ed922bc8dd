#!/usr/bin/env python3
"""List the static-branch sites of bpfprogs/*.o as linked programs (pyelftools only).

Independent of skv's `model` package on purpose: it is the cross-check for the
hand-written `sites` in manifest.json.

Layout rule (as libbpf does it): a program is its entry function's instructions, then
every .text subprogram it calls, appended depth-first in order of first call; pcs are
slot (8-byte) indices in that linked program.

Sites come from
  * `.jump_table` (2023) and `.static_keys` (2025): 16-byte entries whose words at +0/+4
    hold section byte offsets of the site and its target (relocated against the code
    section) and whose +8 word is relocated against the key map; bit 0 of that addend is
    the inverse flag.
  * 2024: JA instructions (opcode 0x05 or 0x06) with a nonzero src_reg; flag 1 =
    gotol_or_nop (a jump now: inverse), 3 = nop_or_gotol (a nop now: normal).  These
    have no key; each gets the synthetic key "<program>@pc<N>".

Usage:  gen_sites.py [X.o ...]              print sites as JSON
        gen_sites.py --check manifest.json   compare with the manifest; exit 1 on mismatch
"""
import glob
import json
import os
import re
import struct
import sys

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = {".jump_table": "2023", ".static_keys": "2025"}


class Obj:
    def __init__(self, path):
        self.path = path
        f = open(path, "rb")
        self.elf = ELFFile(f)
        self.symtab = self.elf.get_section_by_name(".symtab")
        self.syms = list(self.symtab.iter_symbols())
        self.funcs = {}      # (shndx, name) -> (value, size)
        for s in self.syms:
            if s["st_info"]["type"] == "STT_FUNC":
                self.funcs[s.name] = (s["st_shndx"], s["st_value"], s["st_size"])
        self.relocs = {}     # section index -> {offset: (symbol, type)}
        for sec in self.elf.iter_sections():
            if isinstance(sec, RelocationSection):
                tgt = sec["sh_info"]
                d = self.relocs.setdefault(tgt, {})
                for r in sec.iter_relocations():
                    d[r["r_offset"]] = (self.syms[r["r_info_sym"]], r["r_info_type"])

    def code(self, shndx):
        return self.elf.get_section(shndx).data()

    def func_at(self, shndx, off):
        for name, (sh, val, size) in self.funcs.items():
            if sh == shndx and val <= off < val + size:
                return name
        return None

    def programs(self):
        out = []
        for name, (sh, val, size) in self.funcs.items():
            sec = self.elf.get_section(sh)
            if sec.name != ".text" and sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                out.append(name)
        return sorted(out, key=lambda n: (self.funcs[n][0], self.funcs[n][1]))

    def calls(self, fname):
        """Callees of fname in instruction order (bpf-to-bpf calls only)."""
        sh, val, size = self.funcs[fname]
        code = self.code(sh)
        rel = self.relocs.get(sh, {})
        out = []
        off = val
        while off < val + size:
            op, regs, _o, imm = struct.unpack_from("<BBhi", code, off)
            if op == 0x85 and (regs >> 4) == 1:        # BPF_PSEUDO_CALL
                if off in rel:
                    sym = rel[off][0]
                    tsh = sym["st_shndx"]
                    toff = sym["st_value"] + (imm + 1) * 8
                else:
                    tsh, toff = sh, off + (imm + 1) * 8
                callee = self.func_at(tsh, toff)
                if callee is None:
                    raise SystemExit(f"{self.path}: call at {fname}+{off - val} to nowhere")
                out.append(callee)
            off += 16 if op == 0x18 else 8
        return out

    def layout(self, prog):
        """[(func, base_pc)] of the linked program, entry first."""
        order, base = [], {}
        pc = 0

        def visit(fn):
            nonlocal pc
            base[fn] = pc
            order.append((fn, pc))
            pc += self.funcs[fn][2] // 8
            for callee in self.calls(fn):
                if callee not in base:
                    visit(callee)
        visit(prog)
        return order

    def linked_pc(self, layout, shndx, off):
        fn = self.func_at(shndx, off)
        for name, base in layout:
            if name == fn:
                return base + (off - self.funcs[fn][1]) // 8
        return None

    def sites(self, prog):
        lay = self.layout(prog)
        funcs = {n for n, _ in lay}
        sites, design = [], None
        for tname, tdesign in TABLES.items():
            sec = self.elf.get_section_by_name(tname)
            if sec is None:
                continue
            data = sec.data()
            rel = self.relocs.get(self.elf.get_section_index(tname), {})
            for e in range(0, len(data), 16):
                site_off, tgt_off, key_add = struct.unpack_from("<IIQ", data, e)
                ssym, tsym, ksym = rel[e][0], rel[e + 4][0], rel[e + 8][0]
                ssh = ssym["st_shndx"]
                site_off += ssym["st_value"]
                tgt_off += tsym["st_value"]
                if self.func_at(ssh, site_off) not in funcs:
                    continue
                design = tdesign
                sites.append({"pc": self.linked_pc(lay, ssh, site_off),
                              "key": ksym.name,
                              "inverse": bool(key_add & 1),
                              "target": self.linked_pc(lay, tsym["st_shndx"], tgt_off)})
        for fn, base in lay:                       # 2024: flags in the JA itself
            sh, val, size = self.funcs[fn]
            code = self.code(sh)
            off = val
            while off < val + size:
                op, regs, o16, imm = struct.unpack_from("<BBhi", code, off)
                src = regs >> 4
                if op in (0x05, 0x06) and src:
                    pc = base + (off - val) // 8
                    dist = imm if op == 0x06 else o16
                    design = "2024"
                    sites.append({"pc": pc, "key": f"{prog}@pc{pc}",
                                  "inverse": src == 1, "target": pc + 1 + dist})
                off += 16 if op == 0x18 else 8
        sites.sort(key=lambda s: s["pc"])
        total = sum(self.funcs[f][2] // 8 for f, _ in lay)
        return {"section": self.elf.get_section(self.funcs[prog][0]).name,
                "layout": [[f, b] for f, b in lay], "slots": total,
                "design": design, "sites": sites}


def scan(paths):
    out = {}
    for p in paths:
        o = Obj(p)
        out[os.path.basename(p)] = {prog: o.sites(prog) for prog in o.programs()}
    return out


def count_sites(path):
    """Table entries plus flagged JAs in the whole object (each site counted once)."""
    o = Obj(path)
    n = 0
    for tname in TABLES:
        sec = o.elf.get_section_by_name(tname)
        if sec is not None:
            n += sec.data_size // 16
    for sec in o.elf.iter_sections():
        if sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
            code, off = sec.data(), 0
            while off < len(code):
                op, regs = code[off], code[off + 1]
                if op in (0x05, 0x06) and regs >> 4:
                    n += 1
                off += 16 if op == 0x18 else 8
    return n


API_HEADERS = {"bpf_static_keys.h", "static_keys.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def source_text(path):
    """The text of a source with its local `#include "..."` files expanded in place
    (recursively, each file once): the order __COUNTER__ sees the macros in. The
    static-key API headers (which define the macros) are left out."""
    seen = set()

    def expand(p):
        p = os.path.abspath(p)
        if p in seen or not os.path.exists(p) or os.path.basename(p) in API_HEADERS:
            return ""
        seen.add(p)
        text = open(p).read()
        return INCLUDE.sub(lambda m: expand(os.path.join(os.path.dirname(p), m.group(1))), text)
    return expand(path)


def check(manifest_path):
    man = json.load(open(manifest_path))
    base = os.path.dirname(os.path.abspath(manifest_path))
    found = scan(sorted(glob.glob(os.path.join(base, "*.o"))))
    bad = 0
    listed = set()
    for p in man["programs"]:
        listed.add((p["object"], p["program"]))
        got = found.get(p["object"], {}).get(p["program"])
        if got is None:
            print(f"MISSING {p['object']}:{p['program']}")
            bad += 1
            continue
        want = sorted(p["sites"], key=lambda s: s["pc"])
        if want != got["sites"] or p["section"] != got["section"]:
            print(f"DIFF {p['object']}:{p['program']}\n  manifest {want}\n  elf      {got['sites']}")
            bad += 1
    for obj, progs in found.items():
        for prog in progs:
            if (obj, prog) not in listed:
                print(f"UNLISTED {obj}:{prog}")
                bad += 1
    # structure: one table entry / flagged JA per branch macro in the source, i.e. the
    # compiler neither duplicated nor dropped a site
    macro = re.compile(r"bpf_static_branch_(?:un)?likely(?:_2025|_2024)?\s*\(")
    for obj in sorted(found):
        src = os.path.join(base, obj[:-2] + ".c")
        n_src = len(macro.findall(source_text(src))) if os.path.exists(src) else None
        n_elf = count_sites(os.path.join(base, obj))
        if n_src != n_elf:
            print(f"SITE COUNT {obj}: {n_elf} in the object, {n_src} macros in the source")
            bad += 1
    print(f"gen_sites: {len(listed)} programs checked, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--check"]:
        sys.exit(check(args[1] if len(args) > 1 else os.path.join(HERE, "manifest.json")))
    paths = args or sorted(glob.glob(os.path.join(HERE, "*.o")))
    json.dump(scan(paths), sys.stdout, indent=1)
    print()
