"""The one scoring path: the same preparation and prediction for training, explaining and monitoring.

A :class:`ScoringModel` wraps a native XGBoost or LightGBM booster together with everything
needed to turn a raw data frame into booster input exactly as during training: the feature
list, the numeric columns, and the category levels seen in training. Saved models are the
library's own file format (XGBoost JSON, LightGBM text) plus a ``scoring.json`` sidecar;
nothing is ever pickled.

Feature names: the boosters refuse some column names (XGBoost ``[``, ``]``, ``<``; LightGBM JSON
characters, and it rewrites whitespace). The booster sees :func:`booster_name` of each feature;
everything a user sees (reports, SHAP, the contract) and every frame passed in keeps the original
names, and ``scoring.json`` records both lists.

Unseen categories: a category level that was not in the training data becomes missing
(NaN) and follows the booster's default (missing-value) branch, the same as an empty cell.
Use the data contract (:mod:`kit.training.contract`) to detect and report such values.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError, did_you_mean
from kit.tasks import TASKS

SIDECAR = "scoring.json"
MODEL_FILES = {"xgboost": "model.json", "lightgbm": "model.txt"}
ALGORITHMS = tuple(MODEL_FILES)


_UNSAFE_NAME = re.compile(r'[\s\[\]<>{}",:]')
"""Characters XGBoost or LightGBM refuse or rewrite in a feature name."""


def booster_name(name: str) -> str:
    """The name a booster gets for a feature: unchanged when both libraries take it, else made safe and unique.

    Unsafe characters become '_' and a digest of the original name is appended, so two names
    differing only in those characters stay distinct (the same name always maps the same way).
    """
    if name and not _UNSAFE_NAME.search(name):
        return name
    return f"{_UNSAFE_NAME.sub('_', name)}~{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


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
    """Convert one numeric feature to float64 (inf/-inf and beyond float32 become missing); text that is not a number is an error."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return _finite(values.to_numpy(dtype="float64", na_value=np.nan))
    text = values.astype("string").str.strip().replace("", pd.NA)
    converted = pd.to_numeric(text, errors="coerce")
    bad = converted.isna() & text.notna()
    if bad.any():
        example = text[bad].iloc[0]
        raise DataError(
            f"column {col!r}: {int(bad.sum())} value(s) are not numbers (e.g. {example!r}); "
            f"this column was numeric in training; {_number_fix(text)}"
        )
    return _finite(converted.to_numpy(dtype="float64", na_value=np.nan))


