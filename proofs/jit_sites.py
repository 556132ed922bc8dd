"""Are the JIT's static-branch sites pokeable? Suspected problems (a)-(d) of the proposed
2023 patches (/work/shared/reference/x86-poking.md, "Requirements on a pokeable site"),
checked against the JIT model ``model.x86.jit`` with ``design="patch2023"`` and
``design="fixed"``.

Run ``python -m proofs.jit_sites [--quick] [--out DIR]``.

Each claim is "this problem cannot happen" (PROVED = harmless) and is decided by Z3 over the
JIT's size rules, written here as Z3 terms and first checked against the JIT model on
concrete programs (an encoding that disagrees with ``model.x86.jit`` makes the claim
FAILED, never a wrong answer). Every COUNTEREXAMPLE is then made concrete and confirmed:

(a) poke sizing: the poke writes ``is_imm8`` (-128..127) sized bytes while the JIT reserved
    by its -128..123 rule. Z3 over the jump displacement and the site address enumerates
    every displacement where the poke length differs from the JIT's length or the poked
    jump misses the target (patch2023: exactly 124..127). Confirmed per displacement on a
    real program (``r0 = 0; goto L; <124..127 bytes of w0/r0 += 1>; L: exit``, key on): JIT
    it, apply the record's poke (off, then on again) and run the image on unicorn: the
    2-byte NOP over a 5-byte jump leaves ``XX 00 00 00`` that executes as garbage, the
    2-byte jump lands 3 bytes short of its target.
(b) jump padding: Z3 over the displacement and the previous pass's length with padding on:
    the recorded ip is the start of the padding NOPs, not the jump. Confirmed on a program
    JITed with padding from pass 1 (as ``tests/test_jit.py`` does): poking at the recorded
    ip corrupts the NOPs and the program returns the wrong value.
(c) a site must have 2 or 5 bytes, the same in both states. patch2023: an initially-off
    (``ja +0``) site has no bytes: counterexample from ``bpfprogs/talk_unlikely.o`` (the
    record's poke writes nothing, so the key-on behaviour is unreachable by poking). fixed:
    PROVED by Z3 over the fixed JIT's size function for every displacement in the int32
    range, state, padding and previous length, plus every bundled program x every key
    assignment checked (2/5 bytes, no ``issues()``, same address and image in both states).
(d) two concurrent toggles of one key: ``model.x86.race.search_key`` on the key scenarios
    ``two-togglers-unlocked`` (COUNTEREXAMPLE, replayed with ``executor.replay_key`` and
    written as an ``skv replay`` file) and ``two-togglers-locked`` (PROVED).

The last line is the ``SKV-PROOF-SUMMARY`` (``proofs/runner.py``); exit status 1 when any
claim is not the expected result or a counterexample is not confirmed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import struct
import sys
import time

import z3

from model.isa import assemble
from model.program import Program, Site
from model.x86 import disasm, jit
from model.x86.emit import is_imm8, is_imm8_jmp_offset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPFPROGS = os.path.join(ROOT, "bpfprogs")
CEX, PROVED = "COUNTEREXAMPLE", "PROVED"
INT32 = (-(1 << 31), (1 << 31) - 1)


# -- Z3 terms of the JIT's size rules ------------------------------------------------------------
def z_jmp8(d):
    """``is_imm8_jmp_offset``: the JIT's rel8 rule."""
    return z3.And(d >= -128, d <= 123)


def z_imm8(d):
    """``is_imm8``: the 2023 poke routine's rule."""
    return z3.And(d >= -128, d <= 127)


def z_jit_len(d):
    """Bytes the JIT emits for ``ja`` with displacement d != 0 (no padding)."""
    return z3.If(z_jmp8(d), 2, 5)


def z_poke_len(design: str, d):
    """Bytes the design's poke record covers for displacement d."""
    return z3.If(z_imm8(d), 2, 5) if design == "patch2023" else z_jit_len(d)


def z_fixed_len(d, padding, prev):
    """The fixed design's site length: 2/5 by the JIT's rule, never shrinking once padding
    is on (``prev`` = the previous pass's length)."""
    n = z_jit_len(d)
    return z3.If(z3.And(padding, prev > n), prev, n)


