"""``--cluster ADDRESS``: the same per-program work submitted to a Dask distributed cluster.
A real local cluster (a scheduler and two worker processes) gives the serial run's rows."""

from __future__ import annotations

import io
import json

import pytest

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed "
                                  "(a dependency in pyproject.toml: pip install -e .)")

from conftest import BPFPROGS  # noqa: E402
from model.cli import main  # noqa: E402
from model.runner.checking import without_timing  # noqa: E402

OBJECTS = [str(p) for p in sorted(BPFPROGS.glob("*.o"))]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as c:
        yield c


def _json(capsys, argv) -> dict:
    rc = main(argv)
    assert rc == 1                                   # bpfprogs/ holds unsafe programs
    return json.loads(capsys.readouterr().out)


def test_check_on_a_two_worker_cluster_equals_serial(capsys, cluster):
    with distributed.Client(cluster.scheduler_address) as client:
        assert len(client.scheduler_info()["workers"]) == 2
    serial = _json(capsys, ["check", "--json", "-j", "1", *OBJECTS])
    remote = _json(capsys, ["check", "--json", "--cluster", cluster.scheduler_address,
                            *OBJECTS])
    assert without_timing(remote) == without_timing(serial)
    assert len(serial["programs"]) > len(OBJECTS)


def test_prove_on_the_cluster_equals_serial(monkeypatch, cluster):
    import proofs.runner as runner

    monkeypatch.setattr(runner, "scripts", lambda: ["pipeline", "both_edges"])
    outs = []
    for kw in ({"jobs": 1}, {"cluster": cluster.scheduler_address}):
        buf = io.StringIO()
        assert runner.run(quick=True, out=buf, **kw) == 0
        outs.append([line[:83].rstrip() for line in buf.getvalue().splitlines()])
    assert outs[0] == outs[1]


def test_an_unreachable_cluster_is_one_error_line(capsys, monkeypatch):
    import model.runner

    monkeypatch.setattr(model.runner, "CONNECT_TIMEOUT_S", 2)
    rc = main(["check", "--cluster", "tcp://127.0.0.1:1", "--no-symbolic", *OBJECTS[:2]])
    err = capsys.readouterr().err
    assert rc == 2 and "tcp://127.0.0.1:1" in err and len(err.strip().splitlines()) == 1
