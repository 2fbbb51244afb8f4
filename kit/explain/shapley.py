"""Exact SHAP contributions of tree boosters, global importance and its stability (pure computation)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from kit.errors import DataError, KitError


class ModelFileError(KitError):
    """A model file or object that is not a supported tree booster."""


@dataclass(frozen=True)
class Contributions:
    """SHAP values in the model's raw units (log-odds; target units for regression), one column per feature, plus base values."""

    values: pd.DataFrame
    base: np.ndarray

    @property
    def margin(self) -> np.ndarray:
        """The model's raw score (log-odds, or the regression prediction) that the contributions add up to."""
        return self.values.to_numpy().sum(axis=1) + self.base

    def take(self, positions: np.ndarray) -> Contributions:
        """Return the contributions of the rows at ``positions``."""
        return Contributions(self.values.iloc[positions], self.base[positions])


def booster_kind(booster: Any) -> str:
    """Return 'xgboost' or 'lightgbm' for a native booster, else raise ModelFileError."""
    module = type(booster).__module__.split(".")[0]
    name = type(booster).__name__
    if module == "xgboost" and name == "Booster":
        return "xgboost"
    if module == "lightgbm" and name == "Booster":
        return "lightgbm"
    raise ModelFileError(
        f"model of type {module}.{name} is not supported; phase 3 explains native xgboost.Booster or "
        "lightgbm.Booster models (train them in phase 2, saved as XGBoost JSON or LightGBM text)"
    )


def load_booster(path: str | Path) -> Any:
    """Load a native booster file (XGBoost JSON/UBJ or LightGBM text), sniffing its format."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; re-run phase 2 (training) for this run folder")
    data = path.read_bytes()
    is_xgboost = path.suffix.lower() == ".ubj" or (data.lstrip()[:1] == b"{" and b'"learner"' in data[:4096])
    is_lightgbm = data.startswith(b"tree")
    try:
        if is_xgboost:
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(str(path))
            return booster
        if is_lightgbm:
            import lightgbm as lgb

            return lgb.Booster(model_file=str(path))
    except Exception as exc:  # the libraries raise their own error types
        raise ModelFileError(f"{path}: could not be loaded as a booster ({exc}); re-run phase 2") from exc
    raise ModelFileError(
        f"{path}: not a supported model file (expected XGBoost JSON or LightGBM text, found {data[:16]!r}); "
        "pickled or other models are not explained; save the booster natively"
    )


def booster_features(booster: Any) -> list[str]:
    """Feature names the booster was trained on, in its order."""
    if booster_kind(booster) == "xgboost":
        return list(booster.feature_names or [])
    return list(booster.feature_name())


def _aligned(booster: Any, X: pd.DataFrame) -> pd.DataFrame:
    """Return X with the booster's feature columns in its order (original names kept), or raise naming missing ones."""
    from kit.training.scoring import booster_name

    features = booster_features(booster)
    by_name = {**{booster_name(str(c)): c for c in X.columns}, **{c: c for c in X.columns}}
    missing = [f for f in features if f not in by_name]
    if missing:
        raise DataError(
            f"features {missing[:5]} of the model are not in the data ({len(missing)} missing); "
            "explain the same prepared frame the model was trained on"
        )
    return X[[by_name[f] for f in features]]


def _named(booster: Any, X: pd.DataFrame) -> pd.DataFrame:
    """An aligned frame under the booster's own feature names (some names are made safe for the booster)."""
    return X.set_axis(booster_features(booster), axis=1)


def _dmatrix(X: pd.DataFrame) -> Any:
    """An XGBoost DMatrix that keeps categorical columns categorical."""
    import xgboost as xgb

    return xgb.DMatrix(X, enable_categorical=True)


