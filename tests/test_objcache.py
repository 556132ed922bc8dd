"""model.runner.objcache: ``skv check`` parses an object once per process, not once per
program (and once more for the kernel side), and parses it again once it changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from model.errors import SkvError
from model.runner import objcache
from model.runner.checking import CheckItem, CheckOptions, check_item, plan

ROOT = Path(__file__).resolve().parent.parent


def _multi_program_object() -> Path:
    from model.elf.loader import load_object

    for p in sorted((ROOT / "bpfprogs").rglob("*.o")):
        try:
            if len(load_object(str(p)).programs) >= 2:
                return p
        except SkvError:
            continue
    pytest.skip("no bundled object with two programs (make builds bpfprogs/)")


def test_an_object_is_parsed_once_for_all_its_programs(tmp_path, monkeypatch):
    src = _multi_program_object()
    obj = tmp_path / src.name
    shutil.copy(src, obj)
    calls = []
    real = objcache.load_object
    monkeypatch.setattr(objcache, "load_object", lambda *a, **k: calls.append(a) or real(*a, **k))
    objcache._load.cache_clear()
    items = plan([str(obj)], None, CheckOptions(symbolic=False))
    assert len(items) >= 2
    rows = [r for it in items for r in check_item(it)]
    assert len(rows) == len(items) and all(r["verdict"] != "error" for r in rows)
    assert len(calls) == 1  # the plan's parse serves every program's check
    # a rebuilt object (another size or time) is parsed again
    os.utime(obj, ns=(os.stat(obj).st_atime_ns, os.stat(obj).st_mtime_ns + 10**9))
    check_item(CheckItem(str(obj), items[0].program, CheckOptions(symbolic=False)))
    assert len(calls) == 2


def test_a_missing_object_is_the_loaders_error_not_a_cache_crash():
    with pytest.raises(SkvError):
        objcache.load_cached("/nonexistent/prog.o")
