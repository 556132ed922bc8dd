"""One parse of an object per process. ``skv check`` checks one item per program (a process
pool spreads them), and each item loaded the whole object again, twice with ``--kernel``
(its check, its kernel load): a large object paid the parse for every program (tracee.bpf.o,
13 MB and 169 programs, takes 25-45 s to load: hours of parsing for about a minute of
verification). The verifier and the kernel side only read a loaded object, so a process
keeps the last few it loaded, by path, size and modification time (a rebuilt file is loaded
again) and the loader's arguments."""

from __future__ import annotations

import functools
import os

from model.elf.loader import load_object
from model.program import BpfObject


def load_cached(path: str, **kw) -> BpfObject:
    """``load_object(path, **kw)``, parsed once per process while the file is unchanged
    (a load error is not kept: it is raised again, by a new parse, next time)."""
    try:
        st = os.stat(path)
    except OSError:
        return load_object(path, **kw)  # (the loader's error names the path and the cause)
    return _load(path, st.st_mtime_ns, st.st_size, tuple(sorted(kw.items())))


@functools.lru_cache(maxsize=4)  # (an object as check and as the kernel side load it)
def _load(path: str, mtime_ns: int, size: int, kw: tuple) -> BpfObject:
    return load_object(path, **dict(kw))


__all__ = ["load_cached"]
