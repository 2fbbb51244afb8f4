"""Profiling, the quality report and the data contract on Dask: summaries per partition, merged on the client.

Each function here gives what its in-memory counterpart gives on ``frame.compute()`` (the same DataProfile, the
same QualityReport, the same contract JSON, the same ContractReport). How each figure merges:

* Counts (rows, missing, blank strings, infinite values, failed contract checks) are sums.
* Distinct values (constant and id-like columns, high-cardinality levels): each partition sends its distinct
  non-missing values when it holds at most ``distinct_cap`` of them, and the client counts their union exactly.
  A column with more than ``distinct_cap`` distinct values in one partition, or in the union, is counted again
  by Dask's own exact distributed ``nunique`` (hash-partitioned, so no process holds every value): the count
  is still exact; the cap only bounds what travels to the client (at most partitions x cap values per column).
* Duplicate rows: each row is hashed (64 bits, pandas' ``hash_pandas_object``; -0.0 and NaN normalised so
  hashing agrees with ``DataFrame.duplicated``), and the duplicates are the rows minus the distinct hashes,
  counted by Dask's distributed ``nunique``. Two different rows with the same hash would hide one duplicate
  less: for n distinct rows the chance of any collision is about n^2 / 2^65 (3e-6 at 10 million rows).
* Numbers stored as text: the separator style of a column is decided by "any" votes, which merge with "or";
  each partition counts its parsed values in every style and the merge keeps the counts of the column's style.
* Near-constant shares over the training rows: Dask's ``value_counts`` (a tree of per-partition counts).
* The leakage screen is the local code on the seeded sample of training rows (``_sample_rows``), gathered by
  position: its figures are the local ones.
* The contract: nullability ("any"), levels (union) and ranges (min of minima, max of maxima).
* Contract validation: pandera on each partition; counts of failing rows are sums, the examples (the first three
  distinct values, sorted) the first three of the partitions' first three, and a failure of a whole column
  (a missing column, a wrong dtype) is counted once, as pandera counts it on the whole frame.
* A time column stored as timestamps merges its minimum and maximum; a text or number column is parsed as one
  series on the client (its format is inferred from the whole column): that one column is gathered.

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
"""Most distinct values of a column one partition sends to the client; beyond it Dask counts them (exactly)."""
HEAD_ROWS = 200
"""The rows the numeric-text screen looks at first (as kit.profile.numeric_text_mask)."""
STYLES = (None, *SEPARATOR_STYLES)


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
    cap, candidates = what
    text = _text_columns(part)
    return {
        "rows": len(part), "missing": part.isna().sum().astype("int64"), "blanks": blank_string_counts(part),
        "infinite": infinite_counts(part), "values": {c: _distinct_values(part[c], cap) for c in part.columns},
        "votes": {c: separator_votes(pd.Series(part[c].dropna().unique(), dtype="string")) for c in text},
        "numeric": {c: _numeric_counts(part[c]) for c in candidates},
    }


def _row_hashes(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A 64-bit hash of each row's values in ``columns`` (equal rows, as DataFrame.duplicated sees them, hash alike)."""
    sub = part[columns].copy()
    for name in sub.columns:
        if pd.api.types.is_float_dtype(sub[name]) and not isinstance(sub[name].dtype, pd.CategoricalDtype):
            values = sub[name] + 0.0  # -0.0 becomes 0.0, as duplicated() compares them equal
            sub[name] = values.where(values.notna())  # one NaN bit pattern
    return pd.util.hash_pandas_object(sub, index=False)


def _distinct_rows(frame: Any, columns: list[str]) -> Any:
    """Lazy count of the distinct rows of ``columns`` (distinct row hashes; exact up to 64-bit collisions)."""
    return frame.map_partitions(_row_hashes, columns, meta=pd.Series(dtype="uint64")).nunique()


