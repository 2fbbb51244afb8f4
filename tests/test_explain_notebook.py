"""Notebook 03 runs end to end under papermill on a real run folder and is stored clean."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from test_explain_fixtures import make_run
from conftest import execute_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_explainability.ipynb"


def test_notebook_is_stored_clean_with_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "kit"
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    assert params[0].source.splitlines() == [
        'config_path = "../data/configs/demo.yaml"', 'run_dir = "../reports/lab"', "interactive = True"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert all(len(c.source.splitlines()) <= 10 for c in code)


@pytest.mark.parametrize("interactive", [False])
def test_notebook_runs_and_writes_the_artifact(tmp_path, interactive):
    config = make_run(tmp_path, "xgboost", rounds=10)
    execute_notebook(
        str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="kit", cwd=str(NOTEBOOK.parent),
        parameters={"config_path": str(config), "run_dir": str(tmp_path), "interactive": interactive},
        progress_bar=False,
    )
    artifact = json.loads((tmp_path / "artifacts" / "explain.json").read_text())
    assert artifact["headline"]["Fairness gate"] in ("passed", "failed", "insufficient evidence")
    assert (tmp_path / artifact["model_card"]["html"]).is_file()
    assert len(artifact["figures"]) == 6
