"""Small real models on the bundled Telco churn data, shared by the explainability tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.training.scoring import ScoringModel

DATA = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
CATEGORICAL = ["gender", "Partner", "Contract", "InternetService", "PaymentMethod", "PaperlessBilling"]
NUMERIC = ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]


def telco_frame(n: int = 1500) -> tuple[pd.DataFrame, np.ndarray]:
    """The first ``n`` Telco rows: features (categoricals as category) and the 0/1 churn label."""
    raw = pd.read_csv(DATA, nrows=n)
    X = raw[CATEGORICAL + NUMERIC].copy()
    X["TotalCharges"] = pd.to_numeric(X["TotalCharges"].str.strip(), errors="coerce")
    for col in CATEGORICAL:
        X[col] = X[col].astype("category")
    return X, (raw["Churn"] == "Yes").to_numpy(dtype=int)


def train(algorithm: str, X: pd.DataFrame, y: np.ndarray, rounds: int = 25) -> ScoringModel:
    """A small seeded booster wrapped in the training phase's ScoringModel."""
    categories = {c: list(X[c].cat.categories) for c in CATEGORICAL}
    model = ScoringModel(algorithm, None, list(X.columns), categories, threshold=0.5)
    prepared = model.prepare(X)
    if algorithm == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.2, "seed": 0, "nthread": 1}
        model.booster = xgb.train(params, xgb.DMatrix(prepared, y, enable_categorical=True), rounds)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.2, "seed": 0,
                  "num_threads": 1, "verbose": -1, "min_data_per_group": 20}
        model.booster = lgb.train(params, lgb.Dataset(prepared, y), rounds)
    return model


@pytest.fixture(scope="module")
def telco_model(request):
    """(model, raw features, labels) for the algorithm named by the test's parameter."""
    X, y = telco_frame()
    return train(request.param, X, y), X, y


def make_run(run_dir: Path, algorithm: str = "xgboost", sensitive: list[str] | None = None,
             explain: dict | None = None, register: bool = False, rounds: int = 25) -> Path:
    """A run folder as phase 2 leaves it: recorded split, champion model files, training artifact, config.

    Trains a small seeded booster on the Telco train rows with the training phase's own data
    helpers, so phase 3 reads exactly what it reads after a real chain run.
    """
    import yaml

    from kit.artifacts import write_artifact
    from kit.config import load_config
    from kit.training.data import encode_target, feature_columns, load_dataset, make_split, save_split

    run_dir = Path(run_dir)
    raw = {
        "seed": 7,
        "organization": {"name": "Acme <b>Telecom</b>", "owner": "Risk & Models <team>"},
        "dataset": {
            "name": "IBM Telco customer churn", "path": str(DATA), "target": "Churn", "positive_class": "Yes",
            "sensitive": sensitive if sensitive is not None else ["gender", "SeniorCitizen"], "id_columns": ["customerID"],
        },
        "training": {"tracking_uri": f"sqlite:///{run_dir / 'mlflow.db'}"},
        "explainability": {"time_budget_seconds": 0.5, "min_sample_rows": 200, "max_sample_rows": 600,
                           "fairness": {"bootstrap": 60}, **(explain or {})},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(config_path)
    spec = config.dataset
    frame = load_dataset(spec, show_warnings=False)
    target = encode_target(frame[spec.target], spec.positive_class)
    split = make_split(frame, target.y, 0.2, 0.2, seed=7)
    save_split(run_dir, split, spec)
    features = feature_columns(frame, spec)
    X_train = frame.iloc[split.parts["train"]][features]
    model = _train_all(algorithm, X_train, target.y[split.parts["train"]], rounds)
    model_dir = model.save(run_dir / "artifacts" / "model")
    champion = {"name": None, "version": None, "model_dir": str(model_dir.relative_to(run_dir)),
                "threshold": 0.35, "status": "candidate",
                "metrics": {"roc_auc": {"value": 0.84, "low": 0.82, "high": 0.86}}}
    if register:
        from kit.training.registry import Registry

        registry = Registry(raw["training"]["tracking_uri"])
        run_id = registry.log_candidate("explain-tests", algorithm, {}, {"roc_auc": 0.84}, model_dir=model_dir)
        champion.update(name="telco-churn", version=registry.register("telco-churn", run_id))
    write_artifact(run_dir, "training", {
        "champion": champion, "dataset": {"sha256": "abc123", "rows": len(frame)},
        "contract": {"status": "passed"}, "headline": {}, "headline_status": "ok",
    })
    return config_path


def _train_all(algorithm: str, X: pd.DataFrame, y: np.ndarray, rounds: int) -> ScoringModel:
    """Train on every feature column (text columns are categorical after load_dataset)."""
    categories = {c: list(X[c].cat.categories) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
    model = ScoringModel(algorithm, None, list(X.columns), categories, threshold=0.35)
    prepared = model.prepare(X)
    if algorithm == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.2, "seed": 0, "nthread": 1}
        model.booster = xgb.train(params, xgb.DMatrix(prepared, y, enable_categorical=True), rounds)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.2, "seed": 0, "num_threads": 1, "verbose": -1}
        model.booster = lgb.train(params, lgb.Dataset(prepared, y), rounds)
    return model
