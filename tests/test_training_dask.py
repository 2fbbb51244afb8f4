"""The training phase (TrainingRun, step by step as notebook 02 runs it) on the Dask engine: a LocalCluster with
2 worker processes, against the local engine on the same demo config.

Bounds stated here: the baselines' figures are equal (they fit on every training row: the demo's training part
is below ``dask.baseline_sample_rows``); the boosters train with xgboost.dask / lightgbm.dask, so their test
AUC may differ from the local boosters' by at most ``AUC_BOUND`` (regression: the test RMSE by at most
``RMSE_SHARE`` of the local one); the gate decisions are the same.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TRAINING_STEPS, two_workers
from kit.notebook import start
from kit.training.phase import TrainingRun

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "configs" / "demo.yaml"
BIKE_DAY = Path("/work/shared/data/bike_sharing/day.csv")
AUC_BOUND = 0.01
RMSE_SHARE = 0.02


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each (the machine has 2 cores)."""
    with two_workers() as c:
        yield c


def demo_config(folder: Path, store: Path, address: str | None = None, dataset: dict | None = None,
                training: dict | None = None) -> Path:
    """The demo config (paths made absolute, its own MLflow store), on the cluster at ``address`` if given."""
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    raw["dataset"]["path"] = str((DEMO.parent / raw["dataset"]["path"]).resolve())
    raw["use_cases"]["portfolio_path"] = str((DEMO.parent / raw["use_cases"]["portfolio_path"]).resolve())
    raw["dataset"].update(dataset or {})
    raw["training"].update(training or {})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlflow").mkdir(exist_ok=True)
    shutil.copy(store, folder / "mlflow" / "mlflow.db")
    raw["training"]["tracking_uri"] = f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}"
    if address:
        raw["compute"] = {"engine": "dask", "address": address}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def run_steps(config: Path, run_dir: Path) -> tuple[TrainingRun, dict]:
    """The notebook's steps in order; returns the run and its artifact."""
    ctx = start(config, run_dir, interactive=False)
    run = TrainingRun(ctx)
    shown = {step: getattr(run, step)() for step in TRAINING_STEPS}  # the notebook's steps, in order
    run.summary = shown["load"]
    artifact = run.artifact()
    ctx.write("training", artifact)
    return run, artifact


@pytest.fixture(scope="module")
def demo(cluster, mlflow_store_template, tmp_path_factory) -> dict:
    """The demo config's training phase, locally and on the cluster."""
    root = tmp_path_factory.mktemp("dtrain")
    local, local_art = run_steps(demo_config(root / "local", mlflow_store_template), root / "local" / "run")
    dask_run, dask_art = run_steps(demo_config(root / "dask", mlflow_store_template, cluster.scheduler_address),
                                   root / "dask" / "run")
    return {"local": local, "local_art": local_art, "dask": dask_run, "dask_art": dask_art}


def test_load_and_split_on_dask_equal_local(demo) -> None:
    local, dask_run = demo["local"], demo["dask"]
    assert dask_run.client is not None and local.client is None and not hasattr(local, "lazy")
    pd.testing.assert_frame_equal(dask_run.summary, local.summary)  # rows, columns, dtypes, positive share
    np.testing.assert_array_equal(dask_run.y, local.y)
    assert dask_run.split.data_hash == local.split.data_hash and dask_run.split.index_hash == local.split.index_hash
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(dask_run.split.parts[part], local.split.parts[part])
    # the recorded split is the same file (phases 3 and 4 read it on either engine)
    assert json.loads(dask_run.split_path.read_text()) == json.loads(local.split_path.read_text())
    assert dask_run.sha256 == local.sha256