def _number_fix(text: pd.Series) -> str:
    """The fix for text in a numeric column: the read option for numbers written with separators, else cleaning."""
    from kit.profile import separator_fix

    return (separator_fix(text, "read_options (monitoring.production.read_options for a production batch)")
            or "clean it or leave those cells empty")


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Boosters store features as float32: a larger magnitude becomes infinity, which they refuse."""


def _finite(values: np.ndarray) -> np.ndarray:
    """The values with inf/-inf and magnitudes beyond float32 as NaN (missing for every model); no copy when none."""
    with np.errstate(invalid="ignore"):
        out_of_range = np.abs(values) > FLOAT32_MAX
    return np.where(out_of_range, np.nan, values) if out_of_range.any() else values


@dataclass
class ScoringModel:
    """A trained booster plus the preprocessing it was trained with: the one way to score.

    ``task`` is binary, multiclass or regression (:mod:`kit.tasks`); ``classes`` are the original
    labels in encoded order (multiclass: sorted, index = encoded class; binary: [negative, positive]).
    """

    algorithm: str
    booster: Any
    features: list[str]
    categories: dict[str, list[Any]]
    threshold: float = 0.5
    positive_class: Any = 1
    negative_class: Any = 0
    target: str = "target"
    info: dict[str, Any] = field(default_factory=dict)
    booster_features: list[str] | None = None
    task: str = "binary"
    classes: list[Any] | None = None

    def __post_init__(self) -> None:
        """Check the algorithm and task; derive the booster's feature names and the binary classes unless given."""
        if self.algorithm not in ALGORITHMS:
            raise DataError(f"algorithm {self.algorithm!r} is not supported; use one of {list(ALGORITHMS)}")
        if self.task not in TASKS:
            raise DataError(f"task {self.task!r} is not supported; use one of {list(TASKS)}")
        if self.task == "multiclass" and not self.classes:
            raise DataError("a multiclass model needs its classes (the original labels in encoded order)")
        if self.task == "binary" and self.classes is None:
            self.classes = [self.negative_class, self.positive_class]
        if self.booster_features is None:
            self.booster_features = [booster_name(f) for f in self.features]

    def gain(self) -> dict[str, float]:
        """Total split gain of each feature in the booster's trees, by original feature name."""
        if self.algorithm == "xgboost":
            by_booster = self.booster.get_score(importance_type="total_gain")
        else:
            by_booster = dict(zip(self.booster.feature_name(), self.booster.feature_importance("gain")))
        return {f: float(by_booster.get(b, 0.0)) for f, b in zip(self.features, self.booster_features)}

    def prepare(self, df: pd.DataFrame) -> pd.DataFrame:
        """Booster-ready frame: features in training order, training category levels, floats."""
        return prepare_features(df, self.features, self.categories)

    def margin(self, df: pd.DataFrame) -> np.ndarray:
        """Raw scores: binary log-odds (n,), multiclass one score per class (n, K), regression the prediction (n,)."""
        return self._predict(self.prepare(df), raw=self.task != "regression")

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Binary: P(positive class) (n,); multiclass: P(each class) (n, K), rows summing to 1; not for regression."""
        if self.task == "regression":
            raise DataError("a regression model predicts numbers, not probabilities; use predict()")
        return self._predict(self.prepare(df), raw=False)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Binary: 0/1 at the threshold (1 = positive class); multiclass: the class index; regression: the number."""
        if self.task == "regression":
            return self._predict(self.prepare(df), raw=False)
        proba = self.predict_proba(df)
        if self.task == "multiclass":
            return proba.argmax(axis=1).astype(np.int64)
        return (proba >= self.threshold).astype(np.int64)

    def predict_label(self, df: pd.DataFrame) -> np.ndarray:
        """Predictions as the original labels (binary, multiclass); regression: the predicted numbers."""
        predicted = self.predict(df)
        if self.task == "regression":
            return predicted
        return np.asarray(self.classes, dtype=object)[predicted]

    def _predict(self, X: pd.DataFrame, raw: bool) -> np.ndarray:
        """Call the native booster on a prepared frame (columns renamed to the booster's names)."""
        if list(X.columns) != self.booster_features:
            X = X.set_axis(self.booster_features, axis=1)
        if self.algorithm == "xgboost":
            kind = "margin" if raw else "value"
            out = self.booster.inplace_predict(X, predict_type=kind)
        else:
            out = self.booster.predict(X, raw_score=raw, num_threads=thread_count(len(X)))
        if self.task == "multiclass":
            return np.asarray(out, dtype="float64").reshape(len(X), len(self.classes))
        return np.asarray(out, dtype="float64").reshape(-1)

    def sidecar(self) -> dict[str, Any]:
        """Everything besides the booster needed to score, as plain JSON."""
        return {
            "format": 1,
            "algorithm": self.algorithm,
            "model_file": MODEL_FILES[self.algorithm],
            "features": list(self.features),
            "booster_features": list(self.booster_features or self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "threshold": float(self.threshold),
            "positive_class": self.positive_class,
            "negative_class": self.negative_class,
            "target": self.target,
            "task": self.task,
            "classes": list(self.classes) if self.classes is not None else None,
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
            booster_features=meta.get("booster_features", meta["features"]),  # older files: the original names
            task=meta.get("task", "binary"),  # older files: binary models
            classes=meta.get("classes"),
        )
