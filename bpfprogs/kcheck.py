#!/usr/bin/env python3
"""Validate bpfprogs/ against the running (stock) Linux kernel with bpftool.

A stock kernel knows nothing of static keys, so each source is rebuilt in two variants
(see bpf_static_keys.h):

  SKV_PLAIN   every site reads its own slot of the read-only global `__skv_sites[]`.
              libbpf freezes .rodata, so the verifier sees each slot as a constant and
              explores only the live edge.  Patching the slots in the ELF gives one
              load per assignment: M0 (all sites of a key agree) and M1 (every site free).
  SKV_OPAQUE  every site is `if r10 == 0 goto l_yes`, which the verifier never decides,
              so it explores both edges on every execution: acceptance means safe under
              M2 (per-execution states).

Site slots follow the textual order of the branch macros in the .c file (__COUNTER__).
Accepted programs of runnable types are also run once with BPF_PROG_TEST_RUN
(`bpftool prog run`) and their r0 compared with manifest.json's `runs`.

Objects with more than MAX_EXHAUSTIVE sites (the datapath) are checked on a seeded
sample instead of every assignment: M0 all keys off, all on, each key alone on, each key
alone off and SAMPLE random assignments; M1 SAMPLE random site assignments.

Usage: kcheck.py [-v] [--json FILE] [--manifest FILE] [file.c ...]
       (needs root, bpftool, clang-19, pyelftools; --manifest: another directory's
       manifest.json, e.g. datapath/manifest.json, whose sources sit beside it)
Prints a table (-v: also the verifier's complaint for every rejection); --json writes
the full per-assignment results.  Pins live under /sys/fs/bpf/skv_kcheck and are removed.
Exit status 0 iff every verdict matches manifest.json.
"""
import itertools
import json
import random
import os
import re
import shutil
import subprocess
import sys
import tempfile

from elftools.elf.elffile import ELFFile

from gen_sites import source_text

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = HERE          # the manifest's directory (--manifest)
PIN = "/sys/fs/bpf/skv_kcheck"
SITE_RE = re.compile(r"bpf_static_branch_(?:un)?likely(?:_2025|_2024)?\s*\(\s*(?:&\s*(\w+))?\s*\)")
RUNNABLE = {"socket_filter", "xdp", "sched_cls"}
VERBOSE = False
MAX_EXHAUSTIVE = 12
SAMPLE = 32
SEED = 0


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def source_sites(path):
    """[(slot, key)] in textual order; 2024 sites (no key argument) get None."""
    text = source_text(path)
    return [(i, m.group(1)) for i, m in enumerate(SITE_RE.finditer(text))]


def manifest_keys(p, keyval):
    """Map kcheck's key names to the manifest's: 2024 sites have no key in the source
    (named "@slotN" here) and synthetic per-site keys in the manifest, in pc order."""
    if p["design"] != "2024":
        return keyval
    return dict(zip(p["keys"], keyval.values()))


def build(src, variant, out):
    r = sh(["clang-19", "-O2", "-g", "-target", "bpf", "-mcpu=v3", f"-D{variant}",
            "-Wno-unused-function", "-c", src, "-o", out], cwd=BASE)
    if r.returncode:
        raise SystemExit(f"build {src} {variant} failed:\n{r.stderr}")


def sites_array_offset(obj):
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols():
            if sym.name == "__skv_sites":
                sec = elf.get_section(sym["st_shndx"])
                if sec.name != ".rodata":
                    raise SystemExit(f"{obj}: __skv_sites is in {sec.name}, not .rodata")
                return sec["sh_offset"] + sym["st_value"]
    return None


def patched(obj, off, values, out):
    data = bytearray(open(obj, "rb").read())
    for slot, v in enumerate(values):
        data[off + 4 * slot: off + 4 * slot + 4] = (1 if v else 0).to_bytes(4, "little")
    open(out, "wb").write(data)


def load(obj, tag):
    """Load all programs of obj; return (ok, short_error, pin_dir)."""
    d = f"{PIN}/{tag}"
    unload(d)
    r = sh(["bpftool", "-d", "prog", "loadall", obj, d, "pinmaps", d + "_maps"])
    if r.returncode == 0:
        return True, "", d
    unload(d)
    log = (r.stdout + r.stderr).splitlines()
    stats = ("verification time", "stack depth", "processed ", "max_states", "-- END")
    err = ""
    if "-- END PROG LOAD LOG --" in log:   # the verifier's complaint ends its log
        for line in reversed(log[:log.index("-- END PROG LOAD LOG --")]):
            if line.strip() and not line.startswith(stats):
                err = line.strip()
                break
    if not err:
        err = next((l for l in reversed(log) if l.strip()), "?")
    return False, err, None


