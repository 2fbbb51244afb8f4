"""Which learning task a use case is (from its problem_type), and whether the kit can train it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from kit.use_cases.portfolio import rules

NOT_TRAINABLE = "none"


@dataclass(frozen=True)
class UseCaseTask:
    """A problem type's task (binary, multiclass, regression, auto or none), its split and why."""

    task: str
    time_ordered: bool
    why: str

    @property
    def trainable(self) -> bool:
        """Whether the kit can train a model for it (it may become the pilot)."""
        return self.task != NOT_TRAINABLE


def task_for(problem_type: str, framework: dict[str, Any] | None = None) -> UseCaseTask:
    """The task of a free-text problem type: the first rule whose keyword occurs in it, else the default."""
    framework = framework or rules()
    text = str(problem_type).strip().lower()
    for rule in framework["task_rules"]:
        if any(word in text for word in rule["match"]):
            return UseCaseTask(str(rule["task"]), bool(rule.get("time_ordered", False)), str(rule["why"]))
    default = framework["task_default"]
    return UseCaseTask(str(default["task"]), False, str(default["why"]))


def task_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per use case: its problem type, task, whether trainable and time-ordered, and why."""
    framework = rules()
    found = frame["problem_type"].map(lambda p: task_for(p, framework))  # one call per use case, not per data row
    return pd.DataFrame({
        "name": frame["name"].to_numpy(),
        "problem_type": frame["problem_type"].to_numpy(),
        "task": [t.task for t in found],
        "trainable": [t.trainable for t in found],
        "time_ordered": [t.time_ordered for t in found],
        "why": [t.why for t in found],
    })


def trainable_mask(ranking: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    """For each ranking row, whether the kit can train that use case (aligned on the ranking's index)."""
    table = task_table(frame).set_index("name")["trainable"]
    return ranking["name"].map(table).fillna(True).astype(bool)


def kpi_metric_problem(problem_type: str, metric: str | None) -> str | None:
    """Why a KPI's model metric does not fit the use case's task (None when it fits or cannot be told)."""
    from kit.tasks import TASK_METRICS, canonical_metric

    task = task_for(problem_type)
    if not metric or task.task not in TASK_METRICS:
        return None
    allowed = {canonical_metric(m) for m in TASK_METRICS[task.task]}
    if canonical_metric(metric) in allowed:
        return None
    return (f"kpi_metric = {metric!r} is not a {task.task} metric, and {problem_type!r} is a {task.task} use case; "
            f"use one of {', '.join(TASK_METRICS[task.task])} or leave it empty")


def dataset_for_task(record: dict[str, Any] | None, task: UseCaseTask, name: str) -> dict[str, Any] | None:
    """The pilot's dataset record with the use case's task and, when time-ordered, calendar features."""
    from kit.errors import DataError

    if record is None or not task.trainable:
        return record
    out = dict(record)
    if out.get("task", "auto") == "auto" and task.task != "auto":
        out["task"] = task.task
    if task.time_ordered:
        if not out.get("time_column") and not out.get("rows_in_time_order"):
            raise DataError(
                f"pilot {name!r}: a {task.task} use case of this kind trains on a time-ordered split, but its dataset "
                "names no time column; add dataset_time_column to its portfolio row (or pick another pilot)"
            )
        if out.get("time_column") and out.get("calendar") is None:
            out["calendar"] = "auto"
    return out
