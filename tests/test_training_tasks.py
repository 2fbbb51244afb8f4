"""The training phase end to end on a regression (bike sharing, hourly rentals) and a multiclass (ai4i failure type) target."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.notebook import start
from kit.training.data import load_split
from kit.training.phase import TrainingRun
from kit.training.scoring import ScoringModel

ROOT = Path(__file__).resolve().parents[1]
BIKE = Path("/work/shared/data/bike_sharing/hour.csv")
AI4I = ROOT / "data" / "ai4i_maintenance" / "ai4i2020.csv"
FLAGS = ["TWF", "HDF", "PWF", "OSF", "RNF"]


def failure_type_csv(folder: Path) -> Path:
    """The ai4i data with its failure type (the first failure flag set, else 'none'), without the flags it comes from."""
    frame = pd.read_csv(AI4I)
    flags = frame[FLAGS].astype(bool)
    frame["failure_type"] = flags.idxmax(axis=1).where(flags.any(axis=1), "none")
    path = folder / "ai4i_failure_type.csv"
    frame.drop(columns=FLAGS + ["Machine failure"]).to_csv(path, index=False)
    return path


def config_file(folder: Path, dataset: dict, **training: object) -> Path:
    """A run config with a small training section."""
    raw = {"name": dataset.pop("name"), "organization": {"name": "Test org"}, "dataset": dataset,
           "training": {"max_trees": 150, "early_stopping_rounds": 15, "bootstrap": 60, **training}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_phase(config: Path, run_dir: Path) -> tuple[TrainingRun, dict]:
    """Every notebook step in order; returns the run and its artifact."""
    ctx = start(config, run_dir)
    run = TrainingRun(ctx)
    run.inputs()
    run.load()
    run.make_split()
    run.check_quality()
    run.build_contract()
    run.train()
    run.check_gates()
    run.register()
    artifact = run.artifact()
    ctx.write("training", artifact)
    return run, artifact


def bike_config(tmp_path: Path, **training: object) -> Path:
    """Hourly bike rentals (target cnt, time-ordered by dteday); casual + registered add up to cnt, so never features."""
    return config_file(tmp_path, {"name": "bikes", "path": str(BIKE), "target": "cnt", "time_column": "dteday",
                                  "id_columns": ["instant"], "post_outcome_columns": ["casual", "registered"]}, **training)


def test_regression_phase_end_to_end(tmp_path: Path, mlflow_tracking_uri: str) -> None:
    run, art = run_phase(bike_config(tmp_path), tmp_path / "run")
    assert art["task"]["task"] == "regression" and art["task"]["metric"] == "rmse"
    assert "distinct numeric values > 20" in art["task"]["reason"]
    board = pd.DataFrame(art["leaderboard"]).set_index("candidate")
    assert list(board.index[:2]) != ["mean", "ridge"] and set(board.index) == {"mean", "ridge", "xgboost", "lightgbm"}
    best = art["champion"]["algorithm"]
    # held-out (later) hours: the booster beats both baselines by far, the ridge beats the mean
    assert board.loc[best, "rmse"] < 0.7 * board.loc["ridge", "rmse"] and board.loc["ridge", "rmse"] < 0.85 * board.loc["mean", "rmse"]
    assert art["champion"]["threshold"] is None and art["champion"]["confusion_matrix"] is None
    metrics = art["champion"]["metrics"]
    assert set(metrics) == {"rmse", "mae", "r2"}  # MAPE omitted: some hours have 1 rental (below 1% of the median)
    assert any(n.startswith("MAPE omitted: ") for n in art["warnings"])
    assert metrics["rmse"]["low"] < metrics["rmse"]["value"] < metrics["rmse"]["high"]
    assert art["headline"]["Test RMSE"].startswith(f"{metrics['rmse']['value']:.3f} [")
    gates = art["gates"]
    assert gates["beats baseline"]["passed"] and "test rmse" in gates["beats baseline"]["reason"]
    assert gates["test evidence"]["passed"] and "no classes to count" in gates["test evidence"]["reason"]
    # the recorded split: time-ordered, y as floats in the target's units, and the saved model predicts them
    X, y = load_split(run.ctx, part="test")
    assert y.dtype == np.float64 and art["split"]["task"] == "regression" and art["split"]["method"].startswith("time-ordered")
    model = ScoringModel.load(tmp_path / "run" / "artifacts" / "model")
    assert model.task == "regression"
    rmse = float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))
    assert rmse == pytest.approx(metrics["rmse"]["value"], rel=1e-9)
    inputs = {d["input"]: d for d in art["decision_inputs"]}
    assert inputs["task"]["value"] == "regression" and inputs["selection metric"]["value"] == "rmse"
    assert inputs["error costs"]["source"].startswith("not used: a regression model has no decision threshold")
    assert run.business_value() is None
    from kit.training.registry import Registry

    version = Registry(mlflow_tracking_uri).client.get_model_version(art["champion"]["model_name"], art["champion"]["version"])
    assert version.tags["task"] == "regression" and version.tags["selection_metric"] == "rmse"


def test_multiclass_phase_end_to_end(tmp_path: Path, mlflow_tracking_uri: str) -> None:
    path = failure_type_csv(tmp_path)
    config = config_file(tmp_path, {"name": "failures", "path": str(path), "target": "failure_type",
                                    "id_columns": ["UDI", "Product ID"]})
    run, art = run_phase(config, tmp_path / "run")
    assert art["task"] == {"task": "multiclass", "metric": "macro_f1",
                           "reason": "auto: target 'failure_type' is not numeric (6 distinct labels), so multiclass; set dataset.task if this is wrong"}
    classes = ["HDF", "OSF", "PWF", "RNF", "TWF", "none"]
    assert art["champion"]["classes"] == classes
    board = pd.DataFrame(art["leaderboard"]).set_index("candidate")
    best = art["champion"]["algorithm"]
    assert board.loc[best, "macro_f1"] > board.loc["logistic_regression", "macro_f1"] > board.loc["majority", "macro_f1"]
    assert board.loc["majority", "balanced_accuracy"] == pytest.approx(1 / 6)
    cm = np.array(art["champion"]["confusion_matrix"]["rows_actual_columns_predicted"])
    X, y = load_split(run.ctx, part="test")
    assert y.dtype == np.int64 and cm.sum() == len(y) and (cm.sum(1) == np.bincount(y, minlength=6)).all()
    per_class = pd.DataFrame(art["champion"]["per_class"]).set_index("class")
    assert list(per_class.index) == classes and per_class["test_rows"].sum() == len(y)
    assert per_class.loc["none", "recall"] == pytest.approx(cm[5, 5] / cm[5].sum())
    model = ScoringModel.load(tmp_path / "run" / "artifacts" / "model")
    assert model.task == "multiclass" and model.classes == classes
    assert (model.predict(X) == cm_argmax(model, X)).all()
    accuracy = float(np.mean(model.predict(X) == y))
    assert accuracy == pytest.approx(art["champion"]["metrics"]["accuracy"]["value"])
    # some failure types are rare: the test-evidence gate names them rather than promoting on a guess
    evidence = art["gates"]["test evidence"]
    short = [c for c in classes if per_class.loc[c, "test_rows"] < 10]
    assert evidence["passed"] == (not short)
    for c in short:
        assert f"'{c}' ({per_class.loc[c, 'test_rows']})" in evidence["reason"]
    assert art["headline"]["Test Macro F1"].startswith(f"{art['champion']['metrics']['macro_f1']['value']:.3f}")


def cm_argmax(model: ScoringModel, X: pd.DataFrame) -> np.ndarray:
    """The class with the highest probability, from predict_proba."""
    return model.predict_proba(X).argmax(axis=1)


def test_selection_metric_must_suit_the_task(tmp_path: Path) -> None:
    from kit.errors import ConfigError

    ctx = start(bike_config(tmp_path, selection_metric="roc_auc"), tmp_path / "run")
    with pytest.raises(ConfigError, match="training.selection_metric: 'roc_auc' is not a regression metric"):
        TrainingRun(ctx)
    (tmp_path / "mae").mkdir()
    run = TrainingRun(start(bike_config(tmp_path / "mae", selection_metric="mae"), tmp_path / "run2"))
    assert run.metric == "mae"
