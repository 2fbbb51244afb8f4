"""Shared fixtures. The MLflow store is migrated once per session; tests get a private copy."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


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
