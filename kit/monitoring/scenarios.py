"""Seeded workshop scenarios: time-ordered production batches built from held-out rows, with drift injected.

Batches are drawn from the held-out (test) rows the champion never saw. When there are enough
rows for every batch, the rows are split in order (time order when the dataset has a time
column) without replacement; otherwise each batch is a seeded sample with replacement.
Each injection changes only the batches from ``start`` to ``end`` and is logged with the
alert rule that should catch it, so a test (or a workshop participant) can check that it does.

Every task gets the same scenarios. Concept drift changes the target relation in one segment
(a category, or for a model without categorical features the rows above a numeric feature's
reference median): binary labels flip; multiclass labels move to the next class (relabel);
a regression target moves up by ``magnitude`` reference standard deviations of the target.
An injection that picks its own feature and finds none of its kind (a new category for a model
without categorical features) is skipped and the log says so, rather than stopping the phase.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.errors import DataError, did_you_mean
from kit.monitoring.config import Injection, ScenarioSpec, range_alias

# Which alert rule is expected to catch each kind of injection.
EXPECTED_RULE = {
    "gradual_shift": "psi_top_k",
    "sudden_shift": "psi_top_k",
    "category_frequency": "psi_top_k",
    "new_category": "data_quality",
    "concept_flip": "auc_drop",  # regression: rmse_rise; multiclass: macro_f1_drop (see expected_rule)
    "missing_spike": "data_quality",
    "unit_change": "data_quality",
}
NEEDS = {
    "gradual_shift": "numeric", "sudden_shift": "numeric", "missing_spike": "numeric",
    "unit_change": "numeric", "category_frequency": "categorical", "new_category": "categorical",
    "concept_flip": "categorical",
}


TASK_RULE = {"regression": {"concept_flip": "rmse_rise"}, "multiclass": {"concept_flip": "accuracy_drop"}}


def expected_rule(kind: str, task: str = "binary") -> str:
    """The alert rule that should catch an injection of this kind for this task."""
    return TASK_RULE.get(task, {}).get(kind, EXPECTED_RULE[kind])


@dataclass
class Batch:
    """One production batch: its name (period start), rows, and whether it carries labels."""

    name: str
    frame: pd.DataFrame
    labelled: bool = True
    stamps: pd.Series | None = None  # row times, when the rows carry a time column
    partial: bool = False            # a first/last period the data covers only in part
    blank_labels: int = 0            # rows without a label, when others have one (the batch counts as unlabelled)


@dataclass
class Scenario:
    """The batches of a scenario and the log of what was injected where."""

    name: str
    description: str
    batches: list[Batch]
    injections: pd.DataFrame


def batch_names(n_batches: int, start: str, frequency: str) -> list[str]:
    """Period labels of the batches (ISO dates), e.g. weekly from ``start``."""
    return [d.date().isoformat() for d in pd.date_range(start, periods=n_batches, freq=range_alias(frequency))]


def draw_batches(
    held_out: pd.DataFrame, n_batches: int, batch_size: int, seed: int, time_column: str | None = None,
    time_format: str | None = None,
) -> list[pd.DataFrame]:
    """Split held-out rows into consecutive batches; when too few, each batch resamples its own disjoint share.

    Batches never share a row, so a challenger trained on earlier batches is never judged on rows it saw.
    """
    if held_out.empty:
        raise DataError("held-out rows: none to build production batches from; check the training split")
    rng = np.random.default_rng(seed)
    if time_column:  # sort by parsed time: the column is a category of date strings by now
        from kit.timeparse import order_by_time, parse_time

        ordered = held_out.iloc[order_by_time(parse_time(held_out[time_column], time_format))]
    else:
        ordered = held_out.iloc[rng.permutation(len(held_out))]
    if len(ordered) >= n_batches * batch_size:
        return [ordered.iloc[i * batch_size:(i + 1) * batch_size].copy() for i in range(n_batches)]
    if len(ordered) < n_batches:
        raise DataError(f"held-out rows: {len(ordered)} are too few for {n_batches} batches; lower monitoring.n_batches")
    shares = np.array_split(np.arange(len(ordered)), n_batches)
    return [ordered.iloc[np.sort(rng.choice(share, size=batch_size, replace=True))].reset_index(drop=True)
            for share in shares]


def resampling_note(held_out_rows: int, n_batches: int, batch_size: int) -> str | None:
    """Why a resampled scenario's counts overstate the evidence (None when batches are real, distinct rows)."""
    if held_out_rows >= n_batches * batch_size:
        return None
    distinct = held_out_rows // n_batches
    return (f"workshop batches: {held_out_rows:,} held-out rows for {n_batches} batches of {batch_size:,}: each batch "
            f"repeats about {distinct:,} distinct rows (x{batch_size / max(distinct, 1):.0f}), so its row and class counts, "
            f"intervals and alerts overstate the evidence; set monitoring.batch_size to {max(distinct, 1):,} or fewer "
            "(or lower monitoring.n_batches) for figures that carry their real weight")


