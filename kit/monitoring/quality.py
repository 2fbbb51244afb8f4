"""Data quality of a production batch against the reference (training) data it is compared to.

Schema problems (empty batch, missing column, a column whose type changed) are reported and the
column is left out of drift for that batch; monitoring goes on with the rest. Value problems
(missing-value spike, values outside the training range, unseen categories) are read from the
batch's drift table.
"""
from __future__ import annotations

import pandas as pd

from kit.monitoring.config import AlertSettings
from kit.monitoring.drift import ReferenceProfile, is_numeric


def issue(check: str, feature: str | None, value: float, threshold: float, detail: str) -> dict[str, object]:
    """One data-quality finding."""
    return {"check": check, "feature": feature, "value": value, "threshold": threshold, "detail": detail}


def schema_issues(reference: ReferenceProfile, batch: pd.DataFrame) -> tuple[list[str], list[dict[str, object]]]:
    """Features usable for drift in this batch, and the schema problems that excluded the others."""
    if batch.empty:
        return [], [issue("empty_batch", None, 0, 1, "the batch has no rows")]
    found: list[dict[str, object]] = []
    usable = []
    for name, profile in reference.features.items():
        if name not in batch.columns:
            found.append(issue("missing_column", name, 1, 0, f"column {name!r} is missing from the batch"))
        elif profile.kind == "numeric" and not is_numeric(batch[name]) and batch[name].notna().any():
            found.append(issue("dtype_changed", name, 1, 0,
                               f"column {name!r} was numeric in training, is {batch[name].dtype} here"))
        else:
            usable.append(name)
    return usable, found


def value_issues(reference: ReferenceProfile, drift: pd.DataFrame, settings: AlertSettings) -> list[dict[str, object]]:
    """Missing spikes, out-of-range values and unseen categories, from a batch's drift table."""
    if drift.empty:
        return []
    ref_missing = pd.Series({n: reference.features[n].missing_share for n in drift.index})
    increase = drift["missing_share"].astype(float) - ref_missing
    checks = [
        ("missing_spike", increase, settings.missing_increase, "missing share up by {v:.1%} on the reference"),
        ("out_of_range", drift["out_of_range_share"].astype(float), settings.out_of_range_share,
         "{v:.1%} of values outside the training range"),
        ("unseen_category", drift["unseen_share"].astype(float), settings.unseen_share,
         "{v:.1%} of rows in categories never seen in training"),
    ]
    return [
        issue(check, feature, float(value), limit, text.format(v=value))
        for check, values, limit, text in checks
        for feature, value in values[values > limit].items()
    ]
