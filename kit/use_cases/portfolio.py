"""The candidate portfolio: loading it (CSV or inline), validating every row, resolving weights."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from kit import content
from kit.errors import DataError, did_you_mean
from kit.schema import DatasetSpec

DEMO_PORTFOLIO = Path(__file__).resolve().parents[2] / "data" / "use_cases" / "portfolio.csv"

SCORE_COLUMNS = ("data_availability", "data_quality", "complexity", "automation_potential")
MONEY_COLUMNS = ("annual_value", "build_cost", "run_cost_per_year")
NUMBER_COLUMNS = (*MONEY_COLUMNS, *SCORE_COLUMNS, "months_to_value", "kpi_baseline", "kpi_target")
TEXT_COLUMNS = ("name", "business_unit", "problem_type", "kpi_name")
REQUIRED_COLUMNS = (
    "name", "business_unit", "problem_type", "annual_value", "build_cost", "run_cost_per_year",
    "data_availability", "data_quality", "complexity", "months_to_value", "automation_potential",
    "executive_sponsor", "stakes", "regulatory_exposure", "kpi_name", "kpi_baseline", "kpi_target",
)
COST_COLUMNS = ("cost_false_positive", "cost_false_negative")
DATASET_COLUMNS = {
    "dataset_path": "path", "dataset_target": "target", "dataset_positive_class": "positive_class",
    "dataset_sensitive": "sensitive", "dataset_id_columns": "id_columns",
    "dataset_drop_columns": "drop_columns", "dataset_time_column": "time_column", "dataset_name": "name",
    "dataset_task": "task", "dataset_time_format": "time_format",
}
LIST_KEYS = ("sensitive", "id_columns", "drop_columns")
OPTIONAL_COLUMNS = ("description", "kpi_metric", "kpi_threshold", *COST_COLUMNS, *DATASET_COLUMNS)
YES = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


@dataclass
class Portfolio:
    """A validated portfolio: one row per use case (sorted by name) and where it came from."""

    frame: pd.DataFrame
    source: str
    base_dir: Path
    datasets: dict[str, DatasetSpec]
    note: str | None = None


def rules() -> dict[str, Any]:
    """The use-case framework (criteria, gating, quadrants, ROI) from kit/content/use_cases.yaml."""
    return content.load("use_cases")


# ---------------------------------------------------------------- weights


def default_weights() -> dict[str, dict[str, float]]:
    """The documented default criterion weights, by group (value, feasibility)."""
    return {
        group: {name: float(spec["weight"]) for name, spec in criteria.items()}
        for group, criteria in rules()["criteria"].items()
    }


def weight_problems(overrides: dict[str, dict[str, float]]) -> list[str]:
    """Every problem with weight overrides: unknown names, negatives, groups summing to zero."""
    defaults = default_weights()
    problems = []
    for group, values in overrides.items():
        if group not in defaults:
            problems.append(f"weights.{group}: unknown group{did_you_mean(group, defaults)}; use 'value' or 'feasibility'")
            continue
        for name, weight in values.items():
            if name not in defaults[group]:
                hint = did_you_mean(name, defaults[group]) or f"; known criteria: {', '.join(defaults[group])}"
                problems.append(f"weights.{group}.{name}: unknown criterion{hint}")
            elif not np.isfinite(weight) or weight < 0:
                problems.append(f"weights.{group}.{name}: weight {weight} must be a finite number >= 0")
    for group, merged in merge_weights(defaults, overrides).items():
        if sum(max(w, 0.0) for w in merged.values()) <= 0:
            problems.append(f"weights.{group}: weights sum to zero; give at least one criterion a positive weight")
    return problems


def merge_weights(
    defaults: dict[str, dict[str, float]], overrides: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Defaults with the known overrides applied (unknown names are ignored here)."""
    return {g: {n: float(overrides.get(g, {}).get(n, w)) for n, w in ws.items()} for g, ws in defaults.items()}


def resolve_weights(overrides: dict[str, dict[str, float]] | None = None) -> dict[str, dict[str, float]]:
    """Validated weights: the defaults with a config's overrides; raise a DataError on bad ones."""
    overrides = overrides or {}
    problems = weight_problems(overrides)
    if problems:
        raise DataError("use_cases weights: " + "; ".join(problems))
    return merge_weights(default_weights(), overrides)


# ---------------------------------------------------------------- reading


