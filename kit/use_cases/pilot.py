"""Choosing the pilot: the rule for the maturity level, a config override, and what training needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kit.errors import DataError, did_you_mean
from kit.schema import DatasetSpec
from kit.use_cases.tasks import dataset_for_task, task_for, trainable_mask


@dataclass
class Pilot:
    """The chosen pilot, the recommended one, why, and its artifact record."""

    name: str
    recommended: str
    reason: str
    record: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def eligible(ranking: pd.DataFrame, sponsor: pd.Series, maturity_level: int, rules: dict[str, Any],
             trainable: pd.Series | None = None) -> pd.Series:
    """Which use cases may be the pilot: ones the kit can train and, at low maturity, only quick wins with a sponsor."""
    can = pd.Series(True, index=ranking.index) if trainable is None else trainable
    if maturity_level <= rules["pilot"]["quick_win_only_up_to_level"]:
        return (ranking["quadrant"] == rules["quadrants"]["names"]["high_value_high_feasibility"]) & sponsor & can
    return can


def recommend(ranking: pd.DataFrame, allowed: pd.Series) -> str | None:
    """The best-ranked allowed use case, or None when none is allowed."""
    pool = ranking[allowed]
    return None if pool.empty else str(pool.sort_values("rank")["name"].iloc[0])


def explainability_tier(stakes: str, rules: dict[str, Any]) -> dict[str, Any]:
    """The explainability tier a level of stakes requires (FRAMEWORK phase 3)."""
    spec = rules["stakes"][stakes]
    return {"tier": spec["tier"], "requires": spec["requires"]}


def dataset_record(spec: DatasetSpec | None, name: str) -> dict[str, Any] | None:
    """The pilot's dataset spec as JSON (absolute path); its file and columns must exist."""
    if spec is None:
        return None
    from kit.data import read_columns

    try:
        columns = read_columns(spec.path, spec.read_options)
    except DataError as exc:
        raise DataError(f"pilot {name!r}: dataset_path: {exc}; fix the path in the portfolio or pick another pilot") from None
    missing = [
        f"dataset_{key} {col!r}{did_you_mean(col, columns)}"
        for key, cols in spec.named_columns().items() for col in cols if col not in columns
    ]
    if missing:
        raise DataError(f"pilot {name!r}: column(s) not in {spec.path.name}: {'; '.join(missing)}; fix the portfolio's dataset_* cells")
    return spec.model_dump(mode="json", exclude_none=False)


def kpi_record(row: pd.Series) -> dict[str, Any]:
    """KPI with baseline and target, and the model metric (and its threshold) it is tied to, if any."""
    threshold = row["kpi_threshold"]
    return {
        "name": row["kpi_name"],
        "baseline": float(row["kpi_baseline"]),
        "target": float(row["kpi_target"]),
        "metric": row["kpi_metric"] or None,
        "threshold": None if pd.isna(threshold) else float(threshold),
    }


def costs_record(row: pd.Series) -> dict[str, float] | None:
    """Cost of a false positive and of a false negative, or None when the portfolio gives none."""
    fp, fn = row["cost_false_positive"], row["cost_false_negative"]
    if pd.isna(fp) or pd.isna(fn):
        return None
    return {"false_positive": float(fp), "false_negative": float(fn)}


def pilot_record(name: str, frame: pd.DataFrame, ranking: pd.DataFrame, datasets: dict[str, DatasetSpec], rules: dict[str, Any]) -> dict[str, Any]:
    """Everything later phases read about the pilot (names are a contract: see CONTRIBUTING.md)."""
    row = frame.set_index("name").loc[name]
    ranked = ranking.set_index("name").loc[name]
    tier = explainability_tier(row["stakes"], rules)
    task = task_for(row["problem_type"], rules)
    return {
        "name": name,
        "business_unit": row["business_unit"],
        "problem_type": row["problem_type"],
        "kpi": kpi_record(row),
        "stakes": row["stakes"],
        "explainability_tier": tier["tier"],
        "explainability_requires": tier["requires"],
        "task": task.task,
        "task_reason": task.why,
        "time_ordered": task.time_ordered,
        "dataset": dataset_for_task(dataset_record(datasets.get(name), name), task, name),
        "costs": costs_record(row),
        "quadrant": ranked["quadrant"],
        "rank": int(ranked["rank"]),
        "payback_months": ranked["payback_months"],
        "npv_3y": ranked["npv_3y"],
        "risk_adjusted_value": ranked["risk_adjusted_value"],
    }


def choose_pilot(
    frame: pd.DataFrame,
    ranking: pd.DataFrame,
    datasets: dict[str, DatasetSpec],
    maturity_level: int,
    rules: dict[str, Any],
    override: str | None = None,
    override_reason: str | None = None,
) -> Pilot:
    """Recommend a pilot by the rule for the maturity level; honour a config override with a warning when it costs much."""
    sponsor = frame.set_index("name")["executive_sponsor"].reindex(ranking["name"]).set_axis(ranking.index)
    trainable = trainable_mask(ranking, frame)
    if not trainable.any():
        raise DataError("no use case in the portfolio is a kind the kit can train (all are recommendation, text or "
                        "similar); add a tabular use case (binary, multiclass or regression) to pilot")
    allowed = eligible(ranking, sponsor, maturity_level, rules, trainable)
    warnings: list[str] = []
    best = recommend(ranking, allowed)
    rule_text = (
        f"at maturity level {maturity_level} the pilot must be a quick win with an executive sponsor"
        if maturity_level <= rules["pilot"]["quick_win_only_up_to_level"] else "the highest-priority use case"
    )
    if best is None:
        best = str(ranking[trainable].sort_values("rank")["name"].iloc[0])
        warnings.append(f"no use case meets the pilot rule ({rule_text}); falling back to the top-ranked {best!r}: find a sponsor or simplify the scope first")
    reason = f"recommended: {rule_text}; {best!r} is the best-ranked that qualifies"
    chosen = best
    if override is not None and override != best:
        if override not in set(ranking["name"]):
            raise DataError(f"use_cases.pilot: {override!r} is not in the portfolio{did_you_mean(override, ranking['name'])}; name one of its use cases")
        if not bool(trainable[ranking["name"] == override].iloc[0]):
            kind = frame.set_index("name").loc[override, "problem_type"]
            raise DataError(f"use_cases.pilot: {override!r} is a {kind!r} use case, which the kit cannot train "
                            f"({task_for(kind, rules).why}); name a tabular use case, e.g. the recommended {best!r}")
        chosen = override
        by_name = ranking.set_index("name")
        gap = by_name.loc[best, "priority"] - by_name.loc[override, "priority"]
        why = f" ({override_reason})" if override_reason else ""
        reason = f"set by the config{why}; the rule recommends {best!r}"
        if gap > rules["pilot"]["override_gap"] or not bool(allowed[ranking["name"] == override].iloc[0]):
            warnings.append(
                f"the config's pilot {override!r} overrides a much better candidate {best!r} "
                f"(priority {by_name.loc[override, 'priority']:.2f} vs {by_name.loc[best, 'priority']:.2f}"
                f"{'' if bool(allowed[ranking['name'] == override].iloc[0]) else '; it does not meet the pilot rule'})"
            )
    record = pilot_record(chosen, frame, ranking, datasets, rules)
    target = rules["roi"]["target_payback_months"]
    if record["payback_months"] > target:
        warnings.append(f"pilot payback of {record['payback_months']:.1f} months is beyond the {target}-month expectation for a single use case")
    return Pilot(name=chosen, recommended=best, reason=reason, record=record, warnings=warnings)

