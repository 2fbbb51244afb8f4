"""Rank stability: seeded determinism, the matrix product against a per-draw reference, limits."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.use_cases.portfolio import DEMO_PORTFOLIO, build_portfolio, default_weights, read_portfolio_frame, rules
from kit.use_cases.scoring import Readiness, criterion_frame, score_portfolio, weighted_score
from kit.use_cases.stability import perturbed_scores, rank_stability, verdict, weight_draws

R = rules()
W = default_weights()


def demo_scored(level: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo portfolio and its scores."""
    frame = build_portfolio(read_portfolio_frame(DEMO_PORTFOLIO), DEMO_PORTFOLIO.parent, "demo").frame
    return frame, score_portfolio(frame, W, Readiness(level), R)


def test_same_seed_same_result_other_seed_differs():
    frame, scored = demo_scored()
    a = rank_stability(frame, scored, W, R, 2000, 0.2, seed=7).table
    b = rank_stability(frame, scored, W, R, 2000, 0.2, seed=7).table
    c = rank_stability(frame, scored, W, R, 2000, 0.2, seed=8).table
    pd.testing.assert_frame_equal(a, b)
    assert not a["rank_stability"].equals(c["rank_stability"])


def test_matrix_product_matches_per_draw_weighted_mean():
    frame, _ = demo_scored()
    crit = criterion_frame(frame, R["criteria"]["value"])[list(W["value"])]
    draws = weight_draws(W["value"], 5, 0.2, np.random.default_rng(0))
    fast = perturbed_scores(crit, draws)
    for d in range(5):
        slow = weighted_score(crit, dict(zip(W["value"], draws[d])))
        assert fast[:, d] == pytest.approx(slow.to_numpy())


def test_draws_stay_within_the_perturbation_band():
    draws = weight_draws({"a": 1.0, "b": 0.5}, 4000, 0.2, np.random.default_rng(1))
    assert draws.shape == (4000, 2)
    ratio = draws / np.array([1.0, 0.5])
    assert ratio.min() >= 0.8 and ratio.max() <= 1.2
    assert ratio.mean() == pytest.approx(1.0, abs=0.01)


def test_tiny_perturbation_keeps_every_rank():
    frame, scored = demo_scored()
    t = rank_stability(frame, scored, W, R, 500, 1e-9, seed=1).table
    assert (t["rank_stability"] == 1.0).all()
    assert t.loc[t["rank"] == 1, "top_share"].iloc[0] == 1.0


def test_near_tie_is_a_coin_toss():
    rows = [dict(name=n, business_unit="b", problem_type="p", annual_value=v, build_cost=200_000,
                 run_cost_per_year=50_000, data_availability=a, data_quality=3, complexity=3, months_to_value=6,
                 automation_potential=3, executive_sponsor="yes", stakes="low", regulatory_exposure="low",
                 kpi_name="k", kpi_baseline=0, kpi_target=1)
            for n, v, a in [("big value", 1_000_000, 2), ("big data", 600_000, 5)]]
    frame = build_portfolio(pd.DataFrame(rows), Path("."), "t").frame
    scored = score_portfolio(frame, W, Readiness(3), R)
    t = rank_stability(frame, scored, W, R, 4000, 0.2, seed=3).table
    assert 0.5 < t["rank_stability"].min() < 0.9  # priorities 3.737 vs 3.716: the weights decide
    assert (t["top_share"] > 0.2).all()
    assert t["top_share"].sum() == pytest.approx(1.0)


def test_verdict_thresholds():
    rule = R["stability"]
    assert verdict(0.9, rule) == "robust"
    assert verdict(0.5, rule) == "moderate"
    assert verdict(0.2, rule) == "coin toss"
