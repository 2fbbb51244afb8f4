"""Group fairness: per-group metrics (fairlearn MetricFrame), parity ratios, bootstrap intervals, gates."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError
from kit.explain.config import FairnessSettings

PASSED, FAILED, INSUFFICIENT, NOT_ASSESSED = "passed", "failed", "insufficient evidence", "not assessed"
MISSING_GROUP = "missing"


@dataclass(frozen=True)
class FairnessThresholds:
    """Resolved thresholds: config values where set, governance defaults otherwise."""

    demographic_parity_ratio_min: float
    equalized_odds_difference_max: float
    min_group_size: int
    min_class_count: int


def apart(value: float, limit: float) -> str:
    """The value with as many decimals (2 to 4) as it takes to read differently from the limit it is held to."""
    for digits in (2, 3, 4):
        if f"{value:.{digits}f}" != f"{limit:.{digits}f}":
            return f"{value:.{digits}f}"
    return f"{value:.6g}"


def resolve_thresholds(settings: FairnessSettings) -> FairnessThresholds:
    """Fill unset fairness thresholds from kit/content/governance.yaml."""
    defaults = content.load("governance")["fairness"]
    pick = lambda key: getattr(settings, key) if getattr(settings, key) is not None else defaults[key]  # noqa: E731
    return FairnessThresholds(
        demographic_parity_ratio_min=float(pick("demographic_parity_ratio_min")),
        equalized_odds_difference_max=float(pick("equalized_odds_difference_max")),
        min_group_size=int(pick("min_group_size")),
        min_class_count=int(defaults["min_class_count"]),
    )


def _edge(x: float) -> str:
    """Format a band edge compactly (25.0 -> '25')."""
    return f"{x:g}"


def band_labels(edges: list[float]) -> list[str]:
    """Labels of the bands cut by ``edges``: '<25', '25-45', '45+'."""
    inner = [f"{_edge(a)}-{_edge(b)}" for a, b in zip(edges, edges[1:])]
    return [f"<{_edge(edges[0])}", *inner, f"{_edge(edges[-1])}+"]


def default_edges(values: pd.Series, column: str, quantile_bins: int) -> list[float]:
    """Band edges for a numeric column: governance bands for known names, else quantiles."""
    known = content.load("governance")["fairness"]["bands"]
    if column.lower() in known:
        return [float(e) for e in known[column.lower()]]
    qs = np.nanquantile(values.to_numpy(dtype=float), np.linspace(0, 1, quantile_bins + 1)[1:-1])
    return sorted({float(q) for q in qs})


def group_labels(values: pd.Series, column: str, edges: list[float] | None = None) -> pd.Series:
    """Group label per row: numeric columns with many levels in bands, missing values as their own group."""
    rules = content.load("governance")["fairness"]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and (edges is not None or values.nunique() > rules["max_numeric_levels"]):
        edges = edges if edges is not None else default_edges(values, column, rules["quantile_bins"])
        bins = [-np.inf, *edges, np.inf]
        labels = pd.cut(values.astype(float), bins=bins, right=False, labels=band_labels(edges))
        out = labels.astype(object)
    elif numeric:
        out = values.map(lambda v: _edge(float(v)), na_action="ignore").astype(object)
    else:
        out = values.astype(object).where(values.notna(), None).astype(str)
    out = out.where(values.notna(), MISSING_GROUP)
    return pd.Series(out.astype(str), index=values.index, name=column)


def code_key(code: Any) -> str:
    """A configured group code as the group name it matches (0, 0.0 and '0' all give '0'; True gives 'True')."""
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        return _edge(float(code))
    return str(code)


def apply_group_labels(groups: pd.Series, labels: dict[Any, str] | None) -> pd.Series:
    """Rename group codes to their configured labels; a DataError when no configured code occurs in the data."""
    if not labels:
        return groups
    mapping = {code_key(k): str(v).strip() for k, v in labels.items()}
    present = set(groups.unique())
    if not present & set(mapping):
        raise DataError(
            f"explainability.fairness.group_labels.{groups.name}: codes {sorted(mapping)} match none of the "
            f"column's groups {sorted(present)[:10]}; use the codes as they appear in the data"
        )
    clash = sorted(set(mapping.values()) & (present - set(mapping)))
    if clash:
        raise DataError(
            f"explainability.fairness.group_labels.{groups.name}: label(s) {clash} are also the name of another "
            "group, which would merge them; choose other labels"
        )
    return groups.map(lambda g: mapping.get(g, g)).rename(groups.name)


def _auc(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of the scores, NaN when a group holds only one class."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, scores)) if len(np.unique(y_true)) == 2 else float("nan")


def group_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, groups: pd.Series, thresholds: FairnessThresholds
) -> pd.DataFrame:
    """Per-group count, positives, selection rate, TPR, FPR, precision and AUC via fairlearn's MetricFrame."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    y_true, y_pred, y_score = (np.asarray(a) for a in (y_true, y_pred, y_score))
    frame = MetricFrame(
        metrics={
            "count": count,
            "positives": lambda t, p: int(np.sum(t)),
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": lambda t, p: precision_score(t, p, zero_division=np.nan),
            "auc": _auc,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups.to_numpy(),
        sample_params={"auc": {"scores": y_score}},
    )
    table = frame.by_group.reset_index().rename(columns={"sensitive_feature_0": "group"})
    table["count"] = table["count"].astype(int)
    table["positives"] = table["positives"].astype(int)
    table["negatives"] = table["count"] - table["positives"]
    # fairlearn gives 0.0 for a rate with an empty denominator; it is undefined, not zero
    table["true_positive_rate"] = table["true_positive_rate"].where(table["positives"] > 0)
    table["false_positive_rate"] = table["false_positive_rate"].where(table["negatives"] > 0)
    sufficient = (
        (table["count"] >= thresholds.min_group_size)
        & (table["positives"] >= thresholds.min_class_count)
        & (table["negatives"] >= thresholds.min_class_count)
    )
    table["evidence"] = np.where(sufficient, "sufficient", INSUFFICIENT)
    return table


def parity(table: pd.DataFrame) -> dict[str, float]:
    """Demographic parity ratio (min/max selection rate) and equalized odds difference over sufficient groups."""
    ok = table[table["evidence"] == "sufficient"]
    if len(ok) < 2:
        return {"demographic_parity_ratio": float("nan"), "equalized_odds_difference": float("nan")}
    rates = ok["selection_rate"]
    ratio = float(rates.min() / rates.max()) if rates.max() > 0 else 1.0
    gaps = [ok[c].max() - ok[c].min() for c in ("true_positive_rate", "false_positive_rate")]
    return {"demographic_parity_ratio": ratio, "equalized_odds_difference": float(max(gaps))}


def bootstrap_rates(
    y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int, n_boot: int, seed: int,
    max_cells: int = 4_000_000,
) -> dict[str, np.ndarray]:
    """Selection rate, TPR and FPR per bootstrap draw and group, shape (n_boot, n_groups); chunked to bound memory."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    chunk = max(1, max_cells // max(n, 1))
    parts: list[np.ndarray] = []
    for start in range(0, n_boot, chunk):  # loop over chunks of draws, never over rows
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        key = (np.arange(b)[:, None] * n_groups + codes[idx]).ravel()
        yt, yp = y_true[idx].ravel(), y_pred[idx].ravel()
        size = b * n_groups
        sums = np.stack(
            [np.bincount(key, weights=w, minlength=size) for w in (np.ones_like(yt), yt, yp, yt * yp, (1 - yt) * yp)]
        ).reshape(5, b, n_groups)
        parts.append(sums)
    total, pos, sel, tp, fp = np.concatenate(parts, axis=1) if parts else np.zeros((5, 0, n_groups))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "selection_rate": sel / total,
            "true_positive_rate": tp / pos,
            "false_positive_rate": fp / (total - pos),
        }


def bootstrap_parity(rates: dict[str, np.ndarray], sufficient: np.ndarray) -> dict[str, np.ndarray]:
    """Per-draw demographic parity ratio and equalized odds difference over the sufficient groups."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sel = rates["selection_rate"][:, sufficient]
        hi = np.nanmax(sel, axis=1)
        ratio = np.where(hi > 0, np.nanmin(sel, axis=1) / hi, 1.0)
        gaps = [np.nanmax(rates[k][:, sufficient], axis=1) - np.nanmin(rates[k][:, sufficient], axis=1)
                for k in ("true_positive_rate", "false_positive_rate")]
    return {"demographic_parity_ratio": ratio, "equalized_odds_difference": np.fmax(*gaps)}


def interval(draws: np.ndarray, confidence: float) -> list[float | None]:
    """Percentile interval of bootstrap draws (ignoring NaN); [None, None] without draws."""
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return [None, None]
    alpha = (1 - confidence) / 2
    return [float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))]


