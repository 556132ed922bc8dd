"""How skv fares on real BPF objects a user brings: per corpus (a directory of ``.o`` /
``.elf`` files), how many objects ``skv info`` loads, how many programs they hold, what
``skv check --json --no-symbolic`` says of each (accepted / rejected / error, and the
error's class), whether anything ends in a traceback or an internal error (exit 3), and
where the running kernel can be asked, its verdict on the same program (loaded through
``model.kernel.objload`` as skv creates maps) and whether the two agree.

The corpora are not part of skv: fetch and build them yourself anywhere outside the
repository, then ``python -m bench.real_corpora [--time-limit S] DIR [DIR...]``. Results
(figures only): bench/results/real_corpora.json and .md (``--out STEM``: STEM.json and .md
beside them instead). ``--prog-type T``: the type of programs whose section names none
(objects loaded by iproute2 or an own loader), for skv and the kernel alike.

Per corpus, the table against the kernel counts the programs the kernel gives a verdict on
(``kernel_verdicts``; ``kernel_accept`` of them it verifies), both accept, both reject,
false accepts (skv accepts, the kernel rejects: must be 0), false rejects (the kernel
accepts, skv does not) grouped by cause (the first line of skv's rejection, normalised by
``error_class``; a run out of ``--time-limit`` is the cause "time limit") and the agreement
(both accept + both reject over the kernel's verdicts).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "real_corpora.json"
TABLE = RESULTS.with_suffix(".md")
TIMEOUT = 300


def _cli(*args: str, timeout: float = TIMEOUT) -> tuple[int, str, str]:
    try:
        p = subprocess.run([sys.executable, "-m", "model.cli", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "", "timeout"
    return p.returncode, p.stdout, p.stderr


def error_class(msg: str) -> str:
    """A short, object-independent class for an error message."""
    msg = msg.replace("skv: error: ", "").strip().splitlines()[-1] if msg.strip() else "?"
    msg = re.sub(r"^\S+\.(o|elf): ", "", msg)
    if "time limit" in msg:
        return "time limit"
    if "not modelled:" in msg:
        what = re.split(r" at insn | \(", msg.split("not modelled:", 1)[1].strip())[0]
        return "not modelled: " + re.sub(r"\d+", "N", what)[:70]
    msg = re.sub(r"^program \S+(, insn \d+)?: ", "", msg)
    msg = re.sub(r"^[\w.$/-]+\+0x[0-9a-f]+ \(function [\w.$]+\): ", "", msg)
    if "undefined" in msg:  # the symbol is the class
        return re.sub(r"\([^)]*\)", "", msg)[:90]
    msg = re.sub(r"\b(map|function|symbol|program|section) [\w.$/-]+", r"\1 X", msg)
    msg = re.sub(r"0x[0-9a-f]+|\d+", "N", msg)
    msg = re.sub(r"\([^)]*\)", "", msg)
    return msg[:90]


def _kernel_verdicts(path: str, prog_type: str | None = None) -> dict[str, str]:
    """program -> 'accept' | 'reject' | 'error: class' from the running kernel."""
    from model import kernel
    from model.elf.loader import load_object
    from model.kernel.objload import load_program

    if not kernel.available()[0]:
        return {}
    try:
        obj = load_object(path, keys_as_maps="keep", prog_type=prog_type)
    except Exception:  # noqa: BLE001 - skv cannot load it: no kernel verdict either
        return {}
    out = {}
    for prog in obj.programs:
        if prog.sites:
            out[prog.name] = "error: has static sites"
            continue
        try:
            res = load_program(obj, prog, log_level=1)
        except Exception as e:  # noqa: BLE001
            out[prog.name] = "error: " + error_class(str(e))
            continue
        if not res.verified:
            out[prog.name] = f"error: refused before verifying: {res.error}"
            continue
        out[prog.name] = "accept" if res.ok else "reject"
        if res.ok:
            res.close()
    return out


def measure_object(path: str, kernel: bool = True, time_limit: float | None = None,
                   prog_type: str | None = None) -> dict:
    row: dict = {"object": Path(path).name}
    typed = ["--prog-type", prog_type] if prog_type else []
    rc, out, err = _cli("info", *typed, path)
    row["info_exit"] = rc
    row["info_traceback"] = "Traceback" in err or rc not in (0, 2)
    if rc != 0:
        row["load_error"] = error_class(err)
    limit = ["--time-limit", str(time_limit)] if time_limit else []
    # the whole object's check: every program's limit, plus loading and the slack
    nprogs = max(1, out.count("\n"))
    rc, out, err = _cli("check", "--json", "--no-symbolic", *limit, *typed, path,
                        timeout=TIMEOUT if not time_limit else 60 + 2 * time_limit * nprogs)
    row["check_exit"] = rc
    row["check_traceback"] = "Traceback" in err or rc not in (0, 1, 2, 3)
    progs = []
    try:
        doc = json.loads(out)
        rows = doc if isinstance(doc, list) else doc.get("programs", doc.get("rows", []))
    except (json.JSONDecodeError, AttributeError):
        rows = []
    kv = _kernel_verdicts(path, prog_type) if kernel and row["info_exit"] == 0 else {}
    for r in rows:
        if r.get("program") is None and r.get("verdict") == "error":
            continue  # the object did not load
        e = r.get("error") or {}
        p = {"program": r.get("program"), "verdict": r.get("verdict"),
             "internal": bool(e.get("internal"))}
        if r.get("verdict") != "accepted" and e.get("message"):
            p["class"] = error_class(e["message"])
        if r.get("program") in kv:
            p["kernel"] = kv[r["program"]]
        progs.append(p)
    if rc == -1:  # the object's check ran out of the subprocess's time
        row["check_timeout"] = True
    row["programs"] = progs
    return row


def kernel_table(progs: list[dict]) -> dict:
    """skv against the kernel over the programs the kernel gives a verdict on."""
    kern = [p for p in progs if p.get("kernel") in ("accept", "reject")]
    acc = [p["verdict"] == "accepted" for p in kern]
    k_acc = [p["kernel"] == "accept" for p in kern]
    both_acc = sum(a and k for a, k in zip(acc, k_acc))
    both_rej = sum(not a and not k for a, k in zip(acc, k_acc))
    causes = Counter(p.get("class", p["verdict"]) for p, a, k in zip(kern, acc, k_acc)
                     if k and not a)
    return {
        "kernel_verdicts": len(kern),
        "kernel_accept": sum(k_acc),
        "both_accept": both_acc,
        "both_reject": both_rej,
        "false_accepts": sum(a and not k for a, k in zip(acc, k_acc)),
        "false_rejects": sum(causes.values()),
        "false_reject_causes": dict(causes),
        "agreement_pct": round(100.0 * (both_acc + both_rej) / len(kern), 1) if kern else None,
        "false_accept_programs": [p["program"] for p, a, k in zip(kern, acc, k_acc)
                                  if a and not k],
    }


def summarise(name: str, objs: list[dict]) -> dict:
    progs = [p for o in objs for p in o["programs"]]
    kern = [p for p in progs if p.get("kernel") in ("accept", "reject")]
    return kernel_table(progs) | {
        "corpus": name,
        "objects": len(objs),
        "loaded": sum(o["info_exit"] == 0 for o in objs),
        "programs": len(progs),
        "accepted": sum(p["verdict"] == "accepted" for p in progs),
        "rejected": sum(p["verdict"] == "rejected" for p in progs),
        "error": sum(p["verdict"] == "error" for p in progs),
        "internal_errors": sum(p["internal"] for p in progs),
        "tracebacks": sum(o["info_traceback"] or o["check_traceback"] for o in objs),
        "check_exit_3": sum(o["check_exit"] == 3 for o in objs),
        "load_errors": dict(Counter(o["load_error"] for o in objs if "load_error" in o)),
        "reject_classes": dict(Counter(p["class"] for p in progs if "class" in p)),
        "kernel_verdicts": len(kern),
        "kernel_accept": sum(p["kernel"] == "accept" for p in kern),
        "agree": sum((p["kernel"] == "accept") == (p["verdict"] == "accepted") for p in kern),
        "skv_accepts_kernel_rejects": sum(p["kernel"] == "reject" and p["verdict"] == "accepted"
                                          for p in kern),
        "kernel_errors": dict(Counter(p["kernel"] for p in progs
                                      if p.get("kernel", "").startswith("error"))),
    }


_CHANGE_COLS = ["kernel_verdicts", "kernel_accept", "agree", "skv_accepts_kernel_rejects",
                "false_rejects", "agreement_pct"]


def render(summaries: list[dict], before: list[dict] | None = None) -> str:
    cols = ["corpus", "objects", "loaded", "programs", "accepted", "rejected", "error",
            "internal_errors", "tracebacks", "kernel_verdicts", "kernel_accept", "agree",
            "skv_accepts_kernel_rejects"]
    lines = ["# Real BPF objects (bench/real_corpora.py)", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for s in summaries:
        lines.append("| " + " | ".join(str(s[c]) for c in cols) + " |")
    kc = ["kernel_verdicts", "kernel_accept", "both_accept", "both_reject", "false_accepts",
          "false_rejects", "agreement_pct"]
    total = kernel_table([p for s in summaries for p in s.get("_progs", [])])
    lines += ["", "skv against the kernel (programs the kernel gives a verdict on):", "",
              "| corpus | " + " | ".join(kc) + " |", "|" + "---|" * (len(kc) + 1)]
    for s in summaries + [dict(total, corpus="**all**")]:
        lines.append(f"| {s['corpus']} | " + " | ".join(str(s.get(c, "-")) for c in kc) + " |")
    old = {s["corpus"]: s for s in before or []}
    if old:
        lines += ["", "Kernel side, before -> after (``--before`` run):", "",
                  "| corpus | " + " | ".join(_CHANGE_COLS) + " |",
                  "|" + "---|" * (len(_CHANGE_COLS) + 1)]
        for s in summaries:
            b = old.get(s["corpus"], {})
            lines.append(f"| {s['corpus']} | " + " | ".join(
                f"{b.get(c, '-')} -> {s[c]}" for c in _CHANGE_COLS) + " |")
    for s in summaries:
        lines += ["", f"## {s['corpus']}", ""]
        for key in ("false_reject_causes", "load_errors", "reject_classes", "kernel_errors"):
            if s[key]:
                lines.append(f"{key}:")
                for k, n in sorted(s[key].items(), key=lambda kv: -kv[1]):
                    lines.append(f"- {n} × {k}")
    return "\n".join(lines) + "\n"


def table_of(doc: dict, before: list[dict] | None = None) -> str:
    """The Markdown table of a results document (``before``: an earlier one's corpora)."""
    return render([dict(s, _progs=[p for o in doc["objects"][s["corpus"]]
                                   for p in o["programs"]])
                   for s in doc["corpora"]], before)


def main(argv: list[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    kernel = "--no-kernel" not in args
    time_limit = None
    if "--time-limit" in args:  # per program, passed to skv check; a run out is "time limit"
        k = args.index("--time-limit")
        time_limit = float(args[k + 1])
        del args[k:k + 2]
    before = None
    if "--before" in args:  # an earlier results JSON to show the kernel side's change
        k = args.index("--before")
        before = json.loads(Path(args[k + 1]).read_text())["corpora"]
        del args[k:k + 2]
    prog_type = None
    if "--prog-type" in args:  # the type of programs whose section names none (iproute2's
        k = args.index("--prog-type")  # loaders, OVS's datapath: tc -> sched_cls)
        prog_type = args[k + 1]
        del args[k:k + 2]
    results, table = RESULTS, TABLE
    if "--out" in args:  # another results file (STEM.json / STEM.md), the six corpora's kept
        k = args.index("--out")
        results = RESULTS.with_name(args[k + 1]).with_suffix(".json")
        table = results.with_suffix(".md")
        del args[k:k + 2]
    dirs = [a for a in args if not a.startswith("--")]
    if not dirs:
        print("usage: python -m bench.real_corpora [--no-kernel] [--before JSON] "
              "[--time-limit S] [--prog-type T] [--out STEM] DIR [DIR...]", file=sys.stderr)
        return 2
    doc = {"corpora": [], "objects": {}}
    for d in dirs:
        files = sorted(str(f) for f in Path(d).iterdir() if f.suffix in (".o", ".elf"))
        objs = [measure_object(f, kernel, time_limit, prog_type) for f in files]
        name = Path(d).name
        doc["corpora"].append(summarise(name, objs))
        doc["objects"][name] = objs
    doc["time_limit"] = time_limit
    doc["prog_type"] = prog_type
    results.write_text(json.dumps(doc, indent=1) + "\n")
    table.write_text(table_of(doc, before))
    print(table.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
