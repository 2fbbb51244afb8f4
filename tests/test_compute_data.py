"""Parquet folders and globs as datasets: read lazily on Dask (one partition for small data), fully on local."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.compute.data import read_lazy
from kit.config import validate_config
from kit.data import read_column, read_columns, read_table
from kit.errors import ConfigError, DataError

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    """The bundled Telco data."""
    return pd.read_csv(TELCO)


@pytest.fixture
def folder(tmp_path: Path, telco: pd.DataFrame) -> Path:
    """Telco split into three Parquet files (one in a sub-folder, as partitioned datasets are)."""
    root = tmp_path / "telco"
    (root / "year=2024").mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(telco)), 3)):
        where = root / "year=2024" if i == 2 else root
        telco.iloc[part].to_parquet(where / f"part-{i}.parquet", index=False)
    (root / "_SUCCESS").write_text("")  # not Parquet: ignored
    return root


def test_folder_and_glob_read_the_same_rows(folder: Path, telco: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(read_table(folder), telco)
    globbed = read_table(folder / "part-*.parquet")
    assert len(globbed) == len(telco[: len(globbed)]) and len(globbed) < len(telco)
    assert read_columns(folder) == list(telco.columns)
    assert read_table(folder, nrows=5).equals(telco.head(5))
    pd.testing.assert_series_equal(read_column(folder, "Churn"), telco["Churn"])


def test_lazy_read_is_partitioned_and_equal(folder: Path, telco: pd.DataFrame) -> None:
    lazy = read_lazy(folder)
    assert lazy.npartitions == 3 and lazy[["tenure"]].npartitions == lazy["Churn"].npartitions == 3
    got = lazy.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, telco)
    only = read_lazy(folder, columns=["tenure", "Churn"])
    assert list(only.columns) == ["tenure", "Churn"]


def test_small_file_on_dask_is_one_partition(telco: pd.DataFrame) -> None:
    lazy = read_lazy(TELCO)
    assert lazy.npartitions == 1
    pd.testing.assert_frame_equal(lazy.compute(), telco)


def test_config_accepts_a_parquet_folder(folder: Path) -> None:
    config = validate_config({"organization": {"name": "Acme"},
                              "dataset": {"path": str(folder), "target": "Churn", "positive_class": "Yes",
                                          "sensitive": ["gender"], "id_columns": ["customerID"]}})
    assert config.dataset.path == folder
    with pytest.raises(ConfigError, match="column 'Chrun' not in"):
        validate_config({"organization": {"name": "Acme"}, "dataset": {"path": str(folder), "target": "Chrun"}})


def test_bad_parquet_sets_are_clear_data_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="matches no Parquet file"):
        read_table(tmp_path / "nothing-*.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="this folder matches no Parquet file"):
        read_lazy(tmp_path / "empty")
    with pytest.raises(DataError, match=r"takes only columns and filters.*\['sep'\]|\['sep'\].*takes only"):
        read_table(folder, {"sep": ";"})
    pd.DataFrame({"customerID": [1.5]}).to_parquet(folder / "part-9.parquet")  # other columns and types
    with pytest.raises(DataError, match=r"part-9.parquet: its columns or types differ from part-0.parquet's"):
        read_table(folder)
    with pytest.raises(DataError, match="must share one schema"):
        read_lazy(folder)


def test_manifest_hashes_every_file_of_a_parquet_folder(folder: Path) -> None:
    config = validate_config({"organization": {"name": "Acme"},
                              "dataset": {"path": str(folder / "**" / "*.parquet"), "target": "Churn", "positive_class": "Yes"}})
    assert [p.name for p in config.data_files()] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
