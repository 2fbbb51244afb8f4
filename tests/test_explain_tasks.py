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


# ---- review queue: split conformal (regression), top-two margin (multiclass) -------------------------
from kit.explain import review  # noqa: E402


def test_conformal_quantile_known_values():
    scores = np.arange(1.0, 10.0)  # 9 calibration scores
    assert review.conformal_quantile(scores, 0.9) == 9.0  # ceil(10 * 0.9) = 9th smallest
    assert review.conformal_quantile(scores[::-1], 0.8) == 8.0
    assert review.conformal_quantile(scores, 0.5) == 5.0
    assert review.conformal_quantile(scores[:5], 0.9) == np.inf  # ceil(6 * 0.9) = 6 > 5 scores


def _intervals(name: str, coverage: float, seed: int = 0):
    booster, data = tm.model(name, "lightgbm")
    residuals = data.y_valid - tm.predict(booster, data.X_valid)
    calibration = review.calibrate_intervals(data.X_valid, residuals, coverage, seed)
    return review.prediction_intervals(calibration, data.X_test, tm.predict(booster, data.X_test)), data, calibration


@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_conformal_coverage_on_held_out_rows_is_near_nominal(coverage):
    intervals, data, calibration = _intervals("adult_hours", coverage)
    assert calibration["model"] is not None and calibration["calibration_rows"] == 1200
    measured = review.interval_coverage(intervals, data.y_test)  # 2,400 test rows never used for the interval
    assert abs(measured - coverage) < 0.035, measured
    assert intervals["width"].nunique() > 100  # locally weighted: rows get their own width


def test_plain_conformal_gives_one_width_and_the_finite_sample_quantile():
    booster, data = tm.model("adult_hours", "lightgbm")
    residuals = (data.y_valid - tm.predict(booster, data.X_valid))[:150]
    calibration = review.calibrate_intervals(data.X_valid.iloc[:150], residuals, 0.9, 0)
    assert calibration["model"] is None
    assert calibration["q"] == np.sort(np.abs(residuals))[int(np.ceil(151 * 0.9)) - 1]
    intervals = review.prediction_intervals(calibration, data.X_test, tm.predict(booster, data.X_test))
    np.testing.assert_allclose(intervals["width"], 2 * calibration["q"])
    assert abs(review.interval_coverage(intervals, data.y_test) - 0.9) < 0.04


def test_too_few_validation_rows_for_an_interval_is_a_clear_error():
    booster, data = tm.model("adult_hours", "lightgbm")
    with pytest.raises(DataError, match="validation rows are too few"):
        review.calibrate_intervals(data.X_valid.iloc[:10], np.ones(10), 0.9, 0)


def test_widest_intervals_hold_the_largest_errors_on_bike_demand():
    intervals, data, _ = _intervals("bike", 0.9)
    error = np.abs(data.y_test - intervals["prediction"].to_numpy())
    size = review.queue_size(0.05, len(error))
    positions = review.uncertain_positions(intervals["width"].to_numpy(), size)
    summary = review.ranked_summary(error, positions, "absolute error")
    assert summary["size"] == size == 174
    assert summary["error_in"] > 2 * summary["error_out"]  # the widest 5% are where the model misses most
    assert intervals["width"].iloc[positions].min() >= intervals["width"].drop(intervals.index[positions]).max()


def test_top_two_margin_known_values_and_queue_catches_multiclass_errors():
    proba = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(review.top_two_margin(proba), [0.2, 0.01, 0.7])
    booster, data = tm.model("adult_marital", "xgboost")
    proba = tm.predict(booster, data.X_test)
    errors = (proba.argmax(axis=1) != data.y_test).astype(float)
    margin = review.top_two_margin(proba)
    positions = review.uncertain_positions(-margin, review.queue_size(0.1, len(margin)))
    assert margin[positions].max() <= np.delete(margin, positions).min()
    summary = review.ranked_summary(errors, positions, "error rate")
    assert summary["error_in"] > 2 * summary["error_out"]


def test_ranked_curve_equals_direct_masks():
    rng = np.random.default_rng(4)
    uncertainty, error = rng.random(97), rng.random(97)
    curve = review.ranked_curve(uncertainty, error, np.array([0.0, 0.1, 0.5, 1.0]))
    for row in curve.itertuples():
        queued = np.zeros(97, dtype=bool)
        queued[np.argsort(-uncertainty)[: row.queue_size]] = True
        assert row.queue_size == review.queue_size(row.queue_share, 97) if row.queue_share else row.queue_size == 0
        if queued.any():
            assert row.error_in == pytest.approx(error[queued].mean())
        if (~queued).any():
            assert row.error_out == pytest.approx(error[~queued].mean())


