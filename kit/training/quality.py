"""Data quality report before training: missing values, duplicates, constant, near-constant,
id-like and high-cardinality columns, declared post-outcome columns, and a leakage screen.

The column facts come from :func:`kit.profile.profile_frame` (shared with the readiness phase);
this module adds what matters for modelling: which columns to keep as features, and which
single feature predicts the target suspiciously well (a leak: information that would not
exist at prediction time, such as a failure code recorded after the failure).

The leakage screen has two rules. Absolute: a feature whose single-feature AUC reaches
``training.leakage_auc`` is dropped (or kept with a warning). Relative: a feature far ahead of
all others (its AUC lift over 0.5 more than ``leakage_lead_ratio`` times the runner-up's) is
only a warning, because a strong honest predictor looks the same: a person must confirm that
the value is known at prediction time, or declare it in ``dataset.post_outcome_columns``.

The single-feature score is the task's metric: ROC AUC (binary), macro F1 (multiclass) and R²
(regression: RMSE relative to the mean predictor, so one cut-off fits every target's units), each
from the feature alone (categories by level; numbers per distinct value when they have few, so a
recoding of the target separates every class, else in quantile bins sized to the rows; binary numbers
also by their raw value) learned on one random half of the training rows and scored on the other. The cut-offs per task live in
``kit/content/training.yaml`` (``quality.leakage_by_task``).

Near-constant columns (one value in more than ``near_constant_share`` of the training rows)
are dropped with a note: a tree learns from the few other rows a rule it cannot trust, and
the data contract, inferred on training rows, sees the rare values of new rows as new levels
or out-of-range numbers, so the contract gate fails on data that did not change.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.profile import DataProfile, profile_frame
from kit.schema import DatasetSpec
from kit.training.metrics import multiclass_matrix, regression_matrix, roc_auc_rows


@dataclass
class QualityReport:
    """What the data looks like and which columns are excluded from the features, and why."""

    rows: int
    duplicate_rows: int
    missing: pd.DataFrame
    constant: list[str]
    id_like: list[str]
    high_cardinality: dict[str, int]
    leakage: pd.DataFrame
    excluded: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    near_constant: dict[str, float] = field(default_factory=dict)
    post_outcome: list[str] = field(default_factory=list)
    suspected_leaks: list[str] = field(default_factory=list)
    leakage_auc: float = 0.98
    task: str = "binary"

    def table(self) -> pd.DataFrame:
        """Short summary table for the notebook."""
        leaky = self.leakage.loc[self.leakage["flagged"], "feature"].tolist()
        facts = {
            "rows": self.rows,
            "duplicate rows": self.duplicate_rows,
            "columns with missing values": int((self.missing["missing_share"] > 0).sum()),
            "constant columns": ", ".join(self.constant) or "none",
            "near-constant columns": ", ".join(f"{c} ({v:.1%} one value)" for c, v in self.near_constant.items()) or "none",
            "post-outcome columns (declared)": ", ".join(self.post_outcome) or "none",
            "id-like columns": ", ".join(self.id_like) or "none",
            "high-cardinality categoricals": ", ".join(self.high_cardinality) or "none",
            f"leaks (single-feature {LEAK_METRIC_LABEL[self.task]} >= {self.leakage_auc:g})": ", ".join(leaky) or "none",
            "suspected leaks (far ahead of the rest)": ", ".join(self.suspected_leaks) or "none",
            "excluded from features": ", ".join(self.excluded) or "none",
        }
        return pd.DataFrame({"finding": list(facts.values())}, index=pd.Index(list(facts), name="check"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the artifact."""
        return {
            "rows": self.rows,
            "duplicate_rows": self.duplicate_rows,
            "missing_share": self.missing.set_index("column")["missing_share"].to_dict(),
            "constant_columns": self.constant,
            "near_constant_columns": self.near_constant,
            "post_outcome_columns": self.post_outcome,
            "suspected_leaks": self.suspected_leaks,
            "leakage_auc": self.leakage_auc,
            "id_like_columns": self.id_like,
            "high_cardinality": self.high_cardinality,
            "leakage": self.leakage.to_dict(orient="records"),
            "excluded": self.excluded,
            "notes": self.notes,
        }


LEAK_COLUMN = {"binary": "single_feature_auc", "multiclass": "single_feature_macro_f1", "regression": "single_feature_r2"}
LEAK_METRIC_LABEL = {"binary": "AUC", "multiclass": "macro F1", "regression": "R²"}


