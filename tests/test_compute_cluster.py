"""On a LocalCluster (2 worker processes): training, SHAP and drift give the local engine's figures; a worker
killed mid-run does not change them."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from kit.schema import DatasetSpec
from kit.training.data import feature_columns, load_dataset, labels_to_binary

TELCO = Path(__file__).resolve().parent.parent / "data" / "telco_churn" / "Telco-Customer-Churn.csv"
SETTINGS = SimpleNamespace(max_trees=200, early_stopping_rounds=20)


@pytest.fixture(scope="module")
def telco() -> dict[str, pd.DataFrame | np.ndarray]:
    """Cleaned Telco rows split 60/20/20 by a seeded permutation: features and 0/1 labels."""
    spec = DatasetSpec(path=TELCO, target="Churn", positive_class="Yes", id_columns=["customerID"])
    frame = load_dataset(spec, show_warnings=False)
    features = feature_columns(frame, spec)
    order = np.random.default_rng(0).permutation(len(frame))
    cut = [int(len(frame) * 0.6), int(len(frame) * 0.8)]
    parts = dict(zip(("train", "valid", "test"), np.split(order, cut)))
    y = labels_to_binary(frame["Churn"], "Yes")
    return {name: (frame.iloc[idx][features].reset_index(drop=True), y[idx]) for name, idx in parts.items()}


def lazy(X: pd.DataFrame, y: np.ndarray, parts: int) -> tuple[dd.DataFrame, dd.Series]:
    """Features and labels as Dask collections with the same partitions."""
    X_dd = dd.from_pandas(X, npartitions=parts, sort=False)
    y_dd = dd.from_pandas(pd.Series(y, name="y"), npartitions=parts, sort=False)
    return X_dd, y_dd


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_dask_training_matches_local_quality_and_saves_natively(client, telco, algorithm: str, tmp_path: Path) -> None:
    from kit.compute.train import predict_proba_dask, train_dask
    from kit.training.pipeline import _fit_boosted
    from kit.training.scoring import ScoringModel

    (Xtr, ytr), (Xva, yva), (Xte, yte) = telco["train"], telco["valid"], telco["test"]
    model = train_dask(client, algorithm, *lazy(Xtr, ytr, 3), *lazy(Xva, yva, 2), SETTINGS, seed=7, pos_weight=1.0)
    assert type(model.booster).__module__.split(".")[0] == algorithm  # the native booster, as the local path
    assert 5 <= model.info["trees"] < SETTINGS.max_trees  # early stopping ended it
    from kit.training.pipeline import infer_categories

    assert model.categories == infer_categories(Xtr)
    settings = SimpleNamespace(**vars(SETTINGS), tuning=SimpleNamespace(trials=0, seconds=None),
                               selection_metric="roc_auc", threshold=None)
    local = _fit_boosted(algorithm, Xtr, ytr, Xva, yva, settings, 7, 1.0, list(Xtr.columns),
                         infer_categories(Xtr), {"task": "binary", "classes": None}).model
    auc_dask, auc_local = roc_auc_score(yte, model.predict_proba(Xte)), roc_auc_score(yte, local.predict_proba(Xte))
    assert abs(auc_dask - auc_local) < 0.01 and auc_dask > 0.8
    scored = predict_proba_dask(model, dd.from_pandas(Xte, npartitions=3)).compute().to_numpy()
    np.testing.assert_allclose(scored, model.predict_proba(Xte), rtol=1e-12)
    loaded = ScoringModel.load(model.save(tmp_path / "model"))  # the same native files the local path writes
    np.testing.assert_allclose(loaded.predict_proba(Xte), model.predict_proba(Xte), rtol=1e-6)


def test_shap_per_partition_equals_local_exact_shap(client, telco) -> None:
    from kit.compute.train import contributions_dask, global_importance_dask, train_dask
    from kit.explain.shapley import exact_contributions, global_importance

    (Xtr, ytr), (Xva, yva), (Xte, _) = telco["train"], telco["valid"], telco["test"]
    model = train_dask(client, "xgboost", *lazy(Xtr, ytr, 2), *lazy(Xva, yva, 2), SETTINGS, seed=7, pos_weight=2.0)
    X_dd = dd.from_pandas(Xte, npartitions=4)
    got = client.compute(contributions_dask(model, X_dd)).result()
    local = exact_contributions(model.booster, model.prepare(Xte).set_axis(model.booster_features, axis=1))
    np.testing.assert_allclose(got[model.features].to_numpy(), local.values.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1).to_numpy(), model.margin(Xte), rtol=1e-5, atol=1e-5)
    table = global_importance_dask(model, X_dd, client)
    expected = global_importance(local.set_axis(model.features, axis=1) if hasattr(local, "set_axis") else
                                 type(local)(local.values.set_axis(model.features, axis=1), local.base))
    pd.testing.assert_frame_equal(table, expected, rtol=1e-5, atol=1e-7)


def test_drift_on_cluster_survives_a_killed_worker(client, telco) -> None:
    from kit.compute.drift import drift_table_dask, profile_reference_dask

    (Xtr, _), (Xte, _) = telco["train"], telco["test"]
    features = list(Xtr.columns)
    ref_dd, cur_dd = dd.from_pandas(Xtr, npartitions=6), dd.from_pandas(Xte, npartitions=4)
    expected = drift_table_dask(profile_reference_dask(ref_dd, features), cur_dd)  # in-process
    reference = profile_reference_dask(ref_dd, features, client=client)
    victim = next(iter(client.scheduler_info()["workers"]))
    pids = client.run(lambda: __import__("os").getpid())
    import os
    import signal

    os.kill(pids[victim], signal.SIGKILL)  # one worker dies between the passes; the nanny restarts it
    got = drift_table_dask(reference, cur_dd, client=client)
    pd.testing.assert_frame_equal(got, expected)


def test_lightgbm_loss_path_and_stopping_rule_match_lightgbm(telco) -> None:
    """The after-the-fact early stopping keeps exactly the trees lightgbm's own callback keeps (in-process check)."""
    import lightgbm as lgb

    from kit.compute.train import _prepared, early_stopping_iteration, infer_categories_dask, validation_loss_path
    from kit.training.pipeline import model_params

    (Xtr, ytr), (Xva, yva) = telco["train"], telco["valid"]
    features = list(Xtr.columns)
    X_dd, y_dd = lazy(Xtr, ytr, 1)
    categories = infer_categories_dask(X_dd)
    prep = lambda X: _prepared(dd.from_pandas(X, npartitions=1), features, categories, features).compute()  # noqa: E731
    params = model_params("lightgbm", None, 7)
    full = lgb.train(params, lgb.Dataset(prep(Xtr), ytr), num_boost_round=300)
    Xva_dd, yva_dd = lazy(prep(Xva), yva, 3)
    losses = validation_loss_path(full, Xva_dd, yva_dd, None, None)
    for k in (1, 50, 300):
        p = full.predict(prep(Xva), num_iteration=k)
        expected = -np.mean(yva * np.log(p) + (1 - yva) * np.log(1 - p))
        assert losses[k - 1] == pytest.approx(expected, rel=1e-9)
    stopped = lgb.train(params, lgb.Dataset(prep(Xtr), ytr), num_boost_round=300,
                        valid_sets=[lgb.Dataset(prep(Xva), yva)], callbacks=[lgb.early_stopping(20, verbose=False)])
    assert early_stopping_iteration(losses, 20) + 1 == stopped.best_iteration
    assert early_stopping_iteration(np.array([3.0, 2.0, 2.5, 2.6, 1.0]), 2) == 1  # stops before the late minimum


