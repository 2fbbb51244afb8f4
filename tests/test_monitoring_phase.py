"""Scenarios raise the alerts they should; bad batches become alerts; retraining decisions; rollback."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.monitoring import run
from kit.monitoring.retraining import decide, should_retrain
from kit.monitoring.scenarios import Batch
from test_monitoring_fixtures import make_run

SCENARIOS = ["covariate_shift", "category_change", "concept_drift", "data_quality", "workshop"]


@pytest.fixture(scope="module")
def phase(tmp_path_factory):
    """(ctx, setup) of a small real run on Telco."""
    ctx = make_run(tmp_path_factory.mktemp("mon"))
    return ctx, run.load_setup(ctx)


def _run(ctx, setup, name: str):
    """Monitor the named scenario."""
    ctx.config.monitoring.scenario = name
    batches, log = run.production_batches(ctx, setup)
    return batches, log, run.monitor(setup, batches, ctx.config.monitoring, ctx.config.seed)


def test_no_drift_scenario_raises_nothing(phase):
    ctx, setup = phase
    batches, log, result = _run(ctx, setup, "no_drift")
    assert log.empty and len(batches) == ctx.config.monitoring.n_batches
    assert result.alerts[result.alerts["severity"] != "info"].empty
    assert result.measured["roc_auc"].between(0.75, 0.95).all()


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_injection_raises_its_alert(phase, name):
    ctx, setup = phase
    batches, log, result = _run(ctx, setup, name)
    alerts = result.alerts[result.alerts["severity"] != "info"]
    names = [b.name for b in batches]
    before = names[: log["first_batch"].min()]
    assert alerts[alerts["batch"].isin(before)].empty, "nothing may fire before the first injection"
    for row in log.itertuples():
        batch = names[row.first_batch]
        fired = alerts[(alerts["batch"] == batch) & (alerts["rule"] == row.expected_rule)]
        if row.expected_rule != "auc_drop":
            fired = fired[fired["feature"] == row.feature]
        assert not fired.empty, f"{row.kind} on {row.feature} in {batch} did not raise {row.expected_rule}"


def test_expected_performance_misses_concept_drift(phase):
    ctx, setup = phase
    batches, log, result = _run(ctx, setup, "concept_drift")
    after = [b.name for b in batches][log["first_batch"].iloc[0]:]
    drop_measured = result.measured["roc_auc"].iloc[0] - result.measured.loc[after, "roc_auc"].mean()
    drop_expected = result.expected["roc_auc"].iloc[0] - result.expected.loc[after, "roc_auc"].mean()
    assert drop_measured > 0.1 and abs(drop_expected) < 0.03


def test_bad_batches_become_quality_alerts_and_monitoring_goes_on(phase):
    ctx, setup = phase
    good = setup.held_out.head(300)
    batches = [
        Batch("ok", good.copy()),
        Batch("missing", good.drop(columns=["tenure"])),
        Batch("dtype", good.assign(MonthlyCharges=good["MonthlyCharges"].astype(str))),
        Batch("empty", good.iloc[:0]),
    ]
    result = run.monitor(setup, batches, ctx.config.monitoring)
    checks = result.quality.groupby("batch")["check"].apply(set).to_dict()
    assert checks == {"missing": {"missing_column"}, "dtype": {"dtype_changed"}, "empty": {"empty_batch"}}
    assert result.batches.set_index("batch")["scored"].to_dict() == {"ok": True, "missing": False, "dtype": False, "empty": False}
    assert "tenure" not in result.drift["missing"].index and "Contract" in result.drift["missing"].index
    assert (result.alerts.query("rule == 'data_quality'")["severity"] == "critical").all()


@pytest.mark.parametrize(
    "champion, challenger, gaps, expected",
    [
        (0.80, 0.83, (0.10, 0.12), "promote"),  # better by the margin, fairness within tolerance
        (0.80, 0.802, (0.10, 0.10), "keep"),    # better, but not by the margin
        (0.80, 0.85, (0.10, 0.30), "keep"),     # much better, fails the fairness gate
        (0.80, 0.70, (0.10, 0.05), "keep"),     # worse
    ],
)
def test_retraining_decision(champion, challenger, gaps, expected):
    out = decide(champion, challenger, 0.005, gaps[0], gaps[1], 0.05)
    assert out["decision"] == expected
    assert out["fair"] == (gaps[1] <= gaps[0] + 0.05)
    assert ("fails the fairness gate" in out["reason"]) == (out["better"] and not out["fair"])


def test_should_retrain_uses_recent_batches_and_trigger_rules():
    log = pd.DataFrame({"batch": ["w1", "w5", "w5"], "rule": ["auc_drop", "prediction_drift", "psi_top_k"],
                        "severity": ["critical", "warning", "info"]})
    assert should_retrain(log, ["auc_drop", "psi_top_k"], ["w4", "w5"])[0] is False
    assert should_retrain(log, ["auc_drop"], ["w1"]) [0] is True


def test_workshop_retrains_a_better_challenger_and_writes_the_artifact(phase):
    ctx, setup = phase
    batches, log, result = _run(ctx, setup, "workshop")
    outcome = run.retrain(setup, batches, result, ctx.config.monitoring, ctx.config.seed)
    assert outcome["triggered"] and outcome["decision"] in ("promote", "keep")
    assert outcome["comparison"].loc["roc_auc", "challenger"] > outcome["comparison"].loc["roc_auc", "champion"]
    latency = run.measure_latency(setup.model, setup.reference, rows=200, repeats=5, budget_ms=1e6)
    assert latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] and latency["within_budget"]
    applied = run.apply_decision(ctx, setup, outcome)
    artifact = run.build_artifact(setup, result, outcome, applied, latency, log, ctx.config.monitoring)
    path = ctx.write("monitoring", artifact)
    saved = ctx.read("monitoring")
    assert path.is_file() and saved["headline_status"] == "fail"
    assert set(saved) >= {"batches", "drift", "performance", "alerts", "retraining", "latency", "headline"}
    assert saved["retraining"]["decision"] == outcome["decision"]
    assert saved["drift"]["tenure"][batches[-1].name]["psi"] > 0.2


def test_rollback_restores_previous_champion(tmp_path):
    from kit.training.registry import Registry

    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "model.json").write_text("{}")
    versions = [registry.register("churn", registry.log_candidate("exp", f"r{i}", {}, {"auc": 0.8}, model_dir=model_dir)) for i in range(2)]
    registry.set_champion("churn", versions[0], "first")
    registry.set_champion("churn", versions[1], "monitoring challenger promoted")
    ctx = type("Ctx", (), {"config": type("C", (), {"training": type("T", (), {"tracking_uri": registry.uri})()})()})()
    assert run.rollback(ctx, "churn") == versions[0]
    assert registry.champion_version("churn") == versions[0]
    assert registry.version_tags("churn", versions[1])["status"] == "rolled_back"
