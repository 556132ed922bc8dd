"""The package's layering: nothing under model/ (except the CLI entry point) imports
model/commands/, so every engine, report and file format can be used without the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "model"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_nothing_below_the_commands_imports_them():
    offenders = []
    for path in sorted(MODEL.rglob("*.py")):
        rel = path.relative_to(MODEL)
        if rel.parts[0] == "commands" or rel.name == "cli.py":
            continue
        bad = [m for m in _imports(path) if m.startswith("model.commands")]
        if bad:
            offenders.append(f"{rel}: {', '.join(sorted(bad))}")
    assert len(list(MODEL.rglob("*.py"))) > 50
    assert not offenders, offenders