def z_site_len(design: str, d, on, padding, prev):
    """Recorded length of a site in state ``on`` (jumps initially) for the design."""
    if design == "fixed":
        return z_fixed_len(d, padding, prev)
    return z3.If(z3.And(on, d != 0), z_poke_len("patch2023", d), 0)


def predicates_match() -> str:
    """The Z3 rel8 rules against the model's Python predicates (``model.x86.emit``) on
    -300..300 and the int32 ends: "" when they agree, else the first disagreement."""
    v = z3.Int("v")
    for x in list(range(-300, 301)) + list(INT32):
        for zt, py in ((z_jmp8, is_imm8_jmp_offset), (z_imm8, is_imm8)):
            if z3.is_true(z3.simplify(z3.substitute(zt(v), (v, z3.IntVal(x))))) != py(x):
                return f"{zt.__name__}({x}) != {py.__name__}({x})"
    return ""


def _ev(m, x):
    return m.eval(x, model_completion=True).as_long()


# -- concrete programs ------------------------------------------------------------------------------
def site_prog(pad: list[str], name: str = "t") -> Program:
    """``r0 = 0; goto L; <pad>; L: exit`` with a normal (unlikely) site of key ``k`` at pc 1."""
    insns = assemble("r0 = 0\ngoto L\n" + "\n".join(pad) + "\nL:\nexit")
    return Program(name, "socket", insns,
                   sites=[Site(0, name, 1, len(insns) - 1, "k", False, "2023")])


def pad_for(disp: int) -> list[str]:
    """Instructions whose x86 code is exactly ``disp`` bytes (``r0 += 1`` = 4 bytes,
    ``w0 += 1`` = 3 bytes); the program returns their count when the site falls through."""
    m = (-disp) % 4
    k = (disp - 3 * m) // 4
    if k < 0:
        raise ValueError(f"cannot pad {disp} bytes")
    return ["r0 += 1"] * k + ["w0 += 1"] * m


def paddable(disp: int) -> bool:
    return disp >= 3 * ((-disp) % 4)


def displacement(s) -> int:
    """The JIT's displacement of a site's jump: target - end of the emitted instruction."""
    return s.target_address - (s.insn_address + s.insn_length)


@contextlib.contextmanager
def padding_from_pass(n: int):
    """Force jump padding from pass ``n`` (the kernel: 15), as tests/test_jit.py does."""
    mod = sys.modules["model.x86.jit"]
    old = mod.PADDING_PASSES
    mod.PADDING_PASSES = n
    try:
        yield
    finally:
        mod.PADDING_PASSES = old


# -- unicorn runner for JIT images -----------------------------------------------------------------
_CODE, _STACK, _STOP = 0x100000, 0x400000, 0x300000


def run_image(res, image: bytes | None = None, limit: int = 10_000) -> tuple[str, int | None]:
    """Run a JIT image (entry at offset 0) on unicorn: the return-thunk jumps go to a ``ret``
    stub. Returns ("ret", eax) or ("fault", why)."""
    from unicorn import UC_ARCH_X86, UC_MODE_64, Uc, UcError
    from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_RIP, UC_X86_REG_RSP

    img = bytearray(res.image if image is None else image)
    stub = len(img)
    img += b"\xc3"
    for off, kind, _ in res.relocs:
        if kind == "ret_thunk":
            img[off:off + 4] = struct.pack("<i", stub - (off + 4))
        else:
            raise ValueError(f"run_image: unsupported relocation {kind}")
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(_CODE, 0x10000)
    uc.mem_map(_STOP, 0x1000)
    uc.mem_map(_STACK, 0x10000)
    uc.mem_write(_CODE, bytes(img))
    sp = _STACK + 0x8000
    uc.mem_write(sp, _STOP.to_bytes(8, "little"))
    uc.reg_write(UC_X86_REG_RSP, sp)
    try:
        uc.emu_start(_CODE, _STOP, count=limit)
    except UcError as e:
        return "fault", f"{e} at +{uc.reg_read(UC_X86_REG_RIP) - _CODE:#x}"
    if uc.reg_read(UC_X86_REG_RIP) != _STOP:
        return "fault", "did not return"
    return "ret", uc.reg_read(UC_X86_REG_EAX)