def unload(d):
    if d:   # unpinning drops the last reference
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(d + "_maps", ignore_errors=True)


def globals_of(d):
    """{name: value} of the object's .bss/.data variables, via `bpftool map dump`."""
    out = {}
    mdir = d + "_maps"
    for name in sorted(os.listdir(mdir)):
        if not name.endswith(("_bss", "_data")):
            continue
        r = sh(["bpftool", "-j", "map", "dump", "pinned", f"{mdir}/{name}"])
        for ent in json.loads(r.stdout or "[]"):
            for sec in ent.get("formatted", {}).get("value", {}).values():
                for var in sec:
                    out.update(var)
    return out


def test_run(pin_dir, prog, packet_hex):
    pkt = bytes.fromhex(packet_hex) if packet_hex else bytes(14)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(pkt)
        name = f.name
    try:
        r = sh(["bpftool", "prog", "run", "pinned", f"{pin_dir}/{prog}", "data_in", name])
    finally:
        os.unlink(name)
    m = re.search(r"Return value:\s*(-?\d+)", r.stdout + r.stderr)
    return int(m.group(1)) if m else None


def site_vectors(slot_key):
    """The site assignments to load: all of them, or for many sites a seeded sample
    (every M0 one named in the module doc, then SAMPLE random site vectors)."""
    n = len(slot_key)
    if n <= MAX_EXHAUSTIVE:
        return list(itertools.product([0, 1], repeat=n))
    keys = sorted(set(slot_key))
    rng = random.Random(SEED)
    picks = [{}, {k: 1 for k in keys}]
    picks += [{k: 1} for k in keys] + [{j: 1 for j in keys if j != k} for k in keys]
    picks += [{k: rng.randint(0, 1) for k in keys} for _ in range(SAMPLE)]
    out = [tuple(a.get(k, 0) for k in slot_key) for a in picks]
    out += [tuple(rng.randint(0, 1) for _ in range(n)) for _ in range(SAMPLE)]
    return list(dict.fromkeys(out))


