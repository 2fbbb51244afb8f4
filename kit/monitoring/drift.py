"""Drift of a batch against a reference: PSI, KS, Wasserstein and chi-square, from one sort per column.

Conventions (stated once, used everywhere):

* Numeric bins are fixed on the reference: interior edges are reference quantiles
  (inverted-CDF, ``k / bins`` for ``k = 1 .. bins-1``, duplicates dropped), bins are
  right-closed ``(e[k-1], e[k]]`` with open ends, and missing values are one extra bin.
* Categorical bins are the reference categories, one ``<unseen>`` bin for categories the
  reference never had, and one ``<missing>`` bin.
* Epsilon rule: before the logarithm in PSI every proportion is raised to at least
  ``epsilon`` (default 1e-4), on both sides, so an empty bin costs a finite amount.
* KS and Wasserstein come from the two sorted samples (reference sorted once when
  profiled, the batch sorted once) and one linear merge of them (see ``ks_wasserstein``): KS equals
  ``scipy.stats.ks_2samp``'s statistic, its p-value is Smirnov's asymptotic one (scipy's
  ``method="asymp"``; its large-sample limit above 10,000 effective rows), and Wasserstein equals ``scipy.stats.wasserstein_distance``.
* Chi-square is the test of homogeneity on the 2 x bins table (reference vs batch
  counts, bins empty on both sides dropped, no continuity correction).
* Columns are independent, so they are processed on a small thread pool (``workers``; numpy
  releases the GIL while sorting and searching). ``workers=1`` runs them one after the other.
  Each thread sorts and merges batch columns in its own reused ``scratch`` arrays; only the
  reference profile keeps arrays.
* Multiple testing: p-values are adjusted across the features of one batch with
  Benjamini-Hochberg (false discovery rate). On large batches every test flags tiny
  shifts, so alerts use the effect sizes (PSI) and p-values stay secondary.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from kit.errors import DataError

UNSEEN = "<unseen>"
MISSING = "<missing>"

_scratch = threading.local()  # per-thread work arrays, reused from column to column


def scratch(name: str, size: int) -> np.ndarray:
    """A float64 work array of ``size`` elements reused by this thread (fresh big arrays cost page faults)."""
    buffer = getattr(_scratch, name, None)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype=np.float64)
        setattr(_scratch, name, buffer)
    return buffer[:size]


class CountedColumn:
    """A reference column summarized as counts per bin or category, missing values last."""

    counts: np.ndarray
    n_total: int

    @property
    def missing_share(self) -> float:
        """Share of missing values in the reference (a sum of counts: exact, merged over partitions too)."""
        return float(self.counts[-1] / self.n_total) if self.n_total else 0.0


@dataclass(frozen=True)
class NumericProfile(CountedColumn):
    """A numeric reference column: sorted values, bin edges and bin proportions."""

    name: str
    sorted_values: np.ndarray = field(repr=False)
    edges: np.ndarray
    counts: np.ndarray
    n_total: int
    mean: float
    std: float
    minimum: float
    maximum: float

    kind = "numeric"


@dataclass(frozen=True)
class CategoricalProfile(CountedColumn):
    """A categorical reference column: its categories and their counts."""

    name: str
    categories: pd.Index
    counts: np.ndarray
    n_total: int

    kind = "categorical"


Profile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class ReferenceProfile:
    """Every monitored column of the reference, profiled once."""

    features: dict[str, Profile]
    n_rows: int
    bins: int
    epsilon: float

    def kinds(self) -> dict[str, str]:
        """Feature name -> 'numeric' or 'categorical'."""
        return {name: p.kind for name, p in self.features.items()}


def is_numeric(series: pd.Series) -> bool:
    """True for numeric, non-boolean columns (the ones binned on quantiles)."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def quantile_edges(sorted_values: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges: inverted-CDF reference quantiles at k/bins, duplicates dropped."""
    n = sorted_values.size
    if n == 0:
        return np.empty(0)
    idx = np.ceil(np.arange(1, bins) * n / bins).astype(np.int64) - 1
    return np.unique(sorted_values[np.clip(idx, 0, n - 1)])