def poke(image: bytes, at: int, data: bytes) -> bytes:
    b = bytearray(image)
    b[at:at + len(data)] = data
    return bytes(b)


def window(image: bytes, at: int, n: int = 3) -> str:
    """The first ``n`` instructions at ``at``, decoded by iced-x86."""
    lines = disasm(image[at:at + 16], ip=at)[:n]
    return "; ".join(" ".join(x.split()[2:]) + f" [{x.split()[1]}]" for x in lines)


def roundtrip(r, s) -> tuple:
    """From the JIT image (site initially on): run it; poke the record's off bytes at the
    recorded ip and run; poke the on bytes back and run. Returns the three results and
    the two poked images."""
    base = run_image(r)
    off_img = poke(r.image, s.address, s.off_bytes)
    on_img = poke(off_img, s.address, s.on_bytes)
    return base, run_image(r, off_img), run_image(r, on_img), off_img, on_img


# -- (a) ------------------------------------------------------------------------------------------------
def claim_a(design: str, quick: bool) -> dict:
    t0 = time.monotonic()
    # the encoding against the model: displacements 0..130 bytes (forward) and the site's
    # record length / emitted length as the Z3 terms say
    d = z3.Int("d")
    bad_pred = predicates_match()
    if bad_pred:
        return _claim(f"(a) poke sizing, {design}", "FAILED", CEX if design == "patch2023"
                      else PROVED, t0, f"Z3 rule disagrees with model.x86.emit: {bad_pred}")
    for disp in [x for x in list(range(3, 131, 1 if not quick else 3)) + [124, 125, 126, 127, 200]
                 if paddable(x)]:
        r = jit(site_prog(pad_for(disp)), design=design, keys={"k": True})
        (s,) = r.sites
        got = displacement(s)
        want_len = z3.simplify(z3.substitute(z_poke_len(design, d), (d, z3.IntVal(got))))
        want_jit = z3.simplify(z3.substitute(z_jit_len(d), (d, z3.IntVal(got))))
        emitted_ok = design != "fixed" or r.image[s.address:s.address + s.length] == s.on_bytes
        if got != disp or s.length != want_len.as_long() or s.insn_length != want_jit.as_long() \
                or not emitted_ok:
            return _claim(f"(a) poke sizing, {design}", "FAILED", CEX if design == "patch2023"
                          else PROVED, t0, f"Z3 size terms disagree with the JIT model at "
                          f"displacement {disp}: record {s.length}, emitted {s.insn_length}")
    # Z3: where does the poke write a different length than the JIT reserved, or a jump
    # that misses the target? (site address a: any, displacement: int32)
    a = z3.Int("a")
    S = z3.Solver()
    S.add(d >= INT32[0], d <= INT32[1], d != 0, a >= 0, a < (1 << 31),
          a + z_jit_len(d) + d >= 0)
    L, J = z_poke_len(design, d), z_jit_len(d)
    # the record's on bytes encode disp d in L bytes at a: destination a + L + d
    S.add(z3.Or(L != J, a + L + d != a + J + d))
    bad = []
    while S.check() == z3.sat and len(bad) < 64:
        m = S.model()
        bad.append((_ev(m, d), _ev(m, a)))
        S.add(d != bad[-1][0])
    zt = time.monotonic() - t0
    if not bad:
        # control: the same pokes at 120..130 run correctly on unicorn
        ctl = []
        for disp in (120, 123, 124, 125, 126, 127, 128, 130):
            r = jit(site_prog(pad_for(disp)), design=design, keys={"k": True})
            (s,) = r.sites
            base, got_off, got_on, _, _ = roundtrip(r, s)
            ctl.append(base == got_on == ("ret", 0) and got_off == ("ret", len(pad_for(disp))))
        if not all(ctl):
            return _claim(f"(a) poke sizing, {design}", "FAILED", PROVED if design == "fixed"
                          else CEX, t0, "Z3 proved it but a concrete poke went wrong on unicorn")
        return _claim(f"(a) poke sizing, {design}", PROVED, PROVED if design == "fixed" else CEX,
                      t0, "poke length = JIT length and the poked jump reaches the target for "
                      "every int32 displacement and site address; control: poke off/on at "
                      f"displacements 120..130 runs correctly on unicorn ({sum(ctl)}/{len(ctl)})")
    disps = sorted(x for x, _ in bad)
    # confirm every bad displacement on a real program
    confirms, lines = [], []
    for disp in disps if not quick else disps[:2] + disps[-1:]:
        k = len(pad_for(disp))
        r = jit(site_prog(pad_for(disp)), design=design, keys={"k": True})
        (s,) = r.sites
        img0 = r.image
        # key on (jumps, r0 = 0); the patch's poke key -> off; and back on
        base, got_off, got_on, off_img, on_img = roundtrip(r, s)
        ok = (base == ("ret", 0) and got_off != ("ret", k) and got_on != ("ret", 0)
              and bool(s.issues()))
        confirms.append(ok)
        lines.append(f"disp {disp}: JIT emitted {img0[s.address:s.address + s.insn_length].hex()}"
                     f", record ({s.address}, {s.length}); poke off -> "
                     f"{off_img[s.address:s.address + 5].hex()} = {window(off_img, s.address)}"
                     f" -> {_fmt(got_off)} (want ret {k}); poke on -> "
                     f"{on_img[s.address:s.address + 5].hex()} -> {_fmt(got_on)} (want ret 0)"
                     + ("" if ok else "  NOT CONFIRMED"))
    conf = all(confirms)
    detail = (f"Z3 ({zt:.2f}s): poke length != JIT length at displacements {_ranges(disps)}; "
              f"confirmed on unicorn: {sum(confirms)}/{len(confirms)}")
    return _claim(f"(a) poke sizing, {design}", CEX, CEX if design == "patch2023" else PROVED,
                  t0, detail, confirmed=conf, lines=lines,
                  witness={"displacements": disps})


