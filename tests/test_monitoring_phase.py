"""Scenarios raise the alerts they should; bad batches become alerts; retraining decisions; rollback."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.monitoring import run
from kit.monitoring.config import ProductionSource
from kit.monitoring.retraining import decide, fired_rules, should_retrain
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
    details = result.quality.set_index("batch")["detail"]
    assert details["missing"] == "data contract: column 'tenure' is not in the batch"  # not '1 of 300 rows; e.g. tenure'
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
    names = [b.name for b in batches]
    judged = names.index(outcome["evaluated_on"][0])
    assert outcome["trained_on"]["batches"] and outcome["trained_on"]["batches"][-1] == names[judged - 1]
    assert not set(outcome["trained_on"]["batches"]) & set(outcome["evaluated_on"])
    assert outcome["candidates"]["selected"].sum() == 1 and outcome["algorithm"] in ctx.config.training.algorithms
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


def test_challenger_is_the_training_pipeline_same_settings_same_seed(phase):
    """On the champion's own rows, the monitoring challenger reproduces the champion exactly."""
    from kit.monitoring.retraining import train_challenger

    ctx, setup = phase
    meta = {"target": setup.model.target, "positive_class": setup.model.positive_class, "negative_class": setup.model.negative_class}
    ref, val = setup.reference, setup.validation
    model, table = train_challenger(ref.drop(columns=[run.TARGET]), ref[run.TARGET].to_numpy(), val.drop(columns=[run.TARGET]),
                                    val[run.TARGET].to_numpy(), setup.model.features, setup.training, setup.costs,
                                    ctx.config.seed, meta)
    rows = setup.held_out.head(400)
    np.testing.assert_allclose(model.predict_proba(rows), setup.model.predict_proba(rows), rtol=1e-6)
    assert model.threshold == pytest.approx(setup.model.threshold) and table["selected"].sum() == 1


def test_contract_value_failures_alert_above_their_share(phase):
    ctx, setup = phase
    good = setup.held_out.head(400).reset_index(drop=True)
    high = float(setup.reference["MonthlyCharges"].max()) * 3
    contract = ctx.config.monitoring.alerts
    cases = {
        "few_new": good.assign(Contract=good["Contract"].astype(object).where(good.index >= 4, "Lifetime")),   # 1% < 2%
        "many_new": good.assign(Contract=good["Contract"].astype(object).where(good.index >= 40, "Lifetime")),  # 10%
        "out_of_range": good.assign(MonthlyCharges=good["MonthlyCharges"].where(good.index >= 40, high)),
    }
    result = run.monitor(setup, [Batch(n, f) for n, f in cases.items()], ctx.config.monitoring)
    q = result.quality.set_index(["batch", "check"])
    assert ("few_new", "unseen_category") not in q.index
    assert q.loc[("many_new", "unseen_category"), "value"] == pytest.approx(0.1)
    assert q.loc[("many_new", "unseen_category"), "threshold"] == contract.unseen_share
    assert q.loc[("out_of_range", "out_of_range"), "feature"] == "MonthlyCharges"
    assert "data contract" in q.loc[("out_of_range", "out_of_range"), "detail"]
    assert result.batches.set_index("batch")["scored"].all()  # value failures do not stop scoring


