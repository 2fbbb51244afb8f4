"""One promotion decision after all the evidence: candidate in phase 2, decision and sign-off after phase 3."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kit import promotion
from kit.errors import ArtifactError, ConfigError
from kit.explain import phase as xphase
from kit.notebook import start
from kit.training.phase import TrainingRun
from kit.training.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
STEPS = ("inputs", "load", "make_split", "check_quality", "build_contract", "train", "check_gates", "register")


def credit_config(tmp_path: Path, name: str = "credit", sensitive: list[str] | None = None,
                  explain: dict | None = None, **training: object) -> Path:
    """German credit, high stakes, one small XGBoost, a fast phase 3; MLflow from KIT_TRACKING_URI."""
    raw = {
        "name": name,
        "organization": {"name": "Test bank"},
        "dataset": {"path": str(DATA / "german_credit" / "german_credit.csv"), "target": "credit_risk",
                    "positive_class": "bad",
                    "sensitive": ["personal_status_sex", "age", "foreign_worker"] if sensitive is None else sensitive},
        "training": {"algorithms": ["xgboost"], "max_trees": 60, "early_stopping_rounds": 10, "bootstrap": 40,
                     "stakes": "high", **training},
        "explainability": {"time_budget_seconds": 0.3, "min_sample_rows": 100, "max_sample_rows": 200,
                           "fairness": {"bootstrap": 40}, **(explain or {})},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def phase2(config: Path, run_dir: Path) -> TrainingRun:
    """Every training notebook step, then the artifact."""
    ctx = start(config, run_dir)
    run = TrainingRun(ctx)
    for step in STEPS:
        getattr(run, step)()
    ctx.write("training", run.artifact())
    return run


def phase3(config: Path, run_dir: Path) -> dict:
    """Every explainability notebook step, including the promotion decision; returns the final decision."""
    ctx = start(config, run_dir)
    inputs = xphase.load_inputs(ctx)
    glob = xphase.explain_global(inputs)
    reasons = xphase.export_reason_codes(inputs)
    fair = xphase.assess_fairness(inputs)
    tag = xphase.record_fairness_gate(inputs, fair)
    queue = xphase.build_review_queue(inputs, reasons)
    gate = xphase.check_tier(inputs, glob, reasons, fair, queue)
    decision = xphase.decide_promotion(inputs, fair, gate)
    facts = xphase.model_card_facts(inputs, glob, reasons, fair, queue, gate, decision)
    card = xphase.write_model_card(inputs, facts)
    ctx.write("explain", xphase.explain_artifact(inputs, glob, reasons, fair, tag, queue, gate, card, decision))
    xphase.apply_promotion(ctx, decision)
    return json.loads((run_dir / "artifacts" / "explain.json").read_text())["promotion"]


def artifacts(run_dir: Path) -> tuple[dict, dict]:
    """(training.json, explain.json) of a run."""
    read = lambda n: json.loads((run_dir / "artifacts" / f"{n}.json").read_text())  # noqa: E731
    return read("training"), read("explain")