def pick_feature(
    injection: Injection, ranked: Sequence[str], kinds: dict[str, str], used: set[str], frame: pd.DataFrame
) -> str:
    """The injection's feature: the configured one (checked) or the most important unused one of the right kind."""
    need = NEEDS[injection.kind]
    if injection.feature is not None:
        if injection.feature not in kinds:
            raise DataError(
                f"monitoring scenario: feature {injection.feature!r} is not a model feature"
                f"{did_you_mean(injection.feature, kinds)}; name one of the training features"
            )
        if kinds[injection.feature] != need and injection.kind != "concept_flip":
            raise DataError(
                f"monitoring scenario: {injection.kind} needs a {need} feature, but "
                f"{injection.feature!r} is {kinds[injection.feature]}; pick a {need} feature"
            )
        return injection.feature
    candidates = [f for f in ranked if kinds.get(f) == need and f not in used]
    if injection.kind == "concept_flip" and not candidates:  # no categorical feature: a numeric segment
        need = "numeric"
        candidates = [f for f in ranked if kinds.get(f) == need and f not in used]
    if need == "numeric":
        candidates = [f for f in candidates if frame[f].nunique() >= 10] or candidates
    else:
        candidates = [f for f in candidates if frame[f].nunique() >= 2] or candidates
    if not candidates:
        raise DataError(
            f"monitoring scenario: {injection.kind} needs a {need} feature and the model has none left; "
            f"remove this injection or set its feature"
        )
    return candidates[0]


def _shift(frame: pd.DataFrame, feature: str, amount: float) -> pd.DataFrame:
    """Add ``amount`` to a numeric column."""
    frame[feature] = frame[feature].astype("float64") + amount
    return frame


def _replace_share(frame: pd.DataFrame, feature: str, share: float, value: object, rng: np.random.Generator) -> pd.DataFrame:
    """Set a random ``share`` of a column's rows to ``value``."""
    mask = rng.random(len(frame)) < share
    column = frame[feature].astype("object") if value is None or isinstance(frame[feature].dtype, pd.CategoricalDtype) else frame[feature]
    if value is None:
        column = column.astype("float64")
        column[mask] = np.nan
    else:
        column = column.astype("object")
        column[mask] = value
    frame[feature] = column
    return frame


def _flip(frame: pd.DataFrame, target: str, segment: pd.Series, share: float, labels: tuple, rng: np.random.Generator) -> pd.DataFrame:
    """Flip the label of a ``share`` of the segment's rows: the target relation changes there."""
    positive, negative = labels
    mask = segment.to_numpy() & (rng.random(len(frame)) < share)
    y = frame[target]
    frame[target] = y.where(~mask, np.where(y == positive, negative, positive))
    return frame


