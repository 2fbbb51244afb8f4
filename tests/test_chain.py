"""The real chain, end to end through the CLI, on the bundled demo config."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from kit.phases import PHASES

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "configs" / "demo.yaml"
TELCO = ROOT / "data" / "telco_churn" / "Telco-Customer-Churn.csv"

# Keys whose values legitimately change between two runs of the same config: clocks, timings,
# MLflow run ids, and where the (per-test) MLflow store lives.
VOLATILE = re.compile(r"(seconds|duration|timestamp|created|started|finished|date|time_utc|latency|run_id|tracking_uri|"
                      r"elapsed|per_1000|_ms$|^ms_|generated)", re.I)


def kit_cli(*args: str, tracking: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m kit ...`` with its own MLflow store, as a user would."""
    env = {**os.environ, "KIT_TRACKING_URI": f"sqlite:///{tracking}"}
    proc = subprocess.run([sys.executable, "-m", "kit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One full demo run shared by the tests that only read it."""
    tmp = tmp_path_factory.mktemp("chain")
    proc = kit_cli("run", str(DEMO), "--out", str(tmp / "demo"), tracking=tmp / "mlflow.db")
    return tmp / "demo", proc


def test_every_phase_runs_and_reports(demo_run) -> None:
    out, proc = demo_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [p["name"] for p in manifest["phases"]] == [p.name for p in PHASES]
    for phase, record in zip(PHASES, manifest["phases"]):
        assert record["status"] == "ok", record
        assert (out / phase.notebook).is_file() and (out / record["html"]).is_file()
        artifact = json.loads((out / "artifacts" / f"{phase.artifact}.json").read_text())
        assert artifact["headline"], f"{phase.name} has no headline"
        assert artifact["headline_status"] in {"ok", "warn", "fail"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == len(PHASES) and all(re.search(r"ok\s+\d+\.\d s", ln) for ln in lines)
    assert proc.stdout.strip().splitlines()[-1].startswith("ok: 5 phases")
    assert "Traceback" not in proc.stderr and "running over TCP" not in proc.stderr


def test_index_shows_each_headline(demo_run) -> None:
    out, _ = demo_run
    index = (out / "index.html").read_text()
    for phase in PHASES:
        artifact = json.loads((out / "artifacts" / f"{phase.artifact}.json").read_text())
        for label in artifact["headline"]:
            assert label.replace("&", "&amp;") in index
        assert f'href="{phase.notebook.replace(".ipynb", ".html")}"' in index


def test_executed_notebooks_are_stored_clean_and_reports_static(demo_run) -> None:
    out, _ = demo_run
    for phase in PHASES:
        source = nbformat.read(ROOT / "notebooks" / phase.notebook, as_version=4)
        assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code"), phase.notebook
        executed = nbformat.read(out / phase.notebook, as_version=4)
        kinds = {k for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 for k in o.get("data", {})}
        assert "application/vnd.jupyter.widget-view+json" not in kinds, "a report must not rely on widgets"
        html = (out / phase.notebook.replace(".ipynb", ".html")).read_text()
        assert len(html) < 6_000_000, f"{phase.notebook} report is {len(html)} bytes"


def test_manifest_records_what_makes_the_run_reproducible(demo_run) -> None:
    out, _ = demo_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["path"] == str(DEMO)
    names = {Path(d["path"]).name for d in manifest["data_files"]}
    assert TELCO.name in names
    assert manifest["seeds"]["seed"] == 42 and manifest["kit_version"]
    assert all(manifest["packages"][p] != "not installed" for p in ("xgboost", "lightgbm", "shap", "mlflow"))


def _stable(value):
    """Drop the values that legitimately differ between runs (timestamps, durations, ids)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if not VOLATILE.search(str(k))}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_two_runs_give_identical_artifacts(demo_run, tmp_path: Path) -> None:
    first, _ = demo_run
    kit_cli("run", str(DEMO), "--out", str(tmp_path / "again"), tracking=tmp_path / "mlflow.db")
    for phase in PHASES:
        a = json.loads((first / "artifacts" / f"{phase.artifact}.json").read_text())
        b = json.loads((tmp_path / "again" / "artifacts" / f"{phase.artifact}.json").read_text())
        assert _stable(a) == _stable(b), f"{phase.artifact}.json differs between two runs"


def test_config_error_stops_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("target: Churn", "target: 'Churn '").replace("../", f"{DEMO.parent.parent}/"))
    proc = kit_cli("run", str(bad), "--out", str(tmp_path / "r"), tracking=tmp_path / "m.db", check=False)
    assert proc.returncode == 2
    assert "dataset.target: column 'Churn ' not in Telco-Customer-Churn.csv; did you mean 'Churn'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob(".r.tmp-*"))


def test_failing_phase_keeps_evidence_and_the_good_report(tmp_path: Path) -> None:
    config = yaml.safe_load(DEMO.read_text())
    config["dataset"]["path"] = str(TELCO)
    config["use_cases"]["portfolio_path"] = str(ROOT / "data" / "use_cases" / "portfolio.csv")
    good_cfg = tmp_path / "unit.yaml"
    good_cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "unit"
    kit_cli("run", str(good_cfg), "--out", str(out), "--phases", "readiness", tracking=tmp_path / "m.db")
    good_started = json.loads((out / "manifest.json").read_text())["started"]

    config["training"]["min_rows"] = 100_000  # more than the data has: phase 2 fails (a one-class target fails at check)
    good_cfg.write_text(yaml.safe_dump(config))
    proc = kit_cli("run", str(good_cfg), "--out", str(out), "--phases", "readiness,training", "--force",
                   tracking=tmp_path / "m.db", check=False)
    assert proc.returncode == 1
    reason = proc.stderr.strip().splitlines()
    assert len(reason) == 1 and reason[0].startswith("failed: phase training:"), proc.stderr
    failed = tmp_path / "unit.failed"
    manifest = json.loads((failed / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [p["status"] for p in manifest["phases"]] == ["ok", "failed"]
    executed = nbformat.read(failed / "02_training.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    assert "failed" in (failed / "index.html").read_text()
    assert json.loads((out / "manifest.json").read_text())["started"] == good_started
    assert not (out / "artifacts" / "training.json").exists()


def test_batch_with_one_bad_config(tmp_path: Path) -> None:
    good = tmp_path / "north.yaml"
    good.write_text(DEMO.read_text().replace("../", f"{DEMO.parent.parent}/").replace("name: demo", "name: north"))
    bad = tmp_path / "south.yaml"
    bad.write_text("organization: {name: South}\nseed: -3\n")
    proc = kit_cli("batch", str(good), str(bad), "--workers", "2", "--out", str(tmp_path / "b"),
                   "--phases", "readiness,use_cases", tracking=tmp_path / "m.db", check=False)
    assert proc.returncode == 1
    assert "1 of 2 runs ok" in proc.stdout
    assert "failed: south" in proc.stderr and "seed" in proc.stderr
    page = (tmp_path / "b" / "index.html").read_text()
    assert 'href="north/index.html"' in page and "south" in page
    assert json.loads((tmp_path / "b" / "north" / "manifest.json").read_text())["status"] == "ok"


def test_no_input_hides_code(tmp_path: Path) -> None:
    kit_cli("run", str(DEMO), "--out", str(tmp_path / "r"), "--phases", "readiness", "--no-input",
            tracking=tmp_path / "m.db")
    html = (tmp_path / "r" / "00_readiness.html").read_text()
    assert "start(config_path" not in html
