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