# -- (b) ------------------------------------------------------------------------------------------------
def claim_b(design: str, quick: bool) -> dict:
    t0 = time.monotonic()
    name = f"(b) padding, {design}"
    d, prev, a = z3.Int("d"), z3.Int("prev"), z3.Int("a")

    def jump_start(design):
        """Where the jump starts, relative to the instruction's first byte, in the last
        pass with padding on (``prev``: the previous pass's length of the instruction)."""
        if design == "fixed":
            return z3.IntVal(0)  # the site never shrinks: no NOPs in front
        # emit_jmp: a rel8 jump that shrank from 5 is preceded by prev - 2 NOPs
        return z3.If(z3.And(z_jmp8(d), prev == 5), prev - 2, 0)

    def rec_len(design):
        return z_fixed_len(d, True, prev) if design == "fixed" else z_poke_len(design, d)

    # the encoding against the model: padded programs (padding from pass 1), displacements
    # 3..130; the previous pass's length of the instruction = its final length (stable)
    checked = 0
    for disp in [x for x in range(3, 131, 1 if not quick else 7) if paddable(x)] + [12]:
        with padding_from_pass(1):
            r = jit(site_prog(pad_for(disp)), design=design, keys={"k": True})
        (s,) = r.sites
        dd = displacement(s)
        subst = [(d, z3.IntVal(dd)), (prev, z3.IntVal(s.insn_length))]
        js = z3.simplify(z3.substitute(jump_start(design), *subst)).as_long()
        rl = z3.simplify(z3.substitute(rec_len(design), *subst)).as_long()
        jump_at = s.jump_address if s.jump_address is not None else s.insn_address
        if not r.padded or dd != disp or js != jump_at - s.insn_address or rl != s.length:
            return _claim(name, "FAILED", CEX if design == "patch2023" else PROVED, t0,
                          f"Z3 padding terms disagree with the JIT model at displacement "
                          f"{disp}: jump at +{js} vs +{jump_at - s.insn_address}, record "
                          f"{rl} vs {s.length}")
        checked += 1
    # (r, s: the 12-byte case, used below)
    S = z3.Solver()
    S.add(d >= INT32[0], d <= INT32[1], d != 0, z3.Or(prev == 2, prev == 5), a >= 0)
    # the recorded (ip = a, len) is not the one jump instruction (at a + jump_start)
    S.add(jump_start(design) != 0)
    if S.check() == z3.unsat:
        base, got_off, got_on, _, _ = roundtrip(r, s)
        k = len(pad_for(12))
        if not (base == got_on == ("ret", 0) and got_off == ("ret", k)):
            return _claim(name, "FAILED", PROVED if design == "fixed" else CEX, t0,
                          "Z3 proved it but poking the padded program went wrong on unicorn")
        return _claim(name, PROVED, PROVED if design == "fixed" else CEX, t0,
                      "with padding on, the recorded ip is the jump itself for every "
                      "displacement and previous length (the site never shrinks); encoding "
                      f"checked at {checked} padded programs; control: the padded program "
                      f"({r.image[s.address:s.address + s.length].hex()}) pokes off/on "
                      "correctly on unicorn")
    m = S.model()
    zd, zp = _ev(m, d), _ev(m, prev)
    # the whole bad set: exactly a rel8 displacement (d != 0) after a 5-byte previous pass
    E = z3.Solver()
    E.add(d >= INT32[0], d <= INT32[1], d != 0, z3.Or(prev == 2, prev == 5))
    E.add((jump_start(design) != 0) != z3.And(z_jmp8(d), prev == 5))
    exact = E.check() == z3.unsat
    # concrete: padding forced from pass 1; the site shrinks from 5 to 2 bytes
    k = len(pad_for(12))
    base, got_off, got_on, off_img, on_img = roundtrip(r, s)
    conf = bool(s.issues()) and base == ("ret", 0) and got_off != ("ret", k) \
        and got_on != ("ret", 0) and jump_at != s.address
    lines = [f"JIT (padding from pass 1): {r.image[s.insn_address:s.insn_address + s.insn_length].hex()}"
             f" = {window(r.image, s.insn_address)}; record ({s.address}, {s.length}), "
             f"jump at {jump_at}",
             f"poke off at the recorded ip -> {off_img[s.address:s.address + s.insn_length].hex()}"
             f" = {window(off_img, s.address)} -> {_fmt(got_off)} (want ret {k})",
             f"poke on at the recorded ip -> {on_img[s.address:s.address + s.insn_length].hex()}"
             f" = {window(on_img, s.address)} -> {_fmt(got_on)} (want ret 0)"]
    return _claim(name, CEX, CEX if design == "patch2023" else PROVED, t0,
                  f"Z3: displacement {zd}, previous length {zp}: the jump starts "
                  f"{zp - 2} bytes after the recorded ip"
                  + ("; bad set = exactly every rel8 displacement -128..123 (not 0) after a "
                     "5-byte pass" if exact else "") + f"; confirmed on unicorn: {conf}",
                  confirmed=conf, lines=lines, witness={"displacement": zd, "prev": zp})


