"""The chain's bookkeeping on tiny stand-in notebooks: placement, failure, manifest, batch."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from kit.batch import run_batch
from kit.chain import ChainError, run_chain, select_phases

ROOT = Path(__file__).resolve().parent.parent
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"

BODY = {
    "readiness": "ctx.write('readiness', {'headline': {'Level': '2 <script>x</script>'}, 'headline_status': 'ok'})",
    # fails when the config's seed is 13, so a config can make a phase raise
    "use_cases": (
        "prior = ctx.read('readiness')\n"
        "if ctx.config.seed == 13:\n    raise ValueError('planted failure for seed 13')\n"
        "if ctx.config.seed == 14:\n    from kit.errors import DataError\n"
        "    raise DataError('column x: planted; fix the data')\n"
        "ctx.write('use_cases', {'headline': {'Pilot': 'churn'}, 'headline_status': 'warn'})"
    ),
}


def make_notebooks(folder: Path) -> Path:
    """Write two stand-in phase notebooks that follow the kit's notebook contract."""
    folder.mkdir()
    for index, (name, body) in enumerate(BODY.items()):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "stale kernel", "language": "python"}
        params = nbformat.v4.new_code_cell('config_path = "x"\nrun_dir = "y"\ninteractive = True')
        params.metadata["tags"] = ["parameters"]
        start = nbformat.v4.new_code_cell(
            "from kit.notebook import start\nctx = start(config_path, run_dir, interactive)\n"
            "assert interactive is False")
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), params, start, nbformat.v4.new_code_cell(body)]
        nbformat.write(nb, folder / f"{index:02d}_{name}.ipynb")
    return folder


