"""Decisions a user can trust: fairness evidence, synthetic scenarios, the watched model, the walk-forward
replay, minimum class counts, batch frequencies and training-period overlap (issue 11)."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from fairlearn.metrics import equalized_odds_difference
from sklearn.metrics import roc_auc_score

from kit.monitoring import run
from kit.monitoring.config import MonitoringSection, ProductionSource, frequency_unit
from kit.monitoring.retraining import decide, fairness_gap
from kit.monitoring.scenarios import Batch, batch_names
from kit.training.registry import Registry
from test_monitoring_fixtures import make_run


@pytest.fixture(scope="module")
def phase(tmp_path_factory):
    """(ctx, setup) of a small real run on Telco, its own registry."""
    ctx = make_run(tmp_path_factory.mktemp("trust"))
    return ctx, run.load_setup(ctx)


@pytest.fixture(scope="module")
def workshop(phase):
    """The workshop scenario monitored and replayed once."""
    ctx, setup = phase
    ctx.config.monitoring.scenario = "workshop"
    batches, log = run.production_batches(ctx, setup)
    result = run.monitor(setup, batches, ctx.config.monitoring, ctx.config.seed)
    return batches, log, result, run.retrain(setup, batches, result, ctx.config.monitoring, ctx.config.seed)


# ---- 1. fairness: real figures or "not enough evidence" ---------------------------------------------------
def _groups(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Two large groups with both classes and one tiny group with no positives."""
    group = np.array(["a"] * 200 + ["b"] * 200 + ["tiny"] * 4)
    y = np.r_[rng.integers(0, 2, 400), np.zeros(4, dtype=int)]
    predicted = np.where(rng.random(404) < 0.8, y, 1 - y)
    predicted[group == "tiny"] = 1
    return y, predicted, pd.DataFrame({"g": group})


def test_fairness_gap_counts_only_groups_with_enough_rows_of_both_classes():
    y, predicted, frame = _groups(np.random.default_rng(0))
    big = frame["g"] != "tiny"
    expected = equalized_odds_difference(y[big], predicted[big], sensitive_features=frame.loc[big, "g"])
    assert fairness_gap(y, predicted, frame, ["g"], min_group=30) == pytest.approx(expected)
    # the tiny all-negative group has FPR 1.0: counted, it would dominate the gap
    assert equalized_odds_difference(y, predicted, sensitive_features=frame["g"]) > expected + 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(60, 600))
