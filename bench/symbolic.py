"""Symbolic engine at scale: a generated program with 16 keys and 64 sites, where some sites
guard unsafe accesses that depend on combinations of keys (a pointer clobbered by one site
and dereferenced by a later one unless another restored it; an index grown by one site and
used by another). The engine computes the exact M0 unsafe set as cubes; we check it against
the real kernel on 200 random materialised assignments (model.materialize +
model.kernel.objload.verdict) and against our abstract verifier on a sample, and compare
the time with enumerating all 2^16 materialised assignments through our abstract verifier
(estimated from a timed random sample). Results: bench/results/symbolic.json;
``--keys 20`` (and ``--sites``) writes bench/results/symbolic_20keys_64sites.json."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from model.elf.loader import load_image
from model.elf.reader import parse_elf
from model.elf.writer import ProgSpec, build_object
from model.isa import Alu, Call, Exit, Jump, Load, LoadImm64
from model.isa.insn import Store
from model.materialize import materialize
from model.program import MapDef
from model.symbolic import analyse_program
from model.verifier.checker import check_program

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "symbolic.json"
KEYS, SITES, KERNEL_SAMPLE, ENUM_SAMPLE = 16, 64, 200, 512
KINDS = ["clobber"] * 3 + ["restore"] * 3 + ["deref"] * 3 + ["grow"] * 2 + ["shrink"] * 2 \
    + ["index"] * 3


def body(kind: str, i: int):
    """What a site's on-edge runs: r6 = value pointer, r7 = maybe clobbered copy,
    r8 = offset (0 or 16 into a 16-byte value)."""
    return {"noise": [Alu("add", True, 9, imm=i)],
            "clobber": [Alu("mov", True, 7, imm=0)],
            "restore": [Alu("mov", True, 7, src=6)],
            "deref": [Load(8, 1, 7, 0)],
            "grow": [Alu("mov", True, 8, imm=16)],
            "shrink": [Alu("mov", True, 8, imm=0)],
            "index": [Alu("mov", True, 2, src=6), Alu("add", True, 2, src=8),
                      Load(8, 1, 2, 0)]}[kind]


def generate(seed: int = 7, keys: int = KEYS, sites: int = SITES):
    rng = random.Random(seed)
    kinds = KINDS + ["noise"] * (sites - len(KINDS))
    rng.shuffle(kinds)
    insns = [Alu("mov", True, 1, imm=0), Store(4, 10, -4, src=1),
             Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-4),
             LoadImm64(1, src=1), Call(0, 1), Jump("jeq", False, 0, imm=0, off=0),
             Alu("mov", True, 6, src=0), Alu("mov", True, 7, src=0),
             Alu("mov", True, 8, imm=0), Alu("mov", True, 9, imm=0),
             Alu("mov", True, 1, imm=0), Alu("mov", True, 2, src=0)]
    null_jump = 7  # slot of the `if r0 == 0` (ld_imm64 takes two slots)
    spec_sites, layout = [], []
    slot = sum(i.slots for i in insns)
    for i, kind in enumerate(kinds):
        b = body(kind, i)
        key = f"key{rng.randrange(keys)}"
        spec_sites.append((slot, slot + 2, key, False))
        insns += [Jump("ja", False), Jump("ja", False, off=len(b))] + b
        layout.append((key, kind))
        slot += 2 + len(b)
    end = slot
    insns[6] = Jump("jeq", False, 0, imm=0, off=end - null_jump - 1)
    insns += [Alu("mov", True, 0, imm=0), Exit()]
    spec = ProgSpec("socket", "gen_keys", insns, spec_sites, {4: "vals"})
    maps = [MapDef(f"key{k}", 2, 4, 4, 1, 1 << 15) for k in range(keys)]
    maps.append(MapDef("vals", 2, 4, 16, 1))
    obj = load_image(parse_elf(build_object([spec], maps), "gen_keys"))
    return obj, obj.programs[0], layout


def unsafe(cubes, a):
    return any(all(a.get(k) == v for k, v in c.items()) for c in cubes)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=KEYS)
    ap.add_argument("--sites", type=int, default=SITES)
    ap.add_argument("--out", default=None,
                    help="result file (default bench/results/symbolic.json, or "
                         "symbolic_<keys>keys.json for another key count)")
    a = ap.parse_args(argv)
    results = Path(a.out) if a.out else RESULTS if (a.keys, a.sites) == (KEYS, SITES) \
        else RESULTS.with_name(f"symbolic_{a.keys}keys_{a.sites}sites.json")
    obj, prog, layout = generate(keys=a.keys, sites=a.sites)
    keys = prog.keys()
    t0 = time.perf_counter()
    doc = analyse_program(obj, prog)
    sym_s = time.perf_counter() - t0
    cubes = doc["models"]["M0"]["unsafe_when"]
    print(f"{len(keys)} keys, {len(prog.sites)} sites, {prog.n_slots} insns: symbolic "
          f"{sym_s:.2f} s ({doc['stats']['steps']} steps, {doc['stats']['merges']} merges, "
          f"{len(cubes)} cubes, complete={doc['complete']})")
    rng = random.Random(1)
    sample = [{k: rng.randrange(2) for k in keys} for _ in range(ENUM_SAMPLE)]
    t0 = time.perf_counter()
    ours = [check_program(obj, materialize(prog, keys={k: bool(v) for k, v in a.items()}))
            for a in sample]
    enum_s = (time.perf_counter() - t0) * (1 << len(keys)) / len(sample)
    abs_agree = sum(v.accepted != unsafe(cubes, a) for v, a in zip(ours, sample))
    frac = sum(unsafe(cubes, a) for a in sample) / len(sample)
    print(f"unsafe fraction (sample) {frac:.2f}; abstract verifier agrees on "
          f"{abs_agree}/{len(sample)}; enumerating 2^{len(keys)} estimated {enum_s:.1f} s "
          f"-> ratio {enum_s / sym_s:.1f}x")
    kernel = {"checked": 0, "agree": 0, "disagreements": []}
    try:
        from model.kernel import available
        from model.kernel.objload import verdict

        ok, why = available()
        if not ok:
            raise RuntimeError(why)
        for a in sample[:KERNEL_SAMPLE]:
            accepted, _ = verdict(obj, prog, {k: bool(v) for k, v in a.items()})
            kernel["checked"] += 1
            if accepted != unsafe(cubes, a):
                kernel["agree"] += 1
            else:
                kernel["disagreements"].append(a)
        print(f"kernel agrees on {kernel['agree']}/{kernel['checked']} sampled assignments")
    except Exception as e:  # no bpf(2): say so, keep the rest
        kernel["skipped"] = str(e)
        print(f"kernel comparison skipped: {e}")
    out = {"keys": len(keys), "sites": len(prog.sites), "insns": prog.n_slots,
           "layout": [{"key": k, "kind": kind} for k, kind in layout if kind != "noise"],
           "symbolic_s": round(sym_s, 3), "symbolic_stats": doc["stats"],
           "complete": doc["complete"], "m0_cubes": cubes,
           "m1_safe": doc["models"]["M1"]["safe"], "m2_safe": doc["models"]["M2"]["safe"],
           "counterexample_confirmed": bool(doc["counterexample"] and
                                            doc["counterexample"]["confirmed"]),
           "unsafe_fraction_in_sample": frac,
           "enumeration": {"assignments": 1 << len(keys), "measured": len(sample),
                           "estimated": True, "estimated_s": round(enum_s, 2),
                           "abstract_verifier_agrees": abs_agree},
           "ratio_enumeration_to_symbolic": round(enum_s / sym_s, 1),
           "kernel": kernel}
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
