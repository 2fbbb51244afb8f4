"""Building blocks of the run config: strict sections, config-relative paths, dataset specs."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo


class Section(BaseModel):
    """A config section: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_default=True)


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


class DatasetSpec(Section):
    """Where a dataset lives and what its columns mean."""

    path: ConfigPath = Field(description="CSV or Parquet file.")
    target: str = Field(description="Column to predict (two classes).")
    positive_class: Scalar | None = Field(
        default=None, description="Label of the positive class; inferred for 0/1, True/False, Yes/No."
    )
    sensitive: list[str] = Field(default_factory=list, description="Columns to check for fairness.")
    id_columns: list[str] = Field(default_factory=list, description="Identifiers, never features.")
    time_column: str | None = Field(default=None, description="Timestamp that orders the rows.")
    drop_columns: list[str] = Field(default_factory=list, description="Columns never used as features.")
    name: str | None = Field(default=None, description="Display name of the dataset.")
    description: str | None = Field(default=None, description="What the rows are, where they come from.")
    read_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra pandas reader options (pandas.read_csv / read_parquet keywords: sep, encoding, "
        "thousands, decimal, ...); e.g. {sep: ';', thousands: '.', decimal: ','} for 1.234,5.",
    )

    def named_columns(self) -> dict[str, list[str]]:
        """Every column the spec names, by the key that names it."""
        named = {
            "target": [self.target],
            "sensitive": self.sensitive,
            "id_columns": self.id_columns,
            "drop_columns": self.drop_columns,
        }
        if self.time_column:
            named["time_column"] = [self.time_column]
        return named
