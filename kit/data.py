"""Reading tabular data files (CSV or Parquet) named by a dataset spec."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from kit.errors import DataError

_READERS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    """Return 'csv' or 'parquet' from the file suffix, or raise a DataError."""
    fmt = _READERS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; use a .csv or .parquet file"
        )
    return fmt


def read_table(
    path: Path, read_options: dict[str, Any] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear error when it can't."""
    path = Path(path)
    from kit.compute.data import is_parquet_set, read_parquet_set

    if is_parquet_set(path):  # a folder or glob of Parquet files (read lazily on the Dask engine)
        return read_parquet_set(path, read_options, nrows)
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path (relative paths start at the config's folder)")
    options = dict(read_options or {})
    fmt = _format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path, **options)
            frame = frame.head(nrows) if nrows is not None else frame
        else:
            if path.suffix.lower() == ".tsv":
                options.setdefault("sep", "\t")
            options.setdefault("encoding", "utf-8-sig")
            frame = pd.read_csv(path, nrows=nrows, **options)
    except (TypeError, LookupError) as exc:  # an option the reader does not know, an unknown encoding
        raise DataError(
            f"{path}: dataset.read_options {sorted(options)} has an option pandas cannot use ({_one_line(exc)}); "
            "use pandas read_csv / read_parquet options such as sep, encoding, thousands, decimal"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a malformed file or option
        raise DataError(f"{path}: could not be read ({_one_line(exc)}); check the file and dataset.read_options") from exc
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{path}: dataset.read_options {sorted(options)} make pandas return {type(frame).__name__}, not a table; "
            "remove chunksize / iterator from dataset.read_options"
        )
    return frame


def _one_line(exc: Exception) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_columns(path: Path, read_options: dict[str, Any] | None = None) -> list[str]:
    """Return the column names of a data file without reading its rows."""
    return [str(c) for c in read_table(path, read_options, nrows=0).columns]


def read_column(path: Path, column: str, read_options: dict[str, Any] | None = None) -> pd.Series:
    """Read one column of a data file (only that column is parsed: fast on wide files)."""
    options = {k: v for k, v in (read_options or {}).items() if k != "index_col"}  # the column, not an index
    from kit.compute.data import is_parquet_set

    key = "columns" if is_parquet_set(Path(path)) or _format(Path(path)) == "parquet" else "usecols"
    options[key] = [column]
    frame = read_table(path, options)
    if column not in frame.columns:
        raise DataError(f"{path}: column {column!r} could not be read on its own; check dataset.read_options")
    return frame[column]


def file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_sha256(path: Path) -> str:
    """sha256 of the data file, or of a Parquet set: every file's name (relative) and sha256, in sorted order."""
    import hashlib

    from kit.compute.data import is_parquet_set, parquet_files

    path = Path(path)
    if not is_parquet_set(path):
        return file_sha256(path)
    files = parquet_files(path)
    root = path if path.is_dir() else Path(files[0]).parent
    digest = hashlib.sha256()
    for name in files:  # a loop over files, not rows
        digest.update(f"{Path(name).relative_to(root) if path.is_dir() else Path(name).name}:{file_sha256(Path(name))}\n"
                      .encode())
    return digest.hexdigest()
