"""ROI: payback, discounted 3-year NPV (checked against a hand computation), success probability."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.use_cases.portfolio import rules
from kit.use_cases.roi import (
    discounted_benefits, monthly_rate, npv, payback_months, roi_table, success_probability,
)

R = rules()


def money(annual_value, build_cost, run_cost, months) -> pd.DataFrame:
    """A frame with the money columns ROI needs."""
    return pd.DataFrame({"annual_value": [float(annual_value)], "build_cost": [float(build_cost)],
                         "run_cost_per_year": [float(run_cost)], "months_to_value": [float(months)]})


def test_payback_known_value():
    # net benefit (400k - 40k) / 12 = 30k a month; 120k build cost -> 4 months after go-live at month 3
    assert payback_months(money(400_000, 120_000, 40_000, 3)).iloc[0] == pytest.approx(7.0)


def test_payback_never_when_run_cost_eats_the_value():
    assert np.isinf(payback_months(money(100_000, 50_000, 100_000, 2)).iloc[0])
    assert np.isinf(payback_months(money(100_000, 50_000, 150_000, 2)).iloc[0])


def test_npv_without_discounting_is_plain_cash():
    # 30k a month for months 4..36 (33 months) minus the build cost
    assert npv(money(400_000, 120_000, 40_000, 3), 0.0, 36).iloc[0] == pytest.approx(33 * 30_000 - 120_000)


def test_npv_matches_hand_computed_annuity():
    rate, m, h = 0.10, 3, 36
    v = 1.10 ** (-1 / 12)                      # monthly discount factor for 10% a year
    annuity = v ** (m + 1) * (1 - v ** (h - m)) / (1 - v)  # sum of v^t for t = m+1 .. h
    expected = 30_000 * annuity - 120_000
    assert npv(money(400_000, 120_000, 40_000, m), rate, h).iloc[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(727_010.25, abs=0.01)  # sum(30000 * 1.1 ** (-t / 12), t=4..36) - 120000
    assert monthly_rate(0.10) == pytest.approx(0.00797414, abs=1e-8)


def test_npv_of_the_demo_churn_case_by_hand():
    # churn: (1.4M - 60k)/12 = 111,666.67 a month from month 5 to 36, 10% a year, 220k build
    v = 1.1 ** (-1 / 12)
    pv = sum(111_666.6667 * v ** t for t in range(5, 37))
    assert npv(money(1_400_000, 220_000, 60_000, 4), 0.10, 36).iloc[0] == pytest.approx(pv - 220_000, rel=1e-8)


def test_no_value_inside_the_horizon():
    assert discounted_benefits(money(1e6, 1e5, 0, 40), 0.1, 36).iloc[0] == 0.0


def test_success_probability_rule_and_clipping():
    rule = R["success_probability"]
    p = success_probability(pd.Series([3.0, 5.0, 1.0]), 2, rule)
    assert p.tolist() == pytest.approx([0.5, 0.7, 0.3])
    assert success_probability(pd.Series([5.0]), 5, rule).iloc[0] == pytest.approx(0.95)  # 0.8 + 0.2 -> clipped
    assert success_probability(pd.Series([1.0]), 1, rule).iloc[0] == pytest.approx(0.15)


def test_risk_adjusted_value_is_expected_benefit_minus_sunk_cost():
    f = money(400_000, 120_000, 40_000, 3)
    table = roi_table(f, pd.Series([4.0]), 2, R, 0.10)
    pv = table["npv_3y"].iloc[0] + 120_000
    assert table["success_probability"].iloc[0] == pytest.approx(0.6)
    assert table["risk_adjusted_value"].iloc[0] == pytest.approx(0.6 * pv - 120_000)


@settings(max_examples=50, deadline=None)
@given(value=st.floats(1e4, 1e7), build=st.floats(0, 2e6), run=st.floats(0, 1e6), months=st.floats(0, 40),
       rate=st.floats(0, 0.5))
def test_npv_properties(value, build, run, months, rate):
    f = money(value, build, run, months)
    gain = npv(f, rate, 36).iloc[0] - npv(f, 0.0, 36).iloc[0]
    tol = 1e-6 * max(value, run)
    assert gain <= tol if value >= run else gain >= -tol  # discounting shrinks gains and losses alike
    more = money(value * 1.5, build, run, months)
    assert npv(more, rate, 36).iloc[0] >= npv(f, rate, 36).iloc[0] - 1e-6
