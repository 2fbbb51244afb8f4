"""Data quality report before training: missing values, duplicates, constant, id-like and
high-cardinality columns, and a leakage screen.

The column facts come from :func:`kit.profile.profile_frame` (shared with the readiness phase);
this module adds what matters for modelling: which columns to keep as features, and which
single feature predicts the target suspiciously well (a leak: information that would not
exist at prediction time, such as a failure code recorded after the failure).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kit import content
from kit.profile import profile_frame
from kit.schema import DatasetSpec
from kit.training.metrics import roc_auc_rows


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

    def table(self) -> pd.DataFrame:
        """Short summary table for the notebook."""
        leaky = self.leakage.loc[self.leakage["flagged"], "feature"].tolist()
        facts = {
            "rows": self.rows,
            "duplicate rows": self.duplicate_rows,
            "columns with missing values": int((self.missing["missing_share"] > 0).sum()),
            "constant columns": ", ".join(self.constant) or "none",
            "id-like columns": ", ".join(self.id_like) or "none",
            "high-cardinality categoricals": ", ".join(self.high_cardinality) or "none",
            "suspected leaks": ", ".join(leaky) or "none",
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
            "id_like_columns": self.id_like,
            "high_cardinality": self.high_cardinality,
            "leakage": self.leakage.to_dict(orient="records"),
            "excluded": self.excluded,
            "notes": self.notes,
        }


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


def quality_report(
    frame: pd.DataFrame, spec: DatasetSpec, features: list[str], y: np.ndarray, drop_leaky: bool = True, seed: int = 0,
    rows: np.ndarray | None = None,
) -> QualityReport:
    """Profile the data and decide which candidate features to exclude (constant, id-like, leaky).

    ``rows`` are the row positions the leakage screen may see (the training rows, so that test
    labels take no part in choosing features); all rows when None.
    """
    rules = content.load("training")["quality"]
    profile = profile_frame(frame, id_columns=[c for c in spec.id_columns if c in frame.columns])
    missing = pd.DataFrame({"column": list(profile.missing_share), "missing_share": list(profile.missing_share.values())})
    missing = missing.sort_values("missing_share", ascending=False, kind="stable").reset_index(drop=True)
    constant = [c for c in profile.constant_columns if c in features]
    id_like = [c for c in profile.id_like_columns if c in features]
    cats = [c for c in features if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    levels = frame[cats].nunique() if cats else pd.Series(dtype="int64")
    high_card = {c: int(n) for c, n in levels[levels > rules["high_cardinality_levels"]].items()}
    screened = [c for c in features if c not in constant + id_like]
    rows = np.arange(len(y)) if rows is None else np.asarray(rows)
    sample = rows[_sample_rows(len(rows), rules["leakage_sample_rows"], seed)]
    auc = single_feature_auc(frame.iloc[sample][screened], y[sample], seed)
    leakage = pd.DataFrame({"feature": auc.index, "single_feature_auc": auc.to_numpy()})
    leakage["flagged"] = leakage["single_feature_auc"] >= rules["leakage_auc"]
    leakage = leakage.sort_values("single_feature_auc", ascending=False, kind="stable").reset_index(drop=True)
    excluded = {c: "constant" for c in constant} | {c: "id-like (almost every value unique)" for c in id_like}
    notes = [f"column {c!r} is {why}; excluded from the features" for c, why in excluded.items()]
    for row in leakage[leakage["flagged"]].itertuples():
        msg = f"feature {row.feature!r} alone separates the target (AUC {row.single_feature_auc:.3f}): a likely leak"
        if drop_leaky:
            excluded[row.feature] = f"suspected leak (single-feature AUC {row.single_feature_auc:.3f})"
            notes.append(msg + "; dropped (set training.drop_leaky: false to keep it)")
        else:
            notes.append(msg + "; kept because training.drop_leaky is false")
    high_missing = missing.loc[missing["missing_share"] >= rules["high_missing_share"], "column"].tolist()
    notes += [f"column {c!r} is at least {rules['high_missing_share']:.0%} empty" for c in high_missing]
    return QualityReport(
        rows=profile.rows, duplicate_rows=profile.duplicate_rows_ignoring_ids, missing=missing,
        constant=constant, id_like=id_like, high_cardinality=high_card, leakage=leakage,
        excluded=excluded, notes=notes,
    )


def _sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """All row positions, or a seeded sorted sample of ``limit`` of them."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
