"""Regression and multiclass metrics against scikit-learn, their bootstrap, the gates and the leakage screen on task metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from kit.schema import DatasetSpec
from kit.training import gates
from kit.training.metrics import bootstrap_task_metrics, confusion_counts, mape_omitted, task_metrics
from kit.training.quality import quality_report


@st.composite
def multiclass_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..K-1 (not every class need occur) and probability rows."""
    k = draw(st.integers(3, 6))
    n = draw(st.integers(5, 80))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.full(k, draw(st.sampled_from([0.3, 1.0, 5.0]))), n)
    return y, p


@given(multiclass_case())
@settings(max_examples=80, deadline=None)
def test_multiclass_metrics_equal_sklearn(case):
    y, p = case
    k = p.shape[1]
    pred = p.argmax(1)
    m = task_metrics("multiclass", y, p)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
            assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
            recall = skm.recall_score(y, pred, labels=range(k), average=None, zero_division=0)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(k)))
    present = np.bincount(y, minlength=k) > 0
    got = np.array([m[f"recall[{j}]"] for j in range(k)])
    np.testing.assert_allclose(got[present], recall[present])
    assert np.isnan(got[~present]).all()  # a class absent from the labels has no recall (not 0)
    np.testing.assert_array_equal(confusion_counts(y, pred, k), skm.confusion_matrix(y, pred, labels=range(k)))


@given(st.integers(0, 2**31 - 1), st.integers(3, 200), st.floats(1, 100))
@settings(max_examples=80, deadline=None)
def test_regression_metrics_equal_sklearn(seed, n, level):
    rng = np.random.default_rng(seed)
    y = level + rng.gamma(2.0, level, n)  # every target at least `level` away from zero: MAPE is reported
    pred = y + rng.normal(0, level, n)
    m = task_metrics("regression", y, pred)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))


def test_mape_is_omitted_with_a_reason_when_a_target_is_near_zero():
    bikes = pd.read_csv("/work/shared/data/bike_sharing/hour.csv", usecols=["cnt"])["cnt"].to_numpy(dtype="float64")
    why = mape_omitted(bikes)  # hours with a single rental: below 1% of the median (142)
    assert why.startswith(f"MAPE omitted: {int((bikes <= 1.42).sum())} of {len(bikes)} test targets")
    table = bootstrap_task_metrics("regression", bikes, bikes * 1.1, n_boot=20)
    assert list(table.index) == ["rmse", "mae", "r2"] and table.attrs["omitted"] == [why]
    assert np.isnan(task_metrics("regression", bikes, bikes * 1.1)["mape"])
    assert mape_omitted(np.array([5.0, 10.0, 20.0])) is None
    assert mape_omitted(np.array([0.0, 0.0, 1.0])).startswith("MAPE omitted: 2 of 3")


