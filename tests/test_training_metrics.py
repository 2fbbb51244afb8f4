"""Metrics equal scikit-learn's; bootstrap intervals are seeded and sane; thresholds are optimal."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from kit.errors import DataError
from kit.training.metrics import (
    bootstrap_metrics,
    business_value,
    choose_threshold,
    compute_metrics,
    metric_matrix,
    metric_name,
)


def sklearn_metrics(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, float]:
    """The reference values."""
    pred = (p >= t).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, p),
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=4, max_size=80),
    st.sampled_from([0.2, 0.5, 0.7]),
)
def test_metrics_equal_sklearn_with_ties(pairs: list[tuple[int, int]], t: float) -> None:
    y = np.array([a for a, _ in pairs])
    p = np.array([b / 20 for _, b in pairs])  # coarse grid: many ties, 0 and 1 included
    if y.min() == y.max():
        y[0] = 1 - y[0]
    ours = compute_metrics(y, p, t)
    for name, ref in sklearn_metrics(y, p, t).items():
        assert ours[name] == pytest.approx(ref, abs=1e-12), name


def test_confusion_counts_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 500), rng.random(500)
    tn, fp, fn, tp = skm.confusion_matrix(y, p >= 0.4).ravel()
    m = compute_metrics(y, p, 0.4)
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)


def test_matrix_rows_equal_sklearn_per_resample() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    idx = rng.integers(0, 300, size=(5, 300))
    out = metric_matrix(y[idx], p[idx], 0.5)
    for b in range(5):
        ref = sklearn_metrics(y[idx[b]], p[idx[b]], 0.5)
        assert out["roc_auc"][b] == pytest.approx(ref["roc_auc"])
        assert out["pr_auc"][b] == pytest.approx(ref["pr_auc"])
        assert out["f1"][b] == pytest.approx(ref["f1"])


def test_bootstrap_is_seeded_and_brackets_the_point() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 800)
    p = np.clip(0.3 * y + rng.random(800) * 0.7, 0, 1)
    a = bootstrap_metrics(y, p, 0.5, n_boot=200, seed=7)
    b = bootstrap_metrics(y, p, 0.5, n_boot=200, seed=7)
    c = bootstrap_metrics(y, p, 0.5, n_boot=200, seed=8)
    assert a.equals(b)
    assert not a.equals(c)
    assert (a["low"] <= a["value"]).all() and (a["value"] <= a["high"]).all()
    assert a.loc["roc_auc", "value"] == pytest.approx(skm.roc_auc_score(y, p))
    # a wider interval with fewer rows
    small = bootstrap_metrics(y[:100], p[:100], 0.5, n_boot=200, seed=7)
    assert (small.loc["roc_auc", "high"] - small.loc["roc_auc", "low"]) > (a.loc["roc_auc", "high"] - a.loc["roc_auc", "low"])


def test_threshold_minimizes_cost_brute_force() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    p = np.round(np.clip(0.35 * y + rng.random(400) * 0.65, 0, 1), 3)
    costs = {"false_positive": 1.0, "false_negative": 5.0}
    chosen = choose_threshold(y, p, costs)
    grid = np.unique(p)
    brute = min(((p[:, None] >= grid) & (y[:, None] == 0)).sum(0) * 1 + ((p[:, None] < grid) & (y[:, None] == 1)).sum(0) * 5)
    assert chosen["value"] == brute
    m = compute_metrics(y, p, chosen["threshold"])
    assert m["fp"] * 1 + m["fn"] * 5 == brute
    # costlier misses push the threshold down
    assert chosen["threshold"] <= choose_threshold(y, p, {"false_positive": 5.0, "false_negative": 1.0})["threshold"]


def test_threshold_maximizes_f1_without_costs() -> None:
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    chosen = choose_threshold(y, p)
    best = max(skm.f1_score(y, p >= t) for t in np.unique(p))
    assert chosen["value"] == pytest.approx(best)
    assert skm.f1_score(y, p >= chosen["threshold"]) == pytest.approx(best)


def test_business_value_known_case() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.2, 0.8, 0.1, 0.1])
    v = business_value(y, p, 0.5, {"false_positive": 1, "false_negative": 5})
    assert v["cost_model"] == 1 + 5
    assert v["cost_act_on_nobody"] == 10 and v["cost_act_on_everybody"] == 3
    assert v["saving_vs_best_default"] == 3 - 6


def test_metric_aliases_and_unknown() -> None:
    assert metric_name("average_precision") == "pr_auc"
    assert metric_name("AUC") == "roc_auc"
    with pytest.raises(DataError, match="unknown"):
        metric_name("revenue")