def test_features_and_labels_partitioned_differently_is_a_clear_error(telco) -> None:
    from kit.compute.train import train_dask
    from kit.errors import DataError

    (Xtr, ytr), (Xva, yva) = telco["train"], telco["valid"]
    X_dd, _ = lazy(Xtr, ytr, 2)
    _, y_dd = lazy(Xtr, ytr, 3)
    with pytest.raises(DataError, match="features come in 2 partitions and the labels in 3"):
        train_dask(None, "xgboost", X_dd, y_dd, *lazy(Xva, yva, 1), SETTINGS, seed=0, pos_weight=1.0)


def test_labels_keep_the_features_partitions_when_read_from_parquet(telco, tmp_path: Path) -> None:
    """Dask reads a one-column projection of Parquet files in fused partitions; the training input must not."""
    from kit.compute.data import read_lazy
    from kit.compute.train import _aligned

    X, y = telco["train"]
    for i, part in enumerate(np.array_split(np.arange(len(X)), 6)):
        X.iloc[part].assign(label=y[part]).to_parquet(tmp_path / f"part-{i}.parquet")
    frame = read_lazy(tmp_path)
    features = [c for c in frame.columns if c != "label"]
    assert frame["label"].optimize().npartitions < 6  # what the boosters would have been given
    X_dd, y_dd = _aligned(None, frame[features], frame["label"])
    assert X_dd.optimize().npartitions == y_dd.optimize().npartitions == 6
    np.testing.assert_array_equal(y_dd.compute().to_numpy(), y)
    X_dd, y_dd = _aligned(None, frame, "label")  # the label as a column: one projection, nothing to align
    assert X_dd.optimize().npartitions == y_dd.optimize().npartitions == 6 and "label" not in X_dd.columns
    np.testing.assert_array_equal(y_dd.compute().to_numpy(), y)