def test_candidates_on_dask_match_local(demo) -> None:
    local, dask_run = demo["local"], demo["dask"]
    assert dask_run.features == local.features
    assert dask_run.engine["baseline_sample"] == {"rows": len(local.split.parts["train"]),
                                                  "of_training_rows": len(local.split.parts["train"]),
                                                  "seed": 42, "all_rows": True, "cap": 200000}
    boards = {k: demo[k].leaderboard.set_index("candidate").drop(columns="fit_seconds") for k in ("local", "dask")}
    baselines = ["majority", "logistic_regression"]
    pd.testing.assert_frame_equal(boards["dask"].loc[baselines], boards["local"].loc[baselines], rtol=1e-9)
    by_name = {k: {c.name: c for c in demo[k].candidates} for k in ("local", "dask")}
    for name in baselines:  # validation and test scores of the baselines, computed per partition on the workers
        np.testing.assert_allclose(by_name["dask"][name].valid_proba, by_name["local"][name].valid_proba, rtol=1e-9)
        np.testing.assert_allclose(by_name["dask"][name].extra["test_proba"], by_name["local"][name].extra["test_proba"],
                                   rtol=1e-9)
    for name in ("xgboost", "lightgbm"):
        cand = by_name["dask"][name]
        assert cand.model.info["engine"] == "dask" and 5 <= cand.trees < dask_run.settings.max_trees
        assert cand.params == by_name["local"][name].params  # the same parameters, seed and positive weight
        assert abs(boards["dask"].loc[name, "roc_auc"] - boards["local"].loc[name, "roc_auc"]) <= AUC_BOUND
        # the gathered test scores are the model's own scores of the test rows, in the split's order
        X_test = local.frame.iloc[local.split.parts["test"]]
        np.testing.assert_allclose(cand.extra["test_proba"], cand.model.predict_proba(X_test), rtol=1e-12)
    assert abs(dask_run.metrics.loc["roc_auc", "value"] - local.metrics.loc["roc_auc", "value"]) <= AUC_BOUND


def test_quality_and_contract_on_dask_equal_local(demo) -> None:
    local, dask_run = demo["local"], demo["dask"]
    assert dask_run.quality.excluded == local.quality.excluded
    assert demo["dask_art"]["quality"] == demo["local_art"]["quality"]
    assert demo["dask_art"]["contract"]["summary"] == demo["local_art"]["contract"]["summary"]
    assert dask_run.contract_check.to_dict() == local.contract_check.to_dict()


def test_gates_registration_and_saved_model_on_dask(demo) -> None:
    from kit.training.scoring import ScoringModel

    local_art, art, dask_run = demo["local_art"], demo["dask_art"], demo["dask"]
    assert {k: g["passed"] for k, g in art["gates"].items()} == {k: g["passed"] for k, g in local_art["gates"].items()}
    assert art["champion"]["version"] == "1" and art["champion"]["status"] == "candidate"
    assert art["engine"]["name"] == "dask" and art["engine"]["workers"] == 2
    assert local_art["engine"] == {"name": "local"}
    folder = dask_run.ctx.run_dir / art["champion"]["model_dir"]
    native = "model.json" if dask_run.best.name == "xgboost" else "model.txt"
    assert (folder / native).is_file() and (folder / "scoring.json").is_file()
    model = ScoringModel.load(folder)  # the native files, as the local engine writes them
    X_test = demo["local"].frame.iloc[dask_run.split.parts["test"]]
    np.testing.assert_allclose(model.predict_proba(X_test), dask_run.best.extra["test_proba"], rtol=1e-6)
    # the registered version as the champion: scored per partition on this run's test rows, it is this model
    dask_run._registry().set_champion(dask_run.model_name, "1", "test")
    score, version, why = dask_run._champion_score()
    assert version == "1" and why is None
    assert score == pytest.approx(dask_run.leaderboard.set_index("candidate").loc[dask_run.best.name, "roc_auc"], rel=1e-6)


def test_parquet_folder_of_three_files_trains_like_the_csv(demo, cluster, mlflow_store_template, tmp_path: Path) -> None:
    """The telco rows as 3 Parquet files: the same cleaned rows, so the same split positions and data hash, and the
    phase on three partitions ends like the local one."""
    raw = pd.read_csv(ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv")
    folder = tmp_path / "telco"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(raw)), 3)):
        raw.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    config = demo_config(tmp_path / "cfg", mlflow_store_template, cluster.scheduler_address, dataset={"path": str(folder)})
    run, art = run_steps(config, tmp_path / "run")
    assert run.lazy.frame.npartitions == 3 and art["engine"]["partitions"] == 3
    local = demo["local"]
    assert run.split.data_hash == local.split.data_hash and run.split.index_hash == local.split.index_hash
    np.testing.assert_array_equal(run.y, local.y)
    # and the whole phase on the three partitions: the same features, gates and (within the bound) test AUC
    assert run.features == local.features and art["quality"] == demo["local_art"]["quality"]
    assert {k: g["passed"] for k, g in art["gates"].items()} == {k: g["passed"] for k, g in demo["local_art"]["gates"].items()}
    assert abs(run.metrics.loc["roc_auc", "value"] - local.metrics.loc["roc_auc", "value"]) <= AUC_BOUND
    board = run.leaderboard.set_index("candidate")
    assert board.loc["logistic_regression", "roc_auc"] == pytest.approx(
        local.leaderboard.set_index("candidate").loc["logistic_regression", "roc_auc"], rel=1e-9)
    # the same folder on the local engine (it read the folder, then failed hashing it as one file: IsADirectoryError)
    in_process, _ = run_steps(demo_config(tmp_path / "cfg-local", mlflow_store_template, dataset={"path": str(folder)}),
                              tmp_path / "run-local")
    assert in_process.client is None and in_process.sha256 == run.sha256
    assert in_process.split.data_hash == run.split.data_hash


