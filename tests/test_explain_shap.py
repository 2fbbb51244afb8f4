"""Exact SHAP: the boosters' own contributions equal shap.TreeExplainer, add up to the margin, and rank stably."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.errors import DataError
from kit.explain import shapley
from kit.explain.reasons import reason_codes, reason_text

from test_explain_fixtures import telco_model  # noqa: F401  (fixture)


@pytest.mark.parametrize("telco_model", ["xgboost", "lightgbm"], indirect=True)
def test_exact_contributions_equal_treeexplainer(telco_model):
    model, X, _ = telco_model
    rows = model.prepare(X.iloc[:300])
    exact = shapley.exact_contributions(model.booster, rows)
    reference = shapley.treeexplainer_contributions(model.booster, rows)
    np.testing.assert_allclose(exact.values.to_numpy(), reference.values.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(exact.base, reference.base, atol=1e-5)


@pytest.mark.parametrize("telco_model", ["xgboost", "lightgbm"], indirect=True)
def test_additivity_contributions_plus_base_equal_margin(telco_model):
    model, X, _ = telco_model
    rows = model.prepare(X)
    exact = shapley.exact_contributions(model.booster, rows)
    np.testing.assert_allclose(exact.margin, model.margin(X), atol=1e-4)
    np.testing.assert_allclose(shapley.margin(model.booster, rows), model.margin(X), atol=1e-5)


@pytest.mark.parametrize("telco_model", ["xgboost"], indirect=True)
def test_categorical_feature_gets_contributions(telco_model):
    model, X, _ = telco_model
    exact = shapley.exact_contributions(model.booster, model.prepare(X.iloc[:500]))
    assert "Contract" in model.categories
    assert exact.values["Contract"].abs().mean() > 0.05  # contract type is a strong churn driver


def test_normalise_shap_output_shapes():
    values = np.arange(6, dtype=float).reshape(3, 2)
    for raw, ev in [(values, 0.5), ([-values, values], [-0.5, 0.5]), (np.stack([-values, values], axis=2), [-0.5, 0.5])]:
        out, base = shapley.normalise_shap_output(raw, ev, 3)
        np.testing.assert_array_equal(out, values)
        np.testing.assert_array_equal(base, [0.5, 0.5, 0.5])


@pytest.mark.parametrize("telco_model", ["xgboost"], indirect=True)
def test_global_importance_and_stability(telco_model):
    model, X, _ = telco_model
    exact = shapley.exact_contributions(model.booster, model.prepare(X))
    table = shapley.global_importance(exact)
    expected = exact.values.abs().mean().sort_values(ascending=False)
    assert table["feature"].tolist()[:3] == expected.index.tolist()[:3]
    assert table["share"].sum() == pytest.approx(1.0)
    stab = shapley.importance_stability(exact, seed=1)
    assert stab["spearman"] > 0.8 and 0 <= stab["top_k_overlap"] <= 1
    assert stab == shapley.importance_stability(exact, seed=1)  # seeded


def test_stability_of_identical_halves_is_perfect():
    values = pd.DataFrame(np.tile([[3.0, -2.0, 1.0, 0.5]], (10, 1)), columns=list("abcd"))
    stab = shapley.importance_stability(shapley.Contributions(values, np.zeros(10)), seed=0)
    assert stab["spearman"] == pytest.approx(1.0) and stab["kendall"] == pytest.approx(1.0)
    assert stab["top_k_overlap"] == 1.0


def test_sample_size_follows_budget_and_bounds():
    assert shapley.sample_size(2.0, 0.001, 100_000, 200, 20_000) == 2000
    assert shapley.sample_size(100.0, 0.001, 100_000, 200, 20_000) == 20_000
    assert shapley.sample_size(0.01, 0.001, 100_000, 200, 20_000) == 200
    assert shapley.sample_size(2.0, 0.001, 150, 200, 20_000) == 150
    positions = shapley.sample_positions(1000, 100, seed=3)
    assert len(set(positions)) == 100 and np.array_equal(positions, shapley.sample_positions(1000, 100, seed=3))


@pytest.mark.parametrize("telco_model", ["xgboost", "lightgbm"], indirect=True)
def test_model_files_round_trip_and_bad_files(telco_model, tmp_path: Path):
    model, X, _ = telco_model
    directory = model.save(tmp_path / "m")
    loaded = shapley.load_booster(next(p for p in directory.iterdir() if p.name.startswith("model.")))
    assert shapley.booster_kind(loaded) == model.algorithm
    bad = tmp_path / "model.pkl"
    bad.write_bytes(b"\x80\x04\x95 pickled")
    with pytest.raises(shapley.ModelFileError, match="not a supported model file"):
        shapley.load_booster(bad)
    with pytest.raises(shapley.ModelFileError, match="not supported"):
        shapley.booster_kind(object())


@pytest.mark.parametrize("telco_model", ["xgboost"], indirect=True)
def test_missing_feature_is_a_clear_error(telco_model):
    model, X, _ = telco_model
    with pytest.raises(DataError, match="tenure"):
        shapley.exact_contributions(model.booster, model.prepare(X).drop(columns=["tenure"]))


def test_reason_codes_known_values():
    values = pd.DataFrame({"a": [0.5, -0.1], "b": [-0.9, 0.2], "c": [0.1, 0.05]}, index=[10, 11])
    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [3, 4]}, index=[10, 11])
    table = reason_codes(shapley.Contributions(values, np.array([0.0, 1.0])), X, top_k=2)
    assert table["reason_1"].tolist() == ["b", "b"]
    assert table["reason_2"].tolist() == ["a", "a"]
    assert table["reason_1_direction"].tolist() == ["lowers", "raises"]
    assert table["reason_1_value"].tolist() == ["x", "y"]
    assert table["margin"].tolist() == pytest.approx([-0.3, 1.15])
    assert reason_text(table, 2).iloc[0] == "b=x lowers (-0.900); a=1.0 raises (+0.500)"