# ---- fairness: MetricFrame figures per task -------------------------------------------------------------
from sklearn.metrics import accuracy_score, mean_absolute_error  # noqa: E402

from kit.explain import fairness  # noqa: E402
from kit.explain.config import FairnessSettings  # noqa: E402


def _regression_fairness(column: str, bootstrap: int = 200):
    booster, data = tm.model("adult_hours", "lightgbm")
    prediction = tm.predict(booster, data.X_test)
    result = fairness.assess_task_column("regression", column, data.raw_test[column], data.y_test, prediction, None,
                                         FairnessSettings(bootstrap=bootstrap), seed=3)
    return result, data, prediction


def test_regression_group_mae_and_mean_prediction_match_sklearn():
    result, data, prediction = _regression_fairness("sex")
    table = result["groups"].set_index("group")
    for group in ("Female", "Male"):
        mask = (data.raw_test["sex"] == group).to_numpy()
        assert table.loc[group, "count"] == mask.sum()
        assert table.loc[group, "mae"] == pytest.approx(mean_absolute_error(data.y_test[mask], prediction[mask]))
        assert table.loc[group, "mean_prediction"] == pytest.approx(prediction[mask].mean())
        assert table.loc[group, "mean_actual"] == pytest.approx(data.y_test[mask].mean())
        assert table.loc[group, "mae_low"] <= table.loc[group, "mae"] <= table.loc[group, "mae_high"]
    mae = table["mae"]
    assert result["figures"]["mae_ratio"] == pytest.approx(mae.max() / mae.min())
    bias = table["mean_error"]
    overall = mean_absolute_error(data.y_test, prediction)
    assert result["figures"]["mean_error_gap"] == pytest.approx((bias.max() - bias.min()) / overall)
    low, high = result["figures_ci"]["mae_ratio"]
    assert low <= result["figures"]["mae_ratio"] <= high
    assert result["status"] in (fairness.PASSED, fairness.FAILED)
    assert result["limits"] == {"mae_ratio": 1.25, "mean_error_gap": 0.25}


def test_regression_small_groups_are_insufficient_evidence_and_named():
    result, data, _ = _regression_fairness("race", bootstrap=0)
    table = result["groups"].set_index("group")
    small = table.index[table["count"] < 30].tolist()
    assert small and (table.loc[small, "evidence"] == fairness.INSUFFICIENT).all()
    assert all(any(repr(g) in f for f in result["findings"]) for g in small)
    judged = table[table["count"] >= 30]["mae"]
    assert result["figures"]["mae_ratio"] == pytest.approx(judged.max() / judged.min())


def test_regression_rule_fails_a_group_whose_errors_are_doubled():
    rng = np.random.default_rng(0)
    group = pd.Series(np.repeat(["a", "b"], 400), name="g")
    actual = rng.normal(40, 10, 800)
    noise = rng.normal(0, 5, 800) * np.where(group == "b", 2.0, 1.0)
    result = fairness.assess_task_column("regression", "g", group, actual, actual + noise, None,
                                         FairnessSettings(bootstrap=0), seed=0)
    assert result["status"] == fairness.FAILED
    assert result["figures"]["mae_ratio"] == pytest.approx(2.0, abs=0.25)
    assert any(f.startswith("MAE ratio") and "above 1.25" in f for f in result["findings"])
    fair = fairness.assess_task_column("regression", "g", group, actual, actual + rng.normal(0, 5, 800), None,
                                       FairnessSettings(bootstrap=0), seed=0)
    assert fair["status"] == fairness.PASSED


def test_multiclass_group_accuracy_and_class_selection_rates_match_sklearn():
    booster, data = tm.model("adult_marital", "xgboost")
    predicted = tm.predict(booster, data.X_test).argmax(axis=1)
    result = fairness.assess_task_column("multiclass", "sex", data.raw_test["sex"], data.y_test, predicted,
                                         data.classes, FairnessSettings(bootstrap=100), seed=1)
    table = result["groups"].set_index("group")
    for group in ("Female", "Male"):
        mask = (data.raw_test["sex"] == group).to_numpy()
        assert table.loc[group, "accuracy"] == pytest.approx(accuracy_score(data.y_test[mask], predicted[mask]))
        for k, label in enumerate(data.classes):
            assert table.loc[group, f"selection_rate[{label}]"] == pytest.approx(np.mean(predicted[mask] == k))
        assert table.loc[group, "accuracy_low"] <= table.loc[group, "accuracy"] <= table.loc[group, "accuracy_high"]
    assert result["figures"]["accuracy_difference"] == pytest.approx(table["accuracy"].max() - table["accuracy"].min())
    rates = table[[f"selection_rate[{c}]" for c in result["judged_classes"]]]
    assert result["figures"]["selection_rate_ratio"] == pytest.approx((rates.min() / rates.max()).min())
    # in the 1994 census file far fewer women than men are recorded as married: the four-fifths rule fails
    assert result["status"] == fairness.FAILED
    assert any("selection-rate ratio" in f for f in result["findings"])