def _raw_contributions(booster: Any, X: pd.DataFrame) -> np.ndarray:
    """The booster's exact contributions as (rows, outputs, features + 1): one output for binary or regression, K for multiclass."""
    X = _aligned(booster, X)
    if booster_kind(booster) == "xgboost":
        raw = booster.predict(_dmatrix(_named(booster, X)), pred_contribs=True)
    else:
        raw = booster.predict(_named(booster, X), pred_contrib=True)
    raw = np.asarray(raw, dtype=float)
    width = X.shape[1] + 1
    if raw.ndim == 2 and raw.shape[1] % width == 0:  # one output, or lightgbm's K classes side by side
        raw = raw.reshape(raw.shape[0], raw.shape[1] // width, width)
    if raw.ndim != 3 or raw.shape[2] != width:
        raise ModelFileError(
            f"contribution output of shape {raw.shape} does not fit a model with {X.shape[1]} features; "
            "phase 3 explains binary, multiclass and regression boosters trained by phase 2"
        )
    return raw


def _frame(raw: np.ndarray, X: pd.DataFrame) -> Contributions:
    """Contributions from one output's (rows, features + 1) block, columns named as in X."""
    return Contributions(pd.DataFrame(raw[:, :-1], index=X.index, columns=X.columns), raw[:, -1].copy())


def exact_contributions(booster: Any, X: pd.DataFrame) -> Contributions:
    """Exact (TreeSHAP) contributions from the booster's own output: xgboost pred_contribs, lightgbm pred_contrib.

    Binary: in log-odds; regression: in the target's units (base + sum = the prediction).
    """
    raw = _raw_contributions(booster, X)
    if raw.shape[1] != 1:
        raise ModelFileError(
            f"the model has {raw.shape[1]} outputs (a multiclass model); explain it with exact_class_contributions"
        )
    return _frame(raw[:, 0, :], _aligned(booster, X))


@dataclass(frozen=True)
class ClassContributions:
    """Exact SHAP of a multiclass booster: one Contributions per class, each adding up to that class's raw score."""

    per_class: tuple[Contributions, ...]
    classes: tuple[Any, ...]

    @property
    def margin(self) -> np.ndarray:
        """Raw scores (rows, K) the per-class contributions add up to."""
        return np.column_stack([c.margin for c in self.per_class])

    def predicted(self) -> np.ndarray:
        """Index of each row's predicted class (largest raw score, i.e. largest probability)."""
        return np.argmax(self.margin, axis=1)

    def for_classes(self, class_index: np.ndarray) -> Contributions:
        """Each row's contributions towards the class named by its entry of ``class_index``."""
        stacked = np.stack([c.values.to_numpy() for c in self.per_class])  # (K, rows, features)
        bases = np.stack([c.base for c in self.per_class])
        rows = np.arange(stacked.shape[1])
        first = self.per_class[0].values
        values = pd.DataFrame(stacked[class_index, rows, :], index=first.index, columns=first.columns)
        return Contributions(values, bases[class_index, rows])

    def total_abs(self) -> Contributions:
        """Per row and feature, |SHAP| summed over classes (base 0): the magnitude behind the global ranking."""
        first = self.per_class[0].values
        total = sum(c.values.abs().to_numpy() for c in self.per_class)
        return Contributions(pd.DataFrame(total, index=first.index, columns=first.columns), np.zeros(len(first)))

    def take(self, positions: np.ndarray) -> ClassContributions:
        """Return the contributions of the rows at ``positions``."""
        return ClassContributions(tuple(c.take(positions) for c in self.per_class), self.classes)


def exact_class_contributions(booster: Any, X: pd.DataFrame, classes: list[Any] | None = None) -> ClassContributions:
    """Exact (TreeSHAP) contributions of a multiclass booster, one set per class (in raw-score units, softmax's input)."""
    raw = _raw_contributions(booster, X)
    aligned = _aligned(booster, X)
    labels = tuple(classes) if classes is not None else tuple(range(raw.shape[1]))
    if len(labels) != raw.shape[1]:
        raise ModelFileError(f"the model has {raw.shape[1]} class outputs but {len(labels)} class labels were given")
    return ClassContributions(tuple(_frame(raw[:, k, :], aligned) for k in range(raw.shape[1])), labels)


def margin(booster: Any, X: pd.DataFrame) -> np.ndarray:
    """The booster's raw score for each row: log-odds (binary), the prediction (regression), (rows, K) (multiclass)."""
    X = _named(booster, _aligned(booster, X))
    if booster_kind(booster) == "xgboost":
        return np.asarray(booster.predict(_dmatrix(X), output_margin=True), dtype=float)
    return np.asarray(booster.predict(X, raw_score=True), dtype=float)


def normalise_shap_output(values: Any, expected_value: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Bring shap's output to (n_rows, n_features) values and (n_rows,) base values for the positive class.

    shap returns a list [negative, positive] or a 3-D array for some binary LightGBM models and a
    2-D array otherwise; expected_value may be a scalar, a 1-element or 2-element array.
    """
    if isinstance(values, list):
        values = values[-1]
    values = np.asarray(values, dtype=float)
    if values.ndim == 3:
        values = values[:, :, -1]
    base = np.atleast_1d(np.asarray(expected_value, dtype=float))[-1]
    return values, np.full(n_rows, base)


def treeexplainer_contributions(booster: Any, X: pd.DataFrame) -> Contributions:
    """Contributions from shap.TreeExplainer on the same rows (reference path; base value read after computing)."""
    import shap

    X = _aligned(booster, X)
    explainer = shap.TreeExplainer(booster)
    data = _dmatrix(_named(booster, X)) if booster_kind(booster) == "xgboost" else _named(booster, X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*list of ndarray.*")
        warnings.filterwarnings("ignore", message=".*output has changed.*")
        raw = explainer.shap_values(data)
    # shap issue 4495: expected_value is only right after the first shap_values() call.
    values, base = normalise_shap_output(raw, explainer.expected_value, len(X))
    return Contributions(pd.DataFrame(values, index=X.index, columns=X.columns), base)


def treeexplainer_class_contributions(booster: Any, X: pd.DataFrame) -> ClassContributions:
    """Per-class contributions from shap.TreeExplainer on the same rows (reference path for multiclass models)."""
    import shap

    X = _aligned(booster, X)
    explainer = shap.TreeExplainer(booster)
    data = _dmatrix(_named(booster, X)) if booster_kind(booster) == "xgboost" else _named(booster, X)
    raw = explainer.shap_values(data)
    values = np.stack(raw, axis=2) if isinstance(raw, list) else np.asarray(raw, dtype=float)  # (rows, features, K)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    per_class = tuple(
        Contributions(pd.DataFrame(values[:, :, k], index=X.index, columns=X.columns), np.full(len(X), base[k]))
        for k in range(values.shape[2])
    )
    return ClassContributions(per_class, tuple(range(values.shape[2])))


def structure_cost(booster: Any) -> float:
    """TreeSHAP work per row implied by the model's shape: sum over leaves of depth x mean leaf depth of its tree."""
    if booster_kind(booster) == "xgboost":
        lines = pd.Series([ln for tree in booster.get_dump() for ln in tree.splitlines()])
        tree_id = lines.str.startswith("0:").cumsum()  # every tree's dump starts at node 0
        leaves = lines.str.contains("leaf=", regex=False)
        depth = lines.str.len() - lines.str.lstrip("\t").str.len()
        frame = pd.DataFrame({"tree": tree_id[leaves], "depth": depth[leaves]})
    else:
        nodes = booster.trees_to_dataframe()
        leaves = nodes[nodes["split_feature"].isna()]
        frame = pd.DataFrame({"tree": leaves["tree_index"], "depth": leaves["node_depth"] - 1})
    depth = frame["depth"].clip(lower=1)
    return float((depth * depth.groupby(frame["tree"]).transform("mean")).sum())


def seconds_per_row(booster: Any) -> float:
    """Estimated exact-SHAP seconds per row on the reference machine (deterministic, from the model's shape)."""
    from kit.content import load

    return structure_cost(booster) * float(load("governance")["shap_cost"]["seconds_per_unit"])


def sample_size(budget_seconds: float, per_row_seconds: float, n_rows: int, lo: int, hi: int) -> int:
    """Rows the global sample can afford within the time budget, clipped to [lo, hi] and to the data."""
    affordable = int(budget_seconds / max(per_row_seconds, 1e-9))
    return int(min(n_rows, max(lo, min(hi, affordable))))


def sample_positions(n_rows: int, size: int, seed: int) -> np.ndarray:
    """A seeded, sorted sample of row positions without replacement."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=min(size, n_rows), replace=False))


def global_importance(contribs: Contributions) -> pd.DataFrame:
    """Mean |SHAP| per feature (and signed mean, share of total), most important first."""
    values = contribs.values
    return importance_table(list(values.columns), values.abs().mean().to_numpy(), values.mean().to_numpy())


def importance_table(features: list[str], mean_abs: np.ndarray, mean_shap: np.ndarray) -> pd.DataFrame:
    """The importance table from each feature's mean |SHAP| and mean SHAP (also merged over partitions)."""
    table = pd.DataFrame({"feature": features, "mean_abs_shap": np.asarray(mean_abs, dtype=float),
                          "mean_shap": np.asarray(mean_shap, dtype=float)})
    total = table["mean_abs_shap"].sum()
    table["share"] = table["mean_abs_shap"] / total if total > 0 else 0.0
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def class_importance(contribs: ClassContributions) -> pd.DataFrame:
    """Mean |SHAP| per feature summed over classes (the global ranking), its share, and mean |SHAP| per class."""
    table = global_importance(contribs.total_abs()).drop(columns=["mean_shap"])
    toward = contribs.for_classes(contribs.predicted()).values.mean()  # signed, towards each row's predicted class
    table.insert(3, "mean_shap", toward.reindex(table["feature"]).to_numpy())
    for label, part in zip(contribs.classes, contribs.per_class):
        table[f"class {label}"] = part.values.abs().mean().reindex(table["feature"]).to_numpy()
    return table


def importance_stability(contribs: Contributions, seed: int, top_k: int = 5) -> dict[str, Any]:
    """How well two random halves of the sample agree on the importance ranking (Spearman, Kendall, top-k overlap)."""
    n = len(contribs.values)
    if n < 4:
        raise DataError(f"{n} explained rows are too few to measure stability; raise explainability.min_sample_rows")
    order = np.random.default_rng(seed).permutation(n)
    halves = [contribs.values.iloc[order[: n // 2]], contribs.values.iloc[order[n // 2 :]]]
    first, second = (h.abs().mean().to_numpy() for h in halves)
    spearman = stats.spearmanr(first, second).statistic
    kendall = stats.kendalltau(first, second).statistic
    k = min(top_k, len(first))
    top_a = set(np.argsort(-first, kind="stable")[:k])
    top_b = set(np.argsort(-second, kind="stable")[:k])
    return {
        "rows_per_half": n // 2,
        "spearman": float(spearman),
        "kendall": float(kendall),
        "top_k": k,
        "top_k_overlap": len(top_a & top_b) / k,
        "half_a": dict(zip(contribs.values.columns, first.tolist())),
        "half_b": dict(zip(contribs.values.columns, second.tolist())),
    }