def test_regression_on_dask_within_bound_of_local(cluster, mlflow_store_template, tmp_path: Path) -> None:
    """Bike rentals per day (731 rows): the Dask run's test RMSE within RMSE_SHARE of the local run's."""
    dataset = {"name": "bike day", "path": str(BIKE_DAY), "target": "cnt", "positive_class": None, "sensitive": [],
               "id_columns": ["instant", "dteday"], "drop_columns": ["casual", "registered"]}
    training = {"max_trees": 300, "bootstrap": 30}
    local, _ = run_steps(demo_config(tmp_path / "l", mlflow_store_template, dataset=dataset, training=training),
                         tmp_path / "l" / "run")
    dask_run, _ = run_steps(demo_config(tmp_path / "d", mlflow_store_template, cluster.scheduler_address, dataset=dataset,
                                        training=training), tmp_path / "d" / "run")
    assert dask_run.task == local.task == "regression" and dask_run.features == local.features
    boards = {r: run.leaderboard.set_index("candidate") for r, run in (("local", local), ("dask", dask_run))}
    pd.testing.assert_series_equal(boards["dask"].loc["ridge", ["rmse", "mae", "r2"]].astype(float),
                                   boards["local"].loc["ridge", ["rmse", "mae", "r2"]].astype(float), rtol=1e-9)
    for name in ("xgboost", "lightgbm"):
        assert abs(boards["dask"].loc[name, "rmse"] - boards["local"].loc[name, "rmse"]) <= RMSE_SHARE * boards["local"].loc[name, "rmse"]
    assert boards["dask"].loc[dask_run.best.name, "rmse"] < boards["dask"].loc["mean", "rmse"] / 2


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_lightgbm_loss_path_matches_lightgbm_for_every_task(task: str) -> None:
    """The after-the-fact early stopping on Dask uses the task's own metric (multi_logloss, l2), exactly (in-process)."""
    import dask.dataframe as dd
    import lightgbm as lgb

    from kit.compute.train import early_stopping_iteration, validation_loss_path
    from kit.training.pipeline import model_params

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(1500, 4)), columns=list("abcd"))
    if task == "multiclass":
        y = ((X.a + rng.normal(size=1500) > 0).astype(int) + (X.b > 0.5).astype(int)).to_numpy()
    else:
        y = (3 * X.a + X.b ** 2 + rng.normal(size=1500)).to_numpy()
    params = {**model_params("lightgbm", None, 7, task, 3), "verbose": -1}
    train, valid = slice(0, 1000), slice(1000, 1500)
    full = lgb.train(params, lgb.Dataset(X[train], y[train]), num_boost_round=120)
    losses = validation_loss_path(full, dd.from_pandas(X[valid].reset_index(drop=True), npartitions=3),
                                  dd.from_pandas(pd.Series(y[valid], name="y"), npartitions=3), None, None, task)
    for k in (1, 60, 120):
        p = full.predict(X[valid], num_iteration=k)
        expected = (-np.mean(np.log(p[np.arange(500), y[valid]])) if task == "multiclass"
                    else np.mean((p - y[valid]) ** 2))
        assert losses[k - 1] == pytest.approx(expected, rel=1e-9)
    stopped = lgb.train(params, lgb.Dataset(X[train], y[train]), num_boost_round=120,
                        valid_sets=[lgb.Dataset(X[valid], y[valid])], callbacks=[lgb.early_stopping(10, verbose=False)])
    assert early_stopping_iteration(losses, 10) + 1 == stopped.best_iteration


