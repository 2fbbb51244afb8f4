"""Loading a dataset for modelling, encoding its target, and the recorded train/valid/test split.

``load_dataset`` reads the file a :class:`~kit.schema.DatasetSpec` names and makes it model-ready:
text columns become ``category`` once, early (pandas 3 string columns are slow for categorical
work); numeric columns stored as text (telco ``TotalCharges``) are converted with a visible
warning; text in an otherwise numeric column is an error naming the column. ``load_split``
gives later phases exactly the rows training used, checked against the recorded hashes.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.errors import DataError, did_you_mean
from kit.schema import DatasetSpec

PARTS = ("train", "valid", "test")
SPLIT_FILE = "split.json"


class DataWarning(UserWarning):
    """A data problem the run can go on with (shown in the notebook and kept in the artifact)."""


@dataclass
class Target:
    """The encoded target: binary 0/1 (1 = positive class), multiclass 0..K-1 (index into ``classes``), regression floats."""

    y: np.ndarray
    positive_class: Any
    negative_class: Any
    task: str = "binary"
    classes: list[Any] | None = None
    reason: str = ""


@dataclass
class Split:
    """Row positions of each part, how they were drawn, and hashes to verify them later."""

    parts: dict[str, np.ndarray]
    method: str
    seed: int
    data_hash: str
    index_hash: str = field(default="")
    task: str = "binary"

    def summary(self, y: np.ndarray) -> pd.DataFrame:
        """Rows per part and the target's mix: positive share (binary), classes present (multiclass), mean (regression)."""
        rows = {p: len(idx) for p, idx in self.parts.items()}
        if self.task == "multiclass":
            present = {p: int(len(np.unique(y[idx]))) for p, idx in self.parts.items()}
            return pd.DataFrame({"rows": rows, "classes_present": present}).rename_axis("part")
        share = {p: float(y[idx].mean()) if len(idx) else float("nan") for p, idx in self.parts.items()}
        column = "target_mean" if self.task == "regression" else "positive_share"
        return pd.DataFrame({"rows": rows, column: share}).rename_axis("part")


def _rules() -> dict[str, Any]:
    """Reading rules from kit/content/training.yaml."""
    return content.load("training")["reading"]


