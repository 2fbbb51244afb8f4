"""Loading and validating a run config (one YAML file) before any notebook starts."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from kit.compute.config import ComputeSection
from kit.errors import ConfigError, KitError, did_you_mean
from kit.explain.config import ExplainSection
from kit.monitoring.config import MonitoringSection
from kit.readiness.config import ReadinessSection
from kit.schema import DatasetSpec, Section
from kit.training.config import TrainingSection
from kit.use_cases.config import UseCasesSection
from kit.yamlio import DuplicateKeyError, load_yaml


class OrganizationSection(Section):
    """Who the run is for."""

    name: str = Field(description="Organization name, shown on every report.")
    business_unit: str | None = Field(default=None, description="Business unit the run is for.")
    owner: str | None = Field(default=None, description="Accountable person or team.")
    industry: str | None = Field(default=None, description="Industry, for context in reports.")


SEED_MAX = 2**32 - 1
"""The largest seed every library of the run accepts (numpy, scikit-learn and the boosters take 32 bits)."""

RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
"""A run name: one folder name (it names the default report folder ``reports/<name>``)."""


class RunConfig(Section):
    """One run of the kit: organization, answers, portfolio, dataset and phase settings."""

    name: str | None = Field(
        default=None,
        description="Run name and default report folder (reports/<name>): letters, digits, '_', '-' and '.', "
        "not starting with '.' or '-'; defaults to the config file's stem.",
    )
    seed: int = Field(default=42, ge=0, le=SEED_MAX, description="Seed for every random step of the run (0 to 2^32 - 1).")
    organization: OrganizationSection = Field(description="Who the run is for.")
    readiness: ReadinessSection = Field(default_factory=ReadinessSection, description="Phase 0 evidence.")
    use_cases: UseCasesSection = Field(default_factory=UseCasesSection, description="Phase 1 portfolio.")
    dataset: DatasetSpec | None = Field(default=None, description="Training data when the pilot names none.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Phase 2 settings.")
    explainability: ExplainSection = Field(default_factory=ExplainSection, description="Phase 3 settings.")
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection, description="Phase 4 settings.")
    compute: ComputeSection = Field(default_factory=ComputeSection, description="Where the work runs: local (default) or Dask.")

    @field_validator("name")
    @classmethod
    def _single_folder_name(cls, value: str | None) -> str | None:
        """A run name is one folder name, so the default report folder stays inside reports/."""
        if value is not None and not RUN_NAME.fullmatch(value):
            raise ValueError(
                "must be one folder name (it names the report folder reports/<name>): up to 100 letters "
                "A-Z a-z, digits, '_', '-' and '.', not starting with '.' or '-' (no '/', '\\', spaces, '..'); "
                "e.g. name: churn-pilot_2024"
            )
        return value

    # Set by load_config, not by the YAML file.
    source_path: Path | None = Field(default=None, exclude=True)
    source_sha256: str | None = Field(default=None, exclude=True)

    def data_files(self) -> list[Path]:
        """Every existing file the config points at (for the manifest's hashes)."""
        found: set[Path] = set()
        _collect_paths(self, found)
        from kit.compute.data import expand_parquet_sets

        return sorted(p for p in expand_parquet_sets(found) if p.is_file())


def _collect_paths(value: Any, found: set[Path]) -> None:
    """Add every Path inside a (nested) model or container to ``found``."""
    if isinstance(value, Path):
        found.add(value)
    elif isinstance(value, Section):
        for field in type(value).model_fields:
            if field != "source_path":
                _collect_paths(getattr(value, field), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_paths(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_paths(item, found)


def _format_loc(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a dotted key path (``a.b[2].c``)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-") and part not in ("str", "int", "float", "bool"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[Section] | None:
    """Return the model class that owns the key at ``loc`` (for 'did you mean')."""
    model: Any = RunConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = section_type(field.annotation)
        if model is None:
            return None
    return model


def section_type(annotation: Any) -> type[Section] | None:
    """Find a Section class inside a (possibly Optional or list) annotation."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = section_type(arg)
        if found is not None:
            return found
    return None


def user_keys(model: type[Section]) -> list[str]:
    """The keys a config file may set in ``model`` (not those the kit fills in itself, such as source_path)."""
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _explain(error: dict[str, Any]) -> str:
    """One line for one pydantic error: key path, what was found, what is expected."""
    loc = error["loc"]
    where = _format_loc(loc)
    if error["type"] == "extra_forbidden":
        model = _model_at(loc)
        keys = user_keys(model) if model else []
        hint = did_you_mean(loc[-1], keys) if model else ""
        allowed = ", ".join(sorted(keys))
        return f"{where}: unknown key{hint or f'; allowed keys here: {allowed}'}"
    if error["type"] == "missing":
        return f"{where}: required key is missing; add it to the config"
    found = error.get("input")
    shown = repr(found) if not isinstance(found, dict) else "a mapping"
    if isinstance(found, (list, tuple)) and len(shown) > 60:
        shown = f"a list of {len(found)} items"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message} (found {shown})"


def _check_dataset(spec: DatasetSpec, where: str) -> list[str]:
    """Check that the columns a dataset spec names exist in its file."""
    from kit.data import read_columns

    try:
        columns = read_columns(spec.path, spec.read_options)
    except KitError as exc:
        return [f"{where}.path: {exc}"]
    duplicated = _duplicate_headers(spec, where)
    if duplicated:
        return duplicated
    separated = _separator_hint(columns, spec, where)
    if separated and any(n not in columns for names in spec.named_columns().values() for n in names):
        return [separated]
    problems = []
    for key, names in spec.named_columns().items():
        for name in names:
            if name not in columns:
                problems.append(
                    f"{where}.{key}: column {name!r} not in {spec.path.name}"
                    f"{did_you_mean(name, columns)}"
                )
    if spec.target in columns:
        problems += _check_target(spec, where)
    if not problems:
        problems += _empty_sensitive(spec, where)
    if not problems:
        from kit.timeparse import time_column_problems

        problems += time_column_problems(spec, where)
    return problems


def _check_production_files(source: Any) -> list[str]:
    """Each production file exists and its header reads as columns: no repeated name, not one column that another
    separator would split (found here, not after three phases)."""
    from types import SimpleNamespace

    from kit.compute.data import is_parquet_set
    from kit.data import read_columns

    if source is None:
        return []
    keyed = [(f"files[{i}]", p) for i, p in enumerate(source.files)] or ([("path", source.path)] if source.path else [])
    problems: list[str] = []
    for key, path in keyed:
        if is_parquet_set(path):
            continue
        if not path.is_file():
            problems.append(f"monitoring.production.{key}: {path} not found; check the path (relative paths start "
                            "at the config's folder)")
            continue
        try:
            columns = read_columns(path, source.read_options)
        except KitError as exc:
            problems.append(f"monitoring.production.{key}: {exc}")
            continue
        spec = SimpleNamespace(path=path, read_options=source.read_options)
        problems += _duplicate_headers(spec, "monitoring.production", key) or [
            p for p in [_separator_hint(columns, spec, "monitoring.production", key)] if p]
    return problems


def _check_production_time(source: Any) -> list[str]:
    """Check the production file's time column exists and reads as time (here, not after three phases)."""
    if source is None or source.path is None or not source.time_column or not source.path.is_file():
        return []
    from kit.data import read_columns
    from kit.timeparse import time_column_problems

    try:
        columns = read_columns(source.path, source.read_options)
    except KitError as exc:
        return [f"monitoring.production.path: {exc}"]
    if source.time_column not in columns:
        return [f"monitoring.production.time_column: column {source.time_column!r} not in {source.path.name}"
                f"{did_you_mean(source.time_column, columns)}"]
    return time_column_problems(source, "monitoring.production")


def _duplicate_headers(spec: DatasetSpec, where: str, key: str = "path") -> list[str]:
    """Column names a CSV header repeats (pandas would silently read the second 'x' as 'x.1')."""
    from kit.data import read_table

    options = spec.read_options
    if spec.path.suffix.lower() in (".parquet", ".pq") or {"header", "names", "skiprows", "usecols"} & options.keys():
        return []
    try:
        header = read_table(spec.path, {**options, "header": None, "dtype": str}, nrows=1)
    except KitError:
        return []  # read_columns reported any reading problem
    names = header.iloc[0].dropna().astype(str) if len(header) else header.columns.to_series()
    repeated = sorted(names[names.duplicated()].unique())
    if not repeated:
        return []
    return [f"{where}.{key}: {spec.path.name} names column(s) {', '.join(map(repr, repeated))} more than once in its "
            "header (pandas would read the second as a different column, e.g. 'x.1'); rename the repeats"]


def _separator_hint(columns: list[str], spec: DatasetSpec, where: str, key: str = "path") -> str:
    """A hint when a file read as one column is separated by another character (';' or a tab, say)."""
    if len(columns) != 1 or "sep" in spec.read_options:
        return ""
    found = [sep for sep in (";", "\t", "|") if sep in columns[0]]
    return (f"{where}.{key}: {spec.path.name} reads as one column ({columns[0][:40]!r}…), so the named columns are not "
            f"found; it looks separated by {found[0]!r}: set {where}.read_options: {{sep: {json.dumps(found[0])}}}"
            if found else "")


def _empty_sensitive(spec: DatasetSpec, where: str) -> list[str]:
    """Sensitive columns without a single value (training drops them, so fairness could not be assessed)."""
    from kit.data import read_column

    problems = []
    for name in spec.sensitive:
        try:
            values = read_column(spec.path, name, spec.read_options)
        except KitError as exc:
            return [f"{where}.path: {exc}"]
        if values.isna().all():
            problems.append(f"{where}.sensitive: column {name!r} is entirely empty in {spec.path.name}, so fairness "
                            "cannot be assessed on it; fill it, or remove it from the list")
    return problems


def _check_target(spec: DatasetSpec, where: str) -> list[str]:
    """Check the target column can be trained on, reading only that column."""
    from kit.data import read_column
    from kit.training.data import target_problems

    try:
        labels = read_column(spec.path, spec.target, spec.read_options)
    except KitError as exc:
        return [f"{where}.path: {exc}"]
    key = "positive_class" if spec.positive_class is not None else "target"
    return [f"{where}.{key}: {p}" for p in target_problems(labels, spec.positive_class, spec.task)]


def validate_config(raw: dict[str, Any], source: Path | None = None) -> RunConfig:
    """Validate a raw config mapping; raise one ConfigError listing every problem."""
    label = str(source) if source else "config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: expected a YAML mapping of sections (organization, readiness, ...)")
    base_dir = source.parent if source else Path.cwd()
    internal = [key for key in raw if key not in user_keys(RunConfig) and key in RunConfig.model_fields]
    lines = [_explain({"type": "extra_forbidden", "loc": (key,)}) for key in internal]
    try:
        config = RunConfig.model_validate({k: v for k, v in raw.items() if k not in internal},
                                          context={"base_dir": base_dir})
    except ValidationError as exc:
        lines += [" ".join(_explain(e).split()) for e in exc.errors()]
    if lines:
        raise ConfigError(f"{label}: {len(lines)} problem(s)\n  " + "\n  ".join(lines)) from None
    problems: list[str] = []
    if config.dataset is not None:
        problems += _check_dataset(config.dataset, "dataset")
    production = getattr(config.monitoring, "production", None)
    problems += _check_production_files(production) or _check_production_time(production)
    for field in ("readiness", "use_cases", "training", "explainability", "monitoring"):
        section = getattr(config, field)
        check = getattr(section, "check", None)
        if check is not None:
            problems += [f"{field}.{p}" for p in check(config)]
    if problems:
        problems = [" ".join(p.split()) for p in problems]  # one line each, whatever a library said
        raise ConfigError(f"{label}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))
    if source is not None and config.name is None:
        config.name = source.stem
    return config


def load_config(path: str | Path) -> RunConfig:
    """Load and validate a run config file; errors name the key path and the fix."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; pass the path of a YAML file such as data/configs/demo.yaml")
    text = path.read_bytes()
    try:
        raw = load_yaml(text)
    except yaml.reader.ReaderError as exc:
        what = ("not UTF-8 text" if exc.encoding == "utf-8" else "a control character no YAML file may hold")
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"{path}: not valid YAML at position {exc.position}: {what} ({exc.reason}: 0x{code:02x}); "
                          "save the config as plain UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
        fix = "" if isinstance(exc, DuplicateKeyError) else "; fix the indentation or quoting there"
        raise ConfigError(f"{path}: not valid YAML{at}: {problem}{fix}") from None
    config = validate_config(raw, path)
    config.source_path = path
    config.source_sha256 = hashlib.sha256(text).hexdigest()
    return config
