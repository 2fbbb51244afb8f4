"""Derive ai4i2020_failure_type.csv (a multiclass target) from UCI's original ai4i2020.csv.

Rule (in this order; the README lists the class counts it gives):

- `Machine failure` = 0 -> `no failure` (also the 18 rows whose RNF flag is set without a
  failure: the dataset's documentation calls RNF a random failure, and these rows did not fail);
- `Machine failure` = 1 and exactly one of TWF, HDF, PWF, OSF, RNF set -> that mode:
  `tool wear` (TWF), `heat dissipation` (HDF), `power` (PWF), `overstrain` (OSF), `random` (RNF);
- `Machine failure` = 1 with two or more modes, or with none recorded -> `several or unrecorded`.

The five flags and `Machine failure` define the label, so the derived file leaves them out (they
would leak it); it keeps the identifiers, the product type and the five sensor readings in file
order. Run from anywhere:

    python data/ai4i_maintenance/make_failure_type.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MODES = {"TWF": "tool wear", "HDF": "heat dissipation", "PWF": "power", "OSF": "overstrain", "RNF": "random"}
KEEP = ["UDI", "Product ID", "Type", "Air temperature [K]", "Process temperature [K]",
        "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"]


def failure_type(raw: pd.DataFrame) -> pd.Series:
    """One label per row from `Machine failure` and the five mode flags (rule in the module docstring)."""
    flags = raw[list(MODES)].astype(bool)
    failed = raw["Machine failure"].astype(bool)
    single = flags.sum(axis=1) == 1
    mode = flags.idxmax(axis=1).map(MODES)
    label = np.where(~failed, "no failure", np.where(single, mode, "several or unrecorded"))
    return pd.Series(label, index=raw.index, name="failure_type")


if __name__ == "__main__":
    raw = pd.read_csv(HERE / "ai4i2020.csv", encoding="utf-8-sig")
    out = raw[KEEP].assign(failure_type=failure_type(raw))
    out.to_csv(HERE / "ai4i2020_failure_type.csv", index=False)
    print(out["failure_type"].value_counts().to_string())