def sensitive_groups(column: str, values: pd.Series, settings: FairnessSettings) -> tuple[pd.Series, pd.Series]:
    """Group codes and display labels of one sensitive column; a column with a single group is an error."""
    codes = group_labels(values, column, settings.bands.get(column))
    groups = apply_group_labels(codes, settings.group_labels.get(column))
    if groups.nunique() < 2:
        raise DataError(
            f"sensitive column {column!r}: every row is in one group ({groups.iloc[0]!r}), so fairness "
            "between groups cannot be measured; remove it from dataset.sensitive or set "
            f"explainability.fairness.bands.{column} to split it"
        )
    return codes, groups


def assess_column(
    column: str,
    values: pd.Series,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray,
    settings: FairnessSettings,
    seed: int,
) -> dict[str, Any]:
    """Fairness of one sensitive column: group table with intervals, parity ratios and pass/fail."""
    thresholds = resolve_thresholds(settings)
    codes, groups = sensitive_groups(column, values, settings)
    table = group_metrics(y_true, y_pred, y_score, groups, thresholds)
    table.insert(1, "code", table["group"].map(dict(zip(groups, codes))))
    point = parity(table)
    sufficient = (table["evidence"] == "sufficient").to_numpy()
    ci: dict[str, list[float | None]] = {k: [None, None] for k in point}
    if settings.bootstrap > 0:
        codes = pd.Categorical(groups, categories=table["group"]).codes
        rates = bootstrap_rates(np.asarray(y_true), np.asarray(y_pred), codes, len(table), settings.bootstrap, seed)
        for key, draws in rates.items():
            low_high = np.array([interval(draws[:, g], settings.confidence) for g in range(len(table))], dtype=object)
            table[f"{key}_low"], table[f"{key}_high"] = low_high[:, 0], low_high[:, 1]
        if sufficient.sum() >= 2:
            ci = {k: interval(v, settings.confidence) for k, v in bootstrap_parity(rates, sufficient).items()}
    if sufficient.sum() < 2:
        status = INSUFFICIENT
        failures = [f"fewer than two groups have at least {thresholds.min_group_size} rows with both outcomes"]
    else:
        failures = []
        if point["demographic_parity_ratio"] < thresholds.demographic_parity_ratio_min:
            failures.append(
                f"demographic parity ratio {apart(point['demographic_parity_ratio'], thresholds.demographic_parity_ratio_min)} is below "
                f"{thresholds.demographic_parity_ratio_min:.2f} (four-fifths rule)"
            )
        if point["equalized_odds_difference"] > thresholds.equalized_odds_difference_max:
            failures.append(
                f"equalized odds difference {apart(point['equalized_odds_difference'], thresholds.equalized_odds_difference_max)} is above "
                f"{thresholds.equalized_odds_difference_max:.2f}"
            )
        status = FAILED if failures else PASSED
    failures += unjudged_groups(table, thresholds)
    return {
        "column": column,
        "groups": table,
        "demographic_parity_ratio": point["demographic_parity_ratio"],
        "demographic_parity_ratio_ci": ci["demographic_parity_ratio"],
        "equalized_odds_difference": point["equalized_odds_difference"],
        "equalized_odds_difference_ci": ci["equalized_odds_difference"],
        "thresholds": thresholds,
        "status": status,
        "passed": status == PASSED,
        "findings": failures,
    }


