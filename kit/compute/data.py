"""Datasets on the Dask engine: Parquet folders and globs read lazily, one file read as a single partition."""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pandas as pd

from kit.errors import DataError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
GLOB_CHARS = set("*?[")


def is_parquet_set(path: Path) -> bool:
    """Whether ``path`` names many Parquet files: a folder or a glob pattern."""
    return Path(path).is_dir() or bool(GLOB_CHARS & set(str(path)))


def parquet_files(path: Path) -> list[str]:
    """The Parquet files of a folder (recursively) or a glob, sorted; none is a DataError naming the fix."""
    path = Path(path)
    pattern = str(path / "**" / "*") if path.is_dir() else str(path)
    files = sorted(f for f in glob.glob(pattern, recursive=True)
                   if Path(f).is_file() and Path(f).suffix.lower() in PARQUET_SUFFIXES)
    if not files:
        what = "folder" if path.is_dir() else "glob"
        raise DataError(f"{path}: this {what} matches no Parquet file (.parquet, .pq, .parq); check dataset.path "
                        "(a folder of Parquet files or a pattern such as data/sales/*.parquet)")
    return files


def expand_parquet_sets(paths: set[Path]) -> set[Path]:
    """``paths`` with every Parquet folder or glob replaced by its files (for the manifest's hashes)."""
    out = {p for p in paths if not is_parquet_set(p)}
    for path in paths - out:
        try:
            out.update(Path(f) for f in parquet_files(path))
        except DataError:
            continue  # matches nothing: the config check reports it
    return out


def check_schemas(files: list[str]) -> None:
    """Every file has the first file's columns and types (read from the footers only), else a DataError naming it."""
    import pyarrow.parquet as pq

    first = pq.read_schema(files[0])
    for name in files[1:]:
        schema = pq.read_schema(name)
        if not schema.equals(first, check_metadata=False):
            theirs = {f.name: str(f.type) for f in schema}
            ours = {f.name: str(f.type) for f in first}
            diff = sorted(set(ours.items()) ^ set(theirs.items()))[:4]
            raise DataError(f"{name}: its columns or types differ from {Path(files[0]).name}'s ({diff}); the files of "
                            "one dataset must share one schema: rewrite it, or point dataset.path at the matching files")


def _parquet_options(read_options: dict[str, Any] | None) -> dict[str, Any]:
    """The read options a Parquet set accepts (only ``columns`` and ``filters``; CSV options are refused)."""
    options = dict(read_options or {})
    unknown = sorted(set(options) - {"columns", "filters"})
    if unknown:
        raise DataError(f"dataset.read_options {unknown}: a Parquet folder or glob takes only columns and filters; "
                        "remove the others (they are CSV reader options)")
    return options


def read_parquet_set(path: Path, read_options: dict[str, Any] | None = None, nrows: int | None = None) -> pd.DataFrame:
    """Read a Parquet folder or glob into memory (the local engine); ``nrows`` reads only what it needs."""
    import pyarrow.dataset as ds

    files = parquet_files(path)
    options = _parquet_options(read_options)
    check_schemas(files)
    try:
        dataset = ds.dataset(files, format="parquet")
        if nrows is not None:
            table = dataset.head(nrows, columns=options.get("columns"))
        else:
            table = dataset.to_table(columns=options.get("columns"), filter=_filter(options.get("filters")))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for unreadable or inconsistent files
        raise DataError(f"{path}: the Parquet files could not be read together ({' '.join(str(exc).split())[:200]}); "
                        "check that every file has the same columns and types") from exc
    return table.to_pandas()


def _filter(filters: Any) -> Any:
    """A pyarrow filter expression from pandas-style ``filters`` (None stays None)."""
    if filters is None:
        return None
    import pyarrow.parquet as pq

    return pq.filters_to_expression(filters)


def read_lazy(path: Path, read_options: dict[str, Any] | None = None, columns: list[str] | None = None) -> Any:
    """A Dask DataFrame of the dataset: a Parquet set lazily, one partition per file; a single CSV or Parquet file
    (small data) as one partition.

    One partition per file, whatever columns are read: splitting files by size would partition a projection
    (the features) differently from another (the label), and the boosters need them partitioned alike.
    """
    import dask
    import dask.dataframe as dd

    path = Path(path)
    if not is_parquet_set(path):
        from kit.data import read_table

        options = {**(read_options or {}), **({"usecols": columns} if columns and path.suffix == ".csv" else {})}
        frame = read_table(path, options)
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(frame[columns] if columns else frame, npartitions=1)
    files = parquet_files(path)
    options = _parquet_options(read_options)
    check_schemas(files)
    try:
        with dask.config.set({"dataframe.convert-string": False}):  # the same string dtype as the local engine
            return dd.read_parquet(files, columns=columns or options.get("columns"), filters=options.get("filters"),
                                   split_row_groups=False, dataset={"partitioning": None})
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: the Parquet files could not be read together ({' '.join(str(exc).split())[:200]}); "
                        "check that every file has the same columns and types") from exc
