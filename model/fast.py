"""The optional compiled verifier core (``make fast``).

The hot modules of the abstract verifier (``COMPILED``) can be compiled with mypyc into
``build/fast/<key>/``, where ``<key>`` hashes every source file of the package and the
interpreter's extension suffix. When ``model`` is imported, ``use()`` loads those modules
from there only if the directory for the CURRENT key exists: an edit of any source changes
the key, so a stale build is never used and skv silently runs the pure-Python sources,
which stay the one definition of the semantics (the compiled modules are the same files).
``SKV_PURE=1`` in the environment forces the pure-Python sources (the test suite sets it).

``python -m model.fast_build`` (``make fast``) builds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: the modules compiled, under model/ (type-correct under mypy: mypyc trusts the types).
#: The domains and the back ends also run over Z3 values (the proofs, the Z3 engine): such
#: values are unannotated (``Any``), so the compiled code handles them as any Python object.
COMPILED = ("verifier.transfer", "verifier.step", "verifier.state", "verifier.regs",
            "verifier.checker", "verifier.explore", "verifier.backtrack", "verifier.marks",
            "verifier.memcheck", "verifier.liveness", "verifier.calls", "verifier.history",
            "verifier.sensitivity",
            "domains.tnum", "domains.scalar", "domains.scalar_alu", "domains.scalar_branch",
            "semantics.backend")
MODULES = tuple(f"model.{m}" for m in COMPILED)
SOURCES = tuple(f"model/{m.replace('.', '/')}.py" for m in COMPILED)  # relative to the root
PACKAGE = Path(__file__).resolve().parent
BUILD = PACKAGE.parent / "build" / "fast"
DONE = "COMPLETE"  # written last: a build interrupted half-way is never used


def source_key(package: Path = PACKAGE) -> str:
    """The hash of every ``.py`` file of the package (paths and contents) and of the
    interpreter's ABI: what a compiled build was made from."""
    h = hashlib.sha256(EXTENSION_SUFFIXES[0].encode())
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def build_dir(package: Path = PACKAGE, build: Path = BUILD) -> Path | None:
    """The compiled build of the current sources, or None (none built, or built from other
    sources)."""
    if not build.is_dir():
        return None
    d = build / source_key(package)
    return d if (d / DONE).is_file() else None


def extensions(d: Path) -> dict[str, str]:
    """Module name -> extension file, for the files of a build directory."""
    suffix = EXTENSION_SUFFIXES[0]
    out = {}
    for so in d.rglob("*" + suffix):
        rel = so.relative_to(d)
        if rel.parts[0] == "build":  # (setuptools' own copies, in a work directory)
            continue
        out[".".join(rel.parts[:-1] + (so.name[:-len(suffix)],))] = str(so)
    return out


class _Finder:
    """Serves the compiled modules (and mypyc's shared library) from a build directory."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def find_spec(self, fullname, path=None, target=None):
        f = self.files.get(fullname)
        return None if f is None else importlib.util.spec_from_file_location(fullname, f)


def use() -> bool:
    """Load the compiled modules from now on, if a build of the current sources exists
    (and SKV_PURE is not set); True when they will be used."""
    if os.environ.get("SKV_PURE") or any(m in sys.modules for m in MODULES):
        return False
    d = build_dir()
    if d is None:
        return False
    files = extensions(d)
    if not set(MODULES) <= files.keys():
        return False
    sys.meta_path.insert(0, _Finder(files))
    return True


def active() -> bool:
    """The verifier's modules in use are the compiled ones."""
    import model.verifier.checker as checker

    return not checker.__file__.endswith(".py")
