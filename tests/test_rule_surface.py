"""skv against the real kernel on programs drawn from the kernel's whole rule surface
(tests/rulegen.py): every helper id, every map type, ctx/packet accesses of many program
types, NULL/size combinations, program structure, static sites mixed in.

Soundness only: a program skv accepts and the kernel rejects for a safety reason (anything
but a complexity limit, see ``rulecmp.NON_SAFETY``) fails the test, for the abstract
verifier on every program and for the Z3 engine (accept = M2 safe) on a seeded sample
(Z3 takes ~50 ms a program; the whole set would take minutes). A feature skv does not model
is a rejection, which is sound; skv crashing is reported and fails too (it must reject
cleanly). False rejects are counted and printed, not asserted: the rule surface is mostly
outside what skv models.

Runtime measured on the 2-core machine: 70-110 s for the whole file with Z3 on 600 (210 s
when other jobs load both cores; now 400: ~15 s less). Per program: kernel ~6 ms,
verifier ~5 ms, Z3 ~60 ms.
"""

from __future__ import annotations

import random

import pytest

from model.kernel import available
from rulecmp import compare, false_accept_classes, msg_key, table
from rulegen import CLASSES, random_programs

N_PROGRAMS = 5000
Z3_SAMPLE = 400
SEED = 20260


def _summary(results, engine: str) -> str:
    t = table(results, engine)
    lines = [f"{engine}: " + ", ".join(f"{k} {v}" for k, v in t["all"].items())]
    for cls in CLASSES:
        if cls in t:
            r = t[cls]
            lines.append(f"  {cls:10} drawn {r['drawn']:5} both-acc {r['both_accept']:4} "
                         f"both-rej {r['both_reject']:5} FA {r['false_accept_safety']:3} "
                         f"FR {r['false_reject']:4}")
    return "\n".join(lines)


def _failures(results, engine: str) -> list[str]:
    out = []
    for key, cs in false_accept_classes(results, engine).items():
        out.append(f"x{len(cs)} kernel: {key}\n" + cs[0].report(engine))
    return out


@pytest.fixture(scope="module")
def results():
    ok, why = available()
    if not ok:
        pytest.skip(why)
    rng = random.Random(SEED)
    z3_at = set(rng.sample(range(N_PROGRAMS), Z3_SAMPLE))
    out = []
    for i, rp in enumerate(random_programs(SEED, N_PROGRAMS)):
        c = compare(rp, z3=i in z3_at)
        if c is not None:
            out.append(c)
    return out


def test_generator_reaches_the_rule_surface(results):
    """Enough programs are loadable-or-judged, every class and both verdicts occur."""
    assert len(results) > 0.95 * N_PROGRAMS          # maps the kernel could not create
    t = table(results)
    assert set(CLASSES) <= set(t)
    assert t["all"]["both_accept"] + t["all"]["false_reject"] > N_PROGRAMS // 20
    assert t["with_sites"]["drawn"] > N_PROGRAMS // 5
    called = {f for c in results for f in c.prog.features if f.startswith("call#")}
    assert len(called) > 150                          # most helper ids are drawn
    kinds = {m.kind for c in results for m in c.prog.maps.values()}
    assert len(kinds) >= 25


def test_verifier_accepts_nothing_the_kernel_rejects(results):
    print("\n" + _summary(results, "ver"))
    crashes = [c for c in results if c.ver.crash]
    bad = _failures(results, "ver")
    assert not bad, f"{len(bad)} false-accept classes (verifier):\n\n" + "\n\n".join(bad)
    assert not crashes, crashes[0].ver.msg + "\n" + crashes[0].prog.text()


#: where both reject a program skv models, the last line of skv's message (numbers and
#: register names aside) equals the kernel's in at least this share of the programs
MIN_MESSAGE_AGREEMENT = 0.9


def test_verifier_messages_match_the_kernels(results):
    both = [c for c in results if c.ver_cls == "both_reject"
            and "not modelled" not in c.ver.msg]
    agree = [c for c in both if msg_key(c.ver.msg) == msg_key(c.kernel.msg)]
    not_modelled = sum(c.ver_cls == "both_reject" and "not modelled" in c.ver.msg
                       for c in results)
    print(f"\nboth reject, feature modelled: {len(both)}, message agreement "
          f"{len(agree) / len(both):.1%}; rejected as not modelled: {not_modelled}")
    assert len(both) > N_PROGRAMS // 5
    assert len(agree) >= MIN_MESSAGE_AGREEMENT * len(both)


def test_z3_engine_accepts_nothing_the_kernel_rejects(results):
    ran = [c for c in results if c.z3 is not None]
    assert len(ran) > 0.95 * Z3_SAMPLE
    print("\n" + _summary(ran, "z3"))
    crashes = [c for c in ran if c.z3.crash]
    bad = _failures(ran, "z3")
    assert not bad, f"{len(bad)} false-accept classes (Z3 engine):\n\n" + "\n\n".join(bad)
    assert not crashes, crashes[0].z3.msg + "\n" + crashes[0].prog.text()


def test_direct_value_rule_matches_kernel():
    """model.platform.direct_value says what the kernel says of ``r1 = &value + off``
    (ld_imm64 src 2) for several map shapes and offsets."""
    ok, why = available()
    if not ok:
        pytest.skip(why)
    from model.isa import Alu, Exit, LoadImm64, encode
    from model.kernel import map_create, rejection_reason, verify
    from model.kernel.bpf import MAP_TYPES
    from model.platform.direct_value import direct_value_error

    shapes = [("array", 1), ("array", 4), ("hash", 1), ("percpu_array", 1)]
    for kind, entries in shapes:
        with map_create(kind, 4, 16, entries) as m:
            for off in (0, 8, 15, 16, 64, -8, 1 << 29):
                insns = [LoadImm64(1, 2, 0, off), Alu("mov", True, 0, imm=0), Exit()]
                k = verify(encode(insns), "socket_filter", maps={0: m})
                ours = direct_value_error(MAP_TYPES[kind], entries, 16, off)
                assert (ours is None) == k.ok, (kind, entries, off, ours, k.log)
                if ours is not None:
                    assert ours == rejection_reason(k.log), (kind, entries, off)
