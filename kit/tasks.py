"""The learning task of a run (binary, multiclass, regression): the stated rule that decides it, and its metrics.

Every phase asks this module, not the data, which task it is working on: the rule's numbers
live in ``kit/content/training.yaml`` (``task_rule``), the metric directions in ``metrics``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit import content
from kit.errors import ConfigError

TASKS = ("binary", "multiclass", "regression")
HEADLINE = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}
TASK_METRICS = {
    "binary": ("roc_auc", "average_precision", "f1", "precision", "recall", "accuracy", "log_loss", "brier"),
    "multiclass": ("accuracy", "balanced_accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2", "mape"),
}


@dataclass(frozen=True)
class TaskDecision:
    """The task a run trains for and the sentence saying why (shown in the report)."""

    task: str
    reason: str


def _rule() -> dict:
    """The auto rule's numbers from kit/content/training.yaml."""
    return content.load("training")["task_rule"]


def resolve_task(labels: pd.Series, configured: str = "auto") -> TaskDecision:
    """The task for a target column: the configured one, or the stated auto rule applied to its values."""
    name = labels.name
    if configured not in ("auto", *TASKS):
        raise ConfigError(f"dataset.task: {configured!r} is not a task; use auto or one of {list(TASKS)}")
    present = labels.dropna()
    distinct = int(present.nunique())
    if distinct < 2:
        from kit.errors import DataError

        shown = sorted(map(str, present.unique().tolist()))
        raise DataError(f"target {name!r} has {distinct} distinct value(s) {shown}: there is nothing to learn; "
                        "set dataset.target to the column to predict, or add rows with other values")
    if configured != "auto":
        return TaskDecision(configured, f"dataset.task: {configured} (set in the config; target {name!r} has {distinct} distinct values)")
    rule = _rule()
    if distinct == rule["binary_values"]:
        return TaskDecision("binary", f"auto: target {name!r} has two distinct values, so binary")
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if not numeric:
        return TaskDecision("multiclass", f"auto: target {name!r} is not numeric ({distinct} distinct labels), so multiclass; "
                                          "set dataset.task if this is wrong")
    values = present.to_numpy(dtype="float64")
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    most = rule["max_classes"]
    if whole and distinct <= most:
        return TaskDecision("multiclass", f"auto: {distinct} distinct whole-number values <= {most}, so multiclass; "
                                          "set dataset.task: regression if these are amounts")
    why = "not all whole numbers" if not whole else f"{distinct} distinct numeric values > {most}"
    return TaskDecision("regression", f"auto: {why}, so regression; set dataset.task: multiclass if these are labels")


def headline_metric(task: str) -> str:
    """The metric that selects and gates models of a task (binary roc_auc, multiclass macro_f1, regression rmse)."""
    if task not in HEADLINE:
        raise ConfigError(f"task {task!r} is unknown; use one of {list(TASKS)}")
    return HEADLINE[task]


def canonical_metric(name: str) -> str:
    """A metric name as the kit stores it (aliases such as ``auc`` resolved); unknown names are errors."""
    from kit.errors import DataError, did_you_mean

    key = str(name).strip().lower()
    key = content.load("training")["metric_aliases"].get(key, key)
    known = content.load("training")["metrics"]
    if key not in known:
        raise DataError(f"metric {name!r} is unknown{did_you_mean(key, known)}; use one of {sorted(known)}")
    return key


def higher_is_better(metric: str) -> bool:
    """Whether larger values of a metric (of any task) are better."""
    return bool(content.load("training")["metrics"][canonical_metric(metric)]["higher_is_better"])


def task_metrics(task: str) -> tuple[str, ...]:
    """The metric names a task reports (the KPI and selection metrics it accepts)."""
    headline_metric(task)
    return TASK_METRICS[task]


def selection_metric(settings: object, task: str) -> str:
    """The metric that selects and gates models: ``training.selection_metric`` when set (it must suit the task), else the task's headline."""
    if "selection_metric" not in getattr(settings, "model_fields_set", set()):
        return headline_metric(task)
    chosen = canonical_metric(settings.selection_metric)
    allowed = {canonical_metric(m) for m in task_metrics(task)}
    if chosen not in allowed:
        raise ConfigError(
            f"training.selection_metric: {settings.selection_metric!r} is not a {task} metric; use one of "
            f"{sorted(allowed)}, or remove it to use {headline_metric(task)}"
        )
    return chosen