def binned_counts(sorted_values: np.ndarray, edges: np.ndarray, n_missing: int) -> np.ndarray:
    """Counts per right-closed bin of sorted values, plus the missing bin last."""
    cumulative = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], cumulative, [sorted_values.size])))
    return np.append(counts, n_missing)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index of two count vectors over the same bins (epsilon rule applied)."""
    ref_counts = np.asarray(ref_counts, dtype=float)
    cur_counts = np.asarray(cur_counts, dtype=float)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return float("nan")
    p = np.maximum(ref_counts / ref_counts.sum(), epsilon)
    q = np.maximum(cur_counts / cur_counts.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float, int]:
    """Chi-square test of homogeneity on the 2 x bins table: (statistic, p-value, dof)."""
    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0, 0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return statistic, float(stats.chi2.sf(statistic, dof)), dof


def ks_wasserstein(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two sorted samples, from one linear merge.

    A stable ``argsort`` of the two concatenated sorted arrays is timsort's merge of two runs
    (linear time). Walking the merged values, the running count of reference values gives both
    ECDFs; their gap, read at the last element of every run of equal values, is the KS statistic
    (ties handled exactly as ``scipy.stats.ks_2samp``), and its absolute value times the step to
    the next value, summed, is the area between the ECDFs, which is ``scipy.stats.wasserstein_distance``.
    Sums avoid ``np.dot``, whose BLAS threads stall a busy machine; the work arrays are the
    thread's ``scratch`` buffers, as fresh 8 MB arrays per column cost more in page faults than
    the arithmetic.
    """
    n, m = ref_sorted.size, cur_sorted.size
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    merged = scratch("merged", n + m)
    merged[:n], merged[n:] = ref_sorted, cur_sorted
    order = np.argsort(merged, kind="stable")
    values = np.take(merged, order, out=scratch("merged_values", n + m), mode="clip")  # clip: unbuffered
    # n m (F_ref - F_cur) after the first k merged values, in exact integers: every reference
    # value adds m, every batch value takes n away (computed in place of ``order``)
    gap = np.multiply(order < n, n + m, out=order)
    gap -= n
    np.abs(np.cumsum(gap, out=gap), out=gap)
    widths = np.subtract(values[1:], values[:-1], out=merged[:-1])
    run_end = widths != 0  # the gap counts only after the last of equal values
    if run_end.all():
        ks = int(gap.max())
    else:
        ks = max(int(gap[:-1][run_end].max()) if run_end.any() else 0, int(gap[-1]))
    np.multiply(gap[:-1], widths, out=widths)
    return ks / (n * m), float(widths.sum()) / (n * m)


def ks_pvalue(statistic: float, n: int, m: int, exact_limit: int = 10_000) -> float:
    """Two-sided KS p-value, Smirnov's asymptotic distribution (scipy's method='asymp').

    ``kstwo`` with the effective size n m / (n + m) as scipy does, up to ``exact_limit``; above
    it (where ``kstwo`` can take a quarter second per call) its large-sample limit, the
    Kolmogorov distribution of sqrt(n m / (n + m)) D, which differs by O(1/sqrt(size)).
    """
    if n == 0 or m == 0 or np.isnan(statistic):
        return float("nan")
    big, small = max(n, m), min(n, m)
    size = np.round(big * small / (big + small))
    if size < 1:  # one row against one: scipy's answer is NaN too, after a divide-by-zero warning
        return float("nan")
    if size > exact_limit:
        return float(stats.kstwobign.sf(statistic * np.sqrt(big * small / (big + small))))
    return float(stats.kstwo.sf(statistic, size))


