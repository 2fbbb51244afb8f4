"""Performance per batch: measured with labels (bootstrap intervals), or estimated from probabilities.

Measured: ROC AUC, precision, recall and F1 at the champion's threshold, with percentile
bootstrap intervals from the training phase's metric engine (``kit.training.metrics``), so
monitoring and training report the same numbers the same way.

Estimated (no labels): confidence-based performance estimation. If the model is calibrated
and stays calibrated in production, row i is positive with probability p_i, so the expected
confusion counts are E[TP] = sum of p_i over predicted positives, E[FP] = sum of (1 - p_i)
over predicted positives, E[FN] = sum of p_i over predicted negatives; precision, recall and
F1 are taken as ratios of these expectations, and the expected AUC weighs every (i, j) pair
by p_i (1 - p_j). The assumption holds under covariate shift (P(y | x) unchanged) and fails
under concept drift, which this estimate cannot see: it is shown apart from measured figures.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("roc_auc", "precision", "recall", "f1")


def weighted_auc(scores: np.ndarray, pos_weight: np.ndarray, neg_weight: np.ndarray) -> np.ndarray:
    """AUC with per-row positive/negative weights; weight arrays may be 2-D (one row per resample)."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    pos = np.atleast_2d(pos_weight)[:, order]
    neg = np.atleast_2d(neg_weight)[:, order]
    group_pos = np.add.reduceat(pos, starts, axis=1)
    group_neg = np.add.reduceat(neg, starts, axis=1)
    neg_below = np.cumsum(group_neg, axis=1) - group_neg
    numerator = (group_pos * (neg_below + 0.5 * group_neg)).sum(axis=1)
    denominator = group_pos.sum(axis=1) * group_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def ratios(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 from (expected or weighted) confusion counts; 0/0 is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {"precision": precision, "recall": recall, "f1": f1}


def measured_performance(
    y: np.ndarray, scores: np.ndarray, threshold: float, n_boot: int = 200, confidence: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Point values and percentile bootstrap intervals of AUC, precision, recall and F1 (training's engine)."""
    from kit.training.metrics import bootstrap_metrics

    y = np.asarray(y)
    table = bootstrap_metrics(y, np.asarray(scores, dtype=np.float64), threshold, n_boot=n_boot, seed=seed, confidence=confidence)
    out: dict[str, float] = {"n": int(len(y)), "positives": int(np.sum(y == 1))}
    for name in METRICS:
        out |= {name: float(table.at[name, "value"]), f"{name}_low": float(table.at[name, "low"]),
                f"{name}_high": float(table.at[name, "high"])}
    return out


def expected_performance(probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """Expected AUC, precision, recall and F1 from probabilities alone, assuming calibration holds."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    predicted = (p >= threshold).astype(np.float64)
    tp, fp, fn = (p * predicted).sum(), ((1 - p) * predicted).sum(), (p * (1 - predicted)).sum()
    out = {k: float(v) for k, v in ratios(np.array(tp), np.array(fp), np.array(fn)).items()}
    pair_num = weighted_auc(p, p, 1 - p)[0] * p.sum() * (1 - p).sum() - 0.5 * np.sum(p * (1 - p))
    pair_den = p.sum() * (1 - p).sum() - np.sum(p * (1 - p))
    out["roc_auc"] = float(pair_num / pair_den) if pair_den > 0 else float("nan")
    out["expected_positive_rate"] = float(p.mean()) if p.size else float("nan")
    return out




# ---- regression and multiclass -------------------------------------------------------------
# Same engine shape as the binary path: row 0 of the index matrix is the point estimate (every
# row once), rows 1..B are seeded bootstrap resamples; intervals are percentile intervals.

REGRESSION_METRICS = ("rmse", "mae", "bias")
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Row indices: the identity first (point estimate), then ``n_boot`` seeded resamples (B+1 x n)."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.arange(n)[None, :], rng.integers(0, n, size=(n_boot, n))])


def _with_intervals(draws: dict[str, np.ndarray], confidence: float, n: int) -> dict[str, float]:
    """Point value (row 0) and percentile interval (rows 1..) of each metric, as flat figures."""
    alpha = (1 - confidence) / 2
    out: dict[str, float] = {"n": int(n)}
    for name, values in draws.items():
        boot = values[1:]
        low, high = (np.nanquantile(boot, [alpha, 1 - alpha]) if boot.size and np.isfinite(boot).any()
                     else (np.nan, np.nan))
        out |= {name: float(values[0]), f"{name}_low": float(low), f"{name}_high": float(high)}
    return out


def regression_matrix(errors: np.ndarray) -> dict[str, np.ndarray]:
    """RMSE, MAE and mean error (prediction - actual) of each row of an error matrix (B x n)."""
    errors = np.atleast_2d(errors)
    return {"rmse": np.sqrt((errors ** 2).mean(1)), "mae": np.abs(errors).mean(1), "bias": errors.mean(1)}


def regression_performance(y: np.ndarray, predicted: np.ndarray, n_boot: int = 200, confidence: float = 0.95,
                           seed: int = 0) -> dict[str, float]:
    """RMSE, MAE and bias (mean of prediction - actual, in the target's units) with bootstrap intervals."""
    errors = np.asarray(predicted, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    idx = _resamples(len(errors), n_boot, seed)
    return _with_intervals(regression_matrix(errors[idx]), confidence, len(errors))


def confusion_stack(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices (actual x predicted) of each row of label matrices (B x n) -> (B, K, K)."""
    y, predicted = np.atleast_2d(y), np.atleast_2d(predicted)
    rows, k = y.shape[0], n_classes
    codes = (np.arange(rows)[:, None] * k * k + y * k + predicted).ravel()
    return np.bincount(codes, minlength=rows * k * k).reshape(rows, k, k)


def multiclass_matrix(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy and macro F1 of each confusion matrix (B, K, K), as scikit-learn defines
    them: macro F1 over the classes present in the labels or the predictions, balanced accuracy over the
    classes present in the labels."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(np.float64)
    actual, predicted = confusion.sum(2).astype(np.float64), confusion.sum(1).astype(np.float64)
    n = actual.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), np.nan)
        recall = np.where(actual > 0, tp / actual, np.nan)
        return {"accuracy": tp.sum(1) / n, "balanced_accuracy": np.nanmean(recall, axis=1),
                "macro_f1": np.nanmean(f1, axis=1)}


def multiclass_performance(y: np.ndarray, predicted: np.ndarray, n_classes: int, n_boot: int = 200,
                           confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 of class indices with bootstrap intervals."""
    y, predicted = np.asarray(y, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    idx = _resamples(len(y), n_boot, seed)
    draws = multiclass_matrix(confusion_stack(y[idx], predicted[idx], n_classes))
    return _with_intervals(draws, confidence, len(y))


def expected_multiclass(probabilities: np.ndarray) -> dict[str, float]:
    """Expected accuracy and macro F1 from class probabilities alone, assuming calibration holds: row i
    belongs to class k with probability p_ik, so E[TP_k] = sum of p_ik over rows predicted k, E[FP_k] the
    rest of those rows, E[FN_k] = sum of p_ik over rows predicted otherwise."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.size == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan")}
    chosen = np.eye(p.shape[1], dtype=np.float64)[p.argmax(1)]
    tp = (p * chosen).sum(0)
    predicted, expected_actual = chosen.sum(0), p.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(predicted + expected_actual > 0, 2 * tp / (predicted + expected_actual), np.nan)
    return {"accuracy": float(tp.sum() / len(p)), "macro_f1": float(np.nanmean(f1))}


def residual_model(predicted: np.ndarray, actual: np.ndarray, bins: int) -> dict[str, list[float]]:
    """A model of the error from validation rows: mean |residual| and mean squared residual per quantile bin
    of the prediction (edges fixed on the validation predictions)."""
    from kit.monitoring.drift import quantile_edges

    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    edges = quantile_edges(np.sort(predicted), bins)
    which = np.searchsorted(edges, predicted, side="left")
    residual = predicted - actual
    frame = pd.DataFrame({"bin": which, "abs": np.abs(residual), "sq": residual ** 2})
    per_bin = frame.groupby("bin").mean().reindex(range(len(edges) + 1))
    per_bin = per_bin.fillna({"abs": float(np.abs(residual).mean()), "sq": float((residual ** 2).mean())})
    return {"edges": edges.tolist(), "abs": per_bin["abs"].tolist(), "sq": per_bin["sq"].tolist()}


def expected_regression(predicted: np.ndarray, model: dict[str, list[float]]) -> dict[str, float]:
    """Expected MAE and RMSE of a batch from its predictions alone, through the residual model (assumes the
    error at a given prediction level stays as on validation: P(y | x) unchanged)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.size == 0:
        return {"mae": float("nan"), "rmse": float("nan")}
    which = np.searchsorted(np.asarray(model["edges"]), predicted, side="left")
    return {"mae": float(np.asarray(model["abs"])[which].mean()), "rmse": float(np.sqrt(np.asarray(model["sq"])[which].mean()))}


def estimate_check(expected: float, actual: float, tolerance: float) -> dict[str, float | bool]:
    """Cross-check of a label-free estimate against the measured figure: relative error within the tolerance."""
    error = abs(expected - actual) / abs(actual) if actual else float("inf")
    return {"expected": float(expected), "actual": float(actual), "relative_error": float(error),
            "within": bool(np.isfinite(error) and error <= tolerance)}
