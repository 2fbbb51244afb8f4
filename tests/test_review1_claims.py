"""Review of issue 11 on data nobody tuned for: reports never claim what their numbers do not support."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from types import SimpleNamespace

from kit.explain import display
from kit.explain import phase as xphase
from kit.notebook import start
from kit.use_cases.portfolio import DEMO_PORTFOLIO

from test_explain_fixtures import make_run
from test_use_cases_phase import make_ctx, run_phase


def test_bundled_portfolio_pilot_is_marked_illustrative_on_the_index(tmp_path):
    """No portfolio in the config: the index must not present the demo's pilot as the user's."""
    art = run_phase(make_ctx(tmp_path))
    assert art["illustrative"] is True
    assert "illustrative" in art["headline"]["Pilot"] and art["headline"]["Pilot"].startswith("Churn prediction")
    assert art["headline_status"] == "warn"


def test_a_named_portfolio_is_not_illustrative(tmp_path):
    """Naming a portfolio file (even the bundled one, as the demo does) is the user's own choice."""
    art = run_phase(make_ctx(tmp_path, {"portfolio_path": str(DEMO_PORTFOLIO)}))
    assert art["illustrative"] is False
    assert art["headline"]["Pilot"] == "Churn prediction"


def test_explain_summary_names_the_candidate_not_champion():
    """Phase 3 explains the phase-2 candidate; the summary must say so, with its registered name."""
    inputs = SimpleNamespace(
        champion={"model_name": "adult-income-1a2b3c4d", "version": "1", "status": "candidate"},
        model=SimpleNamespace(algorithm="xgboost", features=["a", "b"]), threshold=0.4,
        y=np.array([0, 1, 1, 0]), spec=SimpleNamespace(sensitive=["sex"]), tier="high", tier_source="config")
    text = display.inputs_summary(inputs).data
    assert "adult-income-1a2b3c4d v1, candidate" in text
    assert "champion" not in text


def test_model_card_does_not_claim_the_bundled_pilot(tmp_path):
    """A card for the user's own dataset must not say its pilot is the demo portfolio's 'Churn prediction'."""
    ctx = start(make_run(tmp_path / "run"), tmp_path / "run")
    assert ctx.config.use_cases.portfolio is None and ctx.config.use_cases.portfolio_path is None
    ctx.write("use_cases", {"pilot": {"name": "Churn prediction"}, "illustrative": True})
    inputs = xphase.load_inputs(ctx)
    glob, reasons, fair = xphase.explain_global(inputs), xphase.export_reason_codes(inputs), xphase.assess_fairness(inputs)
    queue = xphase.build_review_queue(inputs, reasons)
    facts = xphase.model_card_facts(inputs, glob, reasons, fair, queue, xphase.check_tier(inputs, glob, reasons, fair, queue))
    assert facts["intended_use"]["pilot"].startswith("none")
    assert "Churn prediction" not in json.dumps(facts["intended_use"])


def test_challenger_fairness_ignores_groups_with_one_positive():
    """A group with 200 rows but 2 positives has a TPR of 0, 0.5 or 1: noise that must not pass or fail a challenger."""
    from fairlearn.metrics import equalized_odds_difference

    from kit.monitoring.retraining import fairness_gap

    rng = np.random.default_rng(3)
    group = np.array(["a"] * 200 + ["b"] * 200)
    y = np.r_[np.r_[np.ones(2, dtype=int), np.zeros(198, dtype=int)], rng.integers(0, 2, 200)]
    predicted = np.where(rng.random(400) < 0.8, y, 1 - y)
    frame = pd.DataFrame({"g": group})
    assert equalized_odds_difference(y, predicted, sensitive_features=group) > 0  # fairlearn would report a figure
    assert fairness_gap(y, predicted, frame, ["g"], min_group=30) is None  # not enough evidence, said as such
    y[:5] = 1  # five positives in group a: phase 3's minimum, now a real figure
    assert fairness_gap(y, predicted, frame, ["g"], min_group=30) == pytest.approx(
        equalized_odds_difference(y, predicted, sensitive_features=group))