def test_fairness_gap_equals_fairlearn_when_every_group_counts(seed, n):
    rng = np.random.default_rng(seed)
    groups, y, predicted = rng.choice(["a", "b", "c"], n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    mine = fairness_gap(y, predicted, pd.DataFrame({"g": groups}), ["g"], min_group=1, min_class=1)
    counts = pd.crosstab(groups, y)
    if counts.shape == (3, 2) and (counts.to_numpy() > 0).all():
        assert mine == pytest.approx(equalized_odds_difference(y, predicted, sensitive_features=groups), abs=1e-12)


def test_fairness_without_evidence_is_said_not_called_fair():
    y, predicted, frame = _groups(np.random.default_rng(1))
    assert fairness_gap(y, predicted, frame, ["g"], min_group=300) is None  # no group is big enough
    assert fairness_gap(y, predicted, frame, ["missing"], min_group=30) is None
    out = decide(0.80, 0.85, 0.005, None, None, 0.05)
    assert out["fairness_evidence"] == "not enough evidence" and out["fair"] is None
    assert "not enough evidence" in out["reason"] and "passes the fairness gate" not in out["reason"]
    measured = decide(0.80, 0.85, 0.005, 0.10, 0.12, 0.05)
    assert measured["fair"] is True and "passes the fairness gate (equalized-odds difference 0.120" in measured["reason"]


# ---- 5. minimum count of each class -------------------------------------------------------------------------
def test_batches_with_too_few_positives_are_shown_not_measured_and_never_alert(phase):
    ctx, setup = phase
    held = setup.held_out
    negatives = held[held[run.TARGET] == 0]
    positives = held[held[run.TARGET] == 1]
    # the model scores these negatives highest: with one positive ranked low, AUC would be tiny
    one = pd.concat([negatives.head(299), positives.iloc[[0]]], ignore_index=True)
    batches = [Batch("ok", held.head(400).copy()), Batch("one positive", one),
               Batch("no positive", negatives.head(300).reset_index(drop=True))]
    result = run.monitor(setup, batches, ctx.config.monitoring)
    table = result.batches.set_index("batch")
    assert table.loc["one positive", "performance"] == "too few labelled positives (1)"
    assert table.loc["no positive", "performance"] == "too few labelled positives (0)"
    assert table.loc["ok", "performance"] == "measured"
    assert list(result.measured.index) == ["ok"]
    perf_rules = result.alerts[result.alerts["rule"].isin(["auc_drop", "recall_floor"])]
    assert perf_rules.empty
    shown = run_display().performance_table(result)
    assert list(shown.index) == ["ok", "one positive", "no positive"]
    assert np.isnan(shown.loc["one positive", "roc_auc"]) and shown.loc["ok", "roc_auc"] > 0.7


def run_display():
    """The display module (imports matplotlib)."""
    from kit.monitoring import display

    return display


WITH_DATASET = SimpleNamespace(dataset=True)  # a run config with a dataset, for the scenario check


# ---- 6. frequencies users write -----------------------------------------------------------------------------
@pytest.mark.parametrize("text, unit", [("D", "D"), ("daily", "D"), ("W", "W"), ("weekly", "W"), ("M", "M"), ("MS", "M"),
                                        ("ME", "M"), ("monthly", "M"), ("Q", "Q"), ("QS", "Q"), ("QE", "Q"),
                                        ("quarterly", "Q"), ("Y", "Y"), ("A", "Y")])
def test_frequency_aliases_are_accepted(text, unit):
    assert frequency_unit(text) == unit
    assert MonitoringSection(frequency=text).check(WITH_DATASET) == []


def test_unknown_frequency_is_a_check_problem_and_scenario_names_use_period_starts():
    problems = MonitoringSection(frequency="fortnightly").check(WITH_DATASET)
    assert len(problems) == 1 and problems[0].startswith("frequency: 'fortnightly' is not a batch frequency")
    assert batch_names(3, "2026-01-05", "MS") == ["2026-02-01", "2026-03-01", "2026-04-01"]
    assert batch_names(2, "2026-01-01", "quarterly") == ["2026-01-01", "2026-04-01"]


def test_monthly_production_file_is_cut_by_ms_and_partial_periods_are_marked(phase, tmp_path):
    ctx, setup = phase
    rows = setup.held_out.head(450).drop(columns=[run.TARGET]).assign(
        Churn=np.where(setup.held_out[run.TARGET].head(450) == 1, "Yes", "No"),
        when=pd.date_range("2026-01-10", periods=450, freq="6h").astype(str))  # 10 Jan .. 3 May
    path = tmp_path / "prod.csv"
    rows.to_csv(path, index=False)
    settings = MonitoringSection.model_validate({"production": {"path": str(path), "time_column": "when", "frequency": "MS"}})
    assert settings.check(None) == []
    batches = run.file_batches(settings, "Churn", "Yes")
    assert [b.name for b in batches] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    assert [b.partial for b in batches] == [True, False, False, False, True]
    assert sum(len(b.frame) for b in batches) == 450 and all(b.labelled for b in batches)


# ---- 7. production rows inside the training period ----------------------------------------------------------
def test_rows_inside_the_training_period_are_counted_and_warned(phase):
    ctx, setup = phase
    n = len(setup.reference)
    timed = replace(setup, time_column="when",
                    reference=setup.reference.assign(when=pd.date_range("2025-01-01", periods=n, freq="h").astype(str)))
    end = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=n - 1)
    inside = pd.Series(pd.date_range(end - pd.Timedelta(hours=29), periods=50, freq="h"))  # 30 rows up to the end
    batches = [Batch("b1", setup.held_out.head(50), stamps=inside),
               Batch("b2", setup.held_out.head(50), stamps=inside + pd.Timedelta(days=30))]
    overlap = run.training_overlap(timed, batches)
    assert overlap["checked"] and overlap["overlapping_rows"] == 30 and overlap["batches"] == {"b1": 30}
    assert overlap["warning"].startswith("30 production rows fall inside the training period")
    assert run.training_overlap(setup, batches)["checked"] is False  # Telco has no time column: said, not guessed
    in_file = Batch("file", setup.held_out.head(50).assign(when=inside.astype(str).to_numpy()))  # times in the rows
    assert run.training_overlap(timed, [in_file])["batches"] == {"file": 30}


