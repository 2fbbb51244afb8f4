"""Drift at scale: counts, PSI and chi-square equal the local engine exactly; KS and Wasserstein within the stated
bound of scipy's exact figures."""
from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kit.compute.drift import GRID, drift_table_dask, ecdf_bounds, fine_histogram, profile_reference_dask
from kit.monitoring.drift import drift_table, profile_reference

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
EXACT = ["psi", "missing_share", "out_of_range_share", "unseen_share", "n"]


def lazy(frame: pd.DataFrame, parts: int) -> dd.DataFrame:
    """A Dask DataFrame of ``frame`` in ``parts`` partitions."""
    return dd.from_pandas(frame, npartitions=parts, sort=False)


def frames(seed: int = 3, n: int = 30_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a drifted batch with continuous, tied, missing and categorical columns."""
    rng = np.random.default_rng(seed)
    def make(size: int, shift: float, cats: list[str]) -> pd.DataFrame:
        x = rng.normal(shift, 1 + shift, size)
        x[rng.random(size) < 0.03] = np.nan
        return pd.DataFrame({"x": x, "lognormal": rng.lognormal(shift, 1, size),
                             "ties": rng.integers(0, 7, size).astype(float), "plan": rng.choice(cats, size),
                             "flag": rng.random(size) < 0.2 + shift / 4})
    return make(n, 0.0, ["a", "b", "c"]), make(n // 3, 0.3, ["a", "b", "c", "new"])


def assert_matches_local(ref: pd.DataFrame, cur: pd.DataFrame, parts: int) -> pd.DataFrame:
    """Compare the Dask figures with the local engine's; return the Dask table."""
    features = list(ref.columns)
    local_ref = profile_reference(ref, features, bins=10, workers=1)
    scaled = profile_reference_dask(lazy(ref, parts), features, bins=10)
    for name in features:
        mine, theirs = scaled.features[name], local_ref.features[name]
        if theirs.kind == "categorical":  # same counts per category (the order of categories may differ)
            assert dict(zip(mine.categories, mine.counts)) == dict(zip(theirs.categories, theirs.counts))
            assert list(mine.counts[-2:]) == list(theirs.counts[-2:])
        else:
            np.testing.assert_array_equal(mine.counts, theirs.counts)
            np.testing.assert_array_equal(scaled.features[name].edges, local_ref.features[name].edges)
            assert scaled.features[name].mean == pytest.approx(local_ref.features[name].mean, rel=1e-12)
            assert scaled.features[name].std == pytest.approx(local_ref.features[name].std, rel=1e-10)
    local = drift_table(local_ref, cur, workers=1)
    got = drift_table_dask(scaled, lazy(cur, parts))
    pd.testing.assert_series_equal(got["kind"], local["kind"])
    for column in EXACT:
        np.testing.assert_allclose(got[column].astype(float), local[column].astype(float), rtol=1e-12, equal_nan=True)
    chi = local["test"] == "chi2"
    np.testing.assert_allclose(got.loc[chi, "statistic"].astype(float), local.loc[chi, "statistic"].astype(float), rtol=1e-12)
    np.testing.assert_allclose(got.loc[chi, "p_value"].astype(float), local.loc[chi, "p_value"].astype(float), rtol=1e-12)
    for name in got.index[chi]:  # up to five of the most frequent unseen categories (ties in any order)
        unseen = cur[name].dropna().astype(str)
        unseen = unseen[~unseen.isin(ref[name].dropna().astype(str))].value_counts()
        assert len(got.loc[name, "unseen"]) == len(local.loc[name, "unseen"])
        if len(unseen):
            assert unseen[got.loc[name, "unseen"]].min() >= unseen.iloc[min(4, len(unseen) - 1)]
    ks = ~chi
    # the exact KS (local, = scipy) lies in [statistic, statistic + ks_bound]; Wasserstein within its half width
    assert (got.loc[ks, "statistic"] <= local.loc[ks, "statistic"] + 1e-12).all()
    assert (local.loc[ks, "statistic"] <= got.loc[ks, "statistic"] + got.loc[ks, "ks_bound"] + 1e-12).all()
    w_error = (got.loc[ks, "wasserstein"] - local.loc[ks, "wasserstein"]).abs()
    assert (w_error <= got.loc[ks, "wasserstein_bound"] + 1e-9).all()
    return got


def test_synthetic_figures_equal_local_or_within_bound() -> None:
    ref, cur = frames()
    got = assert_matches_local(ref, cur, parts=7)
    numeric = got[got["test"] == "ks"]
    assert (numeric["ks_bound"] <= 3 / GRID).all()  # the stated size of the bound
    assert (numeric["wasserstein_bound"] <= 0.01 * numeric["wasserstein"] + 1e-3).all()
    x = cur["x"].dropna()
    assert got.loc["x", "statistic"] == pytest.approx(stats.ks_2samp(ref["x"].dropna(), x).statistic,
                                                      abs=got.loc["x", "ks_bound"] + 1e-12)


def test_telco_figures_equal_local() -> None:
    telco = pd.read_csv(TELCO).drop(columns=["customerID", "Churn"])
    ref, cur = telco.iloc[:5000], telco.iloc[5000:]
    got = assert_matches_local(ref, cur, parts=4)
    assert (got.loc[got["test"] == "ks", "ks_bound"] == 0).all()  # few distinct values: the sketch is exact


def test_one_partition_and_no_drift() -> None:
    ref, _ = frames(seed=5, n=20_000)
    got = assert_matches_local(ref, ref.sample(frac=0.5, random_state=1), parts=1)
    assert (got["psi"] < 0.01).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60),
       st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60),
       st.integers(1, 12))
def test_bounds_always_hold_the_exact_figures(a: list[float], b: list[float], n_edges: int) -> None:
    """Whatever the fine edges, scipy's exact KS and Wasserstein lie inside the intervals ecdf_bounds states."""
    a, b = np.array(a), np.array(b)
    edges = np.unique(np.quantile(np.concatenate([a, b]), np.linspace(0, 1, n_edges)))

    got = ecdf_bounds(edges, fine_histogram(edges, a), fine_histogram(edges, b), min(a.min(), b.min()), max(a.max(), b.max()))
    ks = stats.ks_2samp(a, b).statistic
    w = stats.wasserstein_distance(a, b)
    assert got["ks"] - 1e-12 <= ks <= got["ks"] + got["ks_bound"] + 1e-12
    assert abs(got["wasserstein"] - w) <= got["wasserstein_bound"] + 1e-9 * (1 + w)


def test_bad_reference_is_a_clear_data_error() -> None:
    from kit.errors import DataError

    ref, _ = frames(n=40)
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        profile_reference_dask(lazy(ref, 2), ["x", "nope"])
    with pytest.raises(DataError, match="40 rows is too few for 10 bins"):
        profile_reference_dask(lazy(ref, 2), ["x", "plan"])


def test_empty_and_all_missing_batches() -> None:
    ref, cur = frames(n=3000)
    scaled = profile_reference_dask(lazy(ref, 3), list(ref.columns))
    local_ref = profile_reference(ref, list(ref.columns), workers=1)
    missing = cur.head(50).assign(x=np.nan)
    got, local = drift_table_dask(scaled, lazy(missing, 2)), drift_table(local_ref, missing, workers=1)
    assert got.loc["x", "missing_share"] == local.loc["x", "missing_share"] == 1.0
    assert np.isnan(got.loc["x", "statistic"]) and np.isnan(local.loc["x", "statistic"])
    np.testing.assert_allclose(got["psi"].astype(float), local["psi"].astype(float), rtol=1e-12, equal_nan=True)
