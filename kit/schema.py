"""Building blocks of the run config: strict sections, config-relative paths, dataset specs."""
from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class Section(BaseModel):
    """A config section: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """A number key never takes YAML's yes/no/true/false/on/off (pydantic would read true as 1)."""
        if isinstance(value, bool) and info.field_name and _wants_number(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, but YAML read this as the boolean {value}; write a number")
        return value


def _wants_number(annotation: Any) -> bool:
    """Whether a field takes an int or float and no boolean (``int``, ``float | None``, ...)."""
    options = set(get_args(annotation)) if get_origin(annotation) in (Union, UnionType) else {annotation}
    return bool(options & {int, float}) and bool not in options


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the config file's folder (given in the context)."""
    base = (info.context or {}).get("base_dir")
    value = Path(value).expanduser()
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value.resolve() if base is not None else value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""A path in a config: relative paths resolve against the config file's folder."""

Scalar = str | int | float | bool


def _time_format(value: str | None) -> str | None:
    """A valid dataset.time_format (see kit.timeparse)."""
    from kit.timeparse import check_time_format

    return check_time_format(value)


TimeFormat = Annotated[str | None, AfterValidator(_time_format)]
"""How to read a time column that is not a date: year, unix_seconds, unix_milliseconds or a strftime pattern."""

CalendarPart = Literal["hour", "weekday", "month", "day_of_month", "day_of_year"]


class LagSpec(Section):
    """Lag features: a column's own past values, looked up without looking ahead."""

    column: str = Field(description="Column whose past values become features (e.g. the target cnt).")
    periods: list[int] = Field(
        min_length=1, description="How far back, in steps (e.g. [1, 24, 168] hours back on hourly data); each >= 1."
    )
    step: str | None = Field(
        default=None,
        description="Length of one step as a pandas offset ('1h', '1D', '15min'); default: the most common gap "
        "between consecutive times. Not with rows_in_time_order (a step is then one row).",
    )

    @model_validator(mode="after")
    def _valid(self) -> "LagSpec":
        """Periods are distinct whole steps >= 1 and the step is a fixed positive length."""
        if any(p < 1 for p in self.periods) or len(set(self.periods)) != len(self.periods):
            raise ValueError(f"periods {self.periods}: give distinct whole numbers >= 1 (a lag of 0 is the value itself)")
        if self.step is not None:
            import pandas as pd

            try:
                length = pd.Timedelta(pd.tseries.frequencies.to_offset(self.step))
            except (ValueError, TypeError):
                raise ValueError(f"step {self.step!r} is not a fixed length; write e.g. '1h', '1D' or '15min'") from None
            if length <= pd.Timedelta(0):
                raise ValueError(f"step {self.step!r} must be a positive length")
        return self


class DatasetSpec(Section):
    """Where a dataset lives and what its columns mean."""

    path: ConfigPath = Field(description="CSV or Parquet file, or a folder or glob of Parquet files (read lazily on the Dask engine).")
    target: str = Field(description="Column to predict: two classes, several classes, or a number.")
    task: Literal["auto", "binary", "multiclass", "regression"] = Field(
        default="auto",
        description="What to learn: auto decides from the target (two values: binary; text or at most 20 "
        "whole-number values: multiclass; other numbers: regression) and the report says why; set it when the guess is wrong.",
    )
    positive_class: Scalar | None = Field(
        default=None, description="Label of the positive class (binary task); inferred for 0/1, True/False, Yes/No."
    )
    sensitive: list[str] = Field(default_factory=list, description="Columns to check for fairness.")
    sensitive_as_input: Literal["allow", "exclude"] = Field(
        default="allow", description="Use the sensitive columns as model inputs (allow) or keep them out of training (exclude)."
    )
    id_columns: list[str] = Field(default_factory=list, description="Identifiers, never features.")
    time_column: str | None = Field(default=None, description="Timestamp that orders the rows.")
    time_format: TimeFormat = Field(
        default=None,
        description="How to read time_column when it is not a date: year, unix_seconds, unix_milliseconds "
        "or a strftime pattern such as '%Y%m%d'. Numbers are never guessed as dates.",
    )
    rows_in_time_order: bool = Field(
        default=False,
        description="The file's rows are in time order but it has no date column: training splits by row "
        "position (first rows train, the next validate, the last test). Not with time_column.",
    )
    drop_columns: list[str] = Field(default_factory=list, description="Columns never used as features.")
    post_outcome_columns: list[str] = Field(
        default_factory=list,
        description="Columns known only after the outcome (e.g. a call's duration): never features, "
        "listed as such in the quality report.",
    )
    name: str | None = Field(default=None, description="Display name of the dataset.")
    description: str | None = Field(default=None, description="What the rows are, where they come from.")
    read_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra pandas reader options (pandas.read_csv / read_parquet keywords: sep, encoding, "
        "thousands, decimal, ...); e.g. {sep: ';', thousands: '.', decimal: ','} for 1.234,5.",
    )
    calendar: list[CalendarPart] | Literal["auto"] | None = Field(
        default=None,
        description="Calendar features from time_column: any of hour, weekday (0 Monday), month, day_of_month, "
        "day_of_year, or auto (those of hour, weekday and month that vary in the data). A holiday flag in the "
        "data (e.g. holiday) is used as an ordinary feature. Default: none.",
    )
    lags: LagSpec | None = Field(
        default=None,
        description="Lag features of a column's own past, e.g. {column: cnt, periods: [1, 24, 168]}: the value "
        "that many steps earlier (by time_column, or by row with rows_in_time_order), never later. Rows in the "
        "first max(periods) steps have no full history and are dropped; a later past time absent from the "
        "data leaves its lag missing.",
    )

    @model_validator(mode="after")
    def _one_time_order(self) -> "DatasetSpec":
        """time_column and rows_in_time_order are two ways to say the same thing: at most one."""
        if self.time_column and self.rows_in_time_order:
            raise ValueError("give time_column or rows_in_time_order: true, not both (time_column already orders the rows)")
        if self.time_format and not self.time_column:
            raise ValueError("time_format needs time_column: name the column it describes")
        if self.calendar and not self.time_column:
            raise ValueError("calendar needs time_column: name the column the calendar features come from")
        if self.lags and not (self.time_column or self.rows_in_time_order):
            raise ValueError("lags need an order: set time_column (or rows_in_time_order: true for rows already in time order)")
        if self.lags and self.lags.step and not self.time_column:
            raise ValueError("lags.step needs time_column; with rows_in_time_order a step is one row: remove lags.step")
        return self

    def named_columns(self) -> dict[str, list[str]]:
        """Every column the spec names, by the key that names it."""
        named = {
            "target": [self.target],
            "sensitive": self.sensitive,
            "id_columns": self.id_columns,
            "drop_columns": self.drop_columns,
            "post_outcome_columns": self.post_outcome_columns,
        }
        if self.time_column:
            named["time_column"] = [self.time_column]
        if self.lags:
            named["lags.column"] = [self.lags.column]
        return named
