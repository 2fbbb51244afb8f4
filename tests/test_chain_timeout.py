"""A cell that runs over the cell timeout fails its phase quickly, stops its kernel and never hangs a run or a batch."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import yaml

import kit.chain as chain
from kit.__main__ import main
from kit.chain import ChainError, resolve_cell_timeout, run_chain
from kit.config import load_config
from kit.content import load
from tests.test_chain_mechanics import make_config, make_notebooks

HANG_SEED = 15  # a config with this seed sleeps far longer than any limit these tests set
SLEEP = 120
SLEEP_CELL = f"time.sleep({SLEEP}) if ctx.config.seed == {HANG_SEED} else None"
LIMIT = 2
QUICK = 45  # seconds: a run that times out at LIMIT ends well before the SLEEP, even on a loaded machine


def make_hanging_notebooks(folder: Path) -> Path:
    """Stand-in notebooks of three phases; the use-case phase sleeps SLEEP seconds when the seed is HANG_SEED."""
    make_notebooks(folder)
    path = folder / "01_use_cases.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1:] = [nbformat.v4.new_code_cell("import time\nprint('cell before the sleep ran')"),
                     nbformat.v4.new_code_cell(SLEEP_CELL),
                     nbformat.v4.new_code_cell("print('cell after the sleep ran')"),
                     nb.cells[-1]]
    nbformat.write(nb, path)
    training = nbformat.read(folder / "00_readiness.ipynb", as_version=4)
    training.cells[-1] = nbformat.v4.new_code_cell(
        "ctx.write('training', {'headline': {'Model': 'stand-in'}, 'headline_status': 'ok'})")
    nbformat.write(training, folder / "02_training.ipynb")
    return folder


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hanging_notebooks(tmp_path_factory.mktemp("nb") / "notebooks")


def _kernels_under(folder: Path) -> list[psutil.Process]:
    """Live processes started for runs under ``folder`` (kernels: their connection file or cwd is there)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        text = " ".join(process.info["cmdline"] or []) + " " + (process.info["cwd"] or "")
        if str(folder) in text and process.pid != psutil.Process().pid:
            found.append(process)
    return found


def _reason(phase_cell: int) -> str:
    """The expected one-line reason for the use-case phase's sleeping cell."""
    return (f"phase 1 (use_cases): cell {phase_cell} (`{SLEEP_CELL[:40]}…`) ran over the {LIMIT} s cell timeout "
            "and its kernel was stopped; raise it with --cell-timeout SECONDS (0: no limit) or compute.cell_timeout "
            "in the config")


