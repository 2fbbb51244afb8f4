"""The data contract: a pandera schema inferred from the training data, saved as JSON.

Every later batch (explainability, monitoring) is validated against it: the columns the
model needs, numeric columns that must be numbers within the training range (widened by a
margin), categorical columns whose values must be levels seen in training, and columns that
had no missing values must still have none.

Lags of the target (``unbounded`` columns) are checked like the target itself: they must be
numbers (and not newly missing), but get no range. A growing target (rentals up year on year)
moves its own lags past the training maximum by design; a range rule there fails on healthy data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kit.errors import DataError

CONTRACT_FILE = "contract.json"
UNBOUNDED = "lag of the target: a number, no range (checked like the target)"
_KINDS = {
    "column_in_dataframe": "missing column",
    "isin": "new category",
    "in_range": "out of range",
    "not_nullable": "missing values",
    "coerce_dtype": "dtype",
    "dtype": "dtype",
}


def _pa() -> Any:
    """pandera's pandas API (imported when first needed)."""
    import pandera.pandas as pa

    return pa


def infer_contract(
    frame: pd.DataFrame, columns: list[str], range_margin: float | None = None, name: str = "training data",
    unbounded: list[str] | tuple[str, ...] = (),
) -> Any:
    """pandera DataFrameSchema for ``columns`` of the training frame (types, nulls, ranges, levels).

    ``range_margin`` widens each numeric range by that share of it on both sides (default from
    kit/content/training.yaml). ``unbounded`` numeric columns (lags of the target) get a type
    check but no range, like the target.
    """
    from kit import content

    if range_margin is None:
        range_margin = content.load("training")["contract"]["range_margin"]
    return contract_from_facts(column_facts(frame, columns), range_margin, name, unbounded)


def column_facts(frame: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, Any]]:
    """What the contract needs of each column: nullable, and its sorted levels (text) or its min and max (numbers)."""
    facts: dict[str, dict[str, Any]] = {}
    for col in columns:  # one entry per column
        values = frame[col]
        facts[col] = {"nullable": bool(values.isna().any())}
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
            facts[col]["levels"] = sorted(map(str, values.dropna().unique().tolist()))
        else:
            facts[col].update(low=float(values.min()), high=float(values.max()))
    return facts


def contract_from_facts(facts: dict[str, dict[str, Any]], range_margin: float, name: str = "training data",
                        unbounded: list[str] | tuple[str, ...] = ()) -> Any:
    """The pandera schema of :func:`column_facts` (levels checked by isin, ranges widened by ``range_margin``)."""
    pa = _pa()
    specs = {}
    for col, fact in facts.items():  # one schema entry per column
        nullable = fact["nullable"]
        if "levels" in fact:
            specs[col] = pa.Column(str, checks=[pa.Check.isin(fact["levels"])], nullable=nullable, coerce=True)
        elif col in unbounded:
            specs[col] = pa.Column("float64", nullable=nullable, coerce=True, description=UNBOUNDED)
        else:
            low, high = fact["low"], fact["high"]
            pad = (high - low) * range_margin
            specs[col] = pa.Column(
                "float64", checks=[pa.Check.in_range(low - pad, high + pad)], nullable=nullable, coerce=True
            )
    return pa.DataFrameSchema(specs, name=name, strict=False, coerce=True)


def target_lag_columns(spec: Any) -> list[str]:
    """The lag features of the target (dataset.lags on the target column): checked like the target, without a range."""
    from kit.training.features import lag_name

    lags = getattr(spec, "lags", None)
    if not lags or lags.column != spec.target:
        return []
    return [lag_name(lags.column, k) for k in lags.periods]


def save_contract(schema: Any, path: str | Path) -> Path:
    """Write the schema as pandera JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema.to_json(indent=2), encoding="utf-8")
    return path


def load_contract(path: str | Path) -> Any:
    """Read a schema saved by :func:`save_contract`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no data contract here; run the training phase to create it")
    return _pa().DataFrameSchema.from_json(path.read_text(encoding="utf-8"))


