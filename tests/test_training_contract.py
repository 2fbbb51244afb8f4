"""The data contract accepts training-like data and rejects each kind of violation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.training.contract import infer_contract, load_contract, save_contract, validate


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "tenure": rng.integers(0, 73, 300).astype(float),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], 300)),
        "charges": np.where(rng.random(300) < 0.05, np.nan, rng.uniform(20, 120, 300)),
    })


@pytest.fixture
def contract(train: pd.DataFrame, tmp_path: Path):
    return load_contract(save_contract(infer_contract(train, list(train.columns), range_margin=0.0), tmp_path / "c.json"))


def test_round_trip_and_training_rows_pass(train: pd.DataFrame, contract) -> None:
    assert set(contract.columns) == {"tenure", "plan", "charges"}
    report = validate(contract, train)
    assert report.passed and report.failures.empty
    assert validate(contract, train.assign(extra=1)).passed  # extra columns are allowed


@pytest.mark.parametrize(
    "change, column, kind",
    [
        (lambda b: b.drop(columns=["plan"]), "plan", "missing column"),
        (lambda b: b.assign(plan=b["plan"].astype(object).where(b.index != 0, "enterprise")), "plan", "new category"),
        (lambda b: b.assign(tenure=b["tenure"].where(b.index != 0, 500.0)), "tenure", "out of range"),
        (lambda b: b.assign(tenure=b["tenure"].where(b.index != 0, np.nan)), "tenure", "missing values"),
        (lambda b: b.assign(tenure=b["tenure"].astype(object).where(b.index != 0, "abc")), "tenure", "dtype"),
    ],
)
def test_rejects(train: pd.DataFrame, contract, change, column: str, kind: str) -> None:
    report = validate(contract, change(train.head(20).copy()))
    assert not report.passed
    assert report.by_column() == {column: [kind]}
    assert report.to_dict()["failures"][0]["count"] >= 1


def test_margin_widens_range(train: pd.DataFrame) -> None:
    batch = train.head(5).assign(tenure=75.0)
    assert not validate(infer_contract(train, list(train.columns), range_margin=0.0), batch).passed
    assert validate(infer_contract(train, list(train.columns), range_margin=0.1), batch).passed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(0, 299), min_size=1, max_size=300), st.sampled_from(["1,889.50", "n/a", "x"]))
def test_text_in_a_numeric_column_counts_each_failing_row_once(contract, rows: set[int], text: str) -> None:
    """pandera reports a text cell twice (coerce_dtype and dtype); the contract's table counts the rows."""
    batch = pd.DataFrame({"tenure": np.full(300, 12.0), "plan": ["pro"] * 300, "charges": np.full(300, 50.0)})
    charges = batch["charges"].astype(object)
    charges.iloc[sorted(rows)] = text
    failures = validate(contract, batch.assign(charges=charges)).failures
    assert failures[["column", "kind", "count"]].values.tolist() == [["charges", "dtype", len(rows)]]
    assert failures["examples"].iloc[0] == [text]
