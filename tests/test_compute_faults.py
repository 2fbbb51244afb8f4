"""A Dask worker (or every worker, or the scheduler) dies mid-run: the result is unchanged, the training is retried
on the workers left, or the run fails with a ClusterError naming what died, where and the fix; never a hang.

Every kill is checked to have happened while the step ran, with tasks processing on the victim (a kill before or
after the step would prove nothing).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import dask
import dask.dataframe as dd
import distributed  # noqa: F401  imported before any dask.config.set, whose exit would drop its config
import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import two_workers
from kit.compute import faults
from kit.compute.faults import ClusterError
from tests.test_compute_cluster import lazy, telco  # noqa: F401  (the module-scoped Telco split fixture)

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).with_name("dask")


class Killer(threading.Thread):
    """Kills a worker as soon as the scheduler shows a matching task processing on it (``times`` times; with
    ``every``, all the workers at once), recording when, whom and what it was running."""

    def __init__(self, client, match: Callable[[str], bool] = lambda key: True, times: int = 1, delay: float = 0.0,
                 every: bool = False) -> None:
        super().__init__(daemon=True)
        self.client, self.match, self.times, self.delay, self.every = client, match, times, delay, every
        self.kills: list[tuple[float, str, list[str]]] = []
        self.seen: set[str] = set()  # workers there at an earlier kill: the next kill waits for a new worker
        self.done = threading.Event()

    def run(self) -> None:
        """Poll ``client.processing()``; kill the first worker running a matching task; wait until it is gone."""
        deadline = time.monotonic() + 240
        while len(self.kills) < self.times and not self.done.is_set() and time.monotonic() < deadline:
            busy = {w: [str(k) for k in keys] for w, keys in self.client.processing().items()}
            hit = next((w for w, keys in busy.items() if w not in self.seen and any(self.match(k) for k in keys)), None)
            if hit is None:
                time.sleep(0.02)
                continue
            time.sleep(self.delay)
            victims = sorted(busy) if self.every else [hit]
            self.seen.update(self.client.scheduler_info()["workers"])  # (an attempt's survivors are restarted)
            self.kills.append((time.monotonic(), ", ".join(victims), busy[hit]))
            try:
                self.client.run(os._exit, 1, workers=victims)
            except Exception:  # noqa: BLE001  the worker dies before it answers: that is the point
                pass
            while set(victims) & set(self.client.scheduler_info()["workers"]):
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop polling (the step is over)."""
        self.done.set()
        self.join(30)


def killed_during(killer: Killer, start: float, end: float, times: int = 1) -> list[str]:
    """The victims, asserting each kill landed while the step ran and the victim was running a matching task."""
    assert len(killer.kills) == times, f"expected {times} kill(s) during the step, got {killer.kills}"
    for when, victim, keys in killer.kills:
        assert start < when < end, "the worker was killed outside the step: the test proves nothing"
        assert any(killer.match(k) for k in keys), keys
    return [victim for _, victim, _ in killer.kills]


def _cluster():
    """Two worker processes under nannies (a killed worker comes back at a new address), 1 GiB each; a task may
    lose one worker and run again (allowed-failures 1), so a task that kills every worker fails fast."""
    from distributed import Client

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), two_workers(silence_logs=50) as cluster, \
            Client(cluster) as c:
        yield c


client = pytest.fixture(scope="module", name="client")(_cluster)
own_client = pytest.fixture(name="own_client")(_cluster)  # for the test that may leave its cluster without workers


def _ready(client, n: int = 2) -> None:
    """Wait until the cluster is back to ``n`` workers after an earlier test's kill."""
    client.wait_for_workers(n, timeout=120)


SETTINGS = SimpleNamespace(max_trees=300, early_stopping_rounds=300)
LONG = SimpleNamespace(max_trees=3000, early_stopping_rounds=3000)  # long enough to be caught by two kills
TRAINING_TASK = {"xgboost": lambda key: key.startswith("fn-"), "lightgbm": lambda key: key.startswith("_train_part")}


