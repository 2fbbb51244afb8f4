"""The bundled task data is derived reproducibly: the committed files equal their scripts' output, with the documented counts."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def load_script(path: Path):
    """Import a data folder's make script as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_failure_type_rule_gives_the_documented_classes_and_matches_the_committed_file() -> None:
    make = load_script(DATA / "ai4i_maintenance" / "make_failure_type.py")
    raw = pd.read_csv(DATA / "ai4i_maintenance" / "ai4i2020.csv", encoding="utf-8-sig")
    label = make.failure_type(raw)
    assert label.value_counts().to_dict() == {
        "no failure": 9661, "heat dissipation": 106, "power": 80, "overstrain": 78, "tool wear": 42, "several or unrecorded": 33,
    }
    # cross-check the rule on its own terms: every failed row has a non-'no failure' label and vice versa
    assert ((label != "no failure") == raw["Machine failure"].astype(bool)).all()
    single = raw[list(make.MODES)].sum(axis=1) == 1
    assert (label[raw["Machine failure"].astype(bool) & single] != "several or unrecorded").all()
    committed = pd.read_csv(DATA / "ai4i_maintenance" / "ai4i2020_failure_type.csv")
    pd.testing.assert_frame_equal(committed, raw[make.KEEP].assign(failure_type=label))
    assert not {"Machine failure", *make.MODES} & set(committed.columns)  # the label's sources would leak it


def test_bike_hourly_is_hour_csv_plus_a_datetime_column() -> None:
    make = load_script(DATA / "bike_sharing" / "make_hourly.py")
    assert sha256(DATA / "bike_sharing" / "hour.csv") == "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
    assert sha256(DATA / "bike_sharing" / "day.csv") == "a6bcf826782d3c0fbfdcbeead17cd0884185a0dafe8ff10cd48a874ee7ba18be"
    raw = pd.read_csv(DATA / "bike_sharing" / "hour.csv")
    committed = pd.read_csv(DATA / "bike_sharing" / "bike_hourly.csv")
    pd.testing.assert_frame_equal(committed, make.hourly(raw), check_dtype=False)
    pd.testing.assert_frame_equal(committed.drop(columns="datetime"), raw, check_dtype=False)
    stamps = pd.to_datetime(committed["datetime"])
    assert (stamps.dt.hour == raw["hr"]).all() and (stamps.dt.strftime("%Y-%m-%d") == raw["dteday"]).all()
    assert len(committed) == 17379 and stamps.is_unique