def profile_numeric(name: str, values: np.ndarray, bins: int) -> NumericProfile:
    """Profile one numeric reference column (the one sort of its values happens here)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    ordered = np.sort(values[~missing] if missing.any() else values)
    edges = quantile_edges(ordered, bins)
    has = ordered.size > 0
    return NumericProfile(
        name=name,
        sorted_values=ordered,
        edges=edges,
        counts=binned_counts(ordered, edges, int(missing.sum())),
        n_total=values.size,
        mean=float(ordered.mean()) if has else float("nan"),
        std=float(ordered.std()) if has else float("nan"),
        minimum=float(ordered[0]) if has else float("nan"),
        maximum=float(ordered[-1]) if has else float("nan"),
    )


def profile_categorical(name: str, series: pd.Series) -> CategoricalProfile:
    """Profile one categorical reference column: category counts, unseen bin (0) and missing bin."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    n_missing = int(series.isna().sum())
    return CategoricalProfile(
        name=name,
        categories=pd.Index(counts.index.astype(str)),
        counts=np.append(counts.to_numpy(dtype=np.int64), [0, n_missing]),
        n_total=len(series),
    )


def pool_map(fn, items: list, workers: int = 0) -> list:
    """``[fn(x) for x in items]`` on up to ``workers`` threads (0: one per CPU, at most 8)."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _profile_column(frame: pd.DataFrame, name: str, bins: int) -> Profile:
    """Profile one reference column by its kind."""
    if is_numeric(frame[name]):
        return profile_numeric(name, frame[name].to_numpy(dtype=np.float64, na_value=np.nan), bins)
    return profile_categorical(name, frame[name])


def profile_reference(
    frame: pd.DataFrame,
    features: list[str],
    bins: int = 10,
    epsilon: float = 1e-4,
    min_rows_per_bin: int = 5,
    workers: int = 0,
) -> ReferenceProfile:
    """Profile the reference columns once; too few rows for the bins is a DataError."""
    needed = bins * min_rows_per_bin
    if len(frame) < needed:
        raise DataError(
            f"reference data: {len(frame)} rows is too few for {bins} bins "
            f"(need at least {needed} = bins x min_rows_per_bin); lower monitoring.drift.bins "
            f"or use a larger reference (training) set"
        )
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataError(f"reference data: column(s) {missing} not found; check the training features")
    profiles = dict(zip(features, pool_map(lambda name: _profile_column(frame, name, bins), features, workers)))
    return ReferenceProfile(features=profiles, n_rows=len(frame), bins=bins, epsilon=epsilon)


def numeric_drift(profile: NumericProfile, values: np.ndarray, epsilon: float = 1e-4) -> dict[str, float]:
    """Drift statistics of one numeric batch column against its reference profile."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    kept = values[~missing] if missing.any() else values
    current = scratch("current", kept.size)  # sorted in place: only statistics leave this function
    current[:] = kept
    current.sort()
    cur_counts = binned_counts(current, profile.edges, int(missing.sum()))
    ks, wasserstein = ks_wasserstein(profile.sorted_values, current)
    scale = profile.std if profile.std and profile.std > 0 else float("nan")
    outside = int(current.size - np.searchsorted(current, profile.maximum, side="right")
                  + np.searchsorted(current, profile.minimum, side="left")) if current.size else 0
    return {
        "psi": psi(profile.counts, cur_counts, epsilon),
        "test": "ks",
        "statistic": ks,
        "p_value": ks_pvalue(ks, profile.sorted_values.size, current.size),
        "wasserstein": wasserstein,
        "wasserstein_std": wasserstein / scale,
        "missing_share": float(missing.mean()) if values.size else float("nan"),
        "out_of_range_share": outside / values.size if values.size else float("nan"),
        "unseen_share": float("nan"),
        "n": int(values.size),
    }