def contract_summary(schema: Any) -> pd.DataFrame:
    """One row per column: type, nullable and the allowed range or levels."""
    rows = []
    for name, col in schema.columns.items():
        stats = {c.name: c.statistics for c in col.checks}
        allowed = stats.get("isin", {}).get("allowed_values")
        rng = stats.get("in_range", {})
        rows.append({
            "column": name,
            "type": "category" if allowed is not None else "number",
            "nullable": bool(col.nullable),
            "allowed": _allowed_text(allowed, rng, col.description),
        })
    return pd.DataFrame(rows)


def _allowed_text(allowed: list[str] | None, rng: dict[str, Any], description: str | None) -> str:
    """What a column may hold: its levels, its range, or any number (a lag of the target)."""
    if allowed is not None:
        return f"{len(allowed)} levels"
    if not rng:
        return description or "any number"
    return f"[{rng.get('min_value'):.4g}, {rng.get('max_value'):.4g}]"


@dataclass
class ContractReport:
    """Result of validating one batch: pass/fail and the failures per column."""

    passed: bool
    rows: int
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["column", "kind", "count", "examples"]))

    def by_column(self) -> dict[str, list[str]]:
        """Failure kinds per column."""
        return self.failures.groupby("column")["kind"].apply(list).to_dict() if len(self.failures) else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for artifacts."""
        return {"passed": self.passed, "rows": self.rows, "failures": self.failures.to_dict(orient="records")}


def validate(schema: Any, df: pd.DataFrame) -> ContractReport:
    """Validate a batch against the contract; never raises for data problems, reports them."""
    cases = failure_cases(schema, df)
    if cases is None:
        return ContractReport(passed=True, rows=len(df))
    return ContractReport(passed=False, rows=len(df), failures=_failure_table(cases))


def failure_cases(schema: Any, df: pd.DataFrame) -> pd.DataFrame | None:
    """pandera's failure cases of a batch (categoricals compared as text, like in the contract); None when it passes."""
    pa = _pa()
    batch = df.copy()
    for name in schema.columns:  # categoricals compare as text, like in the contract
        if name in batch.columns and isinstance(batch[name].dtype, pd.CategoricalDtype):
            batch[name] = batch[name].astype("object")
    try:
        schema.validate(batch, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


def _failure_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Summarise pandera's failure cases: column, kind, count and a few example values."""
    return summarise_failures(classify_failures(cases))


def classify_failures(cases: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases with their kind, the column they concern and the value as text (type errors dropped)."""
    cases = cases.copy()
    check = cases["check"].astype(str)
    base = check.str.extract(r"^([a-z_]+)", expand=False).fillna(check)
    cases["kind"] = base.map(_KINDS).fillna(check)
    whole_frame = cases["kind"].eq("missing column") | cases["column"].isna()
    cases["column"] = cases["column"].where(~whole_frame, cases["failure_case"]).astype(str)
    cases["value"] = cases["failure_case"].astype(str)
    # a value that is not a number fails the dtype check and, as a side effect, the range check
    return cases[~cases["value"].str.startswith("TypeError(")]


def summarise_failures(cases: pd.DataFrame) -> pd.DataFrame:
    """Classified failure cases per column and kind: how many rows fail (a whole-column failure counts once per
    value), and the first three distinct values (sorted)."""
    keys = ["column", "kind"]
    table = cases.groupby(keys, sort=True).agg(examples=("value", lambda v: sorted(set(v))[:3]))
    # pandera reports a text cell in a numeric column twice (coerce_dtype and dtype): count rows, not reports
    per_row = cases["index"].notna()
    rows = cases[per_row].groupby(keys)["index"].nunique()
    whole = cases[~per_row].groupby(keys)["value"].nunique()
    count = rows.add(whole, fill_value=0).reindex(table.index, fill_value=0).astype("int64")
    return table.assign(count=count)[["count", "examples"]].reset_index()
