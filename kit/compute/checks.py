"""Profiling, the quality report and the data contract on Dask: summaries per partition, merged on the workers.

Each function here gives what its in-memory counterpart gives on ``frame.compute()`` (the same DataProfile, the
same QualityReport, the same contract JSON, the same ContractReport). How each figure merges:

* Counts (rows, missing, blank strings, infinite values, failed contract checks) are sums.
* The per-partition summaries merge in a tree on the workers (``TREE_WIDTH`` at a time): the client receives
  one merged summary, whatever the number of partitions.
* Distinct values (constant and id-like columns, high-cardinality levels): a partition keeps its distinct
  non-missing values when it holds at most ``distinct_cap`` of them, the tree unites them while the union stays
  within the cap, and their count is exact. A column beyond the cap (in one partition or in a union) is
  counted by Dask's own exact distributed ``nunique`` (hash-partitioned, so no process holds every value):
  still exact; the cap bounds what a merge holds and what reaches the client (``distinct_cap`` values a column).
* Duplicate rows: each row is hashed (64 bits, pandas' ``hash_pandas_object``, which hashes -0.0 and 0.0, and
  every NaN, alike, as ``DataFrame.duplicated`` compares them), and the duplicates are the rows minus the
  distinct hashes, counted by Dask's distributed ``nunique``. Two different rows with the same hash would hide one duplicate
  less: for n distinct rows the chance of any collision is about n^2 / 2^65 (3e-6 at 10 million rows).
* Numbers stored as text: the separator style of a column is decided by "any" votes, which merge with "or";
  each partition counts its parsed values in every style and the merge keeps the counts of the column's style.
* Near-constant shares over the training rows: Dask's ``value_counts`` (a tree of per-partition counts).
* The leakage screen is the local code on the seeded sample of training rows (``_sample_rows``), gathered by
  position: its figures are the local ones.
* The contract: nullability ("any"), levels (union) and ranges (min of minima, max of maxima).
* Contract validation: pandera on each partition; counts of failing rows are sums, the examples (the first three
  distinct values, sorted) the first three of the partitions' first three, and a failure of a whole column
  (a missing column, a wrong dtype) is counted once, as pandera counts it on the whole frame. A column that
  cannot be made numbers in one partition cannot on the whole frame either, where its range check then fails
  on the text (a type error the report drops): its out-of-range values found in other partitions are dropped.
* A time column: each partition parses its values as the whole column would be parsed (the decisions that
  depend on the whole column, such as the date format pandas infers from the column's first value or whether
  its floats are whole, are taken first over every partition); earliest and latest merge with min and max,
  unparsed values are a sum. A column stored as timestamps merges its minimum and maximum directly. Only a
  column whose parse fails (values out of a format's range, text that is all numbers) is gathered, so the
  message names the same values.

``frame`` is a Dask DataFrame indexed by global row position (as ``kit.compute.lazy.load_lazy`` gives) with
the same categories in every partition. ``client=None`` computes in-process (Dask's synchronous scheduler).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from kit.compute.drift import _over_partitions
from kit.compute.lazy import compute as _compute
from kit.errors import DataError
from kit.profile import (
    NUMERIC_TEXT_SHARE, SEPARATOR_STYLES, DataProfile, FrameCounts, assemble_profile, blank_string_counts,
    infinite_counts, numeric_share, parse_in_style, separator_votes, style_of_votes, time_facts,
)
from kit.schema import DatasetSpec

DISTINCT_CAP = 50_000
"""Most distinct values of a column a partition's summary (or a merge of them) holds; beyond it Dask's distributed
nunique counts the column (exactly)."""
HEAD_ROWS = 200
"""The rows the numeric-text screen looks at first (as kit.profile.numeric_text_mask)."""
STYLES = (None, *SEPARATOR_STYLES)
TREE_WIDTH = 8
"""Partition summaries merged at a time on the workers (a tree: the client receives one merged summary)."""


# ---------------------------------------------------------------- profile

def _distinct_values(values: pd.Series, cap: int) -> np.ndarray | None:
    """The distinct non-missing values of a column part, or None when there are more than ``cap``."""
    unique = values.dropna().unique()
    return None if len(unique) > cap else np.asarray(unique)


def _text_columns(part: pd.DataFrame) -> list[str]:
    """The text columns (object or string dtype) as kit.profile reads them."""
    return list(part.select_dtypes(include=["object", "string"]).columns)


def _numeric_counts(values: pd.Series) -> dict[Any, tuple[int, int]]:
    """Non-blank values, and how many of them parse as numbers in each separator style (plain first)."""
    stripped = values.astype("string").str.strip().replace("", pd.NA)
    filled = int(stripped.notna().sum())
    return {style: (filled, int(parse_in_style(stripped, style).notna().sum())) for style in STYLES}


def _profile_part(part: pd.DataFrame, what: tuple[int, list[str]]) -> dict[str, Any]:
    """One partition's counts: rows, missing, blanks, infinities, distinct values, separator votes, numeric text."""
    cap, candidates = what  # candidates: text columns the head screen finds numeric (they alone get parsed)
    return {
        "rows": len(part), "missing": part.isna().sum().astype("int64"), "blanks": blank_string_counts(part),
        "infinite": infinite_counts(part), "values": {c: _distinct_values(part[c], cap) for c in part.columns},
        "votes": {c: separator_votes(pd.Series(part[c].dropna().unique(), dtype="string")) for c in candidates},
        "numeric": {c: _numeric_counts(part[c]) for c in candidates},
    }