# ---- 4. walk-forward replay ----------------------------------------------------------------------------------
def test_replay_decides_at_the_batch_a_rule_fires_and_judges_on_the_next_window(phase, workshop):
    ctx, setup = phase
    batches, log, result, outcome = workshop
    cfg = ctx.config.monitoring.retraining
    names = [b.name for b in batches]
    timeline = outcome["timeline"].set_index("batch")
    trained = timeline[timeline["decision"].isin(["promote", "keep"])]
    assert 1 <= len(trained) <= cfg.max_challengers and outcome["challengers"] == len(trained)
    first_fired = min(names.index(b) for b in result.alerts.query("severity != 'info' and rule in @cfg.trigger_rules")["batch"])
    assert names.index(timeline.index[0]) == first_fired  # decided where the first rule fired, not at the end
    positions = [names.index(b) for b in trained.index]
    assert all(b - a > cfg.cooldown_batches for a, b in zip(positions, positions[1:]))
    for batch, row in trained.iterrows():
        assert row["judged_on"] == names[names.index(batch) + 1]  # the next full window
        assert row["trained_on"].split(", ")[-1] == batch  # learnt up to this batch, not later
        assert row["delta"] == pytest.approx(row["challenger_score"] - row["serving_score"])
        window = pd.concat([b.frame for b in batches if b.name in row["judged_on"].split(", ")], ignore_index=True)
        original = roc_auc_score(window[run.TARGET], setup.model.predict_proba(window))  # never retrained
        assert row["original_score"] == pytest.approx(original)
        assert row["vs_original"] == pytest.approx(row["challenger_score"] - original)
    final = trained.iloc[-1] if not outcome["promotions"] else trained.loc[outcome["promotions"][-1]]
    assert f"against never retraining (the original model) on {final['judged_on']}: {final['vs_original']:+.3f}" in outcome["reason"]
    for batch, serving in timeline["serving"].items():  # each batch is served by the latest promotion before it
        before = [p for p in outcome["promotions"] if names.index(p) < names.index(batch)]
        assert serving == (f"challenger of {before[-1]}" if before else "original"), batch
    # the concept flip from batch 5 on must not go unanswered until the end
    assert outcome["promotions"] and names.index(outcome["promotions"][0]) < len(names) - 1


def test_replay_budget_small_batches_and_disabled(phase, workshop):
    ctx, setup = phase
    batches, log, result, _ = workshop
    base = ctx.config.monitoring
    one = base.model_copy(update={"retraining": base.retraining.model_copy(update={"max_challengers": 1, "cooldown_batches": 0})})
    out = run.retrain(setup, batches, result, one, ctx.config.seed)
    assert out["challengers"] == 1 and (out["timeline"]["decision"] == "budget spent").sum() >= 1
    small = base.model_copy(update={"retraining": base.retraining.model_copy(update={"min_batch_rows": 601})})
    out = run.retrain(setup, batches, result, small, ctx.config.seed)
    assert out["challengers"] == 0 and set(out["timeline"]["decision"]) == {"too small"}
    assert out["challenger"] is None and out["decision"] == "keep"
    off = base.model_copy(update={"retraining": base.retraining.model_copy(update={"enabled": False})})
    out = run.retrain(setup, batches, result, off, ctx.config.seed)
    assert out["challengers"] == 0 and out["decision"] == "none" and set(out["timeline"]["decision"]) == {"disabled"}


# ---- 2. synthetic scenarios never move a real champion -------------------------------------------------------
def test_synthetic_scenario_challenger_is_registered_under_its_own_name(phase, workshop):
    ctx, setup = phase
    batches, log, result, outcome = workshop
    assert outcome["decision"] == "promote"
    registry = Registry(setup.registry["uri"])
    real = setup.registry["name"]
    before = registry.champion_version(real)
    applied = run.apply_decision(ctx, setup, dict(outcome))
    name = f"{real}-synthetic-workshop"
    assert applied["synthetic"] and applied["model_name"] == name
    assert registry.champion_version(real) == before  # the real champion is untouched
    assert registry.champion_version(name) == applied["version"]
    tags = registry.version_tags(name, applied["version"])
    assert tags["synthetic"] == "true" and tags["scenario"] == "workshop"
    latency = run.measure_latency(setup.model, setup.reference, rows=100, repeats=3, budget_ms=1e6)
    artifact = run.build_artifact(setup, result, outcome, applied, latency, log, ctx.config.monitoring)
    assert artifact["synthetic"] is True and "synthetic scenario workshop" in artifact["headline"]["Decision"]
    assert "Synthetic scenario" in run_display().decision_note(outcome, applied).data
    assert run.load_setup(ctx).watched["version"] == before  # the next run still watches the real champion