def test_baseline_sample_is_all_rows_when_small_else_seeded() -> None:
    from kit.training.dask_steps import baseline_rows

    train = np.array([9, 3, 7, 1, 5])
    np.testing.assert_array_equal(baseline_rows(train, 5, 0), train)  # every row, in the split's order
    drawn = baseline_rows(np.arange(1000), 100, 42)
    assert len(drawn) == 100 == len(np.unique(drawn)) and (np.diff(drawn) > 0).all()
    np.testing.assert_array_equal(drawn, baseline_rows(np.arange(1000), 100, 42))  # the same seed, the same rows
    assert not np.array_equal(drawn, baseline_rows(np.arange(1000), 100, 43))


def test_scores_come_back_in_the_split_order_and_labels_by_position() -> None:
    """In-process (no client): a time-ordered part lists positions out of order; scores and labels follow it."""
    import dask.dataframe as dd

    from kit.compute.lazy import LazyData
    from kit.training.dask_steps import LABEL, gather_scores, labelled, shared_labels

    frame = pd.DataFrame({"a": np.arange(12, dtype=float) * 10, "b": np.arange(12) % 3})
    data = LazyData(dd.from_pandas(frame, npartitions=3, sort=True), 12, [], None)
    order = np.array([7, 2, 11, 0, 5])  # e.g. the test rows sorted by time
    got = gather_scores(data, lambda rows: rows["a"].to_numpy(), data.subset(order), order)
    np.testing.assert_array_equal(got, frame["a"].to_numpy()[order])
    wide = gather_scores(data, lambda rows: rows[["a", "b"]].to_numpy(), data.subset(order), order, width=2)
    np.testing.assert_array_equal(wide, frame[["a", "b"]].to_numpy()[order])
    y = np.arange(12) * 3 % 5
    rows = labelled(data, order, ["a"], shared_labels(y), np.int64)
    (out,) = data.compute(rows)
    assert list(out.index) == sorted(order) and list(out.columns) == ["a", LABEL]
    np.testing.assert_array_equal(out[LABEL].to_numpy(), y[np.sort(order)])


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_multiclass_boosters_on_dask_within_bound_of_local(cluster, algorithm: str) -> None:
    """Adult marital status (3 classes): train_dask with the multiclass objective, macro F1 near the local one."""
    import dask.dataframe as dd
    from distributed import Client
    from sklearn.metrics import f1_score
    from types import SimpleNamespace

    import task_models as tm
    from kit.compute.train import train_dask
    from kit.training.pipeline import _fit_boosted, infer_categories

    data = tm.adult_marital()
    settings = SimpleNamespace(max_trees=150, early_stopping_rounds=15, tuning=SimpleNamespace(trials=0, seconds=None),
                               selection_metric=None, threshold=None)
    meta = {"task": "multiclass", "classes": data.classes}
    lazy = lambda X, y, n: (dd.from_pandas(X.reset_index(drop=True), npartitions=n, sort=False),  # noqa: E731
                            dd.from_pandas(pd.Series(y, name="y"), npartitions=n, sort=False))
    with Client(cluster, set_as_default=False) as client:
        model = train_dask(client, algorithm, *lazy(data.X_train, data.y_train, 3), *lazy(data.X_valid, data.y_valid, 2),
                           settings, seed=7, pos_weight=None, **meta)
    assert model.task == "multiclass" and "scale_pos_weight" not in model.info["params"]
    assert model.info["params"]["num_class"] == 3 if algorithm == "xgboost" else model.booster.num_model_per_iteration() == 3
    assert 5 <= model.info["trees"] <= settings.max_trees  # xgboost may use them all at learning rate 0.05
    local = _fit_boosted(algorithm, data.X_train, data.y_train, data.X_valid, data.y_valid, settings, 7, None,
                         list(data.X_train.columns), infer_categories(data.X_train), meta).model
    f1 = {name: f1_score(data.y_test, m.predict(data.X_test), average="macro") for name, m in (("dask", model), ("local", local))}
    assert abs(f1["dask"] - f1["local"]) <= 0.02 and f1["dask"] > 0.6


