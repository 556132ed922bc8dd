"""``skv check --kernel``: the running kernel's verdict beside skv's, per program.

A stock kernel knows nothing of static keys, so the program is materialised first
(``model.materialize``): ``both-edges`` loads the both-edges form (every site a real
branch the kernel's verifier explores both ways: the question skv's verdict answers);
``all`` also loads each M0 key assignment (every site fixed), whose verdict is compared
with skv's M0 answer for that assignment (unsafe exactly when it matches a cube of
``models.M0.unsafe_when``). Each row gains ``"kernel": {"form", "verdict",
"insns_processed", "states", "peak_states", "time_us", "error", "agrees", "M0": [...]}``;
``agrees`` is ``false`` on every disagreement and ``null`` when skv gives no answer to
compare (a program skv could not judge, or M0 without the symbolic engine).
"""

from __future__ import annotations

from model.errors import SkvError

BOTH_EDGES_HOW = "r10"


def add_kernel(path: str, rows: list[dict], mode: str, prog_type: str | None = None,
               btf: str | None = None) -> None:
    """``prog_type``/``btf``: what the loader was told (--prog-type, --btf)."""
    from model.runner.objcache import load_cached

    try:
        obj = load_cached(path, keys_as_maps="keep", prog_type=prog_type,
                          **({"btf": btf} if btf else {}))
    except SkvError:
        return  # the rows already say the object does not load
    for row in rows:
        if row["verdict"] == "error" or not row.get("program"):
            continue
        prog = obj.program(row["program"])
        row["kernel"] = kernel_verdicts(obj, prog, row, mode)


def _load(fn) -> dict:
    """The kernel's verdict; an error that is the object's fault (an attach target the
    kernel does not have: libbpf cannot load it either) is marked ``input_error``."""
    from model.kernel import rejection_reason
    from model.kernel.attach import AttachError

    try:
        ok, res = fn()
    except SkvError as e:
        return {"verdict": "error", "insns_processed": None, "states": None,
                "peak_states": None, "time_us": None, "error": str(e),
                **({"input_error": True} if isinstance(e, AttachError) else {})}
    if not res.verified:
        return {"verdict": "error", "insns_processed": None, "states": None,
                "peak_states": None, "time_us": None,
                "error": f"the kernel refused it before verifying: {res.error}"}
    return {"verdict": "accepted" if ok else "rejected", "insns_processed": res.insns_processed,
            "states": res.states, "peak_states": res.peak_states,
            "time_us": res.verification_time_us,
            "error": None if ok else (rejection_reason(res.log) or res.error)}


def _agrees(skv_safe: bool | None, k: dict) -> bool | None:
    if skv_safe is None or k["verdict"] == "error":
        return None
    return skv_safe == (k["verdict"] == "accepted")


def kernel_verdicts(obj, prog, row: dict, mode: str) -> dict:
    from model.kernel.objload import verdict, verdict_both_edges
    from model.materialize import key_assignments

    out = {"form": f"both-edges ({BOTH_EDGES_HOW})",
           **_load(lambda: verdict_both_edges(obj, prog, BOTH_EDGES_HOW))}
    out["agrees"] = _agrees(row["verdict"] == "accepted", out)
    if mode == "all":
        m0 = ((row.get("models") or {}).get("M0")) or {}
        cubes = m0.get("unsafe_when")
        out["M0"] = []
        for a in key_assignments(prog):
            k = _load(lambda: verdict(obj, prog, a))
            bits = {key: int(v) for key, v in a.items()}
            if row["verdict"] == "accepted":
                safe = True                  # safe under M2, hence under every assignment
            elif cubes is not None and m0.get("safe") is not None:
                safe = not any(all(bits.get(x) == v for x, v in c.items()) for c in cubes)
            else:
                safe = None
            out["M0"].append({"assignment": bits, "skv": {True: "safe", False: "unsafe",
                                                          None: "unknown"}[safe],
                              **k, "agrees": _agrees(safe, k)})
    return out


def disagreements(row: dict) -> list[str]:
    """One line per disagreement between skv and the kernel in ``row``."""
    k = row.get("kernel")
    if not k:
        return []
    out = []
    where = f"{row['object']} {row['program']}"
    if k.get("agrees") is False:
        out.append(f"{where}: skv {row['verdict']}, kernel {k['verdict']} the {k['form']} "
                   f"form" + (f" ({k['error']})" if k.get("error") else ""))
    for m in k.get("M0") or []:
        if m.get("agrees") is False:
            a = ",".join(f"{x}={v}" for x, v in m["assignment"].items()) or "-"
            out.append(f"{where} [{a}]: skv {m['skv']}, kernel {m['verdict']}"
                       + (f" ({m['error']})" if m.get("error") else ""))
    return out
