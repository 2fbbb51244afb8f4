"""Review band: known queue sizes and error rates, agreement with a direct computation, tier gate."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.explain import review, tiers


def test_band_curve_known_values():
    proba = np.array([0.05, 0.45, 0.55, 0.48, 0.9, 0.62])
    y = np.array([0, 1, 0, 0, 1, 1])  # errors at 0.45 (missed) and 0.55 (false alarm)
    curve = review.band_curve(proba, y, 0.5, np.array([0.0, 0.06, 0.2]))
    assert curve["queue_size"].tolist() == [0, 3, 4]
    assert curve["error_rate_in"].iloc[1] == pytest.approx(2 / 3)
    assert curve["error_rate_out"].iloc[1] == 0.0
    assert curve["errors_caught_share"].iloc[2] == 1.0
    summary = review.queue_summary(proba, y, 0.5, review.queue_positions(proba, 0.5, 3))
    assert summary["size"] == 3 and summary["band"] == pytest.approx([0.45, 0.55])
    assert (summary["errors_in"], summary["errors_out"], summary["automated"]) == (2, 0, 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=1, max_size=80), st.floats(0.05, 0.95))
def test_band_curve_equals_direct_masks(rows, threshold):
    proba = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    widths = np.array([0.0, 0.1, 0.3])
    curve = review.band_curve(proba, y, threshold, widths)
    errors = (proba >= threshold).astype(int) != y
    for width, row in zip(widths, curve.itertuples()):
        mask = review.in_band(proba, threshold, width)
        assert row.queue_size == mask.sum()
        if mask.any():
            assert row.error_rate_in == pytest.approx(errors[mask].mean())
        if (~mask).any():
            assert row.error_rate_out == pytest.approx(errors[~mask].mean())
    assert curve["queue_size"].is_monotonic_increasing


def test_review_queue_sorted_with_reasons():
    ids = pd.Series(["a", "b", "c", "d"], index=[5, 6, 7, 8])
    proba = np.array([0.52, 0.9, 0.41, 0.5])
    reasons = pd.DataFrame({"margin": [0.1] * 4, "reason_1": ["x", "y", "z", "w"]}, index=[5, 6, 7, 8])
    queue = review.review_queue(ids, proba, np.array([1, 1, 0, 0]), 0.5, review.queue_positions(proba, 0.5, 3), reasons)
    assert queue["row_id"].tolist() == ["d", "a", "c"]
    assert queue["reason_1"].tolist() == ["w", "x", "z"]
    assert "margin" not in queue


def test_tier_gate_high_without_per_prediction_explanations_fails():
    produced = {"global_importance": True, "fairness_assessment": True, "human_review_queue": True, "model_card": True}
    gate = tiers.tier_gate("high", produced)
    assert gate["status"] == "failed" and gate["missing"] == ["per_prediction_explanations"]
    assert tiers.tier_gate("high", {**produced, "per_prediction_explanations": True})["status"] == "passed"
    assert tiers.tier_gate("low", {"model_card": True})["status"] == "passed"


def test_resolve_tier_sources():
    assert tiers.resolve_tier("low", {"pilot": {"explainability_tier": "high"}})[0] == "low"
    assert tiers.resolve_tier(None, {"pilot": {"explainability_tier": "high", "name": "Credit"}})[0] == "high"
    assert tiers.resolve_tier(None, {"pilot": {"stakes": "Low"}})[0] == "low"
    assert tiers.resolve_tier(None, None)[0] == "medium"


def test_waterfall_steps_walk_from_base_to_margin():
    import pandas as pd

    from kit.explain.display import waterfall_frame
    from kit.explain.shapley import Contributions

    values = pd.DataFrame([[0.5, -0.2, 0.1, 0.05]], columns=list("abcd"))
    contribs = Contributions(values, np.array([-1.0]))
    steps = waterfall_frame(contribs, 0, max_features=2)
    assert steps["feature"].tolist() == ["a", "b", "2 other features"]
    assert steps["start"].tolist() == pytest.approx([-1.0, -0.5, -0.7])
    end = steps["start"].iloc[-1] + steps["shap"].iloc[-1]
    assert end == pytest.approx(contribs.margin[0])
