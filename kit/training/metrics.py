"""Classification metrics with seeded bootstrap intervals, and the business-value threshold.

One vectorized engine computes every metric for a matrix of (label, score) resamples at
once: row 0 of a 1-row matrix is the point estimate, B rows are B bootstrap resamples. The
point values equal scikit-learn's (tested); intervals are percentile intervals.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from kit import content
from kit.errors import DataError

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
_CHUNK_CELLS = 4_000_000  # resample cells per block, bounds memory on large test sets


def metric_name(name: str) -> str:
    """Canonical metric name (``average_precision`` -> ``pr_auc``); unknown names are errors."""
    key = str(name).strip().lower()
    key = content.load("training")["metric_aliases"].get(key, key)
    if key not in METRICS:
        raise DataError(f"metric {name!r} is unknown; use one of {list(METRICS)}")
    return key


def higher_is_better(name: str) -> bool:
    """Whether larger values of a metric are better."""
    return bool(content.load("training")["metrics"][metric_name(name)]["higher_is_better"])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def metric_matrix(Y: np.ndarray, P: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Every metric for each row of label matrix ``Y`` (0/1) and score matrix ``P`` (B x n)."""
    Y = np.atleast_2d(Y).astype("float64")
    P = np.atleast_2d(P).astype("float64")
    n = Y.shape[1]
    pred = (P >= threshold).astype("float64")
    tp, fp = (pred * Y).sum(1), (pred * (1 - Y)).sum(1)
    pos = Y.sum(1)
    neg = n - pos
    fn, tn = pos - tp, neg - fp
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, pos)
    out = {
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": (recall + _safe_div(tn, neg)) / 2,
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _roc_auc(Y, P, pos, neg),
        "pr_auc": _average_precision(Y, P, pos),
        "log_loss": _log_loss(Y, P),
        "brier": ((P - Y) ** 2).mean(1),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }
    return out


