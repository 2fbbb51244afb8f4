"""`kit batch --cluster`: one run per task on a LocalCluster's workers; a failing config or a killed worker fails only
that config, and the index lists every run."""
from __future__ import annotations

from pathlib import Path

import dask
import distributed  # noqa: F401  imported before any dask.config.set, whose exit would drop its config
import pytest

from conftest import two_workers
from tests.test_chain_faults import _leftovers, _worker_job
from tests.test_chain_mechanics import make_config, make_notebooks


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in phase notebooks (fast), as the process-pool batch tests use."""
    return make_notebooks(tmp_path_factory.mktemp("nb") / "notebooks")


def test_batch_on_a_cluster_isolates_failures_and_lists_every_run(notebooks: Path, tmp_path: Path, monkeypatch) -> None:
    from kit import batch

    monkeypatch.setenv("KIT_TEST_NOTEBOOKS", str(notebooks))
    monkeypatch.setattr(batch, "_run_one", _worker_job)  # 'die' kills its worker, 'boom' fails outside the kit
    configs = [make_config(tmp_path, name) for name in ("good", "die", "boom", "also_good")]
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            two_workers(memory_limit="auto", silence_logs=50) as cluster:
        results = batch.run_batch(configs, out=tmp_path / "batch", show_progress=False, cluster=cluster.scheduler_address)
        assert len(cluster.scheduler.workers) >= 1  # the cluster lives on (the nanny restarts the killed worker)
    assert [r["status"] for r in results] == ["ok", "failed", "failed", "ok"]
    assert "Dask worker running this config died" in results[1]["error"]
    assert results[2]["error"] == "RuntimeError: disk controller on fire"
    assert all((tmp_path / "batch" / name / "index.html").is_file() for name in ("good", "also_good"))
    page = (tmp_path / "batch" / "index.html").read_text()
    assert "2 passed, 2 failed" in page and "worker running this config died" in page


def test_batch_cluster_option_with_no_scheduler_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    from kit.__main__ import main
    from kit.compute import engine

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    code = main(["batch", str(make_config(tmp_path, "a")), "--out", str(tmp_path / "b"), "--cluster", "tcp://127.0.0.1:9"])
    assert code == 2 and "no Dask scheduler answers at 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    page = (tmp_path / "b" / "index.html").read_text()  # the index is written whatever happens
    assert "not run: the batch was interrupted" in page
