"""Time columns read one way everywhere (kit.timeparse), and a split by row order."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from kit.config import load_config
from kit.errors import ConfigError, DataError
from kit.monitoring.config import MonitoringSection
from kit.monitoring.run import file_batches
from kit.monitoring.scenarios import draw_batches
from kit.profile import profile_frame
from kit.readiness.evidence import freshness_finding
from kit.schema import DatasetSpec
from kit.timeparse import parse_time
from kit.training.data import load_dataset, load_split, make_split, save_split

NOW = pd.Timestamp("2026-03-11")


def years_frame(n: int = 120) -> pd.DataFrame:
    """Rows over the years 1990..2019 (int years, shuffled), a float 'normalized date', a label."""
    rng = np.random.default_rng(3)
    years = rng.permutation(np.repeat(np.arange(1990, 2020), n // 30))
    return pd.DataFrame({"year": years, "t01": (years - 1990) / 29.0, "x": rng.normal(size=len(years)),
                         "y": (np.arange(len(years)) % 3 == 0).astype(int)})


def write_config(tmp_path: Path, frame: pd.DataFrame, **dataset: object) -> Path:
    """A minimal config over a CSV of ``frame``."""
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    config = {"organization": {"name": "Acme"}, "dataset": {"path": str(data), "target": "y", **dataset}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# ---- one parser ---------------------------------------------------------------------------
def test_numbers_are_never_guessed_as_1970() -> None:
    frame = years_frame()
    for col in ("year", "t01"):
        with pytest.raises(DataError, match="time_format"):
            parse_time(frame[col])
    with pytest.raises(DataError, match="numbers stored as text"):
        parse_time(frame["year"].astype(str).astype("category"))


def test_declared_formats_read_correctly() -> None:
    assert parse_time(pd.Series([2019, 1990]), "year").tolist() == [pd.Timestamp("2019-01-01"), pd.Timestamp("1990-01-01")]
    assert parse_time(pd.Series([2019.0, np.nan]), "year").iloc[0] == pd.Timestamp("2019-01-01")
    assert parse_time(pd.Series([1_700_000_000]), "unix_seconds").iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert parse_time(pd.Series([1_700_000_000_000]), "unix_milliseconds").iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert parse_time(pd.Series([20190131, 20200229]), "%Y%m%d").tolist() == [pd.Timestamp("2019-01-31"), pd.Timestamp("2020-02-29")]
    assert parse_time(pd.Series(["31/01/2019"]), "%d/%m/%Y").iloc[0] == pd.Timestamp("2019-01-31")
    assert parse_time(pd.Series(["2019-01-31T10:00:00+01:00"])).iloc[0] == pd.Timestamp("2019-01-31 09:00")
    with pytest.raises(DataError, match="not years"):
        parse_time(pd.Series([0.5, 0.25], name="t01"), "year")
    with pytest.raises(DataError, match="seconds or milliseconds"):
        parse_time(pd.Series([1_700_000_000_000_000]), "unix_seconds")


def test_time_format_is_validated_in_the_config() -> None:
    with pytest.raises(ValidationError, match="unknown time format"):
        DatasetSpec.model_validate({"path": "d.csv", "target": "y", "time_column": "year", "time_format": "years"})
    with pytest.raises(ValidationError, match="time_format needs time_column"):
        DatasetSpec.model_validate({"path": "d.csv", "target": "y", "time_format": "year"})


def test_kit_check_refuses_a_numeric_time_column_and_says_how_to_declare_it(tmp_path: Path) -> None:
    frame = years_frame()
    with pytest.raises(ConfigError, match=r"dataset.time_column: column 'year' holds numbers.*dataset.time_format: year"):
        load_config(write_config(tmp_path, frame, time_column="year"))
    with pytest.raises(ConfigError, match="'t01' holds numbers"):
        load_config(write_config(tmp_path, frame, time_column="t01"))
    with pytest.raises(ConfigError, match="no value of 'x' reads as time_format '%Y%m%d'"):
        load_config(write_config(tmp_path, frame.assign(x="a"), time_column="x", time_format="%Y%m%d"))
    config = load_config(write_config(tmp_path, frame, time_column="year", time_format="year"))
    assert config.dataset.time_format == "year"


# ---- every place that reads a time column ------------------------------------------------
def test_readiness_freshness_of_a_year_column() -> None:
    frame = years_frame()
    undeclared = profile_frame(frame, time_column="year", now=NOW)
    assert undeclared.freshness_days is None and undeclared.time_min is None  # was 1970: "20790 days old"
    finding = freshness_finding(undeclared, 90)
    assert finding["status"] == "warn" and "dataset.time_format" in finding["finding"]
    declared = profile_frame(frame, time_column="year", now=NOW, time_format="year")
    assert declared.time_min == "1990-01-01T00:00:00" and declared.time_max == "2019-01-01T00:00:00"
    assert declared.freshness_days == (NOW - pd.Timestamp("2019-01-01")).days


def test_training_split_by_year(tmp_path: Path) -> None:
    frame = years_frame()
    split = make_split(frame, frame["y"].to_numpy(), 0.2, 0.2, 0, time_column="year", time_format="year")
    assert frame["year"].iloc[split.parts["test"]].min() >= frame["year"].iloc[split.parts["train"]].max()
    with pytest.raises(DataError, match="time_format"):
        make_split(frame, frame["y"].to_numpy(), 0.2, 0.2, 0, time_column="t01")


def test_monitoring_batches_by_year(tmp_path: Path) -> None:
    frame = years_frame()
    path = tmp_path / "prod.csv"
    frame.to_csv(path, index=False)
    source = {"path": str(path), "time_column": "year", "frequency": "Y"}
    with pytest.raises(DataError, match="monitoring.production.time_column.*time_format"):
        file_batches(MonitoringSection.model_validate({"production": source}), "y", 1)
    batches = file_batches(MonitoringSection.model_validate({"production": {**source, "time_format": "year"}}), "y", 1)
    assert len(batches) == 30  # one per year, not one batch dated 1969-12-29
    held = draw_batches(frame, 4, 30, 0, time_column="year", time_format="year")
    assert [b["year"].min() for b in held] == [1990, 1997, 2005, 2012]


def _stamped(n: int = 1600) -> tuple[pd.DataFrame, pd.Series]:
    """Production rows every 45 minutes from Monday 5 January 2026 (50 days), and their times."""
    when = pd.Series(pd.date_range("2026-01-05", periods=n, freq="45min"))
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2}), when


@pytest.mark.parametrize(("written", "message"), [
    (lambda w: w.dt.strftime("%Y-%m-%d %H:%M").where(w.index % 7 != 0, "not a date"), r"229 of 1600 values of 'when' do not read"),
    (lambda w: w.dt.strftime("%d/%m/%Y"), r"values of 'when' do not read as times.*'%d/%m/%Y'"),  # day/month swapped
    (lambda w: w.dt.strftime("%Y-%m-%dT%H:%M:%S") + np.where(w.index % 2, "+00:00", "+05:00"),
     r"cannot be read as one time scale \(Mixed timezones"),
])
def test_production_times_that_do_not_read_stop_the_batches_and_name_the_fix(tmp_path: Path, written, message) -> None:
    """Before, unreadable times left their rows out of every batch (1,371 of 1,600 rows kept), European dates made a
    year-long timeline, and mixed UTC offsets ended in a pandas traceback."""
    frame, when = _stamped()
    path = tmp_path / "prod.csv"
    frame.assign(when=written(when)).to_csv(path, index=False)
    source = {"path": str(path), "time_column": "when", "frequency": "W"}
    with pytest.raises(DataError, match="monitoring.production.time_column: .*" + message):
        file_batches(MonitoringSection.model_validate({"production": source}), "y", 1)
    config = yaml.safe_load(write_config(tmp_path, frame).read_text()) | {"monitoring": {"production": source}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="monitoring.production.time_column: .*" + message):  # at `kit check`
        load_config(tmp_path / "run.yaml")
    frame.assign(when=when.dt.strftime("%Y-%m-%d %H:%M").where(when.index != 3, "")).to_csv(path, index=False)
    batches = file_batches(MonitoringSection.model_validate({"production": source}), "y", 1)
    assert len(batches) == 8 and sum(len(b.frame) for b in batches) == 1599  # a blank time is missing, not an error


# ---- split by row order ------------------------------------------------------------------
def test_split_by_row_order_is_recorded_and_reloaded(tmp_path: Path) -> None:
    frame = years_frame().sort_values("year", kind="stable").drop(columns=["year", "t01"])
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    spec = DatasetSpec.model_validate({"path": str(path), "target": "y", "rows_in_time_order": True})
    loaded = load_dataset(spec)
    split = make_split(loaded, loaded["y"].to_numpy(), 0.2, 0.25, 7, by_rows=True)
    assert split.parts["train"].tolist() == list(range(66))
    assert split.parts["valid"].tolist() == list(range(66, 90))
    assert split.parts["test"].tolist() == list(range(90, 120))
    record = json.loads(save_split(tmp_path, split, spec).read_text())
    assert record["method"].startswith("row order") and record["dataset_spec"]["rows_in_time_order"] is True
    X, y = load_split(tmp_path, None, "test")
    assert X.index.tolist() == list(range(90, 120)) and y.tolist() == loaded["y"].iloc[90:].tolist()
    with pytest.raises(ValidationError, match="not both"):
        DatasetSpec.model_validate({"path": str(path), "target": "y", "time_column": "x", "rows_in_time_order": True})


def test_readiness_summary_says_the_time_column_was_not_read() -> None:
    from kit.readiness.display import profile_summary

    text = profile_summary(profile_frame(years_frame(), time_column="year", now=NOW)).data
    assert "time column year: not read as dates" in text and "holds numbers" in text and "1970-01-01" not in text
    declared = profile_summary(profile_frame(years_frame(), time_column="year", now=NOW, time_format="year")).data
    assert "1990-01-01T00:00:00 to 2019-01-01T00:00:00" in declared
