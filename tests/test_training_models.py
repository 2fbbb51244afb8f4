"""Leakage screen, gates, the candidate pipeline, one scoring path, reproducibility."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.schema import DatasetSpec
from kit.training import gates
from kit.training.config import TrainingSection
from kit.training.data import encode_target, feature_columns, load_dataset, make_split
from kit.training.metrics import compute_metrics
from kit.training.pipeline import evaluate, select_best, set_thresholds, train_candidates
from kit.training.quality import quality_report
from kit.training.scoring import ScoringModel

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = TrainingSection(max_trees=60, early_stopping_rounds=10, bootstrap=50)


@pytest.fixture(scope="module")
def telco():
    spec = DatasetSpec.model_validate({"path": str(DATA / "telco_churn" / "Telco-Customer-Churn.csv"), "target": "Churn",
                                       "positive_class": "Yes", "id_columns": ["customerID"]})
    with pytest.warns(UserWarning):
        frame = load_dataset(spec)
    y = encode_target(frame["Churn"], "Yes").y
    split = make_split(frame, y, 0.2, 0.2, 42)
    X = frame[feature_columns(frame, spec)]
    return spec, frame, X, y, split


def parts(X, y, split, name):
    idx = split.parts[name]
    return X.iloc[idx], y[idx]


def test_leakage_screen_flags_planted_column(telco) -> None:
    spec, frame, X, y, _ = telco
    rng = np.random.default_rng(0)
    planted = frame.assign(
        refund_code=pd.Categorical(np.where(y == 1, "R", "N")),                   # categorical leak
        days_to_close=np.where(y == 1, 0, 30) + rng.normal(0, 1, len(y)),          # numeric leak
        row_id=np.arange(len(y)),                                                  # id-like
    )
    features = feature_columns(planted, spec)
    report = quality_report(planted, spec, features, y, drop_leaky=True)
    flagged = set(report.leakage.loc[report.leakage["flagged"], "feature"])
    assert flagged == {"refund_code", "days_to_close"}
    assert {"refund_code", "days_to_close", "row_id"} <= set(report.excluded)
    assert report.excluded["row_id"].startswith("id-like")
    kept = quality_report(planted, spec, features, y, drop_leaky=False)
    assert "refund_code" not in kept.excluded and any("kept" in n for n in kept.notes)


def test_leakage_screen_sees_only_the_rows_it_is_given(telco) -> None:
    spec, frame, _, y, split = telco
    test = split.parts["test"]
    # a column that gives the label away on the test rows only: noise everywhere else
    leak = np.random.default_rng(1).normal(size=len(y))
    leak[test] = y[test] * 10.0
    planted = frame.assign(after_the_fact=leak)
    features = feature_columns(planted, spec)
    auc = lambda report: report.leakage.set_index("feature").loc["after_the_fact", "single_feature_auc"]  # noqa: E731
    on_test = quality_report(planted, spec, features, y, rows=test)
    on_train = quality_report(planted, spec, features, y, rows=split.parts["train"])
    assert auc(on_test) == pytest.approx(1.0) and "after_the_fact" in on_test.excluded
    assert auc(on_train) < 0.6 and "after_the_fact" not in on_train.excluded
    everything = quality_report(planted, spec, features, y)
    explicit = quality_report(planted, spec, features, y, rows=np.arange(len(y)))
    pd.testing.assert_frame_equal(everything.leakage, explicit.leakage)


def test_gates_on_constructed_cases() -> None:
    assert gates.baseline_gate(0.85, 0.80, "lr", 0.02)["passed"]
    assert not gates.baseline_gate(0.81, 0.80, "lr", 0.02)["passed"]
    assert gates.regression_gate(0.80, None, None, 0.005)["passed"]
    assert gates.regression_gate(0.846, 0.850, "3", 0.005)["passed"]
    failed = gates.regression_gate(0.84, 0.85, "3", 0.005)
    assert not failed["passed"] and "v3" in failed["reason"]
    kpi = gates.pilot_kpi({"kpi": {"metric": "recall", "threshold": 0.8}})
    assert kpi == {"metric": "recall", "threshold": 0.8}
    assert not gates.kpi_gate(kpi, {"recall": 0.7})["passed"]
    assert gates.kpi_gate({"metric": "log_loss", "threshold": 0.5}, {"log_loss": 0.4})["passed"]
    assert gates.pilot_kpi({"kpi": {"metric": "churn rate", "threshold": 0.1}}) is None
    assert gates.approval_required(None, "high") and not gates.approval_required(None, "medium")
    one_out = [{"column": "tenure", "kind": "out of range", "count": 1}]
    assert gates.contract_gate(False, one_out, rows=200, tolerance=0.01)["passed"]
    assert not gates.contract_gate(False, one_out, rows=50, tolerance=0.01)["passed"]
    assert not gates.contract_gate(False, [{"column": "plan", "kind": "missing column", "count": 1}], 1000, 0.5)["passed"]
    result = {"a": gates.baseline_gate(0.7, 0.6, "lr", 0), "b": gates.baseline_gate(0.5, 0.6, "lr", 0)}
    assert gates.failed(result) == ["b"] and not gates.all_passed(result)


def test_candidates_scoring_path_and_reproducibility(telco, tmp_path: Path) -> None:
    _, frame, X, y, split = telco
    (Xtr, ytr), (Xva, yva), (Xte, yte) = (parts(X, y, split, p) for p in ("train", "valid", "test"))
    first = train_candidates(Xtr, ytr, Xva, yva, SMALL, seed=3, target="Churn", positive_class="Yes", negative_class="No")
    assert [c.name for c in first] == ["majority", "logistic_regression", "xgboost", "lightgbm"]
    set_thresholds(first, yva, None)
    board = evaluate(first, Xte, yte, "roc_auc", yva)
    best = select_best(first, yva)
    assert best.kind == "model"
    lr = board.set_index("candidate").loc["logistic_regression", "roc_auc"]
    assert board.set_index("candidate").loc["majority", "roc_auc"] == 0.5
    assert 0.8 < lr < 0.9
    for cand in first[2:]:
        # the scoring path gives exactly the training-time validation predictions, also after save/load
        assert np.array_equal(cand.model.predict_proba(Xva), cand.valid_proba)
        loaded = ScoringModel.load(cand.model.save(tmp_path / cand.name))
        assert np.array_equal(loaded.predict_proba(frame.iloc[split.parts["test"]]), cand.extra["test_proba"])
        assert np.array_equal(loaded.predict(Xte), (cand.extra["test_proba"] >= cand.threshold).astype(int))
        assert loaded.threshold == cand.threshold and loaded.positive_class == "Yes"
        np.testing.assert_allclose(1 / (1 + np.exp(-loaded.margin(Xte))), cand.extra["test_proba"], rtol=1e-6)
    second = train_candidates(Xtr, ytr, Xva, yva, SMALL, seed=3)
    set_thresholds(second, yva, None)
    again = evaluate(second, Xte, yte, "roc_auc", yva)
    assert again.drop(columns="fit_seconds").equals(board.drop(columns="fit_seconds"))


def test_unseen_category_scores_as_missing(telco) -> None:
    _, _, X, y, split = telco
    (Xtr, ytr), (Xva, yva) = parts(X, y, split, "train"), parts(X, y, split, "valid")
    model = train_candidates(Xtr, ytr, Xva, yva, SMALL.model_copy(update={"algorithms": ["lightgbm"]}), 0, baselines=False)[0].model
    rows = Xva.head(3).copy()
    new = rows.assign(Contract=["Lifetime"] * len(rows))
    missing = rows.assign(Contract=np.nan)
    assert model.prepare(new)["Contract"].isna().all()
    assert np.array_equal(model.predict_proba(new), model.predict_proba(missing))


def tuned_candidate(telco, trials: int, **update):
    """One algorithm's candidate after a seeded search of ``trials`` draws, with its settings and rows."""
    _, _, X, y, split = telco
    (Xtr, ytr), (Xva, yva) = parts(X, y, split, "train"), parts(X, y, split, "valid")
    settings = SMALL.model_copy(update={**update, "tuning": SMALL.tuning.model_copy(update={"trials": trials})})
    cand = train_candidates(Xtr, ytr, Xva, yva, settings, 0, baselines=False)[0]
    return cand, settings, (Xtr, ytr), (Xva, yva)


