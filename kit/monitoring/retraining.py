"""Retraining: when to train a challenger, how, and whether it may replace the champion.

Retraining is replayed walk-forward (``kit.monitoring.run.retrain``): batch by batch, the
trigger rules are read for the model serving at that time; when one fires, a challenger goes
through the training phase's own pipeline
(:func:`kit.training.pipeline.train_candidates`, then ``set_thresholds`` and ``select_best``)
with the same ``training`` settings and seed as the champion: the same algorithms, early
stopping, class weighting, tuning and threshold rule (error costs, else F1). Its rows are the
champion's, extended with the labelled batches known at that time: training rows plus most of
those batches to fit, validation rows plus a seeded, stratified ``training.valid_size`` share of
them for early stopping, the threshold and the choice among algorithms. Batches with a
critical data-quality alert, too few rows or too few labels of a class are left out: retraining
on broken data would learn the breakage. At most ``max_challengers`` are trained per replay,
with ``cooldown_batches`` between decisions.

Serving model and challenger are compared on the next full labelled window, which the
challenger never saw, each at its own threshold. The challenger is promoted only if it beats the
champion by the margin and passes the fairness gate: its equalized-odds difference (the
largest gap in true- or false-positive rate between groups of a sensitive column, fairlearn)
on the window is at most the champion's plus a tolerance. Equalized odds rather than
selection rates, because groups with different base rates should get different selection rates.
Only groups with enough rows, and enough of each class (phase 3's minimum), count: a rate measured on
three rows, or a true positive rate of a group with one positive, is noise, not evidence; with fewer than two such
groups the decision says the fairness gate could not be checked.

Regression and multiclass models are compared on their task's metric (``retraining.metric`` when it
is one of the task's, else ``task_metric`` in kit/content/monitoring.yaml: RMSE, lower is better, and
macro F1), and the fairness gate reads the task's own gap: multiclass the largest difference in
accuracy between groups, regression the largest difference in MAE between groups divided by the
overall MAE (unitless, so one tolerance serves every target's units). Challengers of those tasks
are chosen among the pipeline's candidates on that metric; there is no threshold.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kit.training.scoring import ScoringModel


def should_retrain(alerts: pd.DataFrame, trigger_rules: list[str], recent: list[str]) -> tuple[bool, str]:
    """Whether a trigger rule fired (warning or critical) in the recent batches, and which."""
    fired = alerts[alerts["rule"].isin(trigger_rules) & alerts["batch"].isin(recent) & (alerts["severity"] != "info")]
    if fired.empty:
        return False, f"no retraining rule ({', '.join(trigger_rules)}) fired in the recent batches"
    rules = ", ".join(f"{r} x{n}" for r, n in fired["rule"].value_counts().sort_index().items())
    return True, f"retraining rules fired in the recent batches: {rules}"


def fired_rules(alerts: pd.DataFrame, batch: str, trigger_rules: list[str]) -> list[str]:
    """Trigger rules that fired (warning or critical) in one batch, sorted."""
    hit = alerts[(alerts["batch"] == batch) & alerts["rule"].isin(trigger_rules) & (alerts["severity"] != "info")]
    return sorted(hit["rule"].unique())


def decide(
    champion_score: float, challenger_score: float, margin: float,
    champion_gap: float | None, challenger_gap: float | None, tolerance: float, metric: str = "roc_auc",
    sensitive: bool = True, higher: bool = True, gap_name: str = "equalized-odds difference",
) -> dict[str, Any]:
    """Promote the challenger only if better by the margin and passing the fairness gate; say why.

    A gap of None or NaN means there was not enough evidence to measure it (no sensitive column,
    or no group with enough rows of both classes); the gate then says so instead of calling it fair, and
    ``sensitive=False`` says there was no sensitive column to measure at all. ``higher=False`` is for error
    metrics (RMSE): the gain is then how much lower the challenger's error is, and the margin a share of the champion's
    error (errors are in the target's units).
    """
    gain = challenger_score - champion_score if higher else champion_score - challenger_score
    better = bool(np.isfinite(gain) and gain >= (margin if higher else margin * abs(champion_score)))
    known = _finite(champion_gap) and _finite(challenger_gap)
    fair = bool(known and challenger_gap <= champion_gap + tolerance + 1e-12)
    if not known:
        gate = ("fairness not checked: not enough evidence (no sensitive groups with enough rows of both classes in the window)"
                if sensitive else "fairness not checked: the dataset names no sensitive columns (dataset.sensitive)")
    elif fair:
        gate = (f"passes the fairness gate ({gap_name} {challenger_gap:.3f} vs champion's "
                f"{champion_gap:.3f} + {tolerance:g})")
    else:
        gate = f"fails the fairness gate: {gap_name} {challenger_gap:.3f} > champion's {champion_gap:.3f} + {tolerance:g}"
    if better and (fair or not known):
        decision, reason = "promote", (
            f"challenger {metric} {challenger_score:.3f} beats champion {champion_score:.3f} by {gain:+.3f} (margin {margin:g}); {gate}"
            if higher else f"challenger {metric} {challenger_score:.4g} beats champion {champion_score:.4g} by {gain:+.4g} "
                           f"(margin {margin:g} x champion's, lower is better); {gate}")
    elif not better:
        decision, reason = "keep", (f"challenger {metric} {challenger_score:.3f} vs champion {champion_score:.3f} ({gain:+.3f}) is not better by the margin {margin:g}"
                                    if higher else f"challenger {metric} {challenger_score:.4g} vs champion {champion_score:.4g} "
                                                   f"({gain:+.4g} lower) is not better by the margin {margin:g} x champion's")
    else:
        decision, reason = "keep", f"challenger is better ({gain:+.3f}) but {gate}"
    return {"decision": decision, "reason": reason, "gain": gain, "fair": fair if known else None, "better": better,
            "fairness_evidence": "measured" if known else "not enough evidence"}


def _finite(value: float | None) -> bool:
    """Whether a figure exists and is a finite number."""
    return value is not None and bool(np.isfinite(value))


def fairness_min_class() -> int:
    """Rows of each class a group needs for its TPR and FPR to count (phase 3's rule, kit/content/governance.yaml)."""
    from kit import content

    return int(content.load("governance")["fairness"]["min_class_count"])


def fairness_gap(y: np.ndarray, predicted: np.ndarray, frame: pd.DataFrame, sensitive: list[str],
                 min_group: int = 30, min_class: int | None = None) -> float | None:
    """Largest equalized-odds difference (as fairlearn's, worst case of the TPR and FPR gaps) over the sensitive
    columns, counting only groups with at least ``min_group`` rows and ``min_class`` of each class (default: phase 3's
    minimum, so one positive never makes a TPR of 0 or 1); None when no column has two such groups."""
    min_class = fairness_min_class() if min_class is None else min_class
    rows = pd.DataFrame({"y": np.asarray(y), "p": np.asarray(predicted)})
    gaps = []
    for column in [c for c in sensitive if c in frame.columns]:  # a few sensitive columns
        rows["g"] = frame[column].astype(str).to_numpy()
        counts = pd.crosstab(rows["g"], rows["y"]).reindex(columns=[0, 1], fill_value=0)
        ok = counts.index[(counts.sum(axis=1) >= min_group) & (counts.min(axis=1) >= max(min_class, 1))]
        if len(ok) >= 2:
            rates = rows[rows["g"].isin(ok)].groupby(["g", "y"])["p"].mean().unstack()  # column 0: FPR, 1: TPR
            gaps.append(float((rates.max() - rates.min()).max()))
    return max(gaps) if gaps else None


def task_fairness_gap(task: str, y: np.ndarray, predicted: np.ndarray, frame: pd.DataFrame, sensitive: list[str],
                      min_group: int = 30) -> float | None:
    """The fairness gap of a task (binary: :func:`fairness_gap`): multiclass the largest difference in accuracy between
    groups, regression the largest difference in MAE between groups over the overall MAE; only groups with at least
    ``min_group`` rows count; None when no sensitive column has two such groups."""
    if task == "binary":
        return fairness_gap(y, predicted, frame, sensitive, min_group)
    y, predicted = np.asarray(y), np.asarray(predicted)
    loss = (y != predicted).astype(np.float64) if task == "multiclass" else np.abs(predicted - y)
    scale = 1.0 if task == "multiclass" else float(loss.mean())
    gaps = []
    for column in [c for c in sensitive if c in frame.columns]:  # a few sensitive columns
        groups = pd.DataFrame({"loss": loss, "g": frame[column].astype(str).to_numpy()}).groupby("g")["loss"].agg(["mean", "size"])
        ok = groups[groups["size"] >= min_group]
        if len(ok) >= 2 and scale > 0:
            gaps.append(float((ok["mean"].max() - ok["mean"].min()) / scale))
    return max(gaps) if gaps else None


GAP_NAME = {"binary": "equalized-odds difference", "multiclass": "accuracy gap between groups",
            "regression": "MAE gap between groups / overall MAE"}


def extend_split(X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
                 X_new: pd.DataFrame, y_new: np.ndarray, valid_size: float, seed: int
                 ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """Training and validation rows extended with new labelled rows, cut by ``valid_size`` (seeded, stratified); copies
    of one row (features and label) stay on one side, so validation never scores a row the challenger learnt."""
    from sklearn.model_selection import train_test_split

    rows = pd.util.hash_pandas_object(X_new.assign(__label__=y_new), index=False).to_numpy()
    first, group = np.unique(rows, return_index=True, return_inverse=True)[1:]
    labels = y_new[first]
    held = int(np.ceil(valid_size * len(first)))
    binary = (len(np.unique(labels)) == 2 and np.issubdtype(labels.dtype, np.integer) and np.bincount(labels).min() >= 2
              and 2 <= held <= len(first) - 2)  # stratifying needs both classes on both sides
    fit_groups = np.arange(len(first)) if len(first) < 2 else train_test_split(
        np.arange(len(first)), test_size=valid_size, random_state=seed, stratify=labels if binary else None)[0]
    in_fit = np.isin(group, fit_groups)
    fit_idx, val_idx = np.flatnonzero(in_fit), np.flatnonzero(~in_fit)
    fit_X = pd.concat([X_train, X_new.iloc[fit_idx]], ignore_index=True)
    val_X = pd.concat([X_valid, X_new.iloc[val_idx]], ignore_index=True)
    return (fit_X, np.concatenate([y_train, y_new[fit_idx]]), val_X, np.concatenate([y_valid, y_new[val_idx]]))


def train_challenger(X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
                     features: list[str], training: Any, costs: dict[str, float] | None, seed: int,
                     meta: dict[str, Any]) -> tuple[ScoringModel, pd.DataFrame]:
    """The training phase's pipeline on the given rows: candidates, thresholds, best one; plus its validation table."""
    from kit.training.metrics import compute_metrics
    from kit.training.pipeline import select_best, set_thresholds, train_candidates

    if meta.get("task", "binary") != "binary":
        return _train_task_challenger(X_train, y_train, X_valid, y_valid, features, training, seed, meta)

    candidates = train_candidates(X_train[features], y_train, X_valid[features], y_valid, training, seed,
                                  baselines=False, costs=costs, **meta)
    set_thresholds(candidates, y_valid, costs, training.threshold)
    best = select_best(candidates, y_valid, training.selection_metric)
    table = pd.DataFrame({c.name: {**compute_metrics(y_valid, c.valid_proba, c.threshold), "threshold": c.threshold,
                                   "trees": c.trees, "selected": c is best} for c in candidates}).T.infer_objects()
    best.model.info = {**best.model.info, "retrained_on_rows": int(len(y_train)), "source": "monitoring challenger"}
    return best.model, table


def _train_task_challenger(X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
                           features: list[str], training: Any, seed: int, meta: dict[str, Any]) -> tuple[ScoringModel, pd.DataFrame]:
    """A regression or multiclass challenger: the pipeline's candidates with the task, the best on the task's metric
    (the training selection metric when it suits the task, else the task's headline metric) on validation rows."""
    from kit import content
    from kit.monitoring.tasks import figures
    from kit.training.pipeline import train_candidates

    task = meta["task"]
    candidates = [c for c in train_candidates(X_train[features], y_train, X_valid[features], y_valid, training, seed,
                                              baselines=False, **meta) if c.model is not None]
    metric = _task_metric(task, training.selection_metric, content.load("monitoring")["retraining"]["task_metric"])
    table = pd.DataFrame({c.name: {**figures(c.model, y_valid, X_valid), "trees": c.trees} for c in candidates}).T.infer_objects()
    sign = 1.0 if _higher(metric) else -1.0
    best = candidates[int(np.argmax(sign * table[metric].to_numpy(dtype=float)))]
    table["selected"] = [c is best for c in candidates]
    best.model.info = {**best.model.info, "retrained_on_rows": int(len(y_train)), "source": "monitoring challenger"}
    return best.model, table


def _task_metric(task: str, configured: str, defaults: dict[str, str]) -> str:
    """The configured metric when it is one of the task's, else the task's default."""
    from kit.monitoring.tasks import retraining_metric

    return retraining_metric(task, configured, defaults)


def _higher(metric: str) -> bool:
    """Whether larger values of a monitoring metric are better (errors are not)."""
    return metric not in ("rmse", "mae", "log_loss", "brier", "mape")
