"""What monitoring watches for each task: the prediction it tracks, its drift, the per-batch figures and
what can be said without labels.

* binary: the positive-class probability (numeric drift), AUC, precision, recall and F1 at the threshold,
  and the confidence-based estimate, exactly as before;
* regression: the predicted value (numeric drift: PSI, KS, Wasserstein), RMSE, MAE and bias in the
  target's units; without labels, the MAE and RMSE a model of the validation residuals expects;
* multiclass: the predicted class mix (PSI and chi-square over the classes), accuracy, balanced accuracy
  and macro F1; without labels, the confidence-based accuracy and macro F1.

A label-free estimate of a regression or multiclass model is shown only when it passes a cross-check on the
labelled held-out (test) rows; otherwise monitoring shows drift only and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kit.monitoring.drift import NumericProfile, class_mix_drift, numeric_drift, profile_numeric
from kit.monitoring.performance import (
    estimate_check, expected_multiclass, expected_performance, expected_regression, measured_performance,
    multiclass_performance, regression_performance, residual_model,
)

HEADLINE = {"binary": "roc_auc", "regression": "rmse", "multiclass": "macro_f1"}
ESTIMATED = {"regression": ("mae", "rmse"), "multiclass": ("accuracy", "macro_f1")}
"""The figures whose label-free estimates are cross-checked against the measured ones (each shown only if it passes)."""


def task_of(model: Any) -> str:
    """The model's task (models saved before tasks existed are binary)."""
    return getattr(model, "task", None) or "binary"


def n_classes(model: Any) -> int:
    """Number of classes of a classifier (2 for binary)."""
    return len(getattr(model, "classes", None) or [0, 1])


def predictions(model: Any, frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(what prediction drift watches, class probabilities): binary P(positive) twice; regression the predicted
    value and None; multiclass the predicted class index and the (n, K) probabilities."""
    task = task_of(model)
    if task == "regression":
        return np.asarray(model.predict(frame), dtype=np.float64), None
    proba = model.predict_proba(frame)
    if task == "multiclass":
        return proba.argmax(axis=1).astype(np.int64), proba
    return proba, proba


@dataclass(frozen=True)
class PredictionProfile:
    """The reference's predictions, profiled once: a numeric profile (binary scores, regression predictions)
    or the predicted classes (multiclass)."""

    task: str
    numeric: NumericProfile | None = None
    classes: np.ndarray | None = field(default=None, repr=False)
    labels: list[Any] | None = None


def prediction_profile(model: Any, reference_values: np.ndarray, bins: int) -> PredictionProfile:
    """Profile the reference predictions of the watched model."""
    task = task_of(model)
    if task == "multiclass":
        return PredictionProfile(task, classes=np.asarray(reference_values, dtype=np.int64), labels=list(model.classes))
    return PredictionProfile(task, numeric=profile_numeric("score", reference_values, bins))


def prediction_drift(profile: PredictionProfile, values: np.ndarray, epsilon: float) -> dict[str, Any]:
    """Drift of a batch's predictions against the reference's, with the mean (or class shares) on both sides."""
    if profile.task == "multiclass":
        return class_mix_drift(profile.classes, values, len(profile.labels), epsilon) | {"classes": [str(c) for c in profile.labels]}
    out = numeric_drift(profile.numeric, values, epsilon)
    if profile.task == "regression":
        return out | {"mean_prediction": float(np.mean(values)), "reference_mean_prediction": profile.numeric.mean}
    return out | {"mean_score": float(values.mean()), "reference_mean_score": profile.numeric.mean}


def label_counts(task: str, y: np.ndarray | None, classes: int = 2) -> dict[str, int]:
    """Labelled rows of a batch: binary positives and negatives (zeros without labels); otherwise the labelled rows
    and, for multiclass, the rows of each class index."""
    if task == "binary":
        if y is None:
            return {"positives": 0, "negatives": 0}
        positives = int(np.sum(y == 1))
        return {"positives": positives, "negatives": int(len(y) - positives)}
    if y is None:
        return {"labelled_rows": 0}
    out = {"labelled_rows": int(len(y))}
    if task == "multiclass":
        out |= {f"class_{k}": int(n) for k, n in enumerate(np.bincount(np.asarray(y, dtype=np.int64), minlength=classes))}
    return out


def evidence(task: str, counts: dict[str, int], settings: Any) -> str:
    """'measured' when a labelled batch has enough evidence for the task's metrics, else what is missing (binary: rows
    of each class; regression and multiclass: labelled rows)."""
    if task == "binary":
        short = [f"too few labelled {k} ({n})" for k, n in counts.items() if n < settings.min_class_count]
        return "; ".join(short) if short else "measured"
    rows = counts.get("labelled_rows", 0)
    if rows < settings.min_rows:
        return f"too few labelled rows ({rows} < min_rows {settings.min_rows})"
    return "measured"  # multiclass: rare classes widen the macro F1 interval, which the rules read


def measure(model: Any, y: np.ndarray, values: np.ndarray, settings: Any, seed: int) -> dict[str, float]:
    """The task's per-batch figures with bootstrap intervals (binary as before)."""
    task = task_of(model)
    if task == "regression":
        return regression_performance(y, values, settings.bootstrap, settings.confidence, seed)
    if task == "multiclass":
        return multiclass_performance(y, values, n_classes(model), settings.bootstrap, settings.confidence, seed)
    return measured_performance(y, values, model.threshold, settings.bootstrap, settings.confidence, seed)


