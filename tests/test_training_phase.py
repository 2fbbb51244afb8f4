"""The training phase end to end: German credit with costs, high stakes, a candidate version, a second run."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.notebook import start
from kit.training.data import load_split
from kit.training.phase import TrainingRun
from kit.training.scoring import ScoringModel

DATA = Path(__file__).resolve().parents[1] / "data"


def config_file(tmp_path: Path, **training: object) -> Path:
    """A config with organization, the German credit dataset and a small training section."""
    raw = {
        "name": "credit",
        "organization": {"name": "Test bank"},
        "dataset": {"path": str(DATA / "german_credit" / "german_credit.csv"), "target": "credit_risk",
                    "positive_class": "bad", "sensitive": ["personal_status_sex", "age", "foreign_worker"]},
        "training": {"max_trees": 80, "early_stopping_rounds": 15, "bootstrap": 60,
                     "costs": {"false_positive": 1, "false_negative": 5}, "stakes": "high", **training},
    }
    path = tmp_path / "credit.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_phase(config: Path, run_dir: Path) -> tuple[TrainingRun, dict]:
    """Every notebook step in order; returns the run and its artifact."""
    ctx = start(config, run_dir)
    run = TrainingRun(ctx)
    run.inputs()
    run.load()
    run.make_split()
    run.check_quality()
    run.build_contract()
    run.train()
    run.check_gates()
    run.register()
    artifact = run.artifact()
    ctx.write("training", artifact)
    return run, artifact


def test_phase_registers_a_candidate_and_a_second_run(tmp_path: Path, mlflow_tracking_uri: str) -> None:
    config = config_file(tmp_path)
    run, art = run_phase(config, tmp_path / "run1")
    assert set(art) >= {"dataset", "contract", "quality", "split", "leaderboard", "champion", "gates", "headline", "headline_status",
                        "decision_inputs", "promotion"}
    assert art["dataset"]["rows"] == 1000 and art["dataset"]["positive_class"] == "bad"
    champ = art["champion"]
    # phase 2 never promotes: a candidate that waits for phase 3's evidence (and, at high stakes, a sign-off)
    assert champ["status"] == "candidate" and champ["version"] == "1"
    assert champ["failed_gates"] == [] and art["headline_status"] == "warn"
    assert art["promotion"]["reasons"] == ["candidate: awaiting explainability evidence (phase 3)"]
    assert art["signoff_required"] is True and run._registry().champion_version(run.model_name) is None
    assert {"model_name", "version", "status", "model_dir", "tracking_uri", "metrics", "threshold", "features"} <= set(champ)
    inputs = {d["input"]: d for d in art["decision_inputs"]}
    assert inputs["error costs"] == {"input": "error costs", "value": "FP 1, FN 5", "source": "config (training.costs)"}
    assert inputs["stakes"]["source"] == "config (training.stakes)" and inputs["explainability tier"]["value"] == "high"
    assert champ["threshold_objective"] == "lowest error cost"
    assert champ["threshold"] < 0.5  # misses cost 5x false alarms
    assert champ["metrics"]["roc_auc"]["low"] <= champ["metrics"]["roc_auc"]["value"] <= champ["metrics"]["roc_auc"]["high"]
    assert (tmp_path / "run1" / champ["model_dir"] / "scoring.json").is_file()
    assert (tmp_path / "run1" / art["contract"]["path"]).is_file()
    # the saved model scores the recorded test rows exactly as in training
    X_test, y_test = load_split(tmp_path / "run1", None, "test")
    model = ScoringModel.load(tmp_path / "run1" / champ["model_dir"])
    assert (model.predict_proba(X_test) == run.best.extra["test_proba"]).all()
    # a second run: same metrics, same registered model lineage, still no champion to compare with
    run2, art2 = run_phase(config, tmp_path / "run2")
    assert art2["champion"]["metrics"] == champ["metrics"] and run2.model_name == run.model_name
    boards = [pd.DataFrame(a["leaderboard"]).drop(columns="fit_seconds") for a in (art, art2)]
    assert boards[0].equals(boards[1])
    assert art2["gates"]["no regression"]["reason"].startswith("no current champion")
    assert art2["champion"]["status"] == "candidate" and art2["champion"]["version"] == "2"


def test_minimal_config_and_bad_input(tmp_path: Path, mlflow_tracking_uri: str) -> None:
    from kit.errors import ConfigError, DataError

    raw = {"organization": {"name": "x"},
           "dataset": {"path": str(DATA / "german_credit" / "german_credit.csv"), "target": "credit_risk", "positive_class": "bad"},
           "training": {"min_rows": 5000, "track": False}}
    path = tmp_path / "min.yaml"
    path.write_text(yaml.safe_dump(raw))
    run = TrainingRun(start(path, tmp_path / "r"))
    assert run.require_approval is False and run.costs is None
    with pytest.raises(DataError, match="fewer than training.min_rows"):
        run.load()
    raw["dataset"]["positive_class"] = "ugly"
    raw["training"]["min_rows"] = 200
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="'ugly' does not occur"):  # found by the config check, before any phase
        TrainingRun(start(path, tmp_path / "r")).load()
    assert not (Path(mlflow_tracking_uri[10:]).parent / "artifacts").exists()  # nothing registered


def test_leakage_screen_runs_on_training_rows_after_the_split(tmp_path: Path) -> None:
    from kit.errors import KitError
    from kit.training.data import feature_columns
    from kit.training.quality import quality_report

    run = TrainingRun(start(config_file(tmp_path, track=False), tmp_path / "run"))
    run.inputs()
    run.load()
    with pytest.raises(KitError, match=r"make_split\(\) comes before run.check_quality\(\)"):
        run.check_quality()
    run.make_split()
    run.check_quality()
    candidates = feature_columns(run.frame, run.spec)
    train_only = quality_report(run.frame, run.spec, candidates, run.y, seed=run.seed, rows=run.split.parts["train"])
    pd.testing.assert_frame_equal(run.quality.leakage, train_only.leakage)
    everything = quality_report(run.frame, run.spec, candidates, run.y, seed=run.seed)
    assert not run.quality.leakage.equals(everything.leakage)  # the test rows would have changed the scores
