"""Monitoring on the Dask engine: a real trained Telco run monitored on a LocalCluster of 2 worker processes gives the
local engine's figures: PSI, chi-square, missing and unseen shares exactly, KS and Wasserstein within the stated
bounds, the same alerts and retraining decision; a Parquet-folder batch (3 files) gives the drift of the same rows as
one CSV batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kit.monitoring import run
from kit.monitoring.config import ProductionSource
from kit.notebook import start
from test_monitoring_fixtures import TELCO_RUNS

EXACT = ["psi", "missing_share", "out_of_range_share", "unseen_share", "n"]


@pytest.fixture(scope="module")
def three_partitions():
    """The split parts as kit.compute.lazy loads them (the Telco CSV: one partition), each cut in 3 partitions, so
    the reference profile and scores really merge over partitions."""
    real = run._lazy_splits

    def splits(ctx, client):
        out = {}
        for part, (X, y) in real(ctx, client).items():
            assert X.npartitions == 1 and X.known_divisions
            out[part] = (X.repartition(npartitions=3), y)
            assert out[part][0].npartitions == 3 and out[part][0].known_divisions
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run, "_lazy_splits", splits)
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory, client, three_partitions):
    """(local ctx, its setup, dask ctx, its setup): two copies of one trained Telco run, the second with a
    ``compute:`` section pointing at the module's cluster."""
    path = TELCO_RUNS.copy(tmp_path_factory.mktemp("local") / "run")
    local = start(path, path.parent, interactive=False)
    path = TELCO_RUNS.copy(tmp_path_factory.mktemp("dask") / "run",
                           sections={"compute": {"engine": "dask", "address": client.scheduler.address}})
    remote = start(path, path.parent, interactive=False)
    return local, run.load_setup(local), remote, run.load_setup(remote)


def test_setup_on_dask_matches_local(runs) -> None:
    _, local, _, remote = runs
    assert local.engine == {"name": "local"} and remote.engine["name"] == "dask"
    assert remote.client is not None and local.client is None
    assert remote.reference_rows == local.reference_rows == len(local.reference)
    assert not any(s["sample"] for s in remote.engine["samples"].values())  # Telco is far below the cap: all gathered
    for name in ("reference", "validation", "held_out"):  # the same rows, in the same (recorded) order
        pd.testing.assert_frame_equal(getattr(remote, name), getattr(local, name), check_dtype=False)
    np.testing.assert_allclose(np.sort(remote.reference_scores), np.sort(local.reference_scores), rtol=1e-6)
    for name, theirs in local.profile.features.items():
        mine = remote.profile.features[name]
        assert mine.kind == theirs.kind and mine.missing_share == theirs.missing_share
        if theirs.kind == "numeric":
            np.testing.assert_array_equal(mine.edges, theirs.edges)
            np.testing.assert_array_equal(mine.counts, theirs.counts)
        else:
            assert dict(zip(mine.categories, mine.counts)) == dict(zip(theirs.categories, theirs.counts))
    summary = run.setup_summary(remote)["value"]
    assert summary["engine"].startswith("dask") and "sketch" in summary["drift method"]
    assert "in-memory batches" in summary["engine"] and "ks_bound" not in summary["drift method"]  # no placeholder
    assert run.setup_summary(local)["value"]["drift method"].startswith("exact")