def test_training_from_a_parquet_folder_with_the_label_as_a_column(client, telco, tmp_path: Path) -> None:
    from kit.compute.data import read_lazy
    from kit.compute.train import train_dask

    (X, y), (Xte, yte) = telco["train"], telco["test"]
    for i, part in enumerate(np.array_split(np.arange(len(X)), 5)):
        X.iloc[part].assign(label=y[part]).to_parquet(tmp_path / f"part-{i}.parquet")
    frame = read_lazy(tmp_path)
    model = train_dask(client, "xgboost", frame.partitions[2:], "label", frame.partitions[:2], "label", SETTINGS,
                       seed=7, pos_weight=1.0)
    assert "label" not in model.features and model.features == list(X.columns)
    assert roc_auc_score(yte, model.predict_proba(Xte)) > 0.8


def pinned(client, X: pd.DataFrame, y: np.ndarray, rows: list[slice]) -> tuple[dd.DataFrame, dd.Series]:
    """``X``, ``y`` cut into partitions by ``rows``, partition i held by worker i % 2 (as files read where they lie).

    Scattered under fresh keys: with content-hashed keys, the xgboost case's data, released as the lightgbm case
    scatters the same frames, could be forgotten by the scheduler under the new futures ("lost dependencies")."""
    workers = sorted(client.scheduler_info()["workers"])
    labels = pd.Series(y, index=X.index, name="y")
    X_parts = [client.scatter(X.iloc[r], workers=[workers[i % 2]], hash=False) for i, r in enumerate(rows)]
    y_parts = [client.scatter(labels.iloc[r], workers=[workers[i % 2]], hash=False) for i, r in enumerate(rows)]
    return (dd.from_delayed(X_parts, meta=X.iloc[:0], verify_meta=False),
            dd.from_delayed(y_parts, meta=labels.iloc[:0], verify_meta=False))


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_a_worker_without_validation_rows_does_not_break_training(client, telco, algorithm: str) -> None:
    """Training rows on both workers, every validation row on one (the other's share is an empty partition): the
    boosters train, and the placement keeps every row and leaves the empty partition out. (XGBoost with categorical
    features refuses a worker whose validation share is empty; where Dask runs the preparation tasks decides
    whether that happens, so the 1-million-row chain benchmark, where it did, is the end-to-end check.)"""
    from kit.compute.train import spread_over_workers, train_dask

    (Xtr, ytr), (Xva, yva), (Xte, yte) = telco["train"], telco["valid"], telco["test"]
    half = len(Xtr) // 2
    train = pinned(client, Xtr, ytr, [slice(0, half), slice(half, None)])
    valid = pinned(client, Xva, yva, [slice(0, None), slice(0, 0)])
    model = train_dask(client, algorithm, *train, *valid, SETTINGS, seed=7, pos_weight=1.0)
    assert roc_auc_score(yte, model.predict_proba(Xte)) > 0.8
    placed = spread_over_workers(client, [train, valid])
    assert [X.npartitions for X, _ in placed] == [2, 1]  # the empty partition is left out
    assert len(placed[0][0].compute()) == len(Xtr) and len(placed[1][1].compute()) == len(yva)
