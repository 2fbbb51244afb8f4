"""The one scoring path: the same preparation and prediction for training, explaining and monitoring.

A :class:`ScoringModel` wraps a native XGBoost or LightGBM booster together with everything
needed to turn a raw data frame into booster input exactly as during training: the feature
list, the numeric columns, and the category levels seen in training. Saved models are the
library's own file format (XGBoost JSON, LightGBM text) plus a ``scoring.json`` sidecar;
nothing is ever pickled.

Unseen categories: a category level that was not in the training data becomes missing
(NaN) and follows the booster's default (missing-value) branch, the same as an empty cell.
Use the data contract (:mod:`kit.training.contract`) to detect and report such values.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError, did_you_mean

SIDECAR = "scoring.json"
MODEL_FILES = {"xgboost": "model.json", "lightgbm": "model.txt"}
ALGORITHMS = tuple(MODEL_FILES)


def thread_count(rows: int) -> int:
    """Threads for training and scoring: one on small data (synchronisation costs more than it saves), else every core."""
    below = content.load("training")["threads"]["single_thread_below_rows"]
    return 1 if rows < below else (os.cpu_count() or 1)


def prepare_features(
    df: pd.DataFrame, features: list[str], categories: dict[str, list[Any]]
) -> pd.DataFrame:
    """Select ``features`` in order: categoricals get the training levels, the rest become float64."""
    missing = [c for c in features if c not in df.columns]
    if missing:
        hint = did_you_mean(missing[0], df.columns)
        raise DataError(
            f"columns {missing} are missing from the data to score{hint}; "
            "score data with the same columns as the training data"
        )
    out = {col: _prepare_column(df[col], col, categories.get(col)) for col in features}
    return pd.DataFrame(out, index=df.index)


def _prepare_column(values: pd.Series, col: str, levels: list[Any] | None) -> pd.Categorical | np.ndarray:
    """One feature as booster input: a categorical on the training levels, or float64."""
    if levels is None:
        return _to_float(values, col)
    if isinstance(values.dtype, pd.CategoricalDtype):
        if values.cat.categories.tolist() == levels:
            return values.array  # already on the training levels: no re-encoding
        return pd.Categorical(values, categories=levels)
    return pd.Categorical(values.astype("object"), categories=levels)


def _to_float(values: pd.Series, col: str) -> np.ndarray:
    """Convert one numeric feature to float64; text that is not a number is an error."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    text = values.astype("string").str.strip().replace("", pd.NA)
    converted = pd.to_numeric(text, errors="coerce")
    bad = converted.isna() & text.notna()
    if bad.any():
        example = text[bad].iloc[0]
        raise DataError(
            f"column {col!r}: {int(bad.sum())} value(s) are not numbers (e.g. {example!r}); "
            "this column was numeric in training, so clean it or leave those cells empty"
        )
    return converted.to_numpy(dtype="float64", na_value=np.nan)


@dataclass
class ScoringModel:
    """A trained booster plus the preprocessing it was trained with: the one way to score."""

    algorithm: str
    booster: Any
    features: list[str]
    categories: dict[str, list[Any]]
    threshold: float = 0.5
    positive_class: Any = 1
    negative_class: Any = 0
    target: str = "target"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the algorithm name."""
        if self.algorithm not in ALGORITHMS:
            raise DataError(f"algorithm {self.algorithm!r} is not supported; use one of {list(ALGORITHMS)}")

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Booster-ready frame: features in training order, training category levels, floats."""
        return prepare_features(df, self.features, self.categories)

    def margin(self, df: pd.DataFrame) -> np.ndarray:
        """Raw score (log-odds of the positive class) for each row."""
        return self._predict(self.prepare(df), raw=True)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row (1-D)."""
        return self._predict(self.prepare(df), raw=False)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """0/1 decision at the model's threshold (1 = positive class)."""
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def _predict(self, X: pd.DataFrame, raw: bool) -> np.ndarray:
        """Call the native booster on a prepared frame."""
        if self.algorithm == "xgboost":
            kind = "margin" if raw else "value"
            out = self.booster.inplace_predict(X, predict_type=kind)
        else:
            out = self.booster.predict(X, raw_score=raw, num_threads=thread_count(len(X)))
        return np.asarray(out, dtype="float64").reshape(-1)

    def sidecar(self) -> dict[str, Any]:
        """Everything besides the booster needed to score, as plain JSON."""
        return {
            "format": 1,
            "algorithm": self.algorithm,
            "model_file": MODEL_FILES[self.algorithm],
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "threshold": float(self.threshold),
            "positive_class": self.positive_class,
            "negative_class": self.negative_class,
            "target": self.target,
            "info": self.info,
        }

    def save(self, directory: str | Path) -> Path:
        """Write the native model file and ``scoring.json`` into ``directory``; return it."""
        from kit.artifacts import write_json

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        model_path = directory / MODEL_FILES[self.algorithm]
        if self.algorithm == "xgboost":
            self.booster.save_model(str(model_path))
        else:
            self.booster.save_model(str(model_path))
        write_json(directory / SIDECAR, self.sidecar())
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ScoringModel:
        """Load a model saved by :meth:`save` (native model file + ``scoring.json``)."""
        directory = Path(directory)
        sidecar_path = directory / SIDECAR
        if not sidecar_path.is_file():
            raise DataError(
                f"{sidecar_path}: no scoring.json here; point at a model folder written by the "
                "training phase (run_dir/artifacts/model)"
            )
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
        model_path = directory / meta["model_file"]
        if meta["algorithm"] == "xgboost":
            import xgboost as xgb

            booster = xgb.Booster(params={"nthread": 1})
            booster.load_model(str(model_path))
        else:
            import lightgbm as lgb

            booster = lgb.Booster(model_file=str(model_path))
        return cls(
            algorithm=meta["algorithm"],
            booster=booster,
            features=meta["features"],
            categories=meta["categories"],
            threshold=meta["threshold"],
            positive_class=meta["positive_class"],
            negative_class=meta["negative_class"],
            target=meta["target"],
            info=meta.get("info", {}),
        )
