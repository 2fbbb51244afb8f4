"""Derive bike_hourly.csv from UCI's original hour.csv: the same rows and columns plus `datetime`.

`hour.csv` stores the time as a date (`dteday`) and an hour (`hr`, 0-23) in two columns; the kit
needs one time column to order the rows and to compute lags by time. `datetime` is
`dteday + hr hours`, written as `YYYY-MM-DD HH:00:00`. Nothing else changes (values, row order,
column order); the script checks that the timestamps are unique and in file order. Run from anywhere:

    python data/bike_sharing/make_hourly.py
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def hourly(raw: pd.DataFrame) -> pd.DataFrame:
    """The hourly rows with a `datetime` column (date plus hour) inserted after `dteday`."""
    stamps = pd.to_datetime(raw["dteday"], format="%Y-%m-%d") + pd.to_timedelta(raw["hr"], unit="h")
    if stamps.duplicated().any() or not stamps.is_monotonic_increasing:
        raise SystemExit("hour.csv: dteday + hr is not unique and increasing; is this UCI's original file?")
    out = raw.copy()
    out.insert(out.columns.get_loc("dteday") + 1, "datetime", stamps.dt.strftime("%Y-%m-%d %H:%M:%S"))
    return out


if __name__ == "__main__":
    frame = hourly(pd.read_csv(HERE / "hour.csv"))
    frame.to_csv(HERE / "bike_hourly.csv", index=False)
    print(f"bike_hourly.csv: {len(frame)} rows, {frame.shape[1]} columns")
