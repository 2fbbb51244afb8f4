"""Dataset profiling: size, missing values, duplicates, constant and id-like columns, time range.

Pure and vectorized: ``profile_frame`` takes a DataFrame and returns a ``DataProfile``; it reads
no files and draws nothing. Used by the readiness phase (data evidence) and the training phase
(data quality report).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit.errors import DataError

ID_UNIQUE_SHARE = 0.95
"""A non-float column whose values are at least this unique is id-like."""

NUMERIC_TEXT_SHARE = 0.95
"""A text column whose non-blank values parse as numbers at least this often is numeric stored as text."""


@dataclass(frozen=True)
class ColumnProfile:
    """One column: its kind, missing share, distinct values and flags."""

    name: str
    dtype: str
    kind: str
    missing: int
    missing_share: float
    blank_strings: int
    distinct: int
    constant: bool
    id_like: bool


@dataclass(frozen=True)
class DataProfile:
    """Summary facts of a data frame (see ``profile_frame``)."""

    rows: int
    columns: int
    missing_cells: int
    missing_cell_share: float
    missing_share: dict[str, float]
    blank_strings: dict[str, int]
    duplicate_rows: int
    duplicate_rows_ignoring_ids: int
    constant_columns: list[str]
    id_like_columns: list[str]
    numeric_text_columns: list[str]
    declared_id_columns: list[str]
    kinds: dict[str, int]
    column_profiles: list[ColumnProfile] = field(repr=False)
    time_column: str | None = None
    time_min: str | None = None
    time_max: str | None = None
    time_unparsed: int | None = None
    freshness_days: float | None = None
    as_of: str | None = None
    time_error: str | None = None
    infinite_values: dict[str, int] = field(default_factory=dict)
    separator_number_columns: dict[str, str] = field(default_factory=dict)

    @property
    def duplicate_share(self) -> float:
        """Share of rows that repeat an earlier row (ignoring declared id columns)."""
        return self.duplicate_rows_ignoring_ids / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field (column profiles as a list of dicts)."""
        out = asdict(self)
        out["duplicate_share"] = self.duplicate_share
        return out

def column_kinds(df: pd.DataFrame) -> pd.Series:
    """Kind of each column: numeric, boolean, datetime or text/categorical."""
    return kinds_of(df.dtypes)


def kinds_of(dtypes: pd.Series) -> pd.Series:
    """:func:`column_kinds` from the columns' dtypes."""
    kinds = pd.Series("text", index=dtypes.index, dtype=object)
    kinds[[pd.api.types.is_numeric_dtype(t) for t in dtypes]] = "numeric"
    kinds[[pd.api.types.is_bool_dtype(t) for t in dtypes]] = "boolean"
    kinds[[pd.api.types.is_datetime64_any_dtype(t) for t in dtypes]] = "datetime"
    return kinds


def blank_string_counts(df: pd.DataFrame) -> pd.Series:
    """Number of empty or whitespace-only strings per text column (missing values in disguise)."""
    text = df.select_dtypes(include=["object", "string"])
    if text.empty:
        return pd.Series(0, index=df.columns, dtype="int64")
    stacked = text.astype("string")
    blanks = stacked.apply(lambda s: s.str.strip().eq("")).fillna(False).sum()
    return blanks.reindex(df.columns, fill_value=0).astype("int64")


def numeric_text_mask(df: pd.DataFrame, share: float = NUMERIC_TEXT_SHARE) -> pd.Series:
    """True for text columns whose non-blank values are (almost) all numbers, e.g. '1889.5'."""
    text = df.select_dtypes(include=["object", "string"])
    mask = pd.Series(False, index=df.columns)
    if text.empty:
        return mask
    head = numeric_share(text.head(200))  # cheap screen: only plausible columns get the full check
    candidates = head.index[head >= share]
    if len(candidates):
        numeric = numeric_share(text[candidates]) >= share
        mask[numeric.index] = numeric.fillna(False).astype(bool)
    return mask


def numeric_share(frame: pd.DataFrame) -> pd.Series:
    """Share of non-blank values per column that parse as numbers (with thousands/decimal separators too)."""
    stripped = frame.astype("string").apply(lambda s: s.str.strip()).replace("", pd.NA)
    parsed = stripped.apply(_parse_any)
    filled = stripped.notna().sum()
    return parsed.notna().sum() / filled.where(filled > 0)


_THOUSANDS_COMMA = r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"
"""1,234 or 12,345.5: ',' groups thousands, '.' marks decimals."""
_THOUSANDS_DOT = r"[-+]?\d{1,3}(?:\.\d{3})+(?:,\d*)?|[-+]?\d*,\d+"
"""1.234,5, 12.345 or 3,14: '.' groups thousands, ',' marks decimals."""

SEPARATOR_STYLES = {"comma_thousands": {"thousands": ",", "decimal": "."},
                    "decimal_comma": {"thousands": ".", "decimal": ","}}
"""Number styles with separators, as the pandas read options that read them directly."""


