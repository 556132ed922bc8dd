"""``skv check``'s work, one program at a time, as module-level functions a process pool or
a Dask worker can run: :func:`plan` cuts a list of objects into items (one per program; an
object that does not load is one item, which becomes its ``"error"`` row), and
:func:`check_item` gives the rows of one item. The rows of the items, in the plan's order,
are what a serial ``skv check`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.errors import SkvError


@dataclass(frozen=True)
class CheckOptions:
    budget: int = 1_000_000
    time_limit: float = 120.0
    symbolic: bool = True
    prog_flags: int = 0
    kernel: str | None = None  # None, "both-edges" or "all" (see model.runner.kernel_side)
    prog_type: str | None = None  # for sections that name none (--prog-type)
    btf: str | None = None  # kernel BTF for CO-RE relocations (--btf; default vmlinux)


def _load(path: str, options: CheckOptions):
    """The object as check loads it: a static key used as a map is kept (the verifier
    rejects that program), an object of maps only has no programs (no rows)."""
    from model.runner.objcache import load_cached

    kw = {"btf": options.btf} if options.btf else {}
    obj = load_cached(path, keys_as_maps="keep", prog_type=options.prog_type,
                      maps_only=True, **kw)
    _kernel_btf_with(obj)
    return obj


def _kernel_btf_with(obj) -> None:
    """The running kernel's BTF parsed with an object that has a program attaching to a
    BTF target (fentry, tp_btf, lsm, iter...), as the loader parses it for CO-RE
    relocations: once per process (a second or two), not inside the first such program's
    check (the kernel has its own BTF from boot; its verification time never includes
    parsing it)."""
    from model.elf.core import VMLINUX_BTF, target_btf
    from model.platform.tracing_targets import target_btf_name

    if any(target_btf_name(p.section) is not None for p in obj.programs):
        target_btf(VMLINUX_BTF)  # the call (and cache key) model.platform's readers use


@dataclass(frozen=True)
class CheckItem:
    path: str
    program: str | None  # None: every program of the object (one that does not load)
    options: CheckOptions


def plan(paths: list[str], program: str | None, options: CheckOptions) -> list[CheckItem]:
    """One item per program of every object (per object when it does not load or has
    no such program: its error row comes from the item)."""
    from model.program import select_programs

    items = []
    for path in paths:
        try:
            obj = _load(path, options)
            names = [p.name for p in select_programs(obj, program)]
        except SkvError:
            items.append(CheckItem(path, program, options))
            continue
        items.extend(CheckItem(path, n, options) for n in names)
    return items


def check_item(item: CheckItem) -> list[dict]:
    o = item.options
    rows = check_object(item.path, item.program, o)
    if o.kernel:
        from model.runner.kernel_side import add_kernel

        add_kernel(item.path, rows, o.kernel, o.prog_type, o.btf)
    return rows


def check_object(path: str, program: str | None, o: CheckOptions) -> list[dict]:
    from model.platform.prog_flags import flag_names
    from model.program import select_programs
    from model.verifier.checker import check_program

    budget, time_limit, prog_flags = o.budget, o.time_limit, o.prog_flags
    try:
        obj = _load(path, o)
        progs = select_programs(obj, program)
    except SkvError as e:
        return [{"object": path, "program": program, "verdict": "error",
                 "error": {"insn": None, "message": str(e)}, "stats": None, "log": []}]
    out = []
    for prog in progs:
        try:
            v = check_program(obj, prog, budget=budget, time_limit=time_limit,
                              prog_flags=prog_flags)
        except Exception as e:  # noqa: BLE001 - one program's failure keeps the others' rows
            out.append({"object": path, "program": prog.name, "verdict": "error",
                        "error": {"insn": None, "internal": True,
                                  "message": f"internal error: {type(e).__name__}: {e}"},
                        "stats": None, "log": []})
            continue
        err = None if v.error is None else {"insn": v.error.insn, "message": v.error.message}
        row = {"object": path, "program": prog.name, "prog_type": prog.prog_type,
               "verdict": v.verdict, "error": err,
               "stats": v.stats.as_dict(), "log": v.log,
               "sites": len(prog.sites), "keys": prog.keys(),
               "prog_flags": {"value": prog_flags, "names": flag_names(prog_flags)}}
        if o.symbolic:
            row.update(symbolic_part(obj, prog, v, time_limit, prog_flags))
            engines_disagree(row)
        out.append(row)
    return out


def symbolic_part(obj, prog, verdict, time_limit: float, prog_flags: int = 0) -> dict:
    from model.symbolic import Budget, analyse_program, summary

    try:
        doc = analyse_program(obj, prog, verifier=verdict, budget=Budget(time_s=time_limit),
                              prog_flags=prog_flags)
    except Exception as e:  # the engine must never take the verifier's verdict down
        return {"models": None, "counterexample": None,
                "symbolic": {"error": f"{type(e).__name__}: {e}"}}
    info = {k: doc[k] for k in ("complete", "exhausted", "stats", "cross_check")}
    info["summary"] = summary(doc)
    info["soundness_bug"] = doc["cross_check"] == "SOUNDNESS BUG"
    return {"models": doc["models"], "counterexample": doc["counterexample"], "symbolic": info}


def engines_disagree(row: dict) -> None:
    """Neither engine hides the other's gap: when the verifier accepted a program in which
    the symbolic engine found an unsafe execution that the interpreter confirmed, the
    program is rejected (the verifier's own verdict is kept as ``verifier_verdict``) with
    the execution's failure. An unconfirmed alarm is reported (SOUNDNESS BUG, unconfirmed)
    but does not change the verdict."""
    cx = row.get("counterexample") or {}
    if not (row.get("symbolic") or {}).get("soundness_bug") or not cx.get("confirmed"):
        return
    reason = cx.get("reason") or cx.get("assertion") or "an assertion fails"
    row["verifier_verdict"] = row["verdict"]
    row["verdict"] = "rejected"
    row["error"] = {"insn": cx.get("pc"),
                    "message": f"unsafe execution found by the symbolic engine "
                               f"({cx.get('model', 'M2')}, confirmed by the interpreter): "
                               f"{reason}"}


def is_timing(key: str) -> bool:
    """A timing field of a row (seconds ``*_s``, microseconds ``*_us``)."""
    return key.endswith(("_s", "_us"))


def without_timing(doc):
    """``doc`` with every timing field removed (a parallel run equals a serial one up to
    these)."""
    if isinstance(doc, dict):
        return {k: without_timing(v) for k, v in doc.items() if not is_timing(k)}
    if isinstance(doc, list):
        return [without_timing(v) for v in doc]
    return doc
