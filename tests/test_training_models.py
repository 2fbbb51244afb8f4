"""Leakage screen, gates, the candidate pipeline, one scoring path, reproducibility."""
from __future__ import annotations

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
    assert not gates.approval_gate(True, None)["passed"]
    assert gates.approval_gate(True, {"by": "Ann", "why": "ok"})["passed"]
    one_out = [{"column": "tenure", "kind": "out of range", "count": 1}]
    assert gates.contract_gate(False, one_out, rows=200, tolerance=0.01)["passed"]
    assert not gates.contract_gate(False, one_out, rows=50, tolerance=0.01)["passed"]
    assert not gates.contract_gate(False, [{"column": "plan", "kind": "missing column", "count": 1}], 1000, 0.5)["passed"]
    result = {"a": gates.approval_gate(False, None), "b": gates.baseline_gate(0.5, 0.6, "lr", 0)}
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


def test_imbalance_weighting_and_tuning(telco) -> None:
    _, _, X, y, split = telco
    (Xtr, ytr), (Xva, yva) = parts(X, y, split, "train"), parts(X, y, split, "valid")
    settings = SMALL.model_copy(update={"algorithms": ["xgboost"], "imbalance": "weight",
                                        "tuning": SMALL.tuning.model_copy(update={"trials": 2})})
    cand = train_candidates(Xtr, ytr, Xva, yva, settings, 0, baselines=False)[0]
    assert cand.params["scale_pos_weight"] == pytest.approx((1 - ytr.mean()) / ytr.mean())
    assert cand.trials == 3
    # weighting pushes scores of the rare class up: mean prediction above the base rate
    assert cand.valid_proba.mean() > ytr.mean() + 0.1
    assert compute_metrics(yva, cand.valid_proba)["roc_auc"] > 0.8
