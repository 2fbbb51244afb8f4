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
from kit.training.phase import TrainingRun, default_model_name, resolve_costs
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


@pytest.fixture
def store(mlflow_tracking_uri: str) -> Registry:
    """The test's private registry (KIT_TRACKING_URI points at it)."""
    return Registry(mlflow_tracking_uri)


def test_high_stakes_model_with_failed_fairness_never_becomes_champion(tmp_path: Path, store: Registry) -> None:
    config, run_dir = credit_config(tmp_path), tmp_path / "run"
    run = phase2(config, run_dir)
    training = json.loads((run_dir / "artifacts" / "training.json").read_text())
    # phase 2 registers a candidate and says why it is not promoted yet
    assert store.champion_version(run.model_name) is None
    assert training["champion"]["status"] == "candidate" and training["champion"]["version"] == "1"
    assert training["headline"]["Promotion"] == promotion.PENDING_PHASE3
    assert store.version_tags(run.model_name, "1")["status"] == "candidate"
    assert "human sign-off" not in training["gates"]  # sign-off comes after the evidence
    with pytest.raises(ArtifactError, match="no explainability evidence"):
        promotion.give_signoff(run_dir, "Ann Lee, credit risk", "looks fine")
    # phase 3: the high tier (from training.stakes) needs a passed fairness gate; age and sex fail here
    decision = phase3(config, run_dir)
    training, explain = artifacts(run_dir)
    assert explain["tier"] == "high" and explain["fairness_gate"] == "failed"
    assert decision["status"] == "candidate" and "fairness" in decision["failed_gates"]
    assert decision["gates"]["tier evidence"]["passed"] and decision["acceptable_with_justification"] == []
    assert store.champion_version(run.model_name) is None
    assert store.version_tags(run.model_name, "1")["status"] == "candidate"
    assert store.version_tags(run.model_name, "1")["promotion.fairness"] == "failed"
    # one truth in every artifact and the card
    assert training["champion"]["status"] == explain["promotion"]["status"] == "candidate"
    assert training["promotion"]["status"] == "candidate" and "fairness" in training["headline"]["Promotion"]
    card = json.loads((run_dir / explain["model_card"]["json"]).read_text())
    assert card["model_details"]["registry_status"] == "candidate" and card["risk"]["gates"]["fairness"] == "failed"
    assert "candidate" in (run_dir / explain["model_card"]["markdown"]).read_text()
    # the remedies sit beside the failed gate
    table = xphase.promotion_table(decision)
    assert "Mitigate" in table.loc["fairness", "what you can do"] and table.loc["beats baseline", "what you can do"] == ""
    # a sign-off cannot override it, nor accept it at high stakes
    with pytest.raises(promotion.PromotionError, match="cannot sign off while gates fail: fairness"):
        promotion.give_signoff(run_dir, "Ann Lee, credit risk", "looks fine")
    with pytest.raises(promotion.PromotionError, match="acceptable at this tier: none"):
        promotion.give_signoff(run_dir, "Ann Lee, credit risk", "looks fine", accept=["fairness"])
    assert store.approval(run.model_name, "1") is None and store.champion_version(run.model_name) is None