def test_imbalance_weighting_and_tuning(telco) -> None:
    cand, _, (_, ytr), (_, yva) = tuned_candidate(telco, 2, algorithms=["xgboost"], imbalance="weight")
    assert cand.params["scale_pos_weight"] == pytest.approx((1 - ytr.mean()) / ytr.mean())
    assert cand.trials == 3
    # weighting pushes scores of the rare class up: mean prediction above the base rate
    assert cand.valid_proba.mean() > ytr.mean() + 0.1
    assert compute_metrics(yva, cand.valid_proba)["roc_auc"] > 0.8


def test_infer_categories_keeps_only_levels_seen_in_training() -> None:
    from kit.training.pipeline import infer_categories

    frame = pd.DataFrame({
        "plan": pd.Categorical(["b", "a", None, "b"], categories=["a", "b", "c"]),  # 'c' unused
        "city": pd.Series(["x", None, "w", "x"], dtype="object"),
        "age": [1, 2, 3, 4],
    })
    assert infer_categories(frame) == {"plan": ["a", "b"], "city": ["w", "x"]}
    # the same as pandas' own remove_unused_categories
    assert infer_categories(frame)["plan"] == frame["plan"].cat.remove_unused_categories().cat.categories.tolist()


def test_prepare_features_fast_path_equals_recoding() -> None:
    from kit.training.scoring import prepare_features

    levels = {"plan": ["a", "b"]}
    same = pd.DataFrame({"plan": pd.Categorical(["b", "a", None], categories=["a", "b"]), "n": [1, 2, 3]})
    other = same.assign(plan=pd.Categorical(["b", "a", None], categories=["b", "a", "z"]))  # other order, extra level
    text = same.assign(plan=pd.Series(["b", "a", None], dtype="object"))
    prepared = [prepare_features(f, ["n", "plan"], levels) for f in (same, other, text)]
    for out in prepared:
        assert list(out.columns) == ["n", "plan"] and out["n"].dtype == "float64"
        assert out["plan"].cat.categories.tolist() == ["a", "b"]
        assert out["plan"].cat.codes.tolist() == [1, 0, -1]
    # the prepared frame is its own data: changing it leaves the caller's frame alone
    prepared[0].loc[0, "n"] = 99.0
    assert same.loc[0, "n"] == 1