def figures(model: Any, y: np.ndarray, frame: Any) -> dict[str, float]:
    """Point values of a regression or multiclass model's figures on labelled rows (no intervals)."""
    values, _ = predictions(model, frame)
    task = task_of(model)
    if task == "regression":
        out = regression_performance(y, values, 0)
        return {k: out[k] for k in ("rmse", "mae", "bias")}
    out = multiclass_performance(y, values, n_classes(model), 0)
    return {k: out[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")}


def fit_estimator(model: Any, validation: Any, held_out: Any, target: str, settings: Any) -> dict[str, Any]:
    """The label-free estimator of a regression or multiclass model and the cross-check of each estimated figure on
    the labelled held-out rows (binary: the confidence-based estimate as before, not cross-checked here)."""
    task = task_of(model)
    if task == "binary":
        return {"task": task, "shown": True}
    residuals = None
    if task == "regression":
        residuals = residual_model(model.predict(validation), validation[target].to_numpy(), settings.residual_bins)
    estimator = {"task": task, "metrics": list(ESTIMATED[task]), "residuals": residuals}
    values, proba = predictions(model, held_out)
    expected = expected_figures(estimator, values, proba)
    actual = figures(model, held_out[target].to_numpy(), held_out) if len(held_out) else {}
    checks = {m: estimate_check(expected[m], actual.get(m, float("nan")), settings.estimate_tolerance) for m in ESTIMATED[task]}
    passed = [m for m, c in checks.items() if c["within"]]
    return estimator | {"test_checks": checks, "passed": passed, "shown": bool(passed)}


def expected_figures(estimator: dict[str, Any], values: np.ndarray, proba: np.ndarray | None, threshold: float = 0.5) -> dict[str, float]:
    """The task's figures expected from predictions alone (see :func:`fit_estimator`)."""
    task = estimator["task"]
    if task == "regression":
        return expected_regression(values, estimator["residuals"])
    if task == "multiclass":
        return expected_multiclass(proba)
    return expected_performance(values, threshold)


def estimate_note(estimator: dict[str, Any], measured: Any, expected: Any, tolerance: float) -> dict[str, Any]:
    """What can be said without labels, in words, with the cross-checks behind it: figures whose estimate failed on
    the test rows are withheld, and labelled batches where a shown estimate missed the measured figure are named."""
    task = estimator["task"]
    if task == "binary":
        return {"shown": True, "note": "confidence-based: expected confusion counts from calibrated probabilities; "
                                       "assumes P(y|x) unchanged"}
    checks, passed = estimator["test_checks"], estimator["passed"]
    how = ("a model of the validation residuals (mean error per prediction level)" if task == "regression"
           else "the class probabilities (confidence-based, assumes calibration)")
    tested = "; ".join(f"{m}: expected {c['expected']:.4g}, actual {c['actual']:.4g} ({c['relative_error']:.0%} off)"
                       for m, c in checks.items())
    record = {"shown": bool(passed), "metrics": passed, "test_checks": checks, "batch_checks": {}, "missed": {}}
    if not passed:
        return record | {"note": f"no label-free estimate: {' and '.join(checks)} estimated from {how} failed the cross-check on "
                                 f"the labelled test rows ({tested}; tolerance {tolerance:.0%}); batches without labels show "
                                 "drift only"}
    both = [b for b in measured.index if b in expected.index] if len(measured) and len(expected) else []
    batch_checks = {m: {b: estimate_check(expected.at[b, m], measured.at[b, m], tolerance) for b in both} for m in passed}
    missed = {m: [b for b, c in found.items() if not c["within"]] for m, found in batch_checks.items()}
    withheld = [m for m in checks if m not in passed]
    note = (f"label-free {' and '.join(passed)} estimated from {how}, cross-checked on the labelled test rows ({tested}; "
            f"tolerance {tolerance:.0%}); it assumes P(y|x) unchanged, so concept drift is invisible to it")
    if withheld:
        note += f". {' and '.join(withheld)} withheld: its estimate failed that check"
    for m, batches in missed.items():
        if batches:
            note += (f". On labelled batches {', '.join(batches)} the {m} estimate missed the measured figure by more than "
                     f"{tolerance:.0%}: there it is not to be trusted (concept drift or miscalibration)")
    return record | {"batch_checks": batch_checks, "missed": missed, "note": note}


def retraining_metric(task: str, configured: str, task_metrics: dict[str, str]) -> str:
    """The metric champion and challenger are compared on: the configured one when it belongs to the task, else the
    task's own (binary always uses the configured one)."""
    from kit.training.metrics import metric_name

    if task == "binary":
        return metric_name(configured)
    own = {"regression": ("rmse", "mae"), "multiclass": ("accuracy", "balanced_accuracy", "macro_f1")}[task]
    return configured if configured in own else task_metrics[task]