def single_feature_scores(frame: pd.DataFrame, y: np.ndarray, seed: int = 0, task: str = "binary") -> pd.Series:
    """Each column alone scored with the task's metric: AUC (binary), macro F1 (multiclass), R² (regression)."""
    fit = np.random.default_rng(seed).random(len(y)) < 0.5
    rules = content.load("training")["quality"]
    codes = {c: _level_codes(frame[c], fit, rules) for c in frame.columns}  # a loop over columns
    if task == "binary":
        by_level = pd.Series({c: _level_auc(v, y, fit) for c, v in codes.items()}, dtype="float64")
        return np.maximum(single_feature_auc(frame, y, seed), by_level.reindex(frame.columns))
    if task == "regression":
        out = {c: _level_r2(v, y, fit) for c, v in codes.items()}
        return pd.Series(out, dtype="float64").reindex(frame.columns)
    both = {c: _level_f1(v, y, fit) for c, v in codes.items()}
    scores = pd.Series({c: v[0] for c, v in both.items()}, dtype="float64").reindex(frame.columns)
    scores.attrs["pinned"] = {c: v[1] for c, v in both.items()}
    return scores


def _level_codes(values: pd.Series, fit: np.ndarray, rules: dict[str, Any]) -> np.ndarray:
    """Non-negative level codes of a column (0 missing, 1 a value unseen in the fit rows): category levels, each
    distinct number when the fit rows hold at most ``leakage_exact_levels`` of them (a recoding of the target is
    then separated exactly), else quantile bins of the fit rows with about ``leakage_rows_per_bin`` rows each."""
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        return values.astype("category").cat.codes.to_numpy().astype(np.int64) + 1
    v = values.to_numpy(dtype="float64", na_value=np.nan)
    known = np.unique(v[fit & ~np.isnan(v)])
    if len(known) <= rules["leakage_exact_levels"]:
        pos = np.minimum(np.searchsorted(known, v), max(len(known) - 1, 0))
        seen = (known[pos] == v) if len(known) else np.zeros(len(v), dtype=bool)
        return np.where(np.isnan(v), 0, np.where(seen, pos + 2, 1)).astype(np.int64)
    bins = int(np.clip(int(fit.sum()) // rules["leakage_rows_per_bin"], rules["leakage_bins"], rules["leakage_max_bins"]))
    edges = np.unique(np.quantile(v[fit & ~np.isnan(v)], np.linspace(0, 1, bins + 1)[1:-1]))
    return np.where(np.isnan(v), 0, np.searchsorted(edges, v, side="left") + 2).astype(np.int64)


def _level_auc(codes: np.ndarray, y: np.ndarray, fit: np.ndarray) -> float:
    """ROC AUC on the held-out half of each level's positive rate (learned on ``fit``), folded to >= 0.5."""
    auc = float(roc_auc_rows(y[~fit], _level_rate(codes - 1, y, fit)[~fit][None])[0])
    return max(auc, 1 - auc)


def _level_r2(codes: np.ndarray, y: np.ndarray, fit: np.ndarray) -> float:
    """R² on the held-out half of predicting each level's mean target (learned on ``fit``; unseen levels get the mean)."""
    size = int(codes.max()) + 1
    sums = np.bincount(codes[fit], weights=y[fit], minlength=size)
    counts = np.bincount(codes[fit], minlength=size)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), y[fit].mean())
    return float(regression_matrix(y[~fit], means[codes[~fit]])["r2"][0])


def _level_f1(codes: np.ndarray, y: np.ndarray, fit: np.ndarray) -> tuple[float, tuple[int, float]]:
    """Macro F1 on the held-out half of predicting each level's most frequent class (learned on ``fit``), and
    the (class, F1) of the best-identified class other than the majority: a feature that pins one class of K
    (a failure code) lifts macro F1 by only about 1/K, so that class's own F1 is screened too."""
    k = int(y.max()) + 1
    size = int(codes.max()) + 1
    counts = np.bincount(codes[fit] * k + y[fit], minlength=size * k).reshape(size, k)
    majority = int(np.bincount(y[fit], minlength=k).argmax())
    predicted = np.where(counts.sum(1) > 0, counts.argmax(1), majority)[codes[~fit]]
    held = y[~fit]
    hits = np.bincount(held, weights=(held == predicted).astype("float64"), minlength=k)
    per_class = 2 * hits / np.maximum(np.bincount(held, minlength=k) + np.bincount(predicted, minlength=k), 1)
    per_class[majority] = -1.0
    best = int(per_class.argmax())
    macro = float(multiclass_matrix(held[None], np.eye(k)[predicted][None])["macro_f1"][0])
    return macro, (best, float(per_class[best]))