@pytest.mark.parametrize("cells, read_options, expected", [
    (["1,889.50", "20.5", ""], {"thousands": ",", "decimal": "."}, [1889.5, 20.5, np.nan]),
    (["3,14", "1.234,5", "7"], {"thousands": ".", "decimal": ","}, [3.14, 1234.5, 7.0]),
])
def test_scoring_text_with_separators_names_the_read_option_that_reads_it(tmp_path: Path, cells, read_options,
                                                                           expected) -> None:
    """Production text written with separators: the error gives the read option, and that option scores it."""
    from kit.data import read_table
    from kit.errors import DataError
    from kit.training.scoring import prepare_features

    path = tmp_path / "batch.csv"
    pd.DataFrame({"TotalCharges": cells}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'TotalCharges'.*set read_options.*: " + re.escape(str(read_options))):
        prepare_features(read_table(path), ["TotalCharges"], {})
    got = prepare_features(read_table(path, read_options), ["TotalCharges"], {})["TotalCharges"]
    np.testing.assert_allclose(got.to_numpy(), expected)


def test_scoring_text_names_the_fix_for_its_kind() -> None:
    from kit.errors import DataError
    from kit.training.scoring import prepare_features

    with pytest.raises(DataError, match=r"'1,234'.*separators that read two ways.*1,234.5.*1.234,5"):
        prepare_features(pd.DataFrame({"n": ["1,234", "5"]}), ["n"], {})  # reads two ways
    with pytest.raises(DataError, match=r"2 value\(s\) are not numbers \(e.g. 'abc'\).*clean it or leave those cells empty"):
        prepare_features(pd.DataFrame({"n": ["abc", "1", "n/a"]}), ["n"], {})


def test_selection_reuses_validation_metrics(telco) -> None:
    _, _, X, y, split = telco
    (Xtr, ytr), (Xva, yva) = parts(X, y, split, "train"), parts(X, y, split, "valid")
    cands = train_candidates(Xtr, ytr, Xva, yva, SMALL, 0, baselines=False)
    for cand in cands:
        # cached at training time, equal to a fresh computation, and recomputed for other labels
        assert cand.valid_metrics(yva) == compute_metrics(yva, cand.valid_proba)
        flipped = 1 - yva
        assert cand.valid_metrics(flipped)["roc_auc"] == pytest.approx(1 - cand.valid_metrics(yva)["roc_auc"])
    best = select_best(cands, yva)
    assert best.valid_metrics(yva)["roc_auc"] == max(c.valid_metrics(yva)["roc_auc"] for c in cands)


def test_thread_count_follows_content_threshold() -> None:
    import os

    from kit import content
    from kit.training.scoring import thread_count

    below = content.load("training")["threads"]["single_thread_below_rows"]
    assert thread_count(below - 1) == 1
    assert thread_count(below) == (os.cpu_count() or 1)


def test_selection_by_a_threshold_metric_uses_each_candidates_own_threshold() -> None:
    from kit.training.pipeline import Candidate

    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    # A is decent at 0.5; B ranks perfectly but all its scores sit below 0.5
    a = Candidate("xgboost", "model", {}, np.array([.1, .2, .3, .6, .2, .1, .7, .8, .4, .9]), 0.0)
    b = Candidate("lightgbm", "model", {}, np.array([.01, .02, .03, .04, .05, .06, .2, .3, .25, .35]), 0.0)
    assert select_best([a, b], y, "f1") is a  # at 0.5, B predicts nobody positive
    set_thresholds([a, b], y, costs=None)
    assert b.valid_metrics(y)["f1"] == 1.0 == compute_metrics(y, b.valid_proba, b.threshold)["f1"]
    assert select_best([a, b], y, "f1") is b
    assert select_best([a, b], y, "roc_auc") is b  # threshold-free metrics are unaffected


def test_a_search_compares_parameter_sets_at_their_own_thresholds(telco) -> None:
    from kit import content
    from kit.training import pipeline as P
    from kit.training.scoring import prepare_features

    cand, settings, (Xtr, ytr), (Xva, yva) = tuned_candidate(telco, 4, algorithms=["lightgbm"], selection_metric="f1")
    # the same five parameter sets, fitted here one by one
    features, categories = list(Xtr.columns), P.infer_categories(Xtr)
    A, B = prepare_features(Xtr, features, categories), prepare_features(Xva, features, categories)
    rng = np.random.default_rng(0)
    draws = [{}] + [P._sample_params(content.load("training")["tuning_space"]["lightgbm"], rng) for _ in range(4)]
    weight = P.positive_weight(ytr, settings.imbalance)
    f1_half, f1_own = [], []
    for overrides in draws:
        booster = P.fit_lightgbm(A, ytr, B, yva, P.model_params("lightgbm", overrides, 0), settings.max_trees,
                                 settings.early_stopping_rounds, weight)
        proba = ScoringModel("lightgbm", booster, features, categories)._predict(B, raw=False)
        f1_half.append(compute_metrics(yva, proba)["f1"])
        f1_own.append(compute_metrics(yva, proba, P.decision_threshold(yva, proba, None))["f1"])
    assert np.argmax(f1_half) != np.argmax(f1_own)  # the case where comparing at 0.5 picks another set
    set_thresholds([cand], yva, costs=None)
    assert cand.valid_metrics(yva)["f1"] == pytest.approx(max(f1_own))