def _row_hashes(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A 64-bit hash of each row's values in ``columns`` (pandas hashes 0.0 and -0.0, and every NaN, alike, as
    DataFrame.duplicated compares them; a category hashes by its value, not its code)."""
    return pd.util.hash_pandas_object(part[columns], index=False)


def _distinct_rows(frame: Any, columns: list[str]) -> Any:
    """Lazy count of the distinct rows of ``columns`` (distinct row hashes; exact up to 64-bit collisions)."""
    return frame.map_partitions(_row_hashes, columns, meta=pd.Series(dtype="uint64")).nunique()


def _union(sent: list[np.ndarray | None], cap: int) -> np.ndarray | None:
    """The distinct values of several parts (None when a part sent none, or there are more than ``cap``)."""
    if any(v is None for v in sent):
        return None
    union = pd.unique(np.concatenate(sent)) if len(sent) > 1 else sent[0]
    return None if len(union) > cap else union


def _combine_profiles(parts: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    """Several partitions' counts (see :func:`_profile_part`) as one: sums, unions within the cap, votes or-ed."""
    first = parts[0]

    def total(key: str) -> pd.Series:
        """The sum of one per-column count over the parts."""
        return sum((p[key] for p in parts[1:]), first[key]).astype("int64")

    return {
        "rows": sum(p["rows"] for p in parts), "missing": total("missing"), "blanks": total("blanks"),
        "infinite": total("infinite"),
        "values": {c: _union([p["values"][c] for p in parts], cap) for c in first["values"]},
        "votes": {c: tuple(any(p["votes"][c][i] for p in parts) for i in range(3)) for c in first["votes"]},
        "numeric": {c: {style: tuple(sum(p["numeric"][c][style][i] for p in parts) for i in range(2))
                        for style in STYLES} for c in first["numeric"]},
    }


def _reduced(frame: Any, fn: Any, arg: Any, combine: Any, combine_arg: Any, client: Any | None) -> Any:
    """``fn(partition, arg)`` for every partition, merged by ``combine(parts, combine_arg)`` in a tree on the
    workers (TREE_WIDTH parts at a time), so the client receives one merged summary."""
    import dask

    level, width = [dask.delayed(fn)(part, arg) for part in frame.to_delayed()], TREE_WIDTH
    while len(level) > 1:
        level = [dask.delayed(combine)(level[i:i + width], combine_arg) for i in range(0, len(level), width)]
    return _compute(client, level[0])[0]


def _numeric_text(merged: dict[str, Any], candidates: list[str], styles: dict[str, str | None],
                  columns: list[str]) -> pd.Series:
    """kit.profile.numeric_text_mask from the merged counts: parsed / non-blank values in the column's style."""
    mask = pd.Series(False, index=columns)
    if not candidates:
        return mask
    counts = {c: merged["numeric"][c][styles[c] if styles[c] in SEPARATOR_STYLES else None] for c in candidates}
    filled = pd.Series({c: n[0] for c, n in counts.items()}, dtype="int64")
    parsed = pd.Series({c: n[1] for c, n in counts.items()}, dtype="int64")
    numeric = (parsed / filled.where(filled > 0)) >= NUMERIC_TEXT_SHARE
    mask[numeric.index] = numeric.fillna(False).astype(bool)
    return mask


_NUMBER_TEXT = r"[+-]?\d+(\.\d*)?"
"""Text kit.timeparse refuses as dates without a time_format (numbers stored as text)."""