# -- (c) ------------------------------------------------------------------------------------------------
def bundled(quick: bool):
    from model.elf.loader import load_object

    with open(os.path.join(BPFPROGS, "manifest.json")) as f:
        entries = json.load(f)["programs"]
    for e in entries:
        obj = load_object(os.path.join(BPFPROGS, e["object"]))
        yield e["object"], e["program"], obj.program(e["program"])


def claim_c(design: str, quick: bool) -> dict:
    t0 = time.monotonic()
    name = f"(c) 2/5 bytes in both states, {design}"
    d, prev, a = z3.Int("d"), z3.Int("prev"), z3.Int("a")
    on, pad = z3.Bool("on"), z3.Bool("padding")
    # the encoding against the model, both states, displacements 0..130
    for disp in [x for x in range(0, 131, 1 if not quick else 5) if paddable(x)]:
        for st in (False, True):
            r = jit(site_prog(pad_for(disp)), design=design, keys={"k": st})
            (s,) = r.sites
            sub = [(d, z3.IntVal(disp)), (on, z3.BoolVal(st)), (pad, z3.BoolVal(False)),
                   (prev, z3.IntVal(5))]
            want = z3.simplify(z3.substitute(z_site_len(design, d, on, pad, prev), *sub))
            if s.length != want.as_long():
                return _claim(name, "FAILED", CEX if design == "patch2023" else PROVED, t0,
                              f"Z3 size term disagrees with the JIT model at displacement "
                              f"{disp}, state {st}: {want} vs {s.length}")
    S = z3.Solver()
    S.add(d >= INT32[0], d <= INT32[1], z3.Or(prev == 2, prev == 5), a >= 0)
    n_on = z_site_len(design, d, z3.BoolVal(True), pad, prev)
    n_off = z_site_len(design, d, z3.BoolVal(False), pad, prev)
    n = z_site_len(design, d, on, pad, prev)
    # the on bytes must encode d in n bytes: rel8 needs -128..127
    S.add(z3.Or(z3.And(n != 2, n != 5), n_on != n_off, z3.And(n == 2, z3.Not(z_imm8(d)))))
    r = S.check()
    zt = time.monotonic() - t0
    # every bundled program, every key assignment
    nsites, zero, bad, seen0 = 0, [], [], None
    for obj, pname, p in bundled(quick):
        keys = p.keys()
        imgs = []
        for vals in itertools.product([False, True], repeat=len(keys)):
            res = jit(p, design=design, keys=dict(zip(keys, vals)))
            imgs.append((vals, res))
            for s in res.sites:
                nsites += 1
                if s.length == 0:
                    zero.append(f"{obj}:{pname} pc {s.bpf_pc} {dict(zip(keys, vals))}")
                    if seen0 is None and obj == "talk_unlikely.o":
                        seen0 = (p, keys, vals, res, s)
                if s.issues():
                    bad.append(f"{obj}:{pname} pc {s.bpf_pc}: {s.issues()[0]}")
        layouts = {(len(res.image), tuple((s.address, s.length) for s in res.sites))
                   for _, res in imgs}
        if len(layouts) > 1:
            bad.append(f"{obj}:{pname}: site layout differs between key states")
    if r == z3.unsat:
        ok_b = not bad
        return _claim(name, PROVED if ok_b else CEX, PROVED if design == "fixed" else CEX, t0,
                      f"Z3 ({zt:.2f}s): every site is 2 or 5 bytes, the same in both states, "
                      f"for every int32 displacement, padding and previous length; bundled: "
                      f"{nsites} sites over every key assignment, {len(bad)} with issues"
                      + (f": {bad[:3]}" if bad else ""), confirmed=ok_b if not ok_b else None)
    m = r == z3.sat and S.model()
    zd = _ev(m, d)
    zon = z3.is_true(m.eval(on, model_completion=True))
    if seen0 is None:
        return _claim(name, CEX, CEX if design == "patch2023" else PROVED, t0,
                      f"Z3: displacement {zd} gives a bad length, but talk_unlikely.o has no "
                      f"0-byte site to confirm it", confirmed=False)
    p, keys, vals, res, s = seen0
    # confirm: the record's poke (key -> on) writes nothing; the key-on JIT image is another
    # image (2 bytes longer): the key-on behaviour cannot be reached by poking
    poked = poke(res.image, s.address, s.on_bytes)
    res_on = jit(p, design=design, keys={k: True for k in keys})
    s_on = next(x for x in res_on.sites if x.bpf_pc == s.bpf_pc)
    conf = (s.on_bytes == b"" and poked == res.image and len(res_on.image) != len(res.image)
            and s.issues() != [])
    lines = [f"talk_unlikely.o key off: site pc {s.bpf_pc} record ({s.address}, {s.length}), "
             f"on bytes {s.on_bytes.hex() or '(none)'}; bytes at the site: "
             f"{window(res.image, s.address, 1)} (the next instruction)",
             f"poke key -> on leaves the image {'unchanged' if poked == res.image else 'changed'}"
             f"; the key-on JIT image is {len(res_on.image)} bytes vs {len(res.image)} "
             f"(site {res_on.image[s_on.address:s_on.address + s_on.length].hex()})",
             f"patch2023 0-byte sites over the bundled programs x key states: {len(zero)}/"
             f"{nsites}"]
    return _claim(name, CEX, CEX if design == "patch2023" else PROVED, t0,
                  f"Z3: displacement {zd}, state {'on' if zon else 'off'} -> length "
                  f"{_ev(m, n)}; talk_unlikely.o (key off) has a 0-byte site; {len(zero)}/"
                  f"{nsites} bundled sites x states have 0 bytes; confirmed: {conf}",
                  confirmed=conf, lines=lines, witness={"displacement": zd, "on": zon})


