"""Graphviz rendering of a ``Cfg``: one box per block, kernel-log instruction text.

Edge styles: ``true``/``false`` labelled T/F; static edges dashed, red when the edge is
taken with the key on and blue when off, labelled ``<key> <state> (<polarity>)``, e.g.
``debug_key on (unlikely)``; ``call``/``after_call``/``return``/``callback`` dotted.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from model.errors import SkvError
from model.program import Program

from model.cfg.graph import Cfg

FORMATS = ("svg", "png")


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _insn_text(pc: int, insn) -> str:
    try:
        from model.isa import format_kernel
    except ImportError:  # the printer is not there yet
        return f"{pc}: {insn!r}"
    try:
        return f"{pc}: {format_kernel(insn, pc)}"
    except Exception:  # noqa: BLE001 - a printer bug must not break a drawing
        return f"{pc}: {insn!r}"


def _edge_attrs(d: dict) -> dict[str, str]:
    kind = d["kind"]
    if kind == "true":
        return {"label": "T" + (" may_goto" if d.get("may_goto") else ""), "color": "darkgreen"}
    if kind == "false":
        return {"label": "F", "color": "gray40"}
    if kind == "static":
        on = d["state"] == "on"
        polarity = "likely" if d["inverse"] else "unlikely"
        return {"label": f"{d['key']} {d['state']} ({polarity})", "style": "dashed",
                "color": "red" if on else "blue", "fontcolor": "red" if on else "blue",
                "penwidth": "2"}
    if kind in ("call", "return", "callback"):
        return {"label": kind, "style": "dotted", "color": "purple"}
    if kind == "after_call":
        return {"style": "dotted", "color": "gray50"}
    return {}


def to_dot(cfg: Cfg, prog: Program, *, title: str | None = None) -> str:
    """The CFG as Graphviz DOT text."""
    by_pc = prog.by_pc()
    out = ["digraph cfg {",
           '  node [shape=box, fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];']
    label = title if title is not None else f"{prog.name} ({prog.section})"
    out.append(f'  labelloc=t; label="{_esc(label)}";')
    reach = cfg.reachable()
    for b in cfg.blocks():
        lines = [f"[{b.func}]" if b.start in cfg.funcs else ""]
        lines = [ln for ln in lines if ln]
        for pc in b.pcs:
            ref = prog.map_refs.get(pc)
            lines.append(_insn_text(pc, by_pc[pc]) + (f"  ; {ref.map}" if ref else ""))
        text = "".join(_esc(ln) + "\\l" for ln in lines)
        extra = "" if b.start in reach else ', style=filled, fillcolor="lightgray"'
        out.append(f'  b{b.start} [label="{text}"{extra}];')
    for u, v, d in sorted(cfg.graph.edges(data=True), key=lambda e: (e[0], e[1], e[2]["kind"])):
        attrs = _edge_attrs(d)
        a = ", ".join(f'{k}="{_esc(val)}"' for k, val in attrs.items())
        out.append(f"  b{u} -> b{v}" + (f" [{a}]" if a else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def render(dot_text: str, fmt: str, out_path) -> Path:
    """Run Graphviz ``dot`` to write ``out_path`` as ``fmt`` ('svg' or 'png')."""
    if fmt not in FORMATS:
        raise SkvError(f"unsupported graph format {fmt!r} (use svg or png)")
    dot = shutil.which("dot")
    if dot is None:
        raise SkvError("graphviz 'dot' not found: apt-get install graphviz")
    out_path = Path(out_path)
    try:
        r = subprocess.run([dot, f"-T{fmt}", "-o", str(out_path)], input=dot_text.encode(),
                           capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SkvError(f"graphviz 'dot' failed: {e}") from None
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise SkvError(f"graphviz 'dot' failed: {msg[0] if msg else f'exit {r.returncode}'}")
    return out_path