def _time_first(values: pd.Series, time_format: str | None) -> dict[str, Any]:
    """What a time column's parse decides over the whole column, for one partition: its first values, whether
    its floats are whole (they are then read as integers), whether its text is all numbers, and the date format
    pandas would infer from its first value (pandas infers one format from the first value of a column)."""
    import warnings

    from pandas._libs import tslib
    from pandas.core.tools.datetimes import _guess_datetime_format_for_array

    out: dict[str, Any] = {"notna": int(values.notna().sum()), "head": values.dropna().head(3)}
    if pd.api.types.is_float_dtype(values):
        out["whole"] = bool((values.dropna() == values.dropna().round()).all())
    elif time_format is None and not (pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)):
        text = values.astype("string").str.strip()  # kit.timeparse._as_text of a column that is not float
        out["numbers"] = (bool(text.dropna().str.fullmatch(_NUMBER_TEXT).all()), bool(text.notna().any()))
        array = text.to_numpy(dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out["guess"] = (tslib.first_non_null(array) != -1, _guess_datetime_format_for_array(array))
    return out


def _time_part(values: pd.Series, plan: tuple[str | None, bool]) -> dict[str, Any]:
    """One partition of a time column parsed as the whole column is (``plan``: the format, and whether floats
    stay floats): its earliest and latest time and the values that do not parse, or that parsing failed."""
    from kit.timeparse import parse_time

    time_format, as_object = plan
    try:
        parsed = parse_time(values.astype(object) if as_object else values, time_format)
    except DataError:
        return {"error": True}
    return {"error": False, "unparsed": int((parsed.isna() & values.notna()).sum()), "min": parsed.min(),
            "max": parsed.max()}


def _time_plan(first: list[dict[str, Any]], dtype: Any, time_format: str | None) -> tuple[str | None, bool] | None:
    """How every partition parses the time column as the whole column would be, or None when the whole column's
    parse fails (numbers stored as text without a format)."""
    if "numbers" in first[0]:  # text without a format: refused when all numbers, else the first value's format
        if all(p["numbers"][0] for p in first) and any(p["numbers"][1] for p in first):
            return None
        guess = next((p["guess"][1] for p in first if p["guess"][0]), None)
        return (guess or "mixed"), False
    pattern = time_format is not None and time_format not in ("year", "unix_seconds", "unix_milliseconds")
    whole = all(p.get("whole", True) for p in first)
    return time_format, bool(pattern and pd.api.types.is_float_dtype(dtype) and not whole)


def _time_facts_dask(frame: Any, name: str, now: Any, time_format: str | None, client: Any | None) -> dict[str, Any]:
    """kit.profile.time_facts of a time column from per-partition parses that decide as the whole column does
    (a timestamp column: its merged minimum and maximum). Only a column whose parse fails (a number column
    without time_format, text that is all numbers, values out of a format's range) is gathered to the client,
    so that the message names the same values."""
    column = frame[name]
    dtype = frame._meta[name].dtype
    if time_format is None and pd.api.types.is_datetime64_any_dtype(dtype):
        low, high = _compute(client, column.min(), column.max())
        return time_facts(pd.Series([low, high], dtype=dtype, name=name), now, None)
    first = _over_partitions(column, _time_first, time_format, client)
    if time_format is None and (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)):
        head = pd.concat([p["head"] for p in first]).head(3)  # refused: the message shows the first three values
        facts = time_facts(head, now, None)
        return facts | {"time_unparsed": sum(p["notna"] for p in first)}
    plan = _time_plan(first, dtype, time_format)
    parts = _over_partitions(column, _time_part, plan, client) if plan is not None else [{"error": True}]
    if any(p["error"] for p in parts):
        (values,) = _compute(client, column)
        return time_facts(values, now, time_format)
    lows, highs = [p["min"] for p in parts if not pd.isna(p["min"])], [p["max"] for p in parts if not pd.isna(p["max"])]
    ends = [min(lows), max(highs)] if lows else [pd.NaT, pd.NaT]
    facts = time_facts(pd.Series(ends, name=name), now, None)
    return facts | {"time_unparsed": sum(p["unparsed"] for p in parts)}


