"""Pure scoring: criterion scores, value and feasibility, readiness gating, quadrants, priority."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Readiness:
    """What the readiness phase tells this one: maturity level, blockers, and where it came from."""

    maturity_level: int
    blockers: list[dict[str, Any]] = field(default_factory=list)
    pillars: dict[str, float] = field(default_factory=dict)
    source: str = "readiness artifact"


def transform(values: pd.Series, spec: dict[str, Any]) -> pd.Series:
    """Map one portfolio column to a 1-5 score as the criterion's spec says."""
    kind = spec["transform"]
    if kind == "score":
        return values.astype(float)
    if kind == "inverse":
        return 6.0 - values.astype(float)
    if kind == "map":
        lookup = {str(k).lower(): float(v) for k, v in spec["map"].items()}
        keys = values.map({True: "yes", False: "no"}) if values.dtype == bool else values.astype(str).str.lower()
        return keys.map(lookup).astype(float)
    x = values.astype(float)
    low, high = float(spec["low"]), float(spec["high"])
    if kind == "log":
        x, low, high = np.log10(np.maximum(x, 1.0)), np.log10(low), np.log10(high)
    return 1.0 + 4.0 * ((x - low) / (high - low)).clip(0.0, 1.0)


def criterion_frame(frame: pd.DataFrame, criteria: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One column per criterion (1-5), one row per use case; adds the derived return multiple."""
    source = frame.assign(return_multiple=return_multiple(frame))
    return pd.DataFrame(
        {name: transform(source[spec["column"]], spec) for name, spec in criteria.items()}, index=frame.index
    )


def return_multiple(frame: pd.DataFrame) -> pd.Series:
    """Yearly net benefit per build dollar: (annual value - run cost) / build cost (inf when free to build)."""
    net = frame["annual_value"] - frame["run_cost_per_year"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (net / frame["build_cost"]).replace(np.nan, np.inf)


def weighted_score(scores: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """Weighted mean of criterion scores (weights normalized to sum to one)."""
    w = pd.Series(weights, dtype=float).reindex(scores.columns).fillna(0.0)
    return scores.mul(w, axis=1).sum(axis=1) / w.sum()


def readiness_penalty(frame: pd.DataFrame, readiness: Readiness, rules: dict[str, Any]) -> pd.DataFrame:
    """Feasibility points lost per use case to complexity over capacity, missing explainability capacity, blockers."""
    gate = rules["readiness"]
    level = readiness.maturity_level
    capacity = float(gate["complexity_capacity"][level])
    complexity = (frame["complexity"] - capacity).clip(lower=0) * gate["complexity_penalty_per_point"]
    min_level = frame["stakes"].map({k: v["min_maturity_level"] for k, v in rules["stakes"].items()})
    stakes = (min_level - level).clip(lower=0) * gate["stakes_penalty_per_level_short"]
    blockers = min(len(readiness.blockers) * gate["blocker_penalty"], gate["blocker_penalty_max"])
    return pd.DataFrame(
        {"complexity_gap": complexity.astype(float), "explainability_gap": stakes.astype(float), "blockers": float(blockers)},
        index=frame.index,
    )


def quadrant(value: pd.Series, feasibility: pd.Series, rules: dict[str, Any]) -> pd.Series:
    """Quick win, strategic bet, fill-in or avoid from the value and feasibility thresholds."""
    q = rules["quadrants"]
    high_v = value >= q["value_threshold"]
    high_f = feasibility >= q["feasibility_threshold"]
    names = q["names"]
    out = np.select(
        [high_v & high_f, high_v & ~high_f, ~high_v & high_f],
        [names["high_value_high_feasibility"], names["high_value_low_feasibility"], names["low_value_high_feasibility"]],
        default=names["low_value_low_feasibility"],
    )
    return pd.Series(out, index=value.index, name="quadrant")


def priority(value: np.ndarray | pd.Series, feasibility: np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Geometric mean of value and feasibility: a use case must be good on both axes."""
    return np.sqrt(value * feasibility)


def rank_order(priority_scores: np.ndarray, names: np.ndarray) -> np.ndarray:
    """1-based ranks along axis 0 (use cases), highest priority first, ties broken by name."""
    p = np.asarray(priority_scores, dtype=float)
    by_name = np.argsort(np.argsort(np.asarray(names, dtype=str), kind="stable"), kind="stable")
    shape = (len(by_name),) + (1,) * (p.ndim - 1)
    mine, other = p[:, None], p[None, :]
    name_mine, name_other = by_name.reshape(shape)[:, None], by_name.reshape(shape)[None, :]
    ahead = (other > mine) | ((other == mine) & (name_other < name_mine))
    return 1 + ahead.sum(axis=1)


def score_portfolio(
    frame: pd.DataFrame, weights: dict[str, dict[str, float]], readiness: Readiness, rules: dict[str, Any]
) -> pd.DataFrame:
    """Value, raw and gated feasibility, quadrant, priority and rank for every use case."""
    crit = rules["criteria"]
    lo, hi = rules["scale"]["min"], rules["scale"]["max"]
    value = weighted_score(criterion_frame(frame, crit["value"]), weights["value"])
    raw_feasibility = weighted_score(criterion_frame(frame, crit["feasibility"]), weights["feasibility"])
    penalty = readiness_penalty(frame, readiness, rules)
    feasibility = (raw_feasibility - penalty.sum(axis=1)).clip(lo, hi)
    out = pd.DataFrame(
        {
            "name": frame["name"],
            "value_score": value,
            "feasibility_raw": raw_feasibility,
            "readiness_penalty": penalty.sum(axis=1),
            "feasibility_score": feasibility,
        }
    ).join(penalty)
    out["quadrant"] = quadrant(value, feasibility, rules)
    out["priority"] = priority(value, feasibility)
    out["rank"] = rank_order(out["priority"].to_numpy(), out["name"].to_numpy())
    return out
