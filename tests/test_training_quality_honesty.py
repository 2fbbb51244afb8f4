"""Honest training decisions: leaks far ahead of the rest, post-outcome columns, near-constant
columns and boosters that stop after a handful of trees."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from kit import content
from kit.config import load_config
from kit.errors import ConfigError
from kit.schema import DatasetSpec
from kit.training.config import TrainingSection
from kit.training.contract import infer_contract, validate
from kit.training.data import encode_target, feature_columns, load_dataset, make_split
from kit.training.pipeline import train_candidates, validation_weights
from kit.training.quality import near_constant_shares, quality_report, suspected_leaks

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[1]
SMALL = TrainingSection(max_trees=80, early_stopping_rounds=10, bootstrap=0)


def bank_like(n: int = 6000, seed: int = 7) -> pd.DataFrame:
    """Bank-marketing-like rows: `duration` is a noisy copy of the label (known only after the call), the rest weak."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.12).astype(int)
    jobs = np.array(["admin", "blue-collar", "technician", "services", "retired"])
    return pd.DataFrame({
        "age": rng.normal(40, 10, n) + 2.0 * y,
        "balance": rng.lognormal(7, 1, n),
        "job": pd.Categorical(jobs[rng.integers(0, 5, n)]),
        "campaign": rng.poisson(2, n) + (y * rng.random(n) > 0.8),
        "duration": np.round(200 + 150 * y + rng.normal(0, 140, n)),
        "y": y,
    })


def spec(**kw: object) -> DatasetSpec:
    """A dataset spec for an in-memory frame (the path is not read)."""
    return DatasetSpec.model_validate({"path": "bank.csv", "target": "y", **kw})


def report_for(frame: pd.DataFrame, **kw: object):
    """Quality report of every non-target column, screened on all rows."""
    s = spec(**kw.pop("spec", {}))
    return quality_report(frame, s, feature_columns(frame, s), frame["y"].to_numpy(), **kw)


# ---- 3. leakage -------------------------------------------------------------------------
def test_a_feature_far_ahead_of_the_rest_is_warned_about_not_dropped() -> None:
    frame = bank_like()
    auc = roc_auc_score(frame["y"], frame["duration"])
    assert 0.75 < auc < 0.9  # like a call's duration: well under the absolute cut-off
    report = report_for(frame)
    table = report.leakage.set_index("feature")
    assert table.loc["duration", "single_feature_auc"] == pytest.approx(auc)
    assert not table["flagged"].any() and report.suspected_leaks == ["duration"]
    assert table.loc["duration", "suspected"] and table["suspected"].sum() == 1
    assert "duration" not in report.excluded  # a warning, not an automatic drop
    [note] = [n for n in report.notes if n.startswith("suspected leak")]
    assert "confirm it is known at prediction time" in note and "dataset.post_outcome_columns" in note
    assert report.to_dict()["suspected_leaks"] == ["duration"]
    assert report.table().loc["suspected leaks (far ahead of the rest)", "finding"] == "duration"


def test_the_absolute_cutoff_is_a_setting() -> None:
    assert TrainingSection().leakage_auc == content.load("training")["quality"]["leakage_auc"] == 0.98
    frame = bank_like()
    strict = report_for(frame, leakage_auc=0.75)
    assert strict.leakage.set_index("feature").loc["duration", "flagged"]
    assert strict.excluded["duration"].startswith("suspected leak") and strict.leakage_auc == 0.75
    assert strict.suspected_leaks == []  # already dropped by the absolute rule: not warned twice
    assert strict.leakage.attrs["cutoff"] == 0.75
    # a leak the cut-off catches is not the runner-up that a second feature is compared with
    two = frame.assign(copy=frame["y"] + np.random.default_rng(2).normal(0, 0.05, len(frame)))
    report = report_for(two)
    assert report.excluded["copy"].startswith("suspected leak") and report.suspected_leaks == ["duration"]
    [note] = [n for n in report.notes if n.startswith("suspected leak")]
    runner_up = report.leakage.set_index("feature").drop(["copy", "duration"])["single_feature_auc"].max()
    assert f"next best ({runner_up:.3f}" in note
    reference = (ROOT / "docs" / "CONFIG.md").read_text()
    assert "`training.leakage_auc`" in reference and "`dataset.post_outcome_columns`" in reference


