"""Our abstract verifier against the kernel's on generated programs (``tests/vergen.py``).

Soundness: a program we accept and the kernel rejects for a safety reason fails the test
(printed in llvm-objdump syntax with both messages). Imprecision (we reject, the kernel
accepts) is counted and must stay under ``MAX_FALSE_REJECT_RATE``. On programs both
reject, the last line of our message equals the kernel's (numbers and register names aside)
in at least ``MIN_MESSAGE_AGREEMENT`` of them.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass

import pytest

from model.kernel import available
from vergen import VerProg, random_programs

N_PROGRAMS = 2500
SEED = 20250
MAX_FALSE_REJECT_RATE = 0.05
MIN_MESSAGE_AGREEMENT = 0.9

#: Kernel rejections that say nothing about safety (limits, unsupported features): when
#: only these separate us from the kernel, accepting is not a soundness bug.
NON_SAFETY = (
    re.compile(r"^processed \d+ insns"),
    re.compile(r"BPF program is too large"),
    re.compile(r"The sequence of \d+ jumps is too complex"),
    re.compile(r"unsupported|not supported", re.I),
    re.compile(r"^verification time"),
)

@dataclass
class Compared:
    prog: VerProg
    ours: bool
    kernel: bool
    our_msg: str
    kernel_msg: str
    our_insns: int
    our_time_s: float
    kernel_insns: int | None
    kernel_time_us: int | None

    @property
    def cls(self) -> str:
        return {(True, True): "both_accept", (False, False): "both_reject",
                (True, False): "false_accept", (False, True): "false_reject"}[
                    (self.ours, self.kernel)]

    def report(self) -> str:
        return (f"{self.cls} ({self.prog.prog_type}, snippets {self.prog.features})\n"
                f"  ours:   {'accept' if self.ours else 'reject: ' + self.our_msg}\n"
                f"  kernel: {'accept' if self.kernel else 'reject: ' + self.kernel_msg}\n"
                + self.prog.text())


def compare(vp: VerProg) -> Compared:
    from model.cfg import check_structure
    from model.kernel import rejection_reason
    from model.verifier.checker import check_program

    obj, prog = vp.model()
    check_structure(prog)
    v = check_program(obj, prog, log=False)
    k = vp.kernel_verify()
    return Compared(vp, v.accepted, k.ok, v.error.message if v.error else "",
                    "" if k.ok else rejection_reason(k.log), v.stats.insns_processed,
                    v.stats.time_s, k.insns_processed, k.verification_time_us)


def non_safety(kernel_msg: str) -> bool:
    return any(rx.search(kernel_msg) for rx in NON_SAFETY)


def _key(msg: str) -> str:
    """A message without its numbers and register names (for grouping and agreement)."""
    first = msg.splitlines()[-1] if msg else ""
    return re.sub(r"R\d+|-?\d+|0x[0-9a-f]+|\([^)]*\)", "#", first).strip()


def classify(results) -> dict:
    """Counts per class, false rejects' top reasons, message agreement of both-reject."""
    counts = collections.Counter(c.cls for c in results)
    fr = collections.Counter(_key(c.our_msg) for c in results if c.cls == "false_reject")
    both = [c for c in results if c.cls == "both_reject"]
    agree = sum(_key(c.our_msg) == _key(c.kernel_msg) for c in both)
    n = len(results)
    return {
        "programs": n, "counts": dict(counts),
        "false_reject_rate": counts["false_reject"] / n if n else 0.0,
        "top_false_reject_reasons": fr.most_common(10),
        "both_reject_message_agreement": agree / len(both) if both else 1.0,
        "unsafe_drawn": sum(c.prog.unsafe for c in results),
    }


def test_verifier_matches_kernel():
    ok, why = available()
    if not ok:
        pytest.skip(why)
    results = [compare(vp) for vp in random_programs(SEED, N_PROGRAMS)]
    bad = [c for c in results if c.cls == "false_accept" and not non_safety(c.kernel_msg)]
    summary = classify(results)
    print(f"\nverifier vs kernel on {summary['programs']} programs: {summary['counts']}; "
          f"false-reject rate {summary['false_reject_rate']:.2%}; both-reject message "
          f"agreement {summary['both_reject_message_agreement']:.1%}")
    for reason, n in summary["top_false_reject_reasons"]:
        print(f"  false reject x{n}: {reason}")
    assert not bad, (f"{len(bad)} programs we accept and the kernel rejects:\n\n"
                     + "\n\n".join(c.report() for c in bad[:5]))
    assert summary["false_reject_rate"] < MAX_FALSE_REJECT_RATE, summary
    assert summary["both_reject_message_agreement"] >= MIN_MESSAGE_AGREEMENT, summary
    # both verdicts occur, on each program type
    assert summary["counts"].get("both_accept", 0) > N_PROGRAMS // 5
    assert summary["counts"].get("both_reject", 0) > N_PROGRAMS // 5
    assert {c.prog.prog_type for c in results} == {"xdp", "sched_cls", "socket_filter"}


def test_generated_programs_are_well_formed():
    from hypothesis import given, settings

    from model.cfg import check_structure
    from vergen import programs

    @settings(max_examples=200, deadline=None)
    @given(programs())
    def check(vp):
        _, prog = vp.model()
        check_structure(prog)
        assert vp.text()

    check()