# ---- (a) drift: Dask recomputes the lost partitions; the figures do not change ---------------------------------
def test_drift_is_unchanged_when_a_worker_dies_mid_run(client, telco) -> None:  # noqa: F811
    from kit.compute.drift import drift_table_dask, profile_reference_dask

    _ready(client)
    (Xtr, _), (Xte, _) = telco["train"], telco["test"]
    ref = pd.concat([Xtr] * 6, ignore_index=True)
    ref_dd, cur_dd = dd.from_pandas(ref, npartitions=24), dd.from_pandas(Xte, npartitions=8)
    features = list(Xtr.columns)
    expected = drift_table_dask(profile_reference_dask(ref_dd, features), cur_dd)  # in-process, undisturbed
    killer = Killer(client)
    killer.start()
    start = time.monotonic()
    got = drift_table_dask(profile_reference_dask(ref_dd, features, client=client), cur_dd, client=client)
    end = time.monotonic()
    killer.stop()
    victim = killed_during(killer, start, end)[0]
    assert victim not in client.scheduler_info()["workers"]
    pd.testing.assert_frame_equal(got, expected)


# ---- (b) training: the collective breaks; the kit trains again on the workers left ---------------------------
@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_training_is_retried_on_the_workers_left_when_one_dies_mid_training(client, telco, algorithm) -> None:  # noqa: F811
    from kit.compute.train import train_dask

    _ready(client)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = telco["train"], telco["valid"], telco["test"]
    killer = Killer(client, TRAINING_TASK[algorithm], delay=0.3)
    killer.start()
    start = time.monotonic()
    model = train_dask(client, algorithm, *lazy(Xtr, ytr, 4), *lazy(Xva, yva, 2), SETTINGS, seed=7, pos_weight=1.0)
    end = time.monotonic()
    killer.stop()
    victim = killed_during(killer, start, end)[0]
    assert model.info["retried"].startswith(f"retried after worker {victim} died during training on Dask (")
    assert type(model.booster).__module__.split(".")[0] == algorithm and model.info["trees"] >= 5
    assert roc_auc_score(yte, model.predict_proba(Xte)) > 0.8  # a valid booster, trained on every row again


def test_training_that_loses_a_worker_twice_is_a_cluster_error(own_client, telco) -> None:  # noqa: F811
    """LightGBM: XGBoost's tracker runs in the scheduler's process (here: the test's) and was seen to abort it
    (SIGABRT in xgboost.tracker.wait_for) when its workers died twice in a row."""
    from kit.compute.train import train_dask

    _ready(own_client)
    (Xtr, ytr), (Xva, yva) = telco["train"], telco["valid"]
    killer = Killer(own_client, TRAINING_TASK["lightgbm"], delay=0.3, times=2)
    killer.start()
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        train_dask(own_client, "lightgbm", *lazy(Xtr, ytr, 4), *lazy(Xva, yva, 2), LONG, seed=7, pos_weight=1.0)
    end = time.monotonic()
    killer.stop()
    first, second = killed_during(killer, start, end, times=2)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("compute (Dask): ")
    assert f"worker {second} died during training on Dask" in message  # what died, where
    assert f"retried after worker {first} died" in message  # the retry, and what it answered
    assert "compute.memory_limit, now 1.0 GiB per worker" in message and "run again" in message  # the fix
    assert caught.value.__suppress_context__  # no traceback soup under it


# ---- (c) SHAP contributions per partition: unchanged ---------------------------------------------------------
def test_shap_contributions_are_unchanged_when_a_worker_dies_mid_run(client, telco) -> None:  # noqa: F811
    from kit.compute.train import contributions_dask, global_importance_dask, train_dask
    from kit.explain.shapley import exact_contributions, global_importance

    _ready(client)
    (Xtr, ytr), (Xva, yva), (Xte, _) = telco["train"], telco["valid"], telco["test"]
    model = train_dask(client, "xgboost", *lazy(Xtr, ytr, 2), *lazy(Xva, yva, 2),
                       SimpleNamespace(max_trees=60, early_stopping_rounds=60), seed=7, pos_weight=1.0)
    X = pd.concat([Xte] * 4, ignore_index=True)
    X_dd = dd.from_pandas(X, npartitions=16)
    local = exact_contributions(model.booster, model.prepare(X).set_axis(model.booster_features, axis=1))
    killer = Killer(client, lambda key: "partition_contributions" in key)
    killer.start()
    start = time.monotonic()
    (got,) = faults.compute(client, "SHAP contributions on Dask", contributions_dask(model, X_dd))
    end = time.monotonic()
    killer.stop()
    killed_during(killer, start, end)
    np.testing.assert_allclose(got[model.features].to_numpy(), local.values.to_numpy(), rtol=1e-5, atol=1e-6)
    table = global_importance_dask(model, X_dd, client)
    pd.testing.assert_frame_equal(table, global_importance(type(local)(local.values.set_axis(model.features, axis=1),
                                                                       local.base)), rtol=1e-5, atol=1e-7)