def test_bootstrap_group_means_equal_a_direct_resample():
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 3, 50)
    values = {"x": rng.random(50), "y": rng.random(50)}
    draws = fairness.bootstrap_group_means(values, codes, 3, 4, seed=5, max_cells=100)  # chunks of two draws
    again = np.random.default_rng(5)
    for b in range(4):
        if b % 2 == 0:
            idx_chunk = again.integers(0, 50, size=(2, 50))
        idx = idx_chunk[b % 2]
        for g in range(3):
            picked = idx[codes[idx] == g]
            assert draws["x"][b, g] == pytest.approx(values["x"][picked].mean())
            assert draws["y"][b, g] == pytest.approx(values["y"][picked].mean())


# ---- phase 3 end to end on ScoringModels of each task (the notebook's steps, in order) -----------------------
import json  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from kit.artifacts import write_artifact  # noqa: E402
from kit.explain import display, phase  # noqa: E402
from kit.explain.config import ExplainSection  # noqa: E402
from kit.schema import DatasetSpec  # noqa: E402
from kit.training.scoring import ScoringModel  # noqa: E402

TASK_CASES = {"regression": ("adult_hours", "lightgbm", "hours-per-week"), "multiclass": ("adult_marital", "xgboost", "marital")}


def scoring_model(name: str, algorithm: str, task: str, target: str) -> tuple[ScoringModel, tm.TaskData]:
    """The directly trained booster wrapped as phase 2 saves it (features, category levels, task, classes)."""
    booster, data = tm.model(name, algorithm)
    categories = {c: list(data.X_train[c].cat.categories) for c in data.X_train.columns
                  if isinstance(data.X_train[c].dtype, pd.CategoricalDtype)}
    model = ScoringModel(algorithm, booster, list(data.X_train.columns), categories, target=target, task=task,
                         classes=data.classes, positive_class=None, negative_class=None)
    return model, data