def profile_frame_dask(frame: Any, id_columns: Sequence[str] = (), time_column: str | None = None,
                       now: dt.datetime | pd.Timestamp | None = None, time_format: str | None = None,
                       client: Any | None = None, distinct_cap: int = DISTINCT_CAP) -> DataProfile:
    """kit.profile.profile_frame of a Dask DataFrame, from per-partition counts merged on the client."""
    columns = [str(c) for c in frame.columns]
    for name in [*id_columns, *([time_column] if time_column else [])]:
        if name not in columns:
            raise DataError(f"column {name!r} not in the data; columns are: {', '.join(columns)}")
    meta = frame._meta
    text = _text_columns(meta)
    (head,) = _compute(client, frame[text].head(HEAD_ROWS, npartitions=-1, compute=False)) if text else (None,)
    screen = numeric_share(head) if text else pd.Series(dtype="float64")
    candidates = list(screen.index[screen >= NUMERIC_TEXT_SHARE])
    merged = _reduced(frame, _profile_part, (distinct_cap, candidates), _combine_profiles, distinct_cap, client)
    distinct = {c: int(pd.Series(v).nunique()) for c, v in merged["values"].items() if v is not None}
    over = [c for c in columns if c not in distinct]  # beyond the cap: Dask's exact distributed count
    rest = [c for c in columns if c not in set(id_columns)]
    lazy = [frame[c].nunique() for c in over] + [_distinct_rows(frame, columns)]
    lazy += [_distinct_rows(frame, rest)] if rest else []
    counted = _compute(client, *lazy)
    distinct.update({c: int(n) for c, n in zip(over, counted, strict=False)})
    rows, missing = merged["rows"], merged["missing"]
    distinct_s = pd.Series(distinct, dtype="int64").reindex(columns)
    styles = {c: style_of_votes(v) for c, v in merged["votes"].items()}
    counts = FrameCounts(
        rows=rows, dtypes=meta.dtypes, missing=missing, distinct=distinct_s,
        constant=(distinct_s + (missing > 0).astype("int64")) <= 1, blanks=merged["blanks"],
        infinite=merged["infinite"], numeric_text=_numeric_text(merged, candidates, styles, columns),
        duplicate_rows=rows - int(counted[len(over)]) if rows else 0,
        duplicate_rest=rows - int(counted[len(over) + 1]) if rest and rows else 0)
    extra = _time_facts_dask(frame, time_column, now, time_format, client) if time_column else {}
    return assemble_profile(counts, id_columns, time_column, extra,
                            lambda cols: {c: styles[c] for c in cols if styles.get(c) is not None})


# ---------------------------------------------------------------- quality report

def rows_at(frame: Any, positions: np.ndarray) -> Any:
    """Lazy: the rows of a position-indexed frame at ``positions`` (position order), each partition given only
    the positions it holds when the divisions are known."""
    import dask
    import dask.dataframe as dd

    positions = np.unique(np.asarray(positions, dtype="int64"))

    def pick(part: pd.DataFrame, wanted: np.ndarray) -> pd.DataFrame:
        """The rows of one partition whose index is wanted."""
        return part[part.index.isin(wanted)]

    if not frame.known_divisions:
        return frame.map_partitions(pick, positions, meta=frame._meta)
    divisions = frame.divisions
    cuts = np.searchsorted(positions, np.asarray(divisions[:-1], dtype="int64"), side="left")
    ends = [*cuts[1:], len(positions)]
    parts = [dask.delayed(pick)(part, positions[a:b]) for part, a, b in zip(frame.to_delayed(), cuts, ends, strict=True)]
    return dd.from_delayed(parts, meta=frame._meta, divisions=divisions, verify_meta=False)


def take_rows(frame: Any, positions: np.ndarray, columns: list[str], client: Any | None = None) -> pd.DataFrame:
    """The rows at ``positions`` (in the order given) of ``columns``, gathered to the client."""
    positions = np.asarray(positions, dtype="int64")
    if not columns:
        return pd.DataFrame(index=pd.Index(positions))
    (rows,) = _compute(client, rows_at(frame[columns], positions))
    return rows.loc[positions]


def near_constant_dask(frame: Any, rows: np.ndarray, columns: list[str], limit: float,
                       client: Any | None = None) -> dict[str, float]:
    """kit.training.quality.near_constant_shares of ``columns`` over the rows at positions ``rows``: the top value's
    share from Dask's merged value counts."""
    from kit.training.quality import shares_above

    if not columns or not len(rows):
        return {}
    picked = rows_at(frame[columns], rows)  # only the columns screened are read
    tops = _compute(client, *[picked[c].value_counts(dropna=False).max() for c in columns])
    n = len(np.unique(rows))
    return shares_above(pd.Series([top / n for top in tops], index=columns, dtype="float64"), limit)


