"""``make fast``: compile the verifier core (``model.fast.COMPILED``) with mypyc from a copy of
the current sources into ``build/fast/<key>`` (model/fast.py uses it), and remove the builds
of older sources. mypyc is ``$MYPYC`` if set, else ``python -m mypyc`` (pyproject.toml's
``fast`` extra installs it; a C compiler and the Python headers are needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from model.fast import BUILD, DONE, PACKAGE, SOURCES, extensions, source_key


def build(mypyc: list[str] | None = None) -> Path:
    """Compile ``COMPILED`` from a copy of the current sources into ``BUILD/<key>``."""
    key = source_key()
    out = BUILD / key
    if (out / DONE).is_file():
        return out
    work = BUILD / f"tmp-{key}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(PACKAGE, work / "model", ignore=shutil.ignore_patterns("__pycache__"))
    if source_key(work / "model") != key:
        raise SystemExit("the sources changed during the copy: run make fast again")
    mypyc = mypyc or os.environ.get("MYPYC", "").split() or [sys.executable, "-m", "mypyc"]
    subprocess.run([*mypyc, "--ignore-missing-imports", "--follow-imports=silent",
                    *SOURCES], cwd=work, check=True)
    shutil.rmtree(out, ignore_errors=True)
    for so in extensions(work).values():
        dest = out / Path(so).relative_to(work)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(so, dest)
    (out / DONE).write_text(key + "\n")
    shutil.rmtree(work)
    for old in BUILD.iterdir():  # builds of older sources can never be used again
        if old != out:
            shutil.rmtree(old, ignore_errors=True)
    return out


if __name__ == "__main__":
    print(f"compiled verifier core: {build()}")
