"""Fairness: hand-computed metrics, fairlearn cross-checks, planted bias fails, bootstrap, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.errors import DataError
from kit.explain import fairness
from kit.explain.config import FairnessSettings

SMALL = FairnessSettings(min_group_size=2, bootstrap=0)


def test_hand_computed_small_example(monkeypatch):
    # group a: y=[1,1,0,0] pred=[1,0,1,0]; group b: y=[1,1,0,0] pred=[1,1,0,0]
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pred = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    score = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.7, 0.3, 0.2])
    groups = pd.Series(list("aaaabbbb"))
    thresholds = fairness.FairnessThresholds(0.8, 0.1, min_group_size=2, min_class_count=1)
    table = fairness.group_metrics(y, pred, score, groups, thresholds).set_index("group")
    assert table.loc["a", "selection_rate"] == 0.5 and table.loc["b", "selection_rate"] == 0.5
    assert table.loc["a", "true_positive_rate"] == 0.5 and table.loc["b", "true_positive_rate"] == 1.0
    assert table.loc["a", "false_positive_rate"] == 0.5 and table.loc["b", "false_positive_rate"] == 0.0
    assert table.loc["a", "precision"] == 0.5 and table.loc["b", "precision"] == 1.0
    assert table.loc["a", "auc"] == 0.75 and table.loc["b", "auc"] == 1.0
    assert table["count"].tolist() == [4, 4]
    out = fairness.parity(table.reset_index())
    assert out["demographic_parity_ratio"] == 1.0
    assert out["equalized_odds_difference"] == 0.5
    assert out["demographic_parity_ratio"] == demographic_parity_ratio(y, pred, sensitive_features=groups)
    assert out["equalized_odds_difference"] == equalized_odds_difference(y, pred, sensitive_features=groups)


def _population(n: int, seed: int, bias: float) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    """Two groups with equal base rates; ``bias`` lowers group B's scores (planted disparity)."""
    rng = np.random.default_rng(seed)
    group = pd.Series(rng.choice(["A", "B"], n))
    y = rng.binomial(1, 0.3, n)
    score = np.clip(0.25 + 0.45 * y + rng.normal(0, 0.15, n) - bias * (group == "B").to_numpy(), 0, 1)
    return group, y, (score >= 0.5).astype(int), score


def test_planted_bias_fails_and_unbiased_passes():
    cfg = FairnessSettings(bootstrap=200)
    for bias, expected in [(0.0, fairness.PASSED), (0.25, fairness.FAILED)]:
        group, y, pred, score = _population(4000, seed=7, bias=bias)
        result = fairness.assess_column("group", group, y, pred, score, cfg, seed=1)
        assert result["status"] == expected, result["findings"]
        low, high = result["demographic_parity_ratio_ci"]
        assert low <= result["demographic_parity_ratio"] <= high
    assert any("four-fifths" in f for f in result["findings"])
    assert fairness.fairness_gate([result]) == fairness.FAILED


def test_fairlearn_cross_check_on_real_sized_sample():
    group, y, pred, score = _population(3000, seed=3, bias=0.1)
    result = fairness.assess_column("group", group, y, pred, score, SMALL, seed=0)
    assert result["demographic_parity_ratio"] == pytest.approx(demographic_parity_ratio(y, pred, sensitive_features=group))
    assert result["equalized_odds_difference"] == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=group))


def test_bootstrap_rates_match_a_direct_resample():
    group, y, pred, _ = _population(500, seed=5, bias=0.1)
    codes = pd.Categorical(group, categories=["A", "B"]).codes
    rates = fairness.bootstrap_rates(y, pred, codes, 2, n_boot=7, seed=11, max_cells=1000)  # several chunks
    rng = np.random.default_rng(11)
    idx = rng.integers(0, 500, size=(2, 500))  # chunk size 1000 // 500 = 2 draws
    first = idx[0]
    in_a = codes[first] == 0
    assert rates["selection_rate"][0, 0] == pytest.approx(pred[first][in_a].mean())
    positives_a = in_a & (y[first] == 1)
    assert rates["true_positive_rate"][0, 0] == pytest.approx(pred[first][positives_a].mean())
    assert rates["selection_rate"].shape == (7, 2)


def test_missing_values_are_their_own_group_and_small_groups_insufficient():
    group, y, pred, score = _population(2000, seed=2, bias=0.0)
    values = group.where(np.arange(2000) % 200 != 0, None)  # 10 missing
    result = fairness.assess_column("g", values, y, pred, score, FairnessSettings(bootstrap=50), seed=0)
    table = result["groups"].set_index("group")
    assert table.loc[fairness.MISSING_GROUP, "count"] == 10
    assert table.loc[fairness.MISSING_GROUP, "evidence"] == fairness.INSUFFICIENT
    assert result["status"] == fairness.PASSED  # judged on the sufficient groups only


