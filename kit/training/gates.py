"""Promotion gates: pure decisions on whether the selected candidate may become the champion.

Each gate returns ``{"passed": bool, "reason": str}``. Phase 2 evaluates the training gates and
registers a candidate; the one promotion decision (with the tier, fairness and sign-off gates)
is taken at the end of phase 3 by :mod:`kit.promotion`.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from kit import content
from kit.tasks import canonical_metric, higher_is_better, task_metrics

Gate = dict[str, Any]


def _gate(passed: bool, reason: str) -> Gate:
    """One gate result."""
    return {"passed": bool(passed), "reason": reason}


STRUCTURAL = ("missing column", "dtype")


def contract_gate(passed: bool, failures: list[dict[str, Any]] | None = None, rows: int = 1, tolerance: float = 0.0) -> Gate:
    """Held-out rows satisfy the contract: no missing column or wrong type, and each column's
    value violations (new category, out of range, missing values) on at most ``tolerance`` of the rows."""
    if passed:
        return _gate(True, "test rows satisfy the data contract")
    failures = failures or []
    shown = "; ".join(f"{f['column']}: {f['kind']} ({f['count']})" for f in failures[:5])
    blocking = [f for f in failures if f["kind"] in STRUCTURAL or f["count"] / max(rows, 1) > tolerance]
    if blocking:
        return _gate(False, f"contract violations on test rows beyond tolerance {tolerance:g}: {shown}")
    return _gate(True, f"test rows satisfy the contract within tolerance {tolerance:g} ({shown})")


def _lift(model: float, other: float, metric: str) -> float:
    """How much better ``model`` is than ``other`` on ``metric`` (positive = better, either direction)."""
    return model - other if higher_is_better(metric) else other - model


def baseline_gate(model_value: float, baseline_value: float, baseline: str, margin: float, metric: str = "roc_auc") -> Gate:
    """The selection metric on test beats the best baseline by more than ``margin`` (in the better direction)."""
    lift = _lift(model_value, baseline_value, metric)
    ok = lift > margin
    word = "beats" if ok else "does not beat"
    return _gate(ok, f"test {metric} {model_value:.4f} {word} {baseline} {baseline_value:.4f} by more than {margin:g} "
                     f"(improvement {lift:+.4f})")


def best_baseline(values: pd.Series, metric: str) -> tuple[str, float]:
    """(name, value) of the best baseline on ``metric``: highest, or lowest for loss metrics."""
    name = values.idxmax() if higher_is_better(metric) else values.idxmin()
    return str(name), float(values[name])


def regression_gate(model_value: float, champion_value: float | None, champion_version: str | None, tolerance: float,
                    metric: str = "roc_auc", not_comparable: str | None = None) -> Gate:
    """No regression: the selection metric at most ``tolerance`` worse than the champion's on the same rows.

    ``not_comparable`` (why the champion cannot be compared: other target or features) applies the
    content rule ``promotion.not_comparable``: fail (keep the champion) or pass with the note.
    """
    if not_comparable:
        rule = content.load("training")["promotion"]["not_comparable"]
        suffix = ("; the current champion stays (rule: not comparable fails); give this model its own training.model_name"
                  if rule == "fail" else "; no regression check is possible (rule: not comparable passes)")
        return _gate(rule == "pass", f"not comparable: champion v{champion_version} was trained on {not_comparable}{suffix}")
    if champion_value is None:
        why = "no current champion" if champion_version is None else f"champion v{champion_version} cannot score these rows"
        return _gate(True, f"{why}; nothing to regress against")
    drop = -_lift(model_value, champion_value, metric)
    ok = drop <= tolerance
    return _gate(ok, f"test {metric} {model_value:.4f} vs champion v{champion_version} {champion_value:.4f} on the same rows "
                     f"({'better' if drop <= 0 else 'worse'} by {abs(drop):.4f}; it may be at most {tolerance:g} worse)")


def test_evidence_gate(y_test: Any, min_rows: int, min_class: int, task: str = "binary",
                       classes: list[Any] | None = None) -> Gate:
    """Enough test rows, and of each class (binary, multiclass), for the test metrics to carry a decision."""
    if task == "regression":
        rows = len(y_test)
        return _gate(rows >= min_rows, f"{rows} test rows; promotion needs at least {min_rows} (regression: no classes to count)")
    if task == "multiclass":
        return _class_evidence(pd.Series(y_test).astype(int), min_rows, min_class, list(classes or []))
    labels = pd.Series(y_test).astype(int)
    rows, positives = len(labels), int(labels.sum())
    negatives = rows - positives
    ok = rows >= min_rows and min(positives, negatives) >= min_class
    return _gate(ok, f"{rows} test rows ({positives} positive, {negatives} negative); promotion needs at least "
                     f"{min_rows} rows and {min_class} of each class")


test_evidence_gate.__test__ = False  # not a pytest test despite its name


def _class_evidence(labels: pd.Series, min_rows: int, min_class: int, classes: list[Any]) -> Gate:
    """Multiclass test evidence: enough rows, and at least ``min_class`` of every class (named when short)."""
    counts = labels.value_counts().reindex(range(len(classes)), fill_value=0)
    short = {str(classes[i]): int(n) for i, n in counts.items() if n < min_class}
    ok = len(labels) >= min_rows and not short
    detail = (f"too few of class(es) {', '.join(f'{k!r} ({v})' for k, v in short.items())}: their recall is a guess; "
              "collect more labelled rows of these classes or merge rare ones" if short else f"every class has at least {min_class}")
    return _gate(ok, f"{len(labels)} test rows of {len(classes)} classes; promotion needs at least {min_rows} rows and "
                     f"{min_class} of each class; {detail}")


def kpi_gate(kpi: dict[str, Any] | None, metrics: dict[str, float]) -> Gate | None:
    """The pilot's KPI threshold, when the KPI is a model metric (None otherwise)."""
    if not kpi:
        return None
    name, threshold = kpi["metric"], float(kpi["threshold"])
    if name not in metrics:
        known = sorted(m for m in metrics if m in content.load("training")["metrics"])
        return _gate(False, f"pilot KPI {name} is not a metric of this task (its metrics: {known}); set the portfolio's "
                            "kpi_metric to one of them")
    value = metrics[name]
    ok = value >= threshold if higher_is_better(name) else value <= threshold
    sign = ">=" if higher_is_better(name) else "<="
    return _gate(ok, f"pilot KPI {name} {value:.4f} on test, needs {sign} {threshold:g}")