# -- (d) ------------------------------------------------------------------------------------------------
def claim_d(locked: bool, out: str | None) -> dict:
    from model.x86 import race
    from model.x86.executor import replay_key
    from model.x86.poke import KEY_SCENARIOS

    t0 = time.monotonic()
    nm = "two-togglers-locked" if locked else "two-togglers-unlocked"
    sc = next(s for s in KEY_SCENARIOS if s.name == nm)
    name = f"(d) concurrent toggles, {'per-key lock' if locked else 'no lock'}"
    exp = PROVED if locked else CEX
    r = race.search_key(sc)
    if r.status != CEX:
        return _claim(name, r.status, exp, t0,
                      f"race.search_key({nm}): {r.status} {r.detail}".strip())
    ks = r.schedule
    rep = replay_key(ks)
    path = ""
    if out:
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, f"key_{nm}.json")
        with open(path, "w") as f:
            json.dump(ks.to_json(), f, indent=1)
    conf = rep.confirmed and rep.states == ks.expect.get("final")
    return _claim(name, CEX, exp, t0,
                  f"race.search_key({nm}): final site states {ks.expect['final']}, replayed "
                  f"on unicorn: {rep.states} (confirmed: {conf})" + (f" -> {path}" if path else ""),
                  confirmed=conf, lines=rep.lines)