def _relabel(frame: pd.DataFrame, target: str, segment: pd.Series, share: float, n_classes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Multiclass concept drift: a ``share`` of the segment's rows get the next class (k -> k+1 mod K)."""
    mask = segment.to_numpy() & (rng.random(len(frame)) < share)
    y = frame[target].to_numpy(dtype=np.int64)
    frame[target] = np.where(mask, (y + 1) % n_classes, y)
    return frame


def _shift_target(frame: pd.DataFrame, target: str, segment: pd.Series, amount: float) -> pd.DataFrame:
    """Regression concept drift: the segment's target moves by ``amount`` (inputs unchanged)."""
    y = frame[target].to_numpy(dtype=np.float64)
    frame[target] = np.where(segment.to_numpy(), y + amount, y)
    return frame


def _segment(frame: pd.DataFrame, feature: str, stats: dict[str, object]) -> pd.Series:
    """The rows a concept change hits: one category, or the rows above a numeric feature's reference median."""
    if "median" in stats:
        return pd.to_numeric(frame[feature], errors="coerce") > stats["median"]
    return frame[feature].astype("object").astype(str) == str(stats["segment"])


def apply_injection(
    frame: pd.DataFrame, injection: Injection, feature: str, step: float, stats: dict[str, object],
    target: str, labels: tuple, rng: np.random.Generator,
) -> pd.DataFrame:
    """Apply one injection to one batch (``step`` in (0, 1] is the progress of a gradual change)."""
    kind = injection.kind
    if kind == "gradual_shift":
        return _shift(frame, feature, injection.magnitude * stats["std"] * step)
    if kind == "sudden_shift":
        return _shift(frame, feature, injection.magnitude * stats["std"])
    if kind == "unit_change":
        frame[feature] = frame[feature].astype("float64") * injection.scale + injection.offset
        return frame
    if kind == "missing_spike":
        return _replace_share(frame, feature, injection.magnitude, None, rng)
    if kind == "category_frequency":
        return _replace_share(frame, feature, injection.magnitude, stats["rarest"], rng)
    if kind == "new_category":
        return _replace_share(frame, feature, injection.magnitude, injection.category or "New category", rng)
    segment = _segment(frame, feature, stats)
    if stats.get("task") == "regression":
        return _shift_target(frame, target, segment, injection.magnitude * stats["target_std"])
    if stats.get("task") == "multiclass":
        return _relabel(frame, target, segment, injection.magnitude, stats["n_classes"], rng)
    return _flip(frame, target, segment, injection.magnitude, labels, rng)


def feature_stats(reference: pd.DataFrame, feature: str, injection: Injection) -> dict[str, object]:
    """Reference facts an injection needs: std, rarest category, segment value (or median of a numeric segment)."""
    column = reference[feature]
    if NEEDS[injection.kind] == "numeric":
        return {"std": float(pd.to_numeric(column, errors="coerce").std()) or 1.0}
    if injection.kind == "concept_flip" and pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return {"median": float(injection.value) if injection.value is not None else float(column.median())}
    counts = column.astype("object").astype(str).value_counts()
    return {"rarest": counts.index[-1], "segment": injection.value if injection.value is not None else counts.index[0]}


def build_scenario(
    name: str, spec: ScenarioSpec, held_out: pd.DataFrame, reference: pd.DataFrame, target: str,
    ranked_features: Sequence[str], kinds: dict[str, str], *, n_batches: int, batch_size: int,
    seed: int, start: str = "2026-01-05", frequency: str = "W", labelled: bool = True,
    time_column: str | None = None, time_format: str | None = None, task: str = "binary", n_classes: int = 2,
) -> Scenario:
    """Build a named scenario's batches from held-out rows and inject its changes (seeded); ``task`` says how
    concept drift changes the target (targets encoded as training encodes them)."""
    if target not in held_out.columns:
        raise DataError(f"held-out rows: target column {target!r} not found; check dataset.target")
    labels = tuple(pd.unique(reference[target].dropna()))
    if task == "binary" and len(labels) != 2:
        raise DataError(f"target {target!r}: expected two classes in the reference, found {len(labels)}")
    target_facts = {"task": task, "n_classes": n_classes,
                    "target_std": float(reference[target].std()) if task == "regression" else float("nan")}
    frames = draw_batches(held_out, n_batches, batch_size, seed, time_column, time_format)
    rng = np.random.default_rng(seed + 1)
    used: set[str] = set()
    log = []
    for injection in spec.injections:
        try:
            feature = pick_feature(injection, ranked_features, kinds, used, reference)
        except DataError as error:
            if injection.feature is not None or task == "binary":
                raise
            log.append(_skipped(injection, n_batches, task, str(error)))
            continue
        used.add(feature)
        stats = feature_stats(reference, feature, injection) | (target_facts if injection.kind == "concept_flip" else {})
        last = min(injection.end if injection.end is not None else n_batches - 1, n_batches - 1)
        steps = np.arange(injection.start, last + 1)
        frames = _apply_over(frames, steps, lambda f, t: apply_injection(
            f, injection, feature, (t - injection.start + 1) / len(steps), stats, target, labels, rng))
        log.append({"kind": injection.kind, "feature": feature, "first_batch": int(injection.start),
                    "last_batch": int(last), "expected_rule": expected_rule(injection.kind, task),
                    "detail": _describe(injection, stats)})
    names = batch_names(n_batches, start, frequency)
    batches = [Batch(n, f.reset_index(drop=True), labelled, stamps=_stamps(f, time_column)) for n, f in zip(names, frames)]
    log_frame = pd.DataFrame(log, columns=["kind", "feature", "first_batch", "last_batch", "expected_rule", "detail"])
    log_frame["first_batch_name"] = [names[i] if i < n_batches else None for i in log_frame["first_batch"]]
    return Scenario(name, spec.description, batches, log_frame)


def _skipped(injection: Injection, n_batches: int, task: str, why: str) -> dict[str, object]:
    """The log line of an injection that found no feature of its kind (nothing was changed)."""
    return {"kind": injection.kind, "feature": None, "first_batch": int(injection.start),
            "last_batch": int(min(injection.end if injection.end is not None else n_batches - 1, n_batches - 1)),
            "expected_rule": None, "detail": f"skipped: {why.removeprefix('monitoring scenario: ')}"}


def _stamps(frame: pd.DataFrame, time_column: str | None) -> pd.Series | None:
    """The rows' times from their time column (None without one)."""
    if not time_column or time_column not in frame.columns:
        return None
    return pd.to_datetime(frame[time_column].astype("string"), errors="coerce").reset_index(drop=True)


def _apply_over(frames: list[pd.DataFrame], steps: np.ndarray, change: Callable[[pd.DataFrame, int], pd.DataFrame]) -> list[pd.DataFrame]:
    """Apply ``change`` to the batches at ``steps`` (a handful of batches, each changed vectorized)."""
    chosen = set(int(s) for s in steps)
    return [change(f, i) if i in chosen else f for i, f in enumerate(frames)]


def _describe(injection: Injection, stats: dict[str, object]) -> str:
    """One readable line about an injection."""
    kind = injection.kind
    if kind in ("gradual_shift", "sudden_shift"):
        return f"+{injection.magnitude:g} reference std ({'growing' if kind == 'gradual_shift' else 'at once'})"
    if kind == "unit_change":
        return f"x {injection.scale:g} + {injection.offset:g}"
    if kind == "missing_spike":
        return f"{injection.magnitude:.0%} of values missing"
    if kind == "category_frequency":
        return f"{injection.magnitude:.0%} of rows moved to {stats['rarest']!r}"
    if kind == "new_category":
        return f"{injection.magnitude:.0%} of rows get new category {injection.category or 'New category'!r}"
    where = f"above {stats['median']:g}" if "median" in stats else f"is {stats['segment']!r}"
    if stats.get("task") == "regression":
        return f"target + {injection.magnitude:g} reference std ({stats['target_std']:.4g}) where value {where}"
    if stats.get("task") == "multiclass":
        return f"{injection.magnitude:.0%} of rows relabelled to the next class where value {where}"
    return f"labels flipped for {injection.magnitude:.0%} of rows where value {where}"