def separator_fix(values: pd.Series, option: str) -> str | None:
    """How to read a text column's numbers written with separators (the ``option`` to set), or None if they are not."""
    style = separator_style(pd.Series(values.dropna().unique()))
    if style is None:
        return None
    if style in SEPARATOR_STYLES:
        kind = "thousands separators" if style == "comma_thousands" else "decimal commas"
        return f"its numbers are written with {kind}: set {option}: {SEPARATOR_STYLES[style]} to read them"
    return (f"its numbers are written with separators that read two ways: set {option}: "
            f"{SEPARATOR_STYLES['comma_thousands']} for 1,234.5 or {SEPARATOR_STYLES['decimal_comma']} for 1.234,5")


def separator_style(levels: pd.Series) -> str | None:
    """How distinct text values write numbers with separators: a SEPARATOR_STYLES key, 'ambiguous', 'mixed' or None.

    Each value votes for a style when only that style reads it (1,234.5 or 1,234,567 for
    comma_thousands; 3,14 or 1.234,5 for decimal_comma); 1,234 alone could be either: 'ambiguous'.
    """
    return style_of_votes(separator_votes(levels))


def separator_votes(levels: pd.Series) -> tuple[bool, bool, bool]:
    """Whether any value is written with separators, any reads only as comma_thousands, any only as decimal_comma
    (each an 'any', so the votes of parts of a column combine with 'or')."""
    text = levels.dropna().astype("string").str.strip()
    plain = pd.to_numeric(text, errors="coerce").notna()
    comma = text.str.fullmatch(_THOUSANDS_COMMA).fillna(False).astype(bool)
    dot = text.str.fullmatch(_THOUSANDS_DOT).fillna(False).astype(bool)
    reads_comma = plain | comma
    reads_dot = dot | (plain & ~text.str.contains(".", regex=False))
    return (bool(((comma | dot) & ~plain).any()), bool((reads_comma & ~reads_dot).any()),
            bool((reads_dot & ~reads_comma).any()))


def style_of_votes(votes: tuple[bool, bool, bool]) -> str | None:
    """The separator style that :func:`separator_votes` point to (see :func:`separator_style`)."""
    separated, only_comma, only_dot = votes
    if not separated:
        return None
    if only_comma and only_dot:
        return "mixed"
    if only_comma or only_dot:
        return "comma_thousands" if only_comma else "decimal_comma"
    return "ambiguous"


def parse_separated(levels: pd.Series, style: str) -> pd.Series:
    """Numbers from text written in a SEPARATOR_STYLES style (NaN where a value is not one)."""
    seps = SEPARATOR_STYLES[style]
    text = levels.astype("string").str.strip().str.replace(seps["thousands"], "", regex=False)
    return pd.to_numeric(text.str.replace(seps["decimal"], ".", regex=False), errors="coerce").astype("float64")


def _parse_any(values: pd.Series) -> pd.Series:
    """Numbers from text, plain or in the one separator style the values use."""
    levels = pd.Series(values.dropna().unique(), dtype="string")
    return parse_in_style(values, separator_style(levels))


def parse_in_style(values: pd.Series, style: str | None) -> pd.Series:
    """Numbers from text in a separator style (plain when it is not a SEPARATOR_STYLES key)."""
    if style in SEPARATOR_STYLES:
        return parse_separated(values, style)
    return pd.to_numeric(values, errors="coerce")


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Largest magnitude a booster can store (features are float32); beyond it a value is infinite to them."""


def infinite_counts(df: pd.DataFrame) -> pd.Series:
    """Number of inf/-inf values (or magnitudes beyond float32, infinite to the boosters) per numeric column."""
    numeric = df.select_dtypes(include="number").select_dtypes(exclude="bool")
    counts = pd.Series(0, index=df.columns, dtype="int64")
    if not numeric.empty:
        values = numeric.to_numpy(dtype="float64", na_value=float("nan"))
        with np.errstate(invalid="ignore"):
            counts[numeric.columns] = (np.abs(values) > FLOAT32_MAX).sum(axis=0)
    return counts


def id_like_mask(df: pd.DataFrame, distinct: pd.Series, kinds: pd.Series,
                 unique_share: float = ID_UNIQUE_SHARE) -> pd.Series:
    """True for integer or text columns whose non-missing values are (almost) all distinct."""
    return id_like_from_counts(df.notna().sum(), distinct, df.dtypes, kinds, unique_share)


def id_like_from_counts(non_missing: pd.Series, distinct: pd.Series, dtypes: pd.Series, kinds: pd.Series,
                        unique_share: float = ID_UNIQUE_SHARE) -> pd.Series:
    """:func:`id_like_mask` from the columns' non-missing and distinct counts and their dtypes."""
    share = distinct / non_missing.where(non_missing > 0)
    is_float = pd.Series([pd.api.types.is_float_dtype(t) for t in dtypes], index=dtypes.index)
    eligible = kinds.isin(["numeric", "text"]) & ~is_float & (non_missing > 1)
    return (eligible & (share >= unique_share)).fillna(False).astype(bool)


