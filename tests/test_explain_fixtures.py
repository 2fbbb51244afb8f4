"""Explainability tests run on the real training phase's output (the shared ``TELCO_RUNS`` in conftest).

``telco_model`` gives the trained champion with the test rows it never saw; ``make_run`` copies a
whole trained run folder (recorded split, contract, champion model files, training artifact,
registered MLflow version) so phase 3 reads exactly what it reads after a real chain run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TELCO_RUNS
from kit.training.data import load_split
from kit.training.scoring import ScoringModel


def telco_frame(algorithm: str = "xgboost") -> tuple[pd.DataFrame, np.ndarray]:
    """Test rows of the trained Telco run: the champion's features and the 0/1 churn label."""
    run_dir = TELCO_RUNS.template(algorithm)
    X, y = load_split(run_dir, part="test")
    model = ScoringModel.load(run_dir / "artifacts" / "model")
    return X[model.features], y


@pytest.fixture(scope="module")
def telco_model(request) -> tuple[ScoringModel, pd.DataFrame, np.ndarray]:
    """(champion model, test features, labels) of the real training run for the parametrized algorithm."""
    model = ScoringModel.load(TELCO_RUNS.template(request.param) / "artifacts" / "model")
    X, y = telco_frame(request.param)
    return model, X, y


def make_run(run_dir: Path, algorithm: str = "xgboost", sensitive: list[str] | None = None,
             explain: dict | None = None, register: bool = True, rounds: int | None = None) -> Path:
    """A private copy of a real training run in ``run_dir`` with explainability settings; returns its config path.

    The training phase always registers its champion in the run's own MLflow store, so
    ``register`` is kept for old callers only; ``rounds`` likewise (early stopping decides the trees).
    """
    sections = {
        "explainability": {"time_budget_seconds": 0.5, "min_sample_rows": 200, "max_sample_rows": 600,
                           "fairness": {"bootstrap": 60}, **(explain or {})},
    }
    if sensitive is not None:
        sections["dataset"] = {"sensitive": sensitive}
    return TELCO_RUNS.copy(run_dir, algorithm, sections)