def text_levels(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """A text column's cell codes (-1 where missing) and its distinct values with their counts, in row order."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype("int64")
    return codes, pd.Series(counts, index=pd.Index(np.asarray(uniques, dtype=object), dtype=object), name=values.name)


def level_cells(codes: np.ndarray, per_level: np.ndarray, index: pd.Index, name: Any) -> pd.Series:
    """Per-level values spread back over the cells (NaN where a cell is missing)."""
    cells = per_level[np.maximum(codes, 0)] if len(per_level) else np.full(len(codes), np.nan)
    return pd.Series(np.where(codes >= 0, cells, np.nan), index=index, name=name)


def numeric_levels(levels: pd.Series) -> tuple[float, np.ndarray, np.ndarray]:
    """Share of non-blank cells whose value parses as a number, which levels are blank, and each level parsed.

    ``levels`` counts the cells of each distinct value (:func:`text_levels`): parsing runs once per value.
    """
    text = pd.Series(levels.index, dtype="object").astype("string").str.strip()
    blank = text.eq("").to_numpy(dtype=bool, na_value=True)
    parsed = pd.to_numeric(text.mask(blank), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    counts = levels.to_numpy(dtype="int64")
    nonblank = int(counts[~blank].sum())
    share = float(counts[~np.isnan(parsed)].sum() / nonblank) if nonblank else 0.0
    return share, blank, parsed


def numeric_text_share(values: pd.Series) -> tuple[float, int, pd.Series]:
    """Share of non-blank cells that parse as numbers, the blank count, and the parsed values."""
    codes, levels = text_levels(values)
    share, blank, parsed = numeric_levels(levels)
    return share, int(levels.to_numpy()[blank].sum()), level_cells(codes, parsed, values.index, values.name)


def text_rule(levels: pd.Series, col: str, never_feature: bool, csv: bool = True) -> tuple[np.ndarray | None, str]:
    """load_dataset's rule for one text column, from its distinct values and their counts in order of appearance.

    Returns each level as a number and the load note when the column holds numbers (plain, or written with
    separators), or (None, "") when it is a category; numbers mixed with text are a DataError naming the
    first text in row order that is not a number (blank cells aside). ``csv``: the data is a CSV file, whose
    reader takes the thousands/decimal options the notes suggest. Both engines apply it: the local one to a
    column, the Dask engine to the counts summed over every file of a Parquet set.
    """
    rules = _rules()
    share, blank, parsed = numeric_levels(levels)
    how = ("stored as text", "")
    if share < 1 - rules["numeric_text_tolerance"] and not never_feature:
        share, parsed, how = separated_numbers(levels, col, share, parsed, csv)
    counts = levels.to_numpy(dtype="int64")
    blanks = int(counts[blank].sum())
    if share >= 1 - rules["numeric_text_tolerance"]:
        lost = int(counts[np.isnan(parsed)].sum()) - blanks
        return parsed, (f"column {col!r} holds numbers {how[0]}; converted to numbers "
                        f"({blanks} blank and {lost} non-numeric cells became missing){how[1]}")
    if share >= rules["numeric_text_min_share"] and not never_feature:
        example = levels.index[np.isnan(parsed) & ~blank][0]
        raise DataError(
            f"column {col!r}: {share:.0%} of its values are numbers but others are text "
            f"(e.g. {example!r}); clean the column, or list it in dataset.drop_columns"
        )
    return None, ""


def clean_frame(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[str]]:
    """Model-ready copy of a raw frame (typed columns, target rows present) and warnings to show."""
    if spec.target not in frame.columns:
        raise DataError(
            f"dataset.target: column {spec.target!r} is not in {spec.path.name}"
            f"{did_you_mean(spec.target, frame.columns)}; set dataset.target to the label column"
        )
    notes: list[str] = []
    out = frame.copy()
    empty = [c for c in out.columns if c != spec.target and out[c].isna().all()]
    if empty:
        notes.append(f"columns {empty} are entirely empty and were dropped; remove them from the file or fill them")
        out = out.drop(columns=empty)
    unlabeled = out[spec.target].isna()
    if unlabeled.any():
        notes.append(f"{int(unlabeled.sum())} rows have no value in target {spec.target!r} and were dropped")
        out = out.loc[~unlabeled].reset_index(drop=True)
        out[spec.target] = whole_numbers(out[spec.target])  # 0/1 read as 0.0/1.0 because of the blank cells
    notes += _infinities_as_missing(out, spec.target)
    text_cols = [c for c in out.columns if _is_text(out[c]) and c != spec.target]
    never_features = {*spec.id_columns, *spec.drop_columns}  # kept as they are: no error about their values
    csv = _is_csv(spec.path)
    for col in text_cols:
        codes, levels = text_levels(out[col])
        numbers, note = text_rule(levels, col, col in never_features, csv)
        if numbers is None:
            out[col] = out[col].astype("category")
        else:
            notes.append(note)
            out[col] = level_cells(codes, numbers, out.index, col)
    return out, notes


def separated_numbers(levels: pd.Series, col: str, share: float, parsed: np.ndarray,
                      csv: bool = True) -> tuple[float, np.ndarray, tuple[str, str]]:
    """Numbers written with thousands separators or decimal commas, parsed when the style is clear.

    ``levels`` counts the cells of each distinct value (:func:`text_levels`). Returns the parse share, each
    level parsed and how they were written (for the load note, with the read option that reads them directly);
    the plain ``share`` and ``parsed`` come back unchanged when the column does not hold numbers written that
    way. Numbers whose separators read two ways (only values like 1,234, or both styles) are an error naming
    the read option (for a CSV file; Parquet readers take none: the fix is to store the column as numbers).
    """
    from kit.profile import SEPARATOR_STYLES, parse_separated, separator_style

    text = pd.Series(levels.index, dtype="object").astype("string")
    style = separator_style(text)
    if style is None:
        return share, parsed, ("", "")
    counts = levels.to_numpy(dtype="int64")
    nonblank = max(int(counts[text.str.strip().ne("").to_numpy(dtype=bool, na_value=False)].sum()), 1)
    readings = {s: parse_separated(text, s) for s in SEPARATOR_STYLES if style in (s, "ambiguous", "mixed")}
    converted = readings[style] if style in SEPARATOR_STYLES else readings["comma_thousands"].fillna(readings["decimal_comma"])
    converted = converted.to_numpy(dtype="float64", na_value=np.nan)
    full = float(counts[~np.isnan(converted)].sum() / nonblank)
    if full < 1 - _rules()["numeric_text_tolerance"]:
        return share, parsed, ("", "")
    examples = text[text.str.contains(",", regex=False)].head(2).tolist()
    if style not in SEPARATOR_STYLES:
        what = "thousands separators or decimal commas" if style == "ambiguous" else "both styles in one column"
        if not csv:
            raise DataError(f"column {col!r}: its numbers use separators that read two ways (e.g. {examples}: {what}); "
                            "store the column as numbers in the Parquet data, or list it in dataset.drop_columns")
        raise DataError(
            f"column {col!r}: its numbers use separators that read two ways (e.g. {examples}: {what}); say which in "
            f"dataset.read_options: {SEPARATOR_STYLES['comma_thousands']} for 1,234.5 or "
            f"{SEPARATOR_STYLES['decimal_comma']} for 1.234,5, or list it in dataset.drop_columns"
        )
    kind = "thousands separators" if style == "comma_thousands" else "decimal commas"
    hint = (f"; set dataset.read_options: {SEPARATOR_STYLES[style]} to read them as numbers directly" if csv
            else "; store the column as numbers in the Parquet data to read them directly")
    return full, converted, (f"written with {kind} (e.g. {examples})", hint)


def _is_csv(path: Path) -> bool:
    """Whether the dataset is one text file, read by pandas.read_csv (which takes thousands and decimal options)."""
    from kit.compute.data import is_parquet_set
    from kit.data import _READERS

    return not is_parquet_set(path) and _READERS.get(Path(path).suffix.lower()) == "csv"


def _infinities_as_missing(frame: pd.DataFrame, target: str) -> list[str]:
    """Replace inf/-inf (and magnitudes beyond float32) in numeric columns by missing, in place; one note per column."""
    from kit.profile import FLOAT32_MAX, infinite_counts

    counts = infinite_counts(frame.drop(columns=[target]))
    notes = []
    for col, n in counts[counts > 0].items():  # a loop over columns, not rows
        frame[col] = frame[col].mask(frame[col].abs() > FLOAT32_MAX)
        notes.append(f"column {col!r} holds {int(n)} infinite value(s) (inf/-inf, or beyond ±3.4e38, which the "
                     "boosters store as infinity); treated as missing: fix them at the source")
    return notes


def _is_text(values: pd.Series) -> bool:
    """True for object or string columns (not already categorical, numeric or bool)."""
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def load_dataset(spec: DatasetSpec, show_warnings: bool = True) -> pd.DataFrame:
    """Read and clean the dataset a spec names; warnings are shown and kept in ``frame.attrs``."""
    from kit.data import read_table

    from kit.training.features import add_time_features

    raw = read_table(spec.path, spec.read_options)
    frame, notes = clean_frame(raw, spec)
    frame, time_notes = add_time_features(frame, spec)  # calendar and lag features, before the split
    notes += time_notes
    if show_warnings:
        for note in notes:
            warnings.warn(note, DataWarning, stacklevel=2)
    frame.attrs["kit_notes"] = notes
    return frame


def infer_positive_class(labels: pd.Series, configured: Any = None) -> Any:
    """The positive label: the configured one if present, else a known positive word or 1/True."""
    values = labels.dropna().unique().tolist()
    text = {str(v).strip(): v for v in values}
    if len(values) != 2:
        shown = sorted(map(str, values))[:6]
        raise DataError(
            f"target {labels.name!r} has {len(values)} distinct value(s) {shown}; the training phase "
            "needs exactly two classes: pick a binary target or map the labels to two classes first"
        )
    if configured is not None:
        if str(configured).strip() not in text:
            raise DataError(
                f"dataset.positive_class: {configured!r} does not occur in target {labels.name!r} "
                f"(values: {sorted(text)}); set it to one of them{_yaml_bool_hint(configured, text)}"
            )
        return text[str(configured).strip()]
    known = [v for k, v in text.items() if k.lower() in _rules()["positive_labels"]]
    if len(known) != 1:
        raise DataError(
            f"dataset.positive_class: cannot tell which of {sorted(text)} in target {labels.name!r} "
            "is the positive class (the event to predict); set dataset.positive_class"
        )
    return known[0]


def _yaml_bool_hint(configured: Any, labels: dict[str, Any]) -> str:
    """A quoting hint when YAML turned a label such as Yes or off into a boolean."""
    if not isinstance(configured, bool):
        return ""
    words = _rules()["yaml_bool_words"][str(configured).lower()]
    match = next((k for k in sorted(labels) if k.lower() in words), "Yes" if configured else "No")
    return (f"; write positive_class: '{match}' in quotes; YAML reads yes/no/on/off as true/false "
            f"(so it read {configured})")


def target_problems(labels: pd.Series, positive_class: Any = None, task: str = "auto") -> list[str]:
    """Why a target column cannot be trained on (no rows, no labels, one value, wrong kind for the task, too few of a class, positive class)."""
    from kit.tasks import resolve_task

    rows = len(labels)
    labels = whole_numbers(labels.dropna())
    name = labels.name
    if rows == 0:
        return [f"target {name!r}: the file has a header but no rows; point dataset.path at a file with data"]
    if labels.empty:
        return [f"target {name!r}: all {rows} values are missing; set dataset.target to the label column or fill it"]
    try:
        decided = resolve_task(labels, task).task
        if decided == "binary":
            positive = infer_positive_class(labels, positive_class)
        else:
            encode_classes(labels) if decided == "multiclass" else encode_numbers(labels)
            positive = None
    except DataError as exc:
        return [str(exc).removeprefix("dataset.positive_class: ").removeprefix("dataset.task: ")]
    if decided == "regression":
        return []
    least = _rules()["min_rows_per_class"]
    counts = labels.astype("string").str.strip().value_counts()
    small = counts[counts < least]
    if len(small):
        found = ", ".join(f"{k!r}: {v}" for k, v in small.items())
        which = f"; positive class {positive!r}" if decided == "binary" else ""
        return [f"target {name!r}: too few rows of a class ({found}{which}); the "
                f"train/valid/test split needs at least {least} rows of each class: add labelled rows"]
    return []


def whole_numbers(values: pd.Series) -> pd.Series:
    """A float column holding only whole numbers as integers (labels 0/1 read as 0.0/1.0), else unchanged."""
    present = values.dropna()
    if pd.api.types.is_float_dtype(values) and (present == present.round()).all() and (present.abs() < 2**53).all():
        return values.astype("Int64")  # below 2**53 every whole float is an exact integer
    return values


def labels_to_binary(labels: pd.Series, positive: Any) -> np.ndarray:
    """1 where a label is the positive class (compared as trimmed text), else 0: one rule for training and production."""
    return (whole_numbers(labels).astype("string").str.strip() == str(positive).strip()).to_numpy(dtype=np.int64)


def encode_target(labels: pd.Series, positive_class: Any = None) -> Target:
    """Encode a two-class target to 0/1 with 1 for the positive class."""
    positive = infer_positive_class(labels, positive_class)
    y = labels_to_binary(labels, positive)
    negative = next(v for v in labels.dropna().unique().tolist() if str(v).strip() != str(positive).strip())
    return Target(y=y, positive_class=_plain(positive), negative_class=_plain(negative))


def encode_task_target(labels: pd.Series, positive_class: Any = None, task: str = "auto") -> Target:
    """Decide the task (:func:`kit.tasks.resolve_task`) and encode the target for it, with the reason."""
    from kit.tasks import resolve_task

    decision = resolve_task(whole_numbers(labels), task)
    if decision.task == "binary":
        target = encode_target(labels, positive_class)
        target.classes = [target.negative_class, target.positive_class]
    elif decision.task == "multiclass":
        target = encode_classes(labels)
    else:
        target = encode_numbers(labels)
    target.task, target.reason = decision.task, decision.reason
    return target


def encode_classes(labels: pd.Series) -> Target:
    """Multiclass labels as 0..K-1 in sorted label order; at least three classes."""
    present = whole_numbers(labels)
    classes = sorted(_plain(v) for v in present.dropna().unique())
    if len(classes) < 3:
        raise DataError(
            f"dataset.task: multiclass needs at least three classes, target {labels.name!r} has {len(classes)} "
            f"({classes}); use task: binary for two"
        )
    codes = pd.Categorical(present.astype("object"), categories=classes).codes.astype(np.int64)
    return Target(y=codes, positive_class=None, negative_class=None, task="multiclass", classes=classes)


def encode_numbers(labels: pd.Series) -> Target:
    """A regression target as float64; text that is not a number is an error naming it."""
    values = pd.to_numeric(labels, errors="coerce")
    bad = values.isna() & labels.notna()
    if bad.any() or pd.api.types.is_bool_dtype(labels):
        example = labels[bad].iloc[0] if bad.any() else labels.iloc[0]
        raise DataError(
            f"dataset.task: regression needs a numeric target, but {labels.name!r} holds {example!r}; "
            "use task: multiclass for labels, or clean the column"
        )
    return Target(y=values.to_numpy(dtype="float64"), positive_class=None, negative_class=None, task="regression")


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value (JSON-friendly)."""
    return value.item() if hasattr(value, "item") else value


def feature_columns(frame: pd.DataFrame, spec: DatasetSpec, exclude: list[str] | None = None) -> list[str]:
    """Columns usable as features: all but target, ids, time, dropped, excluded and (when excluded) sensitive ones."""
    skip = {spec.target, *spec.id_columns, *spec.drop_columns, *(exclude or [])}
    if spec.sensitive_as_input == "exclude":
        skip.update(spec.sensitive)
    if spec.time_column:
        skip.add(spec.time_column)
    return [c for c in frame.columns if c not in skip]


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 of a frame's values and index (detects any change to the data)."""
    row_hashes = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    digest = hashlib.sha256(row_hashes.tobytes())
    digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def index_hash(parts: dict[str, np.ndarray]) -> str:
    """sha256 of the row positions of every part."""
    digest = hashlib.sha256()
    for name in PARTS:
        digest.update(name.encode())
        digest.update(np.asarray(parts[name], dtype=np.int64).tobytes())
    return digest.hexdigest()


def make_split(
    frame: pd.DataFrame, y: np.ndarray, valid_size: float, test_size: float, seed: int, time_column: str | None = None,
    time_format: str | None = None, by_rows: bool = False, task: str = "binary",
) -> Split:
    """Train/valid/test row positions: time-ordered (time column), in file order (``by_rows``), else stratified (seeded)."""
    n = len(y)
    if time_column:
        from kit.timeparse import order_by_time, parse_time

        stamps = parse_time(frame[time_column], time_format)
        if stamps.isna().any():
            bad = frame.loc[stamps.isna().to_numpy(), time_column].astype("string").head(3).tolist()
            how = f" in time_format {time_format!r}" if time_format else ""
            raise DataError(
                f"dataset.time_column: {int(stamps.isna().sum())} value(s) of {time_column!r} are missing or not "
                f"dates{how} (e.g. {bad}); fix or drop those rows, set dataset.time_format, or remove time_column"
            )
        parts = ordered_parts(order_by_time(stamps), valid_size, test_size)
        method = f"time-ordered by {time_column}"
    elif by_rows:
        parts = ordered_parts(np.arange(n), valid_size, test_size)
        method = "row order (first rows train, last rows test)"
    else:
        from sklearn.model_selection import train_test_split

        positions = np.arange(n)
        strata = None if task == "regression" else y
        rest, test = train_test_split(positions, test_size=test_size, stratify=strata, random_state=seed)
        train, valid = train_test_split(
            rest, test_size=valid_size / (1 - test_size), stratify=None if strata is None else y[rest], random_state=seed
        )
        parts = {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}
        method = "random" if task == "regression" else "stratified random"
    for name, idx in parts.items():
        if task != "regression" and len(np.unique(y[idx])) < 2:
            raise DataError(
                f"split part {name!r} has only one class; use more rows, or a larger "
                "training.valid_size / training.test_size"
            )
    split = Split(parts=parts, method=method, seed=seed, data_hash=frame_hash(frame), task=task)
    split.index_hash = index_hash(parts)
    return split


def ordered_parts(order: np.ndarray, valid_size: float, test_size: float) -> dict[str, np.ndarray]:
    """Cut ordered row positions into train (earliest), valid and test (latest)."""
    n = len(order)
    n_test, n_valid = int(round(n * test_size)), int(round(n * valid_size))
    return {"train": order[: n - n_test - n_valid], "valid": order[n - n_test - n_valid : n - n_test], "test": order[n - n_test :]}


def split_record(split: Split, spec: DatasetSpec) -> dict[str, Any]:
    """The split as JSON-ready data: positions per part, hashes and the dataset spec."""
    return {
        "method": split.method,
        "seed": split.seed,
        "task": split.task,
        "rows": {p: len(idx) for p, idx in split.parts.items()},
        "data_hash": split.data_hash,
        "index_hash": split.index_hash,
        "dataset_spec": spec.model_dump(mode="json"),
        "positions": {p: idx.tolist() for p, idx in split.parts.items()},
    }


def save_split(run_dir: str | Path, split: Split, spec: DatasetSpec) -> Path:
    """Write ``artifacts/split.json`` and return its path."""
    from kit.artifacts import artifacts_dir, write_json

    return write_json(artifacts_dir(run_dir) / SPLIT_FILE, split_record(split, spec))


def trained_spec(run_dir: str | Path, config: Any) -> DatasetSpec:
    """The dataset spec the training phase used (from the recorded split), else the config's dataset."""
    split = Path(run_dir) / "artifacts" / SPLIT_FILE
    if split.is_file():
        return DatasetSpec.model_validate(json.loads(split.read_text(encoding="utf-8"))["dataset_spec"])
    if config.dataset is None:
        raise DataError("no dataset: add a `dataset:` section to the config or run phase 2 (training) first")
    return config.dataset


def read_split_record(ctx_or_run_dir: Any, *parts: str) -> tuple[dict[str, Any], DatasetSpec]:
    """The recorded split (``artifacts/split.json``) and its dataset spec; an unknown part or no split is a DataError."""
    for part in parts:
        if part not in PARTS:
            raise DataError(f"split part {part!r} is unknown{did_you_mean(part, PARTS)}; use one of {list(PARTS)}")
    path = _split_path(ctx_or_run_dir)
    if not path.is_file():
        raise DataError(f"{path}: no recorded split; run the training phase (02_training) for this run first")
    record = json.loads(path.read_text(encoding="utf-8"))
    return record, DatasetSpec.model_validate(record["dataset_spec"])


def _split_path(ctx_or_run_dir: Any) -> Path:
    """Where a run (or its context) keeps the recorded split."""
    return Path(getattr(ctx_or_run_dir, "run_dir", ctx_or_run_dir)) / "artifacts" / SPLIT_FILE


def recorded_parts(ctx_or_run_dir: Any, record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Row positions of every part, checked against their recorded hash."""
    parts = {p: np.asarray(record["positions"][p], dtype=np.int64) for p in PARTS}
    if index_hash(parts) != record["index_hash"]:
        raise DataError(f"{_split_path(ctx_or_run_dir)}: row positions do not match their recorded hash; "
                        "re-run the training phase")
    return parts


def load_split(ctx_or_run_dir: Any, config: Any = None, part: str = "test") -> tuple[pd.DataFrame, np.ndarray]:
    """(X, y) of one recorded part (train, valid, test): the same rows training used, verified.

    X keeps every column but the target (features, ids, sensitive columns); score it with
    ``ScoringModel``, which selects its own features. ``config`` is accepted for symmetry
    with other phases; the dataset comes from the recorded split.
    """
    record, spec = read_split_record(ctx_or_run_dir, part)
    frame = load_dataset(spec, show_warnings=False)
    if frame_hash(frame) != record["data_hash"]:
        raise DataError(
            f"{spec.path}: the data changed since training recorded the split (hash differs); "
            "re-run the training phase on the current file"
        )
    parts = recorded_parts(ctx_or_run_dir, record)
    target = encode_task_target(frame[spec.target], spec.positive_class, record.get("task", "binary"))
    rows = parts[part]
    X = frame.iloc[rows].drop(columns=[spec.target])
    return X, target.y[rows]
