"""Pure ROI: payback, three-year discounted net value, success probability, risk-adjusted value."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def monthly_net_benefit(frame: pd.DataFrame) -> pd.Series:
    """(annual value - yearly run cost) / 12: what a live use case returns each month."""
    return (frame["annual_value"] - frame["run_cost_per_year"]) / 12.0


def payback_months(frame: pd.DataFrame) -> pd.Series:
    """Months from kick-off until cumulative net cash turns positive (inf when it never does)."""
    net = monthly_net_benefit(frame)
    with np.errstate(divide="ignore", invalid="ignore"):
        months = frame["months_to_value"] + frame["build_cost"] / net
    return months.where(net > 0, np.inf).rename("payback_months")


def monthly_rate(annual_rate: float) -> float:
    """The monthly rate equivalent to a yearly discount rate: (1 + r)^(1/12) - 1."""
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


def discounted_benefits(frame: pd.DataFrame, annual_rate: float, horizon_months: int) -> pd.Series:
    """Present value of the monthly net benefits from go-live to the horizon (months as one matrix)."""
    t = np.arange(1, horizon_months + 1, dtype=float)
    factors = (1.0 + monthly_rate(annual_rate)) ** -t
    live = t[None, :] > frame["months_to_value"].to_numpy()[:, None]
    pv = monthly_net_benefit(frame).to_numpy() * (live * factors[None, :]).sum(axis=1)
    return pd.Series(pv, index=frame.index, name="pv_benefits")


def npv(frame: pd.DataFrame, annual_rate: float, horizon_months: int) -> pd.Series:
    """Net present value over the horizon: discounted benefits minus the up-front build cost."""
    return (discounted_benefits(frame, annual_rate, horizon_months) - frame["build_cost"]).rename("npv")


def success_probability(feasibility: pd.Series, maturity_level: int, rule: dict[str, Any]) -> pd.Series:
    """p = base[level] + slope * (feasibility - 3), clipped: the chance of reaching production with value."""
    p = rule["base"][maturity_level] + rule["slope"] * (feasibility - 3.0)
    return p.clip(rule["min"], rule["max"]).rename("success_probability")


def roi_table(
    frame: pd.DataFrame, feasibility: pd.Series, maturity_level: int, rules: dict[str, Any], annual_rate: float
) -> pd.DataFrame:
    """Payback, 3-year NPV, success probability and risk-adjusted value (p * PV(benefits) - build cost)."""
    horizon = int(rules["roi"]["horizon_months"])
    pv = discounted_benefits(frame, annual_rate, horizon)
    p = success_probability(feasibility, maturity_level, rules["success_probability"])
    return pd.DataFrame(
        {
            "payback_months": payback_months(frame),
            "npv_3y": pv - frame["build_cost"],
            "success_probability": p,
            "risk_adjusted_value": p * pv - frame["build_cost"],
        },
        index=frame.index,
    )