def assert_same_drift(mine: pd.DataFrame, exact: pd.DataFrame, batch: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Counts exact; KS inside [statistic, statistic + ks_bound] and Wasserstein within its bound of scipy's."""
    assert list(mine.index) == list(exact.index)
    for column in EXACT:
        np.testing.assert_allclose(mine[column].astype(float), exact[column].astype(float), rtol=1e-12, equal_nan=True)
    chi = exact["test"] == "chi2"
    for column in ("statistic", "p_value"):
        np.testing.assert_allclose(mine.loc[chi, column].astype(float), exact.loc[chi, column].astype(float), rtol=1e-12)
    assert (mine.loc[chi, "unseen"] == exact.loc[chi, "unseen"]).all()
    for name in exact.index[~chi]:
        a, b = reference[name].dropna().to_numpy(float), batch[name].dropna().to_numpy(float)
        ks = stats.ks_2samp(a, b).statistic
        w = stats.wasserstein_distance(a, b)
        row = mine.loc[name]
        assert row["statistic"] - 1e-12 <= ks <= row["statistic"] + row["ks_bound"] + 1e-12, name
        assert abs(row["wasserstein"] - w) <= row["wasserstein_bound"] + 1e-9 * (1 + w), name
        assert exact.loc[name, "statistic"] == pytest.approx(ks, abs=1e-12)


def test_scenario_monitoring_on_dask_matches_local(runs) -> None:
    ctx_local, local, ctx_remote, remote = runs
    settings = ctx_local.config.monitoring
    batches_local, log_local = run.production_batches(ctx_local, local)
    batches_remote, log_remote = run.production_batches(ctx_remote, remote)
    pd.testing.assert_frame_equal(log_remote, log_local)
    mine = run.monitor(remote, batches_remote, settings, ctx_local.config.seed)
    exact = run.monitor(local, batches_local, settings, ctx_local.config.seed)
    assert mine.drift.keys() == exact.drift.keys()
    for batch in batches_local:
        assert_same_drift(mine.drift[batch.name], exact.drift[batch.name], batch.frame, local.reference)
    pd.testing.assert_frame_equal(mine.batches, exact.batches)
    pd.testing.assert_frame_equal(mine.quality, exact.quality)
    pd.testing.assert_frame_equal(mine.measured, exact.measured)
    pd.testing.assert_frame_equal(mine.score_drift, exact.score_drift)
    key = ["batch", "rule", "feature", "severity"]
    pd.testing.assert_frame_equal(mine.alerts[key], exact.alerts[key])
    assert not exact.alerts[exact.alerts["severity"] != "info"].empty  # the scenario does raise alerts
    from kit.monitoring import display

    assert "ks_bound" in display.drift_summary(mine).columns and "ks_bound" not in display.drift_summary(exact).columns
    decided = [run.retrain(s, b, r, settings, ctx_local.config.seed)
               for s, b, r in ((remote, batches_remote, mine), (local, batches_local, exact))]
    assert decided[0]["decision"] == decided[1]["decision"] and decided[0]["triggered"]
    pd.testing.assert_frame_equal(decided[0]["timeline"], decided[1]["timeline"])
    artifact = run.build_artifact(remote, mine, decided[0], {}, {"p99_ms": 1.0, "budget_ms": 100.0}, log_remote, settings)
    assert artifact["engine"]["name"] == "dask" and artifact["drift_method"]["name"] == "sketch"
    assert 0 < artifact["drift_method"]["ks_bound_max"] < 0.05
    local_artifact = run.build_artifact(local, exact, decided[1], {}, {"p99_ms": 1.0, "budget_ms": 100.0}, log_local, settings)
    assert local_artifact["engine"] == {"name": "local"} and local_artifact["drift_method"]["name"] == "exact"


def production_rows(setup: run.Setup) -> pd.DataFrame:
    """600 held-out rows as a production file would hold them: the raw target, plain text columns, and a few rows
    with a new category and values outside the training range (spread over the partitions)."""
    rows = setup.held_out.head(600).reset_index(drop=True)
    rows = rows.assign(Churn=np.where(rows.pop(run.TARGET) == 1, "Yes", "No"))
    for name in rows.columns[rows.dtypes == "category"]:
        rows[name] = rows[name].astype(object)
    rows.loc[::37, "PaymentMethod"] = "Crypto wallet"
    rows.loc[::23, "MonthlyCharges"] = 999.0
    rows.loc[::41, "tenure"] = np.nan
    return rows


def test_parquet_folder_batch_matches_one_csv_batch(runs, tmp_path: Path) -> None:
    ctx_local, local, ctx_remote, remote = runs
    rows = production_rows(local)
    rows.to_csv(tmp_path / "week1.csv", index=False)
    folder = tmp_path / "week1_parts"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
        rows.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    settings = ctx_remote.config.monitoring.model_copy(deep=True)
    settings.production = ProductionSource(files=[tmp_path / "week1.csv", folder])
    ctx_remote.config.monitoring = settings
    ctx_local.config.monitoring = ctx_local.config.monitoring.model_copy(
        update={"production": ProductionSource(files=[tmp_path / "week1.csv"])})
    batches, _ = run.production_batches(ctx_remote, remote)
    assert [type(b).__name__ for b in batches] == ["Batch", "LazyBatch"]
    assert batches[1].lazy.npartitions == 3 and batches[1].rows == len(rows)
    mine = run.monitor(remote, batches, settings, ctx_remote.config.seed)
    one, folder_drift = mine.drift["week1"], mine.drift["week1_parts"]
    pd.testing.assert_frame_equal(folder_drift.drop(columns=["wasserstein", "wasserstein_std", "wasserstein_bound",
                                                             "wasserstein_std_bound"]),
                                  one.drop(columns=["wasserstein", "wasserstein_std", "wasserstein_bound",
                                                    "wasserstein_std_bound"]))
    for column in ("wasserstein", "wasserstein_bound"):  # sums of values merged in another order
        np.testing.assert_allclose(folder_drift[column].astype(float), one[column].astype(float), rtol=1e-9, equal_nan=True)
    quality = mine.quality.set_index("batch")
    pd.testing.assert_frame_equal(quality.loc[["week1_parts"]].reset_index(drop=True),
                                  quality.loc[["week1"]].reset_index(drop=True))
    assert {"unseen_category", "out_of_range"} <= set(quality["check"])
    alone = [run.monitor(remote, [b], settings, ctx_remote.config.seed) for b in batches]  # the same bootstrap seed
    pd.testing.assert_frame_equal(alone[1].measured.reset_index(drop=True), alone[0].measured.reset_index(drop=True))
    pd.testing.assert_frame_equal(alone[1].score_drift.reset_index(drop=True), alone[0].score_drift.reset_index(drop=True))
    assert mine.batches["rows"].tolist() == [600, 600]
    # and the same figures as the local engine's exact ones for this file
    local_batches, _ = run.production_batches(ctx_local, local)
    exact = run.monitor(local, local_batches, ctx_local.config.monitoring, ctx_local.config.seed)
    assert_same_drift(folder_drift, exact.drift["week1"], local_batches[0].frame, local.reference)
    pd.testing.assert_frame_equal(quality.loc[["week1_parts"]].reset_index(drop=True),
                                  exact.quality.drop(columns=["batch"]))


def test_large_parts_are_seeded_stated_samples_in_recorded_order() -> None:
    import dask.dataframe as dd

    X = pd.DataFrame({"a": np.arange(1000.0), "b": list("xyz" * 333) + ["x"]})
    order = np.random.default_rng(1).permutation(1000)  # the recorded (local) order of the part
    y = (X["a"].to_numpy() % 2).astype(int)
    whole, note = run.gather_rows(dd.from_pandas(X, npartitions=4, sort=True), y, order, 1000, 5, None)
    assert note == {"rows": 1000, "gathered": 1000, "sample": False}
    assert whole.index.tolist() == order.tolist() and (whole[run.TARGET] == whole["a"] % 2).all()
    sample, note = run.gather_rows(dd.from_pandas(X, npartitions=4, sort=True), y, order, 100, 5, None)
    again, _ = run.gather_rows(dd.from_pandas(X, npartitions=2, sort=True), y, order, 100, 5, None)
    assert note["sample"] and note["gathered"] == 100 and note["seed"] == 5 and note["rows"] == 1000
    assert len(sample) == 100 and sample.index.is_unique and sample.index.tolist() == again.index.tolist()
    assert sample.index.tolist() == [p for p in order if p in set(sample.index)]  # recorded order kept
    assert (sample[run.TARGET] == sample["a"] % 2).all() and (sample["b"] == X.loc[sample.index, "b"]).all()


def test_a_large_folder_batch_keeps_every_row_for_drift_and_a_sample_for_retraining(runs, tmp_path: Path, monkeypatch) -> None:
    _, local, _, remote = runs
    rows = production_rows(local)
    for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
        rows.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    monkeypatch.setattr(run, "dask_settings", lambda: {"gather_rows": 200_000, "batch_rows": 250})
    batch = run.lazy_batch(tmp_path / "*.parquet", {}, "Churn", "Yes", remote.model, None, remote.client, 3)
    assert batch.rows == 600 and len(batch.frame) == 250 and batch.sample["sample"] and batch.sample["seed"] == 3
    assert batch.labels.tolist() == (rows["Churn"] == "Yes").astype(int).tolist()
    positions = batch.frame.drop(columns=[run.TARGET]).merge(rows.reset_index(), how="left")["index"]
    assert positions.is_monotonic_increasing and positions.notna().all()
    assert (batch.frame[run.TARGET].to_numpy() == batch.labels[positions.to_numpy()]).all()
    result = run.monitor(remote, [batch], remote_settings(runs), 0)
    assert result.batches["rows"].tolist() == [600] and result.samples[batch.name]["gathered"] == 250
    assert (result.drift[batch.name]["n"] == 600).all()
    assert result.measured["roc_auc"].iloc[0] == pytest.approx(
        run.tasks.measure(remote.model, batch.labels, remote.model.predict_proba(rows), remote_settings(runs).performance, 0)["roc_auc"])


def remote_settings(runs):
    """The monitoring settings of the Dask run."""
    return runs[2].config.monitoring


def test_after_a_promotion_the_dask_setup_keeps_the_sketch(runs) -> None:
    ctx, local, _, remote = runs
    settings = ctx.config.monitoring
    rows = local.reference.iloc[::2]
    mine = run._serving_setup(remote, remote.model, rows, {"roc_auc": 0.8}, settings)
    exact = run._serving_setup(local, local.model, rows, {"roc_auc": 0.8}, settings)
    assert type(mine.profile).__name__ == "ScaledReference" and mine.reference_rows == len(rows) == exact.reference_rows
    for name, theirs in exact.profile.features.items():
        assert list(mine.profile.features[name].counts) == list(theirs.counts) or theirs.kind == "categorical"
        assert mine.profile.features[name].missing_share == theirs.missing_share
    batch = run.Batch("later", local.held_out.head(400).copy())
    assert_same_drift(run.monitor(mine, [batch], settings).drift["later"], run.monitor(exact, [batch], settings).drift["later"],
                      batch.frame, rows)


def test_parquet_folder_cut_by_time_matches_one_csv_cut_by_time(runs, tmp_path: Path) -> None:
    _, local, ctx, remote = runs
    rows = production_rows(local).assign(date=pd.date_range("2026-01-07", periods=600, freq="50min").astype(str))
    rows.loc[rows.index[-5:], "Churn"] = None  # the last week has rows without labels: unlabelled on both
    rows.to_csv(tmp_path / "prod.csv", index=False)
    folder = tmp_path / "prod"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):  # files cut across the weeks
        rows.iloc[part].to_parquet(folder / f"p{i}.parquet", index=False)
    settings = ctx.config.monitoring.model_copy(deep=True)
    ctx.config.monitoring = settings
    cut = {}
    for name, path in (("csv", tmp_path / "prod.csv"), ("folder", folder)):
        settings.production = ProductionSource(path=path, time_column="date", frequency="W")
        cut[name] = run.production_batches(ctx, remote)[0]
    assert [type(b).__name__ for b in cut["folder"]] == ["LazyBatch"] * 4
    for key in ("name", "partial", "labelled"):
        assert [getattr(b, key) for b in cut["folder"]] == [getattr(b, key) for b in cut["csv"]]
    assert [b.partial for b in cut["csv"]] == [True, False, False, True] and not cut["csv"][-1].labelled
    for a, b in zip(cut["folder"], cut["csv"]):
        pd.testing.assert_series_equal(a.stamps, b.stamps)
        pd.testing.assert_frame_equal(a.frame, b.frame, check_dtype=False)
    got, want = (run.monitor(remote, cut[k], settings, 0) for k in ("folder", "csv"))
    pd.testing.assert_frame_equal(got.batches, want.batches)
    pd.testing.assert_frame_equal(got.measured, want.measured)
    pd.testing.assert_frame_equal(got.quality, want.quality)
    for name, table in want.drift.items():
        np.testing.assert_allclose(got.drift[name][EXACT + ["statistic", "p_value", "ks_bound"]].astype(float),
                                   table[EXACT + ["statistic", "p_value", "ks_bound"]].astype(float), rtol=1e-12)