def read_portfolio_frame(path: Path) -> pd.DataFrame:
    """Read a portfolio CSV as text cells (validation converts them), with a clear error."""
    from kit.data import read_table

    return read_table(Path(path), {"dtype": str, "keep_default_na": False, "skipinitialspace": True})


def inline_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Turn inline config rows into the CSV's flat shape (a nested `dataset:` mapping is flattened)."""
    flat = []
    for row in rows:
        row = dict(row)
        dataset = row.pop("dataset", None) or {}
        row.update({f"dataset_{k}": v for k, v in dataset.items()})
        flat.append(row)
    return pd.DataFrame(flat)


def _label(frame: pd.DataFrame, i: int) -> str:
    """'row 3 (Churn prediction)': a 1-based row number and the name when there is one."""
    name = str(frame["name"].iloc[i]).strip() if "name" in frame.columns else ""
    return f"row {i + 1} ({name})" if name and name != "nan" else f"row {i + 1}"


def _blank(series: pd.Series) -> pd.Series:
    """True where a cell is missing or an empty string."""
    return series.isna() | series.astype(str).str.strip().isin(["", "nan", "None", "<NA>"])


def _rows_where(frame: pd.DataFrame, mask: pd.Series, message: str) -> list[str]:
    """One problem line per row where ``mask`` holds."""
    return [f"{_label(frame, i)}: {message.format(value=frame.iloc[i].get(col, ''), col=col)}"
            for i in np.flatnonzero(mask.to_numpy()) for col in [mask.name]]


def column_problems(frame: pd.DataFrame) -> list[str]:
    """Missing required columns and unknown columns (typos), with the fix."""
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}; add them (see data/use_cases/README.md)")
    for col in frame.columns:
        if col not in known:
            problems.append(f"column {col!r}: unknown{did_you_mean(col, known) or '; remove it or rename it'}")
    return problems


def row_problems(frame: pd.DataFrame) -> list[str]:
    """Every bad cell: blanks, non-numbers, scores outside 1-5, negative costs, unknown categories, duplicates."""
    r = rules()
    problems: list[str] = []
    for col in TEXT_COLUMNS:
        problems += _rows_where(frame, _blank(frame[col]).rename(col), "{col} is empty; fill it in")
    numbers = {}
    for col in (*NUMBER_COLUMNS, "kpi_threshold", *COST_COLUMNS):
        if col not in frame.columns:
            continue
        numbers[col] = pd.to_numeric(frame[col], errors="coerce")
        optional = col in ("kpi_threshold", *COST_COLUMNS)
        bad = (numbers[col].isna() & ~(_blank(frame[col]) & optional)).rename(col)
        problems += _rows_where(frame, bad, "{col} = {value!r} is not a number")
    for col in SCORE_COLUMNS:
        out = ((numbers[col] < r["scale"]["min"]) | (numbers[col] > r["scale"]["max"])).rename(col)
        problems += _rows_where(frame, out, "{col} = {value} is outside 1-5; use a score from 1 to 5")
    for col in (*MONEY_COLUMNS, "months_to_value", *COST_COLUMNS):
        if col in numbers:
            problems += _rows_where(frame, (numbers[col] < 0).rename(col), "{col} = {value} is negative; costs, values and months must be >= 0")
    problems += _category_problems(frame, "executive_sponsor", list(YES), "yes or no")
    problems += _category_problems(frame, "stakes", list(r["stakes"]), "high, medium or low")
    problems += _category_problems(frame, "regulatory_exposure", r["regulatory_levels"], "low, medium or high")
    if "kpi_metric" in frame.columns:
        metric = frame["kpi_metric"].astype(str).str.strip().str.lower()
        bad = (~_blank(frame["kpi_metric"]) & ~metric.isin(r["model_metrics"])).rename("kpi_metric")
        problems += _rows_where(frame, bad, "kpi_metric = {value!r} is not a model metric; use one of " + ", ".join(r["model_metrics"]) + " or leave it empty")
        problems += _kpi_task_problems(frame, bad)
    names = frame["name"].astype(str).str.strip()
    dup = names.duplicated(keep=False) & ~_blank(frame["name"])
    problems += _rows_where(frame, dup.rename("name"), "duplicate name {value!r}; every use case needs a unique name")
    return problems


