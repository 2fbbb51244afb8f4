"""The task rule, task metrics, and ScoringModel for every task (real data: bike sharing, ai4i failure type)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import content
from kit.errors import DataError
from kit.tasks import TASK_METRICS, TASKS, headline_metric, higher_is_better, resolve_task
from kit.training.data import encode_task_target
from kit.training.scoring import ScoringModel, prepare_features

ROOT = Path(__file__).resolve().parents[1]
BIKE = Path("/work/shared/data/bike_sharing/hour.csv")
AI4I = ROOT / "data" / "ai4i_maintenance" / "ai4i2020.csv"
FLAGS = ["TWF", "HDF", "PWF", "OSF", "RNF"]


def failure_type(frame: pd.DataFrame) -> pd.Series:
    """The ai4i failure type: the first failure flag set, else 'none'."""
    flags = frame[FLAGS].astype(bool)
    return flags.idxmax(axis=1).where(flags.any(axis=1), "none").rename("failure_type")


@given(st.lists(st.sampled_from([st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False), st.text(min_size=1, max_size=5)]),
                min_size=1, max_size=1).flatmap(lambda s: st.lists(s[0], min_size=2, max_size=2, unique=True)),
       st.integers(2, 60), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_two_distinct_values_are_always_binary(values, n, rnd):
    labels = pd.Series([values[rnd.randrange(2)] for _ in range(n)] + values, name="y")
    assert resolve_task(labels).task == "binary"


@given(st.integers(3, 20), st.integers(0, 5))
@settings(max_examples=30, deadline=None)
def test_few_whole_numbers_are_multiclass_many_are_regression(k, offset):
    few = pd.Series(np.tile(np.arange(k) + offset, 3), name="grade")
    assert resolve_task(few).task == "multiclass"
    assert resolve_task(few.astype("float64")).task == "multiclass"  # 1.0, 2.0 ... read from a file with blanks
    many = pd.Series(np.arange(content.load("training")["task_rule"]["max_classes"] + k) + offset, name="count")
    decision = resolve_task(many)
    assert decision.task == "regression" and "so regression" in decision.reason and "dataset.task: multiclass" in decision.reason


def test_rule_on_text_fractions_and_configured():
    assert resolve_task(pd.Series(list("abcab"), name="y")).task == "multiclass"
    assert resolve_task(pd.Series([0.5, 1.5, 2.0], name="y")).task == "regression"  # not whole numbers
    forced = resolve_task(pd.Series(np.arange(30), name="y"), "multiclass")
    assert forced.task == "multiclass" and forced.reason.startswith("dataset.task: multiclass")
    bike = pd.read_csv(BIKE, usecols=["cnt"])["cnt"]
    decision = resolve_task(bike)
    assert decision.task == "regression" and f"{bike.nunique()} distinct numeric values > 20" in decision.reason
    with pytest.raises(DataError, match="nothing to learn"):
        resolve_task(pd.Series([3, 3, 3], name="y"))


def test_headline_and_direction_cover_every_task_metric():
    assert [headline_metric(t) for t in TASKS] == ["roc_auc", "macro_f1", "rmse"]
    better = {m: higher_is_better(m) for names in TASK_METRICS.values() for m in names}
    assert better == {
        "roc_auc": True, "average_precision": True, "f1": True, "precision": True, "recall": True, "accuracy": True,
        "log_loss": False, "brier": False, "balanced_accuracy": True, "macro_f1": True,
        "rmse": False, "mae": False, "r2": True, "mape": False,
    }
    with pytest.raises(DataError, match="unknown"):
        higher_is_better("rmsle")


def test_encoding_per_task():
    multi = encode_task_target(pd.Series(["b", "c", "a", "b"], name="y"))
    assert (multi.task, multi.classes, multi.y.tolist()) == ("multiclass", ["a", "b", "c"], [1, 2, 0, 1])
    reg = encode_task_target(pd.Series(np.arange(40) * 1.5, name="y"))
    assert reg.task == "regression" and reg.y.dtype == np.float64 and reg.y[3] == 4.5
    binary = encode_task_target(pd.Series(["No", "Yes", "No"], name="y"))
    assert (binary.task, binary.classes, binary.y.tolist()) == ("binary", ["No", "Yes"], [0, 1, 0])
    with pytest.raises(DataError, match="regression needs a numeric target"):
        encode_task_target(pd.Series(list("abc") * 3, name="y"), task="regression")
    with pytest.raises(DataError, match="at least three classes"):
        encode_task_target(pd.Series([0, 1] * 3, name="y"), task="multiclass")


def _booster(algorithm: str, X: pd.DataFrame, y: np.ndarray, objective: dict) -> object:
    """A small native booster trained directly with the task's objective."""
    if algorithm == "xgboost":
        import xgboost as xgb

        return xgb.train({**objective["xgboost"], "nthread": 1, "max_depth": 4, "seed": 0},
                         xgb.DMatrix(X, y, enable_categorical=True), num_boost_round=30)
    import lightgbm as lgb

    return lgb.train({**objective["lightgbm"], "num_threads": 1, "verbosity": -1, "seed": 0, "deterministic": True},
                     lgb.Dataset(X, y), num_boost_round=30)


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_regression_model_round_trip(algorithm, tmp_path):
    frame = pd.read_csv(BIKE).iloc[:4000]
    features = ["season", "hr", "weekday", "workingday", "weathersit", "temp", "hum", "windspeed"]
    X = prepare_features(frame, features, {})
    y = frame["cnt"].to_numpy(dtype="float64")
    booster = _booster(algorithm, X, y, {"xgboost": {"objective": "reg:squarederror"}, "lightgbm": {"objective": "regression"}})
    model = ScoringModel(algorithm, booster, features, {}, target="cnt", task="regression")
    pred = model.predict(frame)
    assert pred.dtype == np.float64 and pred.shape == (4000,)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.6 * y.std()  # learned something about hourly demand
    np.testing.assert_allclose(model.margin(frame), pred)
    np.testing.assert_array_equal(model.predict_label(frame), pred)
    with pytest.raises(DataError, match="regression model predicts numbers"):
        model.predict_proba(frame)
    loaded = ScoringModel.load(model.save(tmp_path / "m"))
    assert (loaded.task, loaded.classes) == ("regression", None)
    np.testing.assert_allclose(loaded.predict(frame), pred, rtol=1e-6)


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_multiclass_model_round_trip(algorithm, tmp_path):
    frame = load_dataset_ai4i()
    target = encode_task_target(frame["failure_type"])
    assert target.classes == ["HDF", "OSF", "PWF", "RNF", "TWF", "none"]
    features = ["Type", "Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"]
    categories = {"Type": ["H", "L", "M"]}
    X = prepare_features(frame, features, categories).set_axis([f.split(" [")[0].replace(" ", "_") for f in features], axis=1)
    K = len(target.classes)
    booster = _booster(algorithm, X, target.y, {"xgboost": {"objective": "multi:softprob", "num_class": K},
                                                "lightgbm": {"objective": "multiclass", "num_class": K}})
    model = ScoringModel(algorithm, booster, features, categories, target="failure_type", task="multiclass",
                         classes=target.classes, booster_features=list(X.columns))
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), K)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert model.margin(frame).shape == (len(frame), K)
    pred = model.predict(frame)
    np.testing.assert_array_equal(pred, proba.argmax(axis=1))
    labels = model.predict_label(frame)
    np.testing.assert_array_equal(labels, np.asarray(target.classes, dtype=object)[pred])
    assert (labels == frame["failure_type"].to_numpy()).mean() > 0.97  # the majority 'none' alone is 0.966
    loaded = ScoringModel.load(model.save(tmp_path / "m"))
    assert (loaded.task, loaded.classes) == ("multiclass", target.classes)
    np.testing.assert_allclose(loaded.predict_proba(frame), proba, rtol=1e-6)


def load_dataset_ai4i() -> pd.DataFrame:
    """The bundled ai4i data with the derived failure type column."""
    frame = pd.read_csv(AI4I)
    return frame.assign(failure_type=failure_type(frame), Type=frame["Type"].astype("category"))


def test_older_sidecar_without_task_loads_as_binary(tmp_path):
    import json

    import xgboost as xgb

    X = pd.DataFrame({"a": np.arange(200.0)})
    y = (np.arange(200) > 100).astype(int)
    model = ScoringModel("xgboost", xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, y), 5),
                         ["a"], {}, positive_class="Yes", negative_class="No")
    folder = model.save(tmp_path / "m")
    meta = json.loads((folder / "scoring.json").read_text())
    assert (meta["task"], meta["classes"]) == ("binary", ["No", "Yes"])
    for key in ("task", "classes"):
        del meta[key]
    (folder / "scoring.json").write_text(json.dumps(meta))
    old = ScoringModel.load(folder)
    assert (old.task, old.classes) == ("binary", ["No", "Yes"])
    assert old.predict_proba(X).ndim == 1
    assert old.predict_label(X)[[0, -1]].tolist() == ["No", "Yes"]
