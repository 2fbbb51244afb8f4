"""The phase's steps as the notebook calls them: readiness inputs, ranking, stability, pilot, artifact."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kit.errors import ArtifactError
from kit.use_cases.pilot import Pilot, choose_pilot
from kit.use_cases.portfolio import Portfolio, rules
from kit.use_cases.roi import roi_table
from kit.use_cases.scoring import Readiness, score_portfolio
from kit.use_cases.stability import Stability, rank_stability, verdict
from kit.use_cases.tasks import task_table

RANKING_FIELDS = (
    "name", "value_score", "feasibility_score", "quadrant", "payback_months", "npv_3y",
    "risk_adjusted_value", "success_probability", "rank", "rank_stability",
)


def readiness_from_artifact(artifact: dict[str, Any] | None, fallback_level: int) -> Readiness:
    """Maturity level, blockers and pillars from the readiness artifact, or the config's level when absent."""
    if artifact is None:
        return Readiness(
            maturity_level=fallback_level,
            source=f"no readiness artifact in this run: using use_cases.maturity_level = {fallback_level} from the config (run phase 0 for an evidence-based level)",
        )
    level = artifact.get("maturity_level")
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
        raise ArtifactError(f"readiness artifact: maturity_level = {level!r} is not an integer 1-5; re-run the readiness phase")
    return Readiness(
        maturity_level=level,
        blockers=list(artifact.get("blockers") or []),
        pillars=dict(artifact.get("pillars") or {}),
        source="readiness artifact (phase 0)",
    )


def readiness_inputs(ctx: Any) -> Readiness:
    """Read the readiness artifact of this run if there is one (it is optional)."""
    return readiness_from_artifact(ctx.read("readiness", required=False), ctx.config.use_cases.maturity_level)


def discount_rate(config: Any) -> float:
    """The yearly discount rate: the config's, else the documented default."""
    rate = config.use_cases.discount_rate
    return float(rules()["roi"]["discount_rate"] if rate is None else rate)


def rank_portfolio(portfolio: Portfolio, weights: dict[str, dict[str, float]], readiness: Readiness, config: Any) -> pd.DataFrame:
    """Scores, quadrant, ROI and rank for every use case, best first."""
    r = rules()
    scored = score_portfolio(portfolio.frame, weights, readiness, r)
    roi = roi_table(portfolio.frame, scored["feasibility_score"], readiness.maturity_level, r, discount_rate(config))
    money = portfolio.frame[["annual_value", "build_cost", "run_cost_per_year"]]
    return scored.join(roi).join(money).sort_values("rank").reset_index(drop=True)


def stability_for(portfolio: Portfolio, ranking: pd.DataFrame, weights: dict[str, dict[str, float]], config: Any) -> Stability:
    """Rank stability under ±perturbation of every weight, seeded from the run's seed."""
    r = rules()
    frame = portfolio.frame.set_index("name").loc[ranking["name"]].reset_index()
    section = config.use_cases
    draws = section.stability_draws or int(r["stability"]["draws"])
    spread = section.perturbation or float(r["stability"]["perturbation"])
    return rank_stability(frame, ranking, weights, r, draws, spread, config.seed)


def pick_pilot(portfolio: Portfolio, ranking: pd.DataFrame, readiness: Readiness, config: Any) -> Pilot:
    """The pilot by the rule for the maturity level, or the config's override (with a warning when costly)."""
    section = config.use_cases
    return choose_pilot(
        portfolio.frame, ranking, portfolio.datasets, readiness.maturity_level, rules(), section.pilot, section.pilot_reason
    )


def dataset_warnings(portfolio: Portfolio) -> list[str]:
    """The portfolio's note, and use cases whose dataset file is missing (a problem only for the pilot)."""
    return [portfolio.note] * bool(portfolio.note) + [
        f"use case {name!r}: dataset file {spec.path} not found; it cannot be piloted until the file exists"
        for name, spec in portfolio.datasets.items() if not spec.path.is_file()
    ]


def headline(pilot: Pilot, illustrative: bool = False) -> dict[str, str]:
    """The pilot, its quadrant and its payback, for index.html (marked when from the bundled demo portfolio)."""
    payback = pilot.record["payback_months"]
    return {
        "Pilot": f"{pilot.name} (illustrative: bundled demo portfolio, not yours)" if illustrative else pilot.name,
        "Quadrant": pilot.record["quadrant"],
        "Payback": "never (costs exceed value)" if not np.isfinite(payback) else f"{payback:.1f} months",
    }


def build_artifact(
    ranking: pd.DataFrame,
    stability: Stability,
    weights: dict[str, dict[str, float]],
    readiness: Readiness,
    pilot: Pilot,
    portfolio: Portfolio,
    config: Any,
) -> dict[str, Any]:
    """The `use_cases` artifact: ranking, weights, pilot, readiness used, warnings and headline."""
    table = ranking.merge(stability.table[["name", "rank_stability", "top_share"]], on="name")
    warnings = list(pilot.warnings) + dataset_warnings(portfolio)
    if readiness.source != "readiness artifact (phase 0)":
        warnings.insert(0, readiness.source)
    pilot_share = float(table.loc[table["name"] == pilot.name, "top_share"].iloc[0])
    stable = verdict(float(table.loc[table["name"] == pilot.name, "rank_stability"].iloc[0]), rules()["stability"])
    if stable == "coin toss":
        warnings.append(f"the pilot's rank is a coin toss under ±{stability.perturbation:.0%} weight changes; agree the weights before committing")
    fallback = readiness.source != "readiness artifact (phase 0)"
    illustrative = bool(portfolio.note)  # bundled demo portfolio scored beside the user's own dataset
    status = "warn" if pilot.warnings or fallback or stable == "coin toss" or illustrative else "ok"
    return {
        "ranking": table[list(RANKING_FIELDS) + ["top_share", "priority", "feasibility_raw", "readiness_penalty"]].to_dict(orient="records"),
        "weights": weights,
        "pilot": {**pilot.record, "recommended": pilot.recommended, "reason": pilot.reason, "top_share": pilot_share, "rank_stability_verdict": stable},
        "readiness_used": {"maturity_level": readiness.maturity_level, "blockers": len(readiness.blockers), "source": readiness.source},
        "stability": {"draws": stability.draws, "perturbation": stability.perturbation, "seed": stability.seed},
        "discount_rate": discount_rate(config),
        "tasks": task_table(portfolio.frame).to_dict(orient="records"),
        "portfolio_source": portfolio.source,
        "illustrative": illustrative,
        "warnings": warnings,
        "headline": headline(pilot, illustrative),
        "headline_status": status,
    }