def _kpi_task_problems(frame: pd.DataFrame, unknown: pd.Series) -> list[str]:
    """Rows whose (known) kpi_metric does not fit the task their problem_type maps to."""
    from kit.use_cases.tasks import kpi_metric_problem

    rows = np.flatnonzero((~_blank(frame["kpi_metric"]) & ~unknown & ~_blank(frame["problem_type"])).to_numpy())
    found = [(i, kpi_metric_problem(str(frame["problem_type"].iloc[i]), str(frame["kpi_metric"].iloc[i]).strip().lower())) for i in rows]
    return [f"{_label(frame, i)}: {problem}" for i, problem in found if problem]


def _category_problems(frame: pd.DataFrame, col: str, allowed: list[str], hint: str) -> list[str]:
    """Rows whose ``col`` is not one of ``allowed`` (case-insensitive)."""
    value = frame[col].astype(str).str.strip().str.lower()
    return _rows_where(frame, (~value.isin(allowed)).rename(col), "{col} = {value!r} is not allowed; use " + hint)


def dataset_problems(frame: pd.DataFrame, base_dir: Path) -> tuple[dict[str, DatasetSpec], list[str]]:
    """Build each row's dataset spec (paths resolved against ``base_dir``); list the invalid ones."""
    specs: dict[str, DatasetSpec] = {}
    problems: list[str] = []
    present = [c for c in DATASET_COLUMNS if c in frame.columns]
    if not present:
        return specs, problems
    has_spec = ~frame[present].apply(_blank).all(axis=1)
    for i in np.flatnonzero(has_spec.to_numpy()):
        raw = _spec_mapping(frame.iloc[i], present)
        try:
            specs[str(frame["name"].iloc[i]).strip()] = DatasetSpec.model_validate(raw, context={"base_dir": base_dir})
        except ValidationError as exc:
            for err in exc.errors():
                key = "dataset_" + str(err["loc"][0]) if err["loc"] else "dataset"
                problems.append(f"{_label(frame, i)}: {key}: {err['msg']}; give at least dataset_path and dataset_target")
    return specs, problems


def _spec_mapping(row: pd.Series, present: list[str]) -> dict[str, Any]:
    """One row's dataset_* cells as a DatasetSpec mapping (lists split on ';', numbers parsed)."""
    raw: dict[str, Any] = {}
    for col in present:
        value = row[col]
        if _blank(pd.Series([value])).iloc[0]:
            continue
        key = DATASET_COLUMNS[col]
        if key in LIST_KEYS:
            value = value if isinstance(value, list) else [v.strip() for v in str(value).split(";") if v.strip()]
        elif key == "positive_class":
            value = _parse_scalar(value)
        raw[key] = value
    return raw


