"""A dataset on the Dask engine: cleaned as ``load_dataset`` cleans it, indexed by global row position.

The phases address rows by position (the recorded split is positions), so the lazy frame's index *is* the
position a row has in the local engine's frame: ``frame.loc[p]`` on Dask is ``frame.iloc[p]`` locally. One
partition per Parquet file, with known divisions. A single file (CSV or Parquet: data that one process reads)
is cleaned in-process by :func:`kit.training.data.load_dataset` itself and becomes one partition, so it is the
local frame exactly. A Parquet folder or glob is cleaned on the workers by one plan decided over every
partition (the same rules: empty columns dropped, unlabelled rows dropped, infinities missing, text that holds
numbers converted, plain or written with separators, other text as categories with the same levels in every
partition, calendar features).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import DataError
from kit.schema import DatasetSpec

_CLIENTS: dict[str, Any] = {}  # one client per scheduler address for the kernel's life


def phase_client(config: Any) -> Any | None:
    """The run's cluster client for a phase (None on the local engine); one per address for the kernel's life.

    Inside a chain the run's cluster is in KIT_CLUSTER. A notebook run on its own with ``engine: dask`` and no
    address starts a local cluster of the section's size for the kernel's life (stopped when the kernel exits).
    """
    from kit.compute.engine import _connect, _start_local, effective

    section = effective(config.compute)
    if section.engine == "local":
        return None
    address = section.address or _own_cluster(section, _start_local)
    client = _CLIENTS.get(address)
    if client is None or client.status not in ("running", "connecting", "newly-created"):
        client = _CLIENTS[address] = _connect(address)
    return client


def _own_cluster(section: Any, start: Any) -> str:
    """The address of this kernel's own local cluster (started on first use, closed at exit)."""
    key = f"own:{section.n_workers}:{section.threads_per_worker}:{section.memory_limit}"
    if key not in _CLIENTS:
        import atexit

        cluster = _CLIENTS[key] = start(section)
        atexit.register(cluster.close)
    return _CLIENTS[key].scheduler_address


def compute(client: Any | None, *collections: Any, step: str = "reading the data on the cluster") -> tuple:
    """Compute Dask collections on the cluster under the fault watch (a dead worker or scheduler is a ClusterError
    naming the step), or in this process (synchronously) without a client."""
    from kit.compute import faults

    return faults.compute(client, step, *collections)