def no_information_score(y: np.ndarray, task: str) -> float:
    """The single-feature score of a feature that carries nothing: AUC 0.5, R² 0, or the majority class's macro F1."""
    if task == "binary":
        return 0.5
    if task == "regression":
        return 0.0
    k = int(y.max()) + 1
    majority = np.full(len(y), np.bincount(y, minlength=k).argmax())
    return float(multiclass_matrix(y[None], np.eye(k)[majority][None])["macro_f1"][0])


def single_feature_auc(frame: pd.DataFrame, y: np.ndarray, seed: int = 0) -> pd.Series:
    """How well each column alone separates the target: ROC AUC folded to >= 0.5.

    Numeric columns are scored by their value (missing = lowest); categorical columns by the
    target rate of their level, learned on one random half and scored on the other.
    """
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    other = [c for c in frame.columns if c not in numeric]
    out = {}
    if numeric:
        values = frame[numeric].to_numpy(dtype="float64", na_value=np.nan)
        low = np.nanmin(np.where(np.isnan(values), np.inf, values), axis=0) - 1
        values = np.where(np.isnan(values), low, values)
        out.update(zip(numeric, roc_auc_rows(y, values.T), strict=True))
    if other:
        rng = np.random.default_rng(seed)
        half = rng.random(len(y)) < 0.5
        codes = frame[other].astype("category").apply(lambda s: s.cat.codes)
        scores = np.column_stack([_level_rate(codes[c].to_numpy(), y, half) for c in other])
        out.update(zip(other, roc_auc_rows(y[~half], scores[~half].T), strict=True))
    auc = pd.Series(out, dtype="float64").reindex(frame.columns)
    return np.maximum(auc, 1 - auc)


