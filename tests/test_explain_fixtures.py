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
