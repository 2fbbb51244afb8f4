"""Features from time: calendar parts of the time column and lags of a column's own past.

Pure functions on a frame, applied by :func:`kit.training.data.load_dataset` before the split,
so training, later phases (``load_split``) and the recorded split hash all see the same columns.
Nothing looks ahead: a row's calendar features come from its own time, and its lag ``k`` is the
column's value exactly ``k`` steps earlier (by time, or ``k`` rows earlier in time order). Rows in
the first ``max(periods)`` steps cannot have full history and are dropped; a past time that is
absent from the data later on (a gap) leaves that lag missing, which the boosters handle and the
linear baselines impute.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kit.errors import DataError

AUTO_CALENDAR = ("hour", "weekday", "month")
CALENDAR_PARTS = {
    "hour": lambda t: t.dt.hour,
    "weekday": lambda t: t.dt.weekday,
    "month": lambda t: t.dt.month,
    "day_of_month": lambda t: t.dt.day,
    "day_of_year": lambda t: t.dt.dayofyear,
}


def calendar_name(time_column: str, part: str) -> str:
    """Column name of a calendar feature, e.g. ``datetime_hour``."""
    return f"{time_column}_{part}"


def lag_name(column: str, period: int) -> str:
    """Column name of a lag feature, e.g. ``cnt_lag_24``."""
    return f"{column}_lag_{period}"


def calendar_parts(stamps: pd.Series, parts: list[str] | str) -> list[str]:
    """The calendar parts to build: the configured list, or for ``auto`` those of hour/weekday/month that vary."""
    if parts != "auto":
        return list(parts)
    return [p for p in AUTO_CALENDAR if CALENDAR_PARTS[p](stamps).nunique(dropna=True) > 1]


def calendar_features(stamps: pd.Series, time_column: str, parts: list[str]) -> pd.DataFrame:
    """One small-integer column per calendar part of each row's own timestamp."""
    return pd.DataFrame(
        {calendar_name(time_column, p): CALENDAR_PARTS[p](stamps).astype("int64") for p in parts}, index=stamps.index
    )


def infer_step(stamps: pd.Series) -> pd.Timedelta:
    """The most common positive gap between consecutive distinct times (ties: the shortest)."""
    gaps = pd.Series(np.sort(stamps.dropna().unique())).diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    if gaps.empty:
        raise DataError("dataset.lags: the time column has fewer than two distinct times; lags need a series over time")
    counts = gaps.value_counts()
    return pd.Timedelta(counts[counts == counts.max()].index.min())


def step_text(step: pd.Timedelta) -> str:
    """A step as a short offset, e.g. '1h', '1D', '15min'."""
    text = pd.tseries.frequencies.to_offset(step).freqstr
    return text if text[:1].isdigit() else f"1{text}"


def lags_by_time(values: pd.Series, stamps: pd.Series, periods: list[int], step: pd.Timedelta) -> pd.DataFrame:
    """Each row's value exactly ``k * step`` earlier (missing when no row has that time)."""
    if stamps.duplicated().any():
        dup = stamps[stamps.duplicated()].iloc[0]
        raise DataError(
            f"dataset.lags: time {dup} occurs in more than one row, so 'the value k steps earlier' is ambiguous; "
            "aggregate the file to one row per time (or remove dataset.lags)"
        )
    lookup = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(stamps))
    return pd.DataFrame(
        {lag_name(str(values.name), k): lookup.reindex(pd.DatetimeIndex(stamps - k * step)).to_numpy() for k in periods},
        index=values.index,
    )


def lags_by_row(values: pd.Series, order: np.ndarray, periods: list[int]) -> pd.DataFrame:
    """Each row's value ``k`` rows earlier in time order (missing for the first ``k`` rows)."""
    ordered = values.iloc[order]
    lagged = pd.DataFrame({lag_name(str(values.name), k): ordered.shift(k).to_numpy() for k in periods}, index=ordered.index)
    return lagged.reindex(values.index)


