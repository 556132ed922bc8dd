"""Pictures per counterexample and ``skv check --report DIR`` (issue 7), rendered in headless
Chromium: a screenshot and the DOM, with the key figures asserted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("unicorn", reason="the unicorn emulator is not installed")
pytest.importorskip("iced_x86", reason="iced-x86 is not installed")

from conftest import BPFPROGS  # noqa: E402
from model.cli import main  # noqa: E402
from model.elf.loader import load_object  # noqa: E402
from model.report.pictures import cex_dot, dot_to, timeline_svg  # noqa: E402
from model.report.x86 import confirm_any  # noqa: E402
from model.symbolic import analyse_program  # noqa: E402

M1 = str(BPFPROGS / "unsafe_m1.o")
M2 = str(BPFPROGS / "unsafe_m2.o")
OFF = str(BPFPROGS / "unsafe_off.o")
SAFE = str(BPFPROGS / "talk_unlikely.o")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if os.path.exists("/usr/bin/chromium") else None)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' missing")


def _cx(path):
    obj = load_object(path)
    prog = obj.programs[0]
    cx = analyse_program(obj, prog)["counterexample"]
    return obj, prog, cx, confirm_any(obj, prog, cx)


# -- pictures -------------------------------------------------------------------------------
@needs_dot
def test_cfg_picture_shows_the_path_and_the_observed_site_states():
    obj, prog, cx, x86 = _cx(M2)
    dot = cex_dot(prog, cx, x86)
    # the loop site pc6 is fetched twice: off (exec #0) then on (exec #1)
    assert "site pc6: exec #0" in dot and "site pc6: exec #1" in dot
    assert 'fillcolor="#ffb3b3"' in dot and ">> 22:" in dot      # the faulting block
    assert dot.count('color="orange"') >= 3                       # the path's plain edges
    svg = dot_to(dot, "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "exec #1" in svg
    assert dot_to(dot, "png")[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_cfg_picture_of_an_m1_counterexample_labels_each_site():
    obj, prog, cx, x86 = _cx(M1)
    dot = cex_dot(prog, cx, x86)
    for site, state in (("pc3", "off"), ("pc13", "on")):
        assert re.search(rf'{state} \((un)?likely\)\\nsite {site}: exec #0', dot), site
    assert "not observed" in dot


def test_timeline_has_every_protocol_step_and_the_fetches():
    _, _, _, x86 = _cx(M2)
    svg = timeline_svg(x86, title="per_exec")
    for step in ("publish", "int3 write", "tail", "first byte", "sync", "unpublish"):
        assert f">{step}<" in svg or f": {step}<" in svg, step
    assert "pc6#0=off" in svg and "pc6#1=on" in svg
    assert f"x86 {x86['x86_address']:#x}" in svg and svg.rstrip().endswith("</svg>")


# -- the HTML report --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' missing")
    d = tmp_path_factory.mktemp("report")
    rc = main(["check", "--report", str(d), M1, M2, OFF, SAFE])
    assert rc == 1                                     # unchanged: some programs rejected
    return d


def test_report_files(report):
    names = {p.name for p in report.iterdir()}
    assert {"index.html", "unsafe_m1.html", "unsafe_m2.html", "unsafe_off.html",
            "talk_unlikely.html"} <= names
    for stem in ("unsafe_m1-per_site", "unsafe_m2-per_exec", "unsafe_off-null_off"):
        assert {f"{stem}-cfg.svg", f"{stem}-cfg.png", f"{stem}-timeline.svg"} <= names
    page = (report / "unsafe_off.html").read_text()
    assert "<code>check_key=0</code>" in page and "CONFIRMED" in page
    m2 = (report / "unsafe_m2.html").read_text()
    assert "<svg" in m2 and "Timeline" in m2 and "Verifier log" in m2 and "x86 run log" in m2


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None,
                    reason="headless chromium is not installed (Debian package 'chromium'; "
                           "make system-deps installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    png = tmp_path / "m1.png"
    r = _chromium(["--screenshot=" + str(png), "--window-size=1200,2000",
                   (report / "unsafe_m1.html").as_uri()], tmp_path / "profile1")
    assert png.exists(), r.stderr.decode(errors="replace")[-500:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000   # not a blank page
    if os.environ.get("SKV_KEEP_SCREENSHOT"):
        shutil.copy(png, os.environ["SKV_KEEP_SCREENSHOT"])

    pages = {"unsafe_m1.html": ["per_site", "rejected", "M1", "CONFIRMED",
                                "Source and instructions", "if (!p) @ unsafe_m1.c:28"],
             "unsafe_off.html": ["null_off", "check_key=0", "M0", "CONFIRMED",
                                 # a C source line, as the kernel's verifier log shows it
                                 "; __u32 k = 0; @ unsafe_off.c:22"],
             "index.html": ["per_site", "per_exec", "null_off", "worker", "accepted",
                            "rejected"]}
    obj, prog, cx, x86 = _cx(M1)
    pages["unsafe_m1.html"] += [f"{x86['x86_address']:#x}: {x86['x86_insn']}",
                                "site pc13: exec #0"]
    for k, (name, want) in enumerate(pages.items()):
        r = _chromium(["--dump-dom", (report / name).as_uri()], tmp_path / f"profile{k + 2}")
        dom = r.stdout.decode(errors="replace")
        assert "<table>" in dom or "<tbody>" in dom, name
        for w in want:
            assert w in dom, (name, w)
        if name != "index.html":
            assert "<svg" in dom
