"""Dataset profiling: known values on hand-built frames, errors, and hypothesis properties."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from kit.errors import DataError
from kit.profile import profile_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    """Six rows: an id, a constant, a column with 2 missing, a duplicated pair, blank text."""
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "const": ["x"] * 6,
        "amount": [10.0, np.nan, 30.0, np.nan, 50.0, 50.0],
        "city": ["A", "B", " ", "A", "C", "C"],
        "when": ["2026-01-01", "2026-01-05", "2026-02-01", "bad date", None, "2026-03-01"],
    })


def test_known_counts(frame: pd.DataFrame) -> None:
    p = profile_frame(frame, id_columns=["id"], time_column="when", now=pd.Timestamp("2026-03-11"))
    assert (p.rows, p.columns) == (6, 5)
    assert p.missing_share["amount"] == pytest.approx(2 / 6)
    assert p.missing_share["when"] == pytest.approx(1 / 6)
    assert p.missing_cells == 3
    assert p.missing_cell_share == pytest.approx(3 / 30)
    assert p.constant_columns == ["const"]
    assert p.id_like_columns == ["id"]
    assert p.blank_strings == {"city": 1}
    assert p.duplicate_rows == 0  # the id makes every row unique
    assert p.time_min.startswith("2026-01-01") and p.time_max.startswith("2026-03-01")
    assert p.time_unparsed == 1
    assert p.freshness_days == pytest.approx(10.0)


def test_duplicates_ignoring_ids() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [1, 1, 2, 1], "y": ["u", "u", "v", "u"]})
    p = profile_frame(df, id_columns=["id"])
    assert p.duplicate_rows == 0
    assert p.duplicate_rows_ignoring_ids == 2
    assert p.duplicate_share == pytest.approx(0.5)


def test_floats_and_repeated_codes_are_not_id_like() -> None:
    df = pd.DataFrame({"measure": np.linspace(0, 1, 50), "code": ["k1", "k2"] * 25,
                       "customer": [f"C{i:03d}" for i in range(50)]})
    p = profile_frame(df)
    assert p.id_like_columns == ["customer"]
    assert p.kinds == {"numeric": 1, "text": 2}


def test_all_missing_column_is_constant_not_id() -> None:
    df = pd.DataFrame({"empty": [np.nan] * 4, "v": [1, 2, 3, 3]})
    p = profile_frame(df)
    assert "empty" in p.constant_columns and "empty" not in p.id_like_columns
    assert p.missing_share["empty"] == 1.0


def test_matches_pandas_on_real_data() -> None:
    df = pd.read_csv("data/telco_churn/Telco-Customer-Churn.csv")
    p = profile_frame(df, id_columns=["customerID"])
    assert p.rows == len(df) == 7043
    assert p.duplicate_rows_ignoring_ids == int(df.drop(columns="customerID").duplicated().sum())
    assert p.blank_strings == {"TotalCharges": int((df["TotalCharges"].str.strip() == "").sum())}
    assert p.id_like_columns == ["customerID"]


def test_unknown_column_is_a_data_error(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'when_'"):
        profile_frame(frame, time_column="when_")
    with pytest.raises(DataError, match="'ID'"):
        profile_frame(frame, id_columns=["ID"])


def test_to_dict_is_plain_json(frame: pd.DataFrame) -> None:
    d = profile_frame(frame, id_columns=["id"], time_column="when", now=pd.Timestamp("2026-03-11")).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["column_profiles"][0]["name"] == "id"
    assert {"rows", "missing_share", "duplicate_share", "freshness_days"} <= set(d)


def test_empty_frame() -> None:
    p = profile_frame(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    assert p.rows == 0 and p.duplicate_share == 0.0 and p.missing_cell_share == 0.0


frames = data_frames([
    column("a", elements=st.integers(0, 3)),
    column("b", elements=st.one_of(st.none(), st.floats(0, 1, allow_nan=False))),
    column("c", elements=st.sampled_from(["x", "y", " ", ""])),
])


@settings(max_examples=40, deadline=None)
@given(frames)
def test_properties(df: pd.DataFrame) -> None:
    p = profile_frame(df)
    assert p.rows == len(df)
    assert all(0.0 <= s <= 1.0 for s in p.missing_share.values())
    assert p.missing_cells == int(df.isna().sum().sum())
    assert 0 <= p.duplicate_rows <= max(len(df) - 1, 0)
    assert set(p.constant_columns) == {c for c in df.columns if df[c].nunique(dropna=False) <= 1}
    doubled = profile_frame(pd.concat([df, df], ignore_index=True))
    assert doubled.duplicate_rows == len(df) + p.duplicate_rows


def test_numeric_text_columns() -> None:
    df = pd.DataFrame({"total": ["1.5", " 2", "", "3e2"] * 5, "label": ["a", "1", "b", "2"] * 5,
                       "code": [f"{i:05d}" for i in range(20)]})
    p = profile_frame(df)
    assert p.numeric_text_columns == ["total"]  # 'code' is id-like, 'label' half text
    assert p.blank_strings == {"total": 5}