def test_bootstrap_intervals_bracket_the_value_and_are_seeded():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    p = rng.dirichlet(np.ones(4), 400)
    p[np.arange(400), y] += 0.5
    p /= p.sum(1, keepdims=True)
    a = bootstrap_task_metrics("multiclass", y, p, n_boot=150, seed=3)
    b = bootstrap_task_metrics("multiclass", y, p, n_boot=150, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert ((a["low"] <= a["value"]) & (a["value"] <= a["high"])).all()
    assert (a["high"] - a["low"]).loc["accuracy"] == pytest.approx(2 * 1.96 * np.sqrt(0.6 * 0.4 / 400), rel=0.35)


def test_gates_on_task_metrics():
    # RMSE: lower is better, in both the baseline and the no-regression gate
    assert gates.baseline_gate(100.0, 180.0, "ridge", 0.0, "rmse")["passed"]
    assert not gates.baseline_gate(190.0, 180.0, "ridge", 0.0, "rmse")["passed"]
    assert gates.best_baseline(pd.Series({"mean": 240.0, "ridge": 180.0}), "rmse") == ("ridge", 180.0)
    assert not gates.regression_gate(101.0, 100.0, "3", 0.5, "rmse")["passed"]
    assert gates.regression_gate(0.61, 0.60, "3", 0.005, "macro_f1")["passed"]
    # KPI names of every task are accepted; a KPI of another task fails with the task's metric names
    kpi = gates.pilot_kpi({"kpi": {"kpi_metric": "RMSE", "kpi_threshold": 120}})
    assert kpi == {"metric": "rmse", "threshold": 120.0}
    assert gates.kpi_gate(kpi, {"rmse": 104.0, "mae": 70.0})["passed"]
    assert not gates.kpi_gate(kpi, {"rmse": 130.0})["passed"]
    wrong = gates.kpi_gate({"metric": "roc_auc", "threshold": 0.8}, {"rmse": 104.0, "mae": 70.0, "r2": 0.7})
    assert not wrong["passed"] and "not a metric of this task (its metrics: ['mae', 'r2', 'rmse'])" in wrong["reason"]
    assert gates.pilot_kpi({"kpi": {"kpi_metric": "revenue", "kpi_threshold": 1}}) is None


def test_test_evidence_per_task():
    regression = gates.test_evidence_gate(np.linspace(0, 1, 99), 100, 10, "regression")
    assert not regression["passed"] and regression["reason"].startswith("99 test rows; promotion needs at least 100")
    y = np.array([0] * 200 + [1] * 12 + [2] * 3)
    multi = gates.test_evidence_gate(y, 100, 10, "multiclass", ["none", "jam", "fire"])
    assert not multi["passed"] and "too few of class(es) 'fire' (3)" in multi["reason"] and "'jam'" not in multi["reason"]
    # a class with no test row at all is named too
    missing = gates.test_evidence_gate(np.array([0] * 200 + [1] * 12), 100, 10, "multiclass", ["none", "jam", "fire"])
    assert "'fire' (0)" in missing["reason"]
    assert gates.test_evidence_gate(np.array([0] * 200 + [1] * 12 + [2] * 10), 100, 10, "multiclass", ["a", "b", "c"])["passed"]


def _spec(columns: list[str]) -> DatasetSpec:
    """A dataset spec for a frame built in the test."""
    return DatasetSpec(path="x.csv", target="y")


def test_leakage_screen_uses_the_task_metric():
    rng = np.random.default_rng(0)
    n = 3000
    honest = rng.normal(size=n)
    y = 50 + 10 * honest + rng.normal(0, 10, n)
    frame = pd.DataFrame({"honest": honest, "noise": rng.normal(size=n), "copy": y + rng.normal(0, 0.5, n), "y": y})
    report = quality_report(frame, _spec(list(frame)), ["honest", "noise", "copy"], y, task="regression")
    scores = report.leakage.set_index("feature")["single_feature_r2"]
    assert scores["copy"] > 0.98 and 0.3 < scores["honest"] < 0.6 and abs(scores["noise"]) < 0.02
    assert "copy" in report.excluded and "single-feature R²" in report.excluded["copy"]
    # multiclass: a code recorded with the outcome identifies the class exactly (macro F1 1); a flag that pins one
    # rare class is only a warning
    labels = rng.choice(3, n, p=[0.9, 0.05, 0.05])
    frame = pd.DataFrame({"code": pd.Categorical(np.array(["a", "b", "c"])[labels]), "flag": (labels == 2).astype(float),
                          "noise": rng.normal(size=n), "y": labels})
    report = quality_report(frame, _spec(list(frame)), ["code", "flag", "noise"], labels, task="multiclass", classes=["ok", "jam", "fire"])
    table = report.leakage.set_index("feature")
    assert table.loc["code", "single_feature_macro_f1"] == 1.0 and "code" in report.excluded
    assert table.loc["flag", "suspected"] and not table.loc["flag", "flagged"] and "flag" not in report.excluded
    assert any("identifies class 'fire'" in n for n in report.notes)
    assert table.loc["noise", "single_feature_macro_f1"] == pytest.approx(skm.f1_score(labels, np.zeros(n), average="macro"), abs=0.02)
