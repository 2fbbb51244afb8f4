"""Drift statistics: hand-computed PSI and chi-square, KS and Wasserstein equal to scipy, BH, no-drift."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from kit.errors import DataError
from kit.monitoring import drift
from kit.monitoring.alerts import drift_alerts
from kit.monitoring.config import AlertSettings


def test_psi_hand_computed():
    # ref 50/50, current 25/75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5) = 0.25 ln 3
    assert drift.psi(np.array([50, 50]), np.array([25, 75])) == pytest.approx(0.25 * np.log(3))


def test_psi_epsilon_rule_for_empty_bin():
    # ref has no rows in bin 2: its share is raised to epsilon
    eps = 1e-4
    expected = (0.5 - 1.0) * np.log(0.5 / 1.0) + (0.5 - eps) * np.log(0.5 / eps)
    assert drift.psi(np.array([10, 0]), np.array([5, 5]), eps) == pytest.approx(expected)


def test_chi_square_hand_computed_and_scipy():
    ref, cur = np.array([30, 50, 20, 0]), np.array([20, 40, 30, 10])
    stat, p, dof = drift.chi_square(ref, cur)
    # expected counts: column totals 50, 90, 50, 10 split evenly (both rows have 100)
    hand = sum((o - e) ** 2 / e for o, e in zip([30, 50, 20, 0, 20, 40, 30, 10], [25, 45, 25, 5] * 2))
    assert stat == pytest.approx(hand) and dof == 3
    ref_stat, ref_p, ref_dof, _ = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert (stat, p, dof) == pytest.approx((ref_stat, ref_p, ref_dof))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-20, 20), min_size=1, max_size=80), st.lists(st.integers(-20, 20), min_size=1, max_size=80))
def test_ks_and_wasserstein_equal_scipy(a, b):
    a, b = np.array(a, float) / 4, np.array(b, float) / 4  # many ties
    ks, w = drift.ks_wasserstein(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b, method="asymp")
    assert ks == pytest.approx(ref.statistic, abs=1e-12)
    assert drift.ks_pvalue(ks, len(a), len(b)) == pytest.approx(ref.pvalue, abs=1e-12, nan_ok=True)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9)


values_with_ties = st.lists(st.sampled_from([-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 3.25, 1e6]) | st.floats(-50, 50, width=16),
                            min_size=1, max_size=120)


@settings(max_examples=80, deadline=None)
@given(values_with_ties, values_with_ties)
def test_merge_statistics_equal_scipy_with_heavy_ties_and_signed_zeros(a, b):
    a, b = np.array(a, float), np.array(b, float)
    ks, w = drift.ks_wasserstein(np.sort(a), np.sort(b))
    assert ks == pytest.approx(stats.ks_2samp(a, b, method="asymp").statistic, abs=1e-15)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12, abs=1e-12)
    assert drift.ks_wasserstein(np.sort(b), np.sort(a)) == pytest.approx((ks, w), rel=1e-12, abs=1e-15)


def test_merge_statistics_equal_scipy_on_large_unequal_samples():
    rng = np.random.default_rng(7)
    a = np.round(rng.normal(0, 1, 30_011), 2)  # ~700 distinct values: long runs of ties
    b = np.round(rng.normal(0.1, 1.2, 12_345), 2)
    ks, w = drift.ks_wasserstein(np.sort(a), np.sort(b))
    assert ks == pytest.approx(stats.ks_2samp(a, b, method="asymp").statistic, abs=1e-15)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    assert drift.ks_wasserstein(np.sort(a), np.sort(a)) == (0.0, 0.0)


def test_reused_scratch_buffers_do_not_leak_between_calls_of_different_sizes():
    rng = np.random.default_rng(11)
    samples = [(rng.normal(size=n), rng.normal(0.5, 2, size=m)) for n, m in [(5000, 3000), (40, 7), (2000, 6001)]]
    for a, b in samples:  # big, then small (a view of the same buffers), then bigger again
        ks, w = drift.ks_wasserstein(np.sort(a), np.sort(b))
        assert ks == pytest.approx(stats.ks_2samp(a, b, method="asymp").statistic, abs=1e-15)
        assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    profile = drift.profile_numeric("x", samples[0][0], 10)
    before = profile.sorted_values.copy()
    drift.numeric_drift(profile, samples[2][1])
    np.testing.assert_array_equal(profile.sorted_values, before)  # the profile is never a scratch buffer


def test_numeric_drift_float32_batch_matches_its_float64_values():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=5000).astype(np.float32)})
    batch = rng.normal(0.2, 1, size=3000).astype(np.float32)
    profile = drift.profile_reference(ref, ["x"]).features["x"]
    out = drift.numeric_drift(profile, batch)
    a, b = ref["x"].to_numpy(np.float64), batch.astype(np.float64)
    assert out["statistic"] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-15)
    assert out["wasserstein"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


def test_thread_pool_gives_the_same_table_as_one_thread():
    rng = np.random.default_rng(5)
    frame = lambda shift: pd.DataFrame({**{f"x{i}": rng.normal(shift, 1, 3000) for i in range(4)},
                                        "c": pd.Categorical(rng.choice(list("abcd"), 3000))})
    profile = drift.profile_reference(frame(0.0), ["x0", "x1", "x2", "x3", "c"], workers=2)
    batch = frame(0.3)
    pd.testing.assert_frame_equal(drift.drift_table(profile, batch, workers=2), drift.drift_table(profile, batch, workers=1))


def test_ks_pvalue_large_samples_uses_the_kolmogorov_limit():
    exact = stats.kstwo.sf(0.004, 250_000)
    assert drift.ks_pvalue(0.004, 500_000, 500_000) == pytest.approx(exact, rel=0.02)


def test_quantile_bins_fixed_on_reference_and_missing_bin():
    ref = pd.DataFrame({"x": np.r_[np.arange(100.0), [np.nan] * 10]})
    profile = drift.profile_reference(ref, ["x"], bins=4, min_rows_per_bin=5).features["x"]
    assert list(profile.edges) == [24.0, 49.0, 74.0]
    assert list(profile.counts) == [25, 25, 25, 25, 10]
    out = drift.numeric_drift(profile, np.array([np.nan] * 5 + [200.0] * 5))
    assert out["missing_share"] == 0.5 and out["out_of_range_share"] == 0.5


def test_categorical_unseen_and_missing_are_bins():
    ref = pd.DataFrame({"c": ["a"] * 60 + ["b"] * 40})
    profile = drift.profile_reference(ref, ["c"], bins=2).features["c"]
    counts, unseen = drift.categorical_counts(profile, pd.Series(["a"] * 50 + ["z"] * 30 + [None] * 20))
    assert list(counts) == [50, 0, 30, 20] and unseen == ["z"]
    stats_ = drift.categorical_drift(profile, pd.Series(["a"] * 50 + ["z"] * 30 + [None] * 20))
    assert stats_["unseen_share"] == 0.3 and stats_["psi"] > 1


def test_benjamini_hochberg_matches_hand():
    p = pd.Series({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.2})
    q = drift.adjust_pvalues(p)
    # sorted p: .01,.03,.04,.2 -> p*m/rank: .04,.06,.0533,.2 -> cumulative min from the top
    assert q.to_dict() == pytest.approx({"a": 0.04, "c": 0.0533333, "b": 0.0533333, "d": 0.2}, abs=1e-6)


def test_identical_distributions_give_no_alert():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=4000), "c": rng.choice(list("abc"), 4000)})
    profile = drift.profile_reference(frame, ["x", "c"])
    table = drift.drift_table(profile, frame)
    assert (table["psi"] == 0).all() and (table["statistic"] == 0).all()
    assert drift_alerts("b1", table, ["x", "c"], AlertSettings()) == []


def test_shift_is_detected_and_too_small_reference_is_an_error():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=2000)})
    profile = drift.profile_reference(ref, ["x"])
    table = drift.drift_table(profile, pd.DataFrame({"x": rng.normal(1, 1, size=2000)}))
    assert table.loc["x", "psi"] > 0.2 and table.loc["x", "significant"]
    assert drift_alerts("b1", table, ["x"], AlertSettings())[0]["rule"] == "psi_top_k"
    with pytest.raises(DataError, match="too few for 10 bins"):
        drift.profile_reference(ref.head(30), ["x"], bins=10, min_rows_per_bin=5)