# -- output ------------------------------------------------------------------------------------------
def _fmt(r):
    return f"ret {r[1]}" if r[0] == "ret" else f"fault ({r[1]})"


def _ranges(xs):
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(f"{xs[i]}..{xs[j]}" if j > i else f"{xs[i]}")
        i = j + 1
    return ",".join(out)


def _claim(name, result, expected, t0, detail, confirmed=None, lines=(), witness=None):
    ok = result == expected and (result != CEX or confirmed is True)
    return {"claim": name, "result": result, "expected": expected, "ok": ok,
            "seconds": round(time.monotonic() - t0, 3), "detail": detail,
            "confirmed": confirmed, "witness": witness, "_lines": list(lines)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer concrete cross-checks (tests)")
    p.add_argument("--out", default="out/jit_sites_cex", help="directory for the (d) schedule")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    jobs = [(claim_a, d) for d in ("patch2023", "fixed")] + \
           [(claim_b, d) for d in ("patch2023", "fixed")] + \
           [(claim_c, d) for d in ("patch2023", "fixed")]
    claims = []
    print(f"{'claim':44} {'result':15} {'expected':15} {'time':>7}")
    for fn, d in jobs + [("d", False), ("d", True)]:
        try:
            c = claim_d(d, a.out) if fn == "d" else fn(d, a.quick)
        except Exception as e:  # report, don't lose the other claims
            c = _claim(f"{getattr(fn, '__name__', fn)} {d}", "FAILED", "?", time.monotonic(),
                       f"{type(e).__name__}: {e}")
        claims.append(c)
        mark = "" if c["ok"] else "  <-- UNEXPECTED"
        print(f"{c['claim']:44} {c['result']:15} {c['expected']:15} {c['seconds']:6.2f}s{mark}")
        print(f"    {c['detail']}")
        for ln in c["_lines"]:
            print(f"      {ln}")
        sys.stdout.flush()
    for c in claims:
        del c["_lines"]
    allok = all(c["ok"] for c in claims)
    print(f"\n{len(claims)} claims, {sum(not c['ok'] for c in claims)} unexpected, "
          f"{time.monotonic() - t0:.1f}s wall")
    print("SKV-PROOF-SUMMARY " + json.dumps({"script": "jit_sites", "ok": allok,
                                             "claims": claims}))
    return 0 if allok else 1


if __name__ == "__main__":
    sys.exit(main())