def test_declared_post_outcome_columns_are_excluded_and_listed() -> None:
    report = report_for(bank_like(), spec={"post_outcome_columns": ["duration"]})
    assert report.post_outcome == ["duration"]
    assert report.excluded["duration"] == "known only after the outcome (dataset.post_outcome_columns)"
    assert "duration" not in set(report.leakage["feature"]) and report.suspected_leaks == []
    assert report.table().loc["post-outcome columns (declared)", "finding"] == "duration"


def test_kit_check_names_an_unknown_post_outcome_column(tmp_path: Path) -> None:
    data = tmp_path / "bank.csv"
    bank_like(300).to_csv(data, index=False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"organization": {"name": "Acme"}, "dataset": {
        "path": str(data), "target": "y", "post_outcome_columns": ["durations"]}}))
    with pytest.raises(ConfigError, match="dataset.post_outcome_columns: column 'durations' not in bank.csv; did you mean 'duration'"):
        load_config(path)


@pytest.mark.parametrize(("path", "target", "positive", "ids"), [
    ("telco_churn/Telco-Customer-Churn.csv", "Churn", "Yes", ["customerID"]),
    ("german_credit/german_credit.csv", "credit_risk", "bad", []),
])
def test_no_suspected_leak_on_honest_bundled_data(path: str, target: str, positive: str, ids: list[str]) -> None:
    s = DatasetSpec.model_validate({"path": str(DATA / path), "target": target, "positive_class": positive, "id_columns": ids})
    frame = load_dataset(s, show_warnings=False)
    report = quality_report(frame, s, feature_columns(frame, s), encode_target(frame[target], positive).y)
    assert report.suspected_leaks == [] and not report.leakage["flagged"].any()


def test_suspected_leak_rule_known_values() -> None:
    auc = pd.Series({"a": 0.80, "b": 0.65, "c": 0.55})
    assert suspected_leaks(auc, 1.75, 0.75) == ["a"]       # lift 0.30 > 1.75 * 0.15
    assert suspected_leaks(auc, 2.5, 0.75) == []           # 0.30 < 2.5 * 0.15
    assert suspected_leaks(auc, 1.75, 0.85) == []          # the leader itself is weak
    assert suspected_leaks(auc[["a"]], 1.75, 0.75) == []   # nothing to compare with


