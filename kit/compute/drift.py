"""Reference profile and batch drift on Dask: summaries per partition, merged on the client.

What merges exactly, and how (the local figures of ``kit.monitoring.drift``, to the last bit for counts):

* Counts (rows, missing, categories, unseen, values outside the reference range) are sums.
* PSI and chi-square need the reference's quantile bin edges. They are exact order statistics, found in two
  passes: a fine histogram (``GRID`` bins on edges merged from every partition's own quantiles) locates the
  fine bin that holds each wanted rank, and only the values of those few fine bins come back to be sorted.
  With exact edges the reference and batch bin counts are sums, so PSI and chi-square equal the local ones.
* Mean and standard deviation merge with Chan's parallel formula (equal up to floating-point rounding).

KS and Wasserstein are NOT exact at scale: they come from the fine histogram, a mergeable sketch with a
stated, data-dependent error bound (no distributed sort). The two ECDFs are known exactly at every fine edge,
and inside a fine bin each moves by at most that bin's share of its sample. So:

* ``statistic`` (KS) is the largest ECDF gap at the fine edges, a lower bound; the exact KS lies in
  ``[statistic, statistic + ks_bound]``, where ``ks_bound`` <= the largest share of either sample in one fine
  bin (about 1 / GRID for the reference, whose fine bins are its quantiles).
* ``wasserstein`` is the midpoint of an interval that holds the exact value, ``wasserstein_bound`` its half
  width. A fine bin where the ECDF gap cannot change sign adds its exact area (from per-bin sums of the
  values); only bins where the ECDFs may cross add uncertainty.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kit.compute.faults import guarded
from kit.errors import DataError
from kit.monitoring.drift import CountedColumn, adjust_pvalues, chi_square, is_numeric, ks_pvalue, psi

GRID = 2048  # fine bins of the sketch: the KS bound is about 1 / GRID when the batch resembles the reference


@dataclass(frozen=True)
class NumericSketch(CountedColumn):
    """A numeric reference column at scale: exact coarse bins, and the fine histogram for KS and Wasserstein."""

    name: str
    edges: np.ndarray          # exact interior quantile edges (as kit.monitoring.drift.quantile_edges)
    counts: np.ndarray         # reference counts per coarse bin, missing last
    fine_edges: np.ndarray     # fine bins: (-inf, f0], (f0, f1], ..., (f_last, inf)
    fine_counts: np.ndarray
    fine_sums: np.ndarray
    fine_on_edge: np.ndarray
    n_total: int
    mean: float
    std: float
    minimum: float
    maximum: float

    kind = "numeric"


@dataclass(frozen=True)
class CategoricalSketch(CountedColumn):
    """A categorical reference column at scale: category counts (merged exactly)."""

    name: str
    categories: pd.Index
    counts: np.ndarray  # per category, then unseen (0) and missing
    n_total: int

    kind = "categorical"


@dataclass(frozen=True)
class ScaledReference:
    """Every monitored reference column, summarized over the partitions."""

    features: dict[str, NumericSketch | CategoricalSketch]
    n_rows: int
    bins: int
    epsilon: float

    def kinds(self) -> dict[str, str]:
        """Feature name -> 'numeric' or 'categorical' (as ``ReferenceProfile.kinds``)."""
        return {name: p.kind for name, p in self.features.items()}


# ---------------------------------------------------------------- per-partition summaries (run on the workers)

def _floats(part: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing (as the local engine reads it)."""
    return part[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _grid_summary(part: pd.DataFrame, names: list[str], levels: int) -> dict[str, tuple]:
    """Per numeric column: quantile points with their weight, and count / mean / M2 / min / max / missing."""
    out = {}
    for name in names:
        values = _floats(part, name)
        kept = np.sort(values[~np.isnan(values)])
        n = kept.size
        points = kept[np.unique(np.ceil(np.arange(1, levels + 1) * n / levels).astype(np.int64) - 1)] if n else kept
        mean = float(kept.mean()) if n else 0.0
        m2 = float(((kept - mean) ** 2).sum()) if n else 0.0
        out[name] = (points, n / max(points.size, 1), n, mean, m2,
                     float(kept[0]) if n else np.inf, float(kept[-1]) if n else -np.inf, int(values.size - n))
    return out


def _first_summary(part: pd.DataFrame, what: tuple[list[str], list[str], int]) -> dict[str, Any]:
    """The first pass over a partition: its rows, the numeric grids and moments, the category counts."""
    numeric, categorical, levels = what
    return {"rows": len(part), "grid": _grid_summary(part, numeric, levels),
            "categories": _category_counts(part, categorical)}


def fine_histogram(edges: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per fine bin (right-closed, open ends): count, sum of the values, and count of values on its right edge."""
    idx = np.searchsorted(edges, kept, side="left")
    size = edges.size + 1
    on_edge = idx < edges.size
    on_edge[on_edge] = kept[on_edge] == edges[idx[on_edge]]
    return (np.bincount(idx, minlength=size), np.bincount(idx, weights=kept, minlength=size),
            np.bincount(idx[on_edge], minlength=size))


def _fine_summary(part: pd.DataFrame, fine: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Per numeric column: the fine histogram of the partition's values."""
    out = {}
    for name, edges in fine.items():
        values = _floats(part, name)
        out[name] = fine_histogram(edges, values[~np.isnan(values)])
    return out


def _values_in_bins(part: pd.DataFrame, wanted: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per numeric column: the values of the wanted fine bins (the only raw values that leave a worker)."""
    out = {}
    for name, (edges, bins) in wanted.items():
        values = _floats(part, name)
        kept = values[~np.isnan(values)]
        out[name] = kept[np.isin(np.searchsorted(edges, kept, side="left"), bins)]
    return out


def _category_counts(part: pd.DataFrame, names: list[str]) -> dict[str, tuple[pd.Series, int]]:
    """Per categorical column: counts of each category (as text) and of missing values."""
    out = {}
    for name in names:
        counts = part[name].value_counts(dropna=True)
        counts.index = counts.index.astype(str)
        out[name] = (counts.groupby(level=0).sum(), int(part[name].isna().sum()))
    return out


def _batch_numeric(part: pd.DataFrame, refs: dict[str, tuple[np.ndarray, np.ndarray, float, float]]) -> dict[str, tuple]:
    """Per numeric batch column: fine counts and sums, coarse counts, missing, outside the range, min and max."""
    out = {}
    for name, (fine, edges, low, high) in refs.items():
        values = _floats(part, name)
        missing = np.isnan(values)
        kept = values[~missing]
        coarse = np.bincount(np.searchsorted(edges, kept, side="left"), minlength=edges.size + 1)
        out[name] = (fine_histogram(fine, kept), np.append(coarse, int(missing.sum())),
                     int(((kept < low) | (kept > high)).sum()),
                     float(kept.min()) if kept.size else np.inf, float(kept.max()) if kept.size else -np.inf)
    return out


# ---------------------------------------------------------------- running summaries over partitions

def _over_partitions(frame: Any, fn: Any, arg: Any, client: Any | None) -> list[Any]:
    """``fn(partition, arg)`` for every partition of a Dask DataFrame, on the cluster (or dask's own scheduler)."""
    import dask

    shared = dask.delayed(arg, traverse=False)  # one key in the graph (a model, the edges), not a copy per task
    tasks = [dask.delayed(fn)(part, shared) for part in frame.to_delayed()]
    if client is None:
        return list(dask.compute(*tasks, scheduler="sync"))
    return client.gather(client.compute(tasks))


def _merge_moments(parts: list[tuple]) -> tuple[int, float, float]:
    """Count, mean and population std of a column from per-partition (n, mean, M2): Chan's formula."""
    n, mean, m2 = 0, 0.0, 0.0
    for _, _, k, k_mean, k_m2, *_ in parts:
        if k == 0:
            continue
        delta = k_mean - mean
        total = n + k
        mean += delta * k / total
        m2 += k_m2 + delta * delta * n * k / total
        n = total
    return n, mean, float(np.sqrt(m2 / n)) if n else float("nan")


def _fine_edges(parts: list[tuple], levels: int) -> np.ndarray:
    """Fine edges: weighted quantiles of every partition's quantile points, with the extremes included."""
    points = np.concatenate([p[0] for p in parts])
    weights = np.concatenate([np.full(p[0].size, p[1]) for p in parts])
    if points.size == 0:
        return np.empty(0)
    order = np.argsort(points, kind="stable")
    cumulative = np.cumsum(weights[order])
    picks = np.searchsorted(cumulative, np.arange(1, levels) * cumulative[-1] / levels, side="left")
    chosen = points[order][np.clip(picks, 0, points.size - 1)]
    return np.unique(np.concatenate([[points.min(), points.max()], chosen]))


def _exact_edges(n: int, bins: int, fine_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted positions of the wanted order statistics, the fine bin of each and its rank inside that bin."""
    ranks = np.clip(np.ceil(np.arange(1, bins) * n / bins).astype(np.int64) - 1, 0, max(n - 1, 0))
    cumulative = np.cumsum(fine_counts)
    holder = np.searchsorted(cumulative, ranks, side="right")
    before = np.where(holder > 0, cumulative[np.maximum(holder - 1, 0)], 0)
    return ranks, holder, ranks - before


def _coarse_from_fine(edges: np.ndarray, fine_edges: np.ndarray, fine_counts: np.ndarray,
                      inside: dict[int, np.ndarray]) -> np.ndarray:
    """Reference counts per coarse bin: whole fine bins below each edge plus the sorted values of its own fine bin."""
    cumulative = np.concatenate([[0], np.cumsum(fine_counts)])
    holder = np.searchsorted(fine_edges, edges, side="left")
    upto = np.array([cumulative[j] + np.searchsorted(inside[j], e, side="right") for j, e in zip(holder, edges)],
                    dtype=np.int64)
    return np.diff(np.concatenate([[0], upto, [cumulative[-1]]]))


@guarded("the drift reference profile on Dask")
def profile_reference_dask(frame: Any, features: list[str], bins: int = 10, epsilon: float = 1e-4,
                           min_rows_per_bin: int = 5, client: Any | None = None, grid: int = GRID) -> ScaledReference:
    """Profile the reference columns of a Dask DataFrame; only summaries (and a few fine bins' values) come back."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataError(f"reference data: column(s) {missing} not found; check the training features")
    numeric = [f for f in features if is_numeric(frame._meta[f])]
    categorical = [f for f in features if f not in numeric]
    first = _over_partitions(frame, _first_summary, (numeric, categorical, grid), client)
    n_rows = int(sum(part["rows"] for part in first))
    needed = bins * min_rows_per_bin
    if n_rows < needed:
        raise DataError(f"reference data: {n_rows} rows is too few for {bins} bins (need at least {needed} = bins x "
                        "min_rows_per_bin); lower monitoring.drift.bins or use a larger reference (training) set")
    sketches: dict[str, Any] = {}
    if numeric:
        sketches.update(_numeric_sketches(frame, numeric, [part["grid"] for part in first], bins, grid, client))
    cats = _merge_categories([part["categories"] for part in first]) if categorical else {}
    for name in categorical:
        counts, n_missing = cats[name]
        sketches[name] = CategoricalSketch(name=name, categories=pd.Index(counts.index), n_total=int(n_rows),
                                           counts=np.append(counts.to_numpy(dtype=np.int64), [0, n_missing]))
    return ScaledReference(features={f: sketches[f] for f in features}, n_rows=int(n_rows), bins=bins, epsilon=epsilon)


def _merge_categories(parts: list[dict[str, tuple[pd.Series, int]]]) -> dict[str, tuple[pd.Series, int]]:
    """Sum per-partition category counts and missing counts."""
    merged = {}
    for name in parts[0]:
        counts = pd.concat([p[name][0] for p in parts]).groupby(level=0, sort=True).sum()
        merged[name] = (counts[counts > 0], sum(p[name][1] for p in parts))
    return merged


def _numeric_sketches(frame: Any, numeric: list[str], grids: list[dict], bins: int, grid: int,
                      client: Any | None) -> dict[str, NumericSketch]:
    """Passes two and three over the reference: fine histograms, then the values of the fine bins holding edges."""
    fine = {name: _fine_edges([g[name] for g in grids], grid) for name in numeric}
    histos = _over_partitions(frame, _fine_summary, fine, client)
    counts = {n: sum(h[n][0] for h in histos) for n in numeric}
    sums = {n: sum(h[n][1] for h in histos) for n in numeric}
    on_edge = {n: sum(h[n][2] for h in histos) for n in numeric}
    located = {n: _exact_edges(int(counts[n].sum()), bins, counts[n]) for n in numeric}
    wanted = {n: (fine[n], np.unique(located[n][1])) for n in numeric}
    values = _over_partitions(frame, _values_in_bins, wanted, client)
    out = {}
    for name in numeric:
        pooled = np.sort(np.concatenate([v[name] for v in values]))
        bin_of = np.searchsorted(fine[name], pooled, side="left")
        inside = {int(j): pooled[bin_of == j] for j in wanted[name][1]}
        _, holder, rank = located[name]
        edges = np.unique([inside[int(j)][r] for j, r in zip(holder, rank)]) if pooled.size else np.empty(0)
        n, mean, std = _merge_moments([g[name] for g in grids])
        n_missing = sum(g[name][7] for g in grids)
        coarse = _coarse_from_fine(edges, fine[name], counts[name], inside) if n else np.zeros(edges.size + 1, np.int64)
        out[name] = NumericSketch(
            name=name, edges=edges, counts=np.append(coarse, n_missing), fine_edges=fine[name],
            fine_counts=counts[name], fine_sums=sums[name], fine_on_edge=on_edge[name], n_total=n + n_missing, mean=mean if n else float("nan"),
            std=std, minimum=min(g[name][5] for g in grids) if n else float("nan"),
            maximum=max(g[name][6] for g in grids) if n else float("nan"))
    return out


# ---------------------------------------------------------------- KS and Wasserstein from two fine histograms

def ecdf_bounds(fine_edges: np.ndarray, ref: tuple[np.ndarray, np.ndarray, np.ndarray],
                cur: tuple[np.ndarray, np.ndarray, np.ndarray], low: float, high: float) -> dict[str, float]:
    """KS (a lower bound and the bound's gap) and Wasserstein (midpoint and half width) from fine counts and sums.

    Fine bin i spans [a_i, b_i] (the outer bins end at ``low`` and ``high``, the overall extremes). With F, G the
    two ECDFs just left of a_i, p_i, q_i the bins' shares (less the share sitting on b_i itself, which moves the
    ECDF only at b_i, an edge) and S, T the bins' sums of values: on [a_i, b_i) the gap F - G lies in
    [F - G - q_i, F - G + p_i], and its exact integral there is
    (F - G) w_i + (p_i - q_i) b_i - (S_i / n - T_i / m).
    """
    (rc, rs, re), (cc, cs, ce) = ref, cur
    n, m = rc.sum(), cc.sum()
    if n == 0 or m == 0:
        return {"ks": float("nan"), "ks_bound": float("nan"), "wasserstein": float("nan"), "wasserstein_bound": float("nan")}
    p, q = rc / n, cc / m
    right = np.concatenate([fine_edges, [high]])
    left = np.concatenate([[low], fine_edges])
    width = np.maximum(right - left, 0.0)
    gap_after = np.cumsum(p) - np.cumsum(q)
    gap_before = np.concatenate([[0.0], gap_after[:-1]])
    lo, hi = gap_before - (cc - ce) / m, gap_before + (rc - re) / n
    exact = np.abs(gap_before * width + (p - q) * right - (rs / n - cs / m))
    one_sign = (lo >= 0) | (hi <= 0)
    upper = np.where(one_sign, exact, width * np.maximum(np.abs(lo), np.abs(hi)))
    ks = float(np.abs(gap_after[:-1]).max()) if gap_after.size > 1 else 0.0
    ks_upper = float(np.maximum(np.abs(lo), np.abs(hi)).max())
    w_low, w_high = float(exact.sum()), float(np.maximum(upper, exact).sum())
    return {"ks": ks, "ks_bound": max(ks_upper - ks, 0.0),
            "wasserstein": (w_low + w_high) / 2, "wasserstein_bound": (w_high - w_low) / 2}


# ---------------------------------------------------------------- batch drift

@guarded("batch drift on Dask")
def drift_table_dask(reference: ScaledReference, batch: Any, features: list[str] | None = None, alpha: float = 0.05,
                     client: Any | None = None) -> pd.DataFrame:
    """One row per feature, as ``kit.monitoring.drift.drift_table``, plus the KS and Wasserstein bounds."""
    names, numeric, categorical = _split_names(reference, list(batch.columns), features)
    args = {n: (s.fine_edges, s.edges, s.minimum, s.maximum) for n, s in numeric.items()}
    parts = _over_partitions(batch, _batch_numeric, args, client) if numeric else []
    counts = _over_partitions(batch, _category_counts, categorical, client) if categorical else []
    return _drift_rows(reference, names, parts, counts, alpha)


def drift_table_frame(reference: ScaledReference, batch: pd.DataFrame, features: list[str] | None = None,
                      alpha: float = 0.05) -> pd.DataFrame:
    """``drift_table_dask`` of an in-memory batch (one partition, in process): the same figures as the same rows
    read lazily in any number of partitions (the per-partition summaries are sums)."""
    names, numeric, categorical = _split_names(reference, list(batch.columns), features)
    args = {n: (s.fine_edges, s.edges, s.minimum, s.maximum) for n, s in numeric.items()}
    parts = [_batch_numeric(batch, args)] if numeric else []
    counts = [_category_counts(batch, categorical)] if categorical else []
    return _drift_rows(reference, names, parts, counts, alpha)


def _split_names(reference: ScaledReference, columns: list[str], features: list[str] | None
                 ) -> tuple[list[str], dict[str, NumericSketch], list[str]]:
    """The monitored features the batch has, the numeric ones' sketches and the categorical ones' names."""
    names = [f for f in (features or list(reference.features)) if f in columns]
    numeric = {n: reference.features[n] for n in names if reference.features[n].kind == "numeric"}
    return names, numeric, [n for n in names if n not in numeric]


def _drift_rows(reference: ScaledReference, names: list[str], parts: list[dict], counts: list[dict],
                alpha: float) -> pd.DataFrame:
    """The drift table from the per-partition batch summaries (numeric ``parts``, categorical ``counts``)."""
    rows: dict[str, dict[str, Any]] = {}
    for name in (parts[0] if parts else {}):
        rows[name] = _numeric_row(reference.features[name], [p[name] for p in parts], reference.epsilon)
    merged = _merge_categories(counts) if counts else {}
    for name, (found, n_missing) in merged.items():
        rows[name] = _categorical_row(reference.features[name], found, n_missing, reference.epsilon)
    table = pd.DataFrame.from_dict({n: rows[n] for n in names}, orient="index")
    if table.empty:
        return table
    table.index.name = "feature"
    table.insert(0, "kind", [reference.features[n].kind for n in table.index])
    table["q_value"] = adjust_pvalues(table["p_value"].astype(float))
    table["significant"] = table["q_value"] < alpha
    return table


def gather_partitions(frame: Any, fn: Any, arg: Any, client: Any | None = None) -> list[Any]:
    """``fn(partition, arg)`` for every partition, run on the cluster; the results in partition order."""
    return _over_partitions(frame, fn, arg, client)


def method_note(drift: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """How KS and Wasserstein were computed: exact (local) or from the sketch, with the largest bounds seen."""
    bounds = [d for d in drift.values() if not d.empty and "ks_bound" in d.columns]
    if not bounds:
        return {"name": "exact", "text": "exact (one sort per column; KS as scipy.stats.ks_2samp, Wasserstein as "
                                         "scipy.stats.wasserstein_distance)"}
    ks = float(np.nanmax([d["ks_bound"].astype(float).max() for d in bounds] + [0.0]))
    w = float(np.nanmax([d["wasserstein_std_bound"].astype(float).max() for d in bounds
                         if "wasserstein_std_bound" in d.columns] + [0.0]))
    return {"name": "sketch", "grid": GRID, "ks_bound_max": ks, "wasserstein_std_bound_max": w,
            "text": f"sketch ({GRID} fine bins, merged over partitions): KS within +{ks:.4f} (the statistic is a "
                    f"lower bound), Wasserstein within ±{w:.4f} reference std; PSI, chi-square, missing and "
                    "unseen shares exact"}


def _numeric_row(sketch: NumericSketch, parts: list[tuple], epsilon: float) -> dict[str, Any]:
    """Drift statistics of one numeric column from the merged batch summaries."""
    fine = tuple(sum(p[0][k] for p in parts) for k in range(3))
    coarse, outside = sum(p[1] for p in parts), sum(p[2] for p in parts)
    low = min([sketch.minimum] + [p[3] for p in parts])
    high = max([sketch.maximum] + [p[4] for p in parts])
    kept, size = int(fine[0].sum()), int(coarse.sum())
    reference = (sketch.fine_counts, sketch.fine_sums, sketch.fine_on_edge)
    shape = ecdf_bounds(sketch.fine_edges, reference, fine, low, high)
    scale = sketch.std if sketch.std and sketch.std > 0 else float("nan")
    return {
        "psi": psi(sketch.counts, coarse, epsilon), "test": "ks", "statistic": shape["ks"],
        "p_value": ks_pvalue(shape["ks"], int(sketch.fine_counts.sum()), kept),
        "wasserstein": shape["wasserstein"], "wasserstein_std": shape["wasserstein"] / scale,
        "missing_share": coarse[-1] / size if size else float("nan"),
        "out_of_range_share": outside / size if size else float("nan"), "unseen_share": float("nan"), "n": size,
        "ks_bound": shape["ks_bound"], "wasserstein_bound": shape["wasserstein_bound"],
        "wasserstein_std_bound": shape["wasserstein_bound"] / scale,
    }


def _categorical_row(sketch: CategoricalSketch, counts: pd.Series, n_missing: int, epsilon: float) -> dict[str, Any]:
    """Drift statistics of one categorical column from the merged batch counts."""
    seen = counts.index.isin(sketch.categories)
    aligned = counts[seen].reindex(sketch.categories, fill_value=0).to_numpy(dtype=np.int64)
    unseen = counts[~seen].sort_values(ascending=False, kind="stable")
    cur = np.append(aligned, [int(unseen.sum()), n_missing])
    statistic, p_value, _ = chi_square(sketch.counts, cur)
    n = int(cur.sum())
    return {
        "psi": psi(sketch.counts, cur, epsilon), "test": "chi2", "statistic": statistic, "p_value": p_value,
        "wasserstein": float("nan"), "wasserstein_std": float("nan"),
        "missing_share": cur[-1] / n if n else float("nan"), "out_of_range_share": float("nan"),
        "unseen_share": cur[-2] / n if n else float("nan"), "unseen": list(unseen.index[:5]), "n": n,
        "ks_bound": float("nan"), "wasserstein_bound": float("nan"), "wasserstein_std_bound": float("nan"),
    }