def task_inputs(task: str, out_dir, tier: str = "medium", **settings) -> phase.ExplainInputs:
    """ExplainInputs as load_inputs builds them, for a regression or multiclass champion on real test rows."""
    name, algorithm, target = TASK_CASES[task]
    model, data = scoring_model(name, algorithm, task, target)
    X = data.X_test.copy()
    spec = DatasetSpec(path=str(tm.SHARED / "adult" / "adult.data"), target=target, sensitive=["sex", "race"])
    config = SimpleNamespace(organization=SimpleNamespace(name="Census", owner="Data team"), monitoring=None, dataset=spec)
    explain = ExplainSection.model_validate({"time_budget_seconds": 0.5, "min_sample_rows": 200, "max_sample_rows": 400,
                                             "fairness": {"bootstrap": 60}, **settings})
    metric = "rmse" if task == "regression" else "macro_f1"
    return phase.ExplainInputs(
        model=model, X=X, prepared=model.prepare(X), y=phase.encoded_y(data.y_test, task),
        proba=phase.model_output(model, X, task), ids=phase.row_ids(X, []), threshold=0.5,
        champion={"model_name": f"adult-{task}", "version": "1", "metrics": {metric: {"value": 1.0, "low": 0.9, "high": 1.1}}},
        training={"task": {"task": task, "reason": "set in the test", "metric": metric}}, spec=spec, tier=tier,
        tier_source="test", settings=explain, seed=7, out_dir=out_dir / "explain", config=config, task=task,
        valid=(data.X_valid, phase.encoded_y(data.y_valid, task)),
    )


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_phase3_steps_end_to_end(task, tmp_path):
    inputs = task_inputs(task, tmp_path, tier="high", review={"share": 0.05})
    display.inputs_summary(inputs)
    glob = phase.explain_global(inputs)
    sample = inputs.prepared.iloc[glob.positions]
    if task == "regression":  # base + contributions = the prediction, in hours per week
        np.testing.assert_allclose(glob.contributions.margin, inputs.proba[glob.positions], atol=1e-3)
    else:  # each row's contributions add up to its predicted class's raw score
        raw = shapley.margin(inputs.model.booster, sample)
        np.testing.assert_allclose(glob.contributions.margin, raw.max(axis=1), atol=1e-4)
        assert {f"class {c}" for c in inputs.classes} <= set(glob.importance.columns)
    for figure in (display.importance_table(glob), display.stability_figure(glob, inputs), display.beeswarm(glob, inputs),
                   display.dependence(glob, inputs)):
        assert figure is not None
    local = phase.local_explanations(inputs)
    display.waterfalls(local, inputs)
    reasons = phase.export_reason_codes(inputs)
    assert reasons.rows == len(inputs.y)  # high tier: every scored row
    if task == "regression":
        assert reasons.table["reasons"].str.contains(r"^[+-][\d,.]+ hours-per-week because ", regex=True).all()
    else:
        assert set(reasons.table["predicted"]) <= set(inputs.classes)
        first = reasons.table.iloc[0]
        assert first["reasons"].startswith(f"towards {first['predicted']}: {first['reason_1']}=")
    display.reason_sample(reasons)
    fair = phase.assess_fairness(inputs)
    assert [c["column"] for c in fair["columns"]] == ["sex", "race"]
    table = display.fairness_table(fair).set_index("column")
    for name, limit in fair["columns"][0]["limits"].items():  # every figure beside its own limit
        assert table.filter(like=f"{name} m").loc["sex"].iloc[0] == limit
    display.group_table(fair), display.fairness_chart(fair, inputs)
    phase.check_sensitive_inputs(inputs, fair)  # sex and race are inputs here: named in the findings
    assert any("is a model input" in f for f in fair["columns"][0]["findings"])
    queue = phase.build_review_queue(inputs, reasons)
    s = queue["summary"]
    assert s["size"] == review.queue_size(0.05, len(inputs.y))
    assert s["error_in"] > s["error_out"]  # the queue holds the rows the model gets most wrong
    written = pd.read_csv(s["path"])
    assert len(written) == s["size"] and "reason_1" in written.columns
    if task == "regression":
        assert abs(s["interval"]["coverage_test"] - 0.9) < 0.04
        assert (written["interval_width"].diff().dropna() <= 1e-9).all()  # widest first
    else:
        assert (written["margin"].diff().dropna() >= -1e-9).all()  # smallest margin first
    display.queue_curve(queue, inputs), phase.review_errors(queue)
    gate = phase.check_tier(inputs, glob, reasons, fair, queue)
    assert gate["status"] == "passed"
    facts = phase.model_card_facts(inputs, glob, reasons, fair, queue, gate)
    assert facts["model_details"]["task"] == task
    assert facts["metrics"][0]["metric"] == ("rmse" if task == "regression" else "macro_f1")
    card = phase.write_model_card(inputs, facts)
    assert f"**task**: {task}" in open(card["paths"]["markdown"], encoding="utf-8").read()
    artifact = phase.explain_artifact(inputs, glob, reasons, fair, {"recorded": False}, queue, gate, card)
    path = write_artifact(tmp_path, "explain", artifact)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["task"]["task"] == task and written["fairness_gate"] == fair["gate"]
    assert written["fairness"]["sex"]["limits"]


@pytest.mark.parametrize("unit", [None, "cnt"])
def test_reason_text_names_a_missing_value_instead_of_losing_the_row(unit):
    values = pd.DataFrame({"hr": [17.0, np.nan], "temp": [0.3, 0.5]}, index=[4, 9])
    contribs = shapley.Contributions(pd.DataFrame({"hr": [12.34, -3.0], "temp": [1.0, 0.004567]}, index=[4, 9]), np.array([100.0, 100.0]))
    table = reason_codes(contribs, values, top_k=2)
    text = reason_text(table, 2, unit=unit)
    assert text.notna().all()
    if unit:
        assert text.tolist() == ["+12.3 cnt because hr=17.0; +1.00 cnt because temp=0.3",
                                 "-3.00 cnt because hr=missing; +0.00457 cnt because temp=0.5"]
    else:
        assert text.iloc[1] == "hr=missing lowers (-3.000); temp=0.5 raises (+0.005)"


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_notebook_03_runs_on_a_regression_and_a_multiclass_run(task, tmp_path):
    from pathlib import Path

    from conftest import execute_notebook
    from task_runs import TASK_RUNS

    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "03_explainability.ipynb"
    config = TASK_RUNS.copy(tmp_path / task, task)
    execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="kit", cwd=str(notebook.parent),
                     parameters={"config_path": str(config), "run_dir": str(config.parent), "interactive": False},
                     progress_bar=False)
    artifact = json.loads((config.parent / "artifacts" / "explain.json").read_text())
    assert artifact["task"]["task"] == task and len(artifact["figures"]) == 6
    assert artifact["headline"]["Review queue"].startswith(f"{artifact['review_queue']['size']} rows")
    assert artifact["promotion"]["metric"]["metric"] == ("rmse" if task == "regression" else "macro_f1")
