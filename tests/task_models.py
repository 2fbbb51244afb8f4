"""Real regression and multiclass boosters for the explainability tests, trained directly on real public data.

Regression: hourly bike rentals (``cnt``, UCI bike sharing) and weekly hours worked (``hours-per-week``,
UCI adult, with ``sex`` and ``race`` as sensitive columns). Multiclass: the failure type of the AI4I
maintenance data (derived from its failure flags) and marital status in adult. Splits are time-ordered
(bike) or seeded; every fit is seeded and single-threaded, so the numbers are reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.training.scoring import booster_name

SHARED = Path("/work/shared/data")
ROOT = Path(__file__).resolve().parent.parent
FAILURE_FLAGS = ("TWF", "HDF", "PWF", "OSF", "RNF")
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income"]


@dataclass
class TaskData:
    """A prepared split (booster-ready frames with categoricals) and the raw frames behind it."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    raw_test: pd.DataFrame
    classes: list[Any] | None = None


def _split(X: pd.DataFrame, y: np.ndarray, raw: pd.DataFrame, order: np.ndarray, classes=None) -> TaskData:
    """60/20/20 split of the rows in ``order``."""
    n = len(order)
    a, b = order[: int(0.6 * n)], order[int(0.6 * n): int(0.8 * n)]
    c = order[int(0.8 * n):]
    return TaskData(X.iloc[a], y[a], X.iloc[b], y[b], X.iloc[c], y[c], raw.iloc[c], classes)


@lru_cache(maxsize=None)
def bike() -> TaskData:
    """Hourly rentals, time-ordered split (train on the past, test on the latest hours)."""
    df = pd.read_csv(SHARED / "bike_sharing" / "hour.csv")
    features = ["season", "yr", "mnth", "hr", "holiday", "weekday", "workingday", "temp", "atemp", "hum", "windspeed"]
    X = df[features].astype(float)
    X["weathersit"] = pd.Categorical(df["weathersit"].astype(str))
    return _split(X, df["cnt"].to_numpy(dtype=float), df, np.arange(len(df)))


def failure_type(df: pd.DataFrame) -> pd.Series:
    """Failure type of each AI4I row: the first raised flag in TWF, HDF, PWF, OSF, RNF order, else 'none'."""
    flags = df[list(FAILURE_FLAGS)].astype(bool)
    first = flags.idxmax(axis=1)
    return first.where(flags.any(axis=1), "none").rename("failure_type")


@lru_cache(maxsize=None)
def maintenance() -> TaskData:
    """AI4I failure type (6 classes, encoded 0..K-1 in sorted label order), seeded split."""
    df = pd.read_csv(ROOT / "data" / "ai4i_maintenance" / "ai4i2020.csv", encoding="utf-8-sig")
    X = df[["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"]].astype(float)
    X["Type"] = pd.Categorical(df["Type"])
    labels = failure_type(df)
    classes = sorted(labels.unique())
    y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    order = np.random.default_rng(3).permutation(len(df))
    return _split(X, y, df, order, classes)


@lru_cache(maxsize=None)
def adult_frame() -> pd.DataFrame:
    """UCI adult training file with named columns and stripped strings."""
    df = pd.read_csv(SHARED / "adult" / "adult.data", header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?")
    return df


def _adult_features(df: pd.DataFrame, drop: str) -> pd.DataFrame:
    """Booster-ready adult features without the target ``drop`` (strings as categoricals)."""
    X = df.drop(columns=[drop, "fnlwgt"])
    for col in X.columns:
        X[col] = X[col].astype(float) if pd.api.types.is_numeric_dtype(X[col]) else pd.Categorical(X[col])
    return X


@lru_cache(maxsize=None)
def adult_hours() -> TaskData:
    """Adult: hours worked per week (regression), 12,000 seeded rows."""
    df = adult_frame().sample(12_000, random_state=5).reset_index(drop=True)
    X = _adult_features(df, "hours-per-week")
    return _split(X, df["hours-per-week"].to_numpy(dtype=float), df, np.arange(len(df)))


@lru_cache(maxsize=None)
def adult_marital() -> TaskData:
    """Adult: marital status grouped in 3 classes (multiclass), 12,000 seeded rows."""
    df = adult_frame().sample(12_000, random_state=6).reset_index(drop=True)
    status = df["marital-status"].map(lambda s: "married" if s.startswith("Married") else
                                      ("never married" if s == "Never-married" else "previously married"))
    X = _adult_features(df.drop(columns=["relationship"]), "marital-status")
    classes = sorted(status.unique())
    y = status.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=int)
    return _split(X, y, df, np.arange(len(df)), classes)


def train(data: TaskData, algorithm: str, task: str, rounds: int = 60) -> Any:
    """A native booster with the task's objective (the objectives phase 2 uses), seeded and single-threaded."""
    k = len(data.classes or [])
    X = data.X_train.set_axis([booster_name(c) for c in data.X_train.columns], axis=1)  # as ScoringModel names them
    if algorithm == "xgboost":
        import xgboost as xgb

        params = {"max_depth": 4, "eta": 0.15, "nthread": 1, "seed": 0}
        params |= {"objective": "multi:softprob", "num_class": k} if task == "multiclass" else {"objective": "reg:squarederror"}
        return xgb.train(params, xgb.DMatrix(X, data.y_train, enable_categorical=True), rounds)
    import lightgbm as lgb

    params = {"num_leaves": 15, "learning_rate": 0.15, "num_threads": 1, "seed": 0, "verbose": -1, "deterministic": True}
    params |= {"objective": "multiclass", "num_class": k} if task == "multiclass" else {"objective": "regression"}
    return lgb.train(params, lgb.Dataset(X, data.y_train), rounds)


def predict(booster: Any, X: pd.DataFrame) -> np.ndarray:
    """The booster's prediction: regression values, or class probabilities (rows, K)."""
    X = X.set_axis([booster_name(c) for c in X.columns], axis=1)
    if type(booster).__module__.startswith("xgboost"):
        return np.asarray(booster.inplace_predict(X), dtype=float)
    return np.asarray(booster.predict(X), dtype=float)


@lru_cache(maxsize=None)
def model(name: str, algorithm: str) -> tuple[Any, TaskData]:
    """A trained (booster, data) pair by data set name, cached for the session."""
    data = {"bike": bike, "maintenance": maintenance, "adult_hours": adult_hours, "adult_marital": adult_marital}[name]()
    task = "multiclass" if data.classes else "regression"
    return train(data, algorithm, task), data
