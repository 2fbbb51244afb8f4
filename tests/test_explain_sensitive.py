"""Sensitive columns as model inputs: found, the effect of leaving them out measured by one refit, and excludable."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TRAINING_STEPS
from kit.explain import fairness, phase, sensitive
from kit.notebook import start
from kit.schema import DatasetSpec
from kit.training.data import feature_columns, load_split

GERMAN = Path(__file__).resolve().parent.parent / "data" / "german_credit" / "german_credit.csv"
SENSITIVE = ["personal_status_sex", "age", "foreign_worker"]


def german_run(root: Path, sensitive_as_input: str = "allow", tier: str = "high") -> object:
    """A real training run on the bundled German credit data (no MLflow); returns the phase-3 context."""
    from kit.training.phase import TrainingRun

    root.mkdir(parents=True, exist_ok=True)
    config = {
        "seed": 11, "organization": {"name": "Harbor CU"},
        "dataset": {"path": str(GERMAN), "target": "credit_risk", "positive_class": "bad", "sensitive": SENSITIVE,
                    "sensitive_as_input": sensitive_as_input},
        "training": {"algorithms": ["xgboost"], "bootstrap": 0, "track": False},
        "explainability": {"tier": tier, "fairness": {"bands": {"age": [25, 35, 50, 65]}, "bootstrap": 0}},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ctx = start(root / "config.yaml", root, interactive=False)
    training = TrainingRun(ctx)
    for step in TRAINING_STEPS:
        getattr(training, step)()
    ctx.write("training", training.artifact())
    return ctx


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    """German credit trained with its sensitive columns as inputs (high tier) and without them (exclude)."""
    base = tmp_path_factory.mktemp("german")
    return german_run(base / "allow"), german_run(base / "exclude", "exclude")


def test_feature_columns_leave_out_sensitive_columns_only_when_excluded():
    frame = pd.DataFrame(columns=["id", "y", "sex", "age", "income"])
    spec = dict(path="x.csv", target="y", sensitive=["sex", "age"], id_columns=["id"])
    assert feature_columns(frame, DatasetSpec(**spec)) == ["sex", "age", "income"]
    assert feature_columns(frame, DatasetSpec(**spec, sensitive_as_input="exclude")) == ["income"]


def test_refit_with_nothing_dropped_reproduces_the_champion(german):
    ctx, _ = german
    inputs = phase.load_inputs(ctx)
    train, valid = load_split(ctx.run_dir, part="train"), load_split(ctx.run_dir, part="valid")
    same = sensitive.refit_without(inputs.model, [], train, valid, inputs.X, ctx.config.training, inputs.training.get("costs"))
    np.testing.assert_allclose(same.test_proba, inputs.proba, rtol=0, atol=1e-7)  # same parameters, seed and rows
    assert same.model.threshold == pytest.approx(inputs.threshold)


def test_high_tier_reports_sensitive_inputs_with_the_measured_effect(german):
    ctx, excluded_ctx = german
    inputs = phase.load_inputs(ctx)
    assert sensitive.sensitive_inputs(inputs.model.features, SENSITIVE) == SENSITIVE  # all three are features
    fair = phase.assess_fairness(inputs)
    table = phase.check_sensitive_inputs(inputs, fair)
    record = fair["sensitive_inputs"]
    assert record["used"] == SENSITIVE and record["compared"] and record["seconds"] < 30
    # "with" is the report's own figures
    for c in fair["columns"]:
        assert table.loc[f"{c['column']}: demographic parity ratio", "with"] == pytest.approx(c["demographic_parity_ratio"], nan_ok=True)
        assert table.loc[f"{c['column']}: equalized odds difference", "with"] == pytest.approx(c["equalized_odds_difference"], nan_ok=True)
        note = next(f for f in c["findings"] if "is a model input" in f)
        assert f"{c['column']!r} is a model input" in note and "high tier" in note and "sensitive_as_input: exclude" in note
    assert "demographic parity ratio 0.637 -> 0.791" in next(f for f in fair["columns"][0]["findings"] if "model input" in f)
    # "without" is what training with dataset.sensitive_as_input: exclude gives on the same split
    ex = phase.load_inputs(excluded_ctx)
    assert not set(SENSITIVE) & set(ex.model.features)
    assert ex.model.features == [f for f in inputs.model.features if f not in SENSITIVE]
    from kit.training.metrics import compute_metrics

    expected = compute_metrics(ex.y, ex.proba, ex.threshold)
    assert table.loc["test roc_auc", "without"] == pytest.approx(expected["roc_auc"], abs=1e-9)
    assert table.loc["decision threshold", "without"] == pytest.approx(ex.threshold)
    age = fairness.assess_column("age", ex.X["age"], ex.y, ex.decisions, ex.proba,
                                 ex.settings.fairness.model_copy(update={"bootstrap": 0}), 0)
    assert table.loc["age: equalized odds difference", "without"] == pytest.approx(age["equalized_odds_difference"], nan_ok=True)
    np.testing.assert_allclose(table["change"], table["without"] - table["with"], equal_nan=True)
    print(table.round(3).to_string())
    assert (ctx.run_dir / "explain" / "sensitive_inputs.csv").is_file()


def test_excluded_sensitive_columns_are_named_as_excluded(german):
    _, excluded_ctx = german
    inputs = phase.load_inputs(excluded_ctx)
    fair = phase.assess_fairness(inputs)
    table = phase.check_sensitive_inputs(inputs, fair)
    assert fair["sensitive_inputs"]["used"] == [] and not fair["sensitive_inputs"]["compared"]
    assert "excluded from training (dataset.sensitive_as_input: exclude)" in table.iloc[0, 0]
    assert all("model inputs" not in f for c in fair["columns"] for f in c["findings"])


def test_medium_tier_names_the_inputs_without_refitting(tmp_path, german):
    ctx, _ = german
    inputs = phase.load_inputs(ctx)
    inputs.tier = "medium"
    fair = phase.assess_fairness(inputs)
    table = phase.check_sensitive_inputs(inputs, fair)
    assert not fair["sensitive_inputs"]["compared"] and "measured only at the high tier" in table.iloc[0, 0]
    phase.check_sensitive_inputs(inputs, fair)  # a re-run cell replaces its note
    assert [sum("is a model input" in f for f in c["findings"]) for c in fair["columns"]] == [1, 1, 1]


def test_train_valid_reads_the_recorded_parts(german):
    ctx, _ = german
    (X_train, y_train), (X_valid, y_valid) = sensitive.train_valid(ctx.run_dir)
    for part, (X, y) in {"train": (X_train, y_train), "valid": (X_valid, y_valid)}.items():
        X_ref, y_ref = load_split(ctx.run_dir, part=part)
        pd.testing.assert_frame_equal(X, X_ref)
        np.testing.assert_array_equal(y, y_ref)