def pilot_kpi(pilot: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pilot's KPI as {metric, threshold} when it names a model metric with a threshold, else None."""
    kpi = (pilot or {}).get("kpi") or {}
    if not isinstance(kpi, dict):
        return None
    metric = kpi.get("metric") or kpi.get("kpi_metric") or kpi.get("model_metric")
    threshold = next((kpi[k] for k in ("threshold", "kpi_threshold", "min", "target") if kpi.get(k) is not None), None)
    if not metric or threshold is None:
        return None
    try:
        name = canonical_metric(metric)
    except Exception:  # a business KPI (revenue, churn rate...) is not a model gate
        return None
    model_metrics = {canonical_metric(m) for task in ("binary", "multiclass", "regression") for m in task_metrics(task)}
    return {"metric": name, "threshold": float(threshold)} if name in model_metrics else None


def approval_required(setting: bool | None, stakes: str | None) -> bool:
    """Sign-off needed: the explicit setting, else by stakes (content: high stakes need it)."""
    if setting is not None:
        return setting
    return (stakes or "").lower() in content.load("training")["approval_required_for_stakes"]


def all_passed(gates: dict[str, Gate]) -> bool:
    """True when every gate passed."""
    return all(g["passed"] for g in gates.values())


def failed(gates: dict[str, Gate]) -> list[str]:
    """Names of the gates that failed."""
    return [name for name, g in gates.items() if not g["passed"]]


def gate_table(gates: dict[str, Gate]) -> pd.DataFrame:
    """Gates as a small table: name, passed, reason, and what the user can do about a failed one."""
    from kit.promotion import gate_table as promotion_table

    return promotion_table(gates)
