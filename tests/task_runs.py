"""Real training-phase runs for a regression and a multiclass task (UCI adult), trained once per session and copied per test.

Regression: ``hours-per-week``; multiclass: marital status in three groups (married, never married,
previously married), derived in :func:`adult_csv`. Both name ``sex`` and ``race`` as sensitive columns, so
phase 3 judges fairness on real groups. The runs go through the same TrainingRun steps as the notebook.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

import task_models as tm
from conftest import TRAINING_STEPS, _relocate_store

TARGETS = {"regression": "hours-per-week", "multiclass": "marital_group"}


def adult_csv(path: Path, rows: int = 4000) -> Path:
    """A seeded sample of UCI adult with a header and the derived three-class marital status."""
    df = tm.adult_frame().sample(rows, random_state=11).reset_index(drop=True)
    df["marital_group"] = df["marital-status"].map(lambda s: "married" if s.startswith("Married") else
                                                   ("never married" if s == "Never-married" else "previously married"))
    df.insert(0, "person_id", [f"p{i:05d}" for i in range(len(df))])
    df.to_csv(path, index=False)
    return path


def task_config(root: Path, task: str, csv: Path, sections: dict | None = None) -> dict:
    """Run config for one task on the adult sample (xgboost, own MLflow store under ``root/mlflow``)."""
    drop = ["marital-status", "relationship", "fnlwgt"] if task == "multiclass" else ["marital_group", "fnlwgt"]
    config = {
        "seed": 7,
        "organization": {"name": "Census <b>bureau</b>", "owner": "Data & Models"},
        "dataset": {"name": f"UCI adult ({task})", "path": str(csv), "target": TARGETS[task], "task": task,
                    "sensitive": ["sex", "race"], "id_columns": ["person_id"], "drop_columns": drop},
        "training": {"algorithms": ["xgboost"], "bootstrap": 30, "tracking_uri": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"},
        "explainability": {"time_budget_seconds": 0.5, "min_sample_rows": 200, "max_sample_rows": 400,
                           "fairness": {"bootstrap": 60}},
    }
    for key, value in (sections or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


class TaskRuns:
    """One trained template run per task; ``copy`` gives a private run folder (paths and store relocated)."""

    def __init__(self) -> None:
        """Nothing is trained until a run is first asked for."""
        self._base: Path | None = None
        self._templates: dict[str, Path] = {}

    def _root(self) -> Path:
        """Session folder with the adult sample and a migrated MLflow store (removed at exit)."""
        if self._base is None:
            import atexit

            from kit.training.registry import Registry

            self._base = Path(tempfile.mkdtemp(prefix="kit-task-runs-"))
            atexit.register(shutil.rmtree, self._base, True)
            Registry(f"sqlite:///{self._base / 'store' / 'mlflow.db'}")
            adult_csv(self._base / "adult.csv")
        return self._base

    def template(self, task: str) -> Path:
        """Folder of the trained template run of ``task``; read it, never change it."""
        if task not in self._templates:
            import yaml

            from kit.notebook import start
            from kit.training.phase import TrainingRun

            root = self._root() / task
            (root / "mlflow").mkdir(parents=True)
            shutil.copy(self._root() / "store" / "mlflow.db", root / "mlflow" / "mlflow.db")
            (root / "config.yaml").write_text(yaml.safe_dump(task_config(root, task, self._root() / "adult.csv")), encoding="utf-8")
            ctx = start(root / "config.yaml", root, interactive=False)
            training = TrainingRun(ctx)
            for step in TRAINING_STEPS:
                getattr(training, step)()
            ctx.write("training", training.artifact())
            self._templates[task] = root
        return self._templates[task]

    def copy(self, dst: Path, task: str, sections: dict | None = None) -> Path:
        """A private copy of the trained run of ``task`` in ``dst``; returns its config path."""
        import yaml

        src, dst = self.template(task), Path(dst)
        shutil.copytree(src, dst, dirs_exist_ok=True)
        for path in [dst / "config.yaml", *sorted((dst / "artifacts").glob("*.json"))]:
            path.write_text(path.read_text(encoding="utf-8").replace(str(src), str(dst)), encoding="utf-8")
        _relocate_store(dst / "mlflow" / "mlflow.db", str(src), str(dst))
        if sections:
            (dst / "config.yaml").write_text(yaml.safe_dump(task_config(dst, task, self._root() / "adult.csv", sections)),
                                             encoding="utf-8")
        return dst / "config.yaml"


TASK_RUNS = TaskRuns()
