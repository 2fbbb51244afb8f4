"""Alert rules from the config, applied to each batch's drift, quality and performance: the alert log.

Performance rules fire only when the whole bootstrap interval is below the line (the batch is
confidently worse, not just noisy); the point estimate is the logged value. Drift rules use
effect sizes (PSI), never p-values, as large batches make every test significant.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from kit.monitoring.config import AlertSettings

COLUMNS = ["batch", "rule", "feature", "value", "threshold", "severity", "message"]


def alert(batch: str, rule: str, feature: str | None, value: float, threshold: float, severity: str, message: str) -> dict[str, object]:
    """One alert log entry."""
    return dict(zip(COLUMNS, (batch, rule, feature, value, threshold, severity, message)))


def psi_level(value: float, settings: AlertSettings) -> str:
    """'stable', 'moderate' or 'significant' for a PSI value."""
    if value >= settings.psi_significant:
        return "significant"
    return "moderate" if value >= settings.psi_moderate else "stable"


def performance_thresholds(champion: dict[str, float], settings: AlertSettings) -> dict[str, float]:
    """The recall floor and AUC line a batch is held to, from the champion's test figures."""
    recall = settings.recall_floor * champion.get("recall", 1.0) if settings.recall_floor_basis == "champion" else settings.recall_floor
    return {"recall": float(recall), "roc_auc": float(champion.get("roc_auc", float("nan")) * (1 - settings.auc_relative_drop))}


# Regression and multiclass rules: (rule, metric, relative setting, whether higher is better, message).
TASK_RULES = {
    "regression": (("rmse_rise", "rmse", "rmse_relative_rise", False, "RMSE rose more than allowed"),
                   ("mae_rise", "mae", "mae_relative_rise", False, "MAE rose more than allowed")),
    "multiclass": (("accuracy_drop", "accuracy", "accuracy_relative_drop", True, "accuracy dropped more than allowed"),
                   ("macro_f1_drop", "macro_f1", "macro_f1_relative_drop", True, "macro F1 dropped more than allowed")),
}


def task_thresholds(task: str, champion: dict[str, float], settings: AlertSettings) -> dict[str, float]:
    """The lines a batch is held to for the task's metrics: the watched model's test figure moved by the allowed share
    (binary: recall floor and AUC line as before)."""
    if task not in TASK_RULES:
        return performance_thresholds(champion, settings)
    return {metric: float(champion.get(metric, float("nan")) * (1 - getattr(settings, key) if higher else 1 + getattr(settings, key)))
            for _, metric, key, higher, _ in TASK_RULES[task]}


def task_performance_alerts(batch: str, measured: dict[str, float] | None, thresholds: dict[str, float],
                            settings: AlertSettings, task: str = "binary") -> list[dict[str, object]]:
    """The task's performance rules, each firing only when the whole bootstrap interval is on the wrong side of its
    line (binary: recall floor and AUC drop as before)."""
    if task not in TASK_RULES:
        return performance_alerts(batch, measured, thresholds, settings)
    if not measured:
        return []
    out = []
    for rule, metric, _, higher, message in TASK_RULES[task]:  # two rules per task
        line, bound = thresholds.get(metric, float("nan")), measured.get(f"{metric}_high" if higher else f"{metric}_low")
        if bound is None or not bound == bound or not line == line or (bound >= line if higher else bound <= line):
            continue
        side = f"interval up to {bound:.4g}) < {line:.4g}" if higher else f"interval from {bound:.4g}) > {line:.4g}"
        out.append(alert(batch, rule, None, measured[metric], line, settings.severities.get(rule, "critical"),
                         f"{message}: {measured[metric]:.4g} ({side}"))
    return out


