"""Faults around the chain: hostile destinations, dying kernels and workers, full disks, races, leftovers."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import kit.chain as chain
from kit.__main__ import main
from kit.chain import DestinationError, RunFault, failure_reason, run_chain
from kit.training.registry import Registry, RegistryError
from tests.test_chain_mechanics import make_config, make_notebooks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_notebooks(tmp_path_factory.mktemp("nb") / "notebooks")


def _with_body(folder: Path, use_cases_body: str) -> Path:
    """Stand-in notebooks whose use-case phase runs ``use_cases_body`` after a cell that prints a marker."""
    make_notebooks(folder)
    path = folder / "01_use_cases.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1:] = [nbformat.v4.new_code_cell("print('cell before the fault ran')"),
                     nbformat.v4.new_code_cell(use_cases_body)]
    nbformat.write(nb, path)
    return folder


def _leftovers(folder: Path) -> list[str]:
    """Hidden build, backup and lock files the chain may leave in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---- 1. --force replaces only a kit report ---------------------------------------------------
def test_force_refuses_a_folder_that_is_not_a_kit_report(tmp_path: Path, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    config = make_config(project)
    (project / "notes.md").write_text("my notes")
    (project / "data.csv").write_text("a,b\n1,2\n")
    code = main(["run", str(config), "--out", str(project), "--force"])
    assert code == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a kit report" in err and str(project) in err
    assert sorted(p.name for p in project.iterdir()) == ["data.csv", "notes.md", "unit.yaml"]
    assert (project / "notes.md").read_text() == "my notes"


def test_force_replaces_a_kit_report_of_today_and_an_empty_folder_needs_no_force(notebooks: Path,
                                                                                 tmp_path: Path) -> None:
    config = make_config(tmp_path)
    out = tmp_path / "r"
    out.mkdir()  # empty: used without --force
    manifest, landed = run_chain(config, out=out, notebook_dir=notebooks, progress=None)
    assert landed == out and manifest.status == "ok"
    data = json.loads((out / "manifest.json").read_text())
    assert data["kind"] == "kit-report"
    del data["kind"]  # a manifest written before the marker existed is still recognised
    (out / "manifest.json").write_text(json.dumps(data))
    (out / "stale.txt").write_text("from the old report")
    again, landed = run_chain(config, out=out, notebook_dir=notebooks, progress=None, force=True)
    assert again.status == "ok" and not (out / "stale.txt").exists()
    assert _leftovers(tmp_path) == []


def test_batch_refuses_a_folder_whose_index_it_did_not_write(tmp_path: Path, capsys) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html>my web site</html>")
    code = main(["batch", str(make_config(tmp_path)), "--out", str(tmp_path / "site"), "--force"])
    assert code == 3 and "index.html the kit did not write" in capsys.readouterr().err
    assert (tmp_path / "site" / "index.html").read_text() == "<html>my web site</html>"
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html"]


# ---- 2. a kernel that dies mid-phase keeps what ran --------------------------------------------
def test_a_second_batch_into_a_busy_batch_folder_is_refused_and_writes_nothing(tmp_path: Path, capsys) -> None:
    """Two batches into one folder would rewrite each other's index (and race for every run folder)."""
    config, out = make_config(tmp_path), tmp_path / "batch"
    out.mkdir()
    index = out / "index.html"
    index.write_text("<title>Batch report</title> the first batch's index")
    with chain.destination_lock(out.resolve(), what="batch"):  # the first batch, still running
        assert main(["batch", str(config), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"busy, another kit batch (pid {os.getpid()}) is writing this batch; wait for it to finish" in err
    assert index.read_text() == "<title>Batch report</title> the first batch's index"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # no run folder started
    assert not any(p.name.endswith(".lock") for p in tmp_path.iterdir())  # the lock went with its holder


def test_a_kernel_killed_mid_phase_keeps_the_notebook_with_the_failure_visible(tmp_path: Path) -> None:
    notebooks = _with_body(tmp_path / "notebooks", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    manifest, landed = run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    failed = manifest.failed_phase()
    assert failed.name == "use_cases" and failed.error.startswith("DeadKernelError")
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    texts = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "cell before the fault ran\n" in texts
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert [e["ename"] for e in errors] == ["DeadKernelError"]
    assert failed.html == "01_use_cases.html"
    html = (landed / "01_use_cases.html").read_text()
    assert "DeadKernelError" in html and "cell before the fault ran" in html


# ---- 3. batch: any failure fails one config, and the index is always written -------------------
def _worker_job(config_path: str, out: str, force: bool, no_input: bool, phases: str | None,
                cell_timeout: int | None = None) -> dict:
    """A batch job for spawn workers: stand-in notebooks; 'die' kills its worker, 'boom' fails outside the kit."""
    import kit.batch
    import kit.chain

    stem = Path(config_path).stem
    if stem == "die":
        os._exit(9)
    saved = kit.chain.NOTEBOOK_DIR, kit.chain.write_json
    kit.chain.NOTEBOOK_DIR = Path(os.environ["KIT_TEST_NOTEBOOKS"])
    if stem == "boom":
        def broken(*args, **kwargs):
            raise RuntimeError("disk controller on fire\nsecond line")
        kit.chain.write_json = broken
    try:
        return kit.batch._run_one(config_path, out, force, no_input, phases, cell_timeout)
    finally:
        kit.chain.NOTEBOOK_DIR, kit.chain.write_json = saved


def test_batch_survives_a_killed_worker_and_a_non_kit_error(notebooks: Path, tmp_path: Path, monkeypatch) -> None:
    from kit import batch

    monkeypatch.setenv("KIT_TEST_NOTEBOOKS", str(notebooks))
    monkeypatch.setattr(batch, "_run_one", _worker_job)  # pickled by reference: spawn workers import this module
    configs = [make_config(tmp_path, name) for name in ("good", "die", "boom", "also_good")]
    results = batch.run_batch(configs, out=tmp_path / "batch", workers=2, show_progress=False)
    assert [r["status"] for r in results] == ["ok", "failed", "failed", "ok"]
    assert "worker process died" in results[1]["error"]
    assert results[2]["error"] == "RuntimeError: disk controller on fire"
    page = (tmp_path / "batch" / "index.html").read_text()
    assert "2 passed, 2 failed" in page and "worker process died" in page
    assert _leftovers(tmp_path / "batch") == []  # runs killed with the pool left build folders: cleaned on retry


BATCH_RUNNER = """
import sys
import kit.batch
import tests.test_chain_faults
from kit.chain import on_sigterm
kit.batch._run_one = tests.test_chain_faults._worker_job
on_sigterm()
try:
    kit.batch.run_batch(sys.argv[1:3], out=sys.argv[3], workers=2, show_progress=False)
except KeyboardInterrupt:
    sys.exit(143)
"""


def test_sigterm_stops_a_batch_cleanly_with_its_index(tmp_path: Path) -> None:
    notebooks = _with_body(tmp_path / "notebooks", "import time\ntime.sleep(120)")
    configs = [str(make_config(tmp_path, name)) for name in ("north", "south")]
    batch_dir = tmp_path / "batch"
    proc = subprocess.Popen([sys.executable, "-c", BATCH_RUNNER, *configs, str(batch_dir)], cwd=ROOT,
                            env={**os.environ, "KIT_TEST_NOTEBOOKS": str(notebooks)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while len(list(batch_dir.glob(".*.tmp-*/artifacts/readiness.json"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert time.time() < deadline, "the two runs did not reach their sleeping phase"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    page = (batch_dir / "index.html").read_text()
    assert "0 passed, 2 failed" in page
    assert _leftovers(batch_dir) == []  # the workers cleaned up their build folders


def test_an_interrupted_batch_still_writes_its_index(notebooks: Path, tmp_path: Path, monkeypatch) -> None:
    from kit import batch

    def interrupted(jobs, workers, done):
        done(jobs[0], {"name": "a", "config": jobs[0][0], "status": "ok", "seconds": 1.0, "report": None,
                       "error": None})
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_run_pool", interrupted)
    with pytest.raises(KeyboardInterrupt):
        batch.run_batch([make_config(tmp_path, "a"), make_config(tmp_path, "b")], out=tmp_path / "batch",
                        show_progress=False)
    page = (tmp_path / "batch" / "index.html").read_text()
    assert "1 passed, 1 failed" in page and "not run: the batch was interrupted" in page


# ---- 4. one meaningful line for each failure ---------------------------------------------------
SQLALCHEMY = ("(sqlite3.OperationalError) attempt to write a readonly database\n"
              "[SQL: INSERT INTO experiments (name) VALUES (?)]\n[parameters: ('x',)]\n"
              "(Background on this error at: https://sqlalche.me/e/20/e3q8)")


def test_reason_is_the_meaningful_line_not_the_background_url() -> None:
    assert failure_reason("OperationalError", SQLALCHEMY) == \
        "OperationalError: (sqlite3.OperationalError) attempt to write a readonly database"
    assert failure_reason("ValueError", "\nhttps://example.org/help\nreal cause\nmore") == "ValueError: real cause"
    assert failure_reason("KeyError", "") == "KeyError"
    assert failure_reason("OSError", "[Errno 28] No space left on device: '/data/r/a.json'") == \
        "no space left on device: /data/r/a.json"


def test_phase_errors_name_the_cause_and_a_full_disk_in_the_kernel(tmp_path: Path) -> None:
    body = ("if ctx.config.seed == 1:\n"
            f"    raise RuntimeError({SQLALCHEMY!r})\n"
            "import errno\nraise OSError(errno.ENOSPC, 'No space left on device', '/data/r/artifacts/x.json')")
    notebooks = _with_body(tmp_path / "notebooks", body)
    store, _ = run_chain(make_config(tmp_path, "a", seed=1), out=tmp_path / "a", notebook_dir=notebooks, progress=None)
    assert store.failed_phase().error == "RuntimeError: (sqlite3.OperationalError) attempt to write a readonly database"
    full, _ = run_chain(make_config(tmp_path, "b", seed=2), out=tmp_path / "b", notebook_dir=notebooks, progress=None)
    assert full.failed_phase().error == "no space left on device: /data/r/artifacts/x.json"
    assert "no space left on device: /data/r/artifacts/x.json" in (tmp_path / "b" / "index.html").read_text()


def test_a_full_disk_while_writing_a_notebook_is_one_line_and_leaves_nothing(notebooks: Path, tmp_path: Path,
                                                                           monkeypatch, capsys) -> None:
    import papermill.execute

    real = papermill.execute.write_ipynb

    def disk_full(nb, path):
        Path(path).write_text('{"cells": [', encoding="utf-8")  # what a full disk leaves: half a file
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(papermill.execute, "write_ipynb", disk_full)
    with pytest.raises(RunFault, match=r"^no space left on device: .*\.tmp-.*/00_readiness\.ipynb; free some space"):
        run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert not (tmp_path / "r").exists() and _leftovers(tmp_path) == []
    monkeypatch.setattr(papermill.execute, "write_ipynb", real)


def test_a_store_that_is_not_a_database_or_read_only_is_named_when_opened(tmp_path: Path) -> None:
    text = tmp_path / "notes" / "mlflow.db"
    text.parent.mkdir()
    text.write_text("these are my notes, not a database")
    with pytest.raises(RegistryError, match=rf"^tracking store is not a database \(not a SQLite file\): {text};"):
        Registry(f"sqlite:///{text}")
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "mlflow.db"
    import sqlite3

    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not available (needed to make a file read-only for root)")
    try:
        with pytest.raises(RegistryError, match=rf"^tracking store is read-only: {db};"):
            Registry(f"sqlite:///{db}")
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


# ---- 5. leftovers: stale build folders, SIGTERM, kernel connection files, model downloads ------
def test_stale_build_folders_are_cleaned_but_not_a_live_runs(notebooks: Path, tmp_path: Path) -> None:
    dead = tmp_path / ".r.tmp-dead"
    dead.mkdir()
    (dead / chain.OWNER_FILE).write_text("999999")  # its process is gone: nobody holds the lock
    (dead / "00_readiness.ipynb").write_text("{}")
    old = tmp_path / ".r.tmp-old"  # from a kit before owner files, hours ago
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    live = tmp_path / ".r.tmp-live"
    live.mkdir()
    fd = os.open(live / chain.OWNER_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live run holds it
    try:
        run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
        assert _leftovers(tmp_path) == [".r.tmp-live"]
    finally:
        os.close(fd)


RUNNER = """
import sys
from pathlib import Path
from kit.chain import on_sigterm, run_chain
on_sigterm()
try:
    run_chain(sys.argv[1], out=sys.argv[2], notebook_dir=Path(sys.argv[3]), progress=None)
except KeyboardInterrupt:
    sys.exit(143)
"""


def _start_and_wait_for_a_kernel(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A chain run in a child process, stopped in a sleeping cell; returns it and its build folder."""
    notebooks = _with_body(tmp_path / "notebooks", "import time\ntime.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(make_config(tmp_path)), str(tmp_path / "r"),
                             str(notebooks)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        builds = list(tmp_path.glob(".r.tmp-*"))
        if builds and (builds[0] / "artifacts" / "readiness.json").exists():  # phase 2's kernel is running
            return proc, builds[0]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(proc.communicate()[1][-2000:])


def test_sigterm_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    proc, build = _start_and_wait_for_a_kernel(tmp_path)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert not build.exists() and not (tmp_path / "r").exists()
    assert _leftovers(tmp_path) == []


def test_after_kill_9_the_next_run_cleans_the_build_folder_and_its_kernel_files(tmp_path: Path) -> None:
    proc, build = _start_and_wait_for_a_kernel(tmp_path)
    time.sleep(1.0)
    connection_files = list((build / chain.KERNEL_FILES).glob("kernel-*.json"))
    assert connection_files  # the kernels' connection files live in the build folder, not Jupyter's runtime dir
    proc.kill()
    proc.communicate(timeout=30)
    assert build.exists()
    notebooks = make_notebooks(tmp_path / "plain")
    manifest, _ = run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=notebooks, progress=None)
    assert manifest.status == "ok" and not build.exists()
    assert _leftovers(tmp_path) == []


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    import xgboost as xgb

    from kit.training.scoring import ScoringModel

    X = pd.DataFrame({"a": np.arange(60.0)})
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, (X["a"] > 30).astype(int)), 3)
    return ScoringModel("xgboost", booster, ["a"], {}).save(tmp_path / "model")


def test_champion_model_files_are_removed_after_use(mlflow_tracking_uri: str, model_dir: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    import tempfile

    from kit.training.scoring import ScoringModel

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    reg = Registry(mlflow_tracking_uri)
    version = reg.register("churn", reg.log_candidate("kit/t", "xgboost", {}, {"auc": 0.7}, None, model_dir))
    with reg.model_files("churn", version) as folder:
        model = ScoringModel.load(folder)
        assert folder.is_relative_to(scratch) and (folder / "scoring.json").is_file()
    assert model.predict_proba(pd.DataFrame({"a": [0.0, 50.0]})).tolist() == \
        ScoringModel.load(model_dir).predict_proba(pd.DataFrame({"a": [0.0, 50.0]})).tolist()
    assert list(scratch.iterdir()) == []


# ---- 6. concurrent runs into one destination ---------------------------------------------------
def test_concurrent_forced_runs_never_crash_and_one_report_lands(notebooks: Path, tmp_path: Path,
                                                                 monkeypatch) -> None:
    config, out = make_config(tmp_path), tmp_path / "r"
    run_chain(config, out=out, notebook_dir=notebooks, progress=None)
    real_replace = os.replace

    def slow_replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if Path(src) == out:  # widen the window between moving the old report away and moving the new one in
            time.sleep(0.3)

    monkeypatch.setattr(os, "replace", slow_replace)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        barrier.wait()
        try:
            manifest, landed = run_chain(config, out=out, notebook_dir=notebooks, progress=None, force=True)
            outcomes.append("ok" if landed == out and manifest.status == "ok" else f"odd {landed}")
        except DestinationError as exc:
            outcomes.append("busy" if "busy, another kit run" in str(exc) else str(exc))
        except BaseException as exc:  # noqa: BLE001 - the point: nothing else may escape
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=race) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(outcomes) == {"ok", "busy"}, outcomes  # one run at a time; the others told at once
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"
    assert _leftovers(tmp_path) == []


def test_a_busy_or_existing_destination_exits_3(tmp_path: Path, capsys) -> None:
    config, out = make_config(tmp_path), tmp_path / "r"
    with chain.destination_lock(out):
        assert main(["run", str(config), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"busy, another kit run (pid {os.getpid()})" in err
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "kit-report"}')
    assert main(["run", str(config), "--out", str(out)]) == 3
    assert "already there; pass --force" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x")]) == 2


def test_a_folder_that_appears_during_the_run_is_kept_and_the_report_lands_beside(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    out = tmp_path / "r"
    monkeypatch.setenv("KIT_TEST_INTRUDE", str(out))
    notebooks = _with_body(tmp_path / "notebooks", (
        "import os, pathlib\nintruder = pathlib.Path(os.environ['KIT_TEST_INTRUDE'])\n"
        "intruder.mkdir()\n(intruder / 'theirs.txt').write_text('someone else')"))
    with pytest.raises(DestinationError, match=r"something else wrote there during the run; this run's report "
                                               r"was kept in .*/r\.new$"):
        run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=None)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert json.loads((tmp_path / "r.new" / "manifest.json").read_text())["status"] == "ok"
    assert _leftovers(tmp_path) == []


# ---- 7. what the report records ----------------------------------------------------------------
def test_executed_notebooks_record_the_final_folder_not_the_build_folder(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=None)
    for name in ("00_readiness", "01_use_cases"):
        executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and f'run_dir = "{out}"' in injected[0].source
        assert ".tmp-" not in injected[0].source and ".tmp-" not in (out / f"{name}.html").read_text()


def test_a_failed_run_beside_a_good_report_names_the_folder_it_landed_in(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=None)
    manifest, landed = run_chain(make_config(tmp_path, seed=13), out=out, notebook_dir=notebooks, progress=None,
                                 force=True)
    assert manifest.status == "failed" and landed == tmp_path / "r.failed"
    for name in ("00_readiness", "01_use_cases"):
        injected = next(c for c in nbformat.read(landed / f"{name}.ipynb", as_version=4).cells
                        if "injected-parameters" in c.metadata.get("tags", []))
        assert f'run_dir = "{landed}"' in injected.source
        assert str(landed) in (landed / f"{name}.html").read_text()


def test_a_copied_store_writes_artifacts_beside_itself(mlflow_tracking_uri: str, model_dir: Path,
                                                       tmp_path: Path) -> None:
    original = Path(mlflow_tracking_uri.removeprefix("sqlite:///")).parent
    reg = Registry(mlflow_tracking_uri)
    version = reg.register("churn", reg.log_candidate("kit/t", "xgboost", {}, {"auc": 0.7}, None, model_dir))
    copy = tmp_path / "elsewhere" / "mlflow"
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # the original project is gone: the copy must stand alone
    moved = Registry(f"sqlite:///{copy / 'mlflow.db'}")
    with moved.model_files("churn", version) as folder:
        assert (folder / "scoring.json").is_file()
    run_id = moved.log_candidate("kit/t", "xgboost", {}, {"auc": 0.8}, None, model_dir)
    assert moved.client.get_run(run_id).info.artifact_uri.startswith((copy / "artifacts").as_uri() + "/")
    assert not original.exists()


def test_a_store_copied_without_its_artifacts_says_where_they_go(mlflow_tracking_uri: str, model_dir: Path,
                                                                 tmp_path: Path) -> None:
    original = Path(mlflow_tracking_uri.removeprefix("sqlite:///")).parent
    Registry(mlflow_tracking_uri).log_candidate("kit/t", "xgboost", {}, {"auc": 0.7}, None, model_dir)
    (tmp_path / "bare").mkdir()
    shutil.copy(original / "mlflow.db", tmp_path / "bare" / "mlflow.db")
    with pytest.warns(UserWarning, match=rf"copied without its artifacts folder.*{(original / 'artifacts').as_uri()}"):
        Registry(f"sqlite:///{tmp_path / 'bare' / 'mlflow.db'}")


def test_a_version_tag_named_after_a_hostile_column_is_stored_under_a_safe_distinct_key(mlflow_tracking_uri: str) -> None:
    from kit.training.registry import Registry, tag_key

    registry = Registry(mlflow_tracking_uri)
    registry.client.create_registered_model("m")
    version = registry.client.create_model_version("m", source="file:///nowhere/model").version
    keys = ["fairness.Senior <img src=x onerror=alert(1)> [s](javascript:x)", "fairness.Senior <img src=x onerror=alert(1)> [s](javascript:y)",
            "fairness.gender", "fairness." + "x" * 300]
    for i, key in enumerate(keys):
        registry.set_version_tag("m", version, key, f"v{i}")
    tags = registry.version_tags("m", version)
    assert tags["fairness.gender"] == "v2"  # a key MLflow accepts is kept as it is
    assert [tags[tag_key(k)] for k in keys] == ["v0", "v1", "v2", "v3"]  # distinct, readable back
    assert all(len(k) <= 250 for k in tags)


@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_destination_that_cannot_be_created_exits_3_with_one_line(tmp_path: Path, capsys, command: str) -> None:
    config = make_config(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt" / "report", Path("/proc/kit-report")):  # under a file; in a read-only tree
        assert main([command, str(config), "--out", str(out)]) == 3
        err = capsys.readouterr().err
        assert err.startswith(f"error: {out}") and "cannot write the report there" in err and len(err.splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


CLI_RUNNER = """
import sys
from pathlib import Path
import kit.chain
kit.chain.NOTEBOOK_DIR = Path(sys.argv[3])
from kit.__main__ import main
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2]]))
"""


def test_sigterm_mid_phase_through_the_command_line_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    notebooks = _with_body(tmp_path / "notebooks", "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass")
    proc = subprocess.Popen([sys.executable, "-c", CLI_RUNNER, str(make_config(tmp_path)), str(tmp_path / "r"),
                             str(notebooks)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".r.tmp-*/artifacts/readiness.json")):
        time.sleep(0.2)
    time.sleep(2.0)  # phase 2's cell is busy
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip() == "interrupted: no report was written", err[-2000:]
    assert _leftovers(tmp_path) == [] and not (tmp_path / "r").exists()


def test_a_corrupt_store_error_suggests_moving_it_aside_and_the_projects_store(tmp_path: Path, monkeypatch) -> None:
    from kit.training import registry

    bad = tmp_path / "mlflow.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"garbage" * 100)
    monkeypatch.chdir(tmp_path)  # a kernel runs in notebooks/: the suggestion must not depend on the cwd
    with pytest.raises(RegistryError) as err:
        Registry(f"sqlite:///{bad}")
    message = str(err.value)
    assert message.startswith(f"tracking store is not a database: {bad}; move it aside, or point")
    assert message.endswith(f"e.g. sqlite:///{registry.DEFAULT_STORE / 'mlflow.db'}")


def test_force_never_replaces_a_report_that_holds_the_runs_own_config_or_data(notebooks: Path, tmp_path: Path, capsys,
                                                                               monkeypatch) -> None:
    monkeypatch.setattr(chain, "NOTEBOOK_DIR", notebooks)  # were it to run, nothing heavy and no shared store
    monkeypatch.setenv("KIT_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = tmp_path / "r"
    out.mkdir()
    (out / "manifest.json").write_text('{"kind": "kit-report"}')  # a kit report, into which the user saved the config
    config = make_config(out)
    assert main(["run", str(config), "--out", str(out), "--force"]) == 3
    err = capsys.readouterr().err
    assert f"holds this run's own input {config}" in err and len(err.splitlines()) == 1
    assert config.is_file() and (out / "manifest.json").is_file()
