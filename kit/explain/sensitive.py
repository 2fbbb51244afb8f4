"""Sensitive columns used as model inputs: find them, and measure what leaving them out changes.

A sensitive column (``dataset.sensitive``) that is also a model feature lets the model decide
on it directly. At the tiers listed in ``kit/content/explain.yaml`` the selected model's
algorithm is fitted once more, with the same parameters and seed on the same train/valid
split, without those columns; its decision threshold is chosen on validation by the same rule
as training's, and both models' test metrics and fairness gaps are set side by side. The cost
is one extra fit (no search, no bootstrap).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError


@dataclass
class Refit:
    """The model refitted without some inputs: its scoring model, test scores and how long the fit took."""

    model: Any  # kit.training.scoring.ScoringModel
    dropped: list[str]
    test_proba: np.ndarray
    seconds: float


def rules() -> dict[str, Any]:
    """Sensitive-input rules from kit/content/explain.yaml."""
    return content.load("explain")["sensitive_inputs"]


def sensitive_inputs(features: list[str], sensitive: list[str]) -> list[str]:
    """The sensitive columns that are model features, in the order of ``sensitive``."""
    used = set(features)
    return [c for c in sensitive if c in used]


def refit_without(
    model: Any, drop: list[str], train: tuple[pd.DataFrame, np.ndarray], valid: tuple[pd.DataFrame, np.ndarray],
    X_test: pd.DataFrame, training: Any, costs: dict[str, float] | None,
) -> Refit:
    """Fit ``model``'s algorithm with its parameters and seed on the same rows, without ``drop``; threshold as in training."""
    from kit.training.pipeline import decision_threshold, fit_lightgbm, fit_xgboost
    from kit.training.scoring import ScoringModel, prepare_features

    features = [f for f in model.features if f not in drop]
    if not features:
        raise DataError(f"every model feature is sensitive ({', '.join(drop)}); nothing is left to fit without them")
    categories = {k: v for k, v in model.categories.items() if k in features}
    params = dict(model.info.get("params") or {})
    weight = float(params.pop("scale_pos_weight", 1.0))
    (X_train, y_train), (X_valid, y_valid) = train, valid
    Xtr, Xva = (prepare_features(X, features, categories) for X in (X_train, X_valid))
    fit = fit_xgboost if model.algorithm == "xgboost" else fit_lightgbm
    t0 = time.perf_counter()
    booster = fit(Xtr, np.asarray(y_train), Xva, np.asarray(y_valid), params, training.max_trees,
                  training.early_stopping_rounds, weight)
    seconds = time.perf_counter() - t0
    refit = ScoringModel(model.algorithm, booster, features, categories, positive_class=model.positive_class,
                         negative_class=model.negative_class, target=model.target, info={"params": {**params, "scale_pos_weight": weight}})
    refit.threshold = decision_threshold(np.asarray(y_valid), refit._predict(Xva, raw=False), costs, training.threshold)
    return Refit(model=refit, dropped=list(drop), test_proba=refit.predict_proba(X_test), seconds=seconds)


def metric_rows(y: np.ndarray, with_scores: tuple[np.ndarray, float], without_scores: tuple[np.ndarray, float],
                metrics: list[str]) -> list[dict[str, Any]]:
    """Test metrics (each model at its own threshold) with and without the sensitive inputs."""
    from kit.training.metrics import compute_metrics

    a, b = (compute_metrics(y, p, t) for p, t in (with_scores, without_scores))
    rows = [{"measure": f"test {m}", "with": a[m], "without": b[m]} for m in metrics]
    rows.append({"measure": "decision threshold", "with": with_scores[1], "without": without_scores[1]})
    return rows


