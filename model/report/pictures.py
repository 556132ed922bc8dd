"""Pictures of a counterexample.

``cex_dot(prog, cx, x86)``: the CFG (``model.cfg.render.to_dot``'s style) with the path the
counterexample takes highlighted (visited blocks filled, traversed edges thick orange with
the traversal count, the faulting block red) and, on every static edge, each execution of
the site that took it: ``exec #n`` per execution observed in that state (CPU 0's fetches on
x86 when ``x86`` is given, else the counterexample's site states).

``timeline_svg(x86)``: an SVG written directly: CPU 1's int3-protocol steps per poke
(publish, int3 write, sync, tail write, sync, first byte, sync, unpublish) on one lane,
CPU 0's site fetches (with the state observed and whether it went through the INT3 handler)
on the other, against CPU 0's instruction number; the fault at the end.
"""

from __future__ import annotations

import html
import shutil
import subprocess

from model.errors import SkvError


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def site_executions(prog, cx: dict, x86: dict | None = None) -> dict[int, str]:
    """Site id -> its observed state per execution ("0110"), from x86 fetches when given."""
    by_pc = {f"pc{s.pc}": s.id for s in prog.sites}
    if x86 and x86.get("observed"):
        return {by_pc[k]: v for k, v in x86["observed"].items() if k in by_pc}
    path = cx.get("path") or []
    keyv = {k: int(v) for k, v in (cx.get("keys") or {}).items()}
    out = {}
    for s in prog.sites:
        n = sum(1 for pc in path if pc == s.pc)
        if not n:
            continue
        if str(s.id) in (cx.get("schedule") or {}):
            out[s.id] = cx["schedule"][str(s.id)][:n]
        elif str(s.id) in (cx.get("sites") or {}):
            out[s.id] = str(int(cx["sites"][str(s.id)])) * n
        else:
            out[s.id] = str(keyv.get(s.key, 0)) * n
    return out


