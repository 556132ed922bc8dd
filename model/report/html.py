"""``skv check --report DIR``: one HTML page per object plus ``index.html``.

Each page: the verdict table (verdict, first error, M0/M1/M2 safety, cross-check), per
program the per-key unsafe conditions (the M0 cubes, e.g. ``check_key=0``), the extra
unsafety M1/M2 add, the counterexample with its x86 confirmation (BPF instruction, x86
address and instruction, key model, schedule), the pictures (CFG with the path and the
observed site states, timeline of CPU 1's poke steps against CPU 0's site fetches; inline
SVG, with SVG and PNG files next to the page), the verifier log, and the program's
instructions under the C source lines they came from (``.BTF.ext`` line info).
"""

from __future__ import annotations

import os
import re
from html import escape as e

from model.errors import SkvError

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #bbb; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #eef; }
.accepted, .safe { color: #070; font-weight: bold; }
.rejected, .unsafe, .error { color: #b00; font-weight: bold; }
code, pre { font-family: monospace; }
pre.log { background: #f6f6f6; border: 1px solid #ddd; padding: 6px; max-height: 30em;
          overflow: auto; font-size: 12px; }
.pic { border: 1px solid #ccc; margin: 6px 0; overflow: auto; max-width: 100%; }
.confirmed { color: #070; font-weight: bold; } .notconfirmed { color: #b00; font-weight: bold; }
h2 { border-bottom: 2px solid #99c; }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _cube(c: dict) -> str:
    return " &amp; ".join(f"<code>{e(str(k))}={e(str(v))}</code>" for k, v in c.items()) \
        or "<code>always</code>"


def _safe(m: dict | None) -> str:
    if not m:
        return "-"
    if m.get("safe") is None and m.get("rules_safe"):
        return '<span class="safe">safe (verifier alone)</span>'
    if m.get("safe") is None:
        return '<span class="unknown">unknown</span>'
    return '<span class="safe">safe</span>' if m.get("safe") else \
        '<span class="unsafe">unsafe</span>'


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _inline_svg(data: bytes) -> str:
    text = data.decode(errors="replace")
    i = text.find("<svg")
    return text[i:] if i >= 0 else text


def _pictures(outdir: str, stem: str, prog, cx: dict, x86: dict | None) -> str:
    from model.report.pictures import cex_dot, dot_to, timeline_svg

    parts = []
    dot = cex_dot(prog, cx, x86)
    svg = dot_to(dot, "svg")
    with open(os.path.join(outdir, f"{stem}-cfg.svg"), "wb") as f:
        f.write(svg)
    with open(os.path.join(outdir, f"{stem}-cfg.png"), "wb") as f:
        f.write(dot_to(dot, "png"))
    with open(os.path.join(outdir, f"{stem}-cfg.dot"), "w") as f:
        f.write(dot)
    parts.append(f'<h4>CFG: path taken and observed site states '
                 f'(<a href="{e(stem)}-cfg.svg">svg</a>, <a href="{e(stem)}-cfg.png">png</a>)'
                 f'</h4><div class="pic">{_inline_svg(svg)}</div>')
    if x86 and x86.get("schedule") is not None and "fetches" in x86:
        tl = timeline_svg(x86, title=prog.name)
        with open(os.path.join(outdir, f"{stem}-timeline.svg"), "w") as f:
            f.write(tl)
        parts.append(f'<h4>Timeline: CPU 1 poke steps against CPU 0 site fetches '
                     f'(<a href="{e(stem)}-timeline.svg">svg</a>)</h4>'
                     f'<div class="pic">{tl}</div>')
    return "\n".join(parts)


def _x86_block(x86: dict) -> str:
    if x86.get("confirmed") is None and x86.get("note"):
        return f"<p>x86: {e(x86['note'])}</p>"
    ok = x86.get("confirmed")
    cls = "confirmed" if ok else "notconfirmed"
    rows = [("confirmed on x86", f'<span class="{cls}">{"CONFIRMED" if ok else "NOT confirmed"}'
                                 "</span>"),
            ("key model", e(str(x86.get("model")))),
            ("BPF insn", e(str(x86.get("bpf_insn"))))]
    if x86.get("x86_address") is not None:
        rows += [("x86 instruction", f"<code>{x86['x86_address']:#x}: "
                                     f"{e(str(x86.get('x86_insn')))}</code>"),
                 ("outcome", e(f"{x86.get('kind')}: {x86.get('reason')} "
                               f"(BPF insn {x86.get('fault_bpf_insn')})")),
                 ("observed site states", e(str(x86.get("observed"))))]
    if x86.get("error"):
        rows.append(("error", e(x86["error"])))
    out = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + \
        "</table>"
    story = (x86.get("schedule") or {}).get("story") or []
    if story:
        out += "<p>Schedule:</p><ul>" + "".join(f"<li>{e(s)}</li>" for s in story) + "</ul>"
    return out


def _program_section(outdir: str, obj_stem: str, r: dict, prog, obj=None) -> str:
    name = r["program"] or "-"
    out = [f'<h2 id="{e(_slug(name))}">{e(name)}: <span class="{e(r["verdict"])}">'
           f'{e(r["verdict"])}</span></h2>']
    if r.get("error"):
        out.append(f"<p>First error: <code>insn {e(str(r['error'].get('insn')))}: "
                   f"{e(r['error']['message'])}</code></p>")
    models = r.get("models")
    sym = r.get("symbolic") or {}
    if sym.get("summary"):
        out.append(f"<p>Symbolic: {e(sym['summary'])} [{e(str(sym.get('cross_check')))}]</p>")
    elif sym.get("error"):
        out.append(f"<p>Symbolic engine error: {e(sym['error'])}</p>")
    if models:
        m0 = models.get("M0") or {}
        out.append("<h3>Unsafe conditions (M0: one value per key)</h3>")
        if m0.get("unsafe_when"):
            out.append("<ul>" + "".join(f"<li>unsafe when {_cube(c)}</li>"
                                        for c in m0["unsafe_when"]) + "</ul>")
        else:
            out.append(f"<p>{_safe(m0)} under every key assignment</p>")
        out.append("<h3>Extra unsafety under M1 / M2</h3><ul>")
        m1, m2 = models.get("M1") or {}, models.get("M2") or {}
        b1 = m1.get("beyond_M0")
        out.append(f"<li>M1 (one state per site): {_safe(m1)}"
                   + (f"; beyond M0 with {b1.get('deviating_sites')} deviating site(s): "
                      f"{_cube(b1.get('sites') or {})} (keys {_cube(b1.get('base_keys') or {})})"
                      if b1 else "")
                   + ("; unsafe when " + " | ".join(_cube(c) for c in m1["unsafe_when"])
                      if m1.get("unsafe_when") else "") + "</li>")
        b2 = m2.get("beyond_M1")
        out.append(f"<li>M2 (one state per execution): {_safe(m2)}"
                   + (f"; beyond M1 with {b2.get('deviating_executions')} deviating "
                      f"execution(s): schedule <code>{e(str(b2.get('schedule')))}</code>"
                      if b2 else "") + "</li></ul>")
    cx = r.get("counterexample")
    if cx:
        out.append(f"<h3>Counterexample ({e(cx['model'])})</h3><table>"
                   f"<tr><th>model</th><td>{e(cx['model'])}</td></tr>"
                   f"<tr><th>keys</th><td>{_cube(cx.get('keys') or {})}</td></tr>"
                   f"<tr><th>site states</th><td><code>{e(str(cx.get('sites')))}</code></td></tr>"
                   f"<tr><th>per execution</th><td><code>{e(str(cx.get('schedule')))}</code>"
                   f"</td></tr><tr><th>fault</th><td>insn {e(str(cx.get('pc')))}: "
                   f"{e(str(cx.get('reason')))} ({e(str(cx.get('fault')))})</td></tr>"
                   f"<tr><th>path</th><td><code>{e(str(cx.get('path')))}</code></td></tr>"
                   "</table>")
        x86 = cx.get("x86")
        if x86:
            out.append(_x86_block(x86))
        if prog is not None:
            try:
                out.append(_pictures(outdir, f"{obj_stem}-{_slug(name)}", prog, cx, x86))
            except SkvError as ex:
                out.append(f"<p class='error'>pictures: {e(str(ex))}</p>")
    if r.get("log"):
        out.append("<h3>Verifier log</h3><pre class='log'>" + e("\n".join(r["log"])) + "</pre>")
    if cx and (cx.get("x86") or {}).get("log"):
        out.append("<h3>x86 run log</h3><pre class='log'>"
                   + e("\n".join(cx["x86"]["log"])) + "</pre>")
    if obj is not None and prog is not None:
        from model.report.listing import program_lines

        out.append("<h3>Source and instructions</h3><pre class='log listing'>"
                   + e("\n".join(program_lines(obj, prog, "kernel"))) + "</pre>")
    return "\n".join(out)


def _verdict_table(rows: list[dict], link: dict[str, str] | None = None) -> str:
    head = ("<table><tr><th>object</th><th>program</th><th>verdict</th><th>first error</th>"
            "<th>M0</th><th>M1</th><th>M2</th><th>counterexample</th><th>x86</th></tr>")
    body = []
    for r in rows:
        models = r.get("models") or {}
        cx = r.get("counterexample")
        x86 = (cx or {}).get("x86")
        xs = "-" if not x86 else ("n/a" if x86.get("confirmed") is None else
                                  ("CONFIRMED" if x86["confirmed"] else "NOT confirmed"))
        err = r.get("error")
        prog = e(r["program"] or "-")
        obj = e(os.path.basename(r["object"]))
        if link and r["object"] in link:
            page = e(link[r["object"]])
            prog = f'<a href="{page}#{e(_slug(r["program"] or "-"))}">{prog}</a>'
            obj = f'<a href="{page}">{obj}</a>'
        body.append(
            f"<tr><td>{obj}</td><td>{prog}</td>"
            f"<td class='{e(r['verdict'])}'>{e(r['verdict'])}</td>"
            f"<td>{e(err['message'].splitlines()[0][:90]) if err else '-'}</td>"
            f"<td>{_safe(models.get('M0'))}</td><td>{_safe(models.get('M1'))}</td>"
            f"<td>{_safe(models.get('M2'))}</td>"
            f"<td>{e(cx['model'] + ' at insn ' + str(cx.get('pc'))) if cx else '-'}</td>"
            f"<td>{xs}</td></tr>")
    return head + "".join(body) + "</table>"


def write_report(outdir: str, rows: list[dict]) -> list[str]:
    """Write ``outdir/<object>.html`` per object and ``outdir/index.html``; return paths."""
    from model.elf.loader import load_object as load

    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as ex:
        raise SkvError(f"{outdir}: cannot create: {ex.strerror or ex}") from None
    by_obj: dict[str, list[dict]] = {}
    for r in rows:
        by_obj.setdefault(r["object"], []).append(r)
    written = []
    links: dict[str, str] = {}
    used: set[str] = set()
    for path, rs in by_obj.items():
        stem = _slug(os.path.splitext(os.path.basename(path))[0])
        while stem in used:
            stem += "_"
        used.add(stem)
        try:
            obj = load(path) if any(r["verdict"] != "error" for r in rs) else None
        except SkvError:
            obj = None
        secs = []
        for r in rs:
            prog = None
            if obj is not None and r["program"]:
                prog = next((p for p in obj.programs if p.name == r["program"]), None)
            secs.append(_program_section(outdir, stem, r, prog, obj))
        body = (f"<p><a href='index.html'>&larr; index</a></p><h1>skv check: {e(path)}</h1>"
                + _verdict_table(rs) + "\n".join(secs))
        page = os.path.join(outdir, f"{stem}.html")
        with open(page, "w") as f:
            f.write(_page(f"skv check {os.path.basename(path)}", body))
        written.append(page)
        links[path] = f"{stem}.html"
    n_rej = sum(r["verdict"] != "accepted" for r in rows)
    n_conf = sum(bool(((r.get("counterexample") or {}).get("x86") or {}).get("confirmed"))
                 for r in rows)
    idx = os.path.join(outdir, "index.html")
    with open(idx, "w") as f:
        f.write(_page("skv check report",
                      f"<h1>skv check report</h1><p>{len(by_obj)} object(s), {len(rows)} "
                      f"program(s): {len(rows) - n_rej} accepted, {n_rej} rejected or error; "
                      f"{n_conf} counterexample(s) confirmed on x86.</p>"
                      + _verdict_table(rows, link=links)))
    return [idx] + written
