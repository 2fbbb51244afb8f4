"""Compute engine: config, KIT_CLUSTER / --cluster override, a local Dask cluster started and stopped by the kit."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kit.compute import engine
from kit.compute.config import ComputeSection
from kit.config import validate_config
from kit.errors import ConfigError

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def config(**compute) -> dict:
    """A minimal config with a compute section."""
    return {"organization": {"name": "Acme"}, "dataset": {"path": str(TELCO), "target": "Churn", "positive_class": "Yes"},
            "compute": compute}


def test_default_engine_is_local_and_holds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine.ENV, raising=False)
    section = validate_config(config()).compute
    assert section.engine == "local"
    with engine.open_engine(section) as record:
        assert record.engine == "local"
        assert engine.active_record() == {**vars(record), "memory_per_worker": [], "versions": {}}
        assert engine.ENV not in os.environ
    assert engine.client_for(section) is None


@pytest.mark.parametrize(("compute", "needle"), [
    ({"engin": "dask"}, "did you mean 'engine'"),
    ({"engine": "spark"}, "compute.engine"),
    ({"address": "tcp://h:8786"}, "set engine: dask"),
    ({"engine": "dask", "memory_limit": "lots"}, "memory_limit 'lots' is not a size"),
    ({"engine": "dask", "memory_limit": "0"}, "memory_limit '0' is not a size"),
    ({"engine": "dask", "n_workers": 0}, "compute.n_workers"),
])
def test_bad_compute_sections_name_key_and_fix(compute: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        validate_config(config(**compute))


def test_kit_cluster_overrides_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.ENV, " tcp://10.0.0.5:8786 ")
    got = engine.effective(ComputeSection())
    assert (got.engine, got.address) == ("dask", "tcp://10.0.0.5:8786")


def test_unreachable_scheduler_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    monkeypatch.delenv(engine.ENV, raising=False)
    with pytest.raises(ConfigError, match=r"no Dask scheduler answers at 'tcp://127.0.0.1:9'.*start the cluster"):
        with engine.open_engine(ComputeSection(engine="dask", address="tcp://127.0.0.1:9")):
            pass
    assert engine.ENV not in os.environ


def test_cli_cluster_option_reaches_the_engine(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    from kit.__main__ import main

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    monkeypatch.delenv(engine.ENV, raising=False)
    demo = Path(__file__).resolve().parent.parent / "data" / "configs" / "demo.yaml"
    code = main(["run", str(demo), "--out", str(tmp_path / "r"), "--cluster", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "no Dask scheduler answers at 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    monkeypatch.delenv(engine.ENV, raising=False)


def test_local_cluster_started_recorded_and_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.manifest import new_manifest

    monkeypatch.delenv(engine.ENV, raising=False)
    run = validate_config(config(engine="dask", n_workers=2, threads_per_worker=1, memory_limit="600MiB"))
    with engine.open_engine(run.compute) as record:
        address = os.environ[engine.ENV]
        assert record.address == address and record.started_by_kit
        assert (record.workers, record.threads) == (2, 2)
        assert record.memory_per_worker == [600 * 2**20] * 2
        assert record.dashboard.startswith("http://") and record.versions["xgboost"] not in ("", "?", "not installed")
        manifest = new_manifest(run, ["training"], "now", {})
        assert manifest.compute["address"] == address and manifest.compute["workers"] == 2
        client = engine.client_for(run.compute)  # what a phase kernel does: the run's cluster, via KIT_CLUSTER
        assert client.submit(sum, [1, 2, 3]).result() == 6
        client.close()
        assert "dashboard" in engine.dashboard_markdown(engine.active_record())
        from kit.report import engine_fact

        fact = engine_fact(manifest.compute)
        assert fact.startswith("Dask (started and stopped by the kit) at " + address) and "2 workers, 2 threads, 0.6 GiB" in fact
    assert engine_fact({"engine": "local"}) == "local (in-process)"
    assert engine.ENV not in os.environ and engine.active_record() == {"engine": "local"}
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ConfigError):  # the kit stopped the cluster it started
        engine._connect(address)


def test_chain_on_a_kit_started_cluster_records_it_and_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain holds the cluster for the run (kernels see KIT_CLUSTER), records it, and stops it at the end."""
    import yaml

    from kit.chain import run_chain
    from tests.test_chain_mechanics import make_config, make_notebooks

    monkeypatch.delenv(engine.ENV, raising=False)
    notebooks = make_notebooks(tmp_path / "notebooks")
    path = make_config(tmp_path, "on-dask")
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "compute": {"engine": "dask", "n_workers": 1, "memory_limit": "500MiB"}}))
    lines: list[str] = []
    manifest, landed = run_chain(path, out=tmp_path / "report", notebook_dir=notebooks, progress=lines.append,
                                 phases="readiness")
    assert manifest.status == "ok"
    assert manifest.compute["engine"] == "dask" and manifest.compute["workers"] == 1
    assert lines[0].startswith("engine: Dask (started and stopped by the kit)") and "dashboard http://" in lines[0]
    assert "Dask (started and stopped by the kit)" in (landed / "index.html").read_text()
    assert engine.ENV not in os.environ
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ConfigError):
        engine._connect(manifest.compute["address"])


def test_cluster_option_does_not_outlive_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--cluster` applies to its own run only; a process calling main() again must not inherit it."""
    from kit.__main__ import main

    demo = tmp_path / "missing.yaml"
    main(["run", str(demo), "--out", str(tmp_path / "r"), "--cluster", "tcp://127.0.0.1:9"])
    assert engine.ENV not in os.environ