# ---- 3. the watched model --------------------------------------------------------------------------------------
def test_registry_champion_is_watched_with_its_own_accepted_figures(tmp_path):
    ctx = make_run(tmp_path)
    training = ctx.read("training")["champion"]
    registry = Registry(training["tracking_uri"])
    name = training["model_name"]
    run_id = registry.log_candidate("other", "older champion", {}, {"test_roc_auc": 0.91, "test_recall": 0.6, "test_roc_auc_low": 0.1},
                                    model_dir=ctx.run_dir / training["model_dir"])
    version = registry.register(name, run_id)
    registry.set_champion(name, version, "a champion from another run")
    setup = run.load_setup(ctx)
    assert not setup.watching_candidate and setup.watched["version"] == version and setup.watched["source"] == "registry (downloaded)"
    assert setup.test_metrics == {"roc_auc": 0.91, "recall": 0.6}
    thresholds = run.monitor(setup, [Batch("b", setup.held_out.head(300))], ctx.config.monitoring).thresholds
    assert thresholds["roc_auc"] == pytest.approx(0.91 * (1 - ctx.config.monitoring.alerts.auc_relative_drop))
    assert thresholds["recall"] == pytest.approx(0.6 * ctx.config.monitoring.alerts.recall_floor)


def test_without_a_champion_the_candidate_is_watched_and_said_so(tmp_path):
    ctx = make_run(tmp_path)
    training = ctx.read("training")["champion"]
    Registry(training["tracking_uri"]).client.delete_registered_model_alias(training["model_name"], "champion")
    setup = run.load_setup(ctx)
    assert setup.watching_candidate and "no champion in the registry" in setup.watched["note"]
    assert "CANDIDATE" in run.setup_summary(setup).loc["watched model", "value"]
    result = run.monitor(setup, [Batch("b", setup.held_out.head(300))], ctx.config.monitoring)
    latency = run.measure_latency(setup.model, setup.reference, rows=100, repeats=3, budget_ms=1e6)
    outcome = {"triggered": False, "decision": "none", "reason": "-", "challenger": None}
    artifact = run.build_artifact(setup, result, outcome, {}, latency, None, ctx.config.monitoring)
    assert artifact["headline"]["Watched model"].startswith("CANDIDATE") and artifact["headline_status"] != "ok"
    assert artifact["watched"]["role"] == "candidate" and artifact["warnings"]


def test_a_challenger_of_a_watched_candidate_never_becomes_champion(tmp_path):
    ctx = make_run(tmp_path)
    training = ctx.read("training")["champion"]
    registry = Registry(training["tracking_uri"])
    name = training["model_name"]
    registry.client.delete_registered_model_alias(name, "champion")
    setup = run.load_setup(ctx)
    ctx.config.monitoring.production = ProductionSource(files=[])  # a real (non-synthetic) source; batches given below
    batches = [Batch(f"b{i}", setup.held_out.iloc[i * 350:(i + 1) * 350].reset_index(drop=True)) for i in range(3)]
    result = run.monitor(setup, batches, ctx.config.monitoring)
    outcome = run.challenge(setup, setup.model, batches[:2], batches[2:], ctx.config.monitoring, 0)
    outcome = outcome | {"decision": "promote", "triggered": True}
    applied = run.apply_decision(ctx, setup, outcome)
    assert not applied["synthetic"] and registry.champion_version(name) is None
    assert registry.version_tags(name, applied["version"])["status"] == "candidate"
    assert outcome["decision"] == "promote over the candidate" and "no champion is set" in applied["registry"]
    assert result.measured.shape[0] == 3


