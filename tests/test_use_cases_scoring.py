"""Known values for every score, the readiness gating rule, quadrants, ranking properties."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.use_cases.portfolio import DEMO_PORTFOLIO, build_portfolio, default_weights, read_portfolio_frame, rules
from kit.use_cases.scoring import (
    Readiness, criterion_frame, quadrant, rank_order, readiness_penalty, score_portfolio, transform,
)

R = rules()
W = default_weights()


def row(**kw) -> dict:
    """One valid portfolio row with sensible defaults."""
    base = dict(
        name="A", business_unit="BU", problem_type="binary classification", annual_value=500_000,
        build_cost=200_000, run_cost_per_year=100_000, data_availability=4, data_quality=3, complexity=2,
        months_to_value=10.5, automation_potential=4, executive_sponsor="yes", stakes="low",
        regulatory_exposure="medium", kpi_name="k", kpi_baseline=1, kpi_target=2,
    )
    base.update(kw)
    return base


def frame(*rows: dict) -> pd.DataFrame:
    """A validated, normalized portfolio frame from rows."""
    return build_portfolio(pd.DataFrame(list(rows)), Path("."), "test").frame


def demo() -> pd.DataFrame:
    """The bundled demo portfolio."""
    return build_portfolio(read_portfolio_frame(DEMO_PORTFOLIO), DEMO_PORTFOLIO.parent, "demo").frame


def test_transforms_known_values():
    crit = R["criteria"]
    money = transform(pd.Series([50_000.0, 500_000.0, 5_000_000.0, 10.0, 1e9]), crit["value"]["annual_value"])
    assert money.tolist() == pytest.approx([1.0, 3.0, 5.0, 1.0, 5.0])
    months = transform(pd.Series([3.0, 10.5, 18.0, 0.0, 40.0]), crit["feasibility"]["time_to_value"])
    assert months.tolist() == pytest.approx([5.0, 3.0, 1.0, 5.0, 1.0])
    assert transform(pd.Series([1.0, 5.0]), crit["feasibility"]["simplicity"]).tolist() == [5.0, 1.0]
    sponsor = transform(pd.Series([True, False]), crit["feasibility"]["executive_sponsor"])
    assert sponsor.tolist() == [5.0, 1.0]


def test_value_and_feasibility_known_values():
    f = frame(row())
    scored = score_portfolio(f, W, Readiness(maturity_level=3), R)
    # value: annual 500k -> 3.0; (500k - 100k) / 200k = 2 -> 3.0; automation 4
    assert scored["value_score"].iloc[0] == pytest.approx(0.5 * 3 + 0.3 * 3 + 0.2 * 4)
    # feasibility: availability 4, quality 3, simplicity 6-2=4, 10.5 months -> 3, sponsor 5, medium regulation 3
    expected = 0.2 * 4 + 0.15 * 3 + 0.2 * 4 + 0.15 * 3 + 0.2 * 5 + 0.1 * 3
    assert scored["feasibility_raw"].iloc[0] == pytest.approx(expected)
    assert scored["feasibility_score"].iloc[0] == pytest.approx(expected)  # level 3: nothing gated
    assert scored["priority"].iloc[0] == pytest.approx(np.sqrt(3.2 * expected))


def test_weights_are_relative():
    f = frame(row(), row(name="B", annual_value=2_000_000, complexity=4))
    doubled = {g: {n: 2 * w for n, w in ws.items()} for g, ws in W.items()}
    a = score_portfolio(f, W, Readiness(2), R)
    b = score_portfolio(f, doubled, Readiness(2), R)
    pd.testing.assert_frame_equal(a, b)


def test_readiness_penalty_known_values():
    f = frame(row(name="complex", complexity=5, stakes="high"), row(name="simple", complexity=1, stakes="low"))
    blockers = [{"pillar": "data", "score": 1.5}, {"pillar": "process", "score": 1.0}]
    p = readiness_penalty(f, Readiness(1, blockers=blockers), R).set_index(f["name"])
    assert p.loc["complex", "complexity_gap"] == pytest.approx((5 - 2) * 0.5)
    assert p.loc["complex", "explainability_gap"] == pytest.approx((3 - 1) * 0.5)
    assert p.loc["simple"].tolist() == pytest.approx([0.0, 0.0, 0.5])
    many = readiness_penalty(f, Readiness(3, blockers=blockers * 5), R)
    assert many["blockers"].iloc[0] == pytest.approx(R["readiness"]["blocker_penalty_max"])
    assert many[["complexity_gap", "explainability_gap"]].to_numpy().sum() == pytest.approx(0.5)  # complexity 5 > 4


def test_feasibility_is_clipped_to_the_scale():
    f = frame(row(complexity=5, stakes="high", data_availability=1, data_quality=1, executive_sponsor="no",
                  months_to_value=30, regulatory_exposure="high"))
    scored = score_portfolio(f, W, Readiness(1, blockers=[{"pillar": "x", "score": 1}] * 4), R)
    assert scored["feasibility_score"].iloc[0] == 1.0


@pytest.mark.parametrize(
    "value,feasibility,expected",
    [(3.0, 3.0, "quick win"), (4.5, 2.99, "strategic bet"), (2.99, 4.0, "fill-in"), (1.0, 1.0, "avoid")],
)
def test_quadrant_rule(value, feasibility, expected):
    assert quadrant(pd.Series([value]), pd.Series([feasibility]), R).iloc[0] == expected


def test_readiness_gating_changes_the_ranking():
    """As stated: complex and high-stakes use cases lose feasibility at level 1, not at level 3."""
    f = demo()
    low = score_portfolio(f, W, Readiness(1), R).set_index("name")
    high = score_portfolio(f, W, Readiness(3), R).set_index("name")
    assert low["rank"].to_dict() != high["rank"].to_dict()
    # fraud detection: complexity 4, high stakes -> gated hard at level 1, not at all at level 3
    assert low.loc["Fraud detection", "readiness_penalty"] == pytest.approx((4 - 2) * 0.5 + (3 - 1) * 0.5)
    assert high.loc["Fraud detection", "readiness_penalty"] == 0.0
    assert high.loc["Fraud detection", "rank"] < low.loc["Fraud detection", "rank"]
    assert high.loc["Fraud detection", "quadrant"] == "quick win"
    assert low.loc["Fraud detection", "quadrant"] == "strategic bet"
    # the gap is exactly the rule's penalty wherever the score is not clipped at 1
    free = low["feasibility_score"] > 1
    diff = (high["feasibility_score"] - low["feasibility_score"])[free]
    assert diff.to_numpy() == pytest.approx((low["readiness_penalty"] - high["readiness_penalty"])[free].to_numpy())


def test_rank_order_breaks_ties_by_name_and_handles_draws():
    names = np.array(["b", "a", "c"])
    assert rank_order(np.array([2.0, 2.0, 3.0]), names).tolist() == [3, 2, 1]
    draws = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert rank_order(draws, names).tolist() == [[3, 1], [2, 2], [1, 3]]


rows_strategy = st.lists(
    st.fixed_dictionaries({
        "annual_value": st.floats(0, 1e7), "build_cost": st.floats(1, 2e6), "run_cost_per_year": st.floats(0, 5e5),
        "data_availability": st.integers(1, 5), "data_quality": st.integers(1, 5), "complexity": st.integers(1, 5),
        "months_to_value": st.floats(0, 24), "automation_potential": st.integers(1, 5),
        "executive_sponsor": st.sampled_from(["yes", "no"]), "stakes": st.sampled_from(["high", "medium", "low"]),
        "regulatory_exposure": st.sampled_from(["low", "medium", "high"]),
    }),
    min_size=2, max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(rows=rows_strategy, level=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_ranking_invariant_to_row_order(rows, level, seed):
    raw = pd.DataFrame([row(name=f"uc{i}", **r) for i, r in enumerate(rows)])
    shuffled = raw.sample(frac=1.0, random_state=seed % 2**31)
    a = score_portfolio(build_portfolio(raw, Path("."), "t").frame, W, Readiness(level), R).set_index("name")
    b = score_portfolio(build_portfolio(shuffled, Path("."), "t").frame, W, Readiness(level), R).set_index("name")
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index())


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, bump=st.floats(0, 1e7), which=st.integers(0, 7))
def test_raising_value_never_lowers_value_score(rows, bump, which):
    raw = pd.DataFrame([row(name=f"uc{i}", **r) for i, r in enumerate(rows)])
    i = which % len(raw)
    raised = raw.copy()
    raised.loc[i, "annual_value"] = raw.loc[i, "annual_value"] + bump
    crit = R["criteria"]["value"]
    before = criterion_frame(build_portfolio(raw, Path("."), "t").frame, crit)
    after = criterion_frame(build_portfolio(raised, Path("."), "t").frame, crit)
    a = score_portfolio(build_portfolio(raw, Path("."), "t").frame, W, Readiness(2), R).set_index("name")
    b = score_portfolio(build_portfolio(raised, Path("."), "t").frame, W, Readiness(2), R).set_index("name")
    assert b.loc[f"uc{i}", "value_score"] >= a.loc[f"uc{i}", "value_score"] - 1e-12
    assert (after.to_numpy() >= before.to_numpy() - 1e-12).all()
