"""The readiness notebook: stored clean, imports nothing heavy, runs end to end and writes its artifact."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import execute_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "00_readiness.ipynb"
PARAMETERS = 'config_path = "../data/configs/demo.yaml"\nrun_dir = "../reports/lab"\ninteractive = True'
ARTIFACT_KEYS = {"pillars", "red_flags", "blockers", "maturity_level", "declared_level", "recommendations",
                 "team", "data_profile", "unanswered", "headline", "headline_status"}


def test_notebook_is_stored_clean() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "kit"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].source == PARAMETERS
    assert max(len(c.source.splitlines()) for c in code) <= 10


def test_phase_imports_no_heavy_library() -> None:
    script = ("import sys\nimport kit.notebook, kit.readiness.assess, kit.readiness.display, kit.readiness.widgets\n"
              "print(sorted(m for m in ('sklearn','xgboost','lightgbm','shap','mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("config, interactive, level, status", [
    ("demo.yaml", False, 2, "warn"),
    ("level1.yaml", True, 1, "fail"),
])
def test_notebook_runs_and_writes_artifact(tmp_path: Path, config: str, interactive: bool, level: int, status: str) -> None:
    run_dir = tmp_path / "run"
    execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="kit", progress_bar=False,
                        cwd=str(NOTEBOOK.parent), log_output=False,
                        parameters={"config_path": str(ROOT / "data" / "configs" / config),
                                    "run_dir": str(run_dir), "interactive": interactive})
    art = json.loads((run_dir / "artifacts" / "readiness.json").read_text())
    assert ARTIFACT_KEYS <= set(art)
    assert art["maturity_level"] == level and art["headline_status"] == status
    assert set(art["pillars"]) == {"data", "infrastructure", "process", "organization"}
    assert art["data_profile"]["rows"] > 0
    assert (run_dir / "readiness_answers.yaml").exists() is False  # the form writes only on click