def cex_dot(prog, cx: dict, x86: dict | None = None, *, title: str | None = None) -> str:
    from model.cfg import build_cfg
    from model.cfg.render import _edge_attrs, _insn_text

    cfg = build_cfg(prog)
    by_pc = prog.by_pc()
    path = list(cx.get("path") or [])
    fault_pc = cx.get("pc")
    # block-level traversals: consecutive pcs p -> q with q a block start and p its block's end
    starts = {b.start for b in cfg.blocks()}
    visited = {cfg.block_of(pc).start for pc in path if pc in by_pc}
    trav: dict[tuple[int, int], int] = {}
    for p, q in zip(path, path[1:]):
        if q in starts and p in by_pc and q in by_pc:
            u = cfg.block_of(p).start
            if cfg.block(u).last == p or q != p + 1:
                trav[(u, q)] = trav.get((u, q), 0) + 1
    execs = site_executions(prog, cx, x86)
    site_by_id = {s.id: s for s in prog.sites}
    label = title if title is not None else (
        f"{prog.name}: {cx.get('model')} counterexample, fault at insn {fault_pc}")
    out = ["digraph cex {",
           '  node [shape=box, fontname="monospace", fontsize=10];',
           '  edge [fontname="monospace", fontsize=9];',
           f'  labelloc=t; label="{_esc(label)}";']
    fault_block = cfg.block_of(fault_pc).start if fault_pc in by_pc else None
    for b in cfg.blocks():
        lines = []
        for pc in b.pcs:
            mark = ">> " if pc == fault_pc else ""
            lines.append(mark + _insn_text(pc, by_pc[pc]))
        text = "".join(_esc(ln) + "\\l" for ln in lines)
        extra = ""
        if b.start == fault_block:
            extra = ', style="filled,bold", fillcolor="#ffb3b3", color=red, penwidth=2'
        elif b.start in visited:
            extra = ', style=filled, fillcolor="#fff2b3"'
        out.append(f'  b{b.start} [label="{text}"{extra}];')
    for u, v, d in sorted(cfg.graph.edges(data=True), key=lambda e: (e[0], e[1], e[2]["kind"])):
        attrs = dict(_edge_attrs(d))
        n = trav.get((u, v), 0)
        if d["kind"] == "static":
            s = site_by_id.get(d["site"])
            seq = execs.get(d["site"], "")
            want = "1" if d["state"] == "on" else "0"
            hits = [i for i, c in enumerate(seq) if c == want]
            pc = s.pc if s else "?"
            attrs["label"] += (f"\nsite pc{pc}: " + (
                ", ".join(f"exec #{i}" for i in hits) if hits else "not observed"))
            if hits:
                attrs["penwidth"] = "3.5"
        elif n:
            attrs["label"] = (attrs.get("label", "") + f" x{n}").strip()
        if n:
            attrs["color"] = "orange" if d["kind"] != "static" else attrs["color"]
            attrs["penwidth"] = "3.5"
        a = ", ".join(f'{k}="{_esc(val)}"' for k, val in attrs.items())
        out.append(f"  b{u} -> b{v}" + (f" [{a}]" if a else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def dot_to(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz ``dot -T<fmt>`` and return the output."""
    dot = shutil.which("dot")
    if dot is None:
        raise SkvError("graphviz 'dot' not found: apt-get install graphviz")
    try:
        r = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SkvError(f"graphviz 'dot' failed: {e}") from None
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        raise SkvError(f"graphviz 'dot' failed: {msg[0] if msg else f'exit {r.returncode}'}")
    return r.stdout


def _step_names(kinds: list[str]) -> list[str]:
    writes = [i for i, k in enumerate(kinds) if k == "write"]
    wn = (["int3 write", "tail", "first byte"] if len(writes) == 3 else
          ["int3 write", "first byte"] if len(writes) == 2 else
          [f"write {j}" for j in range(len(writes))])
    names = list(kinds)
    for j, i in enumerate(writes):
        names[i] = wn[j]
    return names


def timeline_svg(x86: dict, *, title: str = "") -> str:
    """CPU 1's poke steps against CPU 0's site fetches (x axis: CPU 0 instruction number)."""
    sched = x86.get("schedule") or {}
    pokes = sched.get("pokes") or []
    fetches = x86.get("fetches") or []
    steps = max([x86.get("steps") or 0] + [f["step"] for f in fetches]
                + [s for p in pokes for s in p.get("steps", [])]) + 1
    left, right, unit = 110, 260, max(14, min(40, 900 // max(steps, 1)))
    width = left + right + unit * steps
    # CPU 1 events: stack the ones at one step
    cpu1 = []                       # one row per CPU 1 event, in CPU 1's program order
    for k, p in enumerate(pokes):
        for j, (s, name) in enumerate(zip(p.get("steps", []),
                                          _step_names(list(p.get("events", []))))):
            cpu1.append((s, len(cpu1), k, p, name if j else
                         f"poke #{k} {p['site']}->{'on' if p.get('to') else 'off'}: {name}"))
    rows1 = max(len(cpu1), 1)
    y1 = 60
    y0 = y1 + 18 * rows1 + 50
    height = y0 + 110
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11" class="timeline">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="8" y="18" font-size="13" font-weight="bold">{e(title or "timeline")}: '
           f'{e(str(x86.get("model")))} schedule, CPU 0 runs {x86.get("steps")} '
           f'instruction(s)</text>',
           f'<text x="8" y="{y1 + 4}" font-weight="bold">CPU 1 (poke)</text>',
           f'<text x="8" y="{y0 + 4}" font-weight="bold">CPU 0 (fetch)</text>']
    for x in range(0, steps + 1, max(1, steps // 20)):
        px = left + unit * x
        out.append(f'<line x1="{px}" y1="{y1 - 14}" x2="{px}" y2="{y0 + 40}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{px}" y="{y0 + 70}" text-anchor="middle" fill="#666">{x}</text>')
    out.append(f'<text x="{left}" y="{y0 + 88}" fill="#666">CPU 0 instruction number '
               '(CPU 1 events happen before that instruction)</text>')
    out.append(f'<line x1="{left}" y1="{y0}" x2="{left + unit * steps}" y2="{y0}" '
               'stroke="black"/>')
    colors = ["#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2"]
    for s, r, k, p, name in cpu1:
        px, py = left + unit * s, y1 + 18 * r
        c = colors[k % len(colors)]
        out.append(f'<circle cx="{px}" cy="{py}" r="4" fill="{c}"/>')
        out.append(f'<text x="{px + 7}" y="{py + 4}" fill="{c}">{e(name)}</text>')
    for f in fetches:
        px = left + unit * f["step"]
        c = "red" if f.get("on") else "blue"
        out.append(f'<line x1="{px}" y1="{y0 - 8}" x2="{px}" y2="{y0 + 8}" stroke="{c}" '
                   'stroke-width="3"/>')
        out.append(f'<text x="{px}" y="{y0 + 22}" fill="{c}" text-anchor="middle">'
                   f'{e(f["site"])}#{f["n"]}={"on" if f.get("on") else "off"}</text>')
        if f.get("via") == "int3":
            out.append(f'<text x="{px}" y="{y0 + 34}" fill="{c}" text-anchor="middle">'
                       'via INT3</text>')
    if x86.get("status") == "fault" or x86.get("kind"):
        px = left + unit * max((x86.get("steps") or 1) - 1, 0)   # the faulting instruction
        out.append(f'<line x1="{px}" y1="{y0 - 30}" x2="{px}" y2="{y0 - 10}" stroke="red" '
                   'stroke-width="2" stroke-dasharray="4,2"/>')
        out.append(f'<text x="{px}" y="{y0 - 14}" fill="red" font-weight="bold" '
                   f'text-anchor="end">&#9889; {e(str(x86.get("kind")))} at x86 '
                   f'{x86.get("x86_address") or 0:#x} (BPF insn {x86.get("fault_bpf_insn")})'
                   '</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
