"""Shared fixtures. The MLflow store is migrated once per session; tests get a private copy."""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI (HYPOTHESIS_PROFILE=ci, set by .ci/run) draws the same examples every run, so its verdict is the code's, not
# the draw's; a local `make test` draws new examples each run and keeps the failing ones in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def mlflow_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated MLflow SQLite store (created once per test session; copy, don't use)."""
    from kit.training.registry import Registry

    folder = tmp_path_factory.mktemp("mlflow-template")
    Registry(f"sqlite:///{folder / 'mlflow.db'}")
    return folder / "mlflow.db"


@pytest.fixture
def mlflow_tracking_uri(tmp_path: Path, mlflow_store_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of the migrated store; also set as KIT_TRACKING_URI for code that reads the env."""
    folder = tmp_path / "mlflow"
    folder.mkdir()
    shutil.copy(mlflow_store_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    monkeypatch.setenv("KIT_TRACKING_URI", uri)
    return uri


# ---- a Dask LocalCluster as the Dask tests use it (dask is imported only when a test asks for it) ----
@contextlib.contextmanager
def two_workers(**options: Any) -> Iterator[Any]:
    """A LocalCluster of two worker processes, one thread and 1 GiB each (the machine has 2 cores)."""
    from distributed import LocalCluster

    settings = {"memory_limit": "1GiB", "silence_logs": 40} | options
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", **settings) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A client of a two-worker LocalCluster, one per test module."""
    from distributed import Client

    with two_workers() as cluster, Client(cluster) as c:
        yield c


# ---- a real training run on the bundled Telco data (shared by explain and monitoring tests) ----
TELCO_CSV = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
TRAINING_STEPS = ("inputs", "load", "make_split", "check_quality", "build_contract", "train", "check_gates", "register")


def telco_config(root: Path, algorithm: str, sections: dict | None = None) -> dict:
    """Run config for the Telco demo data, trained with one algorithm, MLflow store under ``root/mlflow``."""
    config = {
        "seed": 7,
        "organization": {"name": "Acme <b>Telecom</b>", "owner": "Risk & Models <team>"},
        "dataset": {"name": "IBM Telco customer churn", "path": str(TELCO_CSV), "target": "Churn",
                    "positive_class": "Yes", "sensitive": ["gender", "SeniorCitizen"], "id_columns": ["customerID"]},
        "training": {"algorithms": [algorithm], "bootstrap": 50, "tracking_uri": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"},
    }
    for key, value in (sections or {}).items():  # top-level sections, merged one level deep
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


class TelcoRuns:
    """Real training-phase runs on Telco, one per algorithm, trained once per session and copied per test."""

    def __init__(self) -> None:
        """Nothing is trained until a run is first asked for."""
        self._base: Path | None = None
        self._templates: dict[str, Path] = {}

    def _root(self) -> Path:
        """Session folder holding the templates and one migrated MLflow store (removed at exit)."""
        if self._base is None:
            import atexit
            import tempfile

            from kit.training.registry import Registry

            self._base = Path(tempfile.mkdtemp(prefix="kit-telco-runs-"))
            atexit.register(shutil.rmtree, self._base, True)
            Registry(f"sqlite:///{self._base / 'store' / 'mlflow.db'}")  # migrate once
        return self._base

    def template(self, algorithm: str = "xgboost") -> Path:
        """Folder of the trained template run (config.yaml, artifacts/, mlflow/); read it, never change it."""
        if algorithm not in self._templates:
            import yaml

            from kit.notebook import start
            from kit.training.phase import TrainingRun

            root = self._root() / algorithm
            (root / "mlflow").mkdir(parents=True)
            shutil.copy(self._root() / "store" / "mlflow.db", root / "mlflow" / "mlflow.db")
            (root / "config.yaml").write_text(yaml.safe_dump(telco_config(root, algorithm)), encoding="utf-8")
            ctx = start(root / "config.yaml", root, interactive=False)
            training = TrainingRun(ctx)
            for step in TRAINING_STEPS:  # the notebook's steps, in order
                getattr(training, step)()
            artifact = training.artifact()
            # Phase 2 registers a candidate only; the explain and monitoring tests need a champion, so
            # the fixture promotes it directly (as phase 3 does when all the evidence passes).
            training._registry().set_champion(training.model_name, artifact["champion"]["version"], "test fixture")
            artifact["champion"]["status"] = "champion"
            ctx.write("training", artifact)
            self._templates[algorithm] = root
        return self._templates[algorithm]

    def copy(self, dst: Path, algorithm: str = "xgboost", sections: dict | None = None) -> Path:
        """A private copy of a trained run in ``dst`` (paths and MLflow store relocated); returns its config path."""
        import yaml

        src, dst = self.template(algorithm), Path(dst)
        shutil.copytree(src, dst, dirs_exist_ok=True)
        for path in [dst / "config.yaml", *sorted((dst / "artifacts").glob("*.json"))]:
            path.write_text(path.read_text(encoding="utf-8").replace(str(src), str(dst)), encoding="utf-8")
        _relocate_store(dst / "mlflow" / "mlflow.db", str(src), str(dst))
        if sections:
            (dst / "config.yaml").write_text(yaml.safe_dump(telco_config(dst, algorithm, sections)), encoding="utf-8")
        return dst / "config.yaml"


def _relocate_store(db: Path, old: str, new: str) -> None:
    """Rewrite every text cell of an MLflow SQLite store that names ``old`` (artifact locations) to ``new``."""
    import sqlite3

    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:  # a few dozen small tables
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")') if "CHAR" in r[2].upper() or "TEXT" in r[2].upper()]
            for column in columns:
                con.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE "{column}" LIKE ?', (old, new, f"%{old}%"))


TELCO_RUNS = TelcoRuns()


@pytest.fixture(scope="session")
def telco_runs() -> TelcoRuns:
    """Real training-phase runs on Telco (TrainingRun, own MLflow store); ``.copy(dst)`` gives a private run folder."""
    return TELCO_RUNS


# ---- executing a notebook in a test --------------------------------------------------------------
NOTEBOOK_CELL_TIMEOUT = 300  # seconds per cell: far above any cell's time, even on a loaded 2-core box


def execute_notebook(input_path: str | Path, output_path: str | Path, **kwargs) -> object:
    """papermill.execute_notebook with a per-cell timeout, retried once only when a cell times out.

    Under heavy load, ipykernel 7 with widgets on has been seen to leave the client waiting for a
    reply that never comes (kernel idle, client idle: jupyter/jupyter_client#922 and
    microsoft/vscode-jupyter#17410 describe the same hang). A timeout turns that into an error
    instead of a suite that never ends; a notebook that fails or times out twice still fails.
    """
    import papermill

    kwargs.setdefault("execution_timeout", NOTEBOOK_CELL_TIMEOUT)
    try:
        return papermill.execute_notebook(str(input_path), str(output_path), **kwargs)
    except TimeoutError:
        return papermill.execute_notebook(str(input_path), str(output_path), **kwargs)