def test_signoff_after_evidence_promotes_and_stale_evidence_is_refused(tmp_path: Path, store: Registry) -> None:
    # high stakes (sign-off required); a low tier set explicitly and no sensitive columns: every other gate passes
    config, run_dir = credit_config(tmp_path, sensitive=[], explain={"tier": "low"}), tmp_path / "run"
    run = phase2(config, run_dir)
    decision = phase3(config, run_dir)
    assert decision["status"] == promotion.AWAITING and decision["failed_gates"] == ["human sign-off"]
    assert store.champion_version(run.model_name) is None
    training, explain = artifacts(run_dir)
    assert training["champion"]["status"] == promotion.AWAITING
    assert json.loads((run_dir / explain["model_card"]["json"]).read_text())["model_details"]["registry_status"] == promotion.AWAITING
    # the command line signs off, naming the evidence it saw
    from kit.__main__ import main

    assert main(["signoff", str(run_dir), "--by", "Ann Lee, credit risk", "--why", "read the report"]) == 0
    assert store.champion_version(run.model_name) == "1"
    tags = store.version_tags(run.model_name, "1")
    assert tags["status"] == "champion" and tags["approval.by"] == "Ann Lee, credit risk"
    training, explain = artifacts(run_dir)
    assert tags["approval.evidence"] == explain["promotion"]["evidence_sha256"] == promotion.evidence_digest(
        explain, {n: g for n, g in explain["promotion"]["gates"].items() if n != promotion.SIGNOFF})
    assert training["champion"]["status"] == explain["promotion"]["status"] == "champion"
    assert training["headline_status"] == "ok" and training["headline"]["Promotion"] == "champion (v1)"
    card = json.loads((run_dir / explain["model_card"]["json"]).read_text())
    assert card["model_details"]["registry_status"] == "champion"
    # evidence changed after the decision: a new sign-off is refused, and the old one no longer counts
    explain["fairness_gate"] = "passed (edited)"
    (run_dir / "artifacts" / "explain.json").write_text(json.dumps(explain))
    with pytest.raises(promotion.PromotionError, match="explain.json changed after phase 3"):
        promotion.give_signoff(run_dir, "Ann Lee, credit risk", "again")
    gates = {n: g for n, g in explain["promotion"]["gates"].items() if n != promotion.SIGNOFF}
    stale = promotion.decide(gates, "1", True, store.approval(run.model_name, "1"), promotion.evidence_digest(explain, gates))
    assert stale["status"] == promotion.AWAITING and "evidence changed" in stale["reasons"][0]
    other = promotion.decide(gates, "2", True, store.approval(run.model_name, "1"), tags["approval.evidence"])
    assert other["status"] == promotion.AWAITING and "for version 1, not 2" in other["reasons"][0]


def test_medium_stakes_may_accept_a_failed_fairness_gate_with_a_recorded_justification(tmp_path: Path, store: Registry) -> None:
    config, run_dir = credit_config(tmp_path, stakes="medium", sensitive=["personal_status_sex"]), tmp_path / "run"
    run = phase2(config, run_dir)
    decision = phase3(config, run_dir)
    assert decision["status"] == "candidate" and decision["failed_gates"] == ["fairness"]  # no sign-off needed, fairness failed
    assert "--accept fairness" in decision["reasons"][-1]
    result = promotion.give_signoff(run_dir, "Bo Chan, lending", "gap explained by loan purpose; reviewed monthly",
                                    accept=["fairness"])
    assert result["status"] == "champion" and result["accepted"] == "fairness"
    assert store.champion_version(run.model_name) == "1"
    training, explain = artifacts(run_dir)
    assert explain["promotion"]["accepted_gates"] == ["fairness"]
    assert "ACCEPTED by Bo Chan" in explain["promotion"]["gates"]["fairness"]["reason"]


def test_regression_gate_compares_like_with_like_on_the_selection_metric(tmp_path: Path, store: Registry) -> None:
    # run 1 becomes champion (low stakes and tier, no sensitive columns)
    base = dict(stakes="low", sensitive=[], explain={"tier": "low"}, model_name="credit-model", selection_metric="pr_auc")
    config = credit_config(tmp_path, "one", **base)
    run1 = phase2(config, tmp_path / "one")
    assert phase3(config, tmp_path / "one")["status"] == "champion"
    assert "test pr_auc" in run1.gates["beats baseline"]["reason"]
    board = run1.leaderboard.set_index("candidate")
    assert f"{board.loc['xgboost', 'pr_auc']:.4f}" in run1.gates["beats baseline"]["reason"]
    # run 2: same data and features; compared with champion v1 on PR AUC over the same rows
    run2 = phase2(credit_config(tmp_path, "two", **base), tmp_path / "two")
    assert run2.gates["no regression"]["passed"]
    assert "test pr_auc" in run2.gates["no regression"]["reason"] and "champion v1" in run2.gates["no regression"]["reason"]
    # run 3: another feature set under the same name is not comparable, and fails by the content rule
    three = credit_config(tmp_path, "three", **base)
    raw = yaml.safe_load(three.read_text())
    raw["dataset"]["drop_columns"] = ["telephone"]
    three.write_text(yaml.safe_dump(raw))
    run3 = phase2(three, tmp_path / "three")
    gate = run3.gates["no regression"]
    assert not gate["passed"] and gate["reason"].startswith("not comparable: champion v1 was trained on other features")
    assert "telephone" in gate["reason"]
    # the default name keeps the lineages apart: same target and features (in any order) share one name
    name = lambda feats: default_model_name("credit", "credit_risk", feats)  # noqa: E731
    assert name(run1.features) == name(run2.features) == name(list(reversed(run1.features)))
    assert name(run1.features) != name(run3.features) and name(run1.features).startswith("credit-credit-risk-")
    assert default_model_name("credit", "other_target", run1.features) != name(run1.features)