def _level_rate(codes: np.ndarray, y: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Target rate per level (learned on rows ``fit``) mapped to every row; unseen -> overall rate."""
    shifted = codes + 1  # -1 (missing) becomes its own level 0
    size = int(shifted.max()) + 1
    hits = np.bincount(shifted[fit], weights=y[fit], minlength=size)
    counts = np.bincount(shifted[fit], minlength=size)
    prior = y[fit].mean()
    rate = np.where(counts > 0, hits / np.maximum(counts, 1), prior)
    return rate[shifted]


def near_constant_shares(frame: pd.DataFrame, limit: float) -> dict[str, float]:
    """Columns whose most frequent value (missing counts as a value) fills more than ``limit`` of the rows."""
    if frame.empty:
        return {}
    shares = frame.apply(lambda s: s.value_counts(dropna=False, normalize=True, sort=True).iloc[0])
    return shares_above(shares, limit)


def shares_above(shares: pd.Series, limit: float) -> dict[str, float]:
    """The columns whose top-value share is above ``limit``, largest first."""
    return {str(c): float(v) for c, v in shares[shares > limit].sort_values(ascending=False).items()}


def suspected_leaks(auc: pd.Series, lead_ratio: float, min_auc: float, floor: float = 0.5) -> list[str]:
    """The feature far ahead of all others: score lift over ``floor`` (no information) more than ``lead_ratio`` times the runner-up's."""
    lift = (auc.dropna() - floor).sort_values(ascending=False)
    if len(lift) < 2 or lift.iloc[0] + floor < min_auc:
        return []
    return [str(lift.index[0])] if lift.iloc[0] > lead_ratio * max(lift.iloc[1], 0.0) else []


def quality_report(
    frame: pd.DataFrame, spec: DatasetSpec, features: list[str], y: np.ndarray, drop_leaky: bool = True, seed: int = 0,
    rows: np.ndarray | None = None, leakage_auc: float | None = None, task: str = "binary",
    classes: list[Any] | None = None,
) -> QualityReport:
    """Profile the data and decide which candidate features to exclude (post-outcome, constant, id-like, leaky).

    ``rows`` are the row positions the leakage and near-constant screens may see (the training
    rows, so that test labels take no part in choosing features); all rows when None.
    ``leakage_auc`` is the absolute leak cut-off of the binary task (``training.leakage_auc``; content
    default); the other tasks take theirs from ``quality.leakage_by_task``.
    """
    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    source = QualitySource(
        dtypes=frame.dtypes, profile=lambda ids: profile_frame(frame, id_columns=ids),
        near_constant=lambda cols, limit: near_constant_shares(frame.iloc[rows][cols], limit),
        take=lambda positions, cols: frame.iloc[positions][cols])
    return screen_quality(source, spec, features, y, drop_leaky, seed, rows, leakage_auc, task, classes)


@dataclass(frozen=True)
class QualitySource:
    """What the quality report reads from the data (in memory, or per partition on Dask): the dtypes, the profile
    (given the id columns), the near-constant shares of columns over the training rows, and rows taken by position."""

    dtypes: pd.Series
    profile: Callable[[list[str]], DataProfile]
    near_constant: Callable[[list[str], float], dict[str, float]]
    take: Callable[[np.ndarray, list[str]], pd.DataFrame]


def screen_quality(
    source: QualitySource, spec: DatasetSpec, features: list[str], y: np.ndarray, drop_leaky: bool, seed: int,
    rows: np.ndarray, leakage_auc: float | None, task: str, classes: list[Any] | None,
) -> QualityReport:
    """The quality report from what ``source`` reads (see :func:`quality_report`)."""
    rules = content.load("training")["quality"]
    if task == "binary":
        cutoff, lead_min = (rules["leakage_auc"] if leakage_auc is None else leakage_auc), rules["leakage_lead_min_auc"]
    else:
        cutoff, lead_min = rules["leakage_by_task"][task]["cutoff"], rules["leakage_by_task"][task]["lead_min"]
    column, label = LEAK_COLUMN[task], LEAK_METRIC_LABEL[task]
    profile = source.profile([c for c in spec.id_columns if c in source.dtypes.index])
    missing = pd.DataFrame({"column": list(profile.missing_share), "missing_share": list(profile.missing_share.values())})
    missing = missing.sort_values("missing_share", ascending=False, kind="stable").reset_index(drop=True)
    post_outcome = [c for c in spec.post_outcome_columns if c in source.dtypes.index]
    features = [c for c in features if c not in post_outcome]
    constant = [c for c in profile.constant_columns if c in features]
    id_like = [c for c in profile.id_like_columns if c in features]
    cats = [c for c in features if isinstance(source.dtypes[c], pd.CategoricalDtype)]
    distinct = {p.name: p.distinct for p in profile.column_profiles}
    high_card = {c: int(distinct[c]) for c in cats if distinct[c] > rules["high_cardinality_levels"]}
    near = source.near_constant([c for c in features if c not in constant + id_like], rules["near_constant_share"])
    screened = [c for c in features if c not in constant + id_like + list(near)]
    sample = rows[_sample_rows(len(rows), rules["leakage_sample_rows"], seed)]
    auc = single_feature_scores(source.take(sample, screened), y[sample], seed, task)
    floor = no_information_score(y[sample], task)
    leakage = pd.DataFrame({"feature": auc.index, column: auc.to_numpy()})
    leakage["flagged"] = leakage[column] >= cutoff
    unflagged = auc[~leakage.set_index("feature")["flagged"]]  # a leak already caught is not a runner-up
    ahead = suspected_leaks(unflagged, rules["leakage_lead_ratio"], lead_min, floor)
    pin_cut = rules["leakage_by_task"]["multiclass"]["pinned_class_f1"]
    pinned = {c: v for c, v in auc.attrs.get("pinned", {}).items() if v[1] >= pin_cut and c in unflagged.index}
    ahead += [c for c in pinned if c not in ahead]
    leakage["suspected"] = leakage["feature"].isin(ahead)
    leakage = leakage.sort_values(column, ascending=False, kind="stable").reset_index(drop=True)
    leakage.attrs.update(cutoff=cutoff, metric=label, column=column, floor=floor)
    excluded = ({c: "known only after the outcome (dataset.post_outcome_columns)" for c in post_outcome}
                | {c: "constant" for c in constant} | {c: "id-like (almost every value unique)" for c in id_like}
                | {c: f"near-constant ({share:.1%} of training rows hold one value)" for c, share in near.items()})
    notes = [f"column {c!r} is {why}; excluded from the features" for c, why in excluded.items()]
    if near:
        notes.append(
            f"near-constant columns {list(near)} are dropped rather than kept: a rule learned from the few "
            f"other rows is unreliable, and the data contract (inferred on training rows) would see their "
            f"rare values in new rows as new levels or out-of-range numbers and fail on unchanged data"
        )
    where = "training.leakage_auc" if task == "binary" else f"the {task} cut-off"
    for feature, score in leakage.loc[leakage["flagged"], ["feature", column]].itertuples(index=False):
        msg = (f"feature {feature!r} alone {'separates' if task != 'regression' else 'predicts'} the target "
               f"({label} {score:.3f} >= {where} {cutoff:g}): a likely leak")
        if drop_leaky:
            excluded[feature] = f"suspected leak (single-feature {label} {score:.3f})"
            notes.append(msg + "; dropped (set training.drop_leaky: false to keep it)")
        else:
            notes.append(msg + "; kept because training.drop_leaky is false")
    notes += [_lead_note(c, unflagged, rules["leakage_lead_ratio"], label, floor) for c in ahead if c not in pinned]
    notes += [_pinned_note(c, (classes or [])[j] if classes else j, f1) for c, (j, f1) in pinned.items()]
    high_missing = missing.loc[missing["missing_share"] >= rules["high_missing_share"], "column"].tolist()
    notes += [f"column {c!r} is at least {rules['high_missing_share']:.0%} empty" for c in high_missing]
    return QualityReport(
        rows=profile.rows, duplicate_rows=profile.duplicate_rows_ignoring_ids, missing=missing,
        constant=constant, id_like=id_like, high_cardinality=high_card, leakage=leakage,
        excluded=excluded, notes=notes, near_constant=near, post_outcome=post_outcome,
        suspected_leaks=ahead, leakage_auc=cutoff, task=task,
    )


def _lead_note(column: str, auc: pd.Series, ratio: float, label: str = "AUC", floor: float = 0.5) -> str:
    """The warning for a feature far ahead of the others (kept, for a person to confirm)."""
    runner_up = auc.drop(column).max()
    return (
        f"suspected leak: confirm it is known at prediction time. Feature {column!r} alone reaches {label} "
        f"{auc[column]:.3f}, far ahead of the next best ({runner_up:.3f}; lift over {floor:.3g} more than {ratio:g}x). "
        f"Values recorded after the outcome (a call's duration, a failure code) inflate every metric; if so, "
        f"list it in dataset.post_outcome_columns. It is kept as a feature"
    )


def _pinned_note(column: str, label: Any, f1: float) -> str:
    """The warning for a feature that alone identifies one class (kept, for a person to confirm)."""
    return (
        f"suspected leak: confirm it is known at prediction time. Feature {column!r} alone identifies class "
        f"{label!r} (its F1 {f1:.3f}); a code or flag recorded with the outcome (e.g. the flag a target was derived "
        f"from) does this. If so, list it in dataset.post_outcome_columns or dataset.drop_columns. It is kept as a feature"
    )


def _sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """All row positions, or a seeded sorted sample of ``limit`` of them."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


# ---- a combination of features that encodes the target (seen through a near-perfect baseline) ----------
def linear_contributors(pipeline: Any, top: int = 3) -> list[tuple[str, float]]:
    """The input columns with the largest share of the linear baseline's |coefficients| (on scaled inputs; a
    category's one-hot levels summed), largest first: what a near-perfect linear model is made of."""
    prep, estimator = pipeline[0], pipeline[-1]
    sources: list[str] = []
    for name, transformer, columns in prep.transformers_:  # two blocks: scaled numbers, one-hot categories
        if name == "num":
            sources += list(columns)
        elif name == "cat" and hasattr(transformer, "categories_"):
            sources += [c for c, levels in zip(columns, transformer.categories_, strict=True) for _ in levels]
    weight = pd.Series(np.abs(np.atleast_2d(estimator.coef_)).sum(axis=0), index=sources).groupby(level=0).sum()
    share = (weight / weight.sum()).sort_values(ascending=False, kind="stable") if weight.sum() > 0 else weight
    return [(str(c), float(v)) for c, v in share.head(top).items()]


def near_perfect_baseline(leaderboard: pd.DataFrame, task: str, candidates: list[Any]) -> str | None:
    """A note when the linear baseline is near-perfect on the test rows (cut-off: quality.near_perfect_baseline):
    no single feature may reveal it, but a combination of features likely encodes the target (cnt = casual +
    registered). Names the baseline's top contributors; None otherwise."""
    rule = content.load("training")["quality"]["near_perfect_baseline"][task]
    rows = leaderboard.set_index("candidate")
    linear = [c for c in candidates if c.kind == "baseline" and "linear" in c.extra]
    if not linear or rule["metric"] not in rows.columns:
        return None
    base = linear[0]
    value = float(rows.loc[base.name, rule["metric"]])
    if not value >= rule["min"]:
        return None
    parts = ", ".join(f"{c} ({share:.0%})" for c, share in linear_contributors(base.extra["linear"]))
    return (f"the {base.name} baseline alone reaches test {rule['metric']} {value:.5f} (>= {rule['min']:g}): a combination "
            f"of features likely encodes the target (e.g. parts that sum to it, recorded with the outcome). Largest linear "
            f"contributors: {parts}. If any is known only after the outcome, list it in dataset.post_outcome_columns "
            f"and re-run; a model cannot honestly beat a baseline that already knows the answer")