def test_baselines_on_a_stated_seeded_sample_of_a_large_training_part(demo, monkeypatch) -> None:
    """Above the cap the baselines see a seeded sample (stated in the engine record and a training note); the
    boosters are not involved, so none is trained here."""
    from kit.training import dask_steps

    run = demo["dask"]
    monkeypatch.setattr(dask_steps, "baseline_cap", lambda: 1000)
    settings = run.settings.model_copy(update={"algorithms": []})
    meta = {"target": run.spec.target, "positive_class": run.target.positive_class,
            "negative_class": run.target.negative_class, "task": run.task, "classes": run.target.classes}
    candidates, facts = dask_steps.train_candidates_dask(run.lazy, run.split.parts, run.y, run.features, settings,
                                                         run.seed, **meta)
    sample = dask_steps.baseline_rows(run.split.parts["train"], 1000, run.seed)
    assert facts["baseline_sample"] == {"rows": 1000, "of_training_rows": len(run.split.parts["train"]), "seed": 42,
                                        "all_rows": False, "cap": 1000}
    assert set(sample) <= set(run.split.parts["train"])
    majority = next(c for c in candidates if c.name == "majority")
    assert majority.params["positive_rate"] == pytest.approx(run.y[sample].mean())  # the sample's rate, not all rows'
    assert len(majority.valid_proba) == len(run.split.parts["valid"])  # scored on every validation row
    assert len(majority.extra["test_proba"]) == len(run.split.parts["test"])
    note = dask_steps.sample_notes(facts)
    assert len(note) == 1 and "1,000 of the 4,225 training rows (seed 42" in note[0]
    assert dask_steps.sample_notes(run.engine) == []  # the demo's baselines saw every training row


def test_a_search_on_dask_tries_the_local_draws(demo) -> None:
    """training.tuning.trials on Dask: the same seeded draws as locally, each trained on the cluster."""
    from kit.training.dask_steps import train_candidates_dask
    from kit.training.pipeline import _sample_params
    from kit import content

    run = demo["dask"]
    settings = run.settings.model_copy(update={"algorithms": ["xgboost"],
                                               "tuning": run.settings.tuning.model_copy(update={"trials": 1})})
    meta = {"target": run.spec.target, "positive_class": run.target.positive_class,
            "negative_class": run.target.negative_class, "task": run.task, "classes": run.target.classes}
    candidates, _ = train_candidates_dask(run.lazy, run.split.parts, run.y, run.features, settings, run.seed, **meta)
    booster = candidates[-1]
    drawn = _sample_params(content.load("training")["tuning_space"]["xgboost"], np.random.default_rng(run.seed))
    default = content.load("training")["models"]["xgboost"]
    assert booster.name == "xgboost" and booster.trials == 2
    assert booster.params["learning_rate"] in (default["learning_rate"], drawn["learning_rate"])
    assert booster.params["max_depth"] in (default["max_depth"], drawn["max_depth"])


def test_local_engine_runs_without_dask(mlflow_store_template, tmp_path: Path) -> None:
    """compute.engine local (the default): the phase never imports dask and records the local engine."""
    import subprocess
    import sys

    config = demo_config(tmp_path / "cfg", mlflow_store_template, training={"track": False, "bootstrap": 20})
    script = f"""
import sys
from kit.notebook import start
from kit.training.phase import TrainingRun
run = TrainingRun(start({str(config)!r}, {str(tmp_path / "run")!r}, interactive=False))
for step in ("inputs", "load", "make_split", "check_quality", "build_contract", "train", "check_gates", "register"):
    getattr(run, step)()
assert run.artifact()["engine"] == {{"name": "local"}}, run.engine
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_parquet_sets_sha256_covers_every_file(tmp_path: Path) -> None:
    """The artifact's dataset sha256 of a Parquet folder: each file's name and bytes (a single file: its sha256)."""
    import hashlib

    from kit.training.dask_steps import dataset_sha256

    frame = pd.DataFrame({"a": range(6), "y": [0, 1] * 3})
    for i in range(2):
        frame.iloc[3 * i: 3 * i + 3].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    first = dataset_sha256(tmp_path)
    assert dataset_sha256(tmp_path / "*.parquet") == first  # the folder and its glob name the same files
    single = tmp_path / "part-0.parquet"
    assert dataset_sha256(single) == hashlib.sha256(single.read_bytes()).hexdigest()
    frame.iloc[3:].assign(a=99).to_parquet(tmp_path / "part-1.parquet", index=False)
    assert dataset_sha256(tmp_path) != first  # one file changed