def test_resampled_workshop_batches_say_they_overstate_the_evidence(tmp_path):
    """200 held-out rows cannot make 8 batches of 600 real rows: the report must say each batch repeats ~25 rows."""
    from kit.monitoring import run
    from kit.monitoring.scenarios import Batch, resampling_note
    from test_monitoring_fixtures import make_run

    assert resampling_note(4800, 8, 600) is None
    note = resampling_note(200, 8, 600)
    assert "repeats about 25 distinct rows (x24)" in note and "monitoring.batch_size to 25" in note
    ctx = make_run(tmp_path)
    setup = run.load_setup(ctx)
    settings = ctx.config.monitoring
    result = run.monitor(setup, [Batch("b", setup.held_out.head(300))], settings)
    latency = run.measure_latency(setup.model, setup.reference, rows=100, repeats=3, budget_ms=1e6)
    outcome = {"triggered": False, "decision": "none", "reason": "-", "challenger": None}
    held = len(setup.held_out)
    settings.n_batches, settings.batch_size = 4, held  # 4 x all held-out rows: resampled
    artifact = run.build_artifact(setup, result, outcome, {}, latency, None, settings)
    assert "Scenario rows" in artifact["headline"] and any("overstate the evidence" in w for w in artifact["warnings"])
    settings.batch_size = held // 4  # real, distinct rows: nothing to say
    artifact = run.build_artifact(setup, result, outcome, {}, latency, None, settings)
    assert "Scenario rows" not in artifact["headline"] and not any("overstate" in w for w in artifact["warnings"])


def test_signoff_after_the_chain_corrects_the_monitoring_headline(tmp_path):
    """Phase 4 ran before the sign-off and watched a candidate; once promoted, the index must not still say 'no champion'."""
    from kit import promotion
    from kit.artifacts import read_artifact, write_artifact

    champ = {"model_name": "credit-class-61da1833", "version": "1", "algorithm": "xgboost", "status": "candidate"}
    write_artifact(tmp_path, "training", {"champion": champ, "headline": {}, "headline_status": "warn"})
    write_artifact(tmp_path, "explain", {"headline": {}})
    watched = {"role": "candidate", "name": "credit-class-61da1833", "version": "1"}
    write_artifact(tmp_path, "monitoring", {"watched": watched, "headline": {
        "Watched model": "CANDIDATE credit-class-61da1833 v1 (no champion)"}})
    passed = {n: {"passed": True, "reason": "ok"} for n in ("data contract", "tier evidence", "fairness")}
    promotion.write_outcome(tmp_path, promotion.decide(passed, "1", False))
    headline = read_artifact(tmp_path, "monitoring")["headline"]["Watched model"]
    assert "no champion" not in headline and "before its promotion to champion" in headline
    assert "python -m kit run CONFIG" in headline
    # a candidate that stays a candidate keeps the honest monitoring line
    write_artifact(tmp_path, "monitoring", {"watched": watched, "headline": {"Watched model": "CANDIDATE x"}})
    promotion.write_outcome(tmp_path, promotion.decide({**passed, "fairness": {"passed": False, "reason": "failed"}}, "1", False))
    assert read_artifact(tmp_path, "monitoring")["headline"]["Watched model"] == "CANDIDATE x"


def _fake(name: str, proba: np.ndarray, kind: str = "model"):
    """A scored binary candidate: the same fixed probabilities on validation and test rows, threshold 0.5."""
    from kit.training.pipeline import Candidate

    return Candidate(name=name, kind=kind, params={}, valid_proba=proba, fit_seconds=0.0, baseline=lambda X: proba,
                     trials=0, threshold=0.5)