def _parse_scalar(value: Any) -> Any:
    """'1' -> 1, '0.5' -> 0.5, 'Yes' -> 'Yes' (CSV cells arrive as text)."""
    if not isinstance(value, str):
        return value
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def validate_frame(frame: pd.DataFrame, base_dir: Path) -> tuple[dict[str, DatasetSpec], list[str]]:
    """Every problem of a raw portfolio (columns, cells, dataset specs), in one list."""
    if frame.empty:
        return {}, ["the portfolio has no rows; list at least one candidate use case"]
    problems = column_problems(frame)
    if any(p.startswith("missing column") for p in problems):
        return {}, problems
    specs, spec_problems = dataset_problems(frame, base_dir)
    return specs, problems + row_problems(frame) + spec_problems


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed, tidy columns (numbers, lower-case categories, sponsor as bool), sorted by name."""
    out = frame.copy()
    for col in OPTIONAL_COLUMNS:
        if col not in out.columns:
            out[col] = ""
    for col in (*NUMBER_COLUMNS, "kpi_threshold", *COST_COLUMNS):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    for col in (*TEXT_COLUMNS, "description"):
        out[col] = out[col].astype(str).str.strip().replace({"nan": ""})
    for col in ("stakes", "regulatory_exposure"):
        out[col] = out[col].astype(str).str.strip().str.lower()
    out["executive_sponsor"] = out["executive_sponsor"].astype(str).str.strip().str.lower().map(YES).astype(bool)
    metric = out["kpi_metric"].astype(str).str.strip().str.lower()
    out["kpi_metric"] = metric.where(~_blank(out["kpi_metric"]), None)
    keep = [*REQUIRED_COLUMNS, "description", "kpi_metric", "kpi_threshold", *COST_COLUMNS]
    return out[keep].sort_values("name", kind="stable").reset_index(drop=True)


def build_portfolio(frame: pd.DataFrame, base_dir: Path, source: str) -> Portfolio:
    """Validate a raw portfolio frame and return it normalized; raise one DataError listing every problem."""
    specs, problems = validate_frame(frame, base_dir)
    if problems:
        raise DataError(f"{source}: {len(problems)} problem(s) in the use-case portfolio\n  " + "\n  ".join(problems))
    return Portfolio(frame=normalize(frame), source=source, base_dir=base_dir, datasets=specs)


def portfolio_origin(section: Any, config: Any) -> tuple[pd.DataFrame, Path, str]:
    """The raw portfolio frame, the folder its relative paths start from, and a label for messages."""
    if section.portfolio is not None:
        base = Path(config.source_path).parent if getattr(config, "source_path", None) else Path.cwd()
        return inline_frame(section.portfolio), base, "use_cases.portfolio (inline)"
    path = Path(section.portfolio_path or DEMO_PORTFOLIO)
    return read_portfolio_frame(path), path.parent, str(path)


def load_portfolio(config: Any) -> Portfolio:
    """Load and validate the run's portfolio (file, inline, or the bundled demo)."""
    frame, base, source = portfolio_origin(config.use_cases, config)
    portfolio = build_portfolio(frame, base, source)
    bundled = config.use_cases.portfolio is None and config.use_cases.portfolio_path is None
    if bundled and getattr(config, "dataset", None) is not None:
        portfolio.datasets = {}  # the demo's sample data must never replace the user's own dataset
        portfolio.note = (f"no portfolio in the config: the bundled demo portfolio is scored, and the pilot "
                          f"trains on your dataset ({config.dataset.path.name}); set use_cases.portfolio_path "
                          "to score your own candidates")
    pilot = config.use_cases.pilot
    if pilot is not None and pilot not in set(portfolio.frame["name"]):
        raise DataError(f"use_cases.pilot: {pilot!r} is not in the portfolio{did_you_mean(pilot, portfolio.frame['name'])}; name one of its use cases or remove the key")
    return portfolio


def check_section(section: Any, config: Any) -> list[str]:
    """Config-time check: weights, every portfolio problem and the named pilot, as key-path lines."""
    from kit.errors import KitError

    problems = weight_problems(section.weights)
    try:
        frame, base, source = portfolio_origin(section, config)
    except KitError as exc:
        return problems + [f"portfolio_path: {exc}"]
    specs, found = validate_frame(frame, base)
    where = "portfolio" if section.portfolio is not None else f"portfolio_path ({Path(source).name})"
    problems += [f"{where}: {p}" for p in found]
    names = set(frame["name"].astype(str).str.strip()) if "name" in frame.columns else set()
    if section.pilot is not None and section.pilot not in names:
        problems.append(f"pilot: {section.pilot!r} is not in the portfolio{did_you_mean(section.pilot, names)}; name one of its use cases or remove the key")
    elif section.pilot is not None and not found:
        problems += _pilot_problems(section.pilot, frame, specs)
    return problems


def _pilot_problems(name: str, frame: pd.DataFrame, specs: dict[str, DatasetSpec]) -> list[str]:
    """The named pilot's task must be trainable, then its portfolio dataset (when it has one) must be too."""
    untrainable = _pilot_task_problems(name, frame)
    if untrainable or name not in specs:
        return untrainable
    return pilot_dataset_problems(name, specs[name])


def _pilot_task_problems(name: str, frame: pd.DataFrame) -> list[str]:
    """The named pilot must be a use case the kit can train."""
    from kit.use_cases.tasks import task_for

    kind = frame.loc[frame["name"].astype(str).str.strip() == name, "problem_type"].iloc[0]
    task = task_for(kind)
    return [] if task.trainable else [f"pilot: {name!r} is a {kind!r} use case, which the kit cannot train ({task.why}); name a tabular use case or remove the key"]


def pilot_dataset_problems(name: str, spec: Any) -> list[str]:
    """The named pilot's dataset checked as phase 1 and 2 will: its columns exist and its target can be trained on."""
    from kit.config import _check_dataset

    return [f"pilot {name!r}: portfolio {p.replace('dataset.', 'dataset_', 1)}" for p in _check_dataset(spec, "dataset")]