def test_a_sampled_split_keeps_its_whole_time_range_for_the_overlap_check(runs) -> None:
    import dataclasses

    import dask.dataframe as dd

    _, local, _, _ = runs
    stamps = pd.Series(pd.date_range("2025-01-01", periods=len(local.reference), freq="h").astype(str),
                       index=local.reference.index)
    X = dd.from_pandas(local.reference.assign(when=stamps).sort_index(), npartitions=3, sort=True)
    first, last = run.time_range(X, "when", None)
    assert (first, last) == (pd.Timestamp(stamps.iloc[0]).isoformat(), pd.Timestamp(stamps.iloc[-1]).isoformat())
    sample = local.reference.assign(when=stamps).iloc[100:-100]  # a sample that missed the first and last days
    setup = dataclasses.replace(local, reference=sample, time_column="when",
                                engine={"name": "dask", "time_ranges": {"reference": [first, last]}})
    batch = run.Batch("early", local.held_out.head(50).assign(when=stamps.iloc[:50].to_numpy()))
    found = run.training_overlap(setup, [batch], synthetic=True)
    assert found["overlapping_rows"] == 50 and found["training_period"][0] == first
    assert run.training_overlap(dataclasses.replace(setup, engine={"name": "dask"}), [batch], True)["overlapping_rows"] < 50


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_regression_and_multiclass_runs_monitor_alike_on_both_engines(task, client, three_partitions, tmp_path) -> None:
    from task_runs import TASK_RUNS

    local_path = TASK_RUNS.copy(tmp_path / "local", task)
    remote_path = TASK_RUNS.copy(tmp_path / "dask", task,
                                 sections={"compute": {"engine": "dask", "address": client.scheduler.address}})
    ctxs = [start(p, p.parent, interactive=False) for p in (local_path, remote_path)]
    local, remote = (run.load_setup(c) for c in ctxs)
    assert remote.engine["name"] == "dask" and remote.task == local.task == task
    pd.testing.assert_frame_equal(remote.held_out, local.held_out, check_dtype=False)
    settings = ctxs[0].config.monitoring
    batches = run.production_batches(ctxs[0], local)[0]
    mine, exact = (run.monitor(s, batches, settings, 7) for s in (remote, local))
    for batch in batches:
        assert_same_drift(mine.drift[batch.name], exact.drift[batch.name], batch.frame, local.reference)
    pd.testing.assert_frame_equal(mine.measured, exact.measured)
    pd.testing.assert_frame_equal(mine.score_drift, exact.score_drift)
    key = ["batch", "rule", "feature", "severity"]
    pd.testing.assert_frame_equal(mine.alerts[key], exact.alerts[key])


def test_local_engine_monitors_without_dask(tmp_path: Path) -> None:
    """compute.engine local (the default): monitoring never imports dask and records the local engine."""
    import subprocess
    import sys

    config = TELCO_RUNS.copy(tmp_path / "run")
    script = f"""
import sys
from kit.monitoring import run
from kit.notebook import start
ctx = start({str(config)!r}, {str(config.parent)!r}, interactive=False)
setup = run.load_setup(ctx)
batches, log = run.production_batches(ctx, setup)
result = run.monitor(setup, batches, ctx.config.monitoring, ctx.config.seed)
outcome = {{"decision": "none", "triggered": False, "reason": ""}}
artifact = run.build_artifact(setup, result, outcome, {{}}, {{"p99_ms": 1.0, "budget_ms": 100.0}}, log, ctx.config.monitoring)
assert artifact["engine"] == {{"name": "local"}} and artifact["drift_method"]["name"] == "exact", artifact["engine"]
assert "ks_bound" not in next(iter(result.drift.values())).columns
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert not loaded, loaded
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