def time_facts(series: pd.Series, now: dt.datetime | pd.Timestamp | None, time_format: str | None = None) -> dict[str, Any]:
    """Date range, unparseable values and freshness (days since the latest value) of a time column."""
    from kit.errors import DataError
    from kit.timeparse import parse_time

    reference = pd.Timestamp(now if now is not None else dt.datetime.now()).tz_localize(None)
    try:
        parsed = parse_time(series, time_format)
    except DataError as exc:  # a number column not declared as a time format: say so, never guess 1970
        return {"time_unparsed": int(series.notna().sum()), "as_of": reference.isoformat(), "time_error": str(exc)}
    unparsed = int((parsed.isna() & series.notna()).sum())
    latest = parsed.max()
    fresh = None if pd.isna(latest) else round((reference - latest) / pd.Timedelta(days=1), 2)
    return {
        "time_min": None if pd.isna(parsed.min()) else parsed.min().isoformat(),
        "time_max": None if pd.isna(latest) else latest.isoformat(),
        "time_unparsed": unparsed,
        "freshness_days": fresh,
        "as_of": reference.isoformat(),
    }


def profile_frame(df: pd.DataFrame, id_columns: Sequence[str] = (), time_column: str | None = None,
                  now: dt.datetime | pd.Timestamp | None = None, time_format: str | None = None) -> DataProfile:
    """Profile a data frame: rows, columns, missing values, duplicates, constant/id-like columns, time range."""
    for name in [*id_columns, *([time_column] if time_column else [])]:
        if name not in df.columns:
            raise DataError(f"column {name!r} not in the data; columns are: {', '.join(map(str, df.columns))}")
    df = df.rename(columns=str)
    rest = df.drop(columns=list(id_columns))
    counts = FrameCounts(
        rows=len(df), dtypes=df.dtypes, missing=df.isna().sum().astype("int64"),
        distinct=df.nunique(dropna=True).astype("int64"), constant=df.nunique(dropna=False) <= 1,
        blanks=blank_string_counts(df), infinite=infinite_counts(df), numeric_text=numeric_text_mask(df),
        duplicate_rows=int(df.duplicated().sum()), duplicate_rest=int(rest.duplicated().sum()) if rest.shape[1] else 0)
    extra = time_facts(df[time_column], now, time_format) if time_column else {}
    return assemble_profile(counts, id_columns, time_column, extra, lambda cols: separator_columns(df, cols))


@dataclass(frozen=True)
class FrameCounts:
    """The per-column counts a profile is made of (whole-frame in memory, or merged over partitions on Dask)."""

    rows: int
    dtypes: pd.Series
    missing: pd.Series
    distinct: pd.Series
    constant: pd.Series
    blanks: pd.Series
    infinite: pd.Series
    numeric_text: pd.Series
    duplicate_rows: int
    duplicate_rest: int


def assemble_profile(counts: FrameCounts, id_columns: Sequence[str], time_column: str | None, extra: dict[str, Any],
                     styles: Any) -> DataProfile:
    """The DataProfile of ``counts``; ``styles(columns)`` gives the separator style of numeric text columns."""
    rows, missing, distinct = counts.rows, counts.missing, counts.distinct
    kinds = kinds_of(counts.dtypes)
    missing_share = (missing / rows) if rows else missing.astype(float)
    id_like = id_like_from_counts(rows - missing, distinct, counts.dtypes, kinds)
    if time_column:
        id_like[time_column] = False  # timestamps are often unique, but they are not identifiers
    blanks = counts.blanks
    numeric_text = counts.numeric_text & ~id_like
    size = rows * len(counts.dtypes)
    facts = pd.DataFrame({"dtype": counts.dtypes.astype(str), "kind": kinds, "missing": missing,
                          "missing_share": missing_share.astype(float), "blank_strings": blanks,
                          "distinct": distinct, "constant": counts.constant, "id_like": id_like})
    profiles = [ColumnProfile(name=str(c), **row) for c, row in zip(facts.index, facts.to_dict("records"))]
    return DataProfile(
        rows=rows, columns=len(counts.dtypes), missing_cells=int(missing.sum()),
        missing_cell_share=float(missing.sum() / size) if size else 0.0,
        missing_share={c: float(v) for c, v in missing_share.items()},
        blank_strings={c: int(v) for c, v in blanks[blanks > 0].items()},
        duplicate_rows=counts.duplicate_rows, duplicate_rows_ignoring_ids=counts.duplicate_rest,
        constant_columns=list(counts.constant.index[counts.constant]), id_like_columns=list(id_like.index[id_like]),
        numeric_text_columns=list(numeric_text.index[numeric_text]),
        declared_id_columns=list(id_columns),
        kinds={k: int(v) for k, v in kinds.value_counts().sort_index().items()},
        column_profiles=profiles, time_column=time_column, **extra,
        infinite_values={c: int(v) for c, v in counts.infinite.items() if v},
        separator_number_columns=styles(list(numeric_text.index[numeric_text])),
    )


def separator_columns(df: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """The separator style of each given text column that writes its numbers with separators."""
    styles = {c: separator_style(pd.Series(df[c].dropna().unique(), dtype="string")) for c in columns}
    return {c: style for c, style in styles.items() if style is not None}