def unjudged_groups(table: pd.DataFrame, thresholds: FairnessThresholds) -> list[str]:
    """One note per group left out of the parity figures for lack of rows, positives or negatives."""
    small = table[table["evidence"] == INSUFFICIENT]
    return [
        f"group {g.group!r} ({g.count} rows, {g.positives} positive, {g.negatives} negative): insufficient evidence, "
        f"left out of the parity figures (needs {thresholds.min_group_size} rows and "
        f"{thresholds.min_class_count} of each outcome)"
        for g in small.itertuples()
    ]


def fairness_gate(columns: list[dict[str, Any]]) -> str:
    """Overall gate: failed if any column fails, insufficient evidence if any can't be judged, else passed."""
    statuses = {c["status"] for c in columns}
    if not statuses:
        return NOT_ASSESSED
    if FAILED in statuses:
        return FAILED
    return INSUFFICIENT if INSUFFICIENT in statuses else PASSED


# ---- regression and multiclass -----------------------------------------------------------------------------
def task_rules(task: str) -> dict[str, Any]:
    """Fairness thresholds of a regression or multiclass model (kit/content/explain.yaml)."""
    return content.load("explain")["fairness"][task]


def row_values(task: str, y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any] | None) -> dict[str, np.ndarray]:
    """Per-row quantities whose group means are the task's fairness metrics (vectorized; bootstrapped alike)."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if task == "regression":
        error = y_pred - y_true
        return {"mae": np.abs(error), "mean_prediction": y_pred, "mean_actual": y_true, "mean_error": error}
    values = {"accuracy": (y_pred == y_true).astype(float)}
    for k, label in enumerate(classes or []):
        values[f"selection_rate[{label}]"] = (y_pred == k).astype(float)
    return values


def task_group_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series,
                       classes: list[Any] | None, min_group_size: int) -> pd.DataFrame:
    """Per-group count and the task's metrics via fairlearn's MetricFrame (MAE and mean prediction; accuracy and class rates)."""
    from fairlearn.metrics import MetricFrame, count, selection_rate
    from sklearn.metrics import accuracy_score, mean_absolute_error

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    metrics: dict[str, Any] = {"count": count}
    if task == "regression":
        metrics |= {"mae": mean_absolute_error, "mean_prediction": lambda t, p: float(np.mean(p)),
                    "mean_actual": lambda t, p: float(np.mean(t)), "mean_error": lambda t, p: float(np.mean(p - t))}
    else:
        metrics["accuracy"] = accuracy_score
        for k, label in enumerate(classes or []):
            metrics[f"selection_rate[{label}]"] = lambda t, p, k=k: selection_rate(t, p, pos_label=k)
    frame = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups.to_numpy())
    table = frame.by_group.reset_index().rename(columns={"sensitive_feature_0": "group"})
    table["count"] = table["count"].astype(int)
    table["evidence"] = np.where(table["count"] >= min_group_size, "sufficient", INSUFFICIENT)
    return table


def judged_classes(table: pd.DataFrame, classes: list[Any], min_predicted: int) -> list[Any]:
    """Classes predicted at least ``min_predicted`` times in every judged group (their selection rates are compared)."""
    ok = table[table["evidence"] == "sufficient"]
    return [c for c in classes if (ok[f"selection_rate[{c}]"] * ok["count"]).round().min() >= min_predicted] if len(ok) else []


def task_figures(task: str, means: dict[str, np.ndarray], sufficient: np.ndarray, scale: float,
                 judged: list[Any]) -> dict[str, np.ndarray]:
    """The task's summary figures from group means of shape (draws, groups), over the judged groups only."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pick = lambda key: means[key][:, sufficient]  # noqa: E731
        if task == "regression":
            mae = pick("mae")
            gap = np.nanmax(pick("mean_error"), axis=1) - np.nanmin(pick("mean_error"), axis=1)
            return {"mae_ratio": np.nanmax(mae, axis=1) / np.nanmin(mae, axis=1), "mean_error_gap": gap / scale}
        accuracy = pick("accuracy")
        figures = {"accuracy_difference": np.nanmax(accuracy, axis=1) - np.nanmin(accuracy, axis=1)}
        ratios = [np.where(np.nanmax(r := pick(f"selection_rate[{c}]"), axis=1) > 0,
                           np.nanmin(r, axis=1) / np.nanmax(r, axis=1), 1.0) for c in judged]
        figures["selection_rate_ratio"] = np.nanmin(np.stack(ratios), axis=0) if ratios else np.full(len(accuracy), np.nan)
        return figures


