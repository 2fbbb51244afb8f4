"""A small real run folder for the monitoring tests: Telco split, a seeded booster, a training artifact."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kit.artifacts import write_artifact
from kit.notebook import RunContext, start
from kit.training.data import encode_target, feature_columns, load_dataset, make_split, save_split
from kit.training.metrics import compute_metrics
from kit.training.scoring import ScoringModel

DATA = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
CONFIG = """organization: {{name: Test}}
seed: 7
dataset: {{path: {path}, target: Churn, positive_class: "Yes", sensitive: [gender, SeniorCitizen], id_columns: [customerID]}}
{extra}
"""


def train_model(algorithm: str, X, y: np.ndarray, rounds: int = 40) -> ScoringModel:
    """A small seeded booster wrapped in the training phase's ScoringModel."""
    categories = {c: list(X[c].cat.categories) for c in X.columns if str(X[c].dtype) == "category"}
    model = ScoringModel(algorithm, None, list(X.columns), categories, threshold=0.35,
                         positive_class="Yes", negative_class="No", target="Churn")
    prepared = model.prepare(X)
    if algorithm == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.15, "seed": 0, "nthread": 1}
        model.booster = xgb.train(params, xgb.DMatrix(prepared, y, enable_categorical=True), rounds)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.15, "seed": 0, "num_threads": 1, "verbose": -1}
        model.booster = lgb.train(params, lgb.Dataset(prepared, y), rounds)
    return model


def make_run(tmp_path: Path, algorithm: str = "xgboost", extra: str = "") -> RunContext:
    """A run folder with split.json, a champion model and a training artifact, as training leaves it."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG.format(path=DATA, extra=extra), encoding="utf-8")
    run_dir = tmp_path / "run"
    ctx = start(config_path, run_dir)
    spec = ctx.config.dataset
    frame = load_dataset(spec, show_warnings=False)
    target = encode_target(frame[spec.target], spec.positive_class)
    split = make_split(frame, target.y, 0.2, 0.2, seed=7)
    save_split(run_dir, split, spec)
    features = feature_columns(frame, spec)
    train = split.parts["train"]
    model = train_model(algorithm, frame.iloc[train][features], target.y[train])
    model.save(run_dir / "artifacts" / "model")
    test = split.parts["test"]
    metrics = compute_metrics(target.y[test], model.predict_proba(frame.iloc[test]), model.threshold)
    write_artifact(run_dir, "training", {"champion": {
        "name": None, "version": None, "model_dir": "artifacts/model", "metrics": {"test": metrics},
        "threshold": model.threshold}})
    return ctx