def fairness_rows(report: list[dict[str, Any]], columns: dict[str, pd.Series], y: np.ndarray,
                  without_scores: tuple[np.ndarray, float], settings: Any, seed: int) -> list[dict[str, Any]]:
    """Demographic parity ratio and equalized odds difference per sensitive column: the report's, and without (point values)."""
    from kit.explain.fairness import assess_column

    point = settings.model_copy(update={"bootstrap": 0})
    proba, threshold = without_scores
    rows = []
    for i, a in enumerate(report):  # a few sensitive columns
        column = a["column"]
        b = assess_column(column, columns[column], y, (proba >= threshold).astype(int), proba, point, seed + i)
        rows += [
            {"measure": f"{column}: demographic parity ratio", "with": a["demographic_parity_ratio"],
             "without": b["demographic_parity_ratio"]},
            {"measure": f"{column}: equalized odds difference", "with": a["equalized_odds_difference"],
             "without": b["equalized_odds_difference"]},
        ]
    return rows


def train_valid(run_dir: Any) -> tuple[tuple[pd.DataFrame, np.ndarray], tuple[pd.DataFrame, np.ndarray]]:
    """(X, y) of the recorded train and valid parts, reading the dataset once and checking it against the recorded hashes."""
    import json
    from pathlib import Path

    from kit.schema import DatasetSpec
    from kit.training import data as tdata

    path = Path(run_dir) / "artifacts" / tdata.SPLIT_FILE
    if not path.is_file():
        raise DataError(f"{path}: no recorded split; run the training phase (02_training) for this run first")
    record = json.loads(path.read_text(encoding="utf-8"))
    spec = DatasetSpec.model_validate(record["dataset_spec"])
    frame = tdata.load_dataset(spec, show_warnings=False)
    parts = {p: np.asarray(record["positions"][p], dtype=np.int64) for p in tdata.PARTS}
    if tdata.frame_hash(frame) != record["data_hash"] or tdata.index_hash(parts) != record["index_hash"]:
        raise DataError(f"{spec.path}: the data or the split changed since training; re-run the training phase")
    y = tdata.encode_target(frame[spec.target], spec.positive_class).y
    X = frame.drop(columns=[spec.target])
    return (X.iloc[parts["train"]], y[parts["train"]]), (X.iloc[parts["valid"]], y[parts["valid"]])


def comparison_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of measures with and without the sensitive inputs, and the change."""
    table = pd.DataFrame(rows).set_index("measure")
    table["change"] = table["without"] - table["with"]
    return table


def finding(column: str, used: list[str], table: pd.DataFrame | None, tier: str, seconds: float | None) -> str:
    """One sentence for a sensitive column's findings: it is an input, and what leaving the sensitive inputs out changes."""
    head = f"{column!r} is a model input" + (f" (with {', '.join(repr(c) for c in used if c != column)})" if len(used) > 1 else "")
    fix = "to keep sensitive columns out of training set dataset.sensitive_as_input: exclude"
    if table is None:
        return f"{head}; the effect of removing them is measured only at the {', '.join(rules()['compare_tiers'])} tier; {fix}"

    def pair(measure: str) -> str:
        """'a -> b' for one measure, 'n/a' where a figure could not be computed."""
        w, wo = (table.loc[measure, k] for k in ("with", "without"))
        return "n/a (insufficient evidence)" if not (np.isfinite(w) and np.isfinite(wo)) else f"{w:.3f} -> {wo:.3f}"

    return (f"{head} at the {tier} tier; refitted without the sensitive inputs ({seconds:.1f} s): "
            f"test roc_auc {pair('test roc_auc')}, demographic parity ratio {pair(f'{column}: demographic parity ratio')}, "
            f"equalized odds difference {pair(f'{column}: equalized odds difference')}; {fix}")


def summary(used: list[str], table: pd.DataFrame | None, seconds: float | None) -> str:
    """One line for the record: which sensitive columns are inputs and whether their effect was measured."""
    if table is None:
        return f"sensitive columns {', '.join(used)} are model inputs (effect not measured at this tier)"
    return (f"sensitive columns {', '.join(used)} are model inputs; refitted without them in {seconds:.1f} s: "
            f"test roc_auc {table.loc['test roc_auc', 'with']:.3f} -> {table.loc['test roc_auc', 'without']:.3f}")