def _merge_distinct(parts: list[dict[str, Any]], columns: list[str], cap: int) -> tuple[dict[str, int], list[str]]:
    """Exact distinct counts of the columns every partition sent in full (their union within the cap), and the
    columns left for Dask's distributed count."""
    counts, over = {}, []
    for name in columns:  # a loop over columns
        sent = [p["values"][name] for p in parts]
        union = pd.unique(np.concatenate(sent)) if sent and all(v is not None for v in sent) else None
        if union is None or len(union) > cap:
            over.append(name)
        else:
            counts[name] = int(pd.Series(union).nunique())
    return counts, over


def _numeric_text(parts: list[dict[str, Any]], candidates: list[str], text: list[str],
                  styles: dict[str, str | None], columns: list[str]) -> pd.Series:
    """kit.profile.numeric_text_mask from the merged counts: parsed / non-blank values in the column's style."""
    mask = pd.Series(False, index=columns)
    if not text or not candidates:
        return mask
    filled = pd.Series({c: sum(p["numeric"][c][styles[c] if styles[c] in SEPARATOR_STYLES else None][0]
                               for p in parts) for c in candidates}, dtype="int64")
    parsed = pd.Series({c: sum(p["numeric"][c][styles[c] if styles[c] in SEPARATOR_STYLES else None][1]
                               for p in parts) for c in candidates}, dtype="int64")
    numeric = (parsed / filled.where(filled > 0)) >= NUMERIC_TEXT_SHARE
    mask[numeric.index] = numeric.fillna(False).astype(bool)
    return mask


def _time_facts_dask(frame: Any, name: str, now: Any, time_format: str | None, client: Any | None) -> dict[str, Any]:
    """kit.profile.time_facts of a time column: from its merged minimum and maximum when it holds timestamps,
    else from the column gathered to the client (a text or number column's format is inferred from all of it)."""
    column = frame[name]
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        low, high = _compute(client, column.min(), column.max())
        return time_facts(pd.Series([low, high], dtype=column.dtype, name=name), now, time_format)
    (values,) = _compute(client, column)
    return time_facts(values, now, time_format)


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
    parts = _over_partitions(frame, _profile_part, (distinct_cap, candidates), client)
    distinct, over = _merge_distinct(parts, columns, distinct_cap)
    rest = [c for c in columns if c not in set(id_columns)]
    lazy = [frame[c].nunique() for c in over] + [_distinct_rows(frame, columns)]
    lazy += [_distinct_rows(frame, rest)] if rest else []
    counted = _compute(client, *lazy)
    distinct.update({c: int(n) for c, n in zip(over, counted, strict=False)})
    rows = sum(p["rows"] for p in parts)
    missing = sum((p["missing"] for p in parts[1:]), parts[0]["missing"]).astype("int64")
    distinct_s = pd.Series(distinct, dtype="int64").reindex(columns)
    votes = {c: tuple(any(p["votes"][c][i] for p in parts) for i in range(3)) for c in text}
    styles = {c: style_of_votes(v) for c, v in votes.items()}
    counts = FrameCounts(
        rows=rows, dtypes=meta.dtypes, missing=missing, distinct=distinct_s,
        constant=(distinct_s + (missing > 0).astype("int64")) <= 1,
        blanks=sum((p["blanks"] for p in parts[1:]), parts[0]["blanks"]).astype("int64"),
        infinite=sum((p["infinite"] for p in parts[1:]), parts[0]["infinite"]).astype("int64"),
        numeric_text=_numeric_text(parts, candidates, text, styles, columns),
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


def near_constant_dask(frame: Any, columns: list[str], limit: float, client: Any | None = None) -> dict[str, float]:
    """kit.training.quality.near_constant_shares on a Dask frame: the top value's share from merged value counts."""
    from kit.training.quality import shares_above

    if not columns:
        return {}
    lazy = [frame[c].value_counts(dropna=False).max() for c in columns] + [frame.index.size]
    *tops, n = _compute(client, *lazy)
    if not n:
        return {}
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
        near_constant=lambda cols, limit: near_constant_dask(rows_at(frame, rows), cols, limit, client),
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
