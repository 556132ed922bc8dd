"""Running many independent pieces of work (one program's check, one proof script) on one
core, on a pool of processes, or on a Dask cluster, with results in the order of the work
whatever order they finish in: a parallel run prints what a serial one prints.

``run_all(fn, items, jobs=N, cluster=ADDRESS, progress=LABEL)``: ``fn`` must be a
module-level function (it is pickled to the worker processes) and ``items`` picklable.
``jobs=1`` without a cluster runs in this process. ``jobs>1``: a
``concurrent.futures.ProcessPoolExecutor`` of that many processes. ``cluster``: the
address of a Dask distributed scheduler (``tcp://host:8786``, started with ``dask
scheduler``, workers with ``dask worker tcp://host:8786``); each item is one task, and the
workers must be able to import ``model`` and read the files the items name.

Progress goes to stderr through tqdm, and only when stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, TypeVar

CONNECT_TIMEOUT_S = 20  # how long to wait for a cluster's scheduler

T = TypeVar("T")
R = TypeVar("R")


def default_jobs() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def progress_bar(total: int, label: str | None):
    """A tqdm bar on stderr, or a silent stand-in when stderr is not a terminal."""
    try:
        from tqdm import tqdm
    except ImportError:  # a declared dependency; an environment not yet updated gets no bar
        return _NoBar()
    return tqdm(total=total, desc=label, unit="task", file=sys.stderr, leave=False,
                disable=not (label and sys.stderr.isatty()), dynamic_ncols=True)


class _NoBar:
    disable = True

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def run_all(fn: Callable[[T], R], items: Iterable[T], *, jobs: int = 1,
            cluster: str | None = None, progress: str | None = None) -> list[R]:
    items = list(items)
    if not items:
        return []
    with progress_bar(len(items), progress) as bar:
        if cluster:
            return _on_cluster(fn, items, cluster, bar)
        if jobs <= 1 or len(items) == 1:
            out = []
            for it in items:
                out.append(fn(it))
                bar.update()
            return out
        return _on_pool(fn, items, jobs, bar)


def _on_pool(fn, items, jobs: int, bar) -> list:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    out: list = [None] * len(items)
    with ProcessPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        futures = {pool.submit(fn, it): k for k, it in enumerate(items)}
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            bar.update()
    return out


def _on_cluster(fn, items, address: str, bar) -> list:
    from model.errors import SkvError

    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - a dependency of the package
        raise SkvError("--cluster needs Dask distributed (pip install distributed)") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as e:
        raise SkvError(f"cluster {address}: cannot connect: {e}") from None
    try:
        futures = client.map(fn, items, pure=False)
        index = {f.key: k for k, f in enumerate(futures)}
        out: list = [None] * len(items)
        for f in as_completed(futures):
            out[index[f.key]] = f.result()
            bar.update()
        return out
    finally:
        client.close()


__all__ = ["run_all", "default_jobs", "progress_bar"]
