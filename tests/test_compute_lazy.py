"""The dataset on the Dask engine (kit.compute.lazy): cleaned like load_dataset, indexed by row position.

A Parquet set cleaned per file by one plan must be the local engine's frame of the same set, value for value and
dtype for dtype (and so hash for hash); rows taken by position are the local ``iloc`` rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.compute.lazy import load_lazy, load_split_lazy
from kit.errors import DataError
from kit.schema import DatasetSpec
from kit.training.data import frame_hash, load_dataset, load_split, make_split, save_split, labels_to_binary

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


def write_set(frame: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    """``frame`` as ``parts`` Parquet files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    """The bundled Telco data as read from CSV."""
    return pd.read_csv(TELCO)


def spec_for(path: Path, **extra) -> DatasetSpec:
    """The demo's dataset spec on another path."""
    return DatasetSpec(path=path, target="Churn", positive_class="Yes", id_columns=["customerID"], **extra)


def assert_same_as_local(spec: DatasetSpec, client=None) -> pd.DataFrame:
    """The lazy dataset equals load_dataset on the same files: frame, notes and hash."""
    local = load_dataset(spec, show_warnings=False)
    lazy = load_lazy(spec, client)
    got = lazy.compute(lazy.frame)[0]
    pd.testing.assert_frame_equal(got, local)
    assert lazy.rows == len(local)
    assert lazy.notes == local.attrs["kit_notes"]
    assert lazy.data_hash() == frame_hash(local)
    return local


def test_parquet_set_is_cleaned_as_the_local_engine_cleans_it(tmp_path: Path, telco: pd.DataFrame) -> None:
    spec = spec_for(write_set(telco, tmp_path / "set"))
    local = assert_same_as_local(spec)
    lazy = load_lazy(spec, None)
    assert lazy.frame.npartitions == 3 and lazy.frame.known_divisions
    csv = load_dataset(spec_for(TELCO), show_warnings=False)  # the CSV: the same features (the target's string dtype aside)
    pd.testing.assert_frame_equal(local.drop(columns="Churn"), csv.drop(columns="Churn"))
    assert isinstance(local["Contract"].dtype, pd.CategoricalDtype) and local["TotalCharges"].dtype == "float64"


def test_hostile_partitions_follow_the_local_rules(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.head(900).copy()
    frame.loc[:299, "PaymentMethod"] = "Cash"  # a level that only the first file holds
    frame["Empty"] = np.nan  # entirely empty: dropped
    frame.loc[[310, 620, 621], "Churn"] = None  # unlabelled rows in two files: dropped, positions closed up
    frame.loc[[5, 700], "MonthlyCharges"] = [np.inf, -1e39]  # infinities: missing
    frame.loc[650, "PaymentMethod"] = "Only-unlabelled"
    frame.loc[650, "Churn"] = None  # a level seen only on an unlabelled row is no category
    frame["TotalCharges"] = frame["TotalCharges"].astype("string")
    frame.loc[400, "TotalCharges"] = " "  # one more blank in the middle file
    local = assert_same_as_local(spec_for(write_set(frame, tmp_path / "set")))
    assert "Only-unlabelled" not in local["PaymentMethod"].cat.categories and len(local) == 896


def test_a_file_without_labelled_rows_adds_no_partition(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.head(600).copy()
    frame.loc[200:399, "Churn"] = None
    spec = spec_for(write_set(frame, tmp_path / "set"))
    assert_same_as_local(spec)
    assert load_lazy(spec, None).frame.npartitions == 2


def test_mixed_numbers_and_text_fail_as_locally(tmp_path: Path, telco: pd.DataFrame) -> None:
    frame = telco.head(600).copy()
    frame["Score"] = np.where(np.arange(600) % 10 == 0, "n/a", np.arange(600).astype(str))  # 90% numbers
    spec = spec_for(write_set(frame, tmp_path / "set"))
    with pytest.raises(DataError) as local:
        load_dataset(spec, show_warnings=False)
    with pytest.raises(DataError) as lazy:
        load_lazy(spec, None)
    assert str(lazy.value) == str(local.value) and "'Score'" in str(lazy.value)


def test_lags_over_many_files_are_refused_with_the_fix(tmp_path: Path, telco: pd.DataFrame) -> None:
    spec = spec_for(write_set(telco.head(600), tmp_path / "set"), time_column=None,
                    lags={"column": "MonthlyCharges", "periods": [1]}, rows_in_time_order=True)
    with pytest.raises(DataError, match="merge them into one file"):
        load_lazy(spec, None)


def test_take_and_subset_are_the_local_iloc_rows(tmp_path: Path, telco: pd.DataFrame) -> None:
    spec = spec_for(write_set(telco, tmp_path / "set"))
    local, lazy = load_dataset(spec, show_warnings=False), load_lazy(spec, None)
    order = np.array([7000, 3, 2348, 2349, 5])  # any order, across partition edges
    pd.testing.assert_frame_equal(lazy.take(order, ["tenure", "Contract"]), local.iloc[order][["tenure", "Contract"]])
    rows = np.arange(1, len(local), 5)
    pd.testing.assert_frame_equal(lazy.compute(lazy.subset(rows))[0], local.iloc[rows])
    assert lazy.take(np.array([], dtype=int)).empty


@pytest.mark.parametrize("kind", ["csv", "parquet set"])
def test_split_parts_on_the_cluster_are_the_local_parts(client, tmp_path: Path, telco: pd.DataFrame, kind: str) -> None:
    spec = spec_for(TELCO if kind == "csv" else write_set(telco, tmp_path / "set"))
    frame = assert_same_as_local(spec, client)
    y = labels_to_binary(frame["Churn"], "Yes")
    split = make_split(frame, y, 0.2, 0.2, seed=3)
    save_split(tmp_path / "run", split, spec)
    for part in ("train", "test"):
        X_local, y_local = load_split(tmp_path / "run", part=part)
        X, y_lazy, data = load_split_lazy(tmp_path / "run", part, client)
        pd.testing.assert_frame_equal(data.compute(X)[0], X_local)
        np.testing.assert_array_equal(y_lazy, y_local)
    if kind != "csv":  # the data changed since the split: refused, as locally
        write_set(telco.iloc[::-1].reset_index(drop=True), spec.path)
        with pytest.raises(DataError, match="the data changed"):
            load_split_lazy(tmp_path / "run", "test", client)