def quality_report_dask(
    frame: Any, spec: DatasetSpec, features: list[str], y: np.ndarray, drop_leaky: bool = True, seed: int = 0,
    rows: np.ndarray | None = None, leakage_auc: float | None = None, task: str = "binary",
    classes: list[Any] | None = None, client: Any | None = None,
) -> Any:
    """kit.training.quality.quality_report of a Dask frame: the profile and the near-constant shares merged over
    partitions, the leakage screen on the local code's seeded sample of training rows (gathered by position).
    ``y`` is the gathered label array (position order), ``rows`` the training positions (all rows when None)."""
    from kit.training.quality import QualitySource, screen_quality

    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    source = QualitySource(
        dtypes=frame._meta.dtypes, profile=lambda ids: profile_frame_dask(frame, id_columns=ids, client=client),
        near_constant=lambda cols, limit: near_constant_dask(frame, rows, cols, limit, client),
        take=lambda positions, cols: take_rows(frame, positions, cols, client))
    return screen_quality(source, spec, features, y, drop_leaky, seed, rows, leakage_auc, task, classes)


# ---------------------------------------------------------------- data contract

def _merge_facts(parts: list[dict[str, dict[str, Any]]], columns: list[str]) -> dict[str, dict[str, Any]]:
    """kit.training.contract.column_facts merged: nullable if any part is, levels united, range min of min / max of max."""
    out: dict[str, dict[str, Any]] = {}
    for col in columns:  # one entry per column
        facts = [p[col] for p in parts]
        out[col] = {"nullable": any(f["nullable"] for f in facts)}
        if "levels" in facts[0]:
            out[col]["levels"] = sorted(set().union(*(f["levels"] for f in facts)))
        else:
            out[col].update(low=float(pd.Series([f["low"] for f in facts], dtype="float64").min()),
                            high=float(pd.Series([f["high"] for f in facts], dtype="float64").max()))
    return out


def infer_contract_dask(frame: Any, columns: list[str], range_margin: float | None = None,
                        name: str = "training data", unbounded: list[str] | tuple[str, ...] = (),
                        client: Any | None = None) -> Any:
    """kit.training.contract.infer_contract of a Dask frame: column facts per partition, merged (same saved JSON)."""
    from kit import content
    from kit.training.contract import column_facts, contract_from_facts

    if range_margin is None:
        range_margin = content.load("training")["contract"]["range_margin"]
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"columns {missing} not in the data; the contract covers only columns the frame has")
    parts = _over_partitions(frame[columns], column_facts, columns, client)
    return contract_from_facts(_merge_facts(parts, columns), range_margin, name, unbounded)


def _validate_part(part: pd.DataFrame, schema: Any) -> dict[str, Any]:
    """One partition validated: its rows, and when it fails, its per-row failures summarised and its whole-column
    failures as they are (counted once over the frame)."""
    from kit.training.contract import classify_failures, failure_cases, summarise_failures

    cases = failure_cases(schema, part)
    if cases is None:
        return {"rows": len(part), "passed": True}
    classified = classify_failures(cases)
    per_row = classified["index"].notna()
    return {"rows": len(part), "passed": False, "empty": summarise_failures(classified.iloc[:0]),
            "per_row": summarise_failures(classified[per_row]),
            "whole": classified.loc[~per_row, ["column", "kind", "value"]].drop_duplicates()}


def _merge_failures(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """The failure table of the whole frame from the partitions' (see :func:`_validate_part`)."""
    failed = [p for p in parts if not p["passed"]]
    whole = pd.concat([p["whole"] for p in failed]).drop_duplicates()
    whole_table = whole.groupby(["column", "kind"], sort=True).agg(
        count=("value", "size"), examples=("value", lambda v: sorted(set(v))[:3])).reset_index()
    tables = [t for t in [*(p["per_row"] for p in failed), whole_table] if len(t)]
    if not tables:
        return failed[0]["empty"]
    merged = pd.concat(tables, ignore_index=True)
    uncoerced = merged.loc[merged["kind"].eq("dtype"), "column"]  # on the whole frame their range check errors
    merged = merged[~(merged["kind"].eq("out of range") & merged["column"].isin(uncoerced))]
    table = merged.groupby(["column", "kind"], sort=True).agg(
        count=("count", "sum"), examples=("examples", lambda v: sorted(set().union(*v))[:3])).reset_index()
    table["count"] = table["count"].astype("int64")
    return table


def validate_dask(schema: Any, frame: Any, client: Any | None = None) -> Any:
    """kit.training.contract.validate of a Dask frame: pandera on each partition, failures merged (same counts,
    same examples)."""
    from kit.training.contract import ContractReport

    parts = _over_partitions(frame, _validate_part, schema, client)
    rows = sum(p["rows"] for p in parts)
    if all(p["passed"] for p in parts):
        return ContractReport(passed=True, rows=rows)
    return ContractReport(passed=False, rows=rows, failures=_merge_failures(parts))