def test_a_cell_over_the_timeout_fails_its_phase_fast_stops_its_kernel_and_keeps_the_good_report(
        notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    good, _ = run_chain(make_config(tmp_path, "good"), out=out, notebook_dir=notebooks, progress=None,
                        cell_timeout=LIMIT)
    assert good.status == "ok"  # the same limit does not touch a run whose cells are quick
    lines: list[str] = []
    start = time.perf_counter()
    manifest, landed = run_chain(make_config(tmp_path, "good", seed=HANG_SEED), out=out, force=True,
                                 notebook_dir=notebooks, progress=lines.append, cell_timeout=LIMIT)
    took = time.perf_counter() - start
    assert took < QUICK, f"the run took {took:.0f} s: the timeout did not stop the {SLEEP} s cell"
    assert [p.status for p in manifest.phases] == ["ok", "failed", "skipped"]
    failed = manifest.failed_phase()
    assert failed.error == _reason(5)  # In [5]: parameters, injected parameters, start, print, sleep
    assert LIMIT <= failed.seconds < QUICK
    assert lines[1].startswith("[2/3] use_cases       failed") and lines[1].endswith(failed.error)
    assert _kernels_under(tmp_path) == [], "a kernel outlived the run"
    # placed like any failed run: beside the good report, which is untouched
    assert landed == tmp_path / "report.failed"
    assert json.loads((out / "manifest.json").read_text())["started"] == good.started
    recorded = json.loads((landed / "manifest.json").read_text())
    assert recorded["status"] == "failed" and recorded["options"]["cell_timeout"] == LIMIT
    assert recorded["phases"][1]["error"] == failed.error
    # the executed notebook is kept with the timed-out cell marked; the cells after it did not run
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    sleeping = next(c for c in executed.cells if c.source == SLEEP_CELL)
    assert [(o["ename"], o["evalue"]) for o in sleeping.outputs] == [
        ("CellTimeoutError", f"this cell ran over the {LIMIT} s cell timeout")]
    assert sleeping.execution_count == 5 and sleeping.metadata.papermill.status == "failed"
    after = next(c for c in executed.cells if "after the sleep" in c.source)
    assert after.outputs == [] and after.metadata.papermill.status == "pending"
    texts = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    assert "cell before the sleep ran\n" in texts
    html = (landed / "01_use_cases.html").read_text()
    assert "CellTimeoutError" in html and "--cell-timeout" in html
    assert "ran over the 2 s cell timeout" in (landed / "index.html").read_text()
    assert not (landed / "02_training.ipynb").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no build folder, no lock


def test_the_limit_comes_from_the_option_else_the_config_else_the_kit(tmp_path: Path) -> None:
    plain = load_config(make_config(tmp_path, "plain"))
    assert resolve_cell_timeout(plain) == load("chain")["cell_timeout_seconds"] == 3600
    path = make_config(tmp_path, "keyed")
    data = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**data, "compute": {"cell_timeout": 7200}}))
    keyed = load_config(path)
    assert resolve_cell_timeout(keyed) == 7200
    assert resolve_cell_timeout(keyed, 30) == 30
    assert resolve_cell_timeout(keyed, 0) is None  # 0: no limit, papermill's "never"
    path.write_text(yaml.safe_dump({**data, "compute": {"cell_timeout": 0}}))
    assert resolve_cell_timeout(load_config(path)) is None
    with pytest.raises(ChainError, match="--cell-timeout: expected whole seconds, 0 for no limit; found -1"):
        resolve_cell_timeout(plain, -1)
    for bad in ("-5", "true", "1.5"):
        path.write_text(yaml.safe_dump({**data, "compute": {"cell_timeout": yaml.safe_load(bad)}}))
        with pytest.raises(Exception, match="cell_timeout"):
            load_config(path)


def test_the_config_key_alone_sets_the_limit(notebooks: Path, tmp_path: Path) -> None:
    path = make_config(tmp_path, "keyed", seed=HANG_SEED)
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "compute": {"cell_timeout": LIMIT}}))
    start = time.perf_counter()
    manifest, _ = run_chain(path, out=tmp_path / "r", notebook_dir=notebooks, progress=None, phases="use_cases")
    assert time.perf_counter() - start < QUICK
    assert manifest.failed_phase().error.startswith(f"phase 1 (use_cases): cell 5 (`{SLEEP_CELL[:40]}")
    assert f"over the {LIMIT} s cell timeout" in manifest.failed_phase().error
    assert _kernels_under(tmp_path) == []