def test_numbers_written_with_separators_are_counted_by_row_and_name_the_read_option(phase, tmp_path):
    """A production export that writes TotalCharges as "1,889.50": each such row counted once (pandera reports it
    twice), the finding names monitoring.production.read_options, and that option then reads the batch clean."""
    from kit.data import read_table

    ctx, setup = phase
    rows = setup.held_out.head(400).reset_index(drop=True)
    path = tmp_path / "export.csv"
    rows.assign(TotalCharges=rows["TotalCharges"].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")).to_csv(path, index=False)
    separated = int((rows["TotalCharges"] >= 1000).sum())
    assert 0 < separated < 400
    result = run.monitor(setup, [Batch("export", read_table(path))], ctx.config.monitoring)
    finding = result.quality.set_index("check").loc["dtype_changed"]
    assert finding["feature"] == "TotalCharges" and f"({separated} of 400 rows;" in finding["detail"]
    assert "set monitoring.production.read_options: {'thousands': ',', 'decimal': '.'}" in finding["detail"]
    assert not result.batches["scored"].any()  # a structural failure stops scoring: no figures on broken inputs
    from kit.monitoring import display
    assert "no batch could be scored" in display.estimate_note(result).data  # not the estimator's usual note
    fixed = run.monitor(setup, [Batch("export", read_table(path, {"thousands": ",", "decimal": "."}))],
                        ctx.config.monitoring)
    assert fixed.quality.empty and fixed.batches["scored"].all()


def test_a_batch_with_some_blank_labels_says_how_many_instead_of_just_no_labels(phase):
    ctx, setup = phase
    rows = setup.held_out.head(300).reset_index(drop=True)
    raw = rows.drop(columns=[run.TARGET]).assign(Churn=np.where(rows[run.TARGET] == 1, "Yes", "No"))
    raw.loc[:4, "Churn"] = np.nan
    batch = run._labelled("b1", raw, "Churn", "Yes", setup.model)
    assert not batch.labelled and batch.blank_labels == 5
    result = run.monitor(setup, [batch, run._labelled("b2", raw.iloc[5:], "Churn", "Yes", setup.model)],
                         ctx.config.monitoring)
    performance = result.batches.set_index("batch")["performance"]
    assert performance["b1"].startswith("no labels: 5 of 300 rows have none") and performance["b2"] == "measured"


def test_drift_on_a_batch_too_small_to_judge_is_logged_as_info_and_triggers_nothing(phase):
    """One row gave 'tenure: PSI 8.3 (significant shift)' warnings and 'retraining triggered'."""
    ctx, setup = phase
    rows = setup.held_out.reset_index(drop=True)
    needed = ctx.config.monitoring.drift.bins * ctx.config.monitoring.drift.min_rows_per_bin
    tiny, shifted = rows.head(1), rows.head(400).assign(tenure=rows["tenure"].head(400) + 60)
    result = run.monitor(setup, [Batch("tiny", tiny), Batch("shifted", shifted)], ctx.config.monitoring)
    drift = result.alerts[result.alerts["rule"].isin(["psi_top_k", "prediction_drift"])].set_index("batch")
    assert (drift.loc[["tiny"], "severity"] == "info").all()
    assert drift.loc[["tiny"], "message"].str.endswith(f"(on 1 rows, fewer than bins x min_rows_per_bin = {needed}: "
                                                     "too few to judge a shift)").all()
    assert (drift.loc[["shifted"], "severity"] != "info").any()  # 400 rows: the shift is alerted as before
    assert fired_rules(result.alerts, "tiny", ctx.config.monitoring.retraining.trigger_rules) == []


def test_infinities_and_values_beyond_float32_are_a_finding_whatever_their_share(phase):
    """'-inf' and '1e308' in 20 of 800 rows passed silently (under the 2% out-of-range share), yet scored as missing."""
    ctx, setup = phase
    rows = setup.held_out.head(800).reset_index(drop=True)
    hostile = rows.assign(MonthlyCharges=rows["MonthlyCharges"].where(rows.index >= 10, 1e308),
                          TotalCharges=rows["TotalCharges"].where((rows.index < 10) | (rows.index >= 20), -np.inf))
    result = run.monitor(setup, [Batch("clean", rows), Batch("hostile", hostile)], ctx.config.monitoring)
    found = result.quality[result.quality["check"] == "non_finite"].set_index("feature")
    assert set(found["batch"]) == {"hostile"} and set(found.index) == {"MonthlyCharges", "TotalCharges"}
    assert found.loc["TotalCharges", "value"] == pytest.approx(10 / 800)
    assert "holds 10 infinite or out-of-range value(s) (e.g. [-inf, -inf])" in found.loc["TotalCharges", "detail"]
    severity = result.alerts.query("batch == 'hostile' and rule == 'data_quality'")["severity"]
    assert (severity == "critical").all() and len(severity) == 2


def test_apply_decision_registers_challenger_and_rollback_is_one_call(tmp_path):
    from kit.training.registry import Registry

    ctx = make_run(tmp_path)
    setup = run.load_setup(ctx)
    ctx.config.monitoring.scenario = "workshop"
    batches, _ = run.production_batches(ctx, setup)
    result = run.monitor(setup, batches, ctx.config.monitoring, ctx.config.seed)
    outcome = run.retrain(setup, batches, result, ctx.config.monitoring, ctx.config.seed)
    ctx.config.monitoring.production = ProductionSource(files=[])  # real batches (given above), not a synthetic scenario
    registry = Registry(setup.registry["uri"])
    name, before = setup.registry["name"], registry.champion_version(setup.registry["name"])
    kept = run.apply_decision(ctx, setup, outcome | {"decision": "keep"})
    assert registry.champion_version(name) == before and registry.version_tags(name, kept["version"])["status"] == "rejected"
    promoted = run.apply_decision(ctx, setup, outcome | {"decision": "promote"})
    assert registry.champion_version(name) == promoted["version"] != before
    tags = registry.version_tags(name, promoted["version"])
    assert tags["status"] == "champion" and tags["monitoring.decision"] == "promote" and tags["source"] == "monitoring retraining"
    assert run.rollback(ctx) == before
    assert registry.champion_version(name) == before
    assert registry.version_tags(name, promoted["version"])["status"] == "rolled_back"


def test_high_stakes_promotion_waits_for_human_signoff(tmp_path):
    from kit.training.registry import Registry

    ctx = make_run(tmp_path)
    setup = run.load_setup(ctx)
    ctx.config.monitoring.scenario = "workshop"
    ctx.config.training.require_approval = True
    batches, _ = run.production_batches(ctx, setup)
    result = run.monitor(setup, batches, ctx.config.monitoring, ctx.config.seed)
    outcome = run.retrain(setup, batches, result, ctx.config.monitoring, ctx.config.seed) | {"decision": "promote"}
    ctx.config.monitoring.production = ProductionSource(files=[])  # real batches (given above), not a synthetic scenario
    registry = Registry(setup.registry["uri"])
    name, before = setup.registry["name"], registry.champion_version(setup.registry["name"])
    applied = run.apply_decision(ctx, setup, outcome)
    assert registry.champion_version(name) == before
    assert registry.version_tags(name, applied["version"])["status"] == "awaiting sign-off"
    assert outcome["decision"] == "promote after sign-off" and "approve" in outcome["reason"]