def drift_alerts(batch: str, drift: pd.DataFrame, key_features: Sequence[str], settings: AlertSettings,
                 exempt: Sequence[str] = ()) -> list[dict[str, object]]:
    """PSI at or above the significant level on a key feature (moderate ones logged as info); ``exempt``
    features (calendar parts of the time column, which drift by construction) are reported, never alerted."""
    if drift.empty:
        return []
    watched = [f for f in key_features if f not in set(exempt)]
    key = drift[drift.index.isin(watched) & (drift["psi"] >= settings.psi_moderate)]
    severity = settings.severities.get("psi_top_k", "warning")
    return [
        alert(batch, "psi_top_k", feature, float(value),
              settings.psi_significant if value >= settings.psi_significant else settings.psi_moderate,
              severity if value >= settings.psi_significant else "info",
              f"{feature}: PSI {value:.3f} ({psi_level(value, settings)} shift) on a key feature")
        for feature, value in key["psi"].items()
    ]


def quality_alerts(batch: str, issues: list[dict[str, object]], settings: AlertSettings) -> list[dict[str, object]]:
    """Every data-quality finding of the batch as an alert (severity by check: broken data is critical)."""
    default = settings.severities.get("data_quality", "critical")
    return [alert(batch, "data_quality", i["feature"], i["value"], i["threshold"],
                  settings.quality_severities.get(i["check"], default), f"{i['check']}: {i['detail']}") for i in issues]


def performance_alerts(batch: str, measured: dict[str, float] | None, thresholds: dict[str, float], settings: AlertSettings) -> list[dict[str, object]]:
    """Recall below the floor and AUC below the allowed drop, judged on the interval's upper end."""
    if not measured:
        return []
    rules = (("recall_floor", "recall", "recall below the floor"), ("auc_drop", "roc_auc", "AUC dropped more than allowed"))
    return [
        alert(batch, rule, None, measured[metric], thresholds[metric], settings.severities.get(rule, "critical"),
              f"{message}: {measured[metric]:.3f} (interval up to {measured[f'{metric}_high']:.3f}) < {thresholds[metric]:.3f}")
        for rule, metric, message in rules
        if measured.get(f"{metric}_high") is not None and measured[f"{metric}_high"] < thresholds[metric]
    ]


def prediction_alerts(batch: str, score_drift: dict[str, float] | None, settings: AlertSettings) -> list[dict[str, object]]:
    """The score distribution moved (PSI of the scores at or above the prediction level)."""
    if not score_drift or not score_drift.get("psi", 0) >= settings.prediction_psi:
        return []
    value = score_drift["psi"]
    if "mean_prediction" in score_drift:
        what = (f"prediction distribution PSI {value:.3f}; mean prediction {score_drift['mean_prediction']:.4g} vs "
                f"{score_drift['reference_mean_prediction']:.4g}")
    elif "shares" in score_drift:
        what = f"predicted class mix PSI {value:.3f} (chi-square p {score_drift['p_value']:.2g})"
    else:
        what = f"score distribution PSI {value:.3f}; mean score {score_drift['mean_score']:.3f} vs {score_drift['reference_mean_score']:.3f}"
    return [alert(batch, "prediction_drift", None, value, settings.prediction_psi, settings.severities.get("prediction_drift", "warning"), what)]


def latency_alerts(latency: dict[str, float], settings: AlertSettings) -> list[dict[str, object]]:
    """p99 scoring time per 1,000 rows over the budget."""
    if not latency or latency["p99_ms"] <= latency["budget_ms"]:
        return []
    return [alert("scoring", "latency", None, latency["p99_ms"], latency["budget_ms"], settings.severities.get("latency", "warning"),
                  f"p99 {latency['p99_ms']:.1f} ms per 1,000 rows over the {latency['budget_ms']:.0f} ms budget")]


def alert_log(alerts: list[dict[str, object]]) -> pd.DataFrame:
    """The alert log as a frame (batch, rule, feature, value, threshold, severity, message)."""
    return pd.DataFrame(alerts, columns=COLUMNS)


def counted(log: pd.DataFrame) -> pd.DataFrame:
    """Alerts that count (warning and critical; info entries are context)."""
    return log[log["severity"] != "info"]