def main(argv):
    global VERBOSE, BASE
    json_out = None
    while argv and argv[0].startswith("-"):
        if argv[0] == "-v":
            VERBOSE, argv = True, argv[1:]
        elif argv[0] == "--json" and len(argv) > 1:
            json_out, argv = argv[1], argv[2:]
        elif argv[0] == "--manifest" and len(argv) > 1:
            BASE, argv = os.path.dirname(os.path.abspath(argv[1])), argv[2:]
        else:
            raise SystemExit(__doc__)
    manifest = json.load(open(os.path.join(BASE, "manifest.json")))
    by_source = {}
    for p in manifest["programs"]:
        by_source.setdefault(p["source"], []).append(p)
    sequences = {}
    for q in manifest.get("sequences", []):
        sequences.setdefault(q["object"][:-2] + ".c", []).append(q)
    sources = argv or sorted(by_source)
    os.makedirs(PIN, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="skv_kcheck_")
    results, mismatches = {}, []
    try:
        for src in sources:
            progs = by_source[src]
            sites = source_sites(os.path.join(BASE, src))
            slot_key = [k if k is not None else f"@slot{s}" for s, k in sites]
            base = os.path.splitext(src)[0]
            plain, opaque = f"{tmp}/{base}.plain.o", f"{tmp}/{base}.opaque.o"
            build(src, "SKV_PLAIN", plain)
            build(src, "SKV_OPAQUE", opaque)
            off = sites_array_offset(plain)
            res = {"sites": slot_key, "M0": [], "M1": [], "M2": None, "runs": []}
            # --- M0 and M1: one load per site assignment ---------------------------
            for bits in site_vectors(slot_key):
                keyval = {}
                uniform = True
                for k, b in zip(slot_key, bits):
                    if keyval.setdefault(k, b) != b:
                        uniform = False
                obj = f"{tmp}/{base}.{''.join(map(str, bits)) or 'x'}.o"
                patched(plain, off, bits, obj)
                ok, err, d = load(obj, base)
                entry = {"sites": list(bits), "ok": ok, "error": err}
                if uniform:
                    entry["keys"] = keyval
                    if ok:
                        for p in progs:
                            kv = manifest_keys(p, keyval)
                            for run in p.get("runs", []):
                                if p["prog_type"] not in RUNNABLE:
                                    continue
                                if any(kv.get(k) != v for k, v in run["keys"].items()):
                                    continue
                                pkt = (run.get("ctx") or {}).get("packet")
                                if pkt is not None and len(pkt) < 28:
                                    continue     # test_run needs >= ETH_HLEN bytes
                                # a fresh load per run: globals start at zero
                                ok2, _, d2 = load(obj, base + "_run")
                                got = test_run(d2, p["program"], pkt) if ok2 else None
                                g = globals_of(d2) if ok2 else {}
                                unload(d2)
                                res["runs"].append({"program": p["program"], "keys": run["keys"],
                                                    "packet": pkt, "want": run["r0"], "got": got})
                                if got != run["r0"]:
                                    mismatches.append(f"{src}:{p['program']} run {run['keys']} "
                                                      f"packet {pkt}: r0 {got} != {run['r0']}")
                                for k, v in run.get("globals", {}).items():
                                    if g.get(k) != v:
                                        mismatches.append(f"{src}:{p['program']} run {run['keys']}"
                                                          f": global {k} {g.get(k)} != {v}")
                        for seq in sequences.get(src, []):
                            if any(keyval.get(k) != v for k, v in seq["keys"].items()):
                                continue
                            ok2, _, d2 = load(obj, base + "_seq")
                            rs = [test_run(d2, st["program"], None) for st in seq["steps"]]
                            g = globals_of(d2)
                            unload(d2)
                            good = (rs == [st["r0"] for st in seq["steps"]] and
                                    all(g.get(k) == v for k, v in seq["globals_after"].items()))
                            res["runs"].append({"sequence": seq["name"], "want": True, "got": good})
                            if not good:
                                mismatches.append(f"{src}: sequence {seq['name']}: r0s {rs}, "
                                                  f"globals {g}")
                res["M1"].append(entry)
                if uniform:
                    res["M0"].append(entry)
                unload(d)
            # --- M2: both edges of every execution ---------------------------------
            ok, err, d = load(opaque, base + "_opaque")
            unload(d)
            res["M2"] = {"ok": ok, "error": err}
            results[src] = res
            # --- compare with the manifest ----------------------------------------
            # bpftool loads the whole object, so one rejected program rejects it: the
            # object is expected safe in a model iff every program is, and an M0
            # assignment is expected rejected iff it matches a cube of some program
            m0_safe = all(e["ok"] for e in res["M0"])
            m1_safe = all(e["ok"] for e in res["M1"])
            got = {"M0": m0_safe, "M1": m1_safe, "M2": ok}
            for model in ("M0", "M1", "M2"):
                want = all(p["expect"][model]["safe"] for p in progs)
                if want != got[model]:
                    mismatches.append(f"{src} {model} kernel says "
                                      f"{'safe' if got[model] else 'unsafe'}")
            for e in res["M0"]:
                hit = [p["program"] for p in progs
                       if any(all(manifest_keys(p, e["keys"]).get(k) == v
                                  for k, v in cube.items())
                              for cube in p["expect"]["M0"]["unsafe_when"])]
                if bool(hit) == e["ok"]:
                    mismatches.append(f"{src} M0 {e['keys']}: kernel "
                                      f"{'accepts' if e['ok'] else 'rejects'}"
                                      f" (manifest cubes of: {hit or 'none'})")
            line = (f"{src:24} sites={len(sites)} "
                    f"M0 {sum(e['ok'] for e in res['M0'])}/{len(res['M0'])} accepted, "
                    f"M1 {sum(e['ok'] for e in res['M1'])}/{len(res['M1'])}, "
                    f"M2 {'accepted' if ok else 'rejected'}, "
                    f"runs {sum(r['got'] == r['want'] for r in res['runs'])}/{len(res['runs'])} ok")
            print(line)
            if VERBOSE:
                for e in res["M1"]:
                    if not e["ok"]:
                        print(f"    reject sites={e['sites']}: {e['error']}")
                if not ok:
                    print(f"    M2 reject: {err}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(PIN, ignore_errors=True)
    if json_out:
        json.dump(results, open(json_out, "w"), indent=1, sort_keys=True)
    for m in mismatches:
        print("MISMATCH", m)
    print("kcheck:", "all verdicts match manifest.json" if not mismatches
          else f"{len(mismatches)} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
