"""Reading a time column: the one place where values become timestamps.

Every phase that orders, ages or batches rows by time (the training split, the readiness
freshness check, the monitoring batches) parses the column with :func:`parse_time`, so a
column means the same everywhere. Numbers are never guessed: pandas reads ``2019`` or
``0.53`` as nanoseconds after 1970, which silently puts every row in January 1970. A numeric
time column needs ``time_format`` (``year``, ``unix_seconds``, ``unix_milliseconds`` or a
strftime pattern such as ``%Y%m%d``); text dates and real timestamps need nothing.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kit.errors import DataError

NAMED_FORMATS = {"year": None, "unix_seconds": "s", "unix_milliseconds": "ms"}
FORMAT_HELP = (
    "year (e.g. 2019), unix_seconds, unix_milliseconds, or a strftime pattern such as '%Y%m%d' or '%d/%m/%Y'"
)
CHECK_ROWS = 5000


def check_time_format(value: str | None) -> str | None:
    """A valid time_format (a named format or a strftime pattern with '%'), else a ValueError for the config."""
    if value is None or value in NAMED_FORMATS or "%" in value:
        return value
    raise ValueError(f"unknown time format {value!r}; use {FORMAT_HELP}")


def format_key(key: str) -> str:
    """The config key that says how to read a time column, e.g. monitoring.production.time_format."""
    return key.removesuffix(".time_column") + ".time_format"


def parse_time(values: pd.Series, time_format: str | None = None, key: str = "dataset.time_column") -> pd.Series:
    """Timestamps (naive, NaT where a value does not parse) of a time column read as ``time_format`` says."""
    if time_format is None:
        return _parse_auto(values, key)
    if time_format == "year":
        return _parse_year(values, key)
    if time_format in NAMED_FORMATS:
        return _parse_epoch(values, NAMED_FORMATS[time_format], key)
    return _naive(_to_datetime(_as_text(values), key, format=time_format))


def _to_datetime(text: pd.Series, key: str, **options: Any) -> pd.Series:
    """pandas' date parser (NaT where a value does not parse); what pandas refuses outright is a DataError."""
    try:
        return pd.to_datetime(text, errors="coerce", **options)
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:  # e.g. mixed UTC offsets
        reason = str(exc).split(". ")[0]
        raise DataError(f"{key}: column {text.name!r} cannot be read as one time scale ({reason}; e.g. "
                        f"{text.dropna().head(3).tolist()}); write every time with one UTC offset (or none), "
                        f"or set {format_key(key)}: {FORMAT_HELP}") from None


def all_parsed(values: pd.Series, stamps: pd.Series, key: str) -> pd.Series:
    """``stamps`` when every non-blank value of the time column read as a time, else a DataError naming the rest
    (rows with an unreadable time would silently leave every batch)."""
    given = _as_text(values).fillna("").ne("")
    lost = given & stamps.isna()
    if lost.any():
        raise DataError(f"{key}: {int(lost.sum())} of {int(given.sum())} values of {values.name!r} do not read as "
                        f"times (e.g. {values[lost].drop_duplicates().head(3).tolist()}; the first ones set how dates are read, so "
                        f"mixed formats or day/month orders fail); set {format_key(key)}: {FORMAT_HELP}, or fix those "
                        "values")
    return stamps


def _parse_auto(values: pd.Series, key: str) -> pd.Series:
    """Real timestamps pass, text is parsed as dates; numbers are refused with how to declare them."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _naive(values)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        shown = values.dropna().head(3).tolist()
        raise DataError(
            f"{key}: column {values.name!r} holds numbers (e.g. {shown}), not dates; read as timestamps they "
            f"would all fall in January 1970. Say how to read it with {format_key(key)}: {FORMAT_HELP}"
        )
    text = _as_text(values)
    if text.dropna().str.fullmatch(r"[+-]?\d+(\.\d*)?").all() and text.notna().any():
        raise DataError(
            f"{key}: column {values.name!r} holds numbers stored as text (e.g. {text.dropna().head(3).tolist()}), "
            f"not dates; say how to read it with {format_key(key)}: {FORMAT_HELP}"
        )
    return _naive(_to_datetime(text.replace("", pd.NA), key))  # a blank cell is a missing time, not a format


def _parse_year(values: pd.Series, key: str) -> pd.Series:
    """1 January of each (whole-number) year; out-of-range or fractional years are an error."""
    years = pd.to_numeric(_as_text(values), errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
    years = years.astype("float64")
    bad = years.notna() & ((years != years.round()) | (years < 1000) | (years > 9999))
    if bad.any():
        raise DataError(
            f"{key}: time_format 'year' but column {values.name!r} holds values that are not years "
            f"(e.g. {values[bad].head(3).tolist()}); fix the values or set another {format_key(key)}"
        )
    stamps = pd.to_datetime(years.astype("Int64").astype("string"), format="%Y", errors="coerce")
    return pd.Series(stamps.to_numpy(), index=values.index, name=values.name)


def _parse_epoch(values: pd.Series, unit: str, key: str) -> pd.Series:
    """Seconds or milliseconds since 1970-01-01 UTC as timestamps; a value out of range is an error."""
    numbers = pd.to_numeric(_as_text(values), errors="coerce") if not pd.api.types.is_numeric_dtype(values) else values
    try:
        stamps = pd.to_datetime(numbers.astype("float64"), unit=unit, errors="raise")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        raise DataError(
            f"{key}: column {values.name!r} is out of range as {unit} since 1970 "
            f"(e.g. {numbers.dropna().head(3).tolist()}); check {format_key(key)} (seconds or milliseconds?)"
        ) from None
    return pd.Series(stamps.to_numpy(), index=values.index, name=values.name)


def _as_text(values: pd.Series) -> pd.Series:
    """The column as strings; whole floats lose their '.0' (20190131.0 -> '20190131')."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() == values.dropna().round()).all():
        values = values.astype("Int64")
    return values.astype("string").str.strip()


def _naive(stamps: pd.Series) -> pd.Series:
    """Timestamps without a time zone (converted to UTC first when they have one)."""
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def time_column_problems(spec: Any, key: str = "dataset") -> list[str]:
    """Config-check problems of a spec's time column, read from the first rows of its file."""
    from kit.data import read_table

    if not spec.time_column:
        return []
    frame = read_table(spec.path, spec.read_options, nrows=CHECK_ROWS)
    if spec.time_column not in frame.columns:
        return []
    try:
        stamps = parse_time(frame[spec.time_column], spec.time_format, f"{key}.time_column")
        if key == "monitoring.production":  # batches are cut by time: an unreadable time would drop its row
            all_parsed(frame[spec.time_column], stamps, f"{key}.time_column")
    except DataError as exc:
        return [str(exc)]
    given = frame[spec.time_column].notna()
    if given.any() and stamps[given].isna().all():
        how = f"time_format {spec.time_format!r}" if spec.time_format else "dates"
        return [f"{key}.time_column: no value of {spec.time_column!r} reads as {how} "
                f"(e.g. {frame[spec.time_column].dropna().head(3).tolist()}); set {key}.time_format: {FORMAT_HELP}"]
    return []


def order_by_time(stamps: pd.Series) -> np.ndarray:
    """Row positions in time order (stable: equal times keep their file order)."""
    return np.argsort(stamps.to_numpy(), kind="stable")
