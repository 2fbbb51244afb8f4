"""Loading, target encoding, bad input, and the recorded split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.errors import DataError
from kit.schema import DatasetSpec
from kit.training.data import (
    DataWarning,
    encode_target,
    load_dataset,
    load_split,
    make_split,
    numeric_text_share,
    save_split,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def spec_for(path: Path, **kw: object) -> DatasetSpec:
    """A dataset spec for a file."""
    return DatasetSpec.model_validate({"path": str(path), **kw})


def write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    """Write a frame as CSV and return the path."""
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return path


def test_telco_total_charges_converted_with_warning() -> None:
    spec = spec_for(DATA / "telco_churn" / "Telco-Customer-Churn.csv", target="Churn", positive_class="Yes")
    with pytest.warns(DataWarning, match="TotalCharges"):
        frame = load_dataset(spec)
    assert frame["TotalCharges"].dtype == "float64"
    assert frame["TotalCharges"].isna().sum() == 11
    assert isinstance(frame["Contract"].dtype, pd.CategoricalDtype)
    assert encode_target(frame["Churn"], "Yes").y.sum() == 1869


def test_german_csv_is_decoded() -> None:
    frame = pd.read_csv(DATA / "german_credit" / "german_credit.csv")
    assert frame.shape == (1000, 21)
    assert frame["credit_risk"].value_counts().to_dict() == {"good": 700, "bad": 300}
    assert frame["personal_status_sex"].value_counts()["male: single"] == 548
    assert frame["foreign_worker"].value_counts().to_dict() == {"yes": 963, "no": 37}
    assert frame["age"].between(19, 75).all()


def test_text_in_numeric_column_is_an_error(tmp_path: Path) -> None:
    values = [str(v) for v in range(90)] + ["unknown"] * 10
    path = write(tmp_path, pd.DataFrame({"x": values, "y": [0, 1] * 50}))
    with pytest.raises(DataError, match="'x'.*text"):
        load_dataset(spec_for(path, target="y"))


def test_bad_targets(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(20), "y": ["a"] * 20})
    with pytest.raises(DataError, match="not in d.csv"):
        load_dataset(spec_for(write(tmp_path, frame), target="label"))
    with pytest.raises(DataError, match="1 distinct value"):
        encode_target(frame["y"])
    with pytest.raises(DataError, match="3 distinct"):
        encode_target(pd.Series(list("abc") * 3, name="y"))
    with pytest.raises(DataError, match="positive_class.*'z'"):
        encode_target(pd.Series(list("ab") * 3, name="y"), "z")
    with pytest.raises(DataError, match="cannot tell"):
        encode_target(pd.Series(list("ab") * 3, name="y"))
    assert encode_target(pd.Series([1, 2, 2], name="y"), 2).y.tolist() == [0, 1, 1]
    assert encode_target(pd.Series(["No", "Yes"], name="y")).positive_class == "Yes"


def test_empty_column_dropped_with_warning(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(10), "e": [None] * 10, "y": [0, 1] * 5})
    with pytest.warns(DataWarning, match="entirely empty"):
        out = load_dataset(spec_for(write(tmp_path, frame), target="y"))
    assert "e" not in out.columns


def test_split_is_stratified_reproducible_and_reloadable(tmp_path: Path) -> None:
    spec = spec_for(DATA / "german_credit" / "german_credit.csv", target="credit_risk", positive_class="bad")
    frame = load_dataset(spec)
    y = encode_target(frame["credit_risk"], "bad").y
    a = make_split(frame, y, 0.2, 0.2, seed=5)
    b = make_split(frame, y, 0.2, 0.2, seed=5)
    assert all(np.array_equal(a.parts[p], b.parts[p]) for p in a.parts)
    assert sorted(np.concatenate(list(a.parts.values())).tolist()) == list(range(1000))
    assert {p: round(float(y[i].mean()), 2) for p, i in a.parts.items()} == {"train": 0.3, "valid": 0.3, "test": 0.3}
    save_split(tmp_path, a, spec)
    X, y_test = load_split(tmp_path, None, "test")
    assert X.index.tolist() == a.parts["test"].tolist()
    assert np.array_equal(y_test, y[a.parts["test"]])
    assert "credit_risk" not in X.columns and "personal_status_sex" in X.columns
    with pytest.raises(DataError, match="unknown"):
        load_split(tmp_path, None, "holdout")


def test_load_split_detects_changed_data(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.arange(300) % 7, "y": np.arange(300) % 2})
    path = write(tmp_path, frame)
    spec = spec_for(path, target="y")
    loaded = load_dataset(spec)
    save_split(tmp_path, make_split(loaded, loaded["y"].to_numpy(), 0.2, 0.2, 1), spec)
    frame.loc[3, "x"] = 99
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="changed since training"):
        load_split(tmp_path, None, "train")


def test_time_ordered_split() -> None:
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=100, freq="D")[::-1], "y": np.arange(100) % 2})
    split = make_split(frame, frame["y"].to_numpy(), 0.2, 0.2, 0, time_column="t")
    assert frame["t"].iloc[split.parts["test"]].min() > frame["t"].iloc[split.parts["train"]].max()


def _numeric_text_share_per_row(values: pd.Series) -> tuple[float, int, pd.Series]:
    """Reference: the same screen parsed cell by cell (what numeric_text_share does per distinct value)."""
    text = values.astype("string").str.strip()
    blank = text.isna() | text.eq("")
    parsed = pd.to_numeric(text.mask(blank), errors="coerce")
    nonblank = int((~blank).sum())
    share = float(parsed.notna().sum() / nonblank) if nonblank else 0.0
    return share, int(blank.sum() - values.isna().sum()), parsed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "1", " 2.5 ", "-3", "1e3", "x", "Yes", "No"]),
                          st.integers(-5, 5).map(str)), max_size=40))
def test_numeric_text_share_equals_per_row_parse(cells: list) -> None:
    values = pd.Series(cells, dtype="object")
    share, blanks, parsed = numeric_text_share(values)
    ref_share, ref_blanks, ref_parsed = _numeric_text_share_per_row(values)
    assert share == pytest.approx(ref_share) and blanks == ref_blanks
    assert np.array_equal(parsed.to_numpy(dtype="float64"), ref_parsed.to_numpy(dtype="float64", na_value=np.nan), equal_nan=True)
    assert parsed.index.equals(values.index)


def test_numeric_text_share_known_values() -> None:
    values = pd.Series(["1", " 2 ", "", None, "x", "3.5", "1"], dtype="object", index=list("abcdefg"))
    share, blanks, parsed = numeric_text_share(values)
    assert share == pytest.approx(4 / 5) and blanks == 1
    assert parsed.loc[["a", "b", "f", "g"]].tolist() == [1.0, 2.0, 3.5, 1.0] and parsed.loc[["c", "d", "e"]].isna().all()