def history_mask_by_time(stamps: pd.Series, periods: list[int], step: pd.Timedelta) -> pd.Series:
    """True for rows at least ``max(periods)`` steps after the first time (full history possible)."""
    return stamps >= stamps.min() + max(periods) * step


def history_mask_by_row(order: np.ndarray, periods: list[int]) -> np.ndarray:
    """True for rows after the first ``max(periods)`` rows in time order."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank >= max(periods)


def _numeric(values: pd.Series, column: str) -> pd.Series:
    """The lag column as numbers; a text column is an error naming the fix."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    raise DataError(f"dataset.lags.column: {column!r} is not numeric ({values.dtype}); lag a numeric column such as the target")


def _stamps(frame: pd.DataFrame, spec: Any) -> pd.Series:
    """The parsed time column; missing or unreadable times are an error naming the fix."""
    from kit.timeparse import parse_time

    stamps = parse_time(frame[spec.time_column], spec.time_format)
    if stamps.isna().any():
        bad = frame.loc[stamps.isna().to_numpy(), spec.time_column].astype("string").head(3).tolist()
        raise DataError(
            f"dataset.time_column: {int(stamps.isna().sum())} value(s) of {spec.time_column!r} are missing or not dates "
            f"(e.g. {bad}); calendar and lag features need every time: fix or drop those rows, or set dataset.time_format"
        )
    return stamps


def _check_names(frame: pd.DataFrame, added: list[str]) -> None:
    """New feature names must not overwrite a column of the file."""
    clash = [c for c in added if c in frame.columns]
    if clash:
        raise DataError(f"dataset: derived feature(s) {clash} already exist as columns of the file; rename those columns")


def add_time_features(frame: pd.DataFrame, spec: Any) -> tuple[pd.DataFrame, list[str]]:
    """The frame with the spec's calendar and lag features (rows without full history dropped) and notes."""
    if not getattr(spec, "calendar", None) and not getattr(spec, "lags", None):
        return frame, []
    notes: list[str] = []
    stamps = _stamps(frame, spec) if spec.time_column else None
    extra = []
    if spec.calendar:
        parts = calendar_parts(stamps, spec.calendar)
        extra.append(calendar_features(stamps, spec.time_column, parts))
        notes.append(f"calendar features from {spec.time_column!r}: {', '.join(parts) or 'none (nothing varies)'}")
    keep = pd.Series(True, index=frame.index)
    if spec.lags:
        lag = spec.lags
        if lag.column not in frame.columns:
            raise DataError(f"dataset.lags.column: column {lag.column!r} is not in {spec.path.name}; name a numeric column")
        values = _numeric(frame[lag.column], lag.column)
        if stamps is not None:
            step = pd.Timedelta(pd.tseries.frequencies.to_offset(lag.step)) if lag.step else infer_step(stamps)
            extra.append(lags_by_time(values, stamps, lag.periods, step))
            keep = history_mask_by_time(stamps, lag.periods, step)
            unit = f"steps of {step_text(step)}" + ("" if lag.step else " (the most common gap; set dataset.lags.step to change it)")
        else:
            order = np.arange(len(frame))
            extra.append(lags_by_row(values, order, lag.periods))
            keep = pd.Series(history_mask_by_row(order, lag.periods), index=frame.index)
            unit = "rows (rows_in_time_order)"
        notes.append(
            f"lag features of {lag.column!r}: {', '.join(map(str, lag.periods))} {unit} back; the first "
            f"{int((~keep).sum())} rows have no full history and were dropped"
        )
    added = pd.concat(extra, axis=1)
    _check_names(frame, list(added.columns))
    out = pd.concat([frame, added], axis=1).loc[keep.to_numpy()].reset_index(drop=True)
    if out.empty:
        raise DataError(f"dataset.lags: no row has {max(spec.lags.periods)} steps of history; use shorter periods or more data")
    return out, notes