def test_replay_table_and_figure_show_every_fired_batch(workshop):
    from matplotlib.figure import Figure

    batches, log, result, outcome = workshop
    views = run_display()
    table = views.replay_table(outcome)
    assert list(table.index) == list(outcome["timeline"]["batch"]) and "reason" not in table.columns
    fig = views.replay_figure(result, outcome)
    assert isinstance(fig, Figure)
    changes = [l for l in fig.axes[0].get_lines() if l.get_color() == "#2e7d32"]
    assert len(changes) == len(outcome["promotions"])


def test_a_partial_last_period_never_judges_or_drives_a_decision(phase, workshop):
    ctx, setup = phase
    batches, log, _, _ = workshop
    last = batches[-1]
    cut = batches[:-1] + [Batch(last.name, last.frame.head(240), partial=True)]  # 0.4 of a full 600-row week
    result = run.monitor(setup, cut, ctx.config.monitoring, ctx.config.seed)
    cfg = ctx.config.monitoring.retraining
    assert run.full_period_rows(cut) == 600
    assert "partial period: 240 rows < 0.5 x 600" in run.size_problem(cut[-1], cfg, 600)
    assert run.size_problem(cut[-1], cfg.model_copy(update={"partial_min_share": 0.4}), 600) is None
    assert run.size_problem(cut[0], cfg, 600) is None
    assert result.batches.set_index("batch").loc[last.name, "partial_period"]
    outcome = run.retrain(setup, cut, result, ctx.config.monitoring, ctx.config.seed)
    timeline = outcome["timeline"].set_index("batch")
    assert last.name not in set(timeline["judged_on"])
    if last.name in timeline.index:
        assert timeline.loc[last.name, "decision"] == "too small"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from("xyz"), st.integers(0, 1)), min_size=1, max_size=300),
       st.integers(0, 2**16))
def test_extended_split_keeps_copies_of_a_row_on_one_side(rows, seed):
    """Scenario batches repeat held-out rows: a copy in validation would score a row the challenger learnt."""
    from kit.monitoring.retraining import extend_split

    new = pd.DataFrame(rows, columns=["a", "b", "y"])
    base = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    fit_X, fit_y, val_X, val_y = extend_split(base, np.array([0, 1]), base, np.array([1, 0]), new[["a", "b"]],
                                              new["y"].to_numpy(), 0.25, seed)
    assert len(fit_y) + len(val_y) == len(new) + 4 and len(fit_X) == len(fit_y) and len(val_X) == len(val_y)
    learnt = set(zip(fit_X["a"].iloc[2:], fit_X["b"].iloc[2:], fit_y[2:]))
    judged = set(zip(val_X["a"].iloc[2:], val_X["b"].iloc[2:], val_y[2:]))
    assert not learnt & judged
    assert sorted(learnt | judged) == sorted(set(rows))


def test_a_chain_of_promotions_worse_than_never_retraining_is_said():
    """Bike days: three promotions each beat the serving model, and the last was 610 RMSE worse than the original."""
    rows = [{"batch": b, "rows": 600, "partial_period": False, "fired": "rmse_rise", "serving": s, "decision": "promote",
             "trained_on": b, "judged_on": j, "serving_score": 2176.0, "challenger_score": 1839.0, "delta": d,
             "original_score": 1229.0, "vs_original": v, "reason": "beats"}
            for b, s, j, d, v in (("w1", "original", "w2", 654.1, 654.1), ("w3", "challenger of w1", "w4", 336.9, -610.3))]
    timeline = pd.DataFrame(rows, columns=run.TIMELINE)
    chosen = {"at": "w3", "metric": "rmse", "reason": "challenger rmse 1839 beats champion 2176", "vs_original": -610.3}
    out = run.summarize_replay(timeline, chosen, True, ["w1", "w2", "w3", "w4"])
    assert out["decision"] == "promote"
    assert "each promotion against the model it replaced: +654.100, +336.900" in out["reason"]
    assert "against never retraining (the original model) on w4: -610.300 rmse" in out["reason"]
    assert out["reason"].endswith("rolling back to the original would serve better than this chain of promotions.")
    better = run.summarize_replay(timeline.assign(vs_original=[654.1, 12.0]), chosen | {"vs_original": 12.0}, True,
                                  ["w1", "w2", "w3", "w4"])
    assert "Warning" not in better["reason"]