def make_config(folder: Path, name: str = "unit", seed: int = 42) -> Path:
    """A minimal valid config file."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "seed": seed,
        "organization": {"name": "Acme <b>&</b>"},
        "dataset": {"path": str(TELCO), "target": "Churn", "positive_class": "Yes"},
    }))
    return path


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_notebooks(tmp_path_factory.mktemp("nb") / "notebooks")


def test_good_run_lands_with_manifest_index_and_html(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    lines: list[str] = []
    manifest, landed = run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=lines.append)
    assert landed == out and manifest.status == "ok"
    assert [p.status for p in manifest.phases] == ["ok", "ok"]
    assert len(lines) == 2 and lines[0].startswith("[1/2] readiness") and " s" in lines[0]
    for name in ("00_readiness.ipynb", "00_readiness.html", "01_use_cases.html", "manifest.json", "index.html"):
        assert (out / name).is_file(), name
    data = json.loads((out / "manifest.json").read_text())
    assert data["status"] == "ok" and data["seeds"] == {"seed": 42}
    assert data["config"]["sha256"] == manifest.config["sha256"]
    assert [Path(d["path"]).name for d in data["data_files"]] == [TELCO.name]
    assert data["data_files"][0]["sha256"] == "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"
    assert {"xgboost", "pandas", "papermill"} <= set(data["packages"])
    index = (out / "index.html").read_text()
    assert "2 &lt;script&gt;x&lt;/script&gt;" in index and "<script>x" not in index
    assert "Acme &lt;b&gt;&amp;&lt;/b&gt;" in index
    assert 'href="01_use_cases.html"' in index
    assert not list(tmp_path.glob(".report.tmp-*")), "temporary build folder left behind"


def test_existing_report_needs_force(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("good")
    (out / "manifest.json").write_text('{"kind": "kit-report"}')
    with pytest.raises(ChainError, match="already there; pass --force"):
        run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=None)
    assert (out / "keep.txt").read_text() == "good"


def test_failed_phase_keeps_notebook_and_never_replaces_a_good_report(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    good, _ = run_chain(make_config(tmp_path), out=out, notebook_dir=notebooks, progress=None)
    manifest, landed = run_chain(make_config(tmp_path, seed=13), out=out, force=True,
                                 notebook_dir=notebooks, progress=None)
    assert manifest.status == "failed"
    assert landed == tmp_path / "report.failed"
    failed = manifest.failed_phase()
    assert failed.name == "use_cases" and failed.error == "ValueError: planted failure for seed 13"
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))
    assert "planted failure" in (landed / "index.html").read_text()
    assert json.loads((landed / "manifest.json").read_text())["status"] == "failed"
    # the earlier good report is untouched
    assert json.loads((out / "manifest.json").read_text())["started"] == good.started


def test_failed_first_run_lands_in_place(notebooks: Path, tmp_path: Path) -> None:
    manifest, landed = run_chain(make_config(tmp_path, seed=13), out=tmp_path / "r",
                                 notebook_dir=notebooks, progress=None)
    assert landed == tmp_path / "r" and manifest.status == "failed"


def test_skipped_phases_after_failure(notebooks: Path, tmp_path: Path) -> None:
    manifest, _ = run_chain(make_config(tmp_path, seed=13), out=tmp_path / "r", phases="readiness,use_cases",
                            notebook_dir=notebooks, progress=None)
    assert [p.status for p in manifest.phases] == ["ok", "failed"]


def test_phase_subset_and_unknown_phase(notebooks: Path) -> None:
    assert [p.name for p in select_phases("use_cases", notebooks)] == ["use_cases"]
    assert [p.name for p in select_phases(["use_cases", "readiness"], notebooks)] == ["readiness", "use_cases"]
    with pytest.raises(ChainError, match="unknown phase 'readines'; did you mean 'readiness'"):
        select_phases("readines", notebooks)
    with pytest.raises(ChainError, match="has no notebook"):
        select_phases("monitoring", notebooks)
    for empty in ("", ",, ,", []):  # --phases "" names no phase: not "no phase notebooks found"
        with pytest.raises(ChainError, match="^--phases: no phase named .*; name one or more of readiness, use_cases"):
            select_phases(empty, notebooks)


def test_batch_one_bad_config_does_not_stop_the_others(notebooks: Path, tmp_path: Path, monkeypatch) -> None:
    import kit.phases

    monkeypatch.setattr(kit.phases, "NOTEBOOK_DIR", notebooks)
    import kit.chain

    monkeypatch.setattr(kit.chain, "NOTEBOOK_DIR", notebooks)
    good = make_config(tmp_path, "good")
    bad = tmp_path / "bad.yaml"
    bad.write_text("organization: {name: X}\ndataset: {path: nowhere.csv, target: y}\n")
    # spawn workers import kit afresh and use the real notebooks folder, so run in-process here
    from kit import batch

    monkeypatch.setattr(batch, "ProcessPoolExecutor", _InlinePool)
    results = run_batch([good, bad], out=tmp_path / "batch", workers=2, show_progress=False)
    assert [r["status"] for r in results] == ["ok", "failed"]
    assert "nowhere.csv: file not found" in results[1]["error"]
    page = (tmp_path / "batch" / "index.html").read_text()
    assert 'href="good/index.html"' in page and "1 passed, 1 failed" in page


class _InlinePool:
    """A stand-in executor that runs jobs in this process (keeps monkeypatches in force)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def shutdown(self, *args, **kwargs) -> None:
        return None

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future: Future = Future()
        future.set_result(fn(*args))
        return future


def test_kit_errors_show_as_one_message_not_a_traceback(notebooks: Path, tmp_path: Path) -> None:
    manifest, landed = run_chain(make_config(tmp_path, seed=14), out=tmp_path / "r", notebook_dir=notebooks,
                                 progress=None)
    assert manifest.failed_phase().error == "DataError: column x: planted; fix the data"
    executed = nbformat.read(landed / "01_use_cases.ipynb", as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1
    assert "planted; fix the data" in errors[0]["traceback"][0] and "File " not in errors[0]["traceback"][0]
