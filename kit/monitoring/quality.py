"""Data quality of a production batch, judged against the training phase's data contract.

The contract (``artifacts/contract.json``, a pandera schema saved by phase 2, checked with
:func:`kit.training.contract.validate`) is the authority: a missing column or a value that is
not of the column's type is a *structural* failure (the column is left out of drift and the
batch is not scored); new category levels, values outside the training range and missing
values in a column that had none are *value* failures, alerted when their share of the batch
rows exceeds the configured limit. The checks the contract cannot make are added here:

* an empty batch (nothing to validate),
* a numeric column delivered as text (the contract coerces ``"29.85"`` to a number and passes it),
* a rise in the missing share of a column that already had missing values in training
  (the contract allows any number of missing values there).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from kit.monitoring.config import AlertSettings
from kit.monitoring.drift import ReferenceProfile, is_numeric

# contract failure kind -> (quality check name, AlertSettings field with the share limit; None = always)
CONTRACT_CHECKS: dict[str, tuple[str, str | None]] = {
    "missing column": ("missing_column", None),
    "dtype": ("dtype_changed", None),
    "new category": ("unseen_category", "unseen_share"),
    "out of range": ("out_of_range", "out_of_range_share"),
    "missing values": ("missing_spike", "missing_increase"),
}
STRUCTURAL = ("missing_column", "dtype_changed")
COLUMNS = ["check", "feature", "value", "threshold", "detail"]


def issue(check: str, feature: str | None, value: float, threshold: float, detail: str) -> dict[str, object]:
    """One data-quality finding."""
    return {"check": check, "feature": feature, "value": value, "threshold": threshold, "detail": detail}


def contract_issues(failures: pd.DataFrame, rows: int, settings: AlertSettings) -> list[dict[str, object]]:
    """Contract failures (column, kind, count, examples) as findings: structural always, value ones above their share."""
    known = failures[failures["kind"].isin(list(CONTRACT_CHECKS))] if len(failures) else pd.DataFrame(columns=["column", "kind", "count", "examples"])
    if known.empty:
        return []
    check = known["kind"].map(lambda k: CONTRACT_CHECKS[k][0])
    limit = known["kind"].map(lambda k: getattr(settings, CONTRACT_CHECKS[k][1]) if CONTRACT_CHECKS[k][1] else 0.0)
    share = known["count"].astype(float) / max(rows, 1)
    value = share.where(~check.isin(STRUCTURAL), 1.0)
    keep = check.isin(STRUCTURAL) | (share > limit)
    detail = ("data contract: " + known["kind"] + " in " + known["column"].astype(str) + " (" + known["count"].astype(str)
              + " of " + str(rows) + " rows; e.g. " + known["examples"].map(lambda e: ", ".join(map(str, e))) + ")")
    absent = "data contract: column '" + known["column"].astype(str) + "' is not in the batch"  # not a row count
    detail = detail.where(known["kind"].ne("missing column"), absent)
    table = pd.DataFrame({"check": check, "feature": known["column"].astype(str), "value": value,
                          "threshold": limit, "detail": detail})[keep]
    return table.to_dict(orient="records")


def text_in_numeric(reference: ReferenceProfile, batch: pd.DataFrame) -> list[dict[str, object]]:
    """Numeric training columns delivered as text (the coercing contract accepts them; upstream changed)."""
    changed = [n for n, p in reference.features.items()
               if p.kind == "numeric" and n in batch.columns and not is_numeric(batch[n]) and batch[n].notna().any()]
    return [issue("dtype_changed", n, 1.0, 0.0, f"column {n!r} was numeric in training, arrives as {batch[n].dtype} here")
            for n in changed]


def non_finite(reference: ReferenceProfile, batch: pd.DataFrame) -> list[dict[str, object]]:
    """Numeric columns holding infinities or magnitudes beyond float32 (the model scores them as missing; any count
    is a finding, however small its share)."""
    from kit.training.scoring import FLOAT32_MAX

    names = [n for n, p in reference.features.items() if p.kind == "numeric" and n in batch.columns and is_numeric(batch[n])]
    if not names:
        return []
    values = batch[names].astype("float64")
    bad = values.abs().gt(FLOAT32_MAX).sum()
    return [issue("non_finite", n, float(count / len(batch)), 0.0,
                  f"column {n!r} holds {int(count)} infinite or out-of-range value(s) (e.g. "
                  f"{values.loc[values[n].abs().gt(FLOAT32_MAX), n].head(2).tolist()}); the model scores them as "
                  "missing: fix them upstream") for n, count in bad[bad > 0].items()]


def schema_issues(reference: ReferenceProfile, contract: Any, batch: pd.DataFrame,
                  settings: AlertSettings) -> tuple[list[str], list[dict[str, object]]]:
    """Features usable for drift in this batch, and every contract (and extra) finding."""
    from kit.training.contract import validate

    if batch.empty:
        return [], [issue("empty_batch", None, 0.0, 1.0, "the batch has no rows")]
    report = validate(contract, batch)
    found = contract_issues(report.failures, report.rows, settings)
    flagged = {(i["check"], i["feature"]) for i in found}
    found += [i for i in text_in_numeric(reference, batch) if (i["check"], i["feature"]) not in flagged]
    found = [read_hint(i, batch) for i in found] + non_finite(reference, batch)
    broken = {i["feature"] for i in found if i["check"] in STRUCTURAL}
    return [n for n in reference.features if n not in broken], found


def read_hint(finding: dict[str, object], batch: pd.DataFrame) -> dict[str, object]:
    """A dtype finding on numbers written with separators, with the read option that reads them added."""
    from kit.profile import separator_fix

    name = finding["feature"]
    if finding["check"] != "dtype_changed" or name not in batch.columns or is_numeric(batch[name]):
        return finding
    fix = separator_fix(batch[name], "monitoring.production.read_options")
    return finding | {"detail": f"{finding['detail']}; {fix}"} if fix else finding


def nullable_columns(contract: Any) -> list[str]:
    """Contract columns that may hold missing values (had some in training)."""
    return [name for name, column in contract.columns.items() if column.nullable]


def missing_rise(reference: ReferenceProfile, drift: pd.DataFrame, nullable: list[str],
                 settings: AlertSettings) -> list[dict[str, object]]:
    """Missing share up by more than the limit on columns the contract lets be missing."""
    if drift.empty:
        return []
    rows = drift[drift.index.isin(nullable)]
    base = pd.Series({n: reference.features[n].missing_share for n in rows.index}, dtype=float)
    increase = rows["missing_share"].astype(float) - base
    over = increase[increase > settings.missing_increase]
    return [issue("missing_spike", f, float(v), settings.missing_increase,
                  f"missing share {rows.loc[f, 'missing_share']:.1%} vs {base[f]:.1%} in training (up {v:.1%})")
            for f, v in over.items()]
