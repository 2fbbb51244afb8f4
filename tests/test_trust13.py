"""Issue 13 review fixes: reports claim only what their numbers support (leakage, promotion wording,
calendar drift, lag contract), on real data (bike sharing, ai4i, adult) and small hostile frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIKE_CONFIG = ROOT / "data" / "configs" / "bike_demand.yaml"
ADULT = Path("/work/shared/data/adult")


@pytest.fixture(scope="module")
def bike() -> tuple:
    """The bike demand config's spec, its loaded frame (calendar + lag features) and its time-ordered split."""
    from kit.config import load_config
    from kit.training import data as tdata

    config = load_config(BIKE_CONFIG)
    spec = config.dataset
    frame = tdata.load_dataset(spec, show_warnings=False)
    y = frame[spec.target].to_numpy(dtype="float64")
    split = tdata.make_split(frame, y, 0.2, 0.2, 42, spec.time_column, spec.time_format, False, "regression")
    return config, spec, frame, y, split


# ---- 4. data contract: lags of a growing target are checked like the target -----------------------
def test_target_lags_get_type_not_range_on_bike_test_rows(bike: tuple) -> None:
    """cnt_lag_168 exceeds its training range on the 2012 test rows (growth): no range failure, yet a
    text value in a lag still fails the type check, and an ordinary feature keeps its range."""
    from kit.training.contract import contract_summary, infer_contract, target_lag_columns, validate

    config, spec, frame, y, split = bike
    lags = target_lag_columns(spec)
    assert lags == ["cnt_lag_1", "cnt_lag_24", "cnt_lag_168"]
    features = lags + ["temp", "hum"]
    train, test = frame.iloc[split.parts["train"]], frame.iloc[split.parts["test"]]
    ranged = validate(infer_contract(train, features), test[features]).failures.set_index("column")
    assert ranged.loc["cnt_lag_168", "count"] == 158  # the growth is real: the old range rule failed here
    schema = infer_contract(train, features, unbounded=lags)
    report = validate(schema, test[features])
    assert report.passed, report.failures
    summary = contract_summary(schema).set_index("column")["allowed"]
    assert "lag of the target" in summary["cnt_lag_168"] and summary["temp"].startswith("[")
    broken = test[features].head(5).astype({"cnt_lag_24": "object", "temp": "float64"})
    broken.loc[broken.index[0], "cnt_lag_24"] = "n/a"
    broken.loc[broken.index[1], "temp"] = 50.0
    kinds = validate(schema, broken).by_column()
    assert kinds == {"cnt_lag_24": ["dtype"], "temp": ["out of range"]}


def test_no_target_lags_without_lags_on_the_target(bike: tuple) -> None:
    """Lags of another column keep their range rule (only the target's own past grows with it)."""
    from kit.training.contract import target_lag_columns

    spec = bike[1]
    other = spec.model_copy(update={"lags": spec.lags.model_copy(update={"column": "temp"})})
    assert target_lag_columns(other) == [] and target_lag_columns(spec.model_copy(update={"lags": None})) == []
