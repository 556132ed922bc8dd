"""Verdicts on one rule-surface program (tests/rulegen.py) from skv's abstract verifier,
skv's Z3 engine (accept = M2 safe) and the real kernel, and their classification.

A rejection by skv is any of: ``check_structure`` refuses the program, the verifier
rejects, an ``SkvError`` (e.g. "not modelled"). Anything else raised is a *crash*: counted
as a rejection for soundness (the program was not accepted) but listed, since skv must
never show a traceback.
"""

from __future__ import annotations

import collections
import re
import time
from dataclasses import dataclass

from rulegen import RuleProg

#: Kernel rejections that are limits, not safety: accepting such a program is no soundness
#: bug. Narrower than tests/test_verifier_kernel.py's (no "unsupported"): on the rule
#: surface an unsupported feature is a rule skv must know too.
NON_SAFETY = (
    re.compile(r"^processed \d+ insns"),
    re.compile(r"BPF program is too large"),
    re.compile(r"The sequence of \d+ jumps is too complex"),
    re.compile(r"^verification time"),
)


def non_safety(kernel_msg: str) -> bool:
    return any(rx.search(kernel_msg) for rx in NON_SAFETY)


@dataclass
class Verdict:
    ok: bool
    msg: str = ""
    crash: bool = False
    time_s: float = 0.0


@dataclass
class Compared:
    prog: RuleProg
    kernel: Verdict
    ver: Verdict
    z3: Verdict | None = None

    def cls_of(self, v: Verdict) -> str:
        return {(True, True): "both_accept", (False, False): "both_reject",
                (True, False): "false_accept", (False, True): "false_reject"}[
                    (v.ok, self.kernel.ok)]

    @property
    def ver_cls(self) -> str:
        return self.cls_of(self.ver)

    @property
    def z3_cls(self) -> str | None:
        return None if self.z3 is None else self.cls_of(self.z3)

    def unsound(self, engine: str = "ver") -> bool:
        v = self.ver if engine == "ver" else self.z3
        return (v is not None and v.ok and not self.kernel.ok
                and not non_safety(self.kernel.msg))

    def report(self, engine: str = "ver") -> str:
        v = self.ver if engine == "ver" else self.z3
        return (f"{self.cls_of(v)} by {'verifier' if engine == 'ver' else 'Z3 engine'}\n"
                f"  skv:    {'accept' if v.ok else 'reject: ' + v.msg}\n"
                f"  kernel: {'accept' if self.kernel.ok else 'reject: ' + self.kernel.msg}\n"
                + self.prog.text())


def _skv(rp: RuleProg, run):
    from model.errors import SkvError

    t0 = time.perf_counter()
    try:
        obj, prog = rp.model()  # both engines run the kernel's structural checks themselves
        ok, msg = run(obj, prog)
        return Verdict(ok, msg, time_s=time.perf_counter() - t0)
    except SkvError as e:
        return Verdict(False, f"{type(e).__name__}: {e}", time_s=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 -- a crash is a finding, not a test error
        return Verdict(False, f"CRASH {type(e).__name__}: {e}", True,
                       time.perf_counter() - t0)


#: the verifier's wall-clock limit here (its default is 120 s): an unbounded counting loop
#: takes the kernel ~2 s to reject (1M insns) and skv far longer; a timeout is a rejection
VERIFIER_TIME_LIMIT_S = 10.0


def verifier_verdict(rp: RuleProg) -> Verdict:
    from model.verifier.checker import check_program

    def run(obj, prog):
        v = check_program(obj, prog, log=False, time_limit=VERIFIER_TIME_LIMIT_S)
        return v.accepted, v.error.message if v.error else ""
    return _skv(rp, run)


def z3_verdict(rp: RuleProg) -> Verdict:
    from model.symbolic.check import analyse_program

    def run(obj, prog):
        doc = analyse_program(obj, prog)
        cx = doc.get("counterexample") or {}
        safe = doc["models"]["M2"]["safe"]  # None: unknown (never counted as an accept)
        why = cx.get("why") or cx.get("message") or {False: "M2 unsafe",
                                                     None: "M2 unknown"}.get(safe, "")
        return safe is True, str(why)
    return _skv(rp, run)


def kernel_verdict(rp: RuleProg) -> Verdict | None:
    from model.kernel import rejection_reason

    t0 = time.perf_counter()
    k = rp.kernel_verify()
    if k is None:
        return None
    return Verdict(k.ok, "" if k.ok else rejection_reason(k.log) or k.error,
                   time_s=time.perf_counter() - t0)


def compare(rp: RuleProg, z3: bool = False) -> Compared | None:
    """All verdicts on ``rp`` (None when the kernel cannot create one of its maps)."""
    k = kernel_verdict(rp)
    if k is None:
        return None
    return Compared(rp, k, verifier_verdict(rp), z3_verdict(rp) if z3 else None)


def msg_key(msg: str) -> str:
    """A message without numbers and register names (grouping, agreement)."""
    first = msg.splitlines()[-1] if msg else ""
    return re.sub(r"R\d+|-?\d+|0x[0-9a-f]+|\([^)]*\)", "#", first).strip()


def table(results: list[Compared], engine: str = "ver") -> dict:
    """Per feature class (and overall): drawn, both accept/reject, false accepts (safety),
    false rejects, false-reject rate, both-reject message agreement."""
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for c in results:
        v = c.ver if engine == "ver" else c.z3
        if v is None:
            continue
        cl = c.cls_of(v)
        groups = [c.prog.cls, "all"] + (["with_sites"] if c.prog.sites else []) \
            + (["map_flags"] if "map_flags" in c.prog.features else [])
        for g in groups:
            r = rows[g]
            r["drawn"] += 1
            r[cl] += 1
            r["false_accept_safety"] += c.unsound(engine)
            r["crash"] += v.crash
            if cl == "both_reject":
                r["agree"] += msg_key(v.msg) == msg_key(c.kernel.msg)
    out = {}
    for g, r in rows.items():
        accepted_by_kernel = r["both_accept"] + r["false_reject"]
        out[g] = {"drawn": r["drawn"], "both_accept": r["both_accept"],
                  "both_reject": r["both_reject"], "false_accept": r["false_accept"],
                  "false_accept_safety": r["false_accept_safety"],
                  "false_reject": r["false_reject"],
                  "false_reject_rate": round(r["false_reject"] / accepted_by_kernel, 4)
                  if accepted_by_kernel else 0.0,
                  "both_reject_msg_agreement": round(r["agree"] / r["both_reject"], 4)
                  if r["both_reject"] else None,
                  "crash": r["crash"]}
    return out


def false_accept_classes(results: list[Compared], engine: str = "ver") -> dict:
    """Unsound programs grouped by the kernel's message (without numbers): key -> list."""
    groups: dict[str, list[Compared]] = collections.defaultdict(list)
    for c in results:
        if c.unsound(engine):
            groups[msg_key(c.kernel.msg)].append(c)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))