def categorical_counts(profile: CategoricalProfile, series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Batch counts over the reference bins (categories, unseen, missing) and the unseen names."""
    counts = series.value_counts(dropna=True, sort=True)
    counts = counts[counts > 0]
    counts.index = counts.index.astype(str)
    seen = counts.index.isin(profile.categories)
    aligned = counts[seen].reindex(profile.categories, fill_value=0).to_numpy(dtype=np.int64)
    unseen = counts[~seen]
    n_missing = int(series.isna().sum())
    return np.append(aligned, [int(unseen.sum()), n_missing]), list(unseen.index[:5])


def categorical_drift(profile: CategoricalProfile, series: pd.Series, epsilon: float = 1e-4) -> dict[str, object]:
    """Drift statistics of one categorical batch column: PSI and chi-square, unseen categories included."""
    cur_counts, unseen_names = categorical_counts(profile, series)
    statistic, p_value, _ = chi_square(profile.counts, cur_counts)
    n = int(cur_counts.sum())
    return {
        "psi": psi(profile.counts, cur_counts, epsilon),
        "test": "chi2",
        "statistic": statistic,
        "p_value": p_value,
        "wasserstein": float("nan"),
        "wasserstein_std": float("nan"),
        "missing_share": cur_counts[-1] / n if n else float("nan"),
        "out_of_range_share": float("nan"),
        "unseen_share": cur_counts[-2] / n if n else float("nan"),
        "unseen": unseen_names,
        "n": n,
    }


def adjust_pvalues(p_values: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (q-values) across the features of one batch."""
    q = pd.Series(np.nan, index=p_values.index, dtype=float)
    valid = p_values.notna()
    if valid.any():
        q[valid] = stats.false_discovery_control(p_values[valid].to_numpy(dtype=float), method="bh")
    return q


def _column_drift(reference: ReferenceProfile, batch: pd.DataFrame, name: str) -> dict[str, object]:
    """Drift statistics of one batch column by its reference kind."""
    profile = reference.features[name]
    if profile.kind == "numeric":
        return numeric_drift(profile, batch[name].to_numpy(dtype=np.float64, na_value=np.nan), reference.epsilon)
    return categorical_drift(profile, batch[name], reference.epsilon)


def drift_table(
    reference: ReferenceProfile, batch: pd.DataFrame, features: list[str] | None = None, alpha: float = 0.05,
    workers: int = 0,
) -> pd.DataFrame:
    """One row per feature: PSI, test statistic, p-value, BH q-value, Wasserstein, shares."""
    names = [f for f in (features or list(reference.features)) if f in batch.columns]
    rows = dict(zip(names, pool_map(lambda name: _column_drift(reference, batch, name), names, workers)))
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.empty:
        return table
    table.index.name = "feature"
    table.insert(0, "kind", [reference.features[n].kind for n in table.index])
    table["q_value"] = adjust_pvalues(table["p_value"].astype(float))
    table["significant"] = table["q_value"] < alpha
    return table


def score_drift(reference_scores: np.ndarray, scores: np.ndarray, bins: int = 10, epsilon: float = 1e-4) -> dict[str, float]:
    """Prediction drift: the batch's score distribution against the reference scores."""
    profile = profile_numeric("score", reference_scores, bins)
    out = numeric_drift(profile, scores, epsilon)
    out["mean_score"] = float(np.nanmean(scores)) if len(scores) else float("nan")
    out["reference_mean_score"] = profile.mean
    return out


def class_mix_drift(reference_classes: np.ndarray, classes: np.ndarray, n_classes: int, epsilon: float = 1e-4) -> dict[str, object]:
    """Prediction drift of a multiclass model: the batch's predicted class mix against the reference's
    (PSI and chi-square test of homogeneity over the K classes, and each class's share on both sides)."""
    ref_counts = np.bincount(np.asarray(reference_classes, dtype=np.int64), minlength=n_classes)
    cur_counts = np.bincount(np.asarray(classes, dtype=np.int64), minlength=n_classes)
    statistic, p_value, dof = chi_square(ref_counts, cur_counts)
    n = int(cur_counts.sum())
    return {
        "psi": psi(ref_counts, cur_counts, epsilon), "test": "chi2", "statistic": statistic, "p_value": p_value,
        "dof": dof, "n": n,
        "shares": (cur_counts / n).tolist() if n else [float("nan")] * n_classes,
        "reference_shares": (ref_counts / ref_counts.sum()).tolist(),
    }
