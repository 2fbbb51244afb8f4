"""Calendar and lag features (kit.training.features): known values, no look-ahead, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.config import load_config
from kit.errors import ConfigError, DataError
from kit.schema import DatasetSpec
from kit.training import features as F
from kit.training.data import load_dataset

ROOT = Path(__file__).resolve().parent.parent
BIKE = ROOT / "data" / "bike_sharing" / "bike_hourly.csv"


def spec_for(path: Path, **extra) -> DatasetSpec:
    """A dataset spec on ``path`` with target y and time column t unless overridden."""
    return DatasetSpec.model_validate({"path": str(path), "target": "y", "time_column": "t", **extra})


def series_frame(hours: list[int], values: list[float]) -> pd.DataFrame:
    """A frame of hourly times (hours after 2024-01-01) and values."""
    t = pd.Timestamp("2024-01-01") + pd.to_timedelta(hours, unit="h")
    return pd.DataFrame({"t": t.strftime("%Y-%m-%d %H:%M:%S"), "y": values, "x": np.arange(len(hours), dtype=float)})


def test_calendar_features_known_values() -> None:
    stamps = pd.Series(pd.to_datetime(["2024-02-29 13:00", "2024-12-31 00:00", "2023-01-01 23:00"]))
    got = F.calendar_features(stamps, "t", ["hour", "weekday", "month", "day_of_month", "day_of_year"])
    assert got.to_dict("list") == {
        "t_hour": [13, 0, 23], "t_weekday": [3, 1, 6], "t_month": [2, 12, 1],
        "t_day_of_month": [29, 31, 1], "t_day_of_year": [60, 366, 1],
    }


def test_auto_calendar_keeps_only_parts_that_vary() -> None:
    daily = pd.Series(pd.date_range("2024-01-01", periods=90, freq="D"))
    assert F.calendar_parts(daily, "auto") == ["weekday", "month"]
    hourly = pd.Series(pd.date_range("2024-01-01", periods=30, freq="h"))
    assert F.calendar_parts(hourly, "auto") == ["hour", "weekday"]


def test_lags_by_time_known_values_with_a_gap_and_dropped_history(tmp_path: Path) -> None:
    # hours 0..9 without hour 5; rows shuffled in the file
    hours = [7, 0, 3, 1, 9, 2, 4, 6, 8]
    frame = series_frame(hours, [10.0 * h for h in hours])
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    out = load_dataset(spec_for(path, lags={"column": "y", "periods": [1, 3]}), show_warnings=False)
    # the first 3 hours (0, 1, 2) lack full history and are dropped; file order is kept
    hour = pd.to_datetime(out["t"]).dt.hour.tolist()
    assert hour == [7, 3, 9, 4, 6, 8]
    assert out["y_lag_1"].tolist()[:4] == [60.0, 20.0, 80.0, 30.0]
    assert np.isnan(out.loc[hour.index(6), "y_lag_1"])  # hour 5 is absent: missing, not the row before
    assert np.isnan(out.loc[hour.index(8), "y_lag_3"])  # 8 - 3 = 5 absent
    assert out.loc[hour.index(9), "y_lag_3"] == 60.0
    assert "first 3 rows have no full history and were dropped" in " ".join(out.attrs["kit_notes"])


def test_lags_cross_checked_on_bundled_bike_data() -> None:
    spec = DatasetSpec.model_validate({"path": str(BIKE), "target": "cnt", "time_column": "datetime",
                                       "calendar": "auto", "lags": {"column": "cnt", "periods": [1, 24, 168]}})
    out = load_dataset(spec, show_warnings=False)
    raw = pd.read_csv(BIKE)
    when = pd.to_datetime(raw["datetime"])
    assert (pd.to_datetime(out["datetime"]) >= when.min() + pd.Timedelta(hours=168)).all()
    assert len(out) == int((when >= when.min() + pd.Timedelta(hours=168)).sum())
    by_time = raw.set_index(when)["cnt"]
    for k in (1, 24, 168):  # an independent lookup: the value at exactly k hours before
        expected = by_time.reindex(pd.to_datetime(out["datetime"]) - pd.Timedelta(hours=k)).to_numpy(dtype=float)
        np.testing.assert_array_equal(out[f"cnt_lag_{k}"].to_numpy(), expected)
    assert out["datetime_hour"].equals(pd.to_datetime(out["datetime"]).dt.hour.astype("int64").rename("datetime_hour"))
    assert (out["datetime_hour"] == raw["hr"].iloc[-len(out):].to_numpy()).all()


@settings(max_examples=60, deadline=None)
@given(
    hours=st.lists(st.integers(0, 200), min_size=3, max_size=40, unique=True),
    periods=st.lists(st.integers(1, 30), min_size=1, max_size=3, unique=True),
    seed=st.integers(0, 2**16),
    by_row=st.booleans(),
)
def test_no_look_ahead_changing_the_future_never_changes_a_row_s_features(hours, periods, seed, by_row) -> None:
    """Rows at or before a cutoff keep identical features when every value from the cutoff on changes."""
    rng = np.random.default_rng(seed)
    if by_row:
        hours = sorted(hours)  # rows_in_time_order: the file order is the time order
    stamps = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(hours, unit="h"))
    values = pd.Series(rng.normal(size=len(hours)), name="y")
    cutoff = stamps.iloc[rng.integers(len(hours))]
    future = (stamps >= cutoff).to_numpy()
    changed = values.where(~future, values + rng.normal(5, 1, size=len(hours)))

    def build(v: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
        if by_row:
            order = np.arange(len(v))
            return F.lags_by_row(v, order, periods), F.history_mask_by_row(order, periods)
        step = F.infer_step(stamps)
        return F.lags_by_time(v, stamps, periods, step), F.history_mask_by_time(stamps, periods, step).to_numpy()

    before, keep_before = build(values)
    after, keep_after = build(changed)
    past = ~future | (stamps == cutoff).to_numpy()
    pd.testing.assert_frame_equal(before[past], after[past])
    np.testing.assert_array_equal(keep_before, keep_after)  # which rows are dropped never depends on values


def test_duplicate_times_text_column_and_short_history_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    series_frame([0, 1, 1, 2], [1.0, 2.0, 3.0, 4.0]).to_csv(path, index=False)
    with pytest.raises(DataError, match="occurs in more than one row.*aggregate the file"):
        load_dataset(spec_for(path, lags={"column": "y", "periods": [1]}), show_warnings=False)
    frame = series_frame([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0]).assign(kind=list("abab"))
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="'kind' is not numeric"):
        load_dataset(spec_for(path, lags={"column": "kind", "periods": [1]}), show_warnings=False)
    with pytest.raises(DataError, match="no row has 9 steps of history"):
        load_dataset(spec_for(path, lags={"column": "y", "periods": [9]}), show_warnings=False)
    frame.assign(t_hour=1).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"\['t_hour'\] already exist"):
        load_dataset(spec_for(path, calendar=["hour"]), show_warnings=False)


@pytest.mark.parametrize(("dataset", "message"), [
    ({"calendar": ["hour"]}, "calendar needs time_column"),
    ({"lags": {"column": "MonthlyCharges", "periods": [1]}}, "lags need an order"),
    ({"lags": {"column": "MonthlyCharges", "periods": [0, 2]}}, "distinct whole numbers >= 1"),
    ({"rows_in_time_order": True, "lags": {"column": "MonthlyCharges", "periods": [1], "step": "1h"}}, "lags.step needs time_column"),
    ({"calendar": ["hours"]}, "calendar"),
    ({"rows_in_time_order": True, "lags": {"column": "Monthly", "periods": [1]}}, "lags.column: column 'Monthly' not in"),
])
def test_config_mistakes_are_config_errors(tmp_path: Path, dataset: dict, message: str) -> None:
    data = {"organization": {"name": "Acme"},
            "dataset": {"path": str(ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"), "target": "Churn",
                        "positive_class": "Yes", **dataset}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_config(path)