# ---- fast checks of the pure pieces -----------------------------------------------------------
def test_gates_follow_the_metric_direction_and_need_enough_test_rows() -> None:
    from kit.training import gates

    # log loss: lower is better
    assert gates.baseline_gate(0.40, 0.50, "logistic_regression", 0.05, "log_loss")["passed"]
    assert not gates.baseline_gate(0.50, 0.40, "logistic_regression", 0.0, "log_loss")["passed"]
    assert gates.best_baseline(__import__("pandas").Series({"majority": 0.61, "lr": 0.45}), "log_loss") == ("lr", 0.45)
    assert gates.best_baseline(__import__("pandas").Series({"majority": 0.30, "lr": 0.45}), "pr_auc") == ("lr", 0.45)
    assert not gates.regression_gate(0.46, 0.45, "3", 0.005, "brier")["passed"]  # a higher Brier score is worse
    assert gates.regression_gate(0.44, 0.45, "3", 0.005, "brier")["passed"]
    assert not gates.regression_gate(0.80, 0.85, "3", 0.005, "pr_auc")["passed"]
    # 10 test rows (the tester's AUC 0.857 in [0.51, 1.00]) cannot carry a promotion
    ten = gates.test_evidence_gate([0] * 7 + [1] * 3, 100, 10)
    assert not ten["passed"] and ten["reason"].startswith("10 test rows (3 positive, 7 negative)")
    assert gates.test_evidence_gate([0] * 150 + [1] * 10, 100, 10)["passed"]
    assert not gates.test_evidence_gate([0] * 150 + [1] * 9, 100, 10)["passed"]


def test_too_few_test_rows_block_promotion_on_bundled_data(tmp_path: Path, store: Registry) -> None:
    config = credit_config(tmp_path, stakes="low", sensitive=[], test_size=0.05, min_test_rows=60, min_test_class_count=20)
    run = phase2(config, tmp_path / "run")
    gate = run.gates["test evidence"]
    assert not gate["passed"] and gate["reason"].startswith("50 test rows (15 positive, 35 negative)")
    training = json.loads((tmp_path / "run" / "artifacts" / "training.json").read_text())
    assert training["headline"]["Promotion"] == "candidate: training gates failed (test evidence)"
    decision = promotion.decide(promotion.evidence_gates(training["gates"], {"tier": "low", "status": "passed"}, "not assessed"),
                                "1", False)
    assert decision["status"] == "candidate" and decision["failed_gates"] == ["test evidence"]


def test_config_approval_is_refused_with_the_signoff_command(tmp_path: Path) -> None:
    from kit.config import load_config

    path = credit_config(tmp_path, approval={"approved_by": "Ann Lee", "reason": "batch approval"})
    with pytest.raises(ConfigError, match="cannot have seen the fairness and tier evidence.*python -m kit signoff REPORT_DIR"):
        load_config(path)


def _use_cases(run_dir: Path) -> None:
    """A use-case artifact whose pilot carries costs, a KPI and high stakes."""
    (run_dir / "artifacts").mkdir(parents=True)
    pilot = {"name": "Churn prediction", "stakes": "high", "explainability_tier": "high",
             "costs": {"false_positive": 60, "false_negative": 600}, "kpi": {"metric": "recall", "threshold": 0.7}}
    (run_dir / "artifacts" / "use_cases.json").write_text(json.dumps({"pilot": pilot}))


