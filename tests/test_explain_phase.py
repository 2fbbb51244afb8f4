"""Phase 3 end to end on a real run folder: artifact, CSVs, registry tag, model card, tier gate, bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kit.errors import DataError
from kit.explain import card as card_mod
from kit.explain import phase, shapley
from kit.notebook import start

from test_explain_fixtures import make_run


def _run_all(ctx):
    inputs = phase.load_inputs(ctx)
    glob = phase.explain_global(inputs)
    reasons = phase.export_reason_codes(inputs)
    fair = phase.assess_fairness(inputs)
    tag = phase.record_fairness_gate(inputs, fair)
    queue = phase.build_review_queue(inputs, reasons)
    gate = phase.check_tier(inputs, glob, reasons, fair, queue)
    facts = phase.model_card_facts(inputs, glob, reasons, fair, queue, gate)
    card = phase.write_model_card(inputs, facts)
    return inputs, phase.explain_artifact(inputs, glob, reasons, fair, tag, queue, gate, card), facts


@pytest.fixture(scope="module")
def medium_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("explain_run")
    ctx = start(make_run(run_dir, "lightgbm", register=True), run_dir)
    return ctx, *_run_all(ctx)


def test_artifact_keys_and_headline(medium_run):
    ctx, inputs, artifact, _ = medium_run
    path = ctx.write("explain", artifact)
    data = json.loads(path.read_text())
    for key in ("global_importance", "tier", "tier_gate", "fairness", "fairness_gate", "review_queue",
                "model_card", "reason_codes", "stability", "headline", "headline_status"):
        assert key in data, key
    assert data["tier"] == "medium" and data["tier_gate"]["status"] == "passed"
    assert set(data["fairness"]) == {"gender", "SeniorCitizen"}
    assert data["headline"]["Top drivers"].count(",") == 2
    assert data["headline_status"] in ("ok", "warn", "fail")
    queue = pd.read_csv(ctx.run_dir / data["review_queue"]["path"])
    assert len(queue) == data["review_queue"]["size"] > 0
    assert queue["probability"].between(*data["review_queue"]["band"]).all()
    assert queue["reason_1"].notna().all()
    assert data["reason_codes"]["scope"] == "review queue only"


def test_reason_codes_csv_matches_exact_contributions(medium_run):
    ctx, inputs, artifact, _ = medium_run
    table = pd.read_csv(ctx.run_dir / artifact["reason_codes"]["path"])
    row = table.iloc[0]
    position = int(np.flatnonzero(inputs.ids.to_numpy() == row["row_id"])[0])
    contribs = shapley.exact_contributions(inputs.model.booster, inputs.prepared.iloc[[position]])
    top = contribs.values.iloc[0].abs().idxmax()
    assert row["reason_1"] == top
    assert row["reason_1_shap"] == pytest.approx(contribs.values.iloc[0][top], abs=1e-5)


def test_fairness_gate_recorded_on_registry_version(medium_run):
    from kit.training.registry import Registry

    ctx, inputs, artifact, _ = medium_run
    assert artifact["fairness_registry_tag"]["recorded"]
    tags = Registry(inputs.champion["tracking_uri"]).version_tags(inputs.champion["model_name"], inputs.champion["version"])
    assert tags["gate.fairness"] == artifact["fairness_gate"]


def test_model_card_has_every_section_and_escapes_html(medium_run):
    ctx, inputs, artifact, facts = medium_run
    assert card_mod.missing_sections(facts) == []
    html_text = (ctx.run_dir / artifact["model_card"]["html"]).read_text()
    md_text = (ctx.run_dir / artifact["model_card"]["markdown"]).read_text()
    for section in card_mod.card_sections():
        assert section["title"] in html_text and f"## {section['title']}" in md_text
    assert "<b>Telecom</b>" not in html_text and "&lt;b&gt;Telecom&lt;/b&gt;" in html_text
    assert "<team>" not in md_text and r"Risk \& Models \<team\>" in md_text and "&amp;" not in md_text
    assert json.loads((ctx.run_dir / artifact["model_card"]["json"]).read_text())["risk"]["tier"] == "medium"
    plan = facts["monitoring_plan"]
    assert plan["recall_floor"] == ctx.config.monitoring.alerts.recall_floor


def test_high_tier_writes_reason_codes_for_every_row(tmp_path):
    ctx = start(make_run(tmp_path, "xgboost", explain={"tier": "high"}, rounds=10), tmp_path)
    inputs, artifact, _ = _run_all(ctx)
    assert artifact["reason_codes"]["rows"] == len(inputs.y)
    assert artifact["tier_gate"]["status"] == "passed"


def test_high_tier_without_per_prediction_explanations_fails(tmp_path, monkeypatch):
    ctx = start(make_run(tmp_path, "xgboost", explain={"tier": "high"}, rounds=10), tmp_path)
    monkeypatch.setattr(phase, "reason_code_rows", lambda inputs: (np.arange(5), "first five rows"))
    inputs, artifact, _ = _run_all(ctx)
    assert artifact["tier_gate"]["status"] == "failed"
    assert artifact["tier_gate"]["missing"] == ["per_prediction_explanations"]
    assert artifact["headline_status"] == "fail"


def test_bad_inputs_give_clear_errors(tmp_path):
    config_path = make_run(tmp_path, "xgboost", rounds=5, explain={"explain_rows": ["NOPE-1"]})
    ctx = start(config_path, tmp_path)
    inputs = phase.load_inputs(ctx)
    with pytest.raises(DataError, match="NOPE-1"):
        phase.chosen_rows(inputs)
    with pytest.raises(DataError, match="'gendr'.*did you mean 'gender'"):
        phase.check_sensitive(inputs.X, ["gendr"])
    (tmp_path / "artifacts" / "model" / "model.json").write_bytes(b"\x80\x04\x95 a pickle")
    with pytest.raises(shapley.ModelFileError, match="not a supported model file"):
        phase.load_inputs(ctx)