@pytest.mark.parametrize("value", ["soon", "-5", "1.5"])
def test_a_bad_cell_timeout_option_is_one_line_and_exit_2(tmp_path: Path, capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(make_config(tmp_path)), "--cell-timeout", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ("argument --cell-timeout: expected whole seconds (e.g. 7200), or 0 or none for no limit; "
            f"found '{value}'") in err
    assert "Traceback" not in err


def test_run_option_reaches_the_chain(notebooks: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(chain, "NOTEBOOK_DIR", notebooks)
    code = main(["run", str(make_config(tmp_path, "cli", seed=HANG_SEED)), "--out", str(tmp_path / "r"),
                 "--phases", "use_cases", "--cell-timeout", str(LIMIT)])
    err = capsys.readouterr().err
    assert code == 1
    assert re.search(rf"^failed: phase use_cases: phase 1 \(use_cases\): cell 5 .* ran over the {LIMIT} s cell "
                     rf"timeout .* \(report kept in {re.escape(str(tmp_path / 'r'))}\)$", err.strip())
    assert _kernels_under(tmp_path) == []


def test_a_batch_with_a_hanging_config_finishes_the_others_on_the_same_worker(notebooks: Path, tmp_path: Path,
                                                                            capsys, monkeypatch) -> None:
    from kit import batch
    from tests.test_chain_faults import _worker_job

    monkeypatch.setenv("KIT_TEST_NOTEBOOKS", str(notebooks))
    monkeypatch.setattr(batch, "_run_one", _worker_job)  # spawn workers import it by reference, with these notebooks
    hang, good = make_config(tmp_path, "hang", seed=HANG_SEED), make_config(tmp_path, "good")
    start = time.perf_counter()
    # one worker, the hanging config first: the good one runs only once the worker is free again
    code = main(["batch", str(hang), str(good), "--out", str(tmp_path / "batch"), "--workers", "1",
                 "--phases", "readiness,use_cases", "--cell-timeout", str(LIMIT)])
    assert time.perf_counter() - start < 2 * QUICK
    assert code == 1
    err = capsys.readouterr().err
    assert f"failed: hang: use_cases: {_reason(5)}" in err
    assert json.loads((tmp_path / "batch" / "good" / "manifest.json").read_text())["status"] == "ok"
    assert json.loads((tmp_path / "batch" / "hang" / "manifest.json").read_text())["status"] == "failed"
    page = (tmp_path / "batch" / "index.html").read_text()
    assert "1 passed, 1 failed" in page and f"ran over the {LIMIT} s cell timeout" in page
    assert _kernels_under(tmp_path) == []


def test_a_kernel_that_dies_mid_notebook_is_marked_on_the_cell_that_ran_not_the_last(tmp_path: Path) -> None:
    folder = make_notebooks(tmp_path / "notebooks")
    path = folder / "01_use_cases.ipynb"
    nb = nbformat.read(path, as_version=4)
    kill = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    nb.cells[-1:] = [nbformat.v4.new_code_cell(kill), nbformat.v4.new_code_cell("print('never')"), nb.cells[-1]]
    nbformat.write(nb, path)
    manifest, landed = run_chain(make_config(tmp_path), out=tmp_path / "r", notebook_dir=folder, progress=None)
    assert manifest.failed_phase().error.startswith("DeadKernelError")
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    marked = [c.source for c in executed.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert marked == [kill]
    later = [c for c in executed.cells if c.cell_type == "code" and c.source.startswith(("print('never')", "prior"))]
    assert [(c.outputs, c.metadata.papermill.status) for c in later] == [([], "pending"), ([], "pending")]


def test_a_kernel_papermill_started_is_stopped_too_and_the_reason_is_still_the_timeout(
        notebooks: Path, tmp_path: Path, monkeypatch) -> None:
    # when the kernel started ahead of its phase is gone, papermill starts one, and stops it by interrupting it first
    monkeypatch.setattr(chain, "_start_kernel", lambda *args, **kwargs: None)
    start = time.perf_counter()
    manifest, landed = run_chain(make_config(tmp_path, seed=HANG_SEED), out=tmp_path / "r", notebook_dir=notebooks,
                                 progress=None, phases="use_cases", cell_timeout=LIMIT)
    assert time.perf_counter() - start < QUICK
    assert manifest.failed_phase().error == _reason(5)  # not the KeyboardInterrupt of that shutdown
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    sleeping = next(c for c in executed.cells if c.source == SLEEP_CELL)
    assert sleeping.outputs[0]["ename"] == "CellTimeoutError"
    assert _kernels_under(tmp_path) == [] and _kernels_under(notebooks) == []  # papermill's kernel runs in notebooks/
