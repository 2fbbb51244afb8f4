"""Rank stability: how often each use case keeps its rank when every weight is perturbed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kit.use_cases.scoring import criterion_frame, priority, rank_order


@dataclass(frozen=True)
class Stability:
    """Per use case: share of draws keeping its rank, share ranked first, and the rank spread."""

    table: pd.DataFrame
    draws: int
    perturbation: float
    seed: int


def weight_draws(weights: dict[str, float], draws: int, perturbation: float, rng: np.random.Generator) -> np.ndarray:
    """A (draws x criteria) matrix of weights, each multiplied by an independent U(1-p, 1+p)."""
    base = np.array(list(weights.values()), dtype=float)
    return base[None, :] * rng.uniform(1.0 - perturbation, 1.0 + perturbation, size=(draws, base.size))


def perturbed_scores(criteria: pd.DataFrame, weight_matrix: np.ndarray) -> np.ndarray:
    """(use cases x draws) weighted means: one matrix product for all draws."""
    return criteria.to_numpy() @ weight_matrix.T / weight_matrix.sum(axis=1)[None, :]


def rank_stability(
    frame: pd.DataFrame,
    scored: pd.DataFrame,
    weights: dict[str, dict[str, float]],
    rules: dict[str, Any],
    draws: int,
    perturbation: float,
    seed: int,
) -> Stability:
    """Re-rank the portfolio under ``draws`` perturbed weight sets (readiness penalties held fixed)."""
    rng = np.random.default_rng(seed)
    crit = rules["criteria"]
    lo, hi = rules["scale"]["min"], rules["scale"]["max"]
    v_crit = criterion_frame(frame, crit["value"])[list(weights["value"])]
    f_crit = criterion_frame(frame, crit["feasibility"])[list(weights["feasibility"])]
    value = perturbed_scores(v_crit, weight_draws(weights["value"], draws, perturbation, rng))
    raw_f = perturbed_scores(f_crit, weight_draws(weights["feasibility"], draws, perturbation, rng))
    feas = np.clip(raw_f - scored["readiness_penalty"].to_numpy()[:, None], lo, hi)
    ranks = rank_order(priority(value, feas), scored["name"].to_numpy())
    base = scored["rank"].to_numpy()[:, None]
    table = pd.DataFrame(
        {
            "name": scored["name"],
            "rank": scored["rank"],
            "rank_stability": (ranks == base).mean(axis=1),
            "top_share": (ranks == 1).mean(axis=1),
            "rank_p05": np.percentile(ranks, 5, axis=1),
            "rank_p95": np.percentile(ranks, 95, axis=1),
        },
        index=scored.index,
    )
    return Stability(table=table, draws=draws, perturbation=perturbation, seed=seed)


def verdict(share: float, rule: dict[str, Any]) -> str:
    """'robust', 'moderate' or 'coin toss' for a share of draws that keep the rank."""
    if share >= rule["robust_share"]:
        return "robust"
    return "moderate" if share >= rule["fragile_share"] else "coin toss"