def test_bundled_pilot_never_drives_decisions_and_the_users_costs_win(tmp_path: Path) -> None:
    raw = yaml.safe_load(credit_config(tmp_path).read_text())
    del raw["training"]["stakes"]
    # no portfolio in the config: the pilot is from the bundled illustrative portfolio
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(raw))
    _use_cases(tmp_path / "a")
    run = TrainingRun(start(path, tmp_path / "a"))
    assert run.illustrative and run.costs is None and run.kpi is None and run.stakes is None
    assert run.require_approval is False and run.tier == "medium"
    table = run.inputs()
    assert table.loc["error costs", "source"].startswith("default") and table.loc["stakes", "source"] == "default (not given)"
    assert "bundled illustrative portfolio" in table.loc["explainability tier", "source"]
    assert any("bundled illustrative portfolio" in n for n in run.notes)
    # the user's own portfolio: its pilot's values apply, but what the user wrote in training wins
    raw["use_cases"] = {"portfolio_path": str(DATA / "use_cases" / "portfolio.csv")}
    raw["training"]["costs"] = {"false_positive": 1, "false_negative": 2}
    path.write_text(yaml.safe_dump(raw))
    _use_cases(tmp_path / "b")
    run = TrainingRun(start(path, tmp_path / "b"))
    assert not run.illustrative
    assert run.costs == {"false_positive": 1.0, "false_negative": 2.0}
    assert run.kpi == {"metric": "recall", "threshold": 0.7} and run.stakes == "high" and run.require_approval
    table = run.inputs()
    assert table.loc["error costs", "source"] == "config (training.costs)"
    assert table.loc["pilot KPI gate", "source"] == table.loc["stakes", "source"] == "portfolio (pilot Churn prediction)"
    assert table.loc["selection metric", "source"] == "default" and table.loc["baseline margin", "value"] == "0"
    assert resolve_costs(run.settings, {"costs": {"false_positive": 9, "false_negative": 9}})[0] == {"false_positive": 1.0, "false_negative": 2.0}


# ---- every task: phase 3 on real regression and multiclass training runs, then the one decision ----------------
from task_runs import TASK_RUNS  # noqa: E402


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_promotion_decides_on_every_task_with_its_metric_as_evidence(task: str, tmp_path: Path) -> None:
    config = TASK_RUNS.copy(tmp_path / task, task)
    run_dir = config.parent
    final = phase3(config, run_dir)
    training, explain = artifacts(run_dir)
    metric = {"regression": "rmse", "multiclass": "macro_f1"}[task]
    assert final["metric"]["metric"] == metric and final["metric"]["task"] == task
    assert final["metric"]["value"] == training["champion"]["metrics"][metric]["value"]
    assert final["metric"]["higher_is_better"] is (task == "multiclass")
    assert explain["task"]["task"] == task and explain["model"]["threshold"] is None
    # the training gates on the task's metric passed; the decision follows the fairness gate at the medium tier
    assert {n: g["passed"] for n, g in final["gates"].items() if n in training["gates"]} == {n: True for n in training["gates"]}
    name, version = training["champion"]["model_name"], final["version"]
    registry = Registry(training["champion"]["tracking_uri"])
    if explain["fairness_gate"] == "passed":
        assert final["status"] == promotion.CHAMPION and registry.champion_version(name) == str(version)
        assert any(r.startswith(f"evidence: {metric} ") for r in final["reasons"])
    else:
        assert final["status"] == promotion.CANDIDATE and final["failed_gates"] == ["fairness"]
        assert registry.champion_version(name) is None
        signed = promotion.give_signoff(run_dir, "Ada Lovelace, census lead", "group gaps reflect the census file", accept=["fairness"])
        assert signed["status"] == promotion.CHAMPION and registry.champion_version(name) == str(version)
        after = artifacts(run_dir)[1]["promotion"]
        assert after["metric"]["metric"] == metric and any(r.startswith(f"evidence: {metric} ") for r in after["reasons"])
    card = json.loads((run_dir / explain["model_card"]["json"]).read_text())
    assert card["model_details"]["task"] == task and card["model_details"]["headline_metric"] == metric