# ---- 5. near-constant columns -----------------------------------------------------------
def near_constant_frame(n: int = 4000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows with a flag 'N' in 99.7% of training rows whose rare levels differ between train and test."""
    rng = np.random.default_rng(5)
    y = (rng.random(n) < 0.3).astype(int)
    frame = pd.DataFrame({"x": rng.normal(size=n) + y, "y": y})
    split = make_split(frame, y, 0.2, 0.2, 0)
    train, test = split.parts["train"], split.parts["test"]
    flag = np.full(n, "N", dtype=object)
    bonus = np.zeros(n)
    flag[train[:7]], flag[test[:3]] = "A", "C"            # 7 of 2400 training rows: 99.71% 'N'
    bonus[train[:7]], bonus[test[:3]] = 10.0, 500.0      # numeric: rare values far outside the training range
    usually = np.where(rng.random(n) < 0.99, "u", "v")   # 99% one value: kept
    return frame.assign(flag=pd.Categorical(flag), bonus=bonus, usually=pd.Categorical(usually)), train, test


def test_near_constant_columns_are_flagged_and_dropped_so_the_contract_holds() -> None:
    frame, train, test = near_constant_frame()
    s = spec()
    features = feature_columns(frame, s)
    # the problem: a contract learned with them fails on test rows of unchanged data
    assert not validate(infer_contract(frame.iloc[train], features), frame.iloc[test]).passed
    report = quality_report(frame, s, features, frame["y"].to_numpy(), rows=train)
    assert report.near_constant == pytest.approx({"flag": 1 - 7 / len(train), "bonus": 1 - 7 / len(train)})
    assert report.excluded["flag"].startswith("near-constant (99.7% of training rows")
    assert "usually" not in report.excluded and report.to_dict()["near_constant_columns"].keys() == {"flag", "bonus"}
    assert any("contract" in n and "dropped rather than kept" in n for n in report.notes)
    kept = [c for c in features if c not in report.excluded]
    assert kept == ["x", "usually"]
    assert validate(infer_contract(frame.iloc[train], kept), frame.iloc[test]).passed


def test_near_constant_shares_match_value_counts() -> None:
    frame = pd.DataFrame({"a": [1] * 996 + [2] * 4, "b": [np.nan] * 999 + [1.0], "c": list(range(1000))})
    assert near_constant_shares(frame, 0.995) == {"b": 0.999, "a": 0.996}
    assert near_constant_shares(frame, 0.999) == {}
    assert near_constant_shares(frame.iloc[:0], 0.995) == {}


# ---- 4. boosters that stop at once ------------------------------------------------------
def test_a_booster_with_a_handful_of_trees_gets_a_training_note() -> None:
    rng = np.random.default_rng(11)
    n = 1600
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": pd.Categorical(rng.choice(list("pqr"), n))})
    signal = X["a"].to_numpy() + rng.normal(0, 0.5, n)
    y = np.where(np.arange(n) < 1000, signal > 0, signal < 0).astype(int)  # the validation window is shifted
    cands = train_candidates(X.iloc[:1000], y[:1000], X.iloc[1000:], y[1000:], SMALL, seed=0)
    few = content.load("training")["early_stopping"]["few_trees"]
    boosted = [c for c in cands if c.kind == "model"]
    assert len(boosted) == 2 and all(c.trees < few for c in boosted)
    for cand in boosted:
        [note] = cand.notes
        assert f"kept only {cand.trees} tree(s)" in note and "no signal beyond the baselines" in note
        assert "shifted time window" in note and cand.model.info["notes"] == cand.notes
    assert all(c.notes == [] for c in cands if c.kind == "baseline")


def test_validation_rows_are_weighted_like_training_rows() -> None:
    assert validation_weights(np.array([0, 1, 1, 0]), 1.0) is None
    assert validation_weights(np.array([0, 1, 1, 0]), 4.0).tolist() == [1.0, 4.0, 4.0, 1.0]


def test_early_stopping_on_rare_positives_keeps_a_real_model() -> None:
    """ai4i (3.4% failures): with positives weighted in training only, LightGBM stopped after 6 trees."""
    s = DatasetSpec.model_validate({"path": str(DATA / "ai4i_maintenance" / "ai4i2020.csv"), "target": "Machine failure",
                                    "positive_class": 1, "id_columns": ["UDI", "Product ID"],
                                    "drop_columns": ["TWF", "HDF", "PWF", "OSF", "RNF"]})
    frame = load_dataset(s, show_warnings=False)
    y = encode_target(frame[s.target], 1).y
    X = frame[feature_columns(frame, s)].rename(columns=lambda c: c.split(" [")[0])  # booster-safe names
    split = make_split(frame, y, 0.2, 0.2, 42)
    (tr, va) = (split.parts["train"], split.parts["valid"])
    settings = TrainingSection(max_trees=300)
    cands = {c.name: c for c in train_candidates(X.iloc[tr], y[tr], X.iloc[va], y[va], settings, seed=42)}
    assert cands["lightgbm"].params["scale_pos_weight"] > 20  # positives are weighted
    for name in ("xgboost", "lightgbm"):
        assert 20 <= cands[name].trees < 300 and cands[name].notes == []


def test_no_training_note_when_the_boosters_learn() -> None:
    frame = bank_like(3000)
    X, y = frame.drop(columns=["y"]), frame["y"].to_numpy()
    cands = train_candidates(X.iloc[:2000], y[:2000], X.iloc[2000:], y[2000:], SMALL, seed=0)
    assert all(c.trees >= 20 and c.notes == [] for c in cands if c.kind == "model")


def test_phase_keeps_few_tree_notes_and_the_row_order_split_in_the_artifact(tmp_path: Path) -> None:
    from kit.notebook import start
    from kit.training.phase import TrainingRun

    rng = np.random.default_rng(4)
    n = 1500
    a = rng.normal(size=n)
    signal = a + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=n), "y": np.where(np.arange(n) < 900, signal > 0, signal < 0).astype(int)})
    frame.to_csv(tmp_path / "shifted.csv", index=False)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "organization": {"name": "Acme"},
        "dataset": {"path": str(tmp_path / "shifted.csv"), "target": "y", "rows_in_time_order": True},
        "training": {"track": False, "bootstrap": 0, "max_trees": 80, "early_stopping_rounds": 10},
    }))
    run = TrainingRun(start(config, tmp_path / "run"))
    run.load()
    run.make_split()
    assert run.split.parts["train"].tolist() == list(range(900))  # first rows train: the later rows are shifted
    run.check_quality()
    run.build_contract()
    run.train()
    run.check_gates()
    run.register()
    artifact = run.artifact()
    assert len(run.training_notes) == 2 and all("kept only" in n for n in run.training_notes)
    assert set(run.training_notes) <= set(artifact["warnings"])
    assert artifact["split"]["method"].startswith("row order")