def test_only_one_sufficient_group_is_insufficient_evidence_not_passed():
    group, y, pred, score = _population(400, seed=2, bias=0.0)
    values = pd.Series(np.where(np.arange(400) < 390, "big", "small"))
    result = fairness.assess_column("g", values, y, pred, score, FairnessSettings(bootstrap=20), seed=0)
    assert result["status"] == fairness.INSUFFICIENT and not result["passed"]
    assert fairness.fairness_gate([result]) == fairness.INSUFFICIENT


def test_single_group_column_is_a_clear_error():
    y = np.array([0, 1] * 20)
    with pytest.raises(DataError, match="one group"):
        fairness.assess_column("gender", pd.Series(["F"] * 40), y, y, y.astype(float), SMALL, seed=0)


def test_numeric_bands_for_age_and_config_edges():
    ages = pd.Series([19, 24, 25, 40, 70, np.nan, 33, 51, 60, 29, 45, 66])
    labels = fairness.group_labels(ages, "age")
    assert labels.tolist()[:6] == ["18-25", "18-25", "25-35", "35-45", "65+", "missing"]
    custom = fairness.group_labels(ages, "age", edges=[30, 50])
    assert custom.tolist()[:5] == ["<30", "<30", "<30", "30-50", "50+"]
    binary = fairness.group_labels(pd.Series([0, 1, 1, 0]), "SeniorCitizen")
    assert binary.tolist() == ["0", "1", "1", "0"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 1), st.integers(0, 1)), min_size=40, max_size=120))
def test_parity_properties(rows):
    group = pd.Series([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    pred = np.array([r[2] for r in rows])
    thresholds = fairness.FairnessThresholds(0.8, 0.1, min_group_size=1, min_class_count=0)
    if group.nunique() < 2:
        return
    table = fairness.group_metrics(y, pred, pred.astype(float), group, thresholds).fillna(0.0)
    out = fairness.parity(table)
    assert 0.0 <= out["demographic_parity_ratio"] <= 1.0
    assert 0.0 <= out["equalized_odds_difference"] <= 1.0
    if pred.any():  # with no positive decisions at all the kit reports parity (1.0); fairlearn gives NaN
        assert out["demographic_parity_ratio"] == pytest.approx(demographic_parity_ratio(y, pred, sensitive_features=group))
    else:
        assert out["demographic_parity_ratio"] == 1.0


# ---- group labels (issue 11, item 2) ----

def test_group_labels_replace_codes_in_the_group_table():
    group, y, pred, score = _population(600, seed=4, bias=0.0)
    senior = pd.Series(np.where(group == "A", 0, 1))
    cfg = FairnessSettings(bootstrap=0, group_labels={"SeniorCitizen": {0: "under 65", 1: "65 or older"}})
    result = fairness.assess_column("SeniorCitizen", senior, y, pred, score, cfg, seed=0)
    table = result["groups"].set_index("group")
    assert sorted(table.index) == ["65 or older", "under 65"]
    assert table.loc["under 65", "code"] == "0" and table.loc["65 or older", "code"] == "1"
    assert table.loc["under 65", "count"] == int((senior == 0).sum())
    plain = fairness.assess_column("SeniorCitizen", senior, y, pred, score, FairnessSettings(bootstrap=0), seed=0)
    assert result["demographic_parity_ratio"] == plain["demographic_parity_ratio"]


def test_group_label_keys_match_codes_of_any_spelling():
    groups = pd.Series(["0", "1", "missing", "True"], name="c")
    out = fairness.apply_group_labels(groups, {0.0: "zero", "1": "one", True: "yes"})
    assert out.tolist() == ["zero", "one", "missing", "yes"]


def test_group_labels_that_match_nothing_or_merge_groups_are_data_errors():
    groups = pd.Series(["A", "B"] * 5, name="gender")
    with pytest.raises(DataError, match="group_labels.gender: codes .* match none"):
        fairness.apply_group_labels(groups, {"M": "men"})
    with pytest.raises(DataError, match="merge"):
        fairness.apply_group_labels(groups, {"A": "B"})


def test_group_labels_config_checks(tmp_path):
    import yaml

    from kit.config import load_config
    from kit.errors import ConfigError

    (tmp_path / "x.csv").write_text("y,g\n0,a\n1,b\n")
    base = {"organization": {"name": "Acme"}, "dataset": {"path": "x.csv", "target": "y", "sensitive": ["g"]}}
    for labels, words in [({"gendr": {"a": "A"}}, "group_labels.gendr: not a sensitive column"),
                          ({"g": {"a": "same", "b": "same"}}, "name more than one group"),
                          ({"g": {"a": " "}}, "empty label")]:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump({**base, "explainability": {"fairness": {"group_labels": labels}}}))
        with pytest.raises(ConfigError, match=words):
            load_config(tmp_path / "c.yaml")


# ---- figures that claim what they do not support (issue 11, item 4) ----

def test_group_without_positives_has_no_tpr_and_no_fake_equalized_odds_gap():
    # group "c" has 60 rows but no actual positive: its TPR is undefined, not 0.0
    group, y, pred, score = _population(1200, seed=9, bias=0.0)
    values = pd.concat([group, pd.Series(["c"] * 60)], ignore_index=True)
    y2 = np.concatenate([y, np.zeros(60, dtype=int)])
    pred2 = np.concatenate([pred, np.r_[np.ones(6, dtype=int), np.zeros(54, dtype=int)]])
    score2 = np.concatenate([score, np.full(60, 0.2)])
    result = fairness.assess_column("g", values, y2, pred2, score2, FairnessSettings(bootstrap=40), seed=0)
    table = result["groups"].set_index("group")
    assert np.isnan(table.loc["c", "true_positive_rate"]) and table.loc["c", "false_positive_rate"] == 0.1
    assert table.loc["c", "evidence"] == fairness.INSUFFICIENT
    # fairlearn over every group counts the empty TPR as 0.0, a fake gap as large as the best group's TPR
    best_tpr = table.loc[["A", "B"], "true_positive_rate"].max()
    assert equalized_odds_difference(y2, pred2, sensitive_features=values) == pytest.approx(best_tpr)
    assert best_tpr > 0.8
    judged = values.isin(["A", "B"]).to_numpy()
    assert result["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y2[judged], pred2[judged], sensitive_features=values[judged]))
    assert result["equalized_odds_difference"] < 0.2
    assert any("'c'" in f and "insufficient evidence" in f for f in result["findings"])


def test_group_metrics_match_fairlearn_metricframe_per_group():
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

    group, y, pred, score = _population(2500, seed=12, bias=0.15)
    table = fairness.assess_column("g", group, y, pred, score, SMALL, seed=0)["groups"].set_index("group")
    frame = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                                 "false_positive_rate": false_positive_rate},
                        y_true=y, y_pred=pred, sensitive_features=group).by_group
    for metric in frame.columns:
        assert table[metric].to_numpy() == pytest.approx(frame[metric].to_numpy())


