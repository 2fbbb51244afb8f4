"""Phase 3 for regression and multiclass: exact SHAP, reason codes in the target's units, fairness, review queue."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import task_models as tm
from kit.errors import DataError
from kit.explain import shapley
from kit.explain.reasons import reason_codes, reason_text

ALGORITHMS = ["xgboost", "lightgbm"]


# ---- exact SHAP ------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_regression_shap_adds_up_to_the_prediction_in_target_units(algorithm):
    booster, data = tm.model("bike", algorithm)
    rows = data.X_test.iloc[:800]
    exact = shapley.exact_contributions(booster, rows)
    prediction = tm.predict(booster, rows)
    np.testing.assert_allclose(exact.margin, prediction, atol=1e-3)  # rentals, not log-odds
    assert prediction.mean() > 50  # hourly rentals: the units are counts
    assert exact.values["hr"].abs().mean() > 20  # the hour of day moves demand by dozens of rentals


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_regression_shap_equals_treeexplainer(algorithm):
    booster, data = tm.model("bike", algorithm)
    rows = data.X_test.iloc[:150]
    exact = shapley.exact_contributions(booster, rows)
    reference = shapley.treeexplainer_contributions(booster, rows)
    np.testing.assert_allclose(exact.values.to_numpy(), reference.values.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(exact.base, reference.base, atol=1e-3)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_multiclass_shap_adds_up_to_each_class_margin(algorithm):
    booster, data = tm.model("maintenance", algorithm)
    rows = data.X_test.iloc[:600]
    exact = shapley.exact_class_contributions(booster, rows, data.classes)
    assert len(exact.per_class) == len(data.classes) == 6
    np.testing.assert_allclose(exact.margin, shapley.margin(booster, rows), atol=1e-4)
    proba = tm.predict(booster, rows)
    softmax = np.exp(exact.margin) / np.exp(exact.margin).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, proba, atol=1e-5)
    np.testing.assert_array_equal(exact.predicted(), proba.argmax(axis=1))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_multiclass_shap_equals_treeexplainer_per_class(algorithm):
    booster, data = tm.model("maintenance", algorithm)
    rows = data.X_test.iloc[:100]
    exact = shapley.exact_class_contributions(booster, rows)
    reference = shapley.treeexplainer_class_contributions(booster, rows)
    for mine, theirs in zip(exact.per_class, reference.per_class, strict=True):
        np.testing.assert_allclose(mine.values.to_numpy(), theirs.values.to_numpy(), atol=1e-4)
        np.testing.assert_allclose(mine.base, theirs.base, atol=1e-4)


def test_multiclass_contributions_refused_by_the_single_output_path():
    booster, data = tm.model("maintenance", "xgboost")
    with pytest.raises(shapley.ModelFileError, match="exact_class_contributions"):
        shapley.exact_contributions(booster, data.X_test.iloc[:5])


def test_predicted_class_contributions_pick_each_rows_class():
    booster, data = tm.model("maintenance", "lightgbm")
    exact = shapley.exact_class_contributions(booster, data.X_test.iloc[:300], data.classes)
    chosen = exact.predicted()
    local = exact.for_classes(chosen)
    rows = np.arange(300)
    np.testing.assert_allclose(local.margin, exact.margin[rows, chosen], atol=1e-9)
    k = int(chosen[0])
    np.testing.assert_array_equal(local.values.iloc[0].to_numpy(), exact.per_class[k].values.iloc[0].to_numpy())


def test_multiclass_global_importance_sums_mean_abs_over_classes():
    booster, data = tm.model("maintenance", "xgboost")
    exact = shapley.exact_class_contributions(booster, data.X_test, data.classes)
    table = shapley.class_importance(exact).set_index("feature")
    per_class = pd.DataFrame({c: p.values.abs().mean() for c, p in zip(data.classes, exact.per_class)})
    np.testing.assert_allclose(table.loc[per_class.index, "mean_abs_shap"], per_class.sum(axis=1), rtol=1e-12)
    for label in data.classes:
        np.testing.assert_allclose(table.loc[per_class.index, f"class {label}"], per_class[label], rtol=1e-12)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    # torque and rotational speed drive power and overstrain failures in the AI4I simulation
    assert set(table.index[:3]) & {"Torque [Nm]", "Rotational speed [rpm]"}