def bootstrap_group_means(values: dict[str, np.ndarray], codes: np.ndarray, n_groups: int, n_boot: int, seed: int,
                          max_cells: int = 4_000_000) -> dict[str, np.ndarray]:
    """Mean of each per-row quantity per bootstrap draw and group, shape (n_boot, n_groups); chunked to bound memory."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    names = list(values)
    stacked = np.stack([np.ones(n), *(np.asarray(values[k], dtype=float) for k in names)])
    chunk = max(1, max_cells // max(n, 1))
    parts: list[np.ndarray] = []
    for start in range(0, n_boot, chunk):  # loop over chunks of draws, never over rows
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        key = (np.arange(b)[:, None] * n_groups + codes[idx]).ravel()
        parts.append(np.stack([np.bincount(key, weights=w[idx].ravel(), minlength=b * n_groups) for w in stacked])
                     .reshape(len(stacked), b, n_groups))
    sums = np.concatenate(parts, axis=1) if parts else np.zeros((len(stacked), 0, n_groups))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {k: sums[i + 1] / sums[0] for i, k in enumerate(names)}


FIGURE_RULES = {
    "mae_ratio": ("max", "mae_ratio_max", "MAE ratio (worst / best group)"),
    "mean_error_gap": ("max", "mean_error_gap_max", "gap in mean error (prediction - actual) between groups, share of overall MAE"),
    "accuracy_difference": ("max", "accuracy_difference_max", "accuracy difference between groups"),
    "selection_rate_ratio": ("min", "demographic_parity_ratio_min", "lowest per-class selection-rate ratio (four-fifths rule)"),
}


def task_limits(task: str, thresholds: FairnessThresholds) -> dict[str, float]:
    """The limit of each summary figure: content thresholds, the four-fifths minimum from the resolved thresholds."""
    rules = task_rules(task)
    limits = {k: float(v) for k, v in rules.items() if k.endswith(("_max", "_min"))}
    return limits | {"demographic_parity_ratio_min": thresholds.demographic_parity_ratio_min}


def judge(point: dict[str, float], limits: dict[str, float]) -> list[str]:
    """The failures: each summary figure beyond its limit, stated with the rule."""
    failures = []
    for name, value in point.items():
        side, key, what = FIGURE_RULES[name]
        if not np.isfinite(value):
            continue
        if (side == "max" and value > limits[key]) or (side == "min" and value < limits[key]):
            failures.append(f"{what} {value:.2f} is {'above' if side == 'max' else 'below'} {limits[key]:.2f}")
    return failures


def assess_task_column(task: str, column: str, values: pd.Series, y_true: np.ndarray, y_pred: np.ndarray,
                       classes: list[Any] | None, settings: FairnessSettings, seed: int) -> dict[str, Any]:
    """Fairness of one sensitive column for a regression or multiclass model: group table with intervals, figures, status."""
    thresholds = resolve_thresholds(settings)
    codes, groups = sensitive_groups(column, values, settings)
    table = task_group_metrics(task, y_true, y_pred, groups, classes, thresholds.min_group_size)
    table.insert(1, "code", table["group"].map(dict(zip(groups, codes))))
    rows = row_values(task, y_true, y_pred, classes)
    sufficient = (table["evidence"] == "sufficient").to_numpy()
    judged = judged_classes(table, list(classes or []), int(task_rules("multiclass")["min_predicted"])) if task == "multiclass" else []
    scale = float(np.mean(rows["mae"])) if task == "regression" else 1.0
    limits = task_limits(task, thresholds)
    point_means = {k: table[k].to_numpy(dtype=float)[None, :] for k in rows}
    point = {k: float(v[0]) for k, v in task_figures(task, point_means, sufficient, scale, judged).items()} \
        if sufficient.sum() >= 2 else {k: float("nan") for k in _figure_names(task)}
    ci: dict[str, list[float | None]] = {k: [None, None] for k in point}
    if settings.bootstrap > 0:
        group_codes = pd.Categorical(groups, categories=table["group"]).codes
        draws = bootstrap_group_means(rows, group_codes, len(table), settings.bootstrap, seed)
        for key in ("mae", "mean_prediction") if task == "regression" else ("accuracy",):
            bounds = np.array([interval(draws[key][:, g], settings.confidence) for g in range(len(table))], dtype=object)
            table[f"{key}_low"], table[f"{key}_high"] = bounds[:, 0], bounds[:, 1]
        if sufficient.sum() >= 2:
            ci = {k: interval(v, settings.confidence) for k, v in task_figures(task, draws, sufficient, scale, judged).items()}
    if sufficient.sum() < 2:
        status, failures = INSUFFICIENT, [f"fewer than two groups have at least {thresholds.min_group_size} rows"]
    else:
        failures = judge(point, limits)
        status = FAILED if failures else PASSED
    failures += [f"group {g.group!r} ({g.count} rows): insufficient evidence, left out of the figures "
                 f"(needs {thresholds.min_group_size} rows)" for g in table[~sufficient].itertuples()]
    if task == "multiclass":
        rare = [c for c in classes or [] if c not in judged]
        if rare and sufficient.sum() >= 2:
            failures.append(f"class(es) {', '.join(map(str, rare))}: predicted fewer than "
                            f"{task_rules('multiclass')['min_predicted']} times in some group, selection rates not compared")
    return {
        "column": column, "task": task, "groups": table, "figures": point, "figures_ci": ci,
        "limits": {name: limits[FIGURE_RULES[name][1]] for name in point}, "judged_classes": judged,
        "thresholds": thresholds, "status": status, "passed": status == PASSED, "findings": failures,
    }


def _figure_names(task: str) -> tuple[str, ...]:
    """Names of the task's summary figures."""
    return ("mae_ratio", "mean_error_gap") if task == "regression" else ("accuracy_difference", "selection_rate_ratio")