@dataclass
class LazyData:
    """The cleaned dataset as a Dask DataFrame whose index is the global row position."""

    frame: Any
    rows: int
    notes: list[str] = field(default_factory=list)
    client: Any | None = None

    def compute(self, *collections: Any) -> tuple:
        """Compute collections on this dataset's cluster (in-process without one)."""
        return compute(self.client, *collections)

    def column(self, name: str) -> pd.Series:
        """One column gathered to the client, indexed by position."""
        return self.compute(self.frame[name])[0]

    def columns(self, names: list[str]) -> pd.DataFrame:
        """A few columns gathered to the client, indexed by position."""
        return self.compute(self.frame[list(names)])[0]

    def mask(self, positions: np.ndarray) -> Any:
        """A boolean Dask Series, True at ``positions``, partitioned like the frame (no shuffle to align it)."""
        import dask.dataframe as dd

        keep = np.zeros(self.rows, dtype=bool)
        keep[np.asarray(positions, dtype=np.int64)] = True
        series = pd.Series(keep, index=pd.RangeIndex(self.rows), name="__keep__")
        return dd.from_pandas(series, npartitions=1, sort=True).repartition(divisions=self.frame.divisions)

    def subset(self, positions: np.ndarray) -> Any:
        """The rows at ``positions``, lazily, in position order and in the frame's partitions."""
        return self.frame[self.mask(positions)]

    def take(self, positions: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows at ``positions`` gathered to the client, in the order given."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return (self.frame._meta if columns is None else self.frame._meta[list(columns)]).copy()
        rows = self.subset(np.unique(positions))
        rows = rows if columns is None else rows[list(columns)]
        return self.compute(rows)[0].loc[positions]

    def data_hash(self) -> str:
        """sha256 of the values, index and column names: equal to ``frame_hash`` of the local engine's frame."""
        hashes = self.frame.map_partitions(lambda p: pd.util.hash_pandas_object(p, index=True), meta=("hash", "u8"))
        digest = hashlib.sha256(self.compute(hashes)[0].to_numpy().tobytes())
        digest.update("|".join(map(str, self.frame.columns)).encode())
        return digest.hexdigest()


def load_lazy(spec: DatasetSpec, client: Any | None) -> LazyData:
    """The Dask counterpart of ``kit.training.data.load_dataset``: the cleaned dataset, indexed by position."""
    from kit.compute.data import is_parquet_set, parquet_files

    if not is_parquet_set(spec.path):
        return _one_partition(spec, client)
    files = parquet_files(spec.path)
    if len(files) == 1:
        return _one_partition(spec, client)
    return _many_partitions(spec, files, client)


def _one_partition(spec: DatasetSpec, client: Any | None) -> LazyData:
    """A file one process reads: cleaned by load_dataset itself, one partition (the local frame exactly)."""
    import dask
    import dask.dataframe as dd

    from kit.training.data import load_dataset

    frame = load_dataset(spec, show_warnings=False)
    frame.index = pd.RangeIndex(len(frame))
    with dask.config.set({"dataframe.convert-string": False}):
        lazy = dd.from_pandas(frame, npartitions=1, sort=True)
    if client is not None:
        lazy = client.persist(lazy)
    return LazyData(lazy, len(frame), list(frame.attrs.get("kit_notes", [])), client)


# ---- a Parquet set: one cleaning plan over every partition ------------------------------------------
@dataclass
class CleaningPlan:
    """The column decisions load_dataset takes, taken once over every partition."""

    drop: list[str]
    numbers: dict[str, dict[Any, float]]  # text column -> its levels parsed as numbers
    categories: dict[str, list[Any]]  # text column -> its sorted levels
    infinite: list[str]
    whole_target: bool
    calendar: list[str] | None = None
    dtypes: dict[str, Any] = field(default_factory=dict)  # column -> the set's dtype, where files read differently


def _raw_summary(part: pd.DataFrame, target: str) -> dict[str, Any]:
    """What the plan needs from one raw partition: rows, missing counts, text level counts, infinite counts.

    Text levels are counted in order of first appearance (as ``load_dataset`` meets them row by row), so the
    merged counts of the set name the same examples in its notes and errors.
    """
    from kit.profile import infinite_counts
    from kit.training.data import _is_text, text_levels, whole_numbers

    labelled = part.loc[part[target].notna().to_numpy()]  # levels and infinities of the rows kept, as locally
    # booleans too: a bool column with a missing value in another file is text (object) in the whole set
    text = [c for c in part.columns if c != target and (_is_text(part[c]) or pd.api.types.is_bool_dtype(part[c]))]
    labels = labelled[target]
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    return {
        "rows": len(part), "labelled": len(labelled),
        "missing": part.isna().sum(), "dtypes": part.dtypes,
        "levels": {c: text_levels(labelled[c])[1] for c in text},
        "infinite": infinite_counts(labelled.drop(columns=[target])),
        "whole_target": numeric and str(whole_numbers(labels.astype("float64")).dtype) == "Int64",
    }


def _set_dtypes(dtypes: list[pd.Series]) -> dict[str, Any]:
    """The dtype of each column in the whole set, from each file's (the local engine reads the files as one table)."""
    return {col: _common_dtype([d[col] for d in dtypes]) for col in dtypes[0].index}  # a loop over columns


def _common_dtype(dtypes: list[Any]) -> Any:
    """The dtype pyarrow gives a column read over every file from each file's: an integer column with a missing
    value in some file is float64, a boolean one object, and a dictionary column has the first file's categories
    followed by those the others add."""
    first = dtypes[0]
    if all(isinstance(t, pd.CategoricalDtype) for t in dtypes):
        categories = pd.concat([t.categories.to_series() for t in dtypes]).unique()
        return pd.CategoricalDtype(pd.Index(categories, dtype=first.categories.dtype), ordered=first.ordered)
    if all(_same_dtype(t, first) for t in dtypes):
        return first
    if all(isinstance(t, np.dtype) for t in dtypes):
        return np.result_type(*dtypes)
    return np.dtype(object)


def _same_dtype(a: Any, b: Any) -> bool:
    """Equal dtypes, categories in the same order (pandas finds two unordered categoricals equal in any order)."""
    if isinstance(a, pd.CategoricalDtype) and isinstance(b, pd.CategoricalDtype):
        return a.ordered == b.ordered and a.categories.equals(b.categories)
    return a == b


def _as_in_set(part: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """A raw partition with the columns whose dtype differs from the set's cast to it (categories re-coded)."""
    out = part.astype({c: t for c, t in dtypes.items() if not isinstance(t, pd.CategoricalDtype)})
    for col, dtype in dtypes.items():  # a loop over columns
        if isinstance(dtype, pd.CategoricalDtype):
            out[col] = out[col].cat.set_categories(dtype.categories, ordered=dtype.ordered)
    return out


def _is_text_dtype(dtype: Any) -> bool:
    """Whether load_dataset treats a column of this dtype as text."""
    from kit.training.data import _is_text

    return _is_text(pd.Series([], dtype=dtype))


def _merge_counts(series: list[pd.Series]) -> pd.Series:
    """Counts per value summed over partitions, in order of first appearance."""
    return pd.concat(series).groupby(level=0, sort=False).sum() if series else pd.Series(dtype="int64")


def _text_decision(levels: pd.Series, col: str, never_feature: bool) -> tuple[str, Any, str]:
    """('numbers', level -> value, note) or ('category', sorted levels, '') for a text column: load_dataset's own
    rule (:func:`kit.training.data.text_rule`, numbers written with separators included) on the set's counts."""
    from kit.training.data import text_rule

    numbers, note = text_rule(levels, col, never_feature, csv=False)
    if numbers is None:
        return "category", sorted(levels.index.tolist()), ""
    return "numbers", dict(zip(levels.index, numbers)), note


def plan_cleaning(summaries: list[dict[str, Any]], spec: DatasetSpec, columns: list[str]) -> tuple[CleaningPlan, list[str]]:
    """The cleaning plan of a partitioned dataset and the load notes (the same wording as load_dataset's)."""
    rows = sum(s["rows"] for s in summaries)
    missing = sum(s["missing"] for s in summaries)
    dtypes = _set_dtypes([s["dtypes"] for s in summaries])
    notes: list[str] = []
    drop = [c for c in columns if c != spec.target and missing[c] == rows]
    if drop:
        notes.append(f"columns {drop} are entirely empty and were dropped; remove them from the file or fill them")
    unlabelled = int(missing[spec.target])
    if unlabelled:
        notes.append(f"{unlabelled} rows have no value in target {spec.target!r} and were dropped")
    infinite = sum(s["infinite"] for s in summaries)
    infinite = infinite[(infinite > 0) & ~infinite.index.isin(drop)]
    notes += [f"column {c!r} holds {int(n)} infinite value(s) (inf/-inf, or beyond ±3.4e38, which the boosters store "
              "as infinity); treated as missing: fix them at the source" for c, n in infinite.items()]
    numbers, categories = {}, {}
    never = {*spec.id_columns, *spec.drop_columns}
    text = [c for c in columns if c != spec.target and c not in drop and _is_text_dtype(dtypes[c])]
    for col in text:  # a loop over columns, not rows
        levels = _merge_counts([s["levels"][col] for s in summaries])
        kind, value, note = _text_decision(levels, col, col in never)
        if kind == "numbers":
            numbers[col] = value
            notes.append(note)
        else:
            categories[col] = value
    whole = (bool(unlabelled) and pd.api.types.is_float_dtype(dtypes[spec.target])
             and all(s["whole_target"] for s in summaries))
    differ = {c: t for c, t in dtypes.items() if not all(_same_dtype(s["dtypes"][c], t) for s in summaries)}
    plan = CleaningPlan(drop=drop, numbers=numbers, categories=categories, infinite=list(infinite.index),
                        whole_target=whole, dtypes=differ)
    return plan, notes


def clean_partition(part: pd.DataFrame, plan: CleaningPlan, spec: DatasetSpec, offset: int) -> pd.DataFrame:
    """One raw partition cleaned by the plan, indexed by global row position from ``offset``."""
    from kit.profile import FLOAT32_MAX

    out = _as_in_set(part, plan.dtypes).drop(columns=plan.drop)  # each column as the whole set reads it
    out = out.loc[out[spec.target].notna().to_numpy()]
    out.index = pd.RangeIndex(offset, offset + len(out))
    if plan.whole_target:  # whole numbers in every file: the labels as integers (load_dataset's whole_numbers)
        out[spec.target] = out[spec.target].astype("Int64")
    for col in plan.infinite:
        out[col] = out[col].mask(out[col].abs() > FLOAT32_MAX)
    for col, values in plan.numbers.items():
        out[col] = out[col].map(values).astype("float64")
    for col, levels in plan.categories.items():
        out[col] = out[col].astype(_category_dtype(levels, out[col].dtype))
    if plan.calendar is not None:
        from kit.training.features import _stamps, calendar_features

        out = pd.concat([out, calendar_features(_stamps(out, spec), spec.time_column, plan.calendar)], axis=1)
    return out


def _category_dtype(levels: list[Any], dtype: Any) -> pd.CategoricalDtype:
    """The dtype ``astype("category")`` gives a column of ``dtype`` holding ``levels`` (categories of the same type)."""
    return pd.Series(levels, dtype=dtype).astype("category").dtype


def _read_file(name: str, options: dict[str, Any], metadata: dict[bytes, bytes] | None = None) -> pd.DataFrame:
    """One Parquet file of the set, read with the dataset's columns/filters options and the set's schema metadata
    (the first file's, which the local engine reads the whole set with: it holds the pandas dtypes)."""
    import pyarrow.dataset as ds

    from kit.compute.data import _filter

    table = ds.dataset(name, format="parquet").to_table(columns=options.get("columns"),
                                                       filter=_filter(options.get("filters")))
    return (table if metadata is None else table.replace_schema_metadata(metadata)).to_pandas()


def _clean_file(name: str, offset: int, options: dict[str, Any], plan: CleaningPlan, spec: DatasetSpec,
                metadata: dict[bytes, bytes] | None = None) -> pd.DataFrame:
    """Read and clean one file of the set (a task on a worker)."""
    return clean_partition(_read_file(name, options, metadata), plan, spec, offset)


def _summarize_file(name: str, options: dict[str, Any], target: str,
                    metadata: dict[bytes, bytes] | None = None) -> dict[str, Any]:
    """The plan's summary of one raw file (a task on a worker)."""
    part = _read_file(name, options, metadata)
    if target not in part.columns:
        from kit.errors import did_you_mean

        raise DataError(f"dataset.target: column {target!r} is not in {Path(name).name}{did_you_mean(target, part.columns)}; "
                        "set dataset.target to the label column")
    return _raw_summary(part, target)


def _run(client: Any | None, fn: Any, items: list[tuple]) -> list[Any]:
    """``fn(*item)`` for every item: as tasks on the cluster, or in this process without a client."""
    if client is None:
        return [fn(*item) for item in items]
    futures = [client.submit(fn, *item, pure=False) for item in items]
    return client.gather(futures)


def _many_partitions(spec: DatasetSpec, files: list[str], client: Any | None) -> LazyData:
    """A Parquet set: summarized per file on the workers, planned once, cleaned per file lazily."""
    import dask
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    from kit.compute.data import _parquet_options, check_schemas

    check_schemas(files)
    options = _parquet_options(spec.read_options)
    if spec.lags:
        raise DataError(f"dataset.lags: lag features need the rows before each row, across files; {spec.path} is "
                        f"{len(files)} Parquet files: merge them into one file, or add the lag columns to the data")
    metadata = pq.read_schema(files[0]).metadata
    summaries = _run(client, _summarize_file, [(f, options, spec.target, metadata) for f in files])
    columns = list(summaries[0]["missing"].index)
    plan, notes = plan_cleaning(summaries, spec, columns)
    labelled = np.array([s["labelled"] for s in summaries], dtype=np.int64)
    kept = [i for i in range(len(files)) if labelled[i] > 0]
    if not kept:
        raise DataError(f"{spec.path}: no row has a value in target {spec.target!r}; point dataset.path at labelled data")
    offsets = np.concatenate([[0], np.cumsum(labelled[kept])])
    rows = int(offsets[-1])
    if spec.calendar:
        plan.calendar, note = _calendar_plan(spec, files, kept, options, plan, offsets, client, metadata)
        notes.append(note)
    items = [(files[i], int(offsets[k]), options, plan, spec, metadata) for k, i in enumerate(kept)]
    meta = _clean_file(*items[0]).iloc[:0]
    divisions = tuple(int(o) for o in offsets[:-1]) + (rows - 1,)
    with dask.config.set({"dataframe.convert-string": False}):  # the same string dtype as the local engine
        frame = dd.from_map(_clean_file, *zip(*items), meta=meta, divisions=divisions, enforce_metadata=False)
    return LazyData(frame, rows, notes, client)


def _calendar_plan(spec: DatasetSpec, files: list[str], kept: list[int], options: dict[str, Any], plan: CleaningPlan,
                   offsets: np.ndarray, client: Any | None,
                   metadata: dict[bytes, bytes] | None = None) -> tuple[list[str], str]:
    """The calendar parts that vary over the whole time column (gathered: one column), and the load note."""
    from kit.training.features import _stamps, calendar_parts

    if not spec.time_column:
        raise DataError("dataset.calendar needs dataset.time_column; name the column that holds the date")
    column_options = {**options, "columns": [spec.time_column, spec.target]}
    parts = _run(client, _read_file, [(files[i], column_options, metadata) for i in kept])
    times = pd.concat([p.loc[p[spec.target].notna()] for p in parts], ignore_index=True)
    chosen = calendar_parts(_stamps(times, spec), spec.calendar)
    return chosen, f"calendar features from {spec.time_column!r}: {', '.join(chosen) or 'none (nothing varies)'}"


# ---- the recorded split on the Dask engine -----------------------------------------------------------
def load_split_lazy(ctx_or_run_dir: Any, part: str, client: Any | None) -> tuple[Any, np.ndarray, LazyData]:
    """(X lazily, y, the dataset) of one recorded split part, in position order: the Dask ``load_split``."""
    splits, data = load_splits_lazy(ctx_or_run_dir, client, (part,))
    return (*splits[part], data)


def load_splits_lazy(ctx_or_run_dir: Any, client: Any | None,
                     parts: tuple[str, ...] = ("train", "valid", "test")) -> tuple[dict[str, tuple[Any, np.ndarray]], LazyData]:
    """{part: (X lazily, y)} of recorded split parts, in position order, and the dataset: loaded and verified once."""
    from kit.training.data import encode_task_target, read_split_record, recorded_parts

    record, spec = read_split_record(ctx_or_run_dir, *parts)
    data = load_lazy(spec, client)
    if data.data_hash() != record["data_hash"]:
        raise DataError(f"{spec.path}: the data changed since training recorded the split (hash differs); "
                        "re-run the training phase on the current data")
    positions = recorded_parts(ctx_or_run_dir, record)
    labels = encode_task_target(data.column(spec.target), spec.positive_class, record.get("task", "binary")).y
    splits = {}
    for part in parts:  # a loop over the split parts
        rows = np.sort(positions[part])
        splits[part] = (data.subset(rows).drop(columns=[spec.target]), labels[rows])
    return splits, data


def engine_markdown(config: Any) -> str:
    """Where this phase computes, one Markdown line: local, or the Dask cluster with its workers and dashboard link."""
    from dataclasses import asdict

    from kit.compute.engine import dashboard_markdown, describe, effective

    client = phase_client(config)
    if client is None:
        return dashboard_markdown({"engine": "local"})
    return dashboard_markdown(asdict(describe(client, started_by_kit=not effective(config.compute).address)))
