"""Notebook 02 under papermill on a regression and a multiclass config: the task's views only, no binary tables."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from conftest import execute_notebook
from test_training_tasks import bike_config, config_file, failure_type_csv

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_training.ipynb"


def outputs_of(nb: nbformat.NotebookNode, source: str) -> list[dict]:
    """The outputs of the code cell whose source is ``source``."""
    return next(c.outputs for c in nb.cells if c.cell_type == "code" and c.source == source)


def test_notebook_is_stored_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "display.task_markdown(run.task_decision())" in [c.source for c in code]


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_notebook_shows_the_task_and_only_its_views(tmp_path: Path, mlflow_tracking_uri: str, task: str) -> None:
    if task == "regression":
        config = bike_config(tmp_path, max_trees=60, bootstrap=30)
    else:
        config = config_file(tmp_path, {"name": "failures", "path": str(failure_type_csv(tmp_path)), "target": "failure_type",
                                        "id_columns": ["UDI", "Product ID"]}, max_trees=60, bootstrap=30)
    out = tmp_path / "out.ipynb"
    execute_notebook(str(NOTEBOOK), str(out), kernel_name="kit", cwd=str(NOTEBOOK.parent), progress_bar=False,
                     parameters={"config_path": str(config), "run_dir": str(tmp_path / "run"), "interactive": False})
    nb = nbformat.read(out, as_version=4)
    decision = outputs_of(nb, "display.task_markdown(run.task_decision())")[0]["data"]["text/markdown"]
    assert decision.startswith(f"**Task: {task}.** auto: ")
    headline = {"regression": "rmse", "multiclass": "macro\\_f1"}[task]
    assert f"Models are selected and gated on **{headline}**" in decision
    costs = outputs_of(nb, "display.business_value_view(run)")[0]["data"]["text/markdown"]
    assert "apply to yes/no decisions only" in costs
    comparison = outputs_of(nb, "display.test_figure(run)")[0]["data"]
    assert "image/png" in comparison
    detail = outputs_of(nb, "display.champion_view(run)")[0]["data"]
    if task == "regression":
        assert "image/png" in detail  # the residual plot
    else:
        assert "recall (value)" in detail["text/html"] and "TWF" in detail["text/html"]  # per-class recall table
    leaderboard = outputs_of(nb, "display.task_leaderboard_view(run.train())")[0]["data"]["text/html"]
    assert "roc_auc" not in leaderboard and "threshold" not in leaderboard
    artifact = json.loads((tmp_path / "run" / "artifacts" / "training.json").read_text())
    assert artifact["task"]["task"] == task and artifact["champion"]["threshold"] is None
