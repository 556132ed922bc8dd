"""The optional compiled verifier core (model/fast.py, ``make fast``): a build is used only
for exactly the sources it was compiled from, the suite tests the pure-Python sources, and a
current build gives the pure-Python verdicts."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from model import fast
from conftest import BPFPROGS, ROOT


def test_any_source_edit_changes_the_key(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(fast.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    key = fast.source_key(copy)
    assert key == fast.source_key()  # paths and contents only, not the location
    f = copy / "verifier" / "transfer.py"
    text = f.read_text()
    f.write_text(text.replace("MAX_PACKET_OFF = 0xFFFF", "MAX_PACKET_OFF = 0xFFFE"))
    assert fast.source_key(copy) != key
    f.write_text(text)
    assert fast.source_key(copy) == key
    (copy / "domains" / "extra.py").write_text("")  # a module the build did not see
    assert fast.source_key(copy) != key


def test_only_a_complete_build_of_these_sources_is_used(tmp_path):
    build = tmp_path / "fast"
    assert fast.build_dir(fast.PACKAGE, build) is None  # nothing built
    stale = build / ("0" * 24)
    stale.mkdir(parents=True)
    (stale / fast.DONE).write_text("")
    assert fast.build_dir(fast.PACKAGE, build) is None  # built from other sources
    current = build / fast.source_key()
    current.mkdir()
    assert fast.build_dir(fast.PACKAGE, build) is None  # interrupted (no COMPLETE mark)
    (current / fast.DONE).write_text("")
    assert fast.build_dir(fast.PACKAGE, build) == current


def test_the_suite_runs_the_pure_sources():
    assert os.environ.get("SKV_PURE") == "1" and not fast.active()


_CHILD = r'''
import json, sys
from model import fast
from model.elf.loader import load_object
from model.verifier.checker import check_program
rows = []
for path in sys.argv[1:]:
    obj = load_object(path)
    for prog in obj.programs:
        v = check_program(obj, prog, log=False)
        rows.append([path, prog.name, v.verdict, v.stats.insns_processed, str(v.error)])
print(json.dumps({"compiled": fast.active(), "rows": rows}))
'''


def _verdicts(objects: list[str], pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SKV_PURE"}
    if pure:
        env["SKV_PURE"] = "1"
    p = subprocess.run([sys.executable, "-c", _CHILD, *objects], env=env, cwd=ROOT,
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def test_a_current_compiled_build_gives_the_pure_verdicts():
    if fast.build_dir() is None:
        pytest.skip("no compiled build of the current sources (make fast builds one)")
    objects = [str(p) for p in sorted(BPFPROGS.glob("*.o"))
               + sorted((BPFPROGS / "datapath").glob("*.o"))]
    assert objects
    compiled, pure = _verdicts(objects, pure=False), _verdicts(objects, pure=True)
    assert compiled["compiled"] and not pure["compiled"]
    assert len(pure["rows"]) >= 20 and {r[2] for r in pure["rows"]} == {"accepted", "rejected"}
    assert compiled["rows"] == pure["rows"]


def test_the_compiled_modules_type_check():
    """mypyc compiles only type-correct modules (and trusts their types at run time): an
    edit that breaks the core's typing is found here, not at the next ``make fast``."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pyproject.toml's fast extra, make fast)")
    p = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports",
                        "--follow-imports=silent", "--no-incremental",
                        *fast.SOURCES],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:]


def _compiled_names() -> set[str]:
    import ast

    names = set()
    for src in fast.SOURCES:
        for n in ast.walk(ast.parse((ROOT / src).read_text())):
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                names.add(n.name)
    return names


def test_callers_pass_the_compiled_core_the_types_it_declares():
    """A compiled function checks its arguments' declared types at run time: a caller
    outside the compiled set passing another type (the Z3 engine's ``access(None, ...)``
    once) works in the pure sources and fails only in a ``make fast`` build. mypy over the
    whole package finds such calls; none may target a function of the compiled set."""
    import re

    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pyproject.toml's fast extra, make fast)")
    p = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports",
                        "--follow-imports=silent", "--no-incremental", "model"],
                       cwd=ROOT, capture_output=True, text=True)
    assert "error:" in p.stdout or p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    names = _compiled_names()
    assert {"access", "covers", "check_program"} <= names
    bad = [line for line in p.stdout.splitlines() if "[arg-type]" in line
           and (m := re.search(r'to "(\w+)"', line)) and m.group(1) in names]
    assert not bad, "\n".join(bad)
