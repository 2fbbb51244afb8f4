"""Monitoring tests run on a real training run (the shared ``TELCO_RUNS`` in conftest), copied per module."""
from __future__ import annotations

from pathlib import Path

from conftest import TELCO_RUNS
from kit.notebook import RunContext, start


def make_run(tmp_path: Path, algorithm: str = "xgboost", monitoring: dict | None = None) -> RunContext:
    """A private copy of the trained Telco run (split, contract, champion, registry) opened as a run context."""
    sections = {"monitoring": monitoring} if monitoring else None
    config_path = TELCO_RUNS.copy(Path(tmp_path) / "run", algorithm, sections)
    return start(config_path, config_path.parent, interactive=False)