def test_no_group_with_enough_rows_is_never_passed():
    group, y, pred, score = _population(80, seed=1, bias=0.0)
    values = pd.Series(np.arange(80) % 4).astype(str)  # four groups of 20 < 30 rows
    result = fairness.assess_column("g", values, y, pred, score, FairnessSettings(bootstrap=20), seed=0)
    assert result["status"] == fairness.INSUFFICIENT and not result["passed"]
    assert np.isnan(result["demographic_parity_ratio"]) and np.isnan(result["equalized_odds_difference"])
    assert result["demographic_parity_ratio_ci"] == [None, None]
    assert fairness.fairness_gate([result]) == fairness.INSUFFICIENT
    assert len([f for f in result["findings"] if "insufficient evidence" in f]) == 4


def test_fairness_table_says_na_not_below_without_a_ratio():
    from kit.explain import display

    group, y, pred, score = _population(80, seed=1, bias=0.0)
    values = pd.Series(np.arange(80) % 4).astype(str)
    result = fairness.assess_column("g", values, y, pred, score, FairnessSettings(bootstrap=0), seed=0)
    fair = {"columns": [result], "gate": fairness.fairness_gate([result])}
    row = display.fairness_table(fair).iloc[0]
    assert row["min (0.8)"] == "n/a" and row["status"] == fairness.INSUFFICIENT
    import matplotlib

    matplotlib.use("Agg")
    fig = display.fairness_chart(fair, type("Inputs", (), {"out_dir": None})())
    assert "here n/a (insufficient evidence)" in fig.axes[1].get_title() and "nan" not in fig.axes[1].get_title()


@pytest.mark.parametrize(("value", "limit", "text"), [
    (0.1049, 0.1, "0.105"),  # Adult's equalized odds difference: '0.10 is above 0.10' before
    (0.7951, 0.8, "0.795"), (0.35, 0.8, "0.35"), (0.10004, 0.1, "0.10004"), (0.100004, 0.1, "0.100004"),
])
def test_a_finding_prints_its_value_apart_from_the_limit(value: float, limit: float, text: str) -> None:
    from kit.explain.fairness import apart

    assert apart(value, limit) == text