def roc_auc_rows(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of score matrix ``P`` against the same 0/1 labels ``y``."""
    P = np.atleast_2d(np.asarray(P, dtype="float64"))
    Y = np.broadcast_to(np.asarray(y, dtype="float64"), P.shape)
    pos = Y.sum(1)
    return _roc_auc(Y, P, pos, P.shape[1] - pos)


def _roc_auc(Y: np.ndarray, P: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC per row (Mann-Whitney U with average ranks for ties); NaN with one class."""
    ranks = rankdata(P, axis=1)
    u = (ranks * Y).sum(1) - pos * (pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((pos > 0) & (neg > 0), u / (pos * neg), np.nan)


def _average_precision(Y: np.ndarray, P: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Average precision per row (scikit-learn's step definition, ties grouped)."""
    order = np.argsort(-P, axis=1, kind="stable")
    s = np.take_along_axis(P, order, 1)
    y = np.take_along_axis(Y, order, 1)
    tp = np.cumsum(y, 1)
    k = np.arange(1, s.shape[1] + 1, dtype="float64")
    is_end = np.ones_like(s, dtype=bool)
    is_end[:, :-1] = s[:, :-1] != s[:, 1:]
    # each position takes the precision at the end of its tie group
    end_pos = np.where(is_end, np.arange(s.shape[1]), s.shape[1])
    group_end = np.minimum.accumulate(end_pos[:, ::-1], axis=1)[:, ::-1]
    prec_at_end = np.take_along_axis(tp / k, group_end, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pos > 0, (y * prec_at_end).sum(1) / pos, np.nan)


def _log_loss(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy per row, clipped like scikit-learn."""
    eps = np.finfo(P.dtype).eps
    Pc = np.clip(P, eps, 1 - eps)
    return -(Y * np.log(Pc) + (1 - Y) * np.log(1 - Pc)).mean(1)


def compute_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Point value of every metric for labels ``y`` and positive-class scores ``p``."""
    y, p = np.asarray(y), np.asarray(p, dtype="float64")
    if y.shape != p.shape or y.ndim != 1:
        raise DataError(f"labels and scores must be 1-D and the same length (got {y.shape} and {p.shape})")
    return {k: float(v[0]) for k, v in metric_matrix(y, p, threshold).items()}


def bootstrap_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int = 300, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """Point value and percentile bootstrap interval of each metric (seeded; rows resampled as a matrix)."""
    y, p = np.asarray(y), np.asarray(p, dtype="float64")
    point = compute_metrics(y, p, threshold)
    table = pd.DataFrame({"value": {m: point[m] for m in METRICS}})
    if n_boot <= 0:
        return table.assign(low=np.nan, high=np.nan)
    rng = np.random.default_rng(seed)
    n = len(y)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    blocks = []
    for start in range(0, n_boot, chunk):  # loop over blocks of resamples, not rows
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        blocks.append(pd.DataFrame({m: v for m, v in metric_matrix(y[idx], p[idx], threshold).items() if m in METRICS}))
    draws = pd.concat(blocks, ignore_index=True)
    alpha = (1 - confidence) / 2
    table["low"] = draws.quantile(alpha).reindex(table.index)
    table["high"] = draws.quantile(1 - alpha).reindex(table.index)
    return table


def threshold_curve(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """For every distinct score as threshold (flag p >= t): TP, FP, FN, TN and F1."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    order = np.argsort(-p, kind="stable")
    s, ys = p[order], y[order]
    tp, fp = np.cumsum(ys), np.cumsum(1 - ys)
    ends = np.r_[s[:-1] != s[1:], True]
    pos, neg = ys.sum(), len(ys) - ys.sum()
    frame = pd.DataFrame({"threshold": s[ends], "tp": tp[ends], "fp": fp[ends]})
    frame["fn"], frame["tn"] = pos - frame["tp"], neg - frame["fp"]
    frame["f1"] = _safe_div(2 * frame["tp"], 2 * frame["tp"] + frame["fp"] + frame["fn"])
    return frame


def choose_threshold(
    y: np.ndarray, p: np.ndarray, costs: dict[str, float] | None = None
) -> dict[str, Any]:
    """Threshold with the lowest total error cost when costs are given, else the highest F1."""
    curve = threshold_curve(y, p)
    if costs:
        curve["cost"] = costs["false_positive"] * curve["fp"] + costs["false_negative"] * curve["fn"]
        best = int(curve["cost"].to_numpy().argmin())
        objective, value = "lowest error cost", float(curve["cost"].iloc[best])
    else:
        best = int(curve["f1"].to_numpy().argmax())
        objective, value = "highest F1", float(curve["f1"].iloc[best])
    # halfway to the next lower score: the same decisions here, less brittle on new data
    nxt = curve["threshold"].iloc[best + 1] if best + 1 < len(curve) else 0.0
    threshold = float((curve["threshold"].iloc[best] + nxt) / 2)
    return {"threshold": threshold, "objective": objective, "value": value, "costs": costs}


def business_value(y: np.ndarray, p: np.ndarray, threshold: float, costs: dict[str, float]) -> dict[str, float]:
    """Error cost of the model at ``threshold`` versus acting on nobody and on everybody."""
    m = compute_metrics(y, p, threshold)
    cfp, cfn = costs["false_positive"], costs["false_negative"]
    model = cfp * m["fp"] + cfn * m["fn"]
    nobody = cfn * (m["tp"] + m["fn"])
    everybody = cfp * (m["fp"] + m["tn"])
    return {
        "cost_model": model,
        "cost_act_on_nobody": nobody,
        "cost_act_on_everybody": everybody,
        "saving_vs_best_default": min(nobody, everybody) - model,
        "cost_per_case": model / len(y),
    }


# ---- regression and multiclass ------------------------------------------------------------
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
MULTICLASS_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")


def task_metric_names(task: str) -> tuple[str, ...]:
    """The metric names a task's tables hold, in display order."""
    return {"binary": METRICS, "multiclass": MULTICLASS_METRICS, "regression": REGRESSION_METRICS}[task]


def mape_omitted(y: np.ndarray) -> str | None:
    """Why MAPE is not reported for these targets (some |target| near zero), or None when it is meaningful."""
    share = content.load("training")["regression"]["mape_near_zero_share_of_median"]
    scale = float(np.median(np.abs(y))) if len(y) else 0.0
    near = int(np.sum(np.abs(y) <= share * scale))
    if scale > 0 and near == 0:
        return None
    return (f"MAPE omitted: {near} of {len(y)} test targets have |value| <= {share:g} x the median |value| "
            f"({share * scale:.4g}); a percentage error on a value near zero is huge or undefined and would dominate the mean")


def regression_matrix(Y: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    """RMSE, MAE, R² and MAPE for each row of target matrix ``Y`` and prediction matrix ``P`` (B x n)."""
    Y, P = np.atleast_2d(Y).astype("float64"), np.atleast_2d(P).astype("float64")
    err = P - Y
    sse = (err ** 2).sum(1)
    sst = ((Y - Y.mean(1, keepdims=True)) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
        mape = (np.abs(err) / np.abs(Y)).mean(1)
    return {"rmse": np.sqrt(sse / Y.shape[1]), "mae": np.abs(err).mean(1), "r2": r2, "mape": mape}


def _class_counts(Y: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resample and class: true positives, true count and predicted count (each B x k)."""
    rows = np.arange(Y.shape[0])[:, None] * k
    size = Y.shape[0] * k
    true = np.bincount((rows + Y).ravel(), minlength=size).reshape(-1, k)
    predicted = np.bincount((rows + pred).ravel(), minlength=size).reshape(-1, k)
    hits = np.bincount((rows + Y).ravel(), weights=(Y == pred).ravel().astype("float64"), minlength=size).reshape(-1, k)
    return hits, true.astype("float64"), predicted.astype("float64")


def multiclass_matrix(Y: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, macro F1, log loss and per-class recall for each resample.

    ``Y`` holds class indices (B x n), ``P`` probabilities (B x n x K). Like scikit-learn's
    defaults: balanced accuracy averages recall over the classes present in ``Y``, macro F1 over
    the classes present in ``Y`` or predicted.
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=np.int64))
    P = np.asarray(P, dtype="float64").reshape(Y.shape[0], Y.shape[1], -1)
    k = P.shape[2]
    pred = P.argmax(2)
    hits, true, predicted = _class_counts(Y, pred, k)
    recall = _safe_div(hits, true)
    f1 = _safe_div(2 * hits, true + predicted)
    present, seen = true > 0, (true + predicted) > 0
    eps = np.finfo("float64").eps
    picked = np.take_along_axis(P / P.sum(2, keepdims=True), Y[..., None], 2)[..., 0]
    out = {
        "accuracy": (pred == Y).mean(1),
        "balanced_accuracy": (recall * present).sum(1) / present.sum(1),
        "macro_f1": (f1 * seen).sum(1) / seen.sum(1),
        "log_loss": -np.log(np.clip(picked, eps, 1 - eps)).mean(1),
    }
    out |= {f"recall[{j}]": np.where(present[:, j], recall[:, j], np.nan) for j in range(k)}
    return out


def task_metrics(task: str, y: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Point value of every metric of a task: binary (P(positive), threshold), multiclass (probabilities n x K), regression (predictions)."""
    if task == "binary":
        return compute_metrics(y, scores, threshold)
    y, scores = np.asarray(y), np.asarray(scores, dtype="float64")
    if len(y) != len(scores):
        raise DataError(f"labels and scores must have the same length (got {len(y)} and {len(scores)})")
    matrix = multiclass_matrix(y[None], scores[None]) if task == "multiclass" else regression_matrix(y, scores)
    out = {k: float(v[0]) for k, v in matrix.items()}
    if task == "regression" and mape_omitted(y):
        out["mape"] = float("nan")
    return out


def bootstrap_task_metrics(task: str, y: np.ndarray, scores: np.ndarray, threshold: float = 0.5, n_boot: int = 300,
                           seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Point value and percentile bootstrap interval of each metric of a task (binary: :func:`bootstrap_metrics`)."""
    if task == "binary":
        return bootstrap_metrics(y, scores, threshold, n_boot, seed, confidence)
    y, scores = np.asarray(y), np.asarray(scores, dtype="float64")
    point = task_metrics(task, y, scores)
    table = pd.DataFrame({"value": point})
    omitted = mape_omitted(y) if task == "regression" else None
    if omitted:
        table = table.drop(index="mape")
    table.attrs["omitted"] = [omitted] if omitted else []
    if n_boot <= 0:
        return table.assign(low=np.nan, high=np.nan)
    engine = multiclass_matrix if task == "multiclass" else regression_matrix
    rng = np.random.default_rng(seed)
    n = len(y)
    width = scores.shape[1] if scores.ndim == 2 else 1
    chunk = max(1, _CHUNK_CELLS // max(n * width, 1))
    blocks = []
    for start in range(0, n_boot, chunk):  # loop over blocks of resamples, not rows
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        blocks.append(pd.DataFrame(engine(y[idx], scores[idx])))
    draws = pd.concat(blocks, ignore_index=True)
    alpha = (1 - confidence) / 2
    table["low"] = draws.quantile(alpha).reindex(table.index)
    table["high"] = draws.quantile(1 - alpha).reindex(table.index)
    return table


def confusion_counts(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """K x K confusion matrix (rows actual, columns predicted), as scikit-learn's with labels 0..K-1."""
    return np.bincount(np.asarray(y, dtype=np.int64) * k + np.asarray(pred, dtype=np.int64), minlength=k * k).reshape(k, k)