# ---- a task that kills every worker it runs on (a partition too big for a worker) ------------------------------
def _dies(part: pd.DataFrame) -> pd.DataFrame:
    """A partition that takes its worker down (as one too large for the worker's memory would)."""
    if len(part) and part["x"].iloc[0] == 0:
        os._exit(1)
    return part


def test_a_partition_that_kills_every_worker_is_a_cluster_error_naming_the_task(client) -> None:
    _ready(client)
    frame = dd.from_pandas(pd.DataFrame({"x": np.arange(400)}), npartitions=4).map_partitions(_dies)
    with pytest.raises(ClusterError) as caught:
        faults.compute(client, "the stand-in step", frame["x"].sum())
    message = str(caught.value)
    assert message.startswith("compute (Dask): task '_dies-") and "killed every worker that ran it (2 attempts" in message
    assert "during the stand-in step" in message and "compute.memory_limit, now 1.0 GiB per worker" in message


# ---- no worker left, scheduler gone: a ClusterError, not a hang ------------------------------------------------
def _start(args: list[str]) -> subprocess.Popen:
    """A ``dask`` command-line process (scheduler or worker) of a cluster without nannies."""
    return subprocess.Popen([str(DASK), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"})


@pytest.fixture
def bare_cluster(tmp_path: Path):
    """A scheduler and two workers as separate processes, no nanny: a killed worker stays dead."""
    from distributed import Client

    file = tmp_path / "scheduler.json"
    procs = [_start(["scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)])]
    try:
        for _ in range(600):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        procs += [_start(["worker", "--scheduler-file", str(file), "--no-nanny", "--nthreads", "1",
                          "--memory-limit", "1GiB", "--no-dashboard"]) for _ in range(2)]
        with Client(scheduler_file=str(file), timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
            yield c, procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _slow(part: pd.DataFrame) -> pd.DataFrame:
    """A partition that takes a moment (so the step is still running when the cluster goes)."""
    time.sleep(0.5)
    return part


def test_killing_every_worker_is_a_cluster_error_not_a_hang(bare_cluster, monkeypatch) -> None:
    client, _ = bare_cluster
    monkeypatch.setattr(faults, "settings", lambda: {"poll_seconds": 0.2, "stuck_after_seconds": 3,
                                                     "restart_seconds": 10, "training_retries": 1})
    frame = dd.from_pandas(pd.DataFrame({"x": np.arange(2000)}), npartitions=20).map_partitions(_slow)
    killer = Killer(client, lambda key: "_slow" in key, every=True)
    killer.start()
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        faults.compute(client, "the stand-in step", frame["x"].sum())
    end = time.monotonic()
    killer.stop()
    victims = killed_during(killer, start, end)[0].split(", ")
    assert len(victims) == 2 and end - start < 60  # both died; the error came within seconds, not never
    message = str(caught.value)
    assert message.startswith("compute (Dask): no worker left in the cluster at tcp://")
    assert f"workers {victims[0]}, {victims[1]} died" in message and "during the stand-in step" in message
    assert "check the cluster's workers are running" in message


def test_a_scheduler_that_dies_mid_run_is_a_cluster_error_not_a_hang(bare_cluster) -> None:
    client, procs = bare_cluster
    frame = dd.from_pandas(pd.DataFrame({"x": np.arange(2000)}), npartitions=20).map_partitions(_slow)
    address = client.scheduler.address
    box: dict[str, float] = {}

    def kill_scheduler() -> None:
        """SIGKILL the scheduler once a task runs."""
        while not any(client.processing().values()):
            time.sleep(0.02)
        box["when"] = time.monotonic()
        procs[0].kill()

    threading.Thread(target=kill_scheduler, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        faults.compute(client, "the stand-in step", frame["x"].sum())
    end = time.monotonic()
    assert start < box["when"] < end and end - start < 120
    message = str(caught.value)
    assert message.startswith(f"compute (Dask): the scheduler at {address} stopped answering during the stand-in step")
    assert "restart the cluster (or fix compute.address / KIT_CLUSTER) and run again" in message


# ---- the chain: a phase whose worker dies ends `failed` with the ClusterError; the earlier report stays ---------
DYING_PHASE = '''
import os, pathlib
import dask.dataframe as dd, pandas as pd
from kit.compute.engine import client_for
from kit.compute.faults import compute

def _work(part):
    """Take the worker down when the test asks (as a partition too big for its memory would)."""
    marks = os.environ.get("KIT_TEST_KILL_MARKS")
    if marks:
        pathlib.Path(marks, f"died-{os.getpid()}").touch()
        os._exit(1)
    return part

data = pd.DataFrame({"x": range(400)})
frame = dd.from_pandas(data, npartitions=4).map_partitions(_work, meta=data.iloc[:0])  # meta: not run in the kernel
total = compute(client_for(ctx.config.compute), "the stand-in phase", frame["x"].sum())[0]
assert total == sum(range(400))
'''


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_phase_whose_workers_die_fails_the_run_and_keeps_the_earlier_report(tmp_path: Path, monkeypatch) -> None:
    from kit.chain import run_chain
    from tests.test_chain_faults import _leftovers, _with_body
    from tests.test_chain_mechanics import make_config

    notebooks = _with_body(tmp_path / "notebooks", DYING_PHASE)
    config = make_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["compute"] = {"engine": "dask", "n_workers": 2, "threads_per_worker": 1, "memory_limit": "1GiB"}
    config.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("KIT_CLUSTER", raising=False)
    out = tmp_path / "report"
    good, landed = run_chain(config, out=out, notebook_dir=notebooks, progress=None)
    assert good.status == "ok" and landed == out
    before = _files(out)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("KIT_TEST_KILL_MARKS", str(marks))  # the kit's workers and kernels inherit it
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):  # read by the cluster the kit starts
        failed, landed = run_chain(config, out=out, notebook_dir=notebooks, progress=None, force=True)
    assert len(list(marks.iterdir())) >= 1, failed.failed_phase()  # a worker process really died during the run
    assert failed.status == "failed" and landed == tmp_path / "report.failed"
    phase = failed.failed_phase()
    assert phase.name == "use_cases"
    assert phase.error.startswith("ClusterError: compute (Dask): task '")  # (dask fuses _work with its input)
    assert "killed every worker that ran it (2 attempts" in phase.error and "during the stand-in phase" in phase.error
    assert "compute.memory_limit, now 1.0 GiB per worker" in phase.error
    index = (landed / "index.html").read_text()
    assert "ClusterError: compute (Dask): task" in index and "killed every worker that ran it" in index
    assert json.loads((landed / "manifest.json").read_text())["status"] == "failed"
    assert _files(out) == before  # the earlier good report: not overwritten, not half-written
    assert _leftovers(tmp_path) == []  # no build folder left behind


def test_the_training_phase_on_dask_fails_clearly_when_its_workers_die(tmp_path: Path, monkeypatch) -> None:
    from distributed import Client

    from kit.chain import run_chain

    config = tmp_path / "demo.yaml"
    data = yaml.safe_load((ROOT / "data" / "configs" / "demo.yaml").read_text())
    data["dataset"]["path"] = str((ROOT / "data" / "configs" / data["dataset"]["path"]).resolve())
    data["use_cases"]["portfolio_path"] = str((ROOT / "data" / "configs" / data["use_cases"]["portfolio_path"]).resolve())
    data["training"]["tracking_uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data["compute"] = {"engine": "dask", "n_workers": 2, "threads_per_worker": 1, "memory_limit": "1GiB"}
    config.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("KIT_CLUSTER", raising=False)
    box: dict[str, Killer] = {}

    def kill_under_training() -> None:
        """Join the cluster the chain starts (its address is published in KIT_CLUSTER) and kill twice."""
        while not os.environ.get("KIT_CLUSTER"):
            time.sleep(0.1)
        with Client(os.environ["KIT_CLUSTER"], set_as_default=False) as c:
            box["killer"] = Killer(c, lambda key: key.startswith(("fn-", "_train_part")), delay=0.3, times=2)
            box["killer"].run()

    threading.Thread(target=kill_under_training, daemon=True).start()
    manifest, landed = run_chain(config, out=tmp_path / "r", progress=None)
    kills = len(box["killer"].kills)
    assert kills >= 1  # a worker really died under training
    if manifest.status == "failed":  # the retry failed too (killed again, or stuck on a worker that died): the
        failed = manifest.failed_phase()  # clear error, and the report landed as failed
        assert failed.name == "training", (kills, failed.name, failed.error)
        assert failed.error.startswith("ClusterError: compute (Dask): ") and "training on Dask" in failed.error
        assert "ClusterError" in (landed / "index.html").read_text()
    else:  # the retry finished on the workers left before the second kill: the run goes on and says so
        training = json.loads((landed / "artifacts" / "training.json").read_text())
        assert any("retried after worker" in w and "training on Dask" in w for w in training["warnings"])
        assert manifest.failed_phase() is None


# ---- a step whose tasks wait for inputs nothing computes any more: a ClusterError, not a hang ------------------
class ScriptedScheduler:
    """A client whose scheduler answers every look with the next scripted view (the last one repeats)."""

    def __init__(self, views: list[dict]) -> None:
        self.views, self.status, self.restarted = views, "running", []
        self.scheduler = SimpleNamespace(address="tcp://scheduler:8786")

    def restart_workers(self, workers: list[str], **kwargs) -> None:
        """Record the workers the kit restarts after a broken collective."""
        self.restarted += workers

    def run_on_scheduler(self, fn: Callable) -> dict:
        """The next view (the function is what the real scheduler would run)."""
        return self.views.pop(0) if len(self.views) > 1 else self.views[0]


def _view(stalled: list[str], workers: tuple[str, ...] = ("tcp://w1",)) -> dict:
    """A scheduler view: workers of 1 GiB, nothing unrunnable, these tasks waiting for inputs while nothing runs."""
    return {"workers": {w: 2**30 for w in workers}, "nannied": list(workers), "waiting": {}, "stalled": stalled}


@pytest.mark.parametrize("collective", [False, True])
def test_a_step_stalled_on_lost_inputs_is_a_cluster_error_not_a_hang(monkeypatch, collective: bool) -> None:
    """Seen under load in a training retry: the cluster idle, the DMatrix's tasks 'waiting' on erred inputs, and
    xgboost.dask waiting for them for ever."""
    monkeypatch.setattr(faults, "settings", lambda: {"poll_seconds": 0.05, "stuck_after_seconds": 0.5,
                                                     "restart_seconds": 1, "training_retries": 1})
    client = ScriptedScheduler([_view(["old-stuck"], ("tcp://w1", "tcp://w2"))] * 3
                               + [_view(["old-stuck", "first_valid-1", "finalize-2"])])
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        faults.run_guarded("training on Dask", client, release.wait, collective=collective)
    release.set()
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert message == ("compute (Dask): the cluster stopped making progress during training on Dask: 2 task(s) waited "
                       "0.5 s for inputs that no worker computes (worker tcp://w2 died, and its data with it); give "
                       "each worker more memory (compute.memory_limit, now 1.0 GiB per worker; running out of memory "
                       "is the usual cause), use lighter partitions (more, smaller Parquet files) or fewer features, "
                       "or run again")
    assert caught.value.retryable and caught.value.died == ("tcp://w2",) and caught.value.workers_before == 2
    assert client.restarted == (["tcp://w1"] if collective else [])  # a broken collective's survivor starts afresh


def test_tasks_stalled_before_the_step_or_a_busy_cluster_do_not_stop_it(monkeypatch) -> None:
    monkeypatch.setattr(faults, "settings", lambda: {"poll_seconds": 0.05, "stuck_after_seconds": 0.3,
                                                     "restart_seconds": 1, "training_retries": 1})
    client = ScriptedScheduler([_view(["someone-elses"])])  # stuck before the step began: not the step's own
    assert faults.run_guarded("the stand-in step", client, lambda: time.sleep(1.0) or "done") == "done"
    client = ScriptedScheduler([_view([]), _view(["mine"]), _view([])] * 20)  # waits, but never for long
    assert faults.run_guarded("the stand-in step", client, lambda: time.sleep(1.0) or "done") == "done"