def test_leaderboard_ranks_by_the_selection_metric():
    """With selection_metric pr_auc the table's first row is the best on PR AUC, not on ROC AUC."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from kit.training.pipeline import evaluate

    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    ranker = np.array([0.9, 0.05, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])  # one positive first, one last: AP 0.60, AUC 0.50
    spread = np.array([0.7, 0.6, 0.9, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])  # both third and fourth: AP 0.42, AUC 0.75
    assert roc_auc_score(y, spread) > roc_auc_score(y, ranker)
    assert average_precision_score(y, ranker) > average_precision_score(y, spread)
    cands = [_fake("spread", spread), _fake("ranker", ranker)]
    board = evaluate(cands, pd.DataFrame({"x": range(10)}), y, "pr_auc", y)
    assert list(board["candidate"]) == ["ranker", "spread"] and "valid_pr_auc" in board
    board = evaluate(cands, pd.DataFrame({"x": range(10)}), y, "log_loss", y)  # lower is better: ascending
    assert board["log_loss"].is_monotonic_increasing


def test_the_chosen_model_leads_the_leaderboard_when_validation_and_test_disagree():
    """Adult on Dask: XGBoost led on test AUC while LightGBM, better on validation, was chosen; the table is ranked
    by the validation score that chose, so its first booster is the chosen one."""
    from sklearn.metrics import roc_auc_score

    from kit.training.pipeline import evaluate, select_best

    y_test = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    y_valid = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    ranker = np.array([0.9, 0.05, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    spread = np.array([0.7, 0.6, 0.9, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    assert roc_auc_score(y_test, spread) > roc_auc_score(y_test, ranker)    # spread is better on test
    assert roc_auc_score(y_valid, ranker) > roc_auc_score(y_valid, spread)  # ranker is better on validation
    cands = [_fake("spread", spread), _fake("ranker", ranker), _fake("base", spread * 0.5, kind="baseline")]
    board = evaluate(cands, pd.DataFrame({"x": range(10)}), y_test, "roc_auc", y_valid)
    assert board["candidate"].iloc[0] == select_best(cands, y_valid, "roc_auc").name == "ranker"
    assert board["valid_roc_auc"].is_monotonic_decreasing


def test_kit_check_refuses_a_numeric_production_time_column(tmp_path):
    """monitoring.production.time_column of numbers passed kit check and failed only in phase 4; now refused up front."""
    import yaml
    from kit.config import load_config
    from kit.errors import ConfigError

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"year": np.repeat(np.arange(2000, 2010), 30), "x": rng.normal(size=300),
                          "y": rng.integers(0, 2, 300)})
    frame.to_csv(tmp_path / "d.csv", index=False)

    def config(**production):
        raw = {"organization": {"name": "Acme"}, "dataset": {"path": str(tmp_path / "d.csv"), "target": "y"},
               "monitoring": {"production": {"path": str(tmp_path / "d.csv"), "frequency": "Y", **production}}}
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(raw))
        return tmp_path / "run.yaml"

    with pytest.raises(ConfigError, match=r"monitoring.production.time_column: column 'year' holds numbers"
                                          r".*monitoring.production.time_format: year"):
        load_config(config(time_column="year"))
    with pytest.raises(ConfigError, match=r"monitoring.production.time_column: column 'yeer' not in d.csv; did you mean 'year'"):
        load_config(config(time_column="yeer"))
    assert load_config(config(time_column="year", time_format="year")).monitoring.production.time_format == "year"


def test_readiness_headline_says_a_level_without_evidence_is_assumed():
    """A config with no readiness section must not show 'Maturity level 1' on the index as if it were measured."""
    from kit.readiness.assess import assess, headline
    from kit.readiness.config import ReadinessSection

    head, status = headline(assess(ReadinessSection()))
    assert head["Maturity level"].startswith("1 (Ad hoc), assumed: no readiness evidence") and status == "warn"
    head, _ = headline(assess(ReadinessSection(answers={"data_access": 3}, capabilities={"models_in_production": True})))
    assert "assumed" not in head["Maturity level"]


def test_challenger_decision_without_sensitive_columns_says_so():
    """No sensitive column at all is not 'too few rows in the groups': the reason names what is really missing."""
    from kit.monitoring.retraining import decide

    out = decide(0.80, 0.85, 0.005, None, None, 0.05, sensitive=False)
    assert "names no sensitive columns" in out["reason"] and "enough rows" not in out["reason"]
    assert out["fairness_evidence"] == "not enough evidence" and out["decision"] == "promote"
    assert "enough rows of both classes" in decide(0.80, 0.85, 0.005, None, None, 0.05)["reason"]


def test_no_regression_reason_reads_the_right_way_round():
    """A model better than the champion was reported as 'worse by -0.0200'; say better or worse, with the size."""
    from kit.training import gates

    better = gates.regression_gate(0.85, 0.83, "2", 0.005, "roc_auc")
    assert better["passed"] and "better by 0.0200" in better["reason"] and "worse by -" not in better["reason"]
    worse = gates.regression_gate(0.80, 0.83, "2", 0.005, "roc_auc")
    assert not worse["passed"] and "worse by 0.0300" in worse["reason"]
    lower_better = gates.regression_gate(0.40, 0.45, "2", 0.005, "log_loss")
    assert lower_better["passed"] and "better by 0.0500" in lower_better["reason"]
